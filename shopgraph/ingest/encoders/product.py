"""Products -> text, image, lexical and fused vectors, with a persistent cache in front of the models.

Cache keys are content hashes: text sha1(model_id + text), image sha1(model_id + file bytes), each
under its model id as namespace. Only misses reach the models, so re-ingesting an unchanged catalog
loads no model at all. Lexical vectors are cheap and never cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopgraph.config import Config
from shopgraph.errors import BadArgumentError
from shopgraph.graph.schema import VectorDims
from shopgraph.ingest.encoders.cache import VectorCache
from shopgraph.ingest.encoders.fusion import fuse, fuse_query, fusion_weights
from shopgraph.ingest.encoders.image import ImageEncoder
from shopgraph.ingest.encoders.lexical import LexicalEncoder
from shopgraph.ingest.encoders.text import TextEncoder
from shopgraph.files import NotRegularFileError, read_regular
from shopgraph.records import ProductRecord

logger = logging.getLogger(__name__)

IMAGE_CHUNK = 256  # records whose image bytes are held in memory at once


@dataclass
class EncodedProducts:
    """Vectors of n products, float32, unit rows (zero rows where a channel is missing):
    text (n, dt), image (n, 1280), lexical (n, dl), fused (n, dt + 1280 + dl); image_ok (n,) bool and
    image_errors (one-line reason or None per product).

    cache_hits counts text and image vectors served by the cache; encoded counts the distinct text and
    image vectors the models computed (duplicates within a call are computed once; images that fail to
    decode are neither).
    """

    text: np.ndarray
    image: np.ndarray
    image_ok: np.ndarray
    image_errors: list[str | None]
    lexical: np.ndarray
    fused: np.ndarray
    cache_hits: int = 0
    encoded: int = 0
    # With a trained alignment model: {"text", "image", "fused"} (n, aligned width) unit rows, and
    # the id of the model that made them (the graph's Meta model.align record when it was loaded).
    aligned: dict[str, np.ndarray] | None = None
    aligned_model: str | None = None
    # The (text, image, lexical) fusion weights `fused` was made with (GraphBatch.fusion).
    fusion: tuple[float, float, float] | None = None

    def __len__(self) -> int:
        return int(self.text.shape[0])


def _key(model_id: str, content: bytes) -> str:
    return hashlib.sha1(model_id.encode("utf-8") + b"\x00" + content).hexdigest()


class ProductEncoder:
    """Owns the three encoders (created lazily) and the vector cache (cache_path None = no cache;
    config.ingest.use_cache False also disables it)."""

    def __init__(self, config: Config, cache_path: str | Path | None = None):
        self.config = config
        use_cache = cache_path is not None and config.ingest.use_cache
        self.cache = VectorCache(cache_path) if use_cache else None
        self._text: TextEncoder | None = None
        self._image: ImageEncoder | None = None
        self._lexical: LexicalEncoder | None = None
        # A trained shopgraph.gnn.alignment.Aligner, set by whoever owns one (ShopGraph does): new
        # products then get their aligned vectors at ingest, without retraining. aligner_id: its
        # model record, written with those vectors so a retrain meanwhile is caught (GraphBatch.models).
        self.aligner = None
        self.aligner_id: str | None = None

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text is None:
            self._text = TextEncoder(self.config.text)
        return self._text

    @text_encoder.setter
    def text_encoder(self, encoder) -> None:
        """Replace the text encoder with one giving the same vectors (the server's batching wrapper)."""
        self._text = encoder

    @property
    def image_encoder(self) -> ImageEncoder:
        if self._image is None:
            self._image = ImageEncoder(self.config.image)
        return self._image

    @property
    def lexical_encoder(self) -> LexicalEncoder:
        if self._lexical is None:
            self._lexical = LexicalEncoder(self.config.lexical)
        return self._lexical

    @property
    def dims(self) -> VectorDims:
        """Vector widths (loads the text model to learn its width)."""
        return VectorDims(text=self.text_encoder.dim, image=self.image_encoder.dim,
                          lexical=self.lexical_encoder.dim)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> "ProductEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- catalog encoding ----------------------------------------------------------------------
    def encode(self, records: list[ProductRecord], progress: bool = False) -> EncodedProducts:
        """Encode products: text from record.text, lexical from record.title, image from
        record.image_path (None = no image). A bad image never raises: see image_ok/image_errors."""
        records = list(records)
        text, text_hits, text_new = self._encode_text([r.text for r in records], progress)
        image, ok, errors, image_hits, image_new = self.encode_images(records, progress)
        lexical = self.lexical_encoder.encode([r.title for r in records])
        fused = fuse(text, image, lexical, self.config.fusion, image_ok=ok)
        aligned = None
        if self.aligner is not None and records:
            from shopgraph.gnn.alignment import text_features

            aligned = self.aligner.embed(text_features(text, lexical), image, has_image=ok)
        return EncodedProducts(text=text, image=image, image_ok=ok, image_errors=errors, lexical=lexical,
                               fused=fused, cache_hits=text_hits + image_hits, encoded=text_new + image_new,
                               aligned=aligned, aligned_model=self.aligner_id if aligned is not None else None,
                               fusion=fusion_weights(self.config.fusion))

    def encode_texts(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """(n, dt) unit rows for arbitrary strings (brand names, category paths), through the cache."""
        return self._encode_text(list(texts), progress)[0]

    def _cache_get(self, namespace: str, keys: list[str]) -> dict[str, np.ndarray]:
        return self.cache.get_many(namespace, keys) if self.cache is not None and keys else {}

    def _cache_put(self, namespace: str, items: dict[str, np.ndarray]) -> None:
        if self.cache is not None and items:
            self.cache.put_many(namespace, items)

    def _encode_text(self, texts: list[str], progress: bool) -> tuple[np.ndarray, int, int]:
        """(n, dt) unit rows, number of cache hits, number of distinct texts encoded."""
        encoder = self.text_encoder
        model_id = encoder.model_id
        keys = [_key(model_id, t.encode("utf-8")) for t in texts]
        found = self._cache_get(model_id, keys)
        todo = {k: t for k, t in zip(keys, texts) if k not in found}  # dict: duplicates encoded once
        if todo:
            vectors = encoder.encode(list(todo.values()), progress=progress)
            new = dict(zip(todo, vectors))
            self._cache_put(model_id, new)
            found.update(new)
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32), 0, 0
        out = np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
        hits = len(keys) - sum(1 for k in keys if k in todo)
        return out, hits, len(todo)

    def encode_images(self, records: list[ProductRecord], progress: bool):
        """Encode the records' images (through the vector cache): image vectors (n, 1280) float32, ok
        (n,) bool, errors, cache hits, distinct images encoded."""
        from tqdm.auto import tqdm

        n = len(records)
        vectors = np.zeros((n, self.image_encoder.dim), dtype=np.float32)
        ok = np.zeros(n, dtype=bool)
        errors: list[str | None] = [None] * n
        hits = new_count = 0
        with tqdm(total=n, desc="images", unit="img", disable=not progress) as bar:
            for start in range(0, n, IMAGE_CHUNK):
                chunk = range(start, min(n, start + IMAGE_CHUNK))
                h, c = self._encode_image_chunk(records, chunk, vectors, ok, errors)
                hits, new_count = hits + h, new_count + c
                bar.update(len(chunk))
        return vectors, ok, errors, hits, new_count

    def _encode_image_chunk(self, records, chunk, vectors, ok, errors) -> tuple[int, int]:
        """Fill vectors/ok/errors for the record indices in chunk; returns (cache hits, encoded)."""
        keys: dict[int, str] = {}
        blobs: dict[str, bytes] = {}
        names: dict[str, str] = {}
        for i in chunk:
            path = records[i].image_path
            if path is None:
                errors[i] = "no image"
                continue
            try:
                data = read_regular(path)   # never blocks on a FIFO put where the image was
            except FileNotFoundError:
                errors[i] = f"image missing: {path}"  # not cached: the file may appear later
                continue
            except NotRegularFileError as e:
                errors[i] = f"image is not a file: {e}"
                continue
            except OSError as e:
                errors[i] = f"image not decodable: {path}: {e.strerror or type(e).__name__}"
                continue
            keys[i] = key = _key(self.image_encoder.model_id, data)
            blobs.setdefault(key, data)
            names.setdefault(key, str(path))
        if not keys:
            return 0, 0
        model_id = self.image_encoder.model_id
        found = self._cache_get(model_id, list(keys.values()))
        todo = [k for k in blobs if k not in found]
        encoded_now = set(todo)
        failed: dict[str, str] = {}
        new: dict[str, np.ndarray] = {}
        if todo:
            batch = self.image_encoder.encode_blobs([blobs[k] for k in todo], [names[k] for k in todo])
            new = {k: batch.vectors[j] for j, k in enumerate(todo) if batch.ok[j]}
            failed = {k: batch.errors[j] for j, k in enumerate(todo) if not batch.ok[j]}
            self._cache_put(model_id, new)
            found.update(new)
        hits = 0
        for i, key in keys.items():
            if key in found:
                vectors[i], ok[i] = found[key], True
                hits += key not in encoded_now
            else:
                # Same bytes under another path: name this record's own file in its message.
                errors[i] = failed[key].replace(names[key], str(records[i].image_path), 1)
        return hits, len(new)  # images that failed to decode are not 'encoded'

    # -- queries ---------------------------------------------------------------------------------
    def encode_query(self, text: str | None = None, image=None) -> dict[str, np.ndarray | None]:
        """Vectors of a search query: {"text", "lexical", "image", "fused"}, float32 unit vectors, None
        for an absent channel. image is encoded bytes, a PIL image or a file path. Raises
        BadArgumentError for an empty query or an unusable image."""
        text_vec = lexical_vec = image_vec = None
        if text is not None:
            if not isinstance(text, str):
                raise BadArgumentError("query text must be a string")
            if text.strip():
                text_vec = self.text_encoder.encode([text])[0]
                lexical_vec = self.lexical_encoder.encode([text])[0]
        if image is not None:
            image_vec = self._query_image(image)
        if text_vec is None and image_vec is None:
            raise BadArgumentError("a query needs text, an image, or both")
        fused = fuse_query(self.dims, self.config.fusion, text=text_vec, image=image_vec, lexical=lexical_vec)
        return {"text": text_vec, "lexical": lexical_vec, "image": image_vec, "fused": fused}

    def _query_image(self, image) -> np.ndarray:
        if isinstance(image, (bytes, bytearray, memoryview)):
            return self.image_encoder.encode_bytes(bytes(image))
        if isinstance(image, (str, os.PathLike)):
            try:
                data = read_regular(image)
            except FileNotFoundError:
                raise BadArgumentError(f"query image not found: {image}") from None
            except NotRegularFileError as e:
                raise BadArgumentError(f"query image: {e}") from None
            except OSError as e:
                raise BadArgumentError(f"query image cannot be read: {image}: {e.strerror or e}") from None
            return self.image_encoder.encode_bytes(data)
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow is a core dependency
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            return self.image_encoder.encode_images([image])[0]
        raise BadArgumentError(f"query image must be bytes, a file path or a PIL image, "
                               f"not {type(image).__name__}")
