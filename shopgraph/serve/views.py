"""API results -> response models: products with their image URL, hits, facets, Cypher rows as JSON."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections import Counter
from decimal import Decimal
from typing import Any, Iterable
from urllib.parse import quote
from uuid import UUID

import numpy as np

from shopgraph.queries.results import Product, SearchResult
from shopgraph.records import CATEGORY_SEPARATOR
from shopgraph.serve import models as M

FACET_VALUES = 12  # most values shown per facet


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
                 matched_by=list(hit.matched_by))


def facets(hits: Iterable[SearchResult]) -> M.Facets:
    """Counts of brand (by normalised name, shown as first written), category (every level of each
    path) and platform among the hits. Each value works as the matching filter."""
    from shopgraph.ingest.normalise import normalise_brand

    brands, categories, platforms = Counter(), Counter(), Counter()
    shown: dict[str, str] = {}  # one brand written several ways ("ACME", "Acme Inc.") counts once
    for hit in hits:
        p = hit.product
        key = normalise_brand(p.brand) if p.brand else None
        if key:
            brands[shown.setdefault(key, p.brand)] += 1
        if p.platform:
            platforms[p.platform] += 1
        if p.category:
            levels = p.category.split(CATEGORY_SEPARATOR)
            for depth in range(1, len(levels) + 1):
                categories[CATEGORY_SEPARATOR.join(levels[:depth])] += 1

    def top(counter: Counter) -> list[M.FacetValue]:
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES]
        return [M.FacetValue(value=v, count=n) for v, n in ranked]

    return M.Facets(brand=top(brands), category=top(categories), platform=top(platforms))


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
