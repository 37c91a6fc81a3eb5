"""API results -> response models: products with their image URL, hits, facets, Cypher rows as JSON."""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any, Iterable
from urllib.parse import quote
from uuid import UUID

import numpy as np

from shopgraph.queries.results import Product, SearchResult
from shopgraph.serve import models as M

def product_out(product: Product) -> M.ProductOut:
    has_image = bool(product.image_ref) and not product.image_missing
    return M.ProductOut(
        id=product.id, platform=product.platform, source_id=product.source_id, title=product.title,
        description=product.description, price=_finite(product.price), currency=product.currency,
        brand=product.brand, category=product.category, has_image=has_image,
        image_url=f"/api/image?id={quote(product.id, safe='')}" if has_image else None)


def hit_out(hit: SearchResult) -> M.Hit:
    return M.Hit(product=product_out(hit.product), score=_finite(hit.score) or 0.0,
                 channels={k: v for k, v in hit.channels.items() if math.isfinite(v)},
                 matched_by=list(hit.matched_by), strength=hit.strength,
                 relevance=_finite(hit.relevance) if hit.relevance is not None else None)


def facets(hits: Iterable[SearchResult]) -> M.Facets:
    """Facets of a search: counted over every candidate when the search counted them (hybrid search:
    SearchResults.facets), else over the hits shown (shopgraph/queries/facets.py)."""
    from shopgraph.queries.facets import facet_counts

    counts = getattr(hits, "facets", None) or facet_counts(hit.product for hit in hits)
    return M.Facets(**{name: [M.FacetValue(value=v, count=n) for v, n in values] for name, values in counts.items()})


def evidence_out(items: Any) -> list[M.EvidenceItem]:
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("group"), str):
            out.append(M.EvidenceItem(group=item["group"], effect=_finite(item.get("effect")) or 0.0,
                                      values=jsonable(item.get("values") or {}),
                                      says=item["says"] if isinstance(item.get("says"), str) else None))
    return out


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any, depth: int = 0) -> Any:
    """A Cypher value as plain JSON: NaN and infinities become null, decimals floats, times ISO
    strings, bytes base64, arrays lists; anything else unknown its string form."""
    if depth > 32:
        return str(value)
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (Decimal, np.floating)):
        return _finite(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [jsonable(v, depth + 1) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    return str(value)
