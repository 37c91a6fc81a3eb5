"""Blocking and scoring at scale without the store: exact vs approximate top lists, side by side.

Two shops of N synthetic products each (bench/synthetic_catalog.py: families of look-alike siblings,
shop-specific titles, known truth; 80% of each shop's products are in the other) are built as
`Listings` directly, without ingesting them: the text vectors are NOT MiniLM but a stand-in (a 32-d
latent per product from its brand, category, line and own key, projected to 384-d, plus per-listing
noise, unit rows), so the dense channel's cost is
real and its neighbours are plausible, while the five TF-IDF channels are exactly what matching uses.

For each size and each path (exact = neighbours.APPROX_MIN_PAIRS never reached, approx = forced on):
featurizer build, blocking (k per listing) and the candidates' features (context included) are timed,
peak RSS is measured from a reset high-water mark (/proc/self/clear_refs) before the featurizer, and
quality is blocking pair completeness on the truth plus F1 of a pair scorer trained on the candidates
of 10% of the source listings (threshold on another 5%), evaluated on the other 85% (a true pair the
blocking missed counts as a false negative). The same process runs both paths, so the ratio holds on
a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import args_settings, print_table, reset_peak_rss, vm_hwm_mb, write_results

PACKAGES = ("numpy", "scipy", "scikit-learn", "faiss-cpu", "lightgbm", "rapidfuzz")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.match_blocking", description=__doc__.split("\n")[0])
    p.add_argument("--products", type=int, nargs="+", default=[10_000], help="listings per shop, one run each")
    p.add_argument("--paths", nargs="+", default=["exact", "approx"], choices=["exact", "approx"])
    p.add_argument("-k", type=int, default=20, help="blocking candidates per source listing (default 20)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--blocking-only", action="store_true",
                   help="time the featurizer and blocking only (no pair features, no scorer): how blocking grows")
    p.add_argument("--out", default="match_blocking", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


def synthetic_listings(n: int, seed: int, dim: int = 384, overlap: float = 0.8):
    """(left Listings, right Listings, truth (t, 2) rows) of two shops of n products each."""
    from bench.synthetic_catalog import description, make_entities, stand_in_vectors, title_a, title_b
    from shopgraph.matching.listings import Listings

    rng = np.random.default_rng(seed)
    shared = int(n * overlap)
    entities = make_entities(2 * n - shared, rng)
    order = rng.permutation(len(entities))
    sides, rows = [], []
    for name, members, title in (("a", order[:n], title_a), ("b", order[n - shared:2 * n - shared], title_b)):
        chosen = [entities[int(i)] for i in members]
        titles = [title(e, rng) for e in chosen]
        texts = [f"{t} {description(e, rng)}" for t, e in zip(titles, chosen)]
        vec = stand_in_vectors(chosen, seed, rng, dim)
        sides.append(Listings(name, [f"{name}:{e.key}" for e in chosen], titles, texts,
                              brands=[e.brand for e in chosen], categories=[e.category for e in chosen],
                              prices=np.array([e.price for e in chosen]), vectors={"text": vec},
                              attributes=[{"title": t, "brand": e.brand} for t, e in zip(titles, chosen)]))
        rows.append({e.key: r for r, e in enumerate(chosen)})
    truth = np.array([(r, rows[1][key]) for key, r in rows[0].items() if key in rows[1]], dtype=np.int64)
    return sides[0], sides[1], truth


def quality(candidates, x, truth: np.ndarray, n_left: int, seed: int) -> dict:
    """Scorer F1 on held-out source listings (see module docstring)."""
    from shopgraph.matching.scorer import PairScorer

    rng = np.random.default_rng(seed)
    split = rng.random(n_left)                                  # per source listing: <.10 train, <.15 valid
    true = {(int(a), int(b)) for a, b in truth}
    y = np.array([(int(a), int(b)) in true for a, b in candidates.rows], dtype=np.int64)
    part = split[candidates.rows[:, 0]]
    train, valid, test = part < 0.10, (part >= 0.10) & (part < 0.15), part >= 0.15
    scorer = PairScorer().fit(x[train], y[train], x[valid], y[valid])
    predicted = scorer.predict(x[test]) >= scorer.threshold
    tp = int((predicted & (y[test] == 1)).sum())
    positives = int((split[truth[:, 0]] >= 0.15).sum())       # every true pair of a test listing
    precision = tp / max(1, int(predicted.sum()))
    recall = tp / max(1, positives)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "F1": round(f1, 4)}


def run_one(left, right, truth, path: str, k: int, seed: int, blocking_only: bool = False) -> dict:
    from shopgraph.matching.blocking import block, pair_completeness
    from shopgraph.matching.features import PairFeaturizer

    reset_peak_rss()
    t0 = time.perf_counter()
    featurizer = PairFeaturizer(left, right)
    featurizer.approximate = path == "approx"
    t1 = time.perf_counter()
    candidates = block(featurizer, k)
    t2 = time.perf_counter()
    if blocking_only:
        return {"products": len(left), "path": path, "featurize s": round(t1 - t0, 1),
                "blocking s": round(t2 - t1, 1), "peak RSS MB": vm_hwm_mb(),
                "completeness": round(pair_completeness(candidates, truth), 4)}
    x = featurizer.features(candidates.rows)
    t3 = time.perf_counter()
    peak = vm_hwm_mb()
    return {"products": len(left), "path": path, "featurize s": round(t1 - t0, 1), "blocking s": round(t2 - t1, 1),
            "features s": round(t3 - t2, 1), "total s": round(t3 - t0, 1), "peak RSS MB": peak,
            "completeness": round(pair_completeness(candidates, truth), 4),
            **quality(candidates, x, truth, len(left), seed)}


def main(argv=None) -> int:
    args = parse_args(argv)
    rows = []
    for n in args.products:
        left, right, truth = synthetic_listings(n, args.seed)
        for path in args.paths:
            rows.append(run_one(left, right, truth, path, args.k, args.seed, args.blocking_only))
            print(rows[-1], flush=True)
    print_table(rows, title="blocking + features on synthetic listings (no store; stand-in text vectors)")
    ratios = {}
    for n in args.products:
        by = {r["path"]: r for r in rows if r["products"] == n}
        if {"exact", "approx"} <= set(by):
            key = "blocking s" if args.blocking_only else "total s"
            ratios[str(n)] = round(by["approx"][key] / by["exact"][key], 3)
    if ratios:
        print("approx / exact total seconds: " + ", ".join(f"{n}: {r}" for n, r in ratios.items()))
    path = write_results(args.out, args_settings(args), {"rows": rows, "approx / exact seconds": ratios},
                         packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
