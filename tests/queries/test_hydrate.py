"""What one API search costs in store queries, and that none of them grows with the graph (issue 18).

ShopGraph.vector_search used to hydrate its k hits with `MATCH (n:Product) WHERE n.id IN $ids`,
which LadybugDB answers by scanning the whole Product table (~20 ms per call at 100k products, 15x the
store's own search). These tests count the queries an API call sends (through the store's trace
hook) and ask LadybugDB's planner (EXPLAIN) that none of them, nor an ingest batch's lookups, scans
the Product table.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import Filters, GraphBatch
from shopgraph.queries import hydrate
from shopgraph.queries.api import ShopGraph

DIMS = VectorDims(text=8, image=4, lexical=4)
N = 300
_WRITES = re.compile(r"\b(SET|DELETE|COPY|CREATE|MERGE)\b", re.IGNORECASE)


def _products(start: int, n: int, rng) -> list[dict]:
    return [{"id": f"s:{i}", "platform": "s", "source_id": str(i), "title": f"title {i}", "brand": f"b{i % 3}",
             "content_hash": str(i), "text_vec": rng.standard_normal(DIMS.text).astype(np.float32),
             "fused_vec": rng.standard_normal(DIMS.fused).astype(np.float32)} for i in range(start, start + n)]


@pytest.fixture
def traced(tmp_path):
    """(store, queries): a store of N products whose every query is appended to `queries` as
    (text, params) while `queries.on` is set."""
    class Log(list):
        on = False

    queries = Log()

    def trace(query, params):
        if queries.on:
            queries.append((query, dict(params)))

    rng = np.random.default_rng(0)
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, trace=trace)
    brands = [{"name": f"b{i}"} for i in range(3)]
    rows = _products(0, N, rng)
    store.write(GraphBatch(nodes={"Brand": brands, "Product": rows},
                           relationships={"OF_BRAND": [{"src": r["id"], "dst": r["brand"]} for r in rows]}))
    yield store, queries
    store.close()


def _scans_products(store, query: str, params: dict) -> bool:
    """Whether LadybugDB's plan for a read query reads the whole Product table (writes, which a
    read-only EXPLAIN refuses, find their nodes by key patterns: not checked here)."""
    if query.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK") or _WRITES.search(query):
        return False
    plan = store._rows_raw("EXPLAIN " + query, params)[0][0]
    blocks = plan.split("SCAN_NODE_TABLE")[1:]
    return any("Tables: Product" in block.split("└")[0] for block in blocks)


def _calls(queries, fn):
    queries.clear()
    queries.on = True
    try:
        result = fn()
    finally:
        queries.on = False
    return result, list(queries)


@pytest.mark.parametrize("prop, most", [("text_vec", 4), ("fused_vec", 7)])
def test_api_search_sends_few_queries_and_none_scans_the_products(traced, prop, most):
    store, queries = traced
    graph = ShopGraph(store)
    query = np.random.default_rng(1).standard_normal(DIMS.of(prop)).astype(np.float32)
    graph.vector_search(query, 10, prop=prop)  # first call: the index is built and may be saved
    hits, sent = _calls(queries, lambda: graph.vector_search(query, 10, prop=prop))
    assert len(hits) == 10 and hits[0].product.title.startswith("title ")
    # a read of the index's generation (BEGIN, Meta, COMMIT), the hydration of the 10 hits (one
    # statement), and for fused vectors the index mirror's read for the channel scores
    assert len(sent) <= most, [q for q, _ in sent]
    assert sum(q.lstrip().upper().startswith(("MATCH", "UNWIND")) and "Product" in q for q, _ in sent) == 1
    scanning = [q for q, p in sent if _scans_products(store, q, p)]
    assert not scanning, scanning


def test_filtered_search_hydrates_by_key(traced):
    store, queries = traced
    graph = ShopGraph(store)
    query = np.ones(DIMS.text, dtype=np.float32)
    graph.vector_search(query, 5, prop="text_vec", filters=Filters(brand="b1"))
    hits, sent = _calls(queries, lambda: graph.vector_search(query, 5, prop="text_vec", filters=Filters(brand="b1")))
    assert {h.product.brand for h in hits} == {"b1"}
    hydration = [(q, p) for q, p in sent if q.lstrip().upper().startswith("UNWIND")]
    assert len(hydration) == 1 and not _scans_products(store, *hydration[0])


def test_hydrate_reads_only_result_fields_and_skips_missing_ids(traced):
    store, queries = traced
    found, sent = _calls(queries, lambda: hydrate.products(store, ["s:3", "gone", "s:3", "s:7"]))
    assert list(found) == ["s:3", "s:7"] and found["s:7"].title == "title 7"
    text = next(q for q, _ in sent if q.lstrip().upper().startswith("UNWIND"))
    assert "content_hash" not in text and "_vec" not in text and " n.rev" not in text
    assert hydrate.products(store, []) == {}


def test_ingest_batch_lookups_do_not_scan_the_products(traced):
    store, queries = traced
    rows = _products(N - 5, 10, np.random.default_rng(2))  # 5 existing products, 5 new
    _, sent = _calls(queries, lambda: (store.product_hashes([r["id"] for r in rows]),
                                       store.write(GraphBatch(nodes={"Product": rows}))))
    assert store.count_nodes("Product") == N + 5
    scanning = [q for q, p in sent if _scans_products(store, q, p)]
    assert not scanning, scanning
