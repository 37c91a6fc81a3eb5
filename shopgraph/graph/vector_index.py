"""Approximate top-k cosine search beside the graph: a FAISS HNSW index over an exact float32 mirror.

The graph nodes hold the vectors (the source of truth). `AnnIndex` is a rebuildable mirror of one
vector property that the store keeps next to the database: it answers top-k by cosine, re-ranks
every candidate exactly from its own copy of the vectors, and can be saved and loaded so that
opening a large database does not re-read every vector from the graph. Saved (format 4), the graph
walks 8-bit codes of the vectors and only the candidates it re-ranks are read from the float32 file, so
a search after opening on a cold page cache reads a few dozen rows, not a page per visited vector.

Layout: every vector occupies a *slot* (a row of the mirror and the same id in the HNSW graph).
HNSW cannot delete, so replacing or removing a vector turns its slot into a tombstone; when
tombstones pass 25% of the slots the mirror is compacted and the HNSW graph rebuilt from it.
Below `min_ann_size` live vectors no HNSW graph is built and search is an exact scan.

Filtered search (`allowed`): small or selective candidate sets are scored exactly from their mirror
rows; large, broad ones (at least `filter_min_fraction` of the index) by HNSW restricted with a faiss
IDSelector, whose recall falls as the filter narrows and collapses when the filter follows the
vectors' clusters and the query sits in another one (a category filter on a query about something
else: recall@10 0.53 at 100k). So each such query first looks at its unfiltered HNSW neighbourhood
(`_filtered`): enough allowed vectors there answer it directly; allowed vectors about as common there
as in the whole index send it to filtered HNSW; far fewer (the filter lies elsewhere) to exact
scoring over the filter's rows. Turning string ids into slots costs about
0.4 us per id (20k ids: ~8 ms), so a filter reused by many searches is best prepared once with
`id_filter`.

A prepared filter scored exactly past `exact_max_candidates` scans a block of its own (its vectors at
4 bits per value, faiss fast scan) for candidates that are re-scored exactly, fetching more while the
block's measured error says a left-out row could still make the top k. For a category that follows
the clusters most queries lie elsewhere, so the neighbourhood look above mostly adds its cost to the
block scan; each prepared filter measures both (`_Plan`) and, while looking first costs more on
average, sends its queries straight to the block (which answers any query, near or far), looking
again on one in eight, then half as often after each such look that went to the block (down to one in
64). The block's candidates come in rounds (k * 10, then 4x more while a left-out row could still make the
top k); a scan costs the same whatever it keeps, so each filter starts at the round that would have
cost its recent queries least (a scan more against more rows re-scored, both measured).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import shutil
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from math import ceil
from pathlib import Path
from typing import Collection, Sequence

import numpy as np

from shopgraph.config import IndexConfig
from shopgraph.errors import BadArgumentError, ConfigError, MissingDependencyError, ShopGraphError, StoreError
from shopgraph.graph.slot_ids import DuplicateIds, SlotIds

log = logging.getLogger(__name__)

FORMAT = "shopgraph-ann"
# 2: no mirror.npy when the HNSW file holds every vector; 3: ids packed (ids.bin + ids.offsets.npy, with a
# digest in the manifest) instead of ids.json, so loading reads no per-id Python objects; 4: the HNSW graph
# over 8-bit codes of the vectors (hnsw_sq.faiss: what a search walks; read through the page cache in one
# pass at load, or at a store's open by read_ahead, then mapped) and the
# float32 vectors in mirror.npy (mapped at load; read only by the exact re-rank, exact filters and
# `vectors`), so a search on a cold page cache reads a few dozen float32 rows, not thousands
# (docs/benchmarks.md, "Cold open at 1M"). 1, 2 and 3 are still read; 3 is written as 4 at the next save.
FORMAT_VERSION = 4
_READABLE_VERSIONS = (1, 2, 3, 4)
MANIFEST = "manifest.json"
_IDS_JSON, _IDS_BLOB, _IDS_OFFSETS, _MIRROR, _HNSW = "ids.json", "ids.bin", "ids.offsets.npy", "mirror.npy", "hnsw.faiss"
_HNSW_SQ = "hnsw_sq.faiss"
_TOMBSTONE_LIMIT = 0.25  # fraction of dead slots that triggers compaction + HNSW rebuild
_BUILD_CHUNK = 50_000  # rows per faiss add() call while building (progress granularity)
_GATHER_CHUNK = 1024  # mirror rows gathered at a time for exact scoring: stays in cache, no big temporaries
# HNSW restricted to a fraction s of the vectors needs a wider beam: efSearch is scaled by
# _FILTER_EF_AT / s (measured at 100k: recall@10 >= 0.995 for s >= 0.1 with this scaling)
_FILTER_EF_AT = 0.2
# A filter's block (AnnIndex._block) codes each value in 4 bits: 16 even levels spanning that dimension's
# min..max over the filter's rows; it ranks coarser than float32, so it hands at least k * _BLOCK_FETCH
# candidates to the exact re-rank. Explored at 1M on the category filter (100 queries, a fixed
# candidate count): 4k candidates recall@10 0.994, 10k 1.000. Ranges over quantiles (1/64 tails) were
# as fast but clipped the rows whose strength lies in a tail (heavy-tailed vectors: recall 0.84)
# (docs/benchmarks.md, "Filtered search at 1M").
_BLOCK_FETCH = 10
# ... and more (4x at a time) while a row it left out could still reach the k-th exact score
# (_block_may_miss): near queries in tight clusters score many candidates closer together than 4 bits
# tell apart (a fixed 10k found 0.86 of the top 10 there; tests/graph, tight clusters)
_BLOCK_MARGIN = 4.0
_BLOCK_STEP = 4  # each further round fetches this many times the candidates of the one before
# A gather of at most this many rows from a mapped mirror.npy first asks the kernel for all their pages
# at once (_will_need): the re-rank's 40 candidates on a cold page cache then cost one round of parallel
# reads (1M: p50 3 ms) instead of 40 faults in a row, each reading around it (8 MB on the bench machine:
# p50 9-14 ms). Larger gathers skip it: a syscall a row would cost more than it saves on a warm cache.
_PREFETCH_ROWS = 256
_PREREAD_CHUNK = 16 << 20  # bytes per read of _preread
# A loaded format-4 index keeps its graph and float32 vectors mapped from the saved files. Vectors
# upserted after the load (a reader syncing the changes since the save: the save waits for a tenth of
# the index) go to a small in-memory tail of the mirror, beside the mapped rows, and are scored exactly
# by every search, next to the graph's candidates, instead of being added to the graph: adding to it
# took the whole graph into memory and copied the whole mirror out of its file (100k: +340 MB resident
# for one upsert; 1M: ~2 GB). Past this many tail rows (12 MB at 384-d, ~0.2 ms a query to score) the
# old way is taken (the graph and the mirror made the process's own) until the next save.
_TAIL_MAX = 8192
_DEFAULTS = IndexConfig()  # one source of truth for the tuning defaults: shopgraph/config.py


class IndexUnavailable(ShopGraphError):
    """A saved vector index is missing, unreadable or does not match; rebuild it from the graph."""


class IndexDamaged(IndexUnavailable):
    """A loaded index's stored vectors read back as values that are not numbers: its mapped file was
    damaged after it was checked (same size, other bytes). Upserts refuse non-finite vectors, so only
    damage puts them there; the store rebuilds the index from the graph."""


def _faiss():
    """Import faiss lazily: importing shopgraph must stay cheap."""
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - faiss-cpu is a core dependency
        raise MissingDependencyError("faiss is not importable; reinstall shopgraph (faiss-cpu)") from e
    return faiss


@contextmanager
def _one_thread():
    """faiss work for one query (a scan, a gather) on this thread alone: it is bound by memory, not
    cores, and faiss's OpenMP region costs more than it gains on a busy machine (a 20k-row block at
    load 11: p50 50 ms with 2 threads, 9 ms with 1). The OpenMP thread count is per calling thread,
    so other threads (an index build) keep theirs; it is put back after."""
    faiss = _faiss()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first. Every search ranks through here, so scores
    that are NaN or +inf (a stored vector that is not finite numbers: a damaged file; dead slots are
    set to -inf on purpose) raise IndexDamaged instead of dropping out of the ranking unnoticed."""
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise IndexDamaged("the vector index's stored vectors hold values that are not finite numbers "
                           "(a damaged file)")
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]


def _block_may_miss(approx: np.ndarray, exact: np.ndarray, want: int) -> bool:
    """Whether a row the block ranked below these candidates could still be among the best `want`.
    approx: the block's scores of the candidates (best first); exact: their exact scores. The block's
    error on this query is measured on the candidates themselves (exact - approx: its mean is a shift
    that does not change the order, its spread the noise); a row left out scored at most approx[-1],
    so its exact score is unlikely to pass approx[-1] + shift + _BLOCK_MARGIN spreads."""
    if exact.size <= want:
        return True
    error = (exact - approx).astype(np.float64)
    # mean and spread from two sums (np.std costs ~40 us of overhead on a few hundred values, per query)
    mean = error.sum() / error.size
    spread = max(float(error @ error) / error.size - mean * mean, 0.0) ** 0.5
    kth = np.partition(exact, exact.size - want)[exact.size - want]
    return approx[-1] + mean + _BLOCK_MARGIN * spread >= kth


def _rounds_needed(approx: np.ndarray, exact: np.ndarray, want: int, base: int, start: int = 0,
                   end: int | None = None) -> int:
    """The first round r (fetching base * _BLOCK_STEP ** r candidates) whose candidates would
    have passed _block_may_miss for this query, told from the candidates one search fetched (best first:
    the block's top m are a prefix of its top n >= m); the last round tried when none would.
    start, end: the round the search started at and the one it stopped at (its test passed there or it
    ran out of rows), when known: only the rounds before start need a test."""
    size, r = base, 0
    while size < approx.size and (end is None or r < start):
        if not _block_may_miss(approx[:size], exact[:size], want):
            return r
        size, r = size * _BLOCK_STEP, r + 1
    return r if end is None else max(r, end)


def _block_row_bytes(dim: int) -> int:
    """Bytes per row of a filter's block: 4 bits per value."""
    return (dim + 1) // 2


