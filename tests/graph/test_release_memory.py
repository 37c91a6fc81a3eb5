"""The writer hands the C heap's freed memory back after large writes and commits (issue 18, Scale round 7).

LadybugDB mallocs an open transaction's rows and buffers and frees them at COMMIT; glibc kept the freed
memory resident, so a 300k-product ingest ended at 3.7 GB resident of which ~2.7 GB was free heap
(docs/benchmarks.md). The store now calls malloc_trim (graph/native_memory.py) after writes and
commits of at least `store.release_memory_rows` rows (0 by default, off). Memory figures are the bench's
(bench.ingest_ab); these tests check when the release runs and that it returns freed pages.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from shopgraph.config import StoreConfig
from shopgraph.errors import ConfigError
from shopgraph.graph import native_memory
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from shopgraph.graph.store import GraphBatch
from tests.contract.test_store_contract import product


def _batch(lo: int, hi: int) -> GraphBatch:
    """hi - lo Product rows (one row each, nothing else)."""
    return GraphBatch(nodes={"Product": [product(f"p{i}", seed=i) for i in range(lo, hi)]})


@pytest.fixture
def releases(monkeypatch):
    calls = []
    monkeypatch.setattr(native_memory, "release", lambda: calls.append(1) or True)
    return calls


def test_release_memory_rows_is_checked(tmp_path):
    assert StoreConfig().release_memory_rows == 4096  # on by default: what the 1M ingest was measured with
    for bad in (-1, 1.5, True, "4096"):
        with pytest.raises(ConfigError, match="release_memory_rows"):
            EmbeddedStore.open(tmp_path / "h.db", store_config=StoreConfig(release_memory_rows=bad))


def test_large_writes_release_small_ones_accumulate(tmp_path, releases):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS,
                            store_config=StoreConfig(release_memory_rows=6)) as store:
        store.write(_batch(0, 2))
        store.write(_batch(2, 4))
        assert releases == []  # 4 rows: under the threshold
        store.write(_batch(4, 6))
        assert len(releases) == 1  # 6 rows since the last release
        store.write(_batch(6, 14))
        assert len(releases) == 2
        store.set_meta("x", "y")
        assert len(releases) == 2  # one row: a small write does not pay for a release


def test_grouped_writes_release_after_each_large_write_and_the_commit(tmp_path, releases):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS,
                            store_config=StoreConfig(release_memory_rows=4)) as store:
        with store.grouped_writes():
            store.write(_batch(0, 5))
            assert len(releases) == 1  # the batch's freed buffers, transaction still open
            store.write(_batch(5, 7))
            assert len(releases) == 1
            store.commit_writes()
            assert len(releases) == 2  # the commit frees the transaction's 7 rows
        assert store.count_nodes("Product") == 7


def test_zero_never_releases(tmp_path, releases):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS,
                            store_config=StoreConfig(release_memory_rows=0)) as store:
        with store.grouped_writes():
            store.write(_batch(0, 20))
        store.write(_batch(20, 40))
    assert releases == []


def _rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon")


@pytest.mark.skipif(not native_memory.available() or not Path("/proc/self/status").exists(),
                    reason="needs glibc's malloc_trim and /proc")
def test_release_returns_freed_heap_pages():
    """Free most of a fragmented heap (every 16th 4 KB block stays, so glibc cannot shrink its top):
    the freed pages stay resident until release() hands them back."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    blocks = [libc.malloc(4096) for _ in range(24_000)]  # ~94 MB
    try:
        for b in blocks:
            libc.memset(b, 1, 4096)  # resident
        kept = blocks[15::16]
        for i, b in enumerate(blocks):
            if i % 16 != 15:
                libc.free(b)
        before = _rss_anon_mb()
        assert native_memory.release()
        returned = before - _rss_anon_mb()
        assert returned > 40, f"release() returned {returned:.0f} MB of ~85 MB freed"
    finally:
        for b in kept:
            libc.free(b)
