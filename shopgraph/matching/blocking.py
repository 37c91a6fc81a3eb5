"""Blocking: for each source listing, the few target listings worth scoring.

Each channel ranks the whole target catalog: MiniLM text vectors; word and character n-gram TF-IDF of
titles; TF-IDF of the title tokens with digits (model numbers and specs); identifiers ("ident": the
model numbers and GTINs found in any column or the title, compared by their prefixes so a code cut
short or with another variant suffix still meets its product); and the rare words of the whole
record ("record": every column's words kept in at most features.RARE_TOKEN_SHARE of the listings).
The rankings are combined by reciprocal rank fusion (score = sum over channels of 1 / (RRF_K + rank)), so a listing that one channel
puts near the top (a shared model number) gets in even when another channel misses it (messy titles).

Optionally (`rerank`), a pair scorer re-ranks a deeper fused pool (RERANK_POOL per listing): the fused
top RERANK_KEEP stay, the other places go to the pool's best pairs by the scorer. Fusion ranks by
similarity alone, so when a catalog lists many offers of near-identical products (the same memory kit
in another size, one drive under several shops' titles) the right one sits at fused ranks 20-200
behind its look-alikes; the scorer reads the sizes, codes and attributes that tell them apart.

With the rerank, the pool is also widened by look-alikes (`expand`): a target listing the scorer is
sure of lends its own closest listings of the target catalog (`lookalikes`, the same fused channels
run on the target catalog against itself, scored by the same scorer), each at the product of the two
scores. Where a catalog lists one product many times under many shops' titles, the listing that
matches often shares nothing with the source (a bare model number on one side, a spelt-out name on
the other) but is plainly the same product as a listing that does; no similarity of the pair itself
finds it. On a catalog with one listing per product the look-alikes score low and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from shopgraph.errors import BadArgumentError
from shopgraph.matching import neighbours, workers
from shopgraph.matching.features import PairFeaturizer

RRF_K = 10          # small: the top few ranks of each channel dominate
CHANNELS = ("text", "char", "code", "word", "ident", "record")
DEPTH_PER_K = 5     # each channel's list votes this many times k deep (measured: docs/benchmarks.md)
CHUNK = 1024        # listings per dense similarity block (CHUNK x n_other floats)
RERANK_POOL = 120   # fused candidates per listing a pair scorer re-ranks (measured: docs/benchmarks.md)
RERANK_KEEP = 10    # of the k places, the fused top this many stay whatever the scorer says
RERANK_AUTO_PAIRS = 300_000   # `match` re-ranks by default while source listings x RERANK_POOL stay under this
RERANK_AUTO_TARGET = 10_000   # ... and the target platform has at most this many listings
EXPAND_FROM = 3     # a listing's this many best-scored candidates may lend their look-alikes ...
EXPAND_MIN = 0.9    # ... when the scorer gives them at least this (measured: docs/benchmarks.md)
LOOKALIKES = 10     # look-alikes per lending target listing
FUSE_ROWS = 8192    # source listings whose channel votes are fused at once


@dataclass
class Candidates:
    """Candidate pairs: rows (m, 2) int64 (source row, target row), fused (m,) float64 RRF scores."""

    rows: np.ndarray
    fused: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def default_rerank_pool(n_source: int, n_target: int, k: int) -> int:
    """The rerank pool `match` uses when none is asked for: RERANK_POOL per listing while the pool's
    pairs (n_source x RERANK_POOL) stay within RERANK_AUTO_PAIRS (source platforms up to 2,500
    listings: the pool's features cost about 0.3-0.6 ms a pair on 2 cores, under three minutes) and
    the target platform has at most RERANK_AUTO_TARGET listings, else 0 (off). Why on: on catalogs of
    look-alike offers the fused top k misses matches the scorer finds in a deeper pool (WDC computers,
    k = 20: 0.932 of the labelled matches fused, 0.980 re-ranked; docs/benchmarks.md). Why a budget:
    the pool multiplies the features' cost by RERANK_POOL / k, too much for a 100k-listing platform;
    and the look-alikes (widen) block their lenders against the whole target catalog in dense blocks
    and keep a target-against-itself featurizer, a cost that grows with the target (300 listings
    against a 50k target: 8.6 s -> 157 s, 0.9 -> 2.2 GB; one product against 100k: 0.4 -> 3.6 s).
    There `match --rerank N` asks for it."""
    if RERANK_POOL <= k or n_source * RERANK_POOL > RERANK_AUTO_PAIRS or n_target > RERANK_AUTO_TARGET:
        return 0
    return RERANK_POOL


def _top_ranks(block: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices of the `depth` largest values and their ranks 0..depth-1."""
    depth = min(depth, block.shape[1])
    top = np.argpartition(-block, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.broadcast_to(np.arange(depth), (len(block), depth))


def _votes(ranks: np.ndarray) -> np.ndarray:
    """RRF votes (float64) of 0-based ranks."""
    return 1.0 / (RRF_K + ranks.astype(np.int64) + 1)


def _list_ranks(idx: np.ndarray, sims: np.ndarray, from_right: bool, lo: int, hi: int):
    """(left rows int32, right rows int32, ranks int16) of one channel's top lists (one side's) whose
    source (left) listing is in [lo, hi), in the lists' own order (listing, then rank)."""
    if not from_right:
        useful = sims[lo:hi] > 0   # also drops the -1 padding (its similarity is -inf)
        own, rank = np.nonzero(useful)
        return (own + lo).astype(np.int32), idx[lo:hi][useful].astype(np.int32), rank.astype(np.int16)
    useful = (sims > 0) & (idx >= lo) & (idx < hi)
    own, rank = np.nonzero(useful)
    return idx[useful].astype(np.int32), own.astype(np.int32), rank.astype(np.int16)


def _channel_ranks(featurizer: PairFeaturizer, channel: str, depth: int, from_right: bool,
                   own_rows: np.ndarray | None = None):
    """(left rows int32, right rows int32, 0-based ranks int16) of one channel's top `depth` per
    listing of one side (every listing of that side, or only own_rows). Ranks, not their float64
    votes, and 32-bit rows: 10 bytes an entry instead of 24 (12 lists of 100k x 100 entries at
    100k x 100k)."""
    # Large catalogs never come here without own_rows: block() reads their top lists (_list_ranks).
    if own_rows is None:
        own_rows = np.arange(featurizer.n_right if from_right else featurizer.n_left)
    lefts, rights, ranks_out = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)], [np.zeros(0, np.int16)]
    for start in range(0, len(own_rows), CHUNK):
        chunk = own_rows[start:start + CHUNK]
        sims = featurizer.similarity_block(channel, chunk, from_right=from_right)
        top, ranks = _top_ranks(sims, depth)
        # A zero similarity (no shared code at all) is no evidence: it must not earn a rank.
        useful = np.take_along_axis(sims, top, axis=1) > 0
        own = np.repeat(chunk, top.shape[1]).reshape(top.shape)[useful].astype(np.int32)
        other = top[useful].astype(np.int32)
        lefts.append(other if from_right else own)
        rights.append(own if from_right else other)
        ranks_out.append(ranks[useful].astype(np.int16))
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(ranks_out)


