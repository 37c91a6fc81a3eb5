"""Filtered vector search on a bench.scale database: the exact path's filter block, 4-bit fast scan
(current) against the 8-bit scalar-quantised block it replaced, in the same process.

A broad filter whose vectors lie away from the query (a category when the query is about something
else) is answered by scanning the filter's own block for candidates, re-scored exactly
(shopgraph/graph/vector_index.py). Per case of bench.scale's query stage (brand ~1%, category ~20%,
price + category, a Cypher `where`): two prepared filters over the same ids, one per block kind, each
block made before timing (its build time reported); then, query by query in alternating order,
`AnnIndex.search` with each, and `EmbeddedStore.vector_search` (current code, what bench.scale
times as "store"), the same store call through a filter of its own planned as before (block searches from
their first round, a look again on one query in eight: the baseline of `store_ratio`), both again
through `ShopGraph.vector_search` (what bench.scale times as "API": `api_ratio`), and the block alone
for every query (a plan without the unfiltered probe, measured as an alternative). recall@10 against exact float32 scoring over the filter's rows from the index's
own vectors. Also counts how the current code answered each query: from the unfiltered
neighbourhood ("probe"), by restricted HNSW, or by the block ("exact").

    OMP_NUM_THREADS=1 python -m bench.filter_search --dir /path/n1000000 --results filter_search_1m

--dir is a folder bench.scale --keep left (scale.db, its index, queries.npy); it is opened read-only.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.common import args_settings, percentiles, print_table, write_results
from bench.scale import _cases, paired_ratio
from shopgraph.graph import vector_index as vi
from shopgraph.queries.api import ShopGraph

PROP = "text_vec"


def _sq8_block(rows_of, slots: np.ndarray, dim: int):
    """The block as it was before the 4-bit one: an 8-bit scalar quantiser (per-dimension ranges from up
    to 50k rows spread over the filter), one byte per value."""
    faiss = vi._faiss()
    block = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    block.train(rows_of(slots[::max(1, slots.size // 50_000)]))
    for lo in range(0, slots.size, 50_000):
        block.add(rows_of(slots[lo:lo + 50_000]))
    return block


@contextmanager
def previous_block():
    """Inside: blocks are made and searched as before (8 bits per value, k * rerank_factor candidates)."""
    saved = vi._four_bit_block, vi._block_row_bytes, vi._BLOCK_FETCH
    vi._four_bit_block, vi._block_row_bytes, vi._BLOCK_FETCH = _sq8_block, (lambda dim: dim), 0
    try:
        yield
    finally:
        vi._four_bit_block, vi._block_row_bytes, vi._BLOCK_FETCH = saved


@contextmanager
def plan_before(store, key, f):
    """Inside: the store's searches of this filter (its cache key) use f, planned as before the learned
    start and the longer waits between looks: every block search starts at its first round (k * 10
    candidates) and a plan that skips the look looks again on one query in eight."""
    saved = vi._Plan.start_round, vi._PLAN_RECHECK_MAX, store._filter_cache[key]
    vi._Plan.start_round, vi._PLAN_RECHECK_MAX = (lambda self, base: 0), vi._PLAN_RECHECK
    store._filter_cache[key] = f
    try:
        yield
    finally:
        vi._Plan.start_round, vi._PLAN_RECHECK_MAX, store._filter_cache[key] = saved


def _made_block_ms(index, f) -> float:
    with index._lock:
        index._filter_slots(f)
        started = time.perf_counter()
        index._block(f)
        return (time.perf_counter() - started) * 1000


def run_case(graph, index, name: str, kw: dict, queries: np.ndarray, k: int, queries_warm: np.ndarray) -> dict:
    store = graph.store
    args = (kw.get("filters"), kw.get("where"), kw.get("params"))
    with store._synced_index(PROP, args) as (_, stored):  # the store's own prepared filter
        pass
    ids = stored.ids
    with previous_block():
        old = index.id_filter(ids)
        old_ms = _made_block_ms(index, old)
    new = index.id_filter(ids)
    new_ms = _made_block_ms(index, new)
    _made_block_ms(index, stored)
    # the store call as before, through a filter of its own (its plan learns apart from the current one's)
    key = next(key for key, value in store._filter_cache.items() if value is stored)
    before = index.id_filter(ids)
    _made_block_ms(index, before)
    for n in range(12):  # both plans warmed alike, on queries that are not timed
        with plan_before(store, key, before):
            store.vector_search(PROP, queries_warm[n % 2], k, **kw)
        store.vector_search(PROP, queries_warm[n % 2], k, **kw)
    paths = {"planned": 0, "block": 0, "restricted": 0}
    real_planned, real_exact, real_ann = index._filtered, index._exact_filter, index._ann

    def counted_planned(q, *a):
        paths["planned"] += q.shape[0]
        return real_planned(q, *a)

    def counted_exact(*a):
        paths["block"] += 1
        return real_exact(*a)

    def counted_ann(q, k_, f):
        paths["restricted"] += q.shape[0] if f is not None else 0
        return real_ann(q, k_, f)

    counters = {"_filtered": counted_planned, "_exact_filter": counted_exact, "_ann": counted_ann}

    ms = {"previous": [], "current": [], "store": [], "block only": [], "store before": [], "api": [], "api before": []}
    found = {"previous": [], "current": [], "block only": [], "store before": []}
    for n, v in enumerate(queries):
        order = ("previous", "current", "store", "store before", "api", "api before", "block only") if n % 2 else \
            ("block only", "api before", "api", "store before", "store", "current", "previous")
        for which in order:
            started = time.perf_counter()
            if which == "api":  # ShopGraph.vector_search: the store call, then the hits' result cards
                graph.vector_search(v, k, prop=PROP, **kw)
            elif which == "api before":
                with plan_before(store, key, before):
                    graph.vector_search(v, k, prop=PROP, **kw)
            elif which == "store before":
                with plan_before(store, key, before):
                    hits = store.vector_search(PROP, v, k, **kw)
            elif which == "previous":
                with previous_block():
                    hits = index.search(v, k, allowed=old)
            elif which == "block only":  # a plan that skips the unfiltered probe: every query scans the block
                with index._lock:
                    u = index._unit_queries(np.asarray(v, dtype=np.float32), single=True)[0]
                    hits = index._exact_filter(u, k, new)
            elif which == "current":
                vars(index).update(counters)
                try:
                    hits = index.search(v, k, allowed=new)
                finally:
                    for attr in counters:
                        delattr(index, attr)
            else:
                store.vector_search(PROP, v, k, **kw)
            ms[which].append((time.perf_counter() - started) * 1000)
            if which in found:
                found[which].append({i for i, _ in hits})
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    with index._lock:
        truth = [{i for i, _ in index._exact(u.astype(np.float32), k, new._slots)} for u in unit]
    recall = {w: round(float(np.mean([len(t & g) / max(len(t), 1) for t, g in zip(truth, found[w])])), 4)
              for w in found}
    p = {w: percentiles(v) for w, v in ms.items()}
    return {"case": name, "allowed": int(new._slots.size), "share": round(new._slots.size / len(index), 4),
            # planned: went through the per-query plan (a broad filter); of those, answered from the unfiltered
            # neighbourhood (probe), by restricted HNSW or by the block; unplanned ones go to the block directly
            "planned": paths["planned"], "probe": paths["planned"] and paths["planned"] - paths["block"] - paths["restricted"],
            "restricted": paths["restricted"], "block": paths["block"],
            "block_ms_previous": round(old_ms, 1), "block_ms_current": round(new_ms, 1),
            "p50_previous": p["previous"]["p50"], "p99_previous": p["previous"]["p99"],
            "p50_current": p["current"]["p50"], "p99_current": p["current"]["p99"],
            "p50_ratio": round(p["current"]["p50"] / p["previous"]["p50"], 3),
            "recall_previous": recall["previous"], "recall_current": recall["current"],
            "store_p50": p["store"]["p50"], "store_p99": p["store"]["p99"],
            "block_only_p50": p["block only"]["p50"], "block_only_p99": p["block only"]["p99"],
            "recall_block_only": recall["block only"],
            "store_before_p50": p["store before"]["p50"], "store_before_p99": p["store before"]["p99"],
            "store_ratio": round(p["store"]["p50"] / p["store before"]["p50"], 3),
            # the median of each query's two calls, run back to back: what a busy spell does not swing
            "store_paired_ratio": paired_ratio(ms["store"], ms["store before"]),
            "store_mean": round(float(np.mean(ms["store"])), 3), "store_before_mean": round(float(np.mean(ms["store before"])), 3),
            "recall_store_before": recall["store before"],
            "api_p50": p["api"]["p50"], "api_p99": p["api"]["p99"], "api_before_p50": p["api before"]["p50"],
            "api_before_p99": p["api before"]["p99"], "api_ratio": round(p["api"]["p50"] / p["api before"]["p50"], 3),
            "api_paired_ratio": paired_ratio(ms["api"], ms["api before"])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="a bench.scale size folder (scale.db, queries.npy)")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per case (default 100)")
    parser.add_argument("--cases", default="brand ~1%,category ~20%,price+category,cypher where")
    parser.add_argument("--results", default="filter_search", help="bench/results/NAME.json")
    args = parser.parse_args(argv)
    missing = [name for name in ("scale.db", "queries.npy") if not (args.dir / name).exists()]
    if missing:
        raise SystemExit(f"--dir {args.dir}: not a bench.scale size folder (no {' or '.join(missing)})")
    q = np.load(args.dir / "queries.npy")
    timed = q[2:2 + args.queries]
    graph = ShopGraph.open(args.dir / "scale.db", read_only=True)
    store = graph.store
    try:
        store.vector_search(PROP, q[0], 10)  # opens the index
        with store._synced_index(PROP) as (index, _):
            pass
        cases = _cases(store)
        rows = []
        for name in args.cases.split(","):
            store.vector_search(PROP, q[1], 10, **cases[name])  # runs the candidate query, prepares the filter
            rows.append(run_case(graph, index, name, cases[name], timed, 10, q[:2]))
            print_table(rows[-1:], title=name)
    finally:
        graph.close()
    print_table(rows, title=f"filtered search, {len(index)} vectors, {len(timed)} queries a case, ms")
    notes = ["previous: the 8-bit scalar-quantised block with k * rerank_factor candidates (bench-side copy of "
             "the replaced builder); current: shopgraph's 4-bit fast-scan block; store: EmbeddedStore.vector_search",
             "store before: the store call through a filter of its own planned as before (block searches from "
             "their first round, a look again on one query in eight); store_ratio = store p50 / store before p50",
             "api: ShopGraph.vector_search (the store call and the hits' result cards), api before: the same planned "
             "as before; api_ratio = api p50 / api before p50; *_paired_ratio: the median over queries of the "
             "ratio of that query's two calls (run back to back)",
             f"loadavg at the end {[round(x, 2) for x in os.getloadavg()]}"]
    path = write_results(args.results, args_settings(args), rows, notes)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
