"""An index build reads the graph's vectors through a database of its own with a small buffer pool
(issue 18): read through the store's pool, the 1M build filled that 2 GB pool beside the 1.5 GB index
it was building. The read must still be the caller's snapshot, or fall back to it."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import StoreConfig
from shopgraph.errors import ConfigError
from shopgraph.graph import embedded
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphBatch

DIMS = VectorDims(text=8, image=4, lexical=4)
POOL_MB = 64


def _products(vectors, start=0):
    return GraphBatch(nodes={"Product": [
        {"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t{i}", "content_hash": str(i),
         "text_vec": vectors[i - start]} for i in range(start, start + len(vectors))]})


@pytest.fixture
def opens(monkeypatch):
    """Every database opened (read_only, pool bytes, path), and the queries run on the store's own
    connections; pages are tiny and every read of vectors counts as large."""
    monkeypatch.setattr(embedded, "ARROW_CHUNK_ROWS", 7)
    monkeypatch.setattr(embedded, "SCAN_APART_FRACTION", 0.0)
    seen = {"opens": [], "own": []}
    real_open, real_run = embedded.open_database, EmbeddedStore._run

    def open_database(path, **kw):
        seen["opens"].append((kw["read_only"], kw["buffer_pool_bytes"], str(path)))
        return real_open(path, **kw)

    def run(self, query, params=None):
        seen["own"].append(query)
        return real_run(self, query, params)

    monkeypatch.setattr(embedded, "open_database", open_database)
    monkeypatch.setattr(EmbeddedStore, "_run", run)
    return seen


def _check_index(store, vectors, expected_ids):
    with store.vector_index("text_vec") as index:
        assert set(index.ids()) == expected_ids
        ids, rows = index.vectors(sorted(expected_ids))
        unit = vectors[[int(i[1:]) for i in ids]]
        np.testing.assert_allclose(rows, unit / np.linalg.norm(unit, axis=1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("read_only", [False, True])
def test_build_reads_vectors_through_a_small_pool_of_its_own(tmp_path, opens, read_only):
    vectors = np.random.default_rng(0).standard_normal((40, DIMS.text)).astype(np.float32)
    config = StoreConfig(scan_pool_mb=POOL_MB)
    writer = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, store_config=config)
    writer.write(_products(vectors))
    writer.delete_nodes("Product", ["p3", "p17"])
    if read_only:
        writer.close()
    store = writer if not read_only else EmbeddedStore.open(tmp_path / "g.db", read_only=True, store_config=config)
    try:
        opens["opens"].clear(), opens["own"].clear()
        assert store.vector_search("text_vec", vectors[10], 1)[0][0] == "p10"
        # the scan's database: read-only, with the small pool; the store's own pool read no vector
        # column (not even to count the products that have one: IS NOT NULL reads the column's pages;
        # the count tests IS NULL, which reads only the null marks: 100k, +3 MB against +183)
        assert (True, POOL_MB * 2**20, str(tmp_path / "g.db")) in opens["opens"]
        assert not [q for q in opens["own"] if "text_vec" in q.replace("text_vec IS NULL", "")], opens["own"]
        _check_index(store, vectors, {f"p{i}" for i in range(40)} - {"p3", "p17"})
    finally:
        store.close()


def test_a_scan_that_sees_another_graph_state_is_not_used(tmp_path, opens, monkeypatch):
    """The scan's database must be at the caller's generation and database id; here it is made to
    open another database (as if a commit had come between), so the store reads in its own snapshot."""
    vectors = np.random.default_rng(1).standard_normal((30, DIMS.text)).astype(np.float32)
    other = EmbeddedStore.open(tmp_path / "other.db", dims=DIMS)
    other.write(_products(vectors[:20] * -1.0, start=100))
    other.close()
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, store_config=StoreConfig(scan_pool_mb=POOL_MB))
    real_open = embedded.open_database
    monkeypatch.setattr(embedded, "open_database", lambda path, **kw: real_open(
        tmp_path / "other.db" if kw["read_only"] else path, **kw))
    try:
        store.write(_products(vectors))
        opens["own"].clear()
        assert store.vector_search("text_vec", vectors[4], 1)[0][0] == "p4"
        assert [q for q in opens["own"] if "text_vec" in q]  # read in the store's own snapshot
        _check_index(store, vectors, {f"p{i}" for i in range(30)})
    finally:
        store.close()


def test_scan_pool_setting_is_checked(tmp_path):
    assert StoreConfig().scan_pool_mb > 0  # a build's read is bounded by default
    for bad in (32, -1, 1.5, True):
        with pytest.raises(ConfigError, match="scan_pool_mb"):
            EmbeddedStore.open(tmp_path / "h.db", store_config=StoreConfig(scan_pool_mb=bad))


def test_many_vectors_are_read_apart_and_leave_the_stores_pool(tmp_path, opens, monkeypatch):
    # get_vectors of many ids outside a read (matching's listings_from_store) reads through the
    # scan's database in pages of ids: the same rows as the store's own read, none of its queries
    # on the store's connections; inside a read it stays in the caller's snapshot.
    monkeypatch.setattr(embedded, "GET_APART_BYTES", 0)
    monkeypatch.setattr(embedded, "_PLAIN_ROWS_MAX", 4)
    vectors = np.random.default_rng(2).standard_normal((2500, DIMS.text)).astype(np.float32)
    store = EmbeddedStore.open(tmp_path / "g.db", dims=DIMS, store_config=StoreConfig(scan_pool_mb=POOL_MB))
    try:
        store.write(_products(vectors))
        ids = [f"p{i}" for i in (2400, 7, 1999, 12, 5)] + [f"p{i}" for i in range(1000, 2200)] + ["missing"]
        opens["opens"].clear(), opens["own"].clear()
        got, matrix = store.get_vectors("Product", "text_vec", ids)
        assert (True, POOL_MB * 2**20, str(tmp_path / "g.db")) in opens["opens"]
        assert not [q for q in opens["own"] if "text_vec" in q], opens["own"]
        assert got == ids[:-1]
        np.testing.assert_array_equal(matrix, vectors[[int(i[1:]) for i in got]])
        opens["opens"].clear()
        with store._reading():
            again = store.get_vectors("Product", "text_vec", ids)
        assert not opens["opens"] and again[0] == got
        np.testing.assert_array_equal(again[1], matrix)
    finally:
        store.close()
