"""Writing many small batches must not grow the process's memory per batch (issue 18).

LadybugDB 0.22 keeps about 12 MB per `COPY ... FROM $arrow` on the connection that ran it until that
connection is closed, whatever the batch's size: an ingest of 256-row batches grew ~180 KB per product
(issue 15: a 24.6k-row catalog peaked at 7 GB). The store therefore renews its writer connection after
each transaction. Resident memory is read from /proc (Linux only).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphBatch

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read resident memory")


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _batch(start: int, n: int) -> GraphBatch:
    return GraphBatch(nodes={"Product": [{"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t {i}",
                                          "content_hash": str(i)} for i in range(start, start + n)]})


def test_many_small_writes_keep_memory_flat(tmp_path):
    store = EmbeddedStore.open(tmp_path / "g.db", dims=VectorDims(text=8, image=8, lexical=8))
    try:
        for start in range(0, 200, 10):  # warm up: caches, the first node groups, allocator pools
            store.write(_batch(start, 10))
        before = _rss_mb()
        writes = 60
        for n in range(writes):
            store.write(_batch(1000 + 10 * n, 10))
        grown = _rss_mb() - before
        assert store.count_nodes("Product") == 200 + 10 * writes
    finally:
        store.close()
    # before the fix: ~33 MB per write of this 24-column table (1996 MB here); after: ~140 MB in all,
    # caches filling up, flat after a few hundred writes
    assert grown < 8.0 * writes, f"resident memory grew {grown:.0f} MB over {writes} small writes"


def test_buffer_pool_cap_reaches_ladybug_and_is_checked(tmp_path, monkeypatch):
    import ladybug

    from shopgraph.config import StoreConfig
    from shopgraph.errors import ConfigError

    seen = []
    real = ladybug.Database.__init__

    def init(self, *args, **kwargs):
        seen.append(kwargs.get("buffer_pool_size"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(ladybug.Database, "__init__", init)
    store = EmbeddedStore.open(tmp_path / "g.db", dims=VectorDims(text=8, image=8, lexical=8),
                               store_config=StoreConfig(buffer_pool_mb=256))
    store.write(_batch(0, 10))
    store.close()
    assert seen == [256 * 2**20]
    assert StoreConfig().buffer_pool_mb > 0  # bounded by default
    for bad in (-1, 10, 1.5, True):
        with pytest.raises(ConfigError, match="buffer_pool_mb"):
            EmbeddedStore.open(tmp_path / "h.db", store_config=StoreConfig(buffer_pool_mb=bad))