def block(featurizer: PairFeaturizer, k: int = 20, channels=CHANNELS, depth: int | None = None,
          rows=None) -> Candidates:
    """The k best target (right) listings for every source (left) listing by reciprocal rank fusion.

    Each channel votes from both sides: a target listing earns 1 / (RRF_K + rank) for its rank in the
    source's list and again for the source's rank in its own list, so a pair both sides rank high
    wins. depth: how far down each ranking votes (default DEPTH_PER_K * k). Channels without vectors on both
    sides are skipped; at least one must be available.

    rows: only these source listings (e.g. one product asked about). The target side then votes only
    for the targets some channel put in a source's list, so a pair that only the target side ranks
    high is not found: a close approximation that costs len(rows) rows instead of the whole catalog.
    """
    if k < 1:
        raise BadArgumentError(f"k must be at least 1, got {k}")
    usable = [c for c in channels if featurizer.channel(c) is not None]
    if not usable:
        raise BadArgumentError(f"none of the blocking channels {channels} is available")
    n_left, n_right = featurizer.n_left, featurizer.n_right
    k = min(k, n_right)
    depth = depth or DEPTH_PER_K * k
    if depth > np.iinfo(np.int16).max or max(n_left, n_right) > np.iinfo(np.int32).max:
        raise BadArgumentError(f"blocking depth {depth} or catalog size past what it counts in")
    parts = lists = None
    if rows is None and neighbours.approximate(featurizer):
        # Large catalogs: each block's votes read straight from the channels' top lists
        # (neighbours.py), not from a copy of every vote.
        # The twelve lists are independent searches in C++, built by the featurizer's worker threads,
        # each into its own cache entry: faiss releases the GIL; sparse_dot_topn holds it, so its
        # products run one at a time, each on the workers' threads itself (neighbours.sparse_lists).
        keys = [(c, side) for c in usable for side in (False, True)]
        built = workers.thread_map(lambda key: neighbours.top_lists(featurizer, key[0], depth, key[1]), keys,
                                   getattr(featurizer, "workers", 1))
        lists = [(got, side) for got, (_, side) in zip(built, keys)]
    elif rows is None:
        parts = [_channel_ranks(featurizer, c, depth, side) for c in usable for side in (False, True)]
    else:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) and (rows[0] < 0 or rows[-1] >= n_left):
            raise BadArgumentError("source rows out of range of the catalog")
        parts = [_channel_ranks(featurizer, c, depth, False, rows) for c in usable]
        reached = np.unique(np.concatenate([p[1] for p in parts]))
        for c in usable:
            lefts, rights, ranks = _channel_ranks(featurizer, c, depth, True, reached)
            asked = np.isin(lefts, rows)
            parts.append((lefts[asked], rights[asked], ranks[asked]))
    # Fused FUSE_ROWS source listings at a time: a listing's fused scores depend only on its own
    # votes, and each block takes them in the same order as one joined array would (part by part),
    # so the duplicates add up in the same order and the scores are the same floats. All at once,
    # the joined votes and their sparse matrix were ~3 GB more at 100k x 100k (~120M votes).
    wanted = np.arange(n_left) if rows is None else rows
    out, scores = [np.zeros((0, 2), np.int64)], [np.zeros(0)]
    for lo in range(0, n_left, FUSE_ROWS):
        hi = min(n_left, lo + FUSE_ROWS)
        asked = wanted[(wanted >= lo) & (wanted < hi)]
        if not len(asked):
            continue
        if lists is not None:
            got = [_list_ranks(idx, sims, side, lo, hi) for (idx, sims), side in lists]
        else:
            got = [(left[m], right[m], ranks[m]) for (left, right, ranks), m
                   in ((part, (part[0] >= lo) & (part[0] < hi)) for part in parts)]
        lefts = np.concatenate([g[0] for g in got]) - lo
        rights = np.concatenate([g[1] for g in got])
        votes = _votes(np.concatenate([g[2] for g in got]))
        del got
        fused = sparse.csr_matrix((votes, (lefts, rights)), shape=(hi - lo, n_right))  # duplicates add up
        fused.sum_duplicates()
        for i in asked:
            lo_i, hi_i = fused.indptr[i - lo], fused.indptr[i - lo + 1]
            cols, vals = fused.indices[lo_i:hi_i], fused.data[lo_i:hi_i]
            best = np.argsort(-vals, kind="stable")[:k]
            out.append(np.column_stack([np.full(len(best), i), cols[best]]))
            scores.append(vals[best])
    return Candidates(np.vstack(out).astype(np.int64), np.concatenate(scores))


