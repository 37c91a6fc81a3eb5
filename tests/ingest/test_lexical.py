"""LexicalEncoder: model numbers, any script, determinism across processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shopgraph.config import LexicalConfig
from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.ingest.encoders.lexical import LexicalEncoder, token_features

REPO = Path(__file__).resolve().parents[2]

TITLES = ["Samsung Galaxy S21 SM-G991B 128GB", "SAMSUNG SM-G991B Galaxy S21 (128 GB)", "Apple iPhone 13",
          "华为 P40 Pro 5G 手机 全网通", "", "Sony WH-1000XM4 Wireless Headphones"]


@pytest.fixture(scope="module")
def enc() -> LexicalEncoder:
    return LexicalEncoder()


def cos(enc: LexicalEncoder, a: str, b: str) -> float:
    v = enc.encode([a, b])
    return float(v[0] @ v[1])


def test_shape_dtype_norms_and_empty(enc):
    v = enc.encode(TITLES)
    assert v.shape == (len(TITLES), 512) and v.dtype == np.float32
    norms = np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(np.delete(norms, 4), 1.0, atol=1e-5)
    assert norms[4] == 0  # empty title -> zero vector
    assert not np.any(enc.encode(["  ", "!!! ---"]))
    assert enc.encode([]).shape == (0, 512)


def test_same_product_different_shop_spelling(enc):
    a, b, other = TITLES[0], TITLES[1], TITLES[2]
    same, different = cos(enc, a, b), cos(enc, a, other)
    assert same > 0.6, same
    assert same > different + 0.5, (same, different)


def test_model_number_agreement_beats_generic_words(enc):
    model_only = cos(enc, "Sony WH-1000XM4 black", "WH1000XM4 noise cancelling")
    generic_only = cos(enc, "Sony WH-1000XM4 black", "Sony black headphones")
    assert model_only > generic_only + 0.1, (model_only, generic_only)
    # A space inside the model number ("SM G991B") still matches the written-together form.
    assert cos(enc, "Samsung SM G991B", "Galaxy phone SMG991B") > cos(enc, "Samsung SM G991B", "Samsung phone black")
    # Different model numbers in otherwise equal titles pull the score down.
    assert cos(enc, "Canon EOS 250D DSLR 18-55mm", "Canon EOS 200D DSLR 18-55mm") < 0.6


def test_model_number_features():
    feats = token_features("samsung sm-g991b galaxy s21 128gb")
    weights = sorted(w for w, _ in feats.values())
    # sm-g991b (compact + as written at half weight), s21, 128gb (a quantity, light); "sm g991b" no join
    assert weights == [1.5, 3.0, 6.0, 6.0]
    assert token_features("plain words only") == {}


def test_unicode_normalisation(enc):
    v = enc.encode(["ＳＡＭＳＵＮＧ　ＳＭ－Ｇ９９１Ｂ", "samsung sm-g991b", "Samsung SM-G991B"])
    np.testing.assert_array_equal(v[0], v[1])
    np.testing.assert_array_equal(v[1], v[2])


def test_chinese_titles_sharing_characters(enc):
    base = "华为 P40 Pro 5G 手机 全网通 8GB+256GB"
    similar = cos(enc, base, "华为P40Pro手机 全网通版")
    unrelated = cos(enc, base, "耐克 男子 跑步鞋 运动鞋 透气")
    assert similar > 0.3 and similar > unrelated + 0.25, (similar, unrelated)
    assert cos(enc, "纯棉短袖T恤男夏季", "夏季男士纯棉T恤短袖") > cos(enc, "纯棉短袖T恤男夏季", "不锈钢炒锅不粘锅")


def _vector_digest(seed: str) -> str:
    code = ("import hashlib, sys; from shopgraph.ingest.encoders.lexical import LexicalEncoder; "
            f"v = LexicalEncoder().encode({TITLES!r}); print(hashlib.sha1(v.tobytes()).hexdigest())")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED=seed)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout.strip()


def test_deterministic_across_processes(enc):
    here = hashlib.sha1(enc.encode(TITLES).tobytes()).hexdigest()
    assert _vector_digest("1") == _vector_digest("2") == here


def test_batching_does_not_change_vectors(enc):
    many = [f"Product {i} model X{i}A {'blue' if i % 2 else 'red'}" for i in range(50)]
    together = enc.encode(many)
    alone = np.stack([enc.encode([t])[0] for t in many])
    np.testing.assert_array_equal(together, alone)


def test_config_and_bad_input():
    small = LexicalEncoder(LexicalConfig(dim=64, ngram_min=1, ngram_max=3))
    assert small.encode(["abc"]).shape == (1, 64)
    assert small.model_id != LexicalEncoder().model_id
    assert "d64" in small.model_id and "1-3" in small.model_id
    with pytest.raises(ConfigError):
        LexicalEncoder(LexicalConfig(ngram_min=3, ngram_max=2))
    with pytest.raises(ConfigError):
        LexicalEncoder(LexicalConfig(dim=0))
    with pytest.raises(BadArgumentError):
        LexicalEncoder().encode("a string, not a list")