def _four_bit_block(rows_of, slots: np.ndarray, dim: int):
    """A faiss IndexPQFastScan over the rows of these slots (row i of the block is slots[i]) whose
    product quantiser has one sub-quantiser per dimension holding the 16 levels of faiss's 4-bit scalar
    quantiser: each dimension's range is its min..max over all of the filter's rows (nothing clipped),
    value c standing for low + (c + 0.5) / 15 * range.
    The scalar quantiser sets the ranges and encodes (in C++, two values a byte, the layout IndexPQ
    uses for 4-bit codes), so nothing is trained by k-means (faiss's PQ training and encoder took 11 s
    for 187k rows; this takes under a second); the PQ form is only there for fast scan, which looks each
    4-bit code up in a table held in registers: filtered searches through it took 0.35-0.52x the time
    of those through the 8-bit scalar-quantised block it replaced, at recall 1.000 (bench.filter_search
    at 1M; the 187k-row category block alone: ~3.4 ms a query at load 3). rows_of(slots) gives (m, dim)
    float32 rows."""
    faiss = _faiss()
    sq = faiss.ScalarQuantizer(dim, faiss.ScalarQuantizer.QT_4bit)
    sq.rangestat = faiss.ScalarQuantizer.RS_minmax
    sq.train(rows_of(slots[:min(slots.size, 16)]))  # sizes sq.trained; the ranges are set just below
    # Each dimension's range is its true min..max over every row of the filter, not quantiles of a
    # sample: a value clipped to a range scores its row too low, and a row whose strength lies in a
    # tail would never be a candidate (heavy-tailed vectors: recall@10 0.84 with the 1/64 tails).
    low, width = _ranges((rows_of(slots[lo:lo + _BUILD_CHUNK]) for lo in range(0, slots.size, _BUILD_CHUNK)), dim)
    faiss.copy_array_to_vector(np.concatenate([low, width]).astype(np.float32), sq.trained)
    pq = faiss.IndexPQ(dim, dim, 4, faiss.METRIC_INNER_PRODUCT)
    levels = low[:, None] + (np.arange(16, dtype=np.float32)[None, :] + 0.5) / 15 * width[:, None]  # (dim, 16)
    faiss.copy_array_to_vector(np.ascontiguousarray(levels, dtype=np.float32).ravel(), pq.pq.centroids)
    pq.is_trained = True
    codes = np.empty((slots.size, _block_row_bytes(dim)), dtype=np.uint8)
    for lo in range(0, slots.size, _BUILD_CHUNK):
        part = slots[lo:lo + _BUILD_CHUNK]
        codes[lo:lo + part.size] = sq.compute_codes(rows_of(part))
    faiss.copy_array_to_vector(codes.ravel(), pq.codes)
    del codes  # two copies at most at once (a 1M-row filter: 192 MB each), not three
    pq.ntotal = slots.size
    return faiss.IndexPQFastScan(pq)


