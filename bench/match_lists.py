"""Per-channel cost of the approximate top lists (matching/neighbours.py) on synthetic listings.

For each size: the featurizer build (TF-IDF fits and per-listing parses), then one side's top lists
100 deep for every blocking channel through the approximate path (faiss IVF for the text channel,
sparse_dot_topn over pruned queries for the TF-IDF ones), seconds and the peak RSS since the
featurizer (reset via /proc/self/clear_refs). Blocking builds each channel's lists for both sides.
Listings and stand-in text vectors as in bench.match_blocking (no store, no MiniLM).

    python -m bench.match_lists --products 20000 40000
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import args_settings, print_table, reset_peak_rss, vm_hwm_mb, write_results

PACKAGES = ("numpy", "scipy", "scikit-learn", "faiss-cpu", "sparse-dot-topn")


def main(argv=None) -> int:
    from bench.match_blocking import synthetic_listings
    from shopgraph.matching import neighbours
    from shopgraph.matching.blocking import CHANNELS
    from shopgraph.matching.features import PairFeaturizer

    p = argparse.ArgumentParser(prog="python -m bench.match_lists", description=__doc__.split("\n")[0])
    p.add_argument("--products", type=int, nargs="+", default=[20_000], help="listings per shop, one run each")
    p.add_argument("--depth", type=int, default=100, help="list depth (blocking: 5 x k = 100)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="match_lists", help="results name (bench/results/NAME.json)")
    args = p.parse_args(argv)
    rows = []
    for n in args.products:
        left, right, _ = synthetic_listings(n, args.seed)
        reset_peak_rss()
        t0 = time.perf_counter()
        featurizer = PairFeaturizer(left, right)
        row = {"products": n, "featurizer s": round(time.perf_counter() - t0, 1)}
        print(f"{n}: featurizer {row['featurizer s']} s, peak {vm_hwm_mb()} MB", flush=True)
        for channel in CHANNELS:
            own, other = featurizer.channel(channel)
            build = neighbours.dense_lists if channel == "text" else neighbours.sparse_lists
            t0 = time.perf_counter()
            build(own, other, args.depth)
            row[f"{channel} s"] = round(time.perf_counter() - t0, 1)
            print(f"{n}: {channel} {row[f'{channel} s']} s, peak {vm_hwm_mb()} MB", flush=True)
        row["peak RSS MB"] = vm_hwm_mb()
        rows.append(row)
        print(row, flush=True)
    print_table(rows, title=f"one side's approximate top lists, {args.depth} deep, per channel")
    path = write_results(args.out, args_settings(args), {"rows": rows}, packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
