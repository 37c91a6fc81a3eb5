"""Filtered vector search through the store: EmbeddedStore.vector_search on a LadybugDB graph.

bench/vector.py measures the index alone; this one adds what a user sees: the Cypher candidate query
(brand via OF_BRAND, category subtree via IN_CATEGORY) and the id preparation. Baseline in the same
process: exact scoring in Cypher (`exact=True`, array_cosine_similarity over the candidates).
Per filter case: the first query ("cold", candidate query run and prepared) and later queries with the
same filter ("warm", the prepared filter is reused until the graph changes).

    python -m bench.store_search --n 100000      # --queries 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import percentiles, print_table, write_results
from bench.vector import make_mixture
from shopgraph.config import IndexConfig
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import Filters, GraphBatch

BRANDS, TOP_CATEGORIES = 100, 5  # a brand holds ~1% of the products, a top category ~20%


def build(path: Path, vectors: np.ndarray) -> tuple[EmbeddedStore, float]:
    """One product per row of vectors (384-d unit rows), with a brand and a two-level category each."""
    n = len(vectors)
    store = EmbeddedStore.open(path, dims=VectorDims(text=384, image=8, lexical=8), index_config=IndexConfig())
    brands = [f"brand{i}" for i in range(BRANDS)]
    tops = [f"Top{i}" for i in range(TOP_CATEGORIES)]
    started = time.perf_counter()
    for start in range(0, n, 10000):
        ids = range(start, min(n, start + 10000))
        products = [{"id": f"p{i}", "platform": "bench", "source_id": str(i), "title": f"product {i}",
                     "brand": brands[i % BRANDS], "category": f"{tops[i % TOP_CATEGORIES]} > Leaf",
                     "content_hash": "h", "text_vec": vectors[i]} for i in ids]
        store.write(GraphBatch(
            nodes={"Brand": [{"name": b} for b in brands],
                   "Category": [{"path": t, "name": t, "depth": 1} for t in tops]
                   + [{"path": f"{t} > Leaf", "name": "Leaf", "depth": 2} for t in tops],
                   "Product": products},
            relationships={"OF_BRAND": [{"src": p["id"], "dst": p["brand"]} for p in products],
                           "IN_CATEGORY": [{"src": p["id"], "dst": p["category"]} for p in products],
                           "SUBCATEGORY_OF": [{"src": f"{t} > Leaf", "dst": t} for t in tops]}))
    return store, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100000, help="products (default 100000)")
    parser.add_argument("--queries", type=int, default=50, help="queries per case (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Vectors shaped like MiniLM title embeddings (bench/vector.py's calibrated mixture): uniform
    # random vectors are unlike text and the worst case for HNSW.
    base, held_out = make_mixture(args.n, 3 * (args.queries + 1), 384, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store, load_s = build(Path(tmp) / "bench.db", base.vectors)
        started = time.perf_counter()
        store.vector_search("text_vec", held_out.vectors[0], 10)
        index_s = time.perf_counter() - started
        rows = []
        cases = [("unfiltered", None), ("brand ~1%", Filters(brand="brand7")), ("category ~20%", Filters(category="Top3"))]
        for case_no, (name, filters) in enumerate(cases):
            queries = held_out.vectors[case_no * (args.queries + 1):(case_no + 1) * (args.queries + 1)]
            timings = {"ours": [], "baseline: exact in Cypher": []}
            recall = []
            for n, q in enumerate(queries):
                t = time.perf_counter()
                hits = store.vector_search("text_vec", q, 10, filters=filters)
                ours_ms = (time.perf_counter() - t) * 1000
                t = time.perf_counter()
                truth = store.vector_search("text_vec", q, 10, filters=filters, exact=True)
                exact_ms = (time.perf_counter() - t) * 1000
                if n == 0 and filters is not None:
                    rows.append({"case": name, "method": "ours, cold (first query of this filter)",
                                 "p50_ms": round(ours_ms, 2), "p99_ms": round(ours_ms, 2), "recall@10": None})
                    continue
                timings["ours"].append(ours_ms)
                timings["baseline: exact in Cypher"].append(exact_ms)
                recall.append(len({i for i, _ in hits} & {i for i, _ in truth}) / 10)
            for method, ms in timings.items():
                p = percentiles(ms)
                rows.append({"case": name, "method": method + (", warm" if method == "ours" and filters else ""),
                             "p50_ms": round(p["p50"], 2), "p99_ms": round(p["p99"], 2),
                             "recall@10": round(float(np.mean(recall)), 4) if method == "ours" else 1.0})
        store.close()
    print_table(rows, title=f"store-level vector search, {args.n:,} products, 384-d, k=10")
    path = write_results("store_search", {"n": args.n, "queries": args.queries, "seed": args.seed, "dim": 384,
                                          "load_s": round(load_s, 1), "index_build_s": round(index_s, 1)}, rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
