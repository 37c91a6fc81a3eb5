"""Search hits -> results: the fields of just the k hits, read in one query.

A search returns (id, score) pairs; what a caller sees is a `Product` per hit. Hydrating them reads
only those k products, by primary key (an index lookup each; the embedded store's `IN $ids` used to
scan the whole table: 64 ms at 100k products), and only the fields a `Product` shows: no vectors and
no bookkeeping (rev, content_hash). The query text is built once per process.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Hashable, Sequence

from shopgraph.queries.results import Product

# the Product node properties a result carries, in the dataclass's order
PRODUCT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Product))


def products(store, ids: Sequence[str], cards=None, version: tuple | None = None) -> dict[str, Product]:
    """{id: Product} for the ids that exist (a hit deleted since its search is simply absent).
    store: a GraphStore; ids: product ids (k of them, duplicates allowed). One store read, or none
    when `cards` (a queries.cards.CardMirror) hold exactly the version the hits come from
    (version: (identity or None, database id or None, generation, write epoch)); ids without a card are read
    from the store."""
    if not ids:
        return {}
    found = cards.products(ids, version) if cards is not None and version is not None else None
    if found is None:
        found = {}
    missing = [i for i in ids if i not in found]
    if missing:
        found.update((row["id"], Product.from_row(row))
                     for row in store.get_nodes("Product", missing, PRODUCT_FIELDS))
    return found


class ProductCache:
    """Hydrated products of one version of the graph, so repeated searches do not re-read the same
    candidates: a hybrid search judges ~100-200 of them, and reading them was its largest cost
    (bench/search_latency.py). version: what names the graph's contents, here (database identity,
    write generation, write epoch); every write bumps the generation, and a database restored from
    an older copy writes in another epoch (graph/mirror_state.py), so a product read under a version
    is what the graph held at that version. A new version empties the cache; at most `limit` products kept."""

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self._version: Hashable | None = None
        self._products: dict[str, Product] = {}
        self._lock = threading.Lock()

    def products(self, store, ids: Sequence[str], version: Hashable | None, cards=None) -> dict[str, Product]:
        """As `products`, from the cache for what it holds at this version (None: no cache, read all).
        version: (identity, generation, epoch) as LexicalMirror.synced gives; cards: as `products`."""
        if version is None:
            return products(store, ids)
        with self._lock:
            if version != self._version:
                self._version, self._products = version, {}
            found = {i: self._products[i] for i in ids if i in self._products}
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            named = isinstance(version, tuple) and len(version) == 3
            read = products(store, missing, cards if named else None, (version[0], None, *version[1:]) if named else None)
            found.update(read)
            with self._lock:
                if version == self._version and len(self._products) + len(read) <= self.limit:
                    self._products.update(read)
        return found
