"""Fusing the text, image and lexical channels into one vector.

A product's fused vector is [w_t * text, w_i * image, w_l * lexical] / W with W = sqrt(w_t^2 + w_i^2 +
w_l^2), each channel a unit vector or a zero block when absent. The divisor is the same for every
product, so the inner product of two fused vectors is always

    dot(fused_a, fused_b) = (w_t^2 cos_t + w_i^2 cos_i + w_l^2 cos_l) / W^2

over the channels both have. A product without an image has norm < 1 and simply gets nothing from the
image channel: it is neither favoured nor punished on a text query (re-normalising its row would
inflate its text score by W / sqrt(w_t^2 + w_l^2)). Search therefore ranks by inner product, which
equals cosine when every channel is present. The block order text, image, lexical is part of the
stored format: the store slices on it.
"""

from __future__ import annotations

import numpy as np

from shopgraph.config import FusionConfig
from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.graph.schema import VectorDims

CHANNELS = ("text", "image", "lexical")


def _weights(config: FusionConfig) -> tuple[float, float, float]:
    w = (float(config.text_weight), float(config.image_weight), float(config.lexical_weight))
    if any(not np.isfinite(x) or x < 0 for x in w) or sum(w) == 0:
        raise ConfigError(f"fusion weights must be finite, >= 0 and not all 0, got {w}")
    return w


def fusion_weights(config: FusionConfig) -> tuple[float, float, float]:
    """The checked (text, image, lexical) weights of a fusion config (ConfigError when unusable)."""
    return _weights(config)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _as_matrix(x, name: str, n: int | None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or (n is not None and a.shape[0] != n):
        want = f"({n}, d)" if n is not None else "(n, d)"
        raise BadArgumentError(f"fuse: {name} must have shape {want}, got {a.shape}")
    return a


def fuse(text: np.ndarray, image: np.ndarray | None, lexical: np.ndarray, config: FusionConfig,
         image_ok: np.ndarray | None = None, image_dim: int = VectorDims().image) -> np.ndarray:
    """Fuse per-product channels. text (n, dt), image (n, di) or None, lexical (n, dl), all float32.

    image_ok (n,) bool marks rows whose image was encoded; other rows (and every row when image is None,
    with di = image_dim) get a zero image block. Returns (n, dt + di + dl) float32 divided by the
    constant W (see the module docstring): norm 1 with every channel, less when one is missing.
    """
    wt, wi, wl = _weights(config)
    text = _as_matrix(text, "text", None)
    n = text.shape[0]
    lexical = _as_matrix(lexical, "lexical", n)
    if image is None:
        image = np.zeros((n, image_dim), dtype=np.float32)
    else:
        image = _unit_rows(_as_matrix(image, "image", n))
        if image_ok is not None:
            ok = np.asarray(image_ok, dtype=bool)
            if ok.shape != (n,):
                raise BadArgumentError(f"fuse: image_ok must have shape ({n},), got {ok.shape}")
            image = image * ok[:, None]
    fused = np.concatenate([wt * _unit_rows(text), wi * image, wl * _unit_rows(lexical)], axis=1)
    return (fused / np.sqrt(wt * wt + wi * wi + wl * wl)).astype(np.float32)


def _query_block(x, name: str, width: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32).reshape(-1)
    if a.shape[0] != width:
        raise BadArgumentError(f"query {name} vector must have {width} values, got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise BadArgumentError(f"query {name} vector has NaN or infinite values")
    return _unit_rows(a)


def fuse_query(dims: VectorDims, config: FusionConfig, text=None, image=None, lexical=None) -> np.ndarray:
    """A query vector in the fused space, shape (dims.fused,) float32, unit norm.

    Each given channel is a vector of that channel's width ((d,) or (1, d)); missing ones are zero
    blocks. Raises BadArgumentError when no channel is given or the given ones are all zero.
    """
    if text is None and image is None and lexical is None:
        raise BadArgumentError("a query needs text, an image, or both")
    wt, wi, wl = _weights(config)
    blocks = []
    for value, name, width, weight in ((text, "text", dims.text, wt), (image, "image", dims.image, wi),
                                       (lexical, "lexical", dims.lexical, wl)):
        block = np.zeros(width, dtype=np.float32) if value is None else _query_block(value, name, width)
        blocks.append(weight * block)
    fused = np.concatenate(blocks)
    norm = float(np.linalg.norm(fused))
    if norm == 0.0:
        raise BadArgumentError("the query has no usable channel (empty vectors or zero fusion weights)")
    return (fused / norm).astype(np.float32)


def channel_scores(query_fused: np.ndarray, product_fused: np.ndarray, dims: VectorDims) -> dict[str, np.ndarray]:
    """Each channel's share of the fused score: query (d,), products (m, d) -> {"text", "image",
    "lexical"}: (m,) float32 each; the three sum to product_fused @ query_fused."""
    q = np.asarray(query_fused, dtype=np.float32).reshape(-1)
    p = np.asarray(product_fused, dtype=np.float32)
    if p.ndim == 1:
        p = p[None, :]
    if q.shape[0] != dims.fused or p.shape[1] != dims.fused:
        raise BadArgumentError(f"channel_scores: vectors must have {dims.fused} values, "
                               f"got query {q.shape[0]}, products {p.shape[1]}")
    bounds = np.cumsum([0, dims.text, dims.image, dims.lexical])
    return {name: (p[:, a:b] @ q[a:b]).astype(np.float32)
            for name, a, b in zip(CHANNELS, bounds[:-1], bounds[1:])}
