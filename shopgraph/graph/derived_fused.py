"""Fused vectors the embedded store derives instead of storing (issue 18: disk).

A product without an image has fused_vec = fuse(text_vec, no image, lex_vec) under the fusion weights
of its ingest (ingest/encoders/fusion.py): 2176 float32 values (8.7 KB) computed from 896 the product
already stores, 80% of them zeros, for which LadybugDB 0.22 also allocates ~1.5x the pages the values
need (docs/benchmarks.md, Scale round 2). So the embedded store keeps such a product's fused_vec null
and derives it on read, from the same row's text_vec and lex_vec and the weights recorded once in Meta
under FUSION_META.

A fused vector is left out only when deriving it gives back exactly the same float32 values (compared
value by value when it is written; a -0.0 reads back as 0.0), so a reader can never tell a derived vector from a stored one. A
product with an image, a fused vector written under other weights, or one written by a caller that
does not say its weights, is stored whole, as before this change; a database written before it has
no FUSION_META and every fused_vec stored, and reads as it did. Once a database has FUSION_META, a
product with text_vec and lex_vec and a null fused_vec reads as having the derived one, which is
what an ingest would have given it; raw Cypher (`p.fused_vec`) sees the null.

Shapes: text (n, dims.text), lexical (n, dims.lexical), fused (n, dims.fused), float32.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from shopgraph.errors import StoreError
from shopgraph.graph.schema import VectorDims

FUSION_META = "fusion_weights"  # Meta key: JSON [text, image, lexical] weights of the derived fused vectors
PROPERTY = "fused_vec"
SOURCES = ("text_vec", "lex_vec")  # what a derived fused_vec is made from


def weights_text(weights: Sequence[float]) -> str:
    """The Meta value for weights (floats written with repr, so they read back exactly)."""
    return json.dumps([float(w) for w in weights])


def parse_weights(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(w) for w in json.loads(text))
    except (ValueError, TypeError) as e:
        raise StoreError(f"Meta {FUSION_META} is not a list of three numbers: {text!r}") from e
    if len(values) != 3:
        raise StoreError(f"Meta {FUSION_META} is not a list of three numbers: {text!r}")
    return values  # type: ignore[return-value]


def derive(text: np.ndarray, lexical: np.ndarray, weights: Sequence[float], dims: VectorDims) -> np.ndarray:
    """The fused vectors of products without an image: (n, dims.fused) float32, the same values the
    ingest's fuse() gave them (the same function on the same float32 inputs)."""
    from shopgraph.config import FusionConfig
    from shopgraph.ingest.encoders.fusion import fuse

    config = FusionConfig(text_weight=weights[0], image_weight=weights[1], lexical_weight=weights[2])
    text = np.asarray(text, dtype=np.float32).reshape(-1, dims.text)
    lexical = np.asarray(lexical, dtype=np.float32).reshape(-1, dims.lexical)
    return fuse(text, None, lexical, config, image_dim=dims.image)


def derivable(rows: Sequence[dict], weights: Sequence[float], dims: VectorDims) -> np.ndarray:
    """(len(rows),) bool: the Product rows whose fused_vec is exactly derive(text_vec, lex_vec)."""
    ok = np.zeros(len(rows), dtype=bool)
    picked = [i for i, r in enumerate(rows)
              if all(r.get(p) is not None for p in (PROPERTY, *SOURCES))]
    if not picked:
        return ok
    fused = np.stack([np.asarray(rows[i][PROPERTY], dtype=np.float32).reshape(dims.fused) for i in picked])
    # Only a zero image block can be derived; checking it first skips the work for image products.
    maybe = ~fused[:, dims.text:dims.text + dims.image].any(axis=1)
    if not maybe.any():
        return ok
    chosen = [i for i, m in zip(picked, maybe) if m]
    derived = derive(np.stack([np.asarray(rows[i]["text_vec"], dtype=np.float32).reshape(dims.text) for i in chosen]),
                     np.stack([np.asarray(rows[i]["lex_vec"], dtype=np.float32).reshape(dims.lexical) for i in chosen]),
                     weights, dims)
    # Exact equality of every value (a zero image block made by masking may hold -0.0, equal to 0.0).
    same = (derived == fused[maybe]).all(axis=1)
    ok[np.asarray(chosen)[same]] = True
    return ok
