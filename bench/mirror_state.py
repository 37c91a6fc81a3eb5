"""What the mirrors' lineage check (graph/mirror_state.py, issue 18) costs a search, in one process.

    python -m bench.mirror_state --dir DIR/n100000 --results mirror_state_100k
    python -m bench.mirror_state --dir DIR/n100000 --begin-epoch --results mirror_state_100k_epoch

DIR/nN is a bench.scale size folder (scale.db, queries.npy) whose result cards are filled. What a
search can pay for the check is in the statements that read the graph's version; the lineage check
itself reads the epoch list only when a mirror's epoch is not the current one (once per new epoch).
- A vector search (`ShopGraph.vector_search`, the API the 100k bar is about) reads its version in
  one statement when no pin serves it: before epochs `get_meta("generation")` (a key lookup), now
  `get_metas(("generation", "epoch"))` (`EmbeddedStore._generation_and_epoch`).
- A hybrid search pins Meta (pinned_meta, one statement): before, every Meta row; now every row but
  the epoch list (`WHERE m.key <> $skip`, `embedded.PIN_META`).

Statements: each pair timed alone, alternating, --rounds times per arm (p50/p99 ms).
API: for each bench.scale case every query vector (--repeat passes) through the store, then through
`ShopGraph.vector_search` (k 10, text_vec, hydrated from the cards) once with the version read before
epochs and once with today's, alternating which goes first; p50/p99 of each, after / before p50, API /
store p50 (the bar: within 1.22-1.43x at 100k, as before the change). The "before" read is exactly the
code before epochs only on a database that has no epoch yet (it reports no epoch), so the API arms run
only there; on a database with epochs (--begin-epoch) the API runs today's code alone.

--begin-epoch: first open the database read-write and rewrite one product's text vector unchanged (a
write: a new generation and the database's first write epoch), then close (the lexical index and the
cards follow that one product). This WRITES the database: use a copy.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, need_scale_db, percentiles, print_table, write_results

PIN_BEFORE = ("MATCH (m:Meta) RETURN m.key, m.value", {})  # pinned_meta's statement before write epochs


def _version_before(store) -> tuple[int, None]:
    """The version read of a vector search before write epochs (a database without epochs has none)."""
    return store.generation(), None


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


def _alternate(rounds: int, arms: dict) -> dict:
    """{arm: percentiles} of calling each arm's function `rounds` times, alternating the order."""
    names = list(arms)
    times = {name: [] for name in names}
    for n in range(rounds):
        for name in (names if n % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            arms[name]()
            times[name].append((time.perf_counter() - t) * 1000)
    return {name: percentiles(v) for name, v in times.items()}


def statements(store, rounds: int) -> dict:
    """The version reads alone, before and after: the vector search's and the hybrid search's pin."""
    from shopgraph.graph import embedded

    def pinned(statement):
        def run():
            embedded.PIN_META = statement
            with store.pinned_meta():
                pass
        return run

    def version_read(before: bool):
        def run():
            with store._reading():
                _version_before(store) if before else store._generation_and_epoch()
        return run

    after_pin = embedded.PIN_META
    try:
        pin = _alternate(rounds, {"before": pinned(PIN_BEFORE), "after": pinned(after_pin)})
    finally:
        embedded.PIN_META = after_pin
    read = _alternate(rounds, {"before": version_read(True), "after": version_read(False)})
    return {name: {"before_p50_ms": p["before"]["p50"], "before_p99_ms": p["before"]["p99"],
                   "after_p50_ms": p["after"]["p50"], "after_p99_ms": p["after"]["p99"],
                   "after_over_before_p50": round(p["after"]["p50"] / p["before"]["p50"], 3)}
            for name, p in (("vector search's version read", read), ("hybrid search's pin", pin))}


def ab(d: Path, repeat: int = 1, rounds: int = 2000) -> dict:
    from bench.scale import _cases
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.queries.api import ShopGraph

    after = EmbeddedStore._generation_and_epoch
    q = np.load(d / "queries.npy")
    graph = ShopGraph.open(d / "scale.db", read_only=True)
    store = graph.store
    graph.vector_search(q[0], 10, prop="text_vec")
    version = store.search_version()
    if graph.cards is None or graph.cards.products(["-"], (None, *version)) is None:
        raise SystemExit(f"the cards of {d / 'scale.db'} do not hold the graph's version {version}: fill them first")
    arms = ("before", "after") if version[2] is None else ("after",)  # see the module docstring
    reads = []
    store.trace = lambda query, params: reads.append(query) if query.lstrip().startswith("UNWIND") else None
    out = {"version": list(version), "statements": statements(store, rounds), "cases": {}}
    try:
        for name, kw in _cases(store).items():
            for _ in range(2):  # prepares the filter, as bench.scale does
                graph.vector_search(q[1], 10, prop="text_vec", **kw)
            times = {"store": [], **{arm: [] for arm in arms}}
            graph_reads = 0
            for n_query, v in enumerate(np.concatenate([q[2:]] * repeat)):
                t = time.perf_counter()
                store.vector_search("text_vec", v, 10, **kw)
                times["store"].append((time.perf_counter() - t) * 1000)
                for arm in (arms if n_query % 2 == 0 else arms[::-1]):
                    EmbeddedStore._generation_and_epoch = _version_before if arm == "before" else after
                    reads.clear()
                    t = time.perf_counter()
                    graph.vector_search(v, 10, prop="text_vec", **kw)
                    times[arm].append((time.perf_counter() - t) * 1000)
                    graph_reads += len(reads)
                EmbeddedStore._generation_and_epoch = after
            p = {k: percentiles(v) for k, v in times.items()}
            row = {"store_p50_ms": p["store"]["p50"], "store_p99_ms": p["store"]["p99"]}
            for arm in arms:
                row.update({f"{arm}_p50_ms": p[arm]["p50"], f"{arm}_p99_ms": p[arm]["p99"],
                            f"{arm}_over_store_p50": round(p[arm]["p50"] / p["store"]["p50"], 2)})
            if "before" in arms:
                row["after_over_before_p50"] = round(p["after"]["p50"] / p["before"]["p50"], 3)
            row["graph_reads_in_api_calls"] = graph_reads
            out["cases"][name] = row
    finally:
        EmbeddedStore._generation_and_epoch = after
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
    parser.add_argument("--rounds", type=int, default=2000, help="timings of each statement alone per arm")
    parser.add_argument("--results", default="mirror_state")
    args = parser.parse_args(argv)
    need_scale_db(args.dir)
    result = {}
    if args.begin_epoch:
        result["begun"] = begin_epoch(args.dir / "scale.db")
        print(f"began write epoch {result['begun']['epoch']} at generation {result['begun']['generation']}")
    result.update(ab(args.dir, args.repeat, args.rounds))
    print_table([{"statement": s, **m} for s, m in result["statements"].items()],
                title="the version reads alone, before and after write epochs")
    print_table([{"case": c, **m} for c, m in result["cases"].items()],
                title="API vector search (cards) against the store, the version read before and after write epochs")
    write_results(args.results, args_settings(args), result)
    return result


if __name__ == "__main__":
    main()
