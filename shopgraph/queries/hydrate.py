"""Search hits -> results: the fields of just the k hits, read in one query.

A search returns (id, score) pairs; what a caller sees is a `Product` per hit. Hydrating them reads
only those k products, by primary key (an index lookup each; the embedded store's `IN $ids` used to
scan the whole table: 64 ms at 100k products), and only the fields a `Product` shows: no vectors and
no bookkeeping (rev, content_hash). The query text is built once per process.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Sequence

from shopgraph.queries.results import Product

# the Product node properties a result carries, in the dataclass's order
PRODUCT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Product))


def products(store, ids: Sequence[str]) -> dict[str, Product]:
    """{id: Product} for the ids that exist (a hit deleted since its search is simply absent).
    store: a GraphStore; ids: product ids (k of them, duplicates allowed). One store read."""
    if not ids:
        return {}
    return {row["id"]: Product.from_row(row) for row in store.get_nodes("Product", list(ids), PRODUCT_FIELDS)}
