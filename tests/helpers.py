"""Shared test helpers: locating ../shared/data and dumping a graph for comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from shopgraph.graph import schema as S

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """../shared/data beside the repository (or $SHOPGRAPH_DATA)."""
    return Path(os.environ.get("SHOPGRAPH_DATA", REPO.parent / "shared" / "data"))


def need_data(relative: str) -> Path:
    """The dataset folder, or skip the test with the reason."""
    path = shared_data() / relative
    if not path.exists():
        pytest.skip(f"dataset {path} not present (../shared/data is absent on this machine)")
    return path


def dump_graph(store) -> dict:
    """Everything in the graph except write bookkeeping (rev), vectors rounded, in a stable order."""
    out: dict = {}
    for label in S.DATA_LABELS:
        node = S.node_type(label)
        plain = [p for p, t in node.properties.items() if t != S.VECTOR and p != "rev"]
        rows = [row for batch in store.iter_nodes(label, plain) for row in batch]
        out[label] = rows
        if label == "Product":
            ids = [r["id"] for r in rows]
            for prop in S.VECTOR_PROPERTIES:
                got, vectors = store.get_vectors("Product", prop, ids)
                out[f"{prop}"] = (got, np.round(vectors, 5).tolist())
    for name, rel in S.REL_TYPES.items():
        # Sorted by their JSON text: a property that is null in some rows cannot be compared with a number.
        out[name] = sorted((tuple(sorted(p.items())) for p in store.relationship_pairs(name, list(rel.properties))),
                           key=lambda row: json.dumps(row, default=str))
    return out


def small_scale_folder(folder: Path, products: int = 300, queries: int = 8) -> Path:
    """A bench.scale size folder in miniature: scale.db with `products` products (15 brands, Top0-4
    categories with two leaves each, prices 50-940) and queries.npy (queries, text dims) for the
    benches that read one (bench.cards, bench.filter_search). Returns the folder."""
    from shopgraph.graph.embedded import EmbeddedStore
    from tests.contract.conftest import SMALL_DIMS
    from tests.contract.test_store_contract import catalog_batch, product

    rows = [product(str(i), seed=i, brand=f"brand{i % 15:03d}", category=f"Top{i % 5} > Leaf{i % 2}",
                    price=float(50 + 10 * (i % 90))) for i in range(products)]
    with EmbeddedStore.open(folder / "scale.db", dims=SMALL_DIMS) as store:
        store.write(catalog_batch(rows))
    vectors = np.random.default_rng(0).standard_normal((queries, SMALL_DIMS.text)).astype(np.float32)
    np.save(folder / "queries.npy", vectors)
    return folder
