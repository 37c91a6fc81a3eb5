"""A BERT sentence encoder's forward pass in numpy, for encoding a search query without torch.

A CLI search is one short process: importing torch and sentence-transformers costs 3-8 s of CPU, while
the forward pass of all-MiniLM-L6-v2 over a ten-token query costs about 2 ms. This module runs that
forward pass from the model directory's own files (``model.safetensors`` read with safetensors' numpy
loader, ``tokenizer.json`` with the ``tokenizers`` library), giving the same vectors as
sentence-transformers to float32 rounding (tests/ingest/test_bert_numpy.py compares them).

Only the plain shape is supported: a BERT encoder (absolute positions, exact GELU) whose sentence
vector is the mean of its last hidden states over the real tokens, optionally normalised. For any other
directory ``load`` returns None and the caller uses the torch model. Bulk encoding (ingest) keeps using
torch, which batches and threads better.

Hand-written rather than a library: onnxruntime would need an ONNX export made with torch first, and
no maintained numpy BERT runner reads sentence-transformers directories; the pass itself is a few
matrix products per layer.
"""

from __future__ import annotations

import functools
import math
import threading
from pathlib import Path

import numpy as np

from shopgraph.ingest.encoders.text import _read_json  # {} for a missing or unreadable file

_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
_BLAS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them costs ~0.1 s)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _transformer_dir(path: Path, kind: str) -> Path | None:
    """The directory holding the BERT weights when the whole model is "BERT + mean pooling
    (+ normalise)", else None."""
    if kind == "transformers":
        return path
    modules = _read_json(path / "modules.json")
    if not isinstance(modules, list):  # absent or unreadable: {}
        return None
    names = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if len(names) != len(modules) or not names or names[0] != "Transformer":
        return None
    if any(n not in _SUPPORTED_MODULES for n in names) or names.count("Pooling") != 1:
        return None
    pooling = modules[names.index("Pooling")]
    config = _read_json(path / str(pooling.get("path", "")) / "config.json")
    if not isinstance(config, dict):
        return None
    modes = {k for k, v in config.items() if k.startswith("pooling_mode_") and v is True}
    if modes != {"pooling_mode_mean_tokens"}:
        return None
    return path / str(modules[0].get("path", ""))


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function, absolute error < 1.5e-7 (Abramowitz & Stegun 7.1.26): below float32 rounding
    at the activations' scale, and numpy has no erf of its own (scipy.special costs 0.6 s to import)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch's nn.GELU() and BERT's "gelu"."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBert:
    """Mean-pooled BERT sentence vectors, shape (n, hidden) float32, not normalised."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer, max_length: int):
        self.w = weights
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = int(config["hidden_size"])
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, path: Path, kind: str, max_seq_length: int) -> "NumpyBert | None":
        """The numpy encoder of a model directory, or None when its shape is not the supported one
        (then the caller loads the torch model as before)."""
        where = _transformer_dir(path, kind)
        if where is None:
            return None
        config = _read_json(where / "config.json")
        if not isinstance(config, dict) or config.get("model_type") != "bert":
            return None
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            return None
        if not (where / "model.safetensors").is_file() or not (where / "tokenizer.json").is_file():
            return None
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError:
            return None
        weights = load_file(str(where / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if "embeddings.word_embeddings.weight" not in weights:
            return None
        tokenizer = Tokenizer.from_file(str(where / "tokenizer.json"))
        # The same cap as the torch path: the configured length, the model's own and its positions.
        limits = [max_seq_length, int(config.get("max_position_embeddings", 512))]
        for name in ("sentence_bert_config.json", "tokenizer_config.json"):
            value = (_read_json(path / name) or {}).get(
                "max_seq_length" if name.startswith("sentence") else "model_max_length")
            if isinstance(value, int) and value > 0:
                limits.append(value)
        max_length = min(limits)
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        return cls(weights, config, tokenizer, max_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One forward pass per text (no padding, so no mask arithmetic). Returns (n, dim) float32."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Matrices this small gain nothing from BLAS threads, and on a busy machine the threads'
        # hand-offs made a product 100x slower (25 ms instead of 0.25 ms, measured here). The limit
        # is process-wide, so concurrent calls (server threads) take turns: otherwise one call's
        # exit could restore the limit another call had saved, leaving BLAS at one thread for good.
        with _BLAS_LOCK, _blas_controller().limit(limits=1, user_api="blas"):
            for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts))):
                ids = np.asarray(encoding.ids, np.int64)
                out[row] = self._forward(ids, np.asarray(encoding.type_ids, np.int64)).mean(0)
        return out

    def _forward(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Last hidden states, shape (tokens, dim)."""
        w = self.w
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        head = self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def dense(name: str, h: np.ndarray) -> np.ndarray:
                return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (dense(f"attention.self.{m}", x).reshape(n, self.heads, head).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head)  # (heads, n, n); a Python float keeps float32
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v       # (heads, n, head)
            context = context.transpose(1, 0, 2).reshape(n, self.dim)
            x = _layer_norm(dense("attention.output.dense", context) + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                            self.eps)
            inner = dense("intermediate.dense", x)
            inner = gelu(inner)
            x = _layer_norm(dense("output.dense", inner) + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x.astype(np.float32, copy=False)
