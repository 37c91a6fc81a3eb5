"""The same workload on the embedded store (LadybugDB) and on Neo4j, side by side in one run.

    python -m bench.neo4j                      # 100,000 synthetic products + Flipkart 1050 (~15 min on 2 cores)
    python -m bench.neo4j --n 20000 --queries 30 --skip-flipkart

Neo4j: $NEO4J_URI when set (its database is emptied!), else the pinned Neo4j Community started here
(tools/neo4j_local.py, heap --heap, page cache --pagecache), stopped at the end.

Workloads, each on both stores in this process:
- ingest rows/s: Flipkart 1050 through ShopGraph.ingest_dataset with every text and image vector
  already in the vector cache (encoders not timed: the store's write path is), and 100k synthetic
  products (384-d text vectors shaped like MiniLM titles, bench.vector.make_mixture; a brand of 1%,
  a top category of 20%, 4 ALSO_BOUGHT edges each) written as GraphBatches of 5,000;
- point lookup and 2-hop ALSO_BOUGHT traversal (store.cypher), p50/p99;
- filtered vector search p50/p99 + recall@10 against exact numpy scoring (brand ~1%, category ~20%,
  unfiltered), and Cypher + vector (a `where` on price); Neo4j with its defaults (exact up to
  neo4j.exact_max candidates, else the vector index with over-fetch) and forced exact;
- recall of Neo4j's vector index with over-fetch vs exact, by property: text_vec (384, the synthetic
  set), and on Flipkart fused_vec (2176, inner product: exact only, no index) and a 256-d mm_vec
  (a fixed random projection of fused_vec written back with set_vectors: it stands in for learned
  vectors, which need training);
- migration rows/s (nodes + relationships) of the Flipkart graph embedded -> Neo4j -> embedded, verified.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.common import percentiles, print_table, write_results
from bench.learned import WORK_DIR, data_root
from bench.vector import make_mixture

BRANDS, TOPS, ALSO_BOUGHT = 100, 5, 4
PACKAGES = ("numpy", "ladybug", "neo4j", "sentence-transformers", "torch")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.neo4j", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100000, help="synthetic products (default 100000)")
    p.add_argument("--queries", type=int, default=50, help="queries per case (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flipkart", type=Path, default=data_root() / "multimodal" / "flipkart_1050")
    p.add_argument("--skip-flipkart", action="store_true", help="only the synthetic workloads")
    p.add_argument("--workdir", type=Path, default=WORK_DIR / "neo4j", help="kept between runs: the vector cache")
    p.add_argument("--heap", default="2g", help="the local Neo4j's JVM heap (default 2g)")
    p.add_argument("--pagecache", default="2g", help="the local Neo4j's page cache (default 2g)")
    return p.parse_args(argv)


# -- the Neo4j side ----------------------------------------------------------------------------------
class Neo4jSide:
    """$NEO4J_URI, or a local server for this run. fresh() empties the database."""

    def __init__(self, args):
        self.server = None
        if not os.environ.get("NEO4J_URI"):
            from tools.neo4j_local import LocalNeo4j, fetch

            fetch()
            started = time.perf_counter()
            self.server = LocalNeo4j.start(heap=args.heap, pagecache=args.pagecache)
            self.start_s = time.perf_counter() - started
            os.environ.update(self.server.environment())
        self.version = ""

    def fresh(self) -> None:
        from tools.neo4j_local import wipe

        wipe(os.environ["NEO4J_URI"], (os.environ.get("NEO4J_USERNAME", "neo4j"), os.environ["NEO4J_PASSWORD"]),
             os.environ.get("NEO4J_DATABASE", "neo4j"), drop_schema=True)

    def open(self, dims=None, **config):
        from shopgraph.config import Neo4jConfig
        from shopgraph.graph.neo4j_store import Neo4jStore

        store = Neo4jStore.open(None, dims=dims, config=Neo4jConfig(**config))
        self.version = f"{store.edition} {'.'.join(map(str, store.server_version))}"
        return store

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def await_indexes(store) -> None:
    if type(store).__name__ == "Neo4jStore":
        store._write_tx(lambda tx: store._run(tx, "CALL db.awaitIndexes(600)", {}))


# -- synthetic 100k ------------------------------------------------------------------------------------
def synthetic_batches(vectors: np.ndarray, prices: np.ndarray, batch: int = 5000):
    from shopgraph.graph.store import GraphBatch

    n = len(vectors)
    brands = [f"brand{i}" for i in range(BRANDS)]
    tops = [f"Top{i}" for i in range(TOPS)]
    categories = [{"path": t, "name": t, "depth": 1} for t in tops] + \
                 [{"path": f"{t} > Leaf", "name": "Leaf", "depth": 2} for t in tops]
    yield GraphBatch(nodes={"Platform": [{"name": "bench"}], "Brand": [{"name": b} for b in brands],
                            "Category": categories},
                     relationships={"SUBCATEGORY_OF": [{"src": f"{t} > Leaf", "dst": t} for t in tops]})
    rng = np.random.default_rng(7)
    for start in range(0, n, batch):
        ids = range(start, min(n, start + batch))
        products = [{"id": f"p{i}", "platform": "bench", "source_id": str(i), "title": f"product {i}",
                     "price": float(prices[i]), "brand": brands[i % BRANDS],
                     "category": f"{tops[i % TOPS]} > Leaf", "content_hash": "h", "text_vec": vectors[i]}
                    for i in ids]
        # ALSO_BOUGHT edges point backwards (to products already written).
        also = [{"src": f"p{i}", "dst": f"p{int(j)}", "weight": 1.0} for i in ids if i > 0
                for j in set(rng.integers(0, i, min(ALSO_BOUGHT, i)).tolist())]
        yield GraphBatch(nodes={"Product": products},
                         relationships={"LISTED_ON": [{"src": p["id"], "dst": "bench"} for p in products],
                                        "OF_BRAND": [{"src": p["id"], "dst": p["brand"]} for p in products],
                                        "IN_CATEGORY": [{"src": p["id"], "dst": p["category"]} for p in products],
                                        "ALSO_BOUGHT": also})


def truth_top10(vectors: np.ndarray, q: np.ndarray, mask: np.ndarray | None) -> set[str]:
    scores = vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return {f"p{i}" for i in np.argsort(-scores, kind="stable")[:10]}


def run_synthetic(args, side: Neo4jSide, tmp: Path) -> tuple[list[dict], list[dict]]:
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.schema import VectorDims
    from shopgraph.graph.store import Filters

    dims = VectorDims(text=384, image=8, lexical=8)
    base, held = make_mixture(args.n, 5 * args.queries, 384, seed=args.seed)
    vectors = base.vectors.astype(np.float32)
    prices = np.random.default_rng(args.seed).uniform(1, 1000, len(vectors)).round(2)
    side.fresh()
    stores = {"embedded": EmbeddedStore.open(tmp / "synthetic.db", dims=dims, index_config=IndexConfig()),
              "neo4j": side.open(dims)}
    rows, recall_rows = [], []
    try:
        for name, store in stores.items():
            started = time.perf_counter()
            written = 0
            for batch in synthetic_batches(vectors, prices):
                store.write(batch)
                written += len(batch.nodes.get("Product", []))
            await_indexes(store)
            seconds = time.perf_counter() - started
            rows.append({"workload": f"ingest {args.n:,} synthetic (384-d, {ALSO_BOUGHT} ALSO_BOUGHT)", "store": name,
                         "rows_per_s": round(written / seconds), "seconds": round(seconds, 1)})
        rng = np.random.default_rng(args.seed + 1)
        ids = [f"p{i}" for i in rng.integers(0, args.n, args.queries)]
        graph_queries = {
            "point lookup": ("MATCH (p:Product {id: $id}) RETURN p.title AS title, p.price AS price", {}),
            "2-hop ALSO_BOUGHT": ("MATCH (p:Product {id: $id})-[:ALSO_BOUGHT]->(:Product)-[:ALSO_BOUGHT]->(q:Product) "
                                  "RETURN count(DISTINCT q) AS n", {}),
        }
        for workload, (text, _) in graph_queries.items():
            answers = {}
            for name, store in stores.items():
                store.cypher(text, {"id": ids[0]})  # plan cached, pages warm
                ms, got = _timed(lambda i: store.cypher(text, {"id": i}), ids)
                answers[name] = got
                rows.append({"workload": workload, "store": name, **percentiles(ms)})
            assert answers["embedded"] == answers["neo4j"], f"{workload}: the stores disagree"
        brand, top = "brand7", "Top3"
        in_brand = np.array([i % BRANDS == 7 for i in range(args.n)])
        in_top = np.array([i % TOPS == 3 for i in range(args.n)])
        cheap = prices < 100.0
        cases = [("unfiltered", {}, None), ("brand ~1%", {"filters": Filters(brand=brand)}, in_brand),
                 ("category ~20%", {"filters": Filters(category=top)}, in_top),
                 ("Cypher + vector (where p.price < 100, ~10%)", {"where": "p.price < $cap", "params": {"cap": 100.0}},
                  cheap)]
        for case_no, (case, kwargs, mask) in enumerate(cases):
            queries = held.vectors[case_no * args.queries:(case_no + 1) * args.queries]
            truths = [truth_top10(vectors, q, mask) for q in queries]
            methods = [("embedded", stores["embedded"], {}), ("neo4j", stores["neo4j"], {}),
                       ("neo4j, exact", stores["neo4j"], {"exact": True})]
            for method, store, extra in methods:
                store.vector_search("text_vec", queries[0], 10, **kwargs, **extra)  # warm: index built, plans cached
                ms, hits = _timed(lambda q: store.vector_search("text_vec", q, 10, **kwargs, **extra), queries)
                recall = float(np.mean([len({i for i, _ in h} & t) / 10 for h, t in zip(hits, truths)]))
                rows.append({"workload": f"vector search k=10, {case}", "store": method, **percentiles(ms),
                             "recall@10": round(recall, 4)})
        # The index path alone (no filter, over-fetch 4x, then exact re-scoring of k) against exact.
        neo = side.open(None, exact_max=0)
        queries = held.vectors[4 * args.queries:5 * args.queries]
        for overfetch in (1, 4, 16):
            store = side.open(None, exact_max=0, overfetch=overfetch)
            ms, hits = _timed(lambda q: store.vector_search("text_vec", q, 10), queries)
            recall = float(np.mean([len({i for i, _ in h} & truth_top10(vectors, q, None)) / 10
                                    for h, q in zip(hits, queries)]))
            recall_rows.append({"property": "text_vec (384, cosine)", "graph": f"synthetic {args.n:,}",
                                "path": f"vector index, over-fetch {overfetch}x", **percentiles(ms),
                                "recall@10": round(recall, 4)})
            store.close()
        ms, hits = _timed(lambda q: neo.vector_search("text_vec", q, 10, exact=True), queries)
        recall_rows.append({"property": "text_vec (384, cosine)", "graph": f"synthetic {args.n:,}", "path": "exact",
                            **percentiles(ms), "recall@10": round(float(np.mean(
                                [len({i for i, _ in h} & truth_top10(vectors, q, None)) / 10
                                 for h, q in zip(hits, queries)])), 4)})
        neo.close()
    finally:
        for store in stores.values():
            store.close()
    return rows, recall_rows


def _timed(fn, items):
    ms, out = [], []
    for item in items:
        started = time.perf_counter()
        out.append(fn(item))
        ms.append((time.perf_counter() - started) * 1000)
    return ms, out


# -- Flipkart --------------------------------------------------------------------------------------------
def run_flipkart(args, side: Neo4jSide, tmp: Path) -> tuple[list[dict], list[dict]]:
    from shopgraph.config import Config, Neo4jConfig
    from shopgraph.graph.migrate import migrate
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.queries.api import ShopGraph

    args.workdir.mkdir(parents=True, exist_ok=True)
    reference = args.workdir / "flipkart.db"
    if not reference.exists():  # encodes 1050 titles and images once; the cache is kept for every later run
        print("encoding Flipkart 1050 once (kept in", args.workdir, ")", flush=True)
        with ShopGraph.open(reference) as sg:
            sg.ingest_dataset(args.flipkart, "flipkart", progress=False)
    cache = Path(f"{reference}.cache.sqlite")
    rows, recall_rows = [], []
    # Ingest through the whole pipeline with every vector cached: the store's write path is timed.
    side.fresh()
    targets = {"embedded": tmp / "flipkart.db", "neo4j": "neo4j"}
    config = replace(Config(), neo4j=Neo4jConfig(local_dir=str(tmp / "neo4j-local")))
    for name, target in targets.items():
        with ShopGraph.open(target, config=config) as sg:
            Path(f"{sg.store_path}.cache.sqlite").parent.mkdir(parents=True, exist_ok=True)
            copy_cache(cache, Path(f"{sg.store_path}.cache.sqlite"))
            started = time.perf_counter()
            summary = sg.ingest_dataset(args.flipkart, "flipkart", progress=False)
            seconds = time.perf_counter() - started
            products = sg.stats()["Product"]
        rows.append({"workload": "ingest Flipkart 1050 (vectors cached)", "store": name,
                     "rows_per_s": round(products / seconds), "seconds": round(seconds, 1)})
    # Migration: the reference graph into the emptied Neo4j and back, verified both ways.
    side.fresh()
    with EmbeddedStore.open(reference, read_only=True) as source, side.open(None) as neo:
        stats = source.stats()
        total = sum(stats.values())
        started = time.perf_counter()
        there = migrate(source, neo)
        rows.append({"workload": "migrate Flipkart embedded -> Neo4j (verified)", "store": "neo4j",
                     "rows_per_s": round(total / (time.perf_counter() - started)), "seconds": round(there.seconds, 1)})
        with EmbeddedStore.open(tmp / "back.db") as back:
            started = time.perf_counter()
            home = migrate(neo, back)
            rows.append({"workload": "migrate Flipkart Neo4j -> embedded (verified)", "store": "embedded",
                         "rows_per_s": round(total / (time.perf_counter() - started)), "seconds": round(home.seconds, 1)})
        assert home.checksum == there.checksum
        # Recall by property on real vectors: fused_vec (exact only) and a 256-d stand-in for learned vectors.
        ids = [r["id"] for b in source.iter_nodes("Product", ["id"]) for r in b]
        got, fused = source.get_vectors("Product", "fused_vec", ids)
        projection = np.random.default_rng(3).standard_normal((fused.shape[1], 256)).astype(np.float32)
        learned = fused @ projection
        learned /= np.linalg.norm(learned, axis=1, keepdims=True)
        neo.set_vectors("Product", "mm_vec", got, learned)
        await_indexes(neo)
        rng = np.random.default_rng(args.seed + 2)
        picks = rng.choice(len(got), min(args.queries, len(got)), replace=False)
        for prop, matrix, inner in (("fused_vec", fused, True), ("mm_vec", learned, False)):
            truth = []
            for i in picks:
                s = matrix @ matrix[i] if inner else matrix @ matrix[i] / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(matrix[i]))
                truth.append({got[j] for j in np.argsort(-s, kind="stable")[:10]})
            paths = [("exact", {"exact": True}, {})]
            if not inner:
                paths += [(f"vector index, over-fetch {o}x", {}, {"exact_max": 0, "overfetch": o}) for o in (1, 4)]
            for path, kwargs, config_kw in paths:
                store = side.open(None, **config_kw) if config_kw else neo
                ms, hits = _timed(lambda i: store.vector_search(prop, matrix[i], 10, **kwargs), picks)
                recall = float(np.mean([len({h for h, _ in hit} & t) / 10 for hit, t in zip(hits, truth)]))
                label = "fused_vec (2176, inner product)" if inner else "mm_vec (256, cosine; projection of fused_vec)"
                recall_rows.append({"property": label, "graph": "Flipkart 1050", "path": path, **percentiles(ms),
                                    "recall@10": round(recall, 4)})
                if config_kw:
                    store.close()
    return rows, recall_rows


def copy_cache(source: Path, target: Path) -> None:
    """The vector cache (SQLite) with what its write-ahead log still holds (a plain file copy would
    miss it, and the ingest would encode those images again)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def main(argv=None) -> None:
    args = parse_args(argv)
    side = Neo4jSide(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows, recall_rows = [], []
            if not args.skip_flipkart:
                if args.flipkart.is_dir():
                    more, recall = run_flipkart(args, side, Path(tmp))
                    rows += more
                    recall_rows += recall
                else:
                    print(f"no Flipkart data at {args.flipkart}: skipped (pass --flipkart)")
            more, recall = run_synthetic(args, side, Path(tmp))
            rows += more
            recall_rows += recall
        version = side.version
    finally:
        side.close()
    print_table(rows, ["workload", "store", "rows_per_s", "seconds", "p50", "p99", "recall@10"],
                title=f"embedded (LadybugDB) vs Neo4j {version}")
    print_table(recall_rows, ["property", "graph", "path", "p50", "p99", "recall@10"],
                title="Neo4j vector search recall@10 against exact scoring")
    settings = {"n": args.n, "queries": args.queries, "seed": args.seed, "neo4j": version,
                "neo4j_heap": args.heap, "neo4j_pagecache": args.pagecache,
                "neo4j_start_s": round(getattr(side, "start_s", 0.0), 1), "external": side.server is None}
    path = write_results("neo4j", settings, {"workloads": rows, "recall": recall_rows},
                         notes=["latencies in ms; rows_per_s counts products for ingest, nodes + relationships "
                                "for migration"], packages=PACKAGES)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
