"""Each listing's nearest listings of the other catalog, per similarity channel: the top lists that
blocking votes from and that the context features (gap to the best match, rank) read.

Two ways to get them, picked by the catalogs' size:
- exact (below APPROX_MIN_PAIRS = n_left * n_right): dense blocks of every listing against the whole
  other catalog, chunk by chunk, and their top `depth` columns. Quadratic, so used only while small;
  the five em benchmarks (< 10k listings a side) stay on this path.
- approximate (above): dense channels through a faiss IVF index over the other side (inner product
  of unit rows = cosine); sparse TF-IDF channels by pruning each query row to its QUERY_TERMS
  highest-weight terms (the rare, telling ones) before the sparse product, so the product touches
  only the rare terms' postings, then re-scoring the pool's best POOL_FACTOR * depth with the full
  rows, so the similarities kept are exact and only the membership of the list is approximate.

A list is (idx, sims): (n_own, depth) int32 column indices into the other side, best first, -1 where
the row has fewer than depth neighbours (a sparse channel only lists similarities > 0), and float32
cosines (-inf where idx is -1).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

APPROX_MIN_PAIRS = 200_000_000   # n_left * n_right above which lists are approximate (~14k x 14k)
CHUNK = 1024            # query rows per block (exact: CHUNK x n_other floats)
QUERY_TERMS = 32        # sparse query rows keep this many highest-weight terms for the candidate pool
POOL_FACTOR = 2         # the pruned product's best POOL_FACTOR * depth are re-scored with full rows
IVF_LISTS_PER_ROOT = 4  # faiss IVF cells per sqrt(n) of the indexed side
IVF_PROBES = 32         # cells each dense query scans
# Similarities within TIE of each other are the same similarity: a pair's own cosine and the best
# of its row come from different float paths (a row-wise dot product against a matrix product or an
# index), which differ in the last bits; read as different, a listing's best match got a gap of
# +-3e-7 instead of 0, which boosted trees split on (its sign moved with BLAS threads).
TIE = 1e-6


def approximate(featurizer) -> bool:
    """Whether this featurizer's catalogs take the approximate path: `featurizer.approximate` when set
    (True/False forces it), else n_left * n_right > APPROX_MIN_PAIRS."""
    forced = getattr(featurizer, "approximate", None)
    if forced is not None:
        return bool(forced)
    return featurizer.n_left * featurizer.n_right > APPROX_MIN_PAIRS


def use_lists(featurizer, channel: str, from_right: bool, n_keys: int, depth: int) -> bool:
    """Whether the context features of n_keys distinct listings of one side should read top lists:
    on the approximate path, when the lists are already built (blocking made them) or when exact
    blocks for those listings would themselves pass APPROX_MIN_PAIRS. A few listings (one product
    matched on its own) keep exact blocks rather than building lists for a whole catalog."""
    if not approximate(featurizer):
        return False
    cached = featurizer.__dict__.get("_top_lists", {}).get((channel, from_right))
    if cached is not None and cached[0].shape[1] >= depth:
        return True
    n_other = featurizer.n_left if from_right else featurizer.n_right
    return n_keys * n_other > APPROX_MIN_PAIRS or getattr(featurizer, "approximate", None) is True


def top_lists(featurizer, channel: str, depth: int, from_right: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(idx, sims) of every listing of one side (the right side with from_right) against the other,
    `depth` deep (see module docstring), exact or approximate by `approximate(featurizer)`. Cached
    on the featurizer per (channel, side), so blocking and the context features share one search."""
    cache = featurizer.__dict__.setdefault("_top_lists", {})
    key = (channel, from_right)
    if key in cache and cache[key][0].shape[1] >= depth:
        idx, sims = cache[key]
        return idx[:, :depth], sims[:, :depth]
    own, other = featurizer.channel(channel)[::-1] if from_right else featurizer.channel(channel)
    depth = min(depth, other.shape[0])
    if not approximate(featurizer):
        lists = exact_lists(own, other, depth)
    elif sparse.issparse(own):
        from shopgraph.matching import workers   # a forked worker never starts threads of its own

        lists = sparse_lists(own, other, depth, threads=1 if workers.in_child() else getattr(featurizer, "workers", 1))
    else:
        lists = dense_lists(own, other, depth)
    # Kept with 32-bit indices (-1 padding included): 12 lists of 100k x 100 at 100k x 100k are
    # 1.44 GB with int64, 0.96 GB so.
    lists = (lists[0].astype(np.int32, copy=False), lists[1])
    cache[key] = lists
    return lists


