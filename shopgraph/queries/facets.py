"""Facet counts of products: brand (by normalised name, shown as first written), category (every level
of each path) and platform. Each value works as the matching search filter."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from shopgraph.records import CATEGORY_SEPARATOR

FACET_VALUES = 12  # most values kept per facet


def facet_counts(products: Iterable, limit: int = FACET_VALUES) -> dict[str, list[tuple[str, int]]]:
    """{"brand"|"category"|"platform": [(value, count)]}, most frequent first (ties by value), at
    most `limit` values each. products: anything with brand, category and platform attributes."""
    from shopgraph.ingest.normalise import normalise_brand

    brands, categories, platforms = Counter(), Counter(), Counter()
    shown: dict[str, str] = {}  # one brand written several ways ("ACME", "Acme Inc.") counts once
    for p in products:
        key = normalise_brand(p.brand) if p.brand else None
        if key:
            brands[shown.setdefault(key, p.brand)] += 1
        if p.platform:
            platforms[p.platform] += 1
        if p.category:
            levels = p.category.split(CATEGORY_SEPARATOR)
            for depth in range(1, len(levels) + 1):
                categories[CATEGORY_SEPARATOR.join(levels[:depth])] += 1

    def top(counter: Counter) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    return {"brand": top(brands), "category": top(categories), "platform": top(platforms)}
