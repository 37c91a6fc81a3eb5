"""Per-catalog channel calibration from the catalog itself (issue 17): does it beat the shipped fusion?

    python -m bench.search_selfcal --workdir /work/tmp/i17-selfcal/work     # after
    python -m bench.search_quality --shipped --tune --tune-only --workdir <the same>   # the dev runs

Two steps, on the graphs and dev runs bench.search_quality --shipped keeps in <workdir>/shipped/:
1. measure: for every suite's graph (before and after training), each perturbation scheme's
   pseudo-queries (shopgraph/search/selfcal.py: a fixed sample of the catalog's titles, perturbed)
   and each channel's self-retrieval MRR; no labels are read. Cached in <workdir>/selfcal.json.
2. evaluate: the stored dev runs (every channel's ranking and scores per dev query) re-fused offline
   as ShopGraph.search would, with the shipped weights times each graph's factors
   (selfcal.channel_factors) for every (scheme, threshold, power); dev NDCG@10 per suite and state
   beside the shipped fusion's (factors 1) in the same process, and the objective --tune maximises
   (mean NDCG@10 less twice any group's shortfall against its best single channel).
Prints tables; writes bench/results/search_selfcal.json.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results
from bench.learned import WORK_DIR, data_root

# (name, drop, swaps, max_words): how a second shop's title is imitated
SCHEMES = {"drop30": (0.3, 1, 0), "drop50": (0.5, 2, 0), "drop70": (0.7, 1, 0), "drop30_cut6": (0.3, 1, 6),
           "drop30_cut4": (0.3, 1, 4), "drop50_cut4": (0.5, 1, 4)}
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
POWERS = (0.5, 1.0, 2.0, 4.0)


def graph_paths(args, suites) -> dict[str, Path]:
    """group ("suite/state") -> the graph's database (already built by bench.search_quality --shipped)."""
    from bench.search_shipped import built_graph, corpus_for
    from shopgraph.config import Config, parse_overrides, with_overrides

    config = with_overrides(Config(), parse_overrides(args.set or []))
    train_overrides = parse_overrides(args.train_set or [])
    workdir = args.workdir / "shipped"
    out = {}
    for suite in suites:
        corpus = corpus_for(args.data, suite)
        for state in ("before", "after"):
            stem = f"{corpus.name}-"
            done = [p for p in workdir.glob(stem + "*.db.done")
                    if ("-trained-" in p.name) == (state == "after")]
            if not done:
                continue
            path, _ = built_graph(corpus, workdir, config, state == "after", train_overrides,
                                  workdir / "vectors.cache.sqlite")
            out[f"{suite}/{state}"] = path
    return out


def measure(paths: dict[str, Path], n: int, cache_file: Path, schemes: list[str]) -> dict:
    """{graph file name: {scheme: {channel: MRR}, ...}}, cached in cache_file."""
    from shopgraph.queries.api import ShopGraph
    from shopgraph.search.selfcal import pseudo_queries, self_retrieval

    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    for path in sorted(set(paths.values())):
        entry = cache.setdefault(path.name, {})
        todo = [s for s in schemes if f"{s}/{n}" not in entry]
        if not todo:
            continue
        sg = ShopGraph.open(path, read_only=True)
        try:
            titles = [(r["id"], r["title"]) for r in sg.store.cypher(
                "MATCH (p:Product) WHERE p.gone IS NULL OR NOT p.gone RETURN p.id AS id, p.title AS title")]
            for scheme in todo:
                drop, swaps, cut = SCHEMES[scheme]
                start = time.perf_counter()
                queries = pseudo_queries(titles, n, 17, drop, swaps, cut)
                mrr = self_retrieval(sg, queries)
                entry[f"{scheme}/{n}"] = {**{c: round(v, 4) for c, v in mrr.items()},
                                          "seconds": round(time.perf_counter() - start, 1)}
                print(f"{path.name} {scheme}: {entry[f'{scheme}/{n}']}", flush=True)
                cache_file.write_text(json.dumps(cache, indent=1, sort_keys=True))
        finally:
            sg.close()
    return cache


