"""Per-catalog channel calibration from the catalog itself (issue 17): does it beat the shipped fusion?

    python -m bench.search_selfcal --workdir /work/tmp/i17-selfcal/work     # after
    python -m bench.search_quality --shipped --tune --tune-only --workdir <the same>   # the dev runs

Two steps, on the graphs and dev runs bench.search_quality --shipped keeps in <workdir>/shipped/:
1. measure: for every suite's graph (before and after training), each perturbation scheme's
   pseudo-queries (bench/selfcal.py: a fixed sample of the catalog's titles, perturbed)
   and each channel's self-retrieval MRR; no labels are read. Cached in <workdir>/selfcal.json.
2. evaluate: the stored dev runs (every channel's ranking and scores per dev query) re-fused offline
   as ShopGraph.search would, with the shipped weights times each graph's factors
   (selfcal.channel_factors) for every (scheme, threshold, power); dev NDCG@10 per suite and state
   beside the shipped fusion's (factors 1) in the same process, and the objective --tune maximises
   (mean NDCG@10 less twice any group's shortfall against its best single channel).
3. --test-runs PATH (held back, never chosen on): the same fusion of the text suites' test queries
   (collected once into PATH with --collect-test: every channel at weight 1, before and after
   training) for the shipped fusion and the rule with the best dev objective (and any --also rules).
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
THRESHOLDS = (0.7, 0.8, 0.9, 1.0)
POWERS = (1.0, 2.0, 4.0)


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
    from bench.selfcal import pseudo_queries, self_retrieval

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


FACTORS = (1.0, 0.75, 0.5, 0.25, 0.0)  # selftune: the vector channel's multipliers tried per catalog


def pseudo_runs(paths: dict[str, Path], n: int, scheme: str, cache_file: Path) -> dict[str, list]:
    """{graph file name: [DevRun]}: each pseudo-query of the scheme run through every channel at weight 1
    (as bench.search_shipped.dev_runs), its relevance {source: 1}. Cached (pickle) in cache_file."""
    from bench.search_shipped import Corpus, dev_runs
    from bench.search_suites import Query, Suite
    from shopgraph.queries.api import ShopGraph
    from bench.selfcal import pseudo_queries

    cache = pickle.loads(cache_file.read_bytes()) if cache_file.exists() else {}
    for path in sorted(set(paths.values())):
        key = f"{path.name}|{scheme}/{n}"
        if key in cache:
            continue
        sg = ShopGraph.open(path, read_only=True)
        try:
            titles = [(r["id"], r["title"]) for r in sg.store.cypher(
                "MATCH (p:Product) WHERE p.gone IS NULL OR NOT p.gone RETURN p.id AS id, p.title AS title")]
            drop, swaps, cut = SCHEMES[scheme]
            queries = [Query(f"pq{i}", {q.source: 1}, q.text)
                       for i, q in enumerate(pseudo_queries(titles, n, 17, drop, swaps, cut))]
            corpus = Corpus(path.name, [], None, {})
            cache[key] = dev_runs(sg, corpus, Suite(path.name, "text", None, queries, []), path.name)
        finally:
            sg.close()
        cache_file.write_bytes(pickle.dumps(cache))
        print(f"pseudo runs {key}: {len(cache[key])}", flush=True)
    return {k.split("|")[0]: v for k, v in cache.items() if k.endswith(f"|{scheme}/{n}")}


def selftuned_factors(runs: list, config, margin: float) -> dict[str, float]:
    """The vector multiplier (FACTORS) whose shipped-weights fusion retrieves a catalog's pseudo-queries'
    sources best (mean NDCG@10); 1 unless another beats it by `margin`."""
    scores = {f: np.mean(list(evaluate(runs, {r.group: {"vector": f} for r in runs}, config).values()))
              for f in FACTORS}
    best = max(FACTORS, key=lambda f: (scores[f], f))
    return {"vector": best if scores[best] > scores[1.0] + margin else 1.0}


_GROUP_MEMO: dict = {}  # (group, factors) -> dev NDCG@10: most rules leave most groups' weights as shipped


def evaluate(runs, factors_of, config) -> dict[str, float]:
    """Dev NDCG@10 per group with each group's factors (group -> {channel: factor})."""
    from bench.search_quality import metrics
    from bench.search_shipped import fused_ids, run_kind
    from shopgraph.search.hybrid import kind_fusion, kind_weights
    from bench.selfcal import scaled_weights

    by_group: dict[str, list] = {}
    for r in runs:
        by_group.setdefault(r.group, []).append(r)
    out = {}
    for group, mine in by_group.items():
        factors = {c: f for c, f in factors_of.get(group, {}).items() if f != 1.0}
        key = (group, id(runs), tuple(sorted(factors.items())))
        if key not in _GROUP_MEMO:
            scores = []
            for r in mine:
                kind = run_kind(r, config.short_text_words)
                weights, k = kind_weights(config, kind)
                if kind != "image":
                    weights = scaled_weights(weights, factors)
                ids = fused_ids(r, weights, k, kind_fusion(config, kind), config.zscore_rank_weight,
                                config.learned_agreement)
                scores.append(metrics(ids, r.relevant)["ndcg@10"])
            _GROUP_MEMO[key] = float(np.mean(scores))
        out[group] = _GROUP_MEMO[key]
    return out