def keep_lists(featurizer, wanted, depth: int) -> None:
    """Drop the cached top lists (top_lists) other than `wanted` ((channel, from_right) keys) and cut
    those to `depth` columns (copies, so the deeper arrays are freed). For after blocking on large
    catalogs: blocking votes from twelve lists DEPTH_PER_K * k deep (0.96 GB at 100k x 100k, k = 20),
    the context features then read eight of them RANK_CAP deep. The lists are a cache: a later call
    that wants a dropped or deeper list builds it again (at the depth then asked), so within one
    matching run (blocking, then the features) it changes what is held, not a result. Blocking again
    afterwards on the same featurizer is not the same: on the approximate path a list rebuilt at
    another depth draws another candidate pool, so its members can differ from the first blocking's
    (no matching path does this: each run blocks once, the API with `rows` on dense blocks)."""
    cache = featurizer.__dict__.get("_top_lists", {})
    wanted = set(wanted)
    for key in list(cache):
        if key not in wanted:
            del cache[key]
            continue
        idx, sims = cache[key]
        if idx.shape[1] > depth:
            cache[key] = (np.ascontiguousarray(idx[:, :depth]), np.ascontiguousarray(sims[:, :depth]))


def _pad(n: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    # int32 from the start: the lists are kept so (top_lists), and an int64 list was one more
    # (n, depth) transient per list (80 MB at 100k x 100).
    return np.full((n, depth), -1, np.int32), np.full((n, depth), -np.inf, np.float32)


def exact_lists(own, other, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Top `depth` by full dense blocks; a sparse channel keeps only similarities > 0."""
    idx, sims = _pad(own.shape[0], depth)
    for start in range(0, own.shape[0], CHUNK):
        block = own[start:start + CHUNK] @ other.T
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        top = np.argpartition(-block, depth - 1, axis=1)[:, :depth]
        values = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
        if sparse.issparse(own):
            top = np.where(values > 0, top, -1)
            values = np.where(values > 0, values, -np.inf)
        idx[start:start + CHUNK], sims[start:start + CHUNK] = top, values
    return idx, sims


def dense_lists(own: np.ndarray, other: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Top `depth` by inner product through a faiss IVF index over `other` (unit rows): IVF_LISTS_PER_ROOT
    * sqrt(n) k-means cells, each query scans its IVF_PROBES nearest cells. Chosen over HNSW by
    measurement (docs/benchmarks.md): building the graph cost more than scanning a few cells."""
    import faiss

    other = np.ascontiguousarray(other, dtype=np.float32)
    n, dim = other.shape
    cells = max(1, min(int(IVF_LISTS_PER_ROOT * np.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, size=min(n, 64 * cells), replace=False)
    index.train(other[np.sort(sample)])
    index.add(other)
    index.nprobe = min(IVF_PROBES, cells)
    idx, sims = _pad(own.shape[0], depth)
    for start in range(0, own.shape[0], CHUNK * 8):
        values, found = index.search(np.ascontiguousarray(own[start:start + CHUNK * 8], dtype=np.float32), depth)
        idx[start:start + len(found)] = found
        sims[start:start + len(found)] = np.where(found >= 0, values, -np.inf)
    return idx, sims


def _prune_rows(mat: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Each row's `keep` largest entries (all of a shorter row), as a CSR matrix of the same shape."""
    mat = mat.tocsr()
    lengths = np.diff(mat.indptr)
    rows = np.repeat(np.arange(mat.shape[0]), lengths)
    order = np.lexsort((-mat.data, rows))                 # rows stay grouped, each by descending weight
    position = np.arange(len(order)) - mat.indptr[rows[order]]
    kept = order[position < keep]
    return sparse.csr_matrix((mat.data[kept], (rows[kept], mat.indices[kept])), shape=mat.shape)


def _sorted_rows(block: sparse.csr_matrix, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """A CSR block whose rows hold at most `depth` entries, each row sorted descending (as
    sp_matmul_topn returns them), as padded (idx, values) arrays (see _pad)."""
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    position = np.arange(block.nnz) - block.indptr[rows]
    idx, values = _pad(block.shape[0], depth)
    idx[rows, position], values[rows, position] = block.indices, block.data
    return idx, values


def sparse_lists(own: sparse.csr_matrix, other: sparse.csr_matrix, depth: int,
                 threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top `depth` of a TF-IDF channel (similarities > 0). sparse_dot_topn multiplies and keeps each
    row's top n in C++ without the dense block. Query rows with more than QUERY_TERMS terms are pruned
    to their highest-weight ones first (so the product reads only rare terms' postings); their pool,
    POOL_FACTOR * depth deep, is then re-scored with the full rows, so every similarity kept is exact.
    threads: sparse_dot_topn's own threads for the product (it holds the GIL, so blocking's list
    threads cannot overlap two products; its threads split the rows, each row's top n its own)."""
    from sparse_dot_topn import sp_matmul_topn

    # No copy when the rows are float32 CSR already (the featurizer's are): two copies of a char
    # channel's catalogs were ~0.2 GB at 100k listings a side.
    own, other = own.tocsr().astype(np.float32, copy=False), other.tocsr().astype(np.float32, copy=False)
    pruned = _prune_rows(own, QUERY_TERMS)
    cut = np.diff(own.indptr) > QUERY_TERMS                 # rows whose pool scores are only partial
    other_t = other.T.tocsr()
    pool_depth = min(POOL_FACTOR * depth, other.shape[0])
    idx, sims = _pad(own.shape[0], depth)
    # CHUNK rows at a time: re-scoring gathers pool_depth full rows per query (char rows hold ~150
    # terms), ~0.5 GB per 1,024 queries at depth 100.
    for start in range(0, own.shape[0], CHUNK):
        stop = min(start + CHUNK, own.shape[0])
        block = sp_matmul_topn(pruned[start:stop], other_t, top_n=pool_depth, threshold=0.0, sort=True,
                               n_threads=threads if threads > 1 else None)
        pool, scores = _sorted_rows(block, pool_depth)
        redo = np.flatnonzero(cut[start:stop])
        if len(redo):
            r, c = np.nonzero(pool[redo] >= 0)
            exact = np.full((len(redo), pool_depth), -np.inf, np.float32)
            exact[r, c] = _row_cosines(own[start + redo[r]], other[pool[redo[r], c]])
            order = np.argsort(-exact, axis=1, kind="stable")
            pool[redo] = np.take_along_axis(pool[redo], order, axis=1)
            scores[redo] = np.take_along_axis(exact, order, axis=1)
        idx[start:stop], sims[start:stop] = pool[:, :depth], scores[:, :depth]
    return idx, sims


def _row_cosines(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
    """Row-wise dot products of two equally long stacks of sparse rows -> (m,) float32."""
    return np.asarray(a.multiply(b).sum(axis=1), dtype=np.float32).ravel()


def context_from_lists(idx: np.ndarray, sims: np.ndarray, keys: np.ndarray, s: np.ndarray, n_other: int,
                       rank_cap: int, nonnegative: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gap to the best match and rank (capped at rank_cap) of similarities s (m,) of listings keys (m,)
    from their top lists. The best is the list's head (or s itself when the list missed the pair;
    0 for an empty list of a channel whose similarities are >= 0). The rank counts the list's entries
    above s: exact up to rank_cap when the list is at least rank_cap deep, or when it holds every
    neighbour with a similarity above s (a sparse list stops at its last similarity > 0)."""
    rows_idx, rows_sims = idx[keys], sims[keys]
    head = rows_sims[:, 0].astype(np.float64) if rows_sims.shape[1] else np.full(len(keys), -np.inf)
    listed = (rows_idx >= 0).sum(axis=1)
    if nonnegative:
        # A sparse list leaves out the zeros: an unlisted neighbour has similarity 0.
        head = np.where(listed < n_other, np.maximum(head, 0.0), head)
    above = (rows_sims > s[:, None] + TIE).sum(axis=1)
    if nonnegative:
        above = above + np.where(s < -TIE, n_other - listed, 0)   # the unlisted zeros are above a negative s
    return gap_to_best(s, head), np.minimum(above, rank_cap).astype(np.float64)


def gap_to_best(s: np.ndarray, best: np.ndarray) -> np.ndarray:
    """s - best (m,) float64 for similarities s and their row's best: exactly 0 where s is within TIE
    of the best (the pair is, or ties with, the best), never positive (a best that missed the pair
    is below s)."""
    gap = np.asarray(s, dtype=np.float64) - np.asarray(best, dtype=np.float64)
    return np.where(gap >= -TIE, 0.0, gap)