def evaluate(runs, factors_of, config) -> dict[str, float]:
    """Dev NDCG@10 per group with each group's factors (group -> {channel: factor})."""
    from bench.search_quality import metrics
    from bench.search_shipped import fused_ids, run_kind
    from shopgraph.search.hybrid import kind_fusion, kind_weights
    from shopgraph.search.selfcal import scaled_weights

    per: dict[str, list[float]] = {}
    for r in runs:
        kind = run_kind(r, config.short_text_words)
        weights, k = kind_weights(config, kind)
        if kind != "image":
            weights = scaled_weights(weights, factors_of.get(r.group, {}))
        ids = fused_ids(r, weights, k, kind_fusion(config, kind), config.zscore_rank_weight, config.learned_agreement)
        per.setdefault(r.group, []).append(metrics(ids, r.relevant)["ndcg@10"])
    return {g: float(np.mean(v)) for g, v in per.items()}


def best_singles(runs) -> dict[str, float]:
    from bench.search_shipped import _group_scores

    channels = sorted({c for r in runs for c in r.rankings})
    singles = [_group_scores(runs, lambda r, c=c: ({c: 1.0}, 60.0)) for c in channels]
    return {g: max(s.get(g, 0.0) for s in singles) for g in {r.group for r in runs}}


def objective(scores: dict[str, float], singles: dict[str, float]) -> float:
    return float(np.mean([s - 2 * max(0.0, singles[g] - s) for g, s in scores.items()]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.search_selfcal", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root())
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="bench.search_quality --shipped's workdir")
    p.add_argument("--n", type=int, default=200, help="pseudo-queries per catalog")
    p.add_argument("--schemes", default=",".join(SCHEMES))
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--train-set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--out", default="search_selfcal")
    args = p.parse_args(argv)
    from shopgraph.config import Config, parse_overrides, with_overrides
    from shopgraph.search.selfcal import channel_factors

    runs = pickle.loads((args.workdir / "shipped" / "dev-runs.pkl").read_bytes())
    suites = sorted({r.group.split("/")[0] for r in runs})
    paths = graph_paths(args, suites)
    schemes = args.schemes.split(",")
    cache = measure(paths, args.n, args.workdir / "selfcal.json", schemes)
    config = with_overrides(Config(), parse_overrides(args.set or [])).search
    runs = [r for r in runs if r.group in paths]
    singles = best_singles(runs)
    shipped = evaluate(runs, {}, config)
    rows, results = [], {"self_retrieval": {g: cache[p.name] for g, p in paths.items()}, "rules": []}
    base_obj = objective(shipped, singles)
    rows.append({"rule": "shipped", "objective": round(base_obj, 4), "worst loss": 0.0,
                 **{g: round(v, 4) for g, v in sorted(shipped.items())}})
    for scheme in schemes:
        for threshold in THRESHOLDS:
            for power in POWERS:
                factors = {g: channel_factors({c: v for c, v in cache[p.name][f"{scheme}/{args.n}"].items()
                                               if c != "seconds"}, threshold, power) for g, p in paths.items()}
                scores = evaluate(runs, factors, config)
                obj = objective(scores, singles)
                worst = min(scores[g] - shipped[g] for g in scores)
                rule = {"scheme": scheme, "threshold": threshold, "power": power, "objective": round(obj, 4),
                        "worst_loss": round(worst, 4), "dev_ndcg@10": {g: round(v, 4) for g, v in scores.items()},
                        "factors": {g: {c: round(f, 3) for c, f in fs.items() if f != 1.0} for g, fs in factors.items()}}
                results["rules"].append(rule)
                rows.append({"rule": f"{scheme} t{threshold} p{power}", "objective": round(obj, 4),
                             "worst loss": round(worst, 4), **{g: round(v, 4) for g, v in sorted(scores.items())}})
    results["shipped"] = {"objective": round(base_obj, 4), "dev_ndcg@10": shipped, "best_single": singles}
    print_table([{"group": g, **{s: cache[p.name][f"{s}/{args.n}"] for s in schemes}} for g, p in sorted(paths.items())],
                title="self-retrieval MRR per channel (no labels)")
    rows.sort(key=lambda r: -r["objective"])
    print_table(rows[:25], title="dev NDCG@10 per group, best objective first (shipped = factors 1)")
    print("best single per group: " + json.dumps({g: round(v, 4) for g, v in sorted(singles.items())}))
    path = write_results(args.out, args_settings(args), results,
                         notes=["dev queries only; self-retrieval reads no labels"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