TEXT_SUITES = ("known_abt_buy", "known_amazon_google", "known_wdc_computers", "known_beer", "known_itunes_amazon",
               "model_numbers", "zh_type", "zh_brand_type", "flipkart_category")


def collect_test_runs(args, out: Path) -> None:
    """Every text suite's test queries through every channel at weight 1 (bench.search_shipped.dev_runs),
    before and after training, on the graphs bench.search_quality --shipped built; pickled to out."""
    from bench.search_shipped import built_graph, corpus_for, dev_runs, load_query_memo, save_query_memo
    from bench.search_suites import build_suites
    from shopgraph.config import Config
    from shopgraph.queries.api import ShopGraph

    workdir, config, runs = args.workdir / "shipped", Config(), []
    load_query_memo(workdir, config)
    for state in ("before", "after"):
        for suite in build_suites(args.data, set(TEXT_SUITES)):
            corpus = corpus_for(args.data, suite.name)
            path, _ = built_graph(corpus, workdir, config, state == "after", {}, workdir / "vectors.cache.sqlite")
            sg = ShopGraph.open(path, config=config, read_only=True)
            try:
                suite.dev = suite.test  # dev_runs runs a suite's .dev
                runs += dev_runs(sg, corpus, suite, f"{suite.name}/{state}")
            finally:
                sg.close()
            save_query_memo(workdir, config)
            print(f"test {suite.name} {state}: {len(runs)} runs", flush=True)
    out.write_bytes(pickle.dumps(runs))


def best_singles(runs) -> dict[str, float]:
    from bench.search_shipped import _group_scores

    channels = sorted({c for r in runs for c in r.rankings})
    singles = [_group_scores(runs, lambda r, c=c: ({c: 1.0}, 60.0)) for c in channels]
    return {g: max(s.get(g, 0.0) for s in singles) for g in {r.group for r in runs}}


def objective(scores: dict[str, float], singles: dict[str, float]) -> float:
    return float(np.mean([s - 2 * max(0.0, singles[g] - s) for g, s in scores.items()]))


