"""What else was tried to lift the pair scorer on WDC computers, side by side with the scorer as shipped.

Each variant trains on the official train split, picks its threshold on valid (or on out-of-fold
scores where it says so) and reports test F1, over three seeds of the trees:
- shipped: the PairScorer configuration bench.matching measures;
- bagging: the mean of five seeds' probabilities;
- cv-threshold: train+valid together, threshold from 5-fold out-of-fold scores, test scored by the
  mean of the fold models;
- label-noise filter: drop train pairs the out-of-fold model contradicts (positives below 0.1,
  negatives above 0.9), then train as shipped;
- conflict features: three more columns (unit families such as GB or GHz present on both sides with
  no shared value, families agreeing, colours in conflict).
None of them was adopted: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results
from bench.learned import WORK_DIR, data_root, run_checked

PACKAGES = ("numpy", "scikit-learn")
SEEDS = (0, 1, 2)
_UNIT = re.compile(r'(\d+(?:[.,]\d+)?)\s*(gb|tb|mb|go|to|ghz|mhz|hz|w|mp|mah|rpm|inch|in|")(?![a-z0-9])')
# unit -> (family, multiplier to the family's base unit)
_FAMILY = {"gb": ("storage", 1.0), "tb": ("storage", 1000.0), "mb": ("storage", 0.001), "go": ("storage", 1.0),
           "to": ("storage", 1000.0), "ghz": ("frequency", 1000.0), "mhz": ("frequency", 1.0),
           "hz": ("refresh", 1.0), "w": ("power", 1.0), "mp": ("pixels", 1.0), "mah": ("battery", 1.0),
           "rpm": ("rpm", 1.0), "in": ("inch", 1.0), "inch": ("inch", 1.0), '"': ("inch", 1.0)}
_COLOURS = {"black", "white", "silver", "gold", "red", "blue", "green", "grey", "gray", "pink", "rose", "yellow",
            "purple", "orange", "bronze", "titanium"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.wdc_attempts", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "em", help="folder of DeepMatcher-layout datasets")
    p.add_argument("--dataset", default="wdc_computers", help="dataset directory name (default wdc_computers)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the ingested graphs are kept")
    p.add_argument("--out", default="wdc_attempts", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


def _units(title: str) -> dict[str, set[float]]:
    out: dict[str, set[float]] = {}
    for number, unit in _UNIT.findall(title):
        family, scale = _FAMILY[unit]
        out.setdefault(family, set()).add(round(float(number.replace(",", ".")) * scale, 3))
    return out


def conflict_features(left, right, rows: np.ndarray) -> np.ndarray:
    """(m, 3): unit families in conflict, unit families agreeing, colour conflict (NaN: no colours)."""
    from shopgraph.matching import text_signals as ts

    lt, rt = [ts.normalise(t) for t in left.titles], [ts.normalise(t) for t in right.titles]
    lu, ru = [_units(t) for t in lt], [_units(t) for t in rt]
    lc, rc = [set(ts.words(t)) & _COLOURS for t in lt], [set(ts.words(t)) & _COLOURS for t in rt]
    out = []
    for i, j in rows:
        shared = set(lu[i]) & set(ru[j])
        conflicts = sum(not (lu[i][f] & ru[j][f]) for f in shared)
        colour = float(not (lc[i] & rc[j])) if lc[i] and rc[j] else np.nan
        out.append([conflicts, len(shared) - conflicts, colour])
    return np.array(out, dtype=np.float32).reshape(-1, 3)


def run(args) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    from bench.matching import load_dataset
    from shopgraph.errors import BadArgumentError
    from shopgraph.matching.scorer import ScorerConfig, best_f1_threshold, prf

    if not (args.data / args.dataset).is_dir():
        raise BadArgumentError(f"no dataset directory {args.dataset} under {args.data}")
    data = load_dataset(args, args.dataset)
    x, splits = data["features"], data["bench"].splits
    y = {s: p.labels for s, p in splits.items()}
    c = ScorerConfig()

    def trees(seed):  # the scorer's trees as shipped on 2026-11-23 (sklearn; PairScorer is LightGBM since issue 16)
        return HistGradientBoostingClassifier(
            learning_rate=c.learning_rate, max_iter=c.max_iter, max_leaf_nodes=c.max_leaf_nodes,
            min_samples_leaf=c.min_samples_leaf, l2_regularization=c.l2_regularization, early_stopping=True,
            validation_fraction=0.15, n_iter_no_change=30, random_state=seed)

    def fit_predict(xt, yt, seed, *evaluate):
        cols = np.where(np.isfinite(xt).any(axis=0))[0]
        model = trees(seed).fit(xt[:, cols], yt)
        return [model.predict_proba(z[:, cols])[:, 1] for z in evaluate]

    def test_f1(threshold, scores):
        return prf(scores >= threshold, y["test"])["f1"]

    def shipped(seed, xs=x):
        valid, test = fit_predict(xs["train"], y["train"], seed, xs["valid"], xs["test"])
        return test_f1(best_f1_threshold(valid, y["valid"])[0], test)

    def bagging(seed):
        runs = [fit_predict(x["train"], y["train"], seed * 10 + b, x["valid"], x["test"]) for b in range(5)]
        valid, test = np.mean([r[0] for r in runs], axis=0), np.mean([r[1] for r in runs], axis=0)
        return test_f1(best_f1_threshold(valid, y["valid"])[0], test)

    def cv_threshold(seed):
        xa, ya = np.vstack([x["train"], x["valid"]]), np.r_[y["train"], y["valid"]]
        oof, tests = np.zeros(len(ya)), []
        for fold, (a, b) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(xa, ya)):
            oof[b], test = fit_predict(xa[a], ya[a], seed * 10 + fold, xa[b], x["test"])
            tests.append(test)
        return test_f1(best_f1_threshold(oof, ya)[0], np.mean(tests, axis=0))

    def noise_filter(seed):
        xt, yt = x["train"], y["train"]
        oof = np.zeros(len(yt))
        for fold, (a, b) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(xt, yt)):
            oof[b], = fit_predict(xt[a], yt[a], seed * 10 + fold, xt[b])
        keep = ~(((yt == 1) & (oof < 0.1)) | ((yt == 0) & (oof > 0.9)))
        valid, test = fit_predict(xt[keep], yt[keep], seed, x["valid"], x["test"])
        return test_f1(best_f1_threshold(valid, y["valid"])[0], test)

    extra = {s: np.hstack([x[s], conflict_features(data["left"], data["right"], splits[s].rows)]) for s in x}
    variants = {"shipped scorer": shipped, "bagging (5 seeds)": bagging, "cv-threshold (train+valid)": cv_threshold,
                "label-noise filter": noise_filter, "conflict features": lambda seed: shipped(seed, extra)}
    rows = []
    for name, variant in variants.items():
        f1 = [variant(seed) for seed in SEEDS]
        rows.append({"variant": name, **{f"F1 seed {s}": round(v, 4) for s, v in zip(SEEDS, f1)},
                     "mean F1": round(float(np.mean(f1)), 4)})
        print(f"{name}: mean test F1 {rows[-1]['mean F1']}", flush=True)
    return {"dataset": args.dataset, "rows": rows}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "entity-matching data")
    if results is None:
        return 1
    print_table(results["rows"], title=f"{args.dataset}: test F1 of variants of the pair scorer")
    print(f"wrote {write_results(args.out, args_settings(args), results, packages=PACKAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