def _ranges(parts, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Each dimension's (low, width), both (dim,) float32, over every row of `parts` (an iterable of
    (m, dim) float32 chunks): its min and max - min, a dimension with one value given a tiny width."""
    low = np.full(dim, np.inf, dtype=np.float32)
    high = np.full(dim, -np.inf, dtype=np.float32)
    for part in parts:
        if part.shape[0]:
            np.minimum(low, part.min(axis=0), out=low)
            np.maximum(high, part.max(axis=0), out=high)
    width = high - low
    if not (width > 1e-12).all():  # a dimension with one value (or a one-row set): no range to divide by
        low = np.where(width > 1e-12, low, low - 1e-6).astype(np.float32)
        width = np.maximum(width, 2e-6).astype(np.float32)
    return low.astype(np.float32), width.astype(np.float32)


def _coded_graph(hnsw, rows_of, hnsw_m: int):
    """The same HNSW graph over 8-bit codes of its vectors: an IndexHNSWSQ whose links are a copy of
    hnsw's (an IndexHNSWFlat, built with exact distances; not rebuilt) and whose storage codes each
    value in 8 bits over its dimension's min..max across all the vectors (faiss QT_8bit: 256 even
    levels; 384 bytes a 384-d vector against 1,536). rows_of(lo, hi) gives the float32 rows [lo, hi);
    they are read twice in chunks (ranges, codes), never held whole. An IndexHNSWSQ is returned as it is.
    Searching it visits the graph as the float32 one does, with distances from the codes; the caller
    re-scores the candidates exactly."""
    faiss = _faiss()
    if isinstance(hnsw, faiss.IndexHNSWSQ):
        return hnsw
    n, dim = hnsw.ntotal, hnsw.d
    coded = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    storage = faiss.downcast_index(coded.storage)
    storage.sq.rangestat = faiss.ScalarQuantizer.RS_minmax
    low, width = _ranges((rows_of(lo, min(lo + _BUILD_CHUNK, n)) for lo in range(0, n, _BUILD_CHUNK)), dim)
    storage.sq.trained.resize(0)
    faiss.copy_array_to_vector(np.concatenate([low, width]), storage.sq.trained)
    storage.is_trained = coded.is_trained = True
    storage.codes.resize(n * storage.code_size)  # one allocation, then filled chunk by chunk
    storage.codes.resize(0)
    for lo in range(0, n, _BUILD_CHUNK):
        storage.add(np.ascontiguousarray(rows_of(lo, min(lo + _BUILD_CHUNK, n)), dtype=np.float32))
    coded.hnsw = hnsw.hnsw  # SWIG assigns the struct: a copy of the links (1M, M 32: ~270 MB)
    coded.ntotal = n
    return coded


def _write_rows(path: Path, rows_of, n: int, dim: int) -> None:
    """A .npy file of n float32 rows of width dim, written in chunks from rows_of(lo, hi) (no whole
    copy in memory; numpy pads the header so the data start 64-byte aligned, which a map keeps)."""
    with open(path, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": np.dtype(np.float32).str, "fortran_order": False,
                                                   "shape": (n, dim)})
        for lo in range(0, n, _BUILD_CHUNK):
            np.ascontiguousarray(rows_of(lo, min(lo + _BUILD_CHUNK, n)), dtype=np.float32).tofile(out)


class AnnIndex:
    """Top-k cosine search over float32 vectors keyed by string ids.

    dim: vector width. hnsw_m / ef_construction: HNSW graph degree and build beam width.
    ef_search: search beam width (raised to k * rerank_factor when that is larger).
    rerank_factor: HNSW returns k * rerank_factor candidates, re-scored exactly from the mirror.
    min_ann_size: below this many live vectors, search is exact and no HNSW graph is built.
    exact_max_candidates, filter_min_fraction: an `allowed` filter is answered by exact cosine over
    just its rows when it has at most exact_max_candidates live ids or covers less than
    filter_min_fraction of the index (filtered HNSW loses recall there); otherwise by HNSW
    restricted to it.
    revision: opaque int/str set by the store (which graph generation this mirror reflects),
    saved and loaded with the index; source and epoch likewise (the database's id and the write epoch
    of that generation: shopgraph/graph/mirror_state.py).
    A lock serialises mutations and searches, so one instance can be shared between threads.
    """

    def __init__(self, dim: int, *, hnsw_m: int = _DEFAULTS.hnsw_m,
                 ef_construction: int = _DEFAULTS.ef_construction, ef_search: int = _DEFAULTS.ef_search,
                 rerank_factor: int = _DEFAULTS.rerank_factor, min_ann_size: int = _DEFAULTS.min_ann_size,
                 exact_max_candidates: int = _DEFAULTS.exact_max_candidates,
                 filter_min_fraction: float = _DEFAULTS.filter_min_fraction,
                 filter_block_mb: int = _DEFAULTS.filter_block_mb, normalize: bool = True):
        for name, value, low in (("dim", dim, 1), ("hnsw_m", hnsw_m, 2), ("ef_construction", ef_construction, 1),
                                 ("ef_search", ef_search, 1), ("rerank_factor", rerank_factor, 1),
                                 ("min_ann_size", min_ann_size, 0),
                                 ("exact_max_candidates", exact_max_candidates, 0),
                                 ("filter_block_mb", filter_block_mb, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"vector index {name} must be an integer >= {low}, got {value!r}")
        if not isinstance(filter_min_fraction, (int, float)) or not 0.0 <= filter_min_fraction <= 1.0:
            raise ConfigError(f"vector index filter_min_fraction must be in [0, 1], got {filter_min_fraction!r}")
        self.filter_min_fraction = float(filter_min_fraction)
        self.filter_block_mb = int(filter_block_mb)
        self._blocks: dict[int, weakref.ref] = {}  # id(filter) -> filter holding a block, oldest use first
        # normalize=False keeps vectors as given and ranks by plain inner product: the fused vectors
        # have norm < 1 on purpose when a channel is missing (see ingest/encoders/fusion.py).
        self.normalize = bool(normalize)
        self.dim = int(dim)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.rerank_factor = int(rerank_factor)
        self.min_ann_size = int(min_ann_size)
        self.exact_max_candidates = int(exact_max_candidates)
        self.revision: int | str | None = None
        self.saved_format = FORMAT_VERSION  # the format of the files it was loaded from (load sets it)
        self.source: str | None = None
        self.epoch: str | None = None
        self._lock = threading.RLock()
        self._mirror = np.empty((0, self.dim), dtype=np.float32)  # (capacity, dim) unit rows
        self._alive = np.zeros(0, dtype=bool)  # (capacity,) False for tombstones and unused rows
        self._ids = SlotIds()  # slot -> id (None for tombstones; len = used slots) and id -> live slot
        self._hnsw = None  # faiss.IndexHNSWFlat over slots [0, ntotal), built lazily
        self._hnsw_mapped = False  # its vectors are a read-only map of the saved file (see load)
        self._hnsw_file: str | None = None  # that file
        self._mirror_map = None  # (mmap, offset of row 0 in it) when the mirror maps a saved mirror.npy (format 4)
        self._shared_with = None  # the HNSW index whose vectors the mirror views (see _share_mirror)
        self._generation = 0  # bumped whenever slots change, so prepared IdFilters know they are stale
        self._spare = None  # an empty HNSW graph with room for a reserved build (see reserve)
        self._room: tuple[object, int] = (None, 0)  # (HNSW graph, rows it has room for), see _make_room
        # rows of slots [len(_mirror), ...) appended to a mirror that maps a saved file: (capacity, dim)
        # float32 in memory, row i is slot len(_mirror) + i (see _TAIL_MAX); None when not in use
        self._tail: np.ndarray | None = None

    @classmethod
    def from_config(cls, dim: int, config: IndexConfig, normalize: bool = True) -> "AnnIndex":
        return cls(dim, hnsw_m=config.hnsw_m, ef_construction=config.ef_construction,
                   ef_search=config.ef_search, rerank_factor=config.rerank_factor,
                   min_ann_size=config.min_ann_size, exact_max_candidates=config.exact_max_candidates,
                   filter_min_fraction=config.filter_min_fraction, filter_block_mb=config.filter_block_mb,
                   normalize=normalize)

    # -- size and contents ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self._ids.live

    def __contains__(self, item: object) -> bool:
        with self._lock:
            return item in self._ids

    def ids(self) -> list[str]:
        """Live ids, in slot order."""
        with self._lock:
            return self._ids.live_ids()

    def vectors(self, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(ids present, their mirror rows (n, dim) float32) in the order asked. The rows are the
        vectors as given when normalize is False, unit rows otherwise."""
        with self._lock:
            slots = [(i, s) for i, s in zip(ids, self._ids.slots(ids, len(ids)).tolist()) if s >= 0]
            rows = self._rows(np.array([s for _, s in slots], dtype=np.int64))
            return [i for i, _ in slots], rows

    def stats(self) -> dict:
        """Counts and memory: live, slots, tombstones, hnsw_built, mirror_bytes, hnsw_bytes; vectors_mapped
        (the HNSW vectors are still the saved file, mapped) and ids_packed (no per-id objects made yet)."""
        with self._lock:
            n = len(self._ids)
            return {"live": len(self), "slots": n, "tombstones": n - len(self),
                    "hnsw_built": self._hnsw is not None, "hnsw_vectors": self._hnsw.ntotal if self._hnsw else 0,
                    "mirror_bytes": self._tail_rows() * self.dim * 4 if self.mirror_shared or self._mirror_map is not None
                    else n * self.dim * 4, "tail_rows": self._tail_rows(),
                    "graph_mapped": self._hnsw_mapped,
                    "hnsw_bytes": self._hnsw_bytes(), "mirror_shared": self.mirror_shared,
                    "vectors_mapped": self._hnsw_mapped or self._mirror_map is not None, "graph_codes": self._graph_codes(),
                    "ids_packed": self._ids.is_packed}

    def _graph_codes(self) -> str | None:
        """What the HNSW graph's distances are computed from: "float32", "8-bit" or None (no graph)."""
        if self._hnsw is None:
            return None
        return "8-bit" if isinstance(self._hnsw, _faiss().IndexHNSWSQ) else "float32"

    def _hnsw_bytes(self) -> int:
        """Approximate memory of the HNSW index: its own flat copy of the vectors plus the graph."""
        if self._hnsw is None:
            return 0
        h = self._hnsw.hnsw
        code_size = _faiss().downcast_index(self._hnsw.storage).code_size
        return int(self._hnsw.ntotal * code_size + h.neighbors.size() * 4 + h.offsets.size() * 8
                   + h.levels.size() * 4)

    # -- mutations -----------------------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add or replace vectors. ids: n strings; vectors: (n, dim) array, any float dtype.

        A replaced vector gets a new slot and its old slot becomes a tombstone; a vector equal to
        the stored one is left as it is. Zero vectors cannot be normalised: they are skipped and
        any previous entry of that id is removed. A repeated id within one call: the last wins.
        """
        ids = list(ids)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise BadArgumentError(f"upsert expects vectors of shape ({len(ids)}, {self.dim}), "
                                   f"got {tuple(vectors.shape)}")
        if not all(isinstance(i, str) and i for i in ids):
            raise BadArgumentError("vector index ids must be non-empty strings")
        if not np.isfinite(vectors).all():
            raise BadArgumentError("upsert got vectors with NaN or infinite values")
        last = {i: row for row, i in enumerate(ids)}  # last occurrence of each id wins
        rows = np.fromiter(last.values(), dtype=np.int64, count=len(last))
        keys = list(last)
        norms = np.linalg.norm(vectors[rows], axis=1)
        usable = norms > np.finfo(np.float32).tiny
        unit = vectors[rows[usable]] / norms[usable, None] if self.normalize else vectors[rows[usable]]
        keys_usable = [k for k, ok in zip(keys, usable) if ok]
        with self._lock:
            for k, ok in zip(keys, usable):
                if not ok:
                    self._kill(k)
            # unchanged vectors keep their slot, so re-syncing a whole graph creates no tombstones
            old = self._ids.slots(keys_usable, len(keys_usable))
            has_old = old >= 0
            same = np.zeros(len(keys_usable), dtype=bool)
            if has_old.any():
                same[has_old] = (self._rows(old[has_old]) == unit[has_old]).all(axis=1)
            for k, o, s in zip(keys_usable, old, same):
                if o >= 0 and not s:
                    self._kill(k)
            fresh = ~same
            self._append([k for k, f in zip(keys_usable, fresh) if f], unit[fresh])
            self._maybe_compact()

    def remove(self, ids: Sequence[str]) -> int:
        """Remove vectors by id; unknown ids are ignored. Returns how many were present."""
        with self._lock:
            removed = sum(self._kill(i) for i in ids)
            self._maybe_compact()
            return removed

    def _kill(self, key: str) -> bool:
        slot = self._ids.kill(key)
        if slot is None:
            return False
        self._alive[slot] = False
        self._generation += 1
        return True

    def reserve(self, slots: int) -> None:
        """Make room for `slots` slots in all, so a build that knows its size appends without regrowing
        (growing by half copies the mirror: 2.5 mirrors at once, 3.8 GB for 1M 384-d vectors)."""
        with self._lock:
            if slots > self._mirror.shape[0]:
                self._grow(slots)
            if self._hnsw is None and len(self._ids) == 0 and slots >= max(self.min_ann_size, 1):
                # the graph's room for the build, made now while the mirror is empty: faiss zero-fills
                # new room, so making it at build time would touch it all beside the full mirror
                self._spare = self._new_hnsw()
                self._make_room(self._spare, slots)

    def _make_room(self, hnsw, rows: int) -> None:
        """Room for `rows` vectors in this HNSW graph, made once (see _presize): making it again would
        zero-fill, so touch, all of it."""
        if self._room[0] is not hnsw or self._room[1] < rows:
            _presize(hnsw, rows)
            self._room = (hnsw, rows)

    def _new_hnsw(self):
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _grow(self, capacity: int) -> None:
        used = len(self._ids)
        mirror = _anonymous_rows(capacity, self.dim)
        base = min(used, self._mirror.shape[0])
        mirror[:base] = self._mirror[:base]
        if used > base:  # the tail's rows (a mapped mirror's appended slots)
            mirror[base:used] = self._tail[:used - base]
        self._grow_alive(capacity)
        self._mirror, self._shared_with, self._mirror_map, self._tail = mirror, None, None, None

    def _grow_alive(self, capacity: int) -> None:
        if capacity > self._alive.size:
            alive = np.zeros(capacity, dtype=bool)
            alive[:self._alive.size] = self._alive
            self._alive = alive

    def _tail_rows(self) -> int:
        """Slots held by the tail (rows appended beside a mapped mirror)."""
        return 0 if self._tail is None else len(self._ids) - self._mirror.shape[0]

    def _append(self, keys: list[str], unit: np.ndarray) -> None:
        if not keys:
            return
        start, need = len(self._ids), len(self._ids) + len(keys)
        base = self._mirror.shape[0]
        if self._mirror_map is not None and start >= base and need - base <= _TAIL_MAX:
            # beside a mapped mirror: into the tail, not a copy of the whole mirror (see _TAIL_MAX)
            have = 0 if self._tail is None else self._tail.shape[0]
            if need - base > have:
                tail = np.empty((min(max(need - base, 2 * have, 64), _TAIL_MAX), self.dim), dtype=np.float32)
                tail[:start - base] = self._tail[:start - base] if self._tail is not None else tail[:0]
                self._tail = tail
            self._tail[start - base:need - base] = unit
            if need > self._alive.size:
                self._grow_alive(max(need, int(self._alive.size * 1.5)))
        else:
            if need > self._mirror.shape[0] or self._tail is not None:
                self._grow(max(need, int(self._mirror.shape[0] * 1.5), 1024))
            self._mirror[start:need] = unit
        self._alive[start:need] = True
        self._ids.extend(keys)
        self._generation += 1

    def _maybe_compact(self) -> None:
        """Drop tombstones once they pass 25% of the slots; the HNSW graph is rebuilt lazily."""
        n = len(self._ids)
        if n == 0 or (n - len(self)) <= _TOMBSTONE_LIMIT * n:
            return
        live = np.flatnonzero(self._alive[:n])
        log.info("compacting vector index: %d live of %d slots", live.size, n)
        mirror = _anonymous_rows(live.size, self.dim)  # a copy (also out of a shared view), built in chunks
        for lo in range(0, live.size, _BUILD_CHUNK):
            mirror[lo:lo + _BUILD_CHUNK] = self._rows(live[lo:lo + _BUILD_CHUNK])
        self._mirror = mirror
        self._shared_with, self._mirror_map, self._tail = None, None, None
        self._alive = np.ones(live.size, dtype=bool)
        self._ids.compact(live)
        self._hnsw, self._hnsw_mapped, self._room = None, False, (None, 0)
        self._generation += 1

    # -- HNSW ----------------------------------------------------------------------------------
    def build(self, progress: bool | None = None) -> bool:
        """Build or catch up the HNSW graph now rather than at the next search.

        Returns whether an HNSW graph is in use (False below min_ann_size live vectors).
        progress: show a progress bar (None = only on a terminal and for large builds).
        """
        with self._lock:
            return self._ensure_hnsw(progress, whole=True) is not None

    def _ensure_hnsw(self, progress: bool | None = None, whole: bool = False):
        """The HNSW graph over every slot, or None below min_ann_size live vectors. A mapped graph whose
        missing slots are all in the tail is left as it is unless `whole` (a save, a build): searches
        score those slots exactly (_unindexed)."""
        if len(self) < max(self.min_ann_size, 1):
            return None
        faiss = _faiss()
        if self._hnsw is None:
            self._hnsw = self._spare if self._spare is not None else self._new_hnsw()  # (an index's len is 0)
            self._spare = None
        n, start = len(self._ids), self._hnsw.ntotal
        if start >= n:
            return self._hnsw
        if self._hnsw_mapped and not whole and self._tail is not None and start == self._mirror.shape[0]:
            return self._hnsw  # the appended slots are the tail's, scored exactly by each search
        if self._hnsw_mapped:  # a mapped file cannot grow: take the graph into memory first
            self._hnsw = self._owned_hnsw(faiss)
            self._hnsw_mapped = False
        self._make_room(self._hnsw, n)  # no doubling copy while the mirror's rows are added
        # A build from the first slot gives each chunk's mirror pages back once the storage holds it,
        # so the vectors are held about once, not twice, until the mirror becomes the storage's view.
        # (Not a mapped mirror.npy: its pages belong to the file.)
        release = start == 0 and not self.mirror_shared and self._mirror.flags.writeable \
            and isinstance(_map_of(self._mirror), mmap.mmap)
        t0 = time.perf_counter()
        chunks = range(start, n, _BUILD_CHUNK)
        if progress or (progress is None and n - start > 200_000):
            from tqdm import tqdm

            chunks = tqdm(chunks, desc="HNSW build", unit="chunk", disable=None if progress is None else False)
        try:
            for lo in chunks:
                hi = min(lo + _BUILD_CHUNK, n)
                # slots are added in order, so HNSW's sequential ids are the slot numbers
                self._hnsw.add(self._mirror[lo:hi] if hi <= self._mirror.shape[0] else self._rows(np.arange(lo, hi)))
                if release:
                    _release_rows(self._mirror, hi)
        except BaseException:
            if release:  # put back the rows already given away (the storage holds them)
                added = self._hnsw.ntotal
                storage = faiss.downcast_index(self._hnsw.storage)
                self._mirror[:added] = faiss.rev_swig_ptr(storage.get_xb(), added * self.dim).reshape(added, self.dim)
            raise
        log.info("HNSW: added %d vectors (M=%d, efConstruction=%d) in %.1f s", n - start, self.hnsw_m,
                 self.ef_construction, time.perf_counter() - t0)
        self._share_mirror()
        return self._hnsw

    def _owned_hnsw(self, faiss):
        """A copy of the mapped HNSW graph in memory: read again from its file (one copy), or, when a
        newer save has deleted that file meanwhile, through a serialised buffer (two copies at once)."""
        try:
            owned = faiss.read_index(self._hnsw_file)
            if owned.ntotal == self._hnsw.ntotal and owned.d == self._hnsw.d:
                return owned
        except RuntimeError:
            pass
        return faiss.deserialize_index(faiss.serialize_index(self._hnsw))

    def _share_mirror(self) -> None:
        """Once the HNSW graph holds every slot, make the mirror a view of the HNSW's own flat copy of
        the vectors (IndexHNSWFlat keeps them in add order: row s is slot s, bit for bit), so they are
        held once (1M 384-d vectors: 1.5 GB less) and saved once. The view lives only as long as
        self._hnsw: the code that drops or replaces the graph copies the mirror first (compaction
        indexes it into a new array; load copies it), and growing the mirror for new slots copies it
        into an array of its own until the next add catches the graph up."""
        n = len(self._ids)
        if self._hnsw is None or n == 0 or self._hnsw.ntotal != n or self.mirror_shared:
            return
        faiss = _faiss()
        if not isinstance(self._hnsw, faiss.IndexHNSWFlat):  # an 8-bit graph (format 4) holds codes only
            return
        storage = faiss.downcast_index(self._hnsw.storage)
        self._mirror = faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)
        self._mirror.flags.writeable = False  # never written through: appending copies it (_grow)
        self._shared_with, self._mirror_map = self._hnsw, None

    @property
    def mirror_shared(self) -> bool:
        """Whether the mirror is a view of the HNSW graph's vectors (held once)."""
        return self._shared_with is not None and self._shared_with is self._hnsw and \
            self._mirror.shape[0] == self._hnsw.ntotal

    # -- search --------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int,
               allowed: "Collection[str] | IdFilter | None" = None) -> list[tuple[str, float]]:
        """Top-k (id, cosine) for one query vector of shape (dim,), best first, exact scores.

        allowed: only these ids may be returned (unknown ids are ignored): a collection of ids, or
        an IdFilter from `id_filter` to skip resolving the same ids again on every search.
        """
        q = self._unit_queries(np.asarray(query, dtype=np.float32), single=True)
        return self._search_batch(q, self._check_k(k), allowed)[0]

    def search_batch(self, queries: np.ndarray, k: int,
                     allowed: "Collection[str] | IdFilter | None" = None) -> list[list[tuple[str, float]]]:
        """`search` for several queries of shape (q, dim); one result list per query."""
        q = self._unit_queries(np.asarray(queries, dtype=np.float32), single=False)
        return self._search_batch(q, self._check_k(k), allowed)

    def id_filter(self, ids: Collection[str]) -> "IdFilter":
        """Resolve allowed ids once, for many searches with the same filter (a brand, a category).

        The result stays valid across index changes: it is re-resolved on first use after one.
        """
        ids = ids if isinstance(ids, (set, frozenset)) else set(ids)
        f = IdFilter(ids)
        with self._lock:
            self._filter_slots(f)
        return f

    @staticmethod
    def _check_k(k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise BadArgumentError(f"k must be a positive integer, got {k!r}")
        return int(k)

    def _unit_queries(self, q: np.ndarray, single: bool) -> np.ndarray:
        """(q, dim) unit float32 queries, or BadArgumentError for a wrong shape, NaN or a zero vector."""
        if (single and q.shape != (self.dim,)) or (not single and (q.ndim != 2 or q.shape[1] != self.dim)):
            expected = f"({self.dim},)" if single else f"(q, {self.dim})"
            raise BadArgumentError(f"query must have shape {expected}, got {tuple(q.shape)}")
        q = q.reshape(-1, self.dim)
        if not np.isfinite(q).all():
            raise BadArgumentError("query vector has NaN or infinite values")
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        if (norms <= np.finfo(np.float32).tiny).any():
            raise BadArgumentError("query vector is all zeros; cosine similarity is undefined")
        return np.ascontiguousarray(q / norms if self.normalize else q, dtype=np.float32)

    def _search_batch(self, q: np.ndarray, k: int, allowed) -> list[list[tuple[str, float]]]:
        with self._lock:
            if len(self) == 0:
                return [[] for _ in range(q.shape[0])]
            if allowed is None:
                if self._ensure_hnsw() is None:
                    return [self._exact(row, k, None) for row in q]
                return self._ann(q, k, None)
            f = allowed if isinstance(allowed, IdFilter) else IdFilter(allowed)
            slots = self._filter_slots(f)
            m = slots.size
            if m == 0:
                return [[] for _ in range(q.shape[0])]
            if (m <= self.exact_max_candidates or m < self.filter_min_fraction * len(self)
                    or self._ensure_hnsw() is None):
                if m > self.exact_max_candidates and f is allowed:  # prepared for reuse: worth a block
                    return [self._exact_filter(row, k, f) for row in q]
                return [self._exact(row, k, slots) for row in q]
            return self._filtered(q, k, f, f is allowed)

    def _filter_slots(self, f: "IdFilter") -> np.ndarray:
        """Live slots of a filter's ids (int64, unique), cached on the filter until the index changes."""
        if f._owner is None or f._owner() is not self or f._generation != self._generation:
            ids = f.ids
            if not isinstance(ids, (set, frozenset, dict)):
                ids = list(ids)
            slots = self._ids.slots(ids, len(ids))
            slots = slots[slots >= 0]
            if not isinstance(ids, (set, frozenset, dict)):
                slots = np.unique(slots)  # a list may repeat ids; a set cannot
            f._owner, f._generation, f._slots, f._bitmap, f._block = weakref.ref(self), self._generation, slots, None, None
            f._plan, f._exact_uses = _Plan(), 0
        return f._slots

    def _exact(self, q: np.ndarray, k: int, slots: np.ndarray | None) -> list[tuple[str, float]]:
        """Exact cosine over every live slot (slots None) or over the given live slots."""
        n = len(self._ids)
        if slots is None:
            if self._mirror.flags.aligned and self._tail is None:
                scores = self._mirror[:n] @ q
            else:
                scores = np.concatenate([self._rows(np.arange(lo, min(lo + _BUILD_CHUNK, n))) @ q
                                         for lo in range(0, n, _BUILD_CHUNK)])
            if len(self) < n:
                scores[~self._alive[:n]] = -np.inf
            best = _top(scores, min(k, len(self)))
            return self._pairs(best, scores[best])
        scores = np.empty(slots.size, dtype=np.float32)
        for lo in range(0, slots.size, _GATHER_CHUNK):
            part = slots[lo:lo + _GATHER_CHUNK]
            np.dot(self._rows(part), q, out=scores[lo:lo + part.size])
        best = _top(scores, min(k, slots.size))
        return self._pairs(slots[best], scores[best])

    def _exact_filter(self, q: np.ndarray, k: int, f: "IdFilter") -> list[tuple[str, float]]:
        """Top-k over a prepared filter's slots: its block (its vectors at 4 bits per value, scanned by
        faiss's fast-scan kernels) gives k * _BLOCK_FETCH candidates, re-scored exactly from the mirror;
        exact over the slots when no block fits in filter_block_mb, and at the filter's first exact
        search: making a block costs a few exact searches (two passes over the rows: their ranges,
        then their codes; a 75k-row filter of 150k: 900 ms against 316 for one exact search), which a
        filter used once (the embedded store prepares every filter it is given) would pay for nothing.
        From the second on, each search scans an eighth of the bytes."""
        f._exact_uses += 1
        block = self._block(f) if f._exact_uses > 1 else None
        if block is None:
            return self._exact(q, k, f._slots)
        want = min(k, f._slots.size)
        base = k * max(_BLOCK_FETCH, self.rerank_factor)
        # start at the round that costs this filter's recent queries least: a scan costs the block's bytes
        # whatever it keeps (100 or 400 candidates), so starting where most queries end saves them a whole
        # scan, while those that needed less re-score more rows (docs/benchmarks.md, "The 1M category filter")
        start = f._plan.start_round(base)
        fetch = min(base * _BLOCK_STEP ** start, f._slots.size)
        scans, scan_ms, rows, gather_ms = 0, 0.0, 0, 0.0
        while True:
            started = time.perf_counter()
            with _one_thread():
                approx, found = block.search(q.reshape(1, -1), fetch)
            scanned = time.perf_counter()
            keep = found[0] >= 0
            cand, approx = f._slots[found[0][keep]], approx[0][keep]
            scores = self._rows(cand) @ q
            scans, rows = scans + 1, rows + cand.size
            scan_ms += (scanned - started) * 1000
            gather_ms += (time.perf_counter() - scanned) * 1000
            if fetch >= f._slots.size or not _block_may_miss(approx, scores, want):
                break
            fetch = min(fetch * _BLOCK_STEP, f._slots.size)
        needed = _rounds_needed(approx, scores, want, base, start, start + scans - 1)
        f._plan.fetched(needed, scan_ms / scans, gather_ms / max(rows, 1))
        if cand.size < want:  # the block gave fewer rows than it holds: never return fewer than asked
            log.debug("filter block gave %d of %d results; scoring its rows exactly", cand.size, want)
            return self._exact(q, k, f._slots)
        best = _top(scores, min(want, cand.size))
        return self._pairs(cand[best], scores[best])

    def _block(self, f: "IdFilter"):
        """The filter's vectors in a 4-bit fast-scan block (row i is slot f._slots[i]; _four_bit_block),
        made on first use and kept on the filter (dropped with its slots when the index changes); the
        least recently used blocks are dropped to stay within filter_block_mb."""
        budget = self.filter_block_mb * 2**20
        need = f._slots.size * _block_row_bytes(self.dim)
        if need > budget or f._slots.size == 0:
            return None
        key = id(f)
        if f._block is not None:
            self._blocks[key] = self._blocks.pop(key, weakref.ref(f))  # most recently used last
            return f._block
        held = []
        for other_key, ref in list(self._blocks.items()):
            other = ref()
            if other is None or other._block is None or other._owner is None or other._owner() is not self:
                del self._blocks[other_key]
            else:
                held.append((other_key, other))
        row_bytes = _block_row_bytes(self.dim)
        used = sum(o._block.ntotal * row_bytes for _, o in held)
        for other_key, other in held:
            if used + need <= budget:
                break
            used -= other._block.ntotal * row_bytes
            other._block = None
            del self._blocks[other_key]
        f._block = _four_bit_block(self._rows, f._slots, self.dim)
        self._blocks[key] = weakref.ref(f)
        return f._block

    def _rows(self, slots: np.ndarray) -> np.ndarray:
        """Mirror rows of these slots, (m, dim) float32, a fresh aligned array. A mirror mapped from a
        saved HNSW file lies where faiss's format puts it, not 4-byte aligned, and numpy gathers from
        unaligned memory 20-30x slower (a 20k-row filter: 2 s instead of 25 ms): faiss copies those rows."""
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        base = self._mirror.shape[0]
        if self._tail is not None and slots.size and int(slots.max()) >= base:
            out = np.empty((slots.size, self.dim), dtype=np.float32)
            high = slots >= base
            out[high] = self._tail[slots[high] - base]
            if not high.all():
                out[~high] = self._rows(slots[~high])
            return out
        if self._mirror_map is not None and 0 < slots.size <= _PREFETCH_ROWS:
            _will_need(self._mirror_map, slots, self.dim * 4)
        if self._mirror.flags.aligned:
            return self._mirror[slots]
        out = np.empty((slots.size, self.dim), dtype=np.float32)
        if slots.size:
            with _one_thread():
                self._shared_with.storage.reconstruct_batch(slots, out)
        return out

    def _filtered(self, q: np.ndarray, k: int, f: "IdFilter",
                  prepared: bool = True) -> list[list[tuple[str, float]]]:
        """Top-k among a broad filter's vectors, planned per query from its unfiltered neighbourhood
        (the k * rerank_factor HNSW candidates): at least k allowed there -> the best of them (the
        unfiltered search found every closer vector, so no allowed one outside can beat them);
        allowed vectors at least half as common there as in the index -> HNSW restricted to the
        filter; fewer -> exact scoring over the filter's rows (filtered HNSW would walk the wrong
        region of the graph and miss most of them).

        A prepared filter whose neighbourhoods seldom answer (a category that follows the clusters:
        most queries lie elsewhere) pays for that look and then scans its block anyway; its _Plan
        measures both and sends queries straight to the block while that is cheaper on average
        (re-checking the neighbourhood on one query in _PLAN_RECHECK, then, while those looks keep sending
        their queries to the block, half as often each time, down to one in _PLAN_RECHECK_MAX)."""
        plan = f._plan if prepared else None
        if plan is not None and plan.block_only():
            plan.skipped += q.shape[0]
            return [self._timed_block(row, k, f, plan) for row in q]
        faiss = _faiss()
        fetch = min(k * self.rerank_factor, len(self._ids))
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, fetch)
        started = time.perf_counter()
        _, found = self._hnsw.search(q, fetch, params=params)
        extra = self._unindexed(q, fetch, None)
        bitmap = self._bitmap(f)
        want = min(k, f._slots.size)
        share = f._slots.size / len(self)
        out: list = [None] * q.shape[0]
        restricted, elsewhere = [], []
        for i, (row, cand) in enumerate(zip(q, found)):
            cand = cand[cand >= 0]
            if extra is not None:
                # the tail's best `fetch` rows are its best however far they lie: the neighbourhood is
                # the best `fetch` of the graph's candidates and the tail's together, scored exactly, or
                # a far new row inside the filter would answer for closer rows the graph holds
                cand = np.unique(np.concatenate([cand, extra[i]]))
                cand = cand[self._alive[cand]]
                if cand.size > fetch:
                    cand = cand[_top(self._rows(cand) @ row, fetch)]
            cand = np.unique(cand[self._alive[cand]])
            inside = cand[(bitmap[cand >> 3] >> (cand & 7)) & 1 == 1]
            if inside.size >= want:
                scores = self._rows(inside) @ row
                best = _top(scores, want)
                out[i] = self._pairs(inside[best], scores[best])
            elif cand.size and inside.size >= 0.5 * share * cand.size:
                restricted.append(i)
            else:
                elsewhere.append(i)
        probe_ms = (time.perf_counter() - started) * 1000 / q.shape[0]
        for i in elsewhere:  # a one-off filter (not prepared) is never used again: no block for it
            out[i] = self._timed_block(q[i], k, f, plan) if prepared else self._exact(q[i], k, f._slots)
        if restricted:
            started = time.perf_counter()
            for i, result in zip(restricted, self._ann(q[restricted], k, f)):
                out[i] = result
            restricted_ms = (time.perf_counter() - started) * 1000 / len(restricted)
        if plan is not None:
            plan.probed(q.shape[0], probe_ms, len(restricted), restricted_ms if restricted else 0.0, len(elsewhere))
        return out

    def _timed_block(self, q: np.ndarray, k: int, f: "IdFilter", plan: "_Plan | None") -> list[tuple[str, float]]:
        started = time.perf_counter()
        out = self._exact_filter(q, k, f)
        if plan is not None:
            plan.block_ms = _ewma(plan.block_ms, (time.perf_counter() - started) * 1000)
        return out

    def _bitmap(self, f: "IdFilter") -> np.ndarray:
        """The filter's slots as a bitmap (uint8; bit s%8 of byte s//8 is slot s), cached on it."""
        if f._bitmap is None:
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[f._slots] = True
            f._bitmap = np.packbits(mask, bitorder="little")
        return f._bitmap

    def _ann(self, q: np.ndarray, k: int, f: "IdFilter | None") -> list[list[tuple[str, float]]]:
        """HNSW over-fetch of k * rerank_factor candidates, exact re-rank from the mirror.

        With a filter f, HNSW only visits results inside it (a faiss IDSelectorBitmap over slots)
        and its beam is widened for narrow filters. Fewer valid results than asked: exact search.
        """
        faiss = _faiss()
        n = len(self._ids)
        fetch = min(k * self.rerank_factor, n)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, fetch)
        eligible = len(self)
        if f is not None:
            eligible = f._slots.size
            selector = faiss.IDSelectorBitmap(self._bitmap(f))  # holds a reference to the bitmap
            params.sel = selector  # `selector` stays referenced here until the search returns
            share = eligible / len(self)
            params.efSearch = max(params.efSearch, ceil(self.ef_search * _FILTER_EF_AT / share))
        _, found = self._hnsw.search(q, fetch, params=params)
        extra = self._unindexed(q, fetch, f)
        want = min(k, eligible)
        out = []
        for i, (row, cand) in enumerate(zip(q, found)):
            cand = cand[cand >= 0]
            if extra is not None:  # the slots the graph does not hold yet: their best, scored exactly
                cand = np.concatenate([cand, extra[i]])
            cand = cand[self._alive[cand]]
            # a slot appears once in HNSW, but keep the re-rank honest if that ever changes
            cand = np.unique(cand)
            if cand.size < want:
                log.debug("HNSW gave %d of %d results; falling back to exact search", cand.size, want)
                out.append(self._exact(row, k, None if f is None else f._slots))
                continue
            scores = self._rows(cand) @ row
            best = _top(scores, want)
            out.append(self._pairs(cand[best], scores[best]))
        return out

    def _unindexed(self, q: np.ndarray, fetch: int, f: "IdFilter | None") -> list[np.ndarray] | None:
        """For each query of q (nq, dim), the `fetch` best live slots (int64, inside filter f when given)
        among those the HNSW graph does not hold (the tail of a mapped index, _ensure_hnsw), scored
        exactly: with the graph's own candidates they make the set the exact re-rank picks from. None
        when the graph holds every slot."""
        n, start = len(self._ids), self._hnsw.ntotal
        if start >= n:
            return None
        slots = np.arange(start, n, dtype=np.int64)
        slots = slots[self._alive[start:n]]
        if f is not None and slots.size:
            bitmap = self._bitmap(f)
            slots = slots[(bitmap[slots >> 3] >> (slots & 7)) & 1 == 1]
        if slots.size == 0:
            return [slots] * q.shape[0]
        scores = self._rows(slots) @ q.T  # (m, nq)
        take = min(fetch, slots.size)
        return [slots[_top(scores[:, i], take)] for i in range(q.shape[0])]

    def _pairs(self, slots: np.ndarray, scores: np.ndarray) -> list[tuple[str, float]]:
        if self.normalize:  # cosine: float error must not show as 1.0000001
            scores = np.clip(scores, -1.0, 1.0)
        return list(zip(self._ids.at(slots.tolist()), scores.tolist()))

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index under directory atomically.

        Files go to a fresh data-* subdirectory; manifest.json, replaced last with os.replace,
        names it. A crash leaves either the previous index or the new one, never a mix. The HNSW
        graph is built first (when the index is large enough) so that loading needs no rebuild.
        """
        if self.revision is not None and (isinstance(self.revision, bool)
                                          or not isinstance(self.revision, (int, str))):
            raise BadArgumentError(f"index revision must be an int or str, got {self.revision!r}")
        for name in ("source", "epoch"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise BadArgumentError(f"index {name} must be a str, got {getattr(self, name)!r}")
        faiss = _faiss()
        root = Path(directory)
        with self._lock:
            hnsw = self._ensure_hnsw(whole=True)  # the saved graph holds every slot
            try:
                token = self._write(root, hnsw, faiss)
            except (OSError, RuntimeError) as e:  # faiss reports write failures as RuntimeError
                raise StoreError(f"cannot save the vector index to {root}: {e}") from e
            for old in root.iterdir():  # earlier versions and leftovers of interrupted saves
                if old.name != token and old.name.startswith(("data-", f"{MANIFEST}.")):
                    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        log.info("saved vector index (%d vectors, revision %r of %s) to %s", len(self), self.revision, self.source, root)

    def _write(self, root: Path, hnsw, faiss) -> str:
        """Write the data files, then publish them by replacing the manifest; returns the token."""
        n = len(self._ids)
        root.mkdir(parents=True, exist_ok=True)
        token = f"data-{uuid.uuid4().hex[:12]}"
        tmp = root / f"{token}.tmp"
        tmp.mkdir()
        try:
            blob, offsets = self._ids.pack()
            (tmp / _IDS_BLOB).write_bytes(blob)
            np.save(tmp / _IDS_OFFSETS, offsets, allow_pickle=False)
            # the float32 vectors in a file of their own (mapped at load) and the graph over 8-bit codes
            # (read whole at load): a search walks the codes and reads only its candidates' float32 rows
            def rows_of(lo: int, hi: int) -> np.ndarray:
                return self._rows(np.arange(lo, hi))

            _write_rows(tmp / _MIRROR, rows_of, n, self.dim)
            if hnsw is not None:
                coded = _coded_graph(hnsw, rows_of, self.hnsw_m)  # the graph built on exact distances, coded
                faiss.write_index(coded, str(tmp / _HNSW_SQ))
                del coded
            files = {}
            for path in sorted(tmp.iterdir()):
                _fsync(path)
                files[path.name] = path.stat().st_size
            os.replace(tmp, root / token)
            manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "dim": self.dim,
                        "params": self._params(), "revision": self.revision, "source": self.source,
                        "epoch": self.epoch, "data": token,
                        "slots": n, "live": len(self), "files": files, "ids_blake2b": _ids_digest(blob, offsets)}
            staging = root / f"{MANIFEST}.{token}.tmp"
            staging.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            _fsync(staging)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(root / token, ignore_errors=True)
            raise
        os.replace(staging, root / MANIFEST)  # the atomic switch to the new version
        _fsync(root)
        return token

    def _params(self) -> dict:
        return {"hnsw_m": self.hnsw_m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "rerank_factor": self.rerank_factor, "min_ann_size": self.min_ann_size,
                "exact_max_candidates": self.exact_max_candidates, "filter_min_fraction": self.filter_min_fraction,
                "filter_block_mb": self.filter_block_mb,
                "normalize": self.normalize}

    @classmethod
    def load(cls, directory: str | os.PathLike, *, dim: int | None = None,
             config: IndexConfig | None = None) -> "AnnIndex":
        """Load an index written by `save`.

        dim: the width the caller expects (a different saved width raises IndexUnavailable).
        config: search settings to use instead of the saved ones; if its hnsw_m or
        ef_construction differ from the saved graph's, the graph is dropped and rebuilt lazily
        from the mirror. Raises IndexUnavailable when the directory is missing, truncated,
        corrupt or of another format, so the caller can rebuild from the graph.
        """
        root = Path(directory)
        try:
            return cls._load(root, dim, config)
        except IndexUnavailable:
            raise
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, EOFError) as e:
            # json, numpy and faiss report damage with these; the message says which file
            raise IndexUnavailable(f"vector index at {root} is unreadable: {e}") from e

    @classmethod
    def _load(cls, root: Path, dim: int | None, config: IndexConfig | None) -> "AnnIndex":
        try:
            manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexUnavailable(f"no vector index at {root}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexUnavailable(f"{root / MANIFEST} is not a shopgraph vector index manifest")
        if manifest.get("format_version") not in _READABLE_VERSIONS:
            raise IndexUnavailable(f"vector index at {root} has format version "
                                   f"{manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
        saved_dim = manifest["dim"]
        if dim is not None and saved_dim != dim:
            raise IndexUnavailable(f"vector index at {root} has dim {saved_dim}, expected {dim}")
        token = str(manifest["data"])
        if not token.startswith("data-") or "/" in token or "\\" in token or ".." in token:
            raise IndexUnavailable(f"{root / MANIFEST} names an invalid data directory {token!r}")
        data = root / token
        for name, size in manifest["files"].items():
            path = data / name
            if not path.is_file() or path.stat().st_size != size:
                raise IndexUnavailable(f"vector index file {path} is missing or truncated")
        saved = manifest["params"]
        if config is not None:
            index = cls.from_config(saved_dim, config, normalize=saved.get("normalize", True))
        else:
            index = cls(saved_dim, **saved)
        n = int(manifest["slots"])
        hnsw = ahead_ids = None
        faiss = _faiss()
        if _HNSW_SQ in manifest["files"]:
            # the graph and the 8-bit codes (1M at M 32: ~650 MB) are what a search walks, at random: read
            # through the page cache in one sequential pass, then mapped (faiss's own read of the file
            # into memory took 0.5-0.6 s from a warm cache; read and map take ~0.2 s)
            hnsw, ahead_ids = _read_ahead_result(data / _HNSW_SQ)  # mapped already by a store's open (read_ahead)
            if hnsw is None:
                if not _cached(data / _HNSW_SQ):  # a warm cache: reading it again would cost ~0.1 s for nothing
                    _preread(data / _HNSW_SQ)
                hnsw = faiss.read_index(str(data / _HNSW_SQ), faiss.IO_FLAG_MMAP_IFC)
            if (not isinstance(hnsw, faiss.IndexHNSWSQ) or hnsw.d != saved_dim or hnsw.ntotal > n
                    or hnsw.metric_type != faiss.METRIC_INNER_PRODUCT):
                raise IndexUnavailable(f"vector index at {root} has an HNSW file that does not match")
        elif _HNSW in manifest["files"]:
            # the vectors stay in the file, mapped (read-only, paged in by the searches that touch them):
            # opening a 1M index reads its graph links, not its 1.5 GB of vectors
            hnsw = faiss.read_index(str(data / _HNSW), faiss.IO_FLAG_MMAP_IFC)
            if (not isinstance(hnsw, faiss.IndexHNSWFlat) or hnsw.d != saved_dim or hnsw.ntotal > n
                    or hnsw.metric_type != faiss.METRIC_INNER_PRODUCT):
                raise IndexUnavailable(f"vector index at {root} has an HNSW file that does not match")
        mapped = manifest["format_version"] >= 4
        if _MIRROR in manifest["files"]:
            # format 4: mapped, read-only; the exact re-rank pages in only the rows it scores
            mirror = np.load(data / _MIRROR, mmap_mode="r" if mapped else None, allow_pickle=False)
        elif hnsw is not None and hnsw.ntotal == n:
            storage = faiss.downcast_index(hnsw.storage)
            mirror = faiss.rev_swig_ptr(storage.get_xb(), n * saved_dim).reshape(n, saved_dim)
        else:
            raise IndexUnavailable(f"vector index at {root} has neither a mirror nor a complete HNSW file")
        ids = cls._load_ids(root, data, manifest, ahead_ids)
        if mirror.dtype != np.float32 or mirror.shape != (n, saved_dim) or len(ids) != n \
                or ids.live != manifest["live"]:
            raise IndexUnavailable(f"vector index at {root} is inconsistent (mirror or ids do not match)")
        keep_graph = hnsw is not None and (index.hnsw_m, index.ef_construction) == (saved["hnsw_m"],
                                                                                   saved["ef_construction"])
        if _MIRROR not in manifest["files"] and not keep_graph:
            mirror = mirror.copy()  # the view must not outlive the graph that is dropped below
        index._mirror = np.ascontiguousarray(mirror)
        if isinstance(mirror, np.memmap):
            index._mirror_map = (mirror._mmap, mirror.offset % mmap.ALLOCATIONGRANULARITY)
            # Not read ahead: a thread reading it beside the first searches (1M: 1.5 GB) took their cold
            # p50 from 5-7 ms to 15-20 ms while it lasted, even in 1 MB reads (docs/benchmarks.md)
        index._ids = ids
        index._alive = ids.alive()
        index.revision = manifest.get("revision")
        index.saved_format = int(manifest["format_version"])
        index.source, index.epoch = manifest.get("source"), manifest.get("epoch")
        for name in ("source", "epoch"):
            if getattr(index, name) is not None and not isinstance(getattr(index, name), str):
                raise IndexUnavailable(f"{root / MANIFEST} names an invalid {name} {getattr(index, name)!r}")
        index._generation = 1
        if keep_graph and isinstance(hnsw, faiss.IndexHNSWSQ):
            # mapped like a format-3 graph: taken into memory when it must grow (_owned_hnsw)
            index._hnsw, index._hnsw_mapped, index._hnsw_file = hnsw, True, str(data / _HNSW_SQ)
        elif keep_graph:
            index._hnsw, index._hnsw_mapped, index._hnsw_file = hnsw, True, str(data / _HNSW)
            if _MIRROR in manifest["files"]:
                index._share_mirror()  # a version 1 save: its mirror copy is dropped for the graph's
            else:
                index._mirror.flags.writeable = False  # a view of the mapped file (see _share_mirror)
                index._shared_with = hnsw
        elif hnsw is not None:
            log.info("vector index at %s was built with other HNSW settings; rebuilding it", root)
        index._maybe_compact()
        log.info("loaded vector index (%d vectors, revision %r) from %s", len(index), index.revision, root)
        return index


    @staticmethod
    def _load_ids(root: Path, data: Path, manifest: dict, ahead: "_AheadIds | None" = None) -> SlotIds:
        """The slot ids of a saved index: packed (version 3, checked against the manifest's digest) or
        ids.json (versions 1 and 2, unpacked at once so duplicates show here). ahead: the packed ids
        and their digest a store's read-ahead made of these files (used while both files are unchanged)."""
        if manifest["format_version"] >= 3:
            read = ahead.of(data) if ahead is not None else None
            if read is not None:
                slot_ids, digest = read
                if manifest.get("ids_blake2b") == digest:
                    return slot_ids
            blob = (data / _IDS_BLOB).read_bytes()
            offsets = np.load(data / _IDS_OFFSETS, allow_pickle=False)
            if manifest.get("ids_blake2b") != _ids_digest(blob, offsets):
                raise IndexUnavailable(f"vector index ids at {data} do not match their digest")
            return SlotIds.packed(blob, offsets)
        slot_ids = json.loads((data / _IDS_JSON).read_text(encoding="utf-8"))
        if not isinstance(slot_ids, list) or not all(i is None or (isinstance(i, str) and i) for i in slot_ids):
            raise IndexUnavailable(f"vector index at {root} has invalid ids")
        try:
            return SlotIds.from_list(slot_ids)
        except DuplicateIds:
            raise IndexUnavailable(f"vector index at {root} has duplicate ids") from None


def _ids_digest(blob: bytes, offsets: np.ndarray) -> str:
    digest = hashlib.blake2b(blob, digest_size=16)
    digest.update(np.ascontiguousarray(offsets, dtype="<i8").tobytes())
    return digest.hexdigest()


_PLAN_MIN = 8  # looks at the neighbourhood before the plan may skip it
_PLAN_RECHECK = 8  # while skipping it, one query in this many looks again (the queries may change)
_PLAN_RECHECK_MAX = 64  # ... doubled after each look again that went to the block, up to one in this many
_PLAN_ROUNDS = 16  # recent queries whose block rounds set where the next one starts (_Plan.start_round)


def _ewma(old: float | None, new: float, weight: float = 0.2) -> float:
    return new if old is None else (1 - weight) * old + weight * new


class _Plan:
    """What a prepared broad filter's searches cost (ms per query, moving averages) and how its
    neighbourhood looks went (`AnnIndex._filtered`). The look costs probe_ms and answers a share of
    the queries itself; the rest cost restricted_ms (restricted HNSW) or block_ms (the filter's block,
    which answers any query). Skipping the look pays block_ms for every query, so it is skipped while
    probe_ms + restricted share * restricted_ms + block share * block_ms > block_ms."""

    __slots__ = ("looks", "answered", "restricted", "probe_ms", "restricted_ms", "block_ms", "skipped", "rounds",
                 "recheck", "scan_ms", "row_ms")

    def __init__(self) -> None:
        self.looks = self.answered = self.restricted = self.skipped = 0
        self.probe_ms: float | None = None
        self.restricted_ms = 0.0
        self.block_ms: float | None = None
        self.rounds: list[int] = []  # the block rounds the last _PLAN_ROUNDS queries needed (_rounds_needed)
        self.scan_ms: float | None = None  # the block's costs (moving averages): ms per scan ...
        self.row_ms = 0.0  # ... and per candidate row re-scored (gathered from the mirror)
        self.recheck = _PLAN_RECHECK  # while skipping the look, one query in this many looks again

    def fetched(self, rounds: int, scan_ms: float, row_ms: float) -> None:
        """One block search: the round it needed (_rounds_needed), ms per scan and ms per candidate row
        re-scored in it."""
        self.rounds.append(rounds)
        del self.rounds[:-_PLAN_ROUNDS]
        self.row_ms = _ewma(None if self.scan_ms is None else self.row_ms, row_ms)
        self.scan_ms = _ewma(self.scan_ms, scan_ms)

    def start_round(self, base: int) -> int:
        """The block round a query starts at (fetching base * _BLOCK_STEP ** round candidates): the one
        that would have cost the recent queries least, by the rounds they needed and the block's
        measured costs (a round past the start: a scan more and its candidates re-scored again; a start
        past the need: its extra candidates re-scored). 0 until four queries have been seen. Starting
        later never lowers recall: a later round only adds candidates, and the same test decides
        whether to fetch more."""
        if len(self.rounds) < 4 or self.scan_ms is None:
            return 0
        counts = [0] * (max(self.rounds) + 1)  # queries per round needed
        for need in self.rounds:
            counts[need] += 1
        best, best_cost = 0, None
        for start in range(len(counts)):
            cost, rows = 0.0, 0  # rows: candidates re-scored from round `start` through round `last`
            for last in range(start, len(counts)):
                rows += base * _BLOCK_STEP ** last
                queries = sum(counts[:start + 1]) if last == start else counts[last]  # those ending at `last`
                cost += queries * ((last - start + 1) * self.scan_ms + rows * self.row_ms)
            if best_cost is None or cost < best_cost:  # the earliest of equal costs
                best, best_cost = start, cost
        return best

    def probed(self, queries: int, probe_ms: float, restricted: int, restricted_ms: float, block: int) -> None:
        if self.looks >= 256:  # older looks count half: the shares follow the queries as they change
            self.looks, self.answered, self.restricted = self.looks // 2, self.answered // 2, self.restricted // 2
        self.looks += queries
        self.answered += queries - restricted - block
        self.restricted += restricted
        self.probe_ms = _ewma(self.probe_ms, probe_ms)
        if restricted:
            self.restricted_ms = _ewma(self.restricted_ms or None, restricted_ms)
        # a look again after skipping that sent its queries to the block once more doubles the wait for the
        # next (the looks of a category whose queries lie elsewhere cost an HNSW search each for nothing);
        # a look that answered or went to restricted HNSW says the queries may have moved: look often again
        if block < queries:
            self.recheck = _PLAN_RECHECK
        elif self.skipped:
            self.recheck = min(self.recheck * 2, _PLAN_RECHECK_MAX)
        self.skipped = 0

    def block_only(self) -> bool:
        if self.looks < _PLAN_MIN or self.block_ms is None or self.skipped >= self.recheck - 1:
            return False
        restricted, block = self.restricted / self.looks, 1 - (self.answered + self.restricted) / self.looks
        return self.probe_ms + restricted * self.restricted_ms + block * self.block_ms > self.block_ms


class IdFilter:
    """Allowed ids prepared for repeated filtered searches (see AnnIndex.id_filter).

    ids: the allowed ids (a set). The resolved slots are cached for the index that last used the
    filter and refreshed when that index has changed since.
    """

    __slots__ = ("ids", "_owner", "_generation", "_slots", "_bitmap", "_block", "_plan", "_exact_uses",
                 "__weakref__")

    def __init__(self, ids: Collection[str]):
        self.ids = ids
        self._owner: weakref.ref[AnnIndex] | None = None  # weak: a cached filter must not pin an old index
        self._generation = -1
        self._slots = np.empty(0, dtype=np.int64)
        self._bitmap: np.ndarray | None = None
        self._block = None  # its vectors at 4 bits per value in one faiss index (AnnIndex._block)
        self._plan = _Plan()  # how its broad searches went (AnnIndex._filtered)
        self._exact_uses = 0  # exact searches since its slots were resolved (the block comes at the second)

    def __len__(self) -> int:
        return len(self.ids)


def _presize(hnsw, rows: int) -> None:
    """Room for `rows` vectors in an in-memory IndexHNSWFlat, allocated once: its flat storage and its
    level-0-plus links (2M + 2 per vector: upper levels add M per vector with probability 1/M, about 1)
    grow like a std::vector, by doubling with the old and new buffers held together. Growing then
    shrinking back keeps the capacity (faiss's adds resize within it); the view of the storage that
    the mirror holds stays valid until that capacity is passed."""
    storage = _faiss().downcast_index(hnsw.storage)
    h = hnsw.hnsw
    for vector, size, item in ((storage.codes, rows * storage.code_size, 1),
                               (h.neighbors, rows * (h.nb_neighbors(0) + 2), 4)):
        used = vector.size()
        if size > used:
            vector.resize(size)
            vector.resize(used)
            # resize wrote zeros over the new room; give those pages back until adds write them, so
            # the room costs nothing yet (the mirror still holds the vectors it will take)
            _drop_pages(int(vector.c_ptr) + used * item, (size - used) * item)


def _drop_pages(address: int, length: int) -> None:
    """madvise(MADV_DONTNEED) on the whole pages inside [address, address + length): unused room at
    the end of a buffer (its contents are undefined anyway), which then reads as zeros."""
    import ctypes

    page = mmap.PAGESIZE
    start, end = -(-address // page) * page, (address + length) // page * page
    if end > start:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        if libc.madvise(start, end - start, mmap.MADV_DONTNEED) != 0:
            log.debug("madvise failed (errno %d): the room stays resident", ctypes.get_errno())


def _anonymous_rows(rows: int, dim: int) -> np.ndarray:
    """(rows, dim) float32 zeros on an anonymous memory map: pages are taken when first written and can
    be given back one range at a time (_release_rows), which a malloc'd array cannot."""
    buffer = mmap.mmap(-1, max(rows * dim * 4, 1))
    return np.frombuffer(buffer, dtype=np.float32, count=rows * dim).reshape(rows, dim)


def _map_of(array: np.ndarray):
    """The mmap an array was made on by _anonymous_rows (through any views), or None."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return base.obj if isinstance(base, memoryview) else base  # numpy keeps the buffer as a memoryview


def _release_rows(mirror: np.ndarray, rows: int) -> None:
    """Give the whole pages of mirror rows [0, rows) back to the system (MADV_DONTNEED: they read as
    zeros after). Only for a mirror the HNSW storage has copied up to `rows`."""
    buffer = _map_of(mirror)
    end = rows * mirror.shape[1] * 4 // mmap.PAGESIZE * mmap.PAGESIZE
    if end:
        buffer.madvise(mmap.MADV_DONTNEED, 0, end)


def _will_need(mirror_map: tuple, slots: np.ndarray, row_bytes: int) -> None:
    """madvise(MADV_WILLNEED) the pages of these rows of a mapped mirror.npy: the kernel starts reading
    them all now, so the gather that follows waits for them together. mirror_map: (mmap, byte offset of
    row 0 in it); slots: (m,) int64 rows."""
    buffer, offset = mirror_map
    page = mmap.PAGESIZE
    starts = offset + slots * row_bytes
    first, last = starts // page, (starts + row_bytes - 1) // page
    for lo, hi in zip(first.tolist(), last.tolist()):
        buffer.madvise(mmap.MADV_WILLNEED, lo * page, (hi - lo + 1) * page)


def _preread(path: Path | int, chunk: int = _PREREAD_CHUNK) -> None:
    """Bring a file (a path, or an open descriptor, closed after) into the page cache once, start to
    end (nothing kept): one sequential pass at disk speed, so the random reads that follow (an HNSW
    search over a map of it) find it cached. On Linux the kernel reads it straight into the cache
    (_populate: no copy to a buffer); elsewhere, or where that fails, it is read in chunks of `chunk` bytes.
    Why not read(): the copy out of the cache costs CPU beside the open it overlaps, and it varied with
    that (1M, 626 MiB cold: 0.45-1.56 s wall, 0.1-1.2 s CPU, against 0.35-0.45 s and 7 ms populated;
    docs/benchmarks.md "Cold open at 1M, part 2")."""
    fd = path if isinstance(path, int) else os.open(path, os.O_RDONLY)
    try:
        if _populate(fd):
            return
        buffer, offset = bytearray(chunk), 0
        while (got := os.preadv(fd, [buffer], offset)) > 0:
            offset += got
    finally:
        os.close(fd)


_MADV_POPULATE_READ = 22  # Linux 5.14+: fault a range of a mapping in (reading it) without touching it


def _populate(fd: int) -> bool:
    """madvise(MADV_POPULATE_READ) over a read-only shared map of the whole file, unmapped after: the
    kernel reads the file into the page cache in large sequential reads. Called through ctypes, which
    lets go of the GIL meanwhile (Python's mmap.madvise holds it), so the thread beside it goes on.
    Returns False where it is missing or fails (not Linux, a kernel before 5.14, a signal, a file
    shorter than its map: EFAULT, not a SIGBUS), for the caller to read the file the plain way, which
    reports a real read error."""
    import ctypes
    import sys

    size = os.fstat(fd).st_size
    if size == 0:
        return True
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        return False
    try:
        return libc.madvise(address, size, _MADV_POPULATE_READ) == 0
    finally:
        libc.munmap(address, size)


def read_ahead(directory: str | os.PathLike) -> threading.Thread | None:
    """Start reading, on a daemon thread, the files a first search of the saved index in directory
    walks (format 4: hnsw_sq.faiss, then the ids) into the OS page cache, so that an open followed by a
    search overlaps the search's reads with the open (1M on a cold cache: ~670 MB). Returns the thread,
    or None when directory holds no format-4 index. What it keeps until a load takes it or the store
    closes: the mapped graph (1M: ~270 MB of links) and the packed ids with their digest (1M: ~26 MB);
    `load` takes the ids only when that digest equals its manifest's, and checks the rest as it always
    does; a file a save removes meanwhile ends the read-ahead quietly.
    The thread also imports faiss and maps the graph file as `load` would (faiss's mapped read: ~0.2 s
    at 1M); the first `load` of that file takes the mapped graph (_read_ahead_result) if the file is
    still the one read (same inode, size and mtime), else reads it itself."""
    root = Path(directory)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        token = str(manifest["data"])
        if manifest.get("format") != FORMAT or manifest.get("format_version") != 4 or "/" in token \
                or not token.startswith("data-") or _HNSW_SQ not in manifest["files"]:
            return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    paths = [root / token / name for name in (_HNSW_SQ, _IDS_BLOB, _IDS_OFFSETS)]
    ahead = _Ahead(paths[0])
    with _AHEAD_LOCK:
        # one per index folder: an older one of this folder (its graph file maybe replaced and deleted
        # by a save since) is dropped, so its map does not keep a deleted file on disk
        _AHEAD.pop(_folder_key(root), None)
        _AHEAD[_folder_key(root)] = ahead
        while len(_AHEAD) > _AHEAD_KEEP:  # never taken (no search came): the oldest goes
            del _AHEAD[next(iter(_AHEAD))]

    def read_files() -> None:
        try:
            for path in paths:  # reads release the GIL, so the open beside them goes on
                if not _cached(path):
                    _preread(path)
            # the ids a load unpacks and checks (1M: 18 MB; their blake2b ~25-45 ms, which lets go of the
            # GIL, and the offsets' check ~40 ms), made here beside the open, not on the first query's path
            ahead.ids = _AheadIds.read(paths[1].parent)
        except (OSError, ValueError, EOFError) as e:  # EOFError: np.load of an empty offsets file
            log.debug("reading %s ahead stopped: %s", root, e)

    def run() -> None:
        # The files are read on a thread of their own while this one imports faiss (~0.1-0.3 s, holding
        # the GIL) and maps the graph right behind the reads: faiss's mapped read copies the links out of
        # the file (1M: ~270 MB, ~0.2 s of CPU), from the page cache where the reads ahead of it have
        # been. One after the other, import and map came after the whole read, on the first query's path
        # (docs/benchmarks.md "Cold open at 1M, part 2").
        reader = threading.Thread(target=read_files, name="shopgraph-index-read-files", daemon=True)
        started = False
        try:
            # inside the try: a thread that cannot start (a container's pids limit) must still set done,
            # or the first load would wait _AHEAD_WAIT for a read-ahead that never ran
            reader.start()
            started = True
            faiss = _faiss()
            key = _file_key(paths[0])
            graph = faiss.read_index(str(paths[0]), faiss.IO_FLAG_MMAP_IFC)
            ahead.key, ahead.graph = key, graph
        except (OSError, RuntimeError, MissingDependencyError) as e:  # load reads it again and says what is wrong
            log.debug("reading %s ahead stopped: %s", root, e)
        finally:
            if started:
                reader.join()  # done means the files are in the page cache too (or their read failed)
            ahead.done.set()

    thread = threading.Thread(target=run, name="shopgraph-index-read-ahead", daemon=True)
    thread.start()
    return thread


class _Ahead:
    """A graph file (path) being read ahead: done is set when the thread ends; graph is its mapped faiss
    index (None if that failed) and key the file's identity when it was read (_file_key); ids the
    packed ids of its data folder (_AheadIds, None if not read)."""

    __slots__ = ("done", "graph", "key", "path", "ids")

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.done = threading.Event()
        self.graph = None
        self.key: tuple | None = None
        self.ids: _AheadIds | None = None


class _AheadIds:
    """A data folder's packed ids as a read-ahead read them: slot_ids (SlotIds.packed, its offsets checked
    there: 1M ~40 ms on a loaded machine), the digest of its files (_ids_digest) and both files'
    identities then (_file_key), so a load uses them only while the files are unchanged, and once."""

    __slots__ = ("folder", "keys", "slot_ids", "digest")

    def __init__(self, folder: Path, keys: tuple, slot_ids: SlotIds, digest: str) -> None:
        self.folder, self.keys, self.slot_ids, self.digest = str(folder), keys, slot_ids, digest

    @classmethod
    def read(cls, folder: Path) -> "_AheadIds":
        """Raises OSError or ValueError (offsets that do not describe the blob: the load finds it again)."""
        keys = (_file_key(folder / _IDS_BLOB), _file_key(folder / _IDS_OFFSETS))
        blob = (folder / _IDS_BLOB).read_bytes()
        offsets = np.load(folder / _IDS_OFFSETS, allow_pickle=False)
        return cls(folder, keys, SlotIds.packed(blob, offsets), _ids_digest(blob, offsets))

    def of(self, folder: Path) -> tuple[SlotIds, str] | None:
        """(slot_ids, digest) if they are folder's ids files as they are now (taken: a second call gets
        None, since the index that takes them may change them), else None."""
        try:
            same = self.slot_ids is not None and str(folder) == self.folder and \
                (_file_key(folder / _IDS_BLOB), _file_key(folder / _IDS_OFFSETS)) == self.keys
        except OSError:
            return None
        if not same:
            return None
        slot_ids, self.slot_ids = self.slot_ids, None
        return slot_ids, self.digest


_AHEAD: dict[str, _Ahead] = {}  # index folder (_folder_key) -> its read-ahead, until a load takes it
_AHEAD_LOCK = threading.Lock()
_AHEAD_KEEP = 8  # read-aheads no load took are dropped past this many (a process opening many stores)
_AHEAD_WAIT = 60.0  # seconds a load waits for a read-ahead of its file still under way


def _file_key(path: Path) -> tuple:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _folder_key(directory: Path) -> str:
    return os.path.abspath(directory)


def forget_read_ahead(directory: str | os.PathLike) -> None:
    """Drop the read-aheads of the index folders under directory that no load took (a store closing):
    their mapped graphs are released (a graph file a save has deleted since stays on disk while mapped)."""
    top = _folder_key(Path(directory)) + os.sep
    with _AHEAD_LOCK:
        for key in [k for k in _AHEAD if (k + os.sep).startswith(top)]:
            del _AHEAD[key]


def _read_ahead_result(path: Path) -> tuple:
    """(graph, ids): the mapped graph a read-ahead made of this file (path: <folder>/<data>/hnsw_sq.faiss;
    waiting for it if still under way) and the _AheadIds it read of that data folder, taken once; each
    None when there is none, it read another file of the folder (one a save has replaced since) or it
    failed; the graph also when its file has changed since (the ids check theirs when used). The
    folder's read-ahead is dropped either way."""
    with _AHEAD_LOCK:
        ahead = _AHEAD.pop(_folder_key(path.parent.parent), None)
    if ahead is None or ahead.path != str(path) or not ahead.done.wait(_AHEAD_WAIT):
        return None, None
    try:
        graph = ahead.graph if ahead.graph is not None and _file_key(path) == ahead.key else None
    except OSError:
        graph = None
    return graph, ahead.ids


def _cached(path: Path) -> bool:
    """Whether every page of a file is in the OS page cache now (mincore over a private map of it, which
    reads nothing); False where that cannot be told."""
    import ctypes

    size = path.stat().st_size
    if size == 0:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
            view = ctypes.c_char.from_buffer(m)
            try:
                pages = np.zeros((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE, dtype=np.uint8)
                if libc.mincore(ctypes.addressof(view), size, pages.ctypes.data_as(ctypes.c_char_p)) != 0:
                    return False
            finally:
                del view  # the map cannot close while a view of it lives
        return bool((pages & 1).all())
    except (OSError, AttributeError, ValueError):  # no mincore (not Linux) or no map: read ahead anyway
        return False


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk, so the os.replace that publishes it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