def pair_completeness(candidates: Candidates, true_pairs: np.ndarray) -> float:
    """Share of the true (source row, target row) pairs that are among the candidates."""
    true_pairs = np.asarray(true_pairs, dtype=np.int64).reshape(-1, 2)
    if not len(true_pairs):
        return float("nan")
    have = {(int(a), int(b)) for a, b in candidates.rows}
    return sum((int(a), int(b)) in have for a, b in true_pairs) / len(true_pairs)


def rerank(pool: Candidates, scores: np.ndarray, k: int, keep: int = RERANK_KEEP,
           fused: np.ndarray | None = None) -> np.ndarray:
    """Which k candidates per source listing to keep from a deeper fused pool (block's output: rows
    grouped by source listing, each group in fused order) given a pair score per pool row (m,).

    The fused top `keep` of each group stay, in fused order; the remaining k - keep places go to the
    group's other rows by descending score (ties: fused order). fused: (m,) bool, the rows the fused
    blocking found (None: all); the others (expand's look-alikes, appended after them) never take a
    kept place, even in a group of fewer than `keep` fused rows. Returns int64 indices into pool.rows,
    grouped by source listing as the pool is.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(pool):
        raise BadArgumentError(f"rerank needs one score per pool candidate, got {len(scores)} for {len(pool)}")
    if k < 1 or keep < 0:
        raise BadArgumentError(f"rerank needs k >= 1 and keep >= 0, got k={k}, keep={keep}")
    if not len(pool):
        return np.zeros(0, np.int64)
    source = pool.rows[:, 0]
    starts = np.r_[0, np.flatnonzero(np.diff(source)) + 1]      # first row of each group
    sizes = np.diff(np.r_[starts, len(source)])
    group = np.repeat(np.arange(len(starts)), sizes)
    position = np.arange(len(source)) - np.repeat(starts, sizes)  # fused rank inside the group
    kept = position < min(keep, k)
    if fused is not None:
        kept &= np.asarray(fused, dtype=bool)
    # Inside a group: the kept rows first (in fused order), then the others by score, then fused order.
    order = np.lexsort((position, np.where(kept, 0.0, -scores), ~kept, group))
    sorted_group = group[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_group, sorted_group)
    return order[rank < k].astype(np.int64)


def lookalikes(same: PairFeaturizer, rows, per_listing: int = LOOKALIKES) -> Candidates:
    """Each given listing's `per_listing` closest OTHER listings of its own catalog by the fused
    channels: `same` is a featurizer of one catalog against itself. rows (m, 2) int64 (listing,
    look-alike), grouped by listing in fused order."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if not len(rows):
        return Candidates(np.zeros((0, 2), np.int64), np.zeros(0))
    found = block(same, per_listing + 1, rows=rows)   # one more: a listing is usually its own best
    other = found.rows[:, 0] != found.rows[:, 1]
    found = Candidates(found.rows[other], found.fused[other])
    source = found.rows[:, 0]
    starts = np.searchsorted(source, source)           # grouped by listing: first row of each row's group
    keep = np.arange(len(source)) - starts < per_listing
    return Candidates(found.rows[keep], found.fused[keep])


