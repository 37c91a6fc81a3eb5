"""A reader whose saved vector index lags the graph by a few changes, against one at its revision (issue 18).

    python -m bench.lagged_reader --dir DIR/n100000 --work /scratch/lagged --changes 1 --results lagged_reader_100k

DIR/nN is a bench.scale size folder (scale.db with its index saved at the graph's generation,
queries.npy). Three copies of its database are made under --work (that folder is emptied first):
`at_revision` as it is, and two that lag: one process opens each read-write, changes --changes
products' text vectors a little (a new generation; the index is not saved, as a tenth of it has not
changed: vector_sync.SAVE_LAG) and closes. Then, in one process, each is opened read-only and searched
once (its index loaded from the saved files and synced to the graph), and the resident memory that
first search adds is recorded with the index's state (graph still mapped, mirror rows held in memory);
then every query vector goes through `EmbeddedStore.vector_search` (text_vec, k 10, unfiltered) on
each, in alternating order, --repeat passes.

Arms: `at_revision`; `lagged` (today's code: the changed rows in a tail beside the mapped mirror, read
by key); `lagged_old_paths` (the same code with the tail and the keyed read switched off for its first
search: vector_index._TAIL_MAX = 0 and embedded._KEYED_CHANGES_MAX = 0, which are the code paths
before the fix: the mirror copied and the graph taken into memory and grown, the changed rows read
with a scan of the vector column). Reported: p50/p99 per arm, p50 over at_revision's, and the median
of each query's paired ratio (its calls run back to back, which a shared machine's busy spells swing
less than the ratio of two p50s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, need_scale_db, percentiles, print_table, rss_mb, write_results

ARMS = ("at_revision", "lagged", "lagged_old_paths")


def copy_database(src: Path, dst: Path) -> None:
    """scale.db, its index folder and queries.npy of a size folder into dst."""
    dst.mkdir(parents=True)
    shutil.copy2(src / "scale.db", dst / "scale.db")
    shutil.copytree(src / "scale.db.index", dst / "scale.db.index")
    shutil.copy2(src / "queries.npy", dst / "queries.npy")


def make_lag(db: Path, changes: int) -> None:
    """Change `changes` products' text vectors in a read-write open (run in its own process)."""
    from shopgraph.queries.api import ShopGraph

    graph = ShopGraph.open(db)
    try:
        store = graph.store
        ids = [r["id"] for r in store.cypher(f"MATCH (p:Product) RETURN p.id AS id ORDER BY id LIMIT {int(changes)}")]
        got, vectors = store.get_vectors("Product", "text_vec", ids)
        vectors = vectors + np.random.default_rng(0).normal(0, 0.05, vectors.shape).astype(np.float32)
        store.set_vectors("Product", "text_vec", got, vectors)
        graph.vector_search(vectors[0], 10, prop="text_vec")  # the writer's index follows
    finally:
        graph.close()


def _saved_revision(db: Path) -> int:
    import json

    return int(json.loads((Path(f"{db}.index") / "text_vec" / "manifest.json").read_text())["revision"])


def measure(work: Path, repeat: int) -> dict:
    from shopgraph.graph import embedded, vector_index
    from shopgraph.queries.api import ShopGraph

    import pandas  # noqa: F401  (imported by a sync's first Arrow read: ~60 MB and ~0.3 s that would
    import pyarrow.compute  # noqa: F401  land on whichever arm syncs first, not on its index)

    queries = np.load(work / "at_revision" / "queries.npy")
    graphs, out = {}, {"arms": {}}
    for arm in ARMS:
        graph = graphs[arm] = ShopGraph.open(work / arm / "scale.db", read_only=True)
        store = graph.store
        generation = store.generation()
        saved = (vector_index._TAIL_MAX, embedded._KEYED_CHANGES_MAX)
        if arm == "lagged_old_paths":
            vector_index._TAIL_MAX, embedded._KEYED_CHANGES_MAX = 0, 0
        try:
            before = rss_mb()
            started = time.perf_counter()
            store.vector_search("text_vec", queries[0], 10)
            first_ms = (time.perf_counter() - started) * 1000
            after = rss_mb()
        finally:
            vector_index._TAIL_MAX, embedded._KEYED_CHANGES_MAX = saved
        with store.vector_index("text_vec") as index:
            stats = index.stats()
        out["arms"][arm] = {"generation": generation, "saved_revision": _saved_revision(work / arm / "scale.db"),
                            "first_search_ms": round(first_ms, 1), "rss_first_search_mb": round(after - before, 1),
                            **{k: stats.get(k) for k in ("graph_mapped", "vectors_mapped", "hnsw_vectors",
                                                          "tail_rows", "mirror_bytes", "ids_packed")}}
    times = {arm: [] for arm in ARMS}
    for rep in range(repeat):
        for n, v in enumerate(queries[1:]):
            order = ARMS if (rep + n) % 2 == 0 else ARMS[::-1]
            for arm in order:
                t = time.perf_counter()
                graphs[arm].store.vector_search("text_vec", v, 10)
                times[arm].append((time.perf_counter() - t) * 1000)
    base = np.asarray(times["at_revision"])
    for arm in ARMS:
        p = percentiles(times[arm])
        out["arms"][arm].update({"p50_ms": p["p50"], "p99_ms": p["p99"],
                                 "p50_over_at_revision": round(p["p50"] / percentiles(base)["p50"], 3),
                                 "paired_ratio_median": round(float(np.median(np.asarray(times[arm]) / base)), 3)})
    for graph in graphs.values():
        graph.close()
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="a bench.scale size folder, index at its revision")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the copies (emptied)")
    parser.add_argument("--changes", type=int, default=1, help="products changed in the lagging copies")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the query vectors")
    parser.add_argument("--results", default="lagged_reader")
    parser.add_argument("--make-lag", type=Path, help=argparse.SUPPRESS)  # internal: one copy's writer
    args = parser.parse_args(argv)
    if args.make_lag is not None:
        make_lag(args.make_lag, args.changes)
        return {}
    need_scale_db(args.dir)
    shutil.rmtree(args.work, ignore_errors=True)
    for arm in ARMS:
        copy_database(args.dir, args.work / arm)
        if arm != "at_revision":  # the writer in a process of its own, as a real one would be
            subprocess.run([sys.executable, "-m", "bench.lagged_reader", "--dir", str(args.dir), "--work",
                            str(args.work), "--changes", str(args.changes),
                            "--make-lag", str(args.work / arm / "scale.db")], check=True)
    result = measure(args.work, args.repeat)
    print_table([{"arm": arm, **m} for arm, m in result["arms"].items()],
                title=f"store vector_search, unfiltered, readers {args.changes} change(s) behind the saved index")
    write_results(args.results, args_settings(args), result)
    return result


if __name__ == "__main__":
    main()