def held_back(args, test_runs, results, paths, cache, config) -> dict:
    """Test NDCG@10 per group: shipped, and the rule (threshold rules only) with the best dev objective."""
    from bench.selfcal import channel_factors

    rules = [r for r in results["rules"] if "threshold" in r]
    best = max(rules, key=lambda r: (r["objective"], -r["threshold"]))
    shipped = evaluate(test_runs, {}, config)
    factors = {g: channel_factors({c: v for c, v in cache[p.name][f"{best['scheme']}/{args.n}"].items()
                                   if c != "seconds"}, best["threshold"], best["power"]) for g, p in paths.items()}
    chosen = evaluate(test_runs, factors, config)
    singles = best_singles(test_runs)
    rows = [{"group": g, "shipped": round(shipped[g], 4), "best dev rule": round(chosen[g], 4),
             "best single channel": round(singles[g], 4)} for g in sorted(shipped)]
    name = f"{best['scheme']} t{best['threshold']} p{best['power']}"
    print_table(rows, title=f"held-back test NDCG@10: shipped vs the best dev rule ({name})")
    return {"rule": name, "shipped": shipped, "rule_ndcg@10": chosen, "best_single": singles}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.search_selfcal", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root())
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="bench.search_quality --shipped's workdir")
    p.add_argument("--n", type=int, default=200, help="pseudo-queries per catalog")
    p.add_argument("--schemes", default=",".join(SCHEMES))
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--train-set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--selftune-schemes", default="drop30,drop50,drop70,drop30_cut6",
                   help="schemes whose pseudo-queries also pick each catalog's vector multiplier directly")
    p.add_argument("--runs", type=Path, default=None, help="dev runs (default <workdir>/shipped/dev-runs.pkl)")
    p.add_argument("--collect-test", action="store_true", help="first collect --test-runs (slow: encodes)")
    p.add_argument("--test-runs", type=Path, default=None, help="held-back test runs to report the best rule on")
    p.add_argument("--out", default="search_selfcal")
    args = p.parse_args(argv)
    from shopgraph.config import Config, parse_overrides, with_overrides
    from bench.selfcal import channel_factors

    if args.collect_test and args.test_runs:
        collect_test_runs(args, args.test_runs)
    runs = pickle.loads((args.runs or args.workdir / "shipped" / "dev-runs.pkl").read_bytes())
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
    for scheme in args.selftune_schemes.split(","):
        pruns = pseudo_runs(paths, args.n, scheme, args.workdir / "selfcal-runs.pkl")
        for margin in (0.0, 0.005, 0.01, 0.02):
            factors = {g: selftuned_factors(pruns[p.name], config, margin) for g, p in paths.items()}
            scores = evaluate(runs, factors, config)
            obj = objective(scores, singles)
            worst = min(scores[g] - shipped[g] for g in scores)
            results["rules"].append({"scheme": scheme, "selftune_margin": margin, "objective": round(obj, 4),
                                     "worst_loss": round(worst, 4),
                                     "dev_ndcg@10": {g: round(v, 4) for g, v in scores.items()},
                                     "factors": {g: f for g, f in factors.items() if f["vector"] != 1.0}})
            rows.append({"rule": f"selftune {scheme} m{margin}", "objective": round(obj, 4),
                         "worst loss": round(worst, 4), **{g: round(v, 4) for g, v in sorted(scores.items())}})
    results["shipped"] = {"objective": round(base_obj, 4), "dev_ndcg@10": shipped, "best_single": singles}
    print_table([{"group": g, **{s: cache[p.name][f"{s}/{args.n}"] for s in schemes}} for g, p in sorted(paths.items())],
                title="self-retrieval MRR per channel (no labels)")
    rows.sort(key=lambda r: -r["objective"])
    print_table(rows[:25], title="dev NDCG@10 per group, best objective first (shipped = factors 1)")
    print("best single per group: " + json.dumps({g: round(v, 4) for g, v in sorted(singles.items())}))
    if args.test_runs and args.test_runs.exists():
        results["test"] = held_back(args, pickle.loads(args.test_runs.read_bytes()), results, paths, cache, config)
    path = write_results(args.out, args_settings(args), results,
                         notes=["dev queries only; self-retrieval reads no labels"])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
