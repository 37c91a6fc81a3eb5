"""fuse / fuse_query / channel_scores: the algebra the store and the query API rely on."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import FusionConfig
from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.graph.schema import VectorDims
from shopgraph.ingest.encoders.fusion import channel_scores, fuse, fuse_query

DIMS = VectorDims(text=8, image=6, lexical=5)
CFG = FusionConfig(text_weight=1.0, image_weight=0.6, lexical_weight=0.5)


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def channels():
    rng = np.random.default_rng(7)
    return unit(rng, 4, DIMS.text), unit(rng, 4, DIMS.image), unit(rng, 4, DIMS.lexical)


def test_fused_cosine_is_weighted_mean_of_channel_cosines(channels):
    t, i, l = channels
    f = fuse(t, i, l, CFG)
    assert f.shape == (4, DIMS.fused) and f.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-6)
    w = np.array([CFG.text_weight, CFG.image_weight, CFG.lexical_weight]) ** 2
    for a in range(4):
        for b in range(4):
            expected = (w[0] * t[a] @ t[b] + w[1] * i[a] @ i[b] + w[2] * l[a] @ l[b]) / w.sum()
            assert f[a] @ f[b] == pytest.approx(expected, abs=1e-5)


def test_block_order_is_text_image_lexical(channels):
    t, i, l = channels
    f = fuse(t, i, l, CFG)
    norm = np.sqrt(1.0 + 0.36 + 0.25)
    np.testing.assert_allclose(f[:, :8], t / norm, atol=1e-6)
    np.testing.assert_allclose(f[:, 8:14], 0.6 * i / norm, atol=1e-6)
    np.testing.assert_allclose(f[:, 14:], 0.5 * l / norm, atol=1e-6)


def test_missing_images_get_zero_block_and_no_score_advantage(channels):
    t, i, l = channels
    ok = np.array([True, False, True, False])
    f = fuse(t, i * 3.0, l, CFG, image_ok=ok)  # unnormalised input channels are normalised first
    full = np.sqrt(1.0 + 0.36 + 0.25)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1)[ok], 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1)[~ok], np.sqrt(1.0 + 0.25) / full, atol=1e-6)
    # A text-only query scores a product by its text and lexical channels alone, image or not.
    q = fuse_query(DIMS, CFG, text=t[1], lexical=l[1])
    with_image = fuse(t, i, l, CFG)[1]
    assert float(f[1] @ q) == pytest.approx(float(with_image @ q), abs=1e-6)
    assert not f[~ok, 8:14].any() and f[ok, 8:14].any()
    # A row without image is exactly the text + lexical fusion.
    no_image = fuse(t, None, l, CFG, image_dim=6)
    np.testing.assert_allclose(f[1], no_image[1], atol=1e-6)
    assert not no_image[:, 8:14].any() and no_image.shape == (4, DIMS.fused)


def test_zero_rows_stay_zero():
    t = np.zeros((1, 8), np.float32)
    f = fuse(t, None, np.zeros((1, 5), np.float32), CFG, image_dim=6)
    assert f.shape == (1, 19) and not f.any() and np.isfinite(f).all()


def test_channel_scores_sum_to_fused_score(channels):
    t, i, l = channels
    products = fuse(t, i, l, CFG, image_ok=np.array([True, True, False, True]))
    q = fuse_query(DIMS, CFG, text=t[0], image=i[0], lexical=l[0])
    scores = channel_scores(q, products, DIMS)
    assert set(scores) == {"text", "image", "lexical"}
    total = scores["text"] + scores["image"] + scores["lexical"]
    np.testing.assert_allclose(total, products @ q, atol=1e-6)
    assert scores["image"][2] == 0.0
    # The query built from product 0's channels is product 0's fused vector.
    np.testing.assert_allclose(q, products[0], atol=1e-6)


def test_fuse_query_with_some_channels(channels):
    t, i, l = channels
    q = fuse_query(DIMS, CFG, image=i[1])
    assert q.shape == (DIMS.fused,) and q.dtype == np.float32
    np.testing.assert_allclose(q[8:14], i[1], atol=1e-6)
    assert not q[:8].any() and not q[14:].any()
    q2 = fuse_query(DIMS, CFG, text=t[1][None, :], lexical=l[1])
    assert np.linalg.norm(q2) == pytest.approx(1.0, abs=1e-6) and not q2[8:14].any()


def test_fuse_query_errors(channels):
    t, i, l = channels
    with pytest.raises(BadArgumentError, match="needs text"):
        fuse_query(DIMS, CFG)
    with pytest.raises(BadArgumentError, match="8 values"):
        fuse_query(DIMS, CFG, text=np.ones(7))
    with pytest.raises(BadArgumentError, match="no usable channel"):
        fuse_query(DIMS, CFG, lexical=np.zeros(5))
    with pytest.raises(BadArgumentError, match="NaN"):
        fuse_query(DIMS, CFG, text=np.full(8, np.nan))


def test_bad_shapes_and_weights(channels):
    t, i, l = channels
    with pytest.raises(BadArgumentError):
        fuse(t, i[:3], l, CFG)
    with pytest.raises(BadArgumentError):
        fuse(t, i, l, CFG, image_ok=np.ones(3, bool))
    with pytest.raises(ConfigError):
        fuse(t, i, l, FusionConfig(text_weight=-1.0))
    with pytest.raises(ConfigError):
        fuse(t, i, l, FusionConfig(text_weight=0.0, image_weight=0.0, lexical_weight=0.0))
    with pytest.raises(BadArgumentError):
        channel_scores(np.ones(5), np.ones((2, 19)), DIMS)
