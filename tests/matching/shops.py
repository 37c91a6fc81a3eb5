"""Two synthetic shops listing the same products, for the matching tests that need a catalog larger
than the hand-made fixture (the neighbour lists, the workers)."""

from __future__ import annotations

import numpy as np

from bench.synthetic_catalog import make_entities, title_a, title_b
from shopgraph.matching.listings import Listings


def two_shops(n: int, seed: int, *, priced: bool = False) -> list[Listings]:
    """[left, right]: n products (families of near-identical siblings) listed once by each shop, ids
    "a:i" / "b:i", with 32-d text vectors (the product's direction plus per-listing noise, unit rows).

    priced=True adds brands, one category, prices and attributes (a title, a price string, a weight
    with its unit), so every feature family, the per-pair Python ones included, has values. Those
    draws come after a side's vectors, so priced=False gives the same catalog as before they existed."""
    rng = np.random.default_rng(seed)
    entities = make_entities(n, rng)
    base = rng.normal(size=(n, 32)).astype(np.float32)
    sides = []
    for name, title in (("a", title_a), ("b", title_b)):
        titles = [title(e, rng) for e in entities]
        vec = base + 0.6 * rng.normal(size=base.shape).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        ids = [f"{name}:{i}" for i in range(n)]
        if not priced:
            sides.append(Listings(name, ids, titles, titles, vectors={"text": vec}))
            continue
        prices = np.round(rng.uniform(5, 500, size=n), 2)
        attributes = [{"title": t, "price": f"${p:.2f}", "weight": f"{rng.integers(1, 9)} kg"}
                      for t, p in zip(titles, prices)]
        sides.append(Listings(name, ids, titles, titles, brands=[t.split()[0] for t in titles],
                              categories=["c"] * n, prices=prices, vectors={"text": vec},
                              attributes=attributes))
    return sides