def expand(pool: Candidates, scores: np.ndarray, look: Candidates, look_scores: np.ndarray,
           sources: int = EXPAND_FROM, min_score: float = EXPAND_MIN) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """Widen a scored pool (block's output: rows grouped by source listing, fused order) by look-alikes.

    For each source listing, its `sources` best-scored candidates with a score >= min_score lend their
    look-alikes (look: (target, look-alike target) rows with look_scores, lookalikes' output scored):
    a look-alike gets score(source, lender) * score(lender, look-alike). A look-alike already in the
    pool keeps the higher of its two scores; a new one is appended to the source's group (after the
    fused rows, so rerank's fused top stays as it was) with a fused score of 0.
    Returns (candidates, scores (m',) float64, from_pool (m',) int64: the pool row each came from,
    -1 for an added one).
    """
    scores = np.asarray(scores, dtype=np.float64)
    look_scores = np.asarray(look_scores, dtype=np.float64)
    if len(scores) != len(pool) or len(look_scores) != len(look):
        raise BadArgumentError("expand needs one score per pool row and per look-alike row")
    lent: dict[int, list[tuple[int, float]]] = {}
    for (target, other), q in zip(look.rows.tolist(), look_scores.tolist()):
        lent.setdefault(target, []).append((other, q))
    source = pool.rows[:, 0]
    bounds = np.r_[0, np.flatnonzero(np.diff(source)) + 1, len(source)]
    out_rows, out_scores, out_from = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        targets, group_scores = pool.rows[lo:hi, 1].tolist(), scores[lo:hi].copy()
        at = {t: n for n, t in enumerate(targets)}
        added: dict[int, float] = {}
        for n in np.argsort(-group_scores, kind="stable")[:sources]:
            if scores[lo + n] < min_score:
                break
            for other, q in lent.get(targets[n], ()):
                v = scores[lo + n] * q
                if other in at:
                    group_scores[at[other]] = max(group_scores[at[other]], v)
                elif v > added.get(other, -np.inf):
                    added[other] = v
        new = sorted(added)
        out_rows += [pool.rows[lo:hi], np.column_stack([np.full(len(new), source[lo]), new]).astype(np.int64).reshape(-1, 2)]
        out_scores += [group_scores, np.array([added[t] for t in new], dtype=np.float64)]
        out_from += [np.arange(lo, hi), np.full(len(new), -1)]
    if not out_rows:
        return pool, scores, np.arange(len(pool))
    from_pool = np.concatenate(out_from).astype(np.int64)
    fused = np.where(from_pool >= 0, pool.fused[np.maximum(from_pool, 0)], 0.0)
    return Candidates(np.vstack(out_rows), fused), np.concatenate(out_scores), from_pool


def _lenders(pool: Candidates, scores: np.ndarray, sources: int, min_score: float) -> np.ndarray:
    """The target rows that lend look-alikes to some source listing (expand's rule), unique."""
    source = pool.rows[:, 0]
    bounds = np.r_[0, np.flatnonzero(np.diff(source)) + 1, len(source)]
    out = [np.zeros(0, np.int64)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        best = lo + np.argsort(-scores[lo:hi], kind="stable")[:sources]
        out.append(pool.rows[best[scores[best] >= min_score], 1])
    return np.unique(np.concatenate(out))


def widen(featurizer: PairFeaturizer, pool: Candidates, scores: np.ndarray, score,
          sources: int = EXPAND_FROM, min_score: float = EXPAND_MIN) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """expand() with the look-alikes found and scored here: `score(featurizer, rows)` -> (m,) scores
    pairs of a featurizer (the pair scorer used on the pool, here on the target catalog against
    itself, featurizer.target_twin()). Same return as expand."""
    scores = np.asarray(scores, dtype=np.float64)
    lenders = _lenders(pool, scores, sources, min_score) if len(pool) else np.zeros(0, np.int64)
    if not len(lenders):
        return pool, scores, np.arange(len(pool))
    twin = featurizer.target_twin()
    look = lookalikes(twin, lenders)
    look_scores = score(twin, look.rows) if len(look) else np.zeros(0)
    return expand(pool, scores, look, look_scores, sources, min_score)
