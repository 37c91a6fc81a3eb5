"""The vector index is built from pages of the graph, never from one query over every vector (issue 18).

LadybugDB materialises a query's whole result before the first row is read: one query over a million
2176-d fused vectors held 8.7 GB. A build pages through node offsets, ARROW_CHUNK_ROWS products per
query (here made tiny), and the index must still equal the graph, also after deletions leave holes.
"""

from __future__ import annotations

import numpy as np

from shopgraph.graph import embedded
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphBatch

DIMS = VectorDims(text=8, image=4, lexical=4)


def test_index_build_reads_pages_and_matches_the_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "ARROW_CHUNK_ROWS", 7)
    sent: list[str] = []
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, trace=lambda q, p: sent.append(q))
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, DIMS.text)).astype(np.float32)
    try:
        store.write(GraphBatch(nodes={"Product": [
            {"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t{i}", "content_hash": str(i),
             "text_vec": None if i % 9 == 4 else vectors[i]} for i in range(40)]}))
        store.delete_nodes("Product", ["p3", "p17", "p30"])
        sent.clear()
        hits = store.vector_search("text_vec", vectors[10], 3)
        assert hits[0][0] == "p10" and abs(hits[0][1] - 1.0) < 1e-5
        reads = [q for q in sent if "p.text_vec AS v" in q]
        assert len(reads) >= 40 // 7, reads  # one query per page of at most 7 products
        with store.vector_index("text_vec") as index:
            expected = {f"p{i}" for i in range(40) if i % 9 != 4} - {"p3", "p17", "p30"}
            assert set(index.ids()) == expected
            ids, rows = index.vectors(sorted(expected))
            unit = vectors[[int(i[1:]) for i in ids]]
            np.testing.assert_allclose(rows, unit / np.linalg.norm(unit, axis=1, keepdims=True), rtol=1e-5)
        # a small change afterwards is one query, not a pass over every page
        store.write(GraphBatch(nodes={"Product": [{"id": "p1", "platform": "s", "source_id": "1", "title": "t",
                                                   "content_hash": "x", "text_vec": vectors[2]}]}))
        sent.clear()
        assert store.vector_search("text_vec", vectors[2], 2)[0][0] in ("p1", "p2")
        assert len([q for q in sent if "p.text_vec AS v" in q]) == 1
    finally:
        store.close()


def test_index_build_sizes_the_mirror_once(tmp_path, monkeypatch):
    """A build reserves the mirror for every vector up front: regrowing it by half as batches arrive
    held 2.5 mirrors at once."""
    from shopgraph.graph import vector_index

    monkeypatch.setattr(embedded, "ARROW_CHUNK_ROWS", 5)
    grown = []
    real = vector_index.AnnIndex._grow
    monkeypatch.setattr(vector_index.AnnIndex, "_grow", lambda self, n: (grown.append(n), real(self, n))[1])
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS)
    vectors = np.random.default_rng(1).standard_normal((2000, DIMS.text)).astype(np.float32)
    try:
        store.write(GraphBatch(nodes={"Product": [
            {"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t{i}", "content_hash": str(i),
             "text_vec": vectors[i]} for i in range(2000)]}))
        monkeypatch.setattr(embedded, "ARROW_CHUNK_ROWS", 300)
        assert store.vector_search("text_vec", vectors[5], 1)[0][0] == "p5"
        assert grown == [2000]
    finally:
        store.close()


def test_a_few_changes_are_read_by_key_not_by_a_scan_of_the_vector_column(tmp_path):
    """Issue 18 (a reader one change behind the saved index): the sync of a few changed products reads
    their ids, then their vectors by key, and counts the products with the vector as all products less
    those without it. Asked for `p.rev > $rev` with the vector at once, LadybugDB read the whole vector
    column for one changed row (100k products: 520 ms, +168 MB of pool), and again to count
    `IS NOT NULL`. The changed vector, a vector set to null and a deleted product all reach the index."""
    sent: list[str] = []
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, trace=lambda q, p: sent.append(q))
    vectors = np.random.default_rng(1).standard_normal((30, DIMS.text)).astype(np.float32)

    def product(i: int, vector) -> dict:
        return {"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t{i}", "content_hash": str(i),
                "text_vec": vector}

    try:
        store.write(GraphBatch(nodes={"Product": [product(i, vectors[i]) for i in range(30)]}))
        assert store.vector_search("text_vec", vectors[4], 1)[0][0] == "p4"  # built by a scan
        store.write(GraphBatch(nodes={"Product": [product(1, vectors[20] + 0.01), product(2, None)]}))
        store.delete_nodes("Product", ["p5"])
        sent.clear()
        assert store.vector_search("text_vec", vectors[20] + 0.01, 1)[0][0] == "p1"
        reads = [q for q in sent if "p.text_vec AS v" in q]
        assert reads and all(q.startswith("UNWIND $ids") for q in reads), reads
        # nor the count of products with the vector (IS NOT NULL read the column; IS NULL does not)
        assert not [q for q in sent if "IS NOT NULL" in q], sent
        with store.vector_index("text_vec") as index:
            assert set(index.ids()) == {f"p{i}" for i in range(30)} - {"p2", "p5"}
    finally:
        store.close()
