"""What the mirrors' lineage check (graph/mirror_state.py, issue 18) costs a search, in one process.

    python -m bench.mirror_state --dir DIR/n100000 [--begin-epoch] --results mirror_state_100k

DIR/nN is a bench.scale size folder (scale.db, queries.npy) whose result cards are filled. A search
reads the graph's version once per call (pinned_meta, one statement), then uses the vector index and
the cards only when they hold exactly that version; the lineage check itself reads the epoch list
only when a mirror's epoch is not the current one (once per new epoch, not per search). So what a
search can pay is the pin's statement, which now leaves the epoch list out (`WHERE m.key <> $skip`).

First the pin's statement alone, before and after, alternating (--pin-rounds each). Then for each
bench.scale case every query vector (--repeat passes) is searched through the store, then through
`ShopGraph.vector_search` (k 10, text_vec, hydrated from the cards) twice, once with the pin's
statement before epochs ("before": every Meta row) and once with today's ("after"), in alternating
order, so machine noise hits both arms alike. p50/p99 ms of each arm, after / before p50 and API /
store p50 (the bar: the API within 1.22-1.43x of the store at 100k, as before the change).

--begin-epoch: first open the database read-write and rewrite one product's text vector unchanged (a
write: a new generation and the database's first write epoch), then close (the lexical index and the
cards follow that one product), so the searches run on a database with epochs. This WRITES the
database: use a copy.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, percentiles, print_table, write_results

BEFORE = ("MATCH (m:Meta) RETURN m.key, m.value", {})  # pinned_meta's statement before write epochs


def begin_epoch(db: Path) -> dict:
    """Rewrite one product's text vector unchanged in a read-write open: the first write epoch."""
    from shopgraph.queries.api import ShopGraph

    graph = ShopGraph.open(db)
    try:
        store = graph.store
        pid = store.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id LIMIT 1")[0]["id"]
        ids, vectors = store.get_vectors("Product", "text_vec", [pid])
        store.set_vectors("Product", "text_vec", ids, vectors)
        graph.vector_search(vectors[0], 10, prop="text_vec")  # the writer's index follows (1 product)
        return {"generation": store.generation(), "epoch": store.get_meta("epoch")}
    finally:
        graph.close()


def pin_statement(store, rounds: int) -> dict:
    """p50/p99 ms of pinned_meta's statement alone, before and after, alternating."""
    from shopgraph.graph import embedded

    after = embedded.PIN_META
    times = {"before": [], "after": []}
    try:
        for n in range(rounds):
            for arm in (("before", "after") if n % 2 == 0 else ("after", "before")):
                embedded.PIN_META = BEFORE if arm == "before" else after
                t = time.perf_counter()
                with store.pinned_meta():
                    pass
                times[arm].append((time.perf_counter() - t) * 1000)
    finally:
        embedded.PIN_META = after
    p = {k: percentiles(v) for k, v in times.items()}
    return {"before_p50_ms": p["before"]["p50"], "before_p99_ms": p["before"]["p99"],
            "after_p50_ms": p["after"]["p50"], "after_p99_ms": p["after"]["p99"],
            "after_over_before_p50": round(p["after"]["p50"] / p["before"]["p50"], 3)}


def ab(d: Path, repeat: int = 1, pin_rounds: int = 2000) -> dict:
    from bench.scale import _cases
    from shopgraph.graph import embedded
    from shopgraph.queries.api import ShopGraph

    after = embedded.PIN_META
    q = np.load(d / "queries.npy")
    graph = ShopGraph.open(d / "scale.db", read_only=True)
    store = graph.store
    graph.vector_search(q[0], 10, prop="text_vec")
    version = store.search_version()
    if graph.cards is None or graph.cards.products(["-"], (None, *version)) is None:
        raise SystemExit(f"the cards of {d / 'scale.db'} do not hold the graph's version {version}: fill them first")
    reads = []
    store.trace = lambda query, params: reads.append(query) if query.lstrip().startswith("UNWIND") else None
    out = {"version": list(version), "pin_statement": pin_statement(store, pin_rounds), "cases": {}}
    try:
        for name, kw in _cases(store).items():
            for _ in range(2):  # prepares the filter, as bench.scale does
                graph.vector_search(q[1], 10, prop="text_vec", **kw)
            times = {"store": [], "before": [], "after": []}
            graph_reads = 0
            for n_query, v in enumerate(np.concatenate([q[2:]] * repeat)):
                t = time.perf_counter()
                store.vector_search("text_vec", v, 10, **kw)
                times["store"].append((time.perf_counter() - t) * 1000)
                for arm in (("before", "after") if n_query % 2 == 0 else ("after", "before")):
                    embedded.PIN_META = BEFORE if arm == "before" else after
                    reads.clear()
                    t = time.perf_counter()
                    graph.vector_search(v, 10, prop="text_vec", **kw)
                    times[arm].append((time.perf_counter() - t) * 1000)
                    graph_reads += len(reads)
            p = {k: percentiles(v) for k, v in times.items()}
            out["cases"][name] = {"store_p50_ms": p["store"]["p50"], "store_p99_ms": p["store"]["p99"],
                                  "before_p50_ms": p["before"]["p50"], "before_p99_ms": p["before"]["p99"],
                                  "after_p50_ms": p["after"]["p50"], "after_p99_ms": p["after"]["p99"],
                                  "after_over_before_p50": round(p["after"]["p50"] / p["before"]["p50"], 3),
                                  "after_over_store_p50": round(p["after"]["p50"] / p["store"]["p50"], 2),
                                  "before_over_store_p50": round(p["before"]["p50"] / p["store"]["p50"], 2),
                                  "graph_reads_in_api_calls": graph_reads}
    finally:
        embedded.PIN_META = after
        store.trace = None
        graph.close()
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="a bench.scale size folder (scale.db, queries.npy)")
    parser.add_argument("--begin-epoch", action="store_true",
                        help="first write one product unchanged (the database's first write epoch): WRITES it")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the query vectors per case")
    parser.add_argument("--pin-rounds", type=int, default=2000, help="timings of the pin's statement alone per arm")
    parser.add_argument("--results", default="mirror_state")
    args = parser.parse_args(argv)
    if not (args.dir / "scale.db").exists():
        raise SystemExit(f"--dir {args.dir}: no scale.db there")
    result = {}
    if args.begin_epoch:
        result["begun"] = begin_epoch(args.dir / "scale.db")
        print(f"began write epoch {result['begun']['epoch']} at generation {result['begun']['generation']}")
    result.update(ab(args.dir, args.repeat, args.pin_rounds))
    print_table([result["pin_statement"]], title="pinned_meta's statement alone, before and after write epochs")
    print_table([{"case": c, **m} for c, m in result["cases"].items()],
                title="API search with the pin's statement before and after write epochs")
    write_results(args.results, args_settings(args), result)
    return result


if __name__ == "__main__":
    main()
