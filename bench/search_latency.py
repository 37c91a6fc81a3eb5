"""Store-path latency of ShopGraph.search (issue 17's bar: p50 under 20 ms with all channels), per phase.

    python -m bench.search_latency --workdir /tmp/lat                 # the demo graph (made once)
    python -m bench.search_latency --db bench/.work/shipped/flipkart-<key>.db --repeats 20

"Store path" = everything but encoding the query: each query is encoded once before timing and the
encoder then answers from that memo, so the figures are the channels (exact lookup, BM25, vector and
learned searches through the store), fusion, hydration, match strength and facets. Encoding is
reported apart (MiniLM's numpy forward pass, bench/cli_search.py measures it in the CLI).
Queries come from the graph itself (seeded): product titles (known-item), category names (short
descriptive queries), identifiers, and the first words of titles. Phases, in the same process and
interleaved query by query: `search` (ShopGraph.search k=10), `channels` (hybrid_search alone), `page`
(ranked_page: hydration, match strength, facets) with the per-version product cache and without it
(as before), the lexical mirror's per-search check (one Meta read of the generation and identity, and
the index revision), and the baseline `vector only` (the store's vector_search of the fused vector, the least any channel costs).
The machine is shared: compare rows of one run (same load), not runs; even then a phase can pay for
the garbage its predecessor left (a Meta read measured 14 ms here after a page, 1.9 ms after a vector
search), so read small differences as noise.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import args_settings, percentiles, print_table, write_results

SEED = 17


def graph_queries(sg, n: int) -> list[str]:
    """Up to n queries of each sort from the graph: titles, category names, identifiers, 2-word prefixes."""
    rng = random.Random(SEED)
    titles = [r["t"] for r in sg.cypher("MATCH (p:Product) WHERE p.title IS NOT NULL RETURN p.title AS t ORDER BY p.id")]
    cats = [r["n"] for r in sg.cypher("MATCH (c:Category) RETURN c.name AS n ORDER BY c.path")]
    idents = [r["v"] for r in sg.cypher("MATCH (:Product)-[r:HAS_IDENTIFIER]->(i:Identifier) RETURN r.raw AS v ORDER BY v")]
    out = []
    for pool in (titles, cats, [v for v in idents if v], [" ".join(t.split()[:2]) for t in titles]):
        out += rng.sample(pool, min(n, len(pool)))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a graph to search (default: the demo graph in --workdir)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work/latency"))
    parser.add_argument("--per-sort", type=int, default=5, help="queries of each sort (default 5)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds over the queries (default 10)")
    parser.add_argument("--out", default="search_latency")
    args = parser.parse_args(argv)
    from shopgraph.queries.api import ShopGraph
    from shopgraph.search.hybrid import hybrid_search

    if args.db is None:
        from bench.cli_search import demo_db

        args.workdir.mkdir(parents=True, exist_ok=True)
        args.db = demo_db(args.workdir)
    sg = ShopGraph.open(args.db, read_only=True)
    try:
        queries = graph_queries(sg, args.per_sort)
        encode = sg.encoder.encode_query
        memo, encode_ms = {}, []
        for q in queries:
            start = time.perf_counter()
            memo[q] = encode(text=q)
            encode_ms.append((time.perf_counter() - start) * 1000)
        sg.encoder.encode_query = lambda text=None, image=None: memo[text] if image is None else encode(text, image)
        from shopgraph.queries.hydrate import ProductCache
        from shopgraph.search.ranked_page import ranked_page

        outcomes = {}
        cache = ProductCache()

        def channels(q):
            outcomes[q] = hybrid_search(sg, q, None, filters=None, where=None, params=None, rank_by="hybrid",
                                        depth=sg.config.search.depth)
            return outcomes[q]

        phases = {
            "search (k=10)": lambda q: sg.search(text=q, k=10),
            "channels (hybrid_search)": channels,
            "page, products cached": lambda q: ranked_page(sg.store, sg.config.search, outcomes[q], q, 10, 0,
                                                           "relevance", cache),
            "page, products read (before)": lambda q: ranked_page(sg.store, sg.config.search, outcomes[q], q, 10, 0,
                                                                  "relevance"),
            "lexical mirror check": lambda q: sg.lexical.index(),
            "vector only (baseline)": lambda q: sg.store.vector_search("fused_vec", memo[q]["fused"], 10),
        }
        for q in queries:  # warm-up: indexes load, caches fill
            for run in phases.values():
                run(q)
        times = {name: [] for name in phases}
        kinds = {}
        for _ in range(args.repeats):
            for q in queries:
                for name, run in phases.items():
                    start = time.perf_counter()
                    got = run(q)
                    times[name].append((time.perf_counter() - start) * 1000)
                    if name.startswith("search"):
                        kinds[q] = got.kind
    finally:
        sg.close()
    base = float(np.median(times["vector only (baseline)"]))
    rows, results = [], {"queries": len(queries), "kinds": dict(sorted(Counter(kinds.values()).items())),
                         "phases": {}}
    for name, ms in {**times, "query encoding (once each, not in search)": encode_ms}.items():
        p = percentiles(ms)
        results["phases"][name] = p
        rows.append({"phase": name, "p50 ms": p["p50"], "p99 ms": p["p99"], "p50 / vector only": p["p50"] / base})
    print(f"{args.db}: {len(queries)} queries x {args.repeats}, kinds {results['kinds']}")
    print_table(rows)
    write_results(args.out, args_settings(args), results)
    return results


if __name__ == "__main__":
    main()
