"""Result cards (<db>.index/cards.sqlite): what filling them costs, and the API's hydration with them
against the graph read, in one process.

    python -m bench.cards --dir DIR/n100000 --fill-into /work/tmp/x/cards.sqlite --results cards_100k
    python -m bench.cards --dir DIR/n100000 --results cards_100k_ab

DIR/nN is a bench.scale size folder (scale.db, queries.npy). The database is opened read-only and
nothing is written to it.

--fill-into FILE: time a full fill of a card file at FILE (what a read-write process's close writes
the first time, `CardMirror.sync` from nothing), from the read-only database: wall and CPU seconds,
peak RSS, file size. FILE must not be the database's own card file unless the caller means to
replace it (a bench-only way to give a database cards without a writable open: copy its index
folder, fill into the copy's cards.sqlite).

Otherwise (the A/B): for each bench.scale case, every query vector is searched through the store,
then through `ShopGraph.vector_search` (k 10, text_vec), hydrating from the cards for even queries
and from the graph (`get_nodes`, the code before the cards) for odd ones, so each variant hydrates
hits it has not read before, as a service answering varied queries does. p50/p99 ms of each, and
API / store p50 per variant. The cards must already hold the database's current generation
(fill them first); the run checks that every card hydration read nothing from the graph.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, need_scale_db, peak_rss_mb, percentiles, print_table, write_results


def fill(db: Path, target: Path) -> dict:
    from shopgraph.graph.stores import open_store
    from shopgraph.queries.cards import CardMirror

    store, _ = open_store(db, read_only=True)
    try:
        products = store.count_nodes("Product")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        mirror = CardMirror(store, target, read_only=False)
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        written = mirror.sync()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        mirror.close()
    finally:
        store.close()
    return {"products": products, "cards": written, "fill_s": round(wall, 2),
            "fill_cpu_s": round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 2),
            "ms_per_product": round(wall * 1000 / max(1, products), 4),
            "file_mb": round(target.stat().st_size / 2**20, 1), "peak_rss_mb": peak_rss_mb(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def ab(d: Path) -> dict:
    from bench.scale import _cases
    from shopgraph.queries.api import ShopGraph

    q = np.load(d / "queries.npy")
    graph = ShopGraph.open(d / "scale.db", read_only=True)
    store = graph.store
    cards = graph.cards
    if cards is None:
        raise SystemExit("this graph keeps no cards")
    graph.vector_search(q[0], 10, prop="text_vec")
    version = store.search_version()
    if cards.products(["-"], (None, *version)) is None:
        raise SystemExit(f"the cards of {d / 'scale.db'} are not at the graph's generation {version[1]}: fill them first")
    reads = []
    store.trace = lambda query, params: reads.append(query) if query.lstrip().startswith("UNWIND") else None
    out = {"cases": {}}
    try:
        for name, kw in _cases(store).items():
            for _ in range(2):  # prepares the filter, as bench.scale does
                graph.vector_search(q[1], 10, prop="text_vec", **kw)
            times = {"store": [], "cards": [], "graph": []}
            card_reads = 0
            for n_query, v in enumerate(q[2:]):
                variant = "cards" if n_query % 2 == 0 else "graph"
                graph._cards = cards if variant == "cards" else None
                t = time.perf_counter()
                store.vector_search("text_vec", v, 10, **kw)
                times["store"].append((time.perf_counter() - t) * 1000)
                reads.clear()
                t = time.perf_counter()
                graph.vector_search(v, 10, prop="text_vec", **kw)
                times[variant].append((time.perf_counter() - t) * 1000)
                card_reads += len(reads) if variant == "cards" else 0
            p = {k: percentiles(v) for k, v in times.items()}
            out["cases"][name] = {"store_p50_ms": p["store"]["p50"], "store_p99_ms": p["store"]["p99"],
                                  "api_cards_p50_ms": p["cards"]["p50"], "api_cards_p99_ms": p["cards"]["p99"],
                                  "api_graph_p50_ms": p["graph"]["p50"], "api_graph_p99_ms": p["graph"]["p99"],
                                  "cards_over_store_p50": round(p["cards"]["p50"] / p["store"]["p50"], 2),
                                  "graph_over_store_p50": round(p["graph"]["p50"] / p["store"]["p50"], 2),
                                  "graph_reads_during_card_calls": card_reads}
    finally:
        store.trace = None
        graph._cards = cards
        graph.close()
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="a bench.scale size folder (scale.db, queries.npy)")
    parser.add_argument("--fill-into", type=Path, default=None, help="time a full card fill into this file")
    parser.add_argument("--results", default="cards")
    args = parser.parse_args(argv)
    need_scale_db(args.dir)
    if args.fill_into is not None:
        result = fill(args.dir / "scale.db", args.fill_into)
        print_table([result], title="card fill")
    else:
        result = ab(args.dir)
        print_table([{"case": c, **m} for c, m in result["cases"].items()], title="API with cards against the graph read")
    write_results(args.results, args_settings(args), result)
    return result


if __name__ == "__main__":
    main()
