"""The numpy forward pass for short text calls: the same vectors as the torch model, no torch import,
and the torch path for every model shape it does not cover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shopgraph.config import TextEncoderConfig
from shopgraph.ingest.encoders.bert_numpy import NumpyBert
from shopgraph.ingest.encoders.text import TextEncoder, default_model_path

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["wireless headphones with long battery", "Sony WM-330S", "", "连衣裙 女 夏季",
         "Apple iPhone 13 (128 GB) - Black, 6.1-inch Super Retina XDR display " * 12]  # the last is truncated


@pytest.fixture(scope="module")
def torch_encoder() -> TextEncoder:
    return TextEncoder(TextEncoderConfig(numpy_max_texts=0))


def test_numpy_pass_gives_the_torch_models_vectors(torch_encoder):
    light = TextEncoder()
    got = light.encode(TEXTS)
    assert light._model is None and light._numpy  # answered without loading torch's model
    want = torch_encoder.encode(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_truncation_follows_the_configured_length(torch_encoder):
    light = TextEncoder(TextEncoderConfig(max_seq_length=16))
    heavy = TextEncoder(TextEncoderConfig(max_seq_length=16, numpy_max_texts=0))
    np.testing.assert_allclose(light.encode(TEXTS[-1:]), heavy.encode(TEXTS[-1:]), atol=2e-5)
    assert not np.allclose(light.encode(TEXTS[-1:]), torch_encoder.encode(TEXTS[-1:]), atol=1e-3)


def test_long_calls_use_torch():
    enc = TextEncoder(TextEncoderConfig(numpy_max_texts=2))
    enc.encode(TEXTS[:2])
    assert enc._model is None
    enc.encode(TEXTS[:3])
    assert enc._model is not None
    enc.encode(TEXTS[:1])  # once loaded, torch's model serves every call
    assert enc._model is not None


def test_a_query_encodes_without_importing_torch():
    code = ("import sys\nfrom shopgraph.ingest.encoders.text import TextEncoder\n"
            "v = TextEncoder().encode(['wireless headphones'])\n"
            "print('SHAPE', v.shape, 'TORCH', 'torch' in sys.modules, 'PANDAS', 'pandas' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SHAPE (1, 384) TORCH False PANDAS False" in result.stdout


def _copy_model(tmp_path: Path) -> Path:
    src = default_model_path()
    for file in src.rglob("*"):
        if file.is_file():
            target = tmp_path / file.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(file, target)
    return tmp_path


def _rewrite(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    path.unlink()  # a symlink into the installed package: replace it, never write through it
    path.write_text(json.dumps({**data, **changes}))


@pytest.mark.parametrize("change", ["cls_pooling", "not_bert", "other_activation"])
def test_other_model_shapes_are_left_to_torch(tmp_path, change):
    model = _copy_model(tmp_path)
    if change == "cls_pooling":
        _rewrite(model / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    elif change == "not_bert":
        _rewrite(model / "config.json", model_type="distilbert")
    else:
        _rewrite(model / "config.json", hidden_act="relu")
    assert NumpyBert.load(model, "sentence-transformers", 128) is None
    assert NumpyBert.load(_copy_model(tmp_path / "same"), "sentence-transformers", 128) is not None


def test_unreadable_weights_fall_back_to_the_torch_error(tmp_path):
    model = _copy_model(tmp_path)
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").write_bytes(b"not a safetensors file")
    from shopgraph.errors import ModelError

    with pytest.raises(ModelError, match="cannot load text model"):
        TextEncoder(TextEncoderConfig(model_path=str(model))).encode(["x"])


def test_concurrent_calls_leave_blas_threads_as_they_were():
    """The one-thread BLAS limit is process-wide: calls from several threads at once must not leave
    it behind (one call's exit restoring the limit another call saved)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    light = TextEncoder()
    light.encode(["warm up"])
    with ThreadPoolExecutor(max_workers=8) as pool:  # without the lock: a wrong limit was left in 4 of 5 runs
        vectors = list(pool.map(lambda t: light.encode([t])[0], [f"query number {i}" for i in range(400)]))
    assert len(vectors) == 400 and light._model is None
    np.testing.assert_allclose(vectors[7], light.encode(["query number 7"])[0], atol=1e-6)
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before
