"""Opening and broad filters of a saved vector index, before and after issue 18's format 3, side by side.

Runs on a folder that `python -m bench.scale --keep DIR` left (DIR/n100000: scale.db.index/text_vec,
queries.npy, catalog.csv):
- open: fresh processes, alternating, each loading the index folder and running the first search
  (`AnnIndex.load` + `search`): this checkout on the index as it is, and --before CHECKOUT (a
  checkout of the code before format 3, e.g. `git worktree add /tmp/before 13409b0`) on a copy of the
  index it saved in its own format (--before-index);
- broad filters (category ~20%, price+category), in one process, alternating per query: the exact
  step as it was (chunked float32 gathers from the whole mirror) against the filter's 8-bit block,
  and whether they agree on the top 10.

    python -m bench.index_ab --dir DIR/n100000 --before /tmp/before --before-index /tmp/v2/text_vec
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, percentiles, print_table, write_results

ROOT = Path(__file__).resolve().parents[1]
_OPEN = """
import sys, time, resource
import numpy as np
t = time.perf_counter()
from shopgraph.graph.vector_index import AnnIndex
ix = AnnIndex.load(sys.argv[1])
load = time.perf_counter() - t
q = np.load(sys.argv[2])
t = time.perf_counter(); ix.search(q[0], 10); first = time.perf_counter() - t
print(load * 1000, first * 1000, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _open_once(code: Path, index: Path, queries: Path) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", _OPEN, str(index), str(queries)], capture_output=True, text=True,
                         cwd=code, env=env, check=True)
    load, first, rss = map(float, out.stdout.split())
    return load, first, rss


def open_ab(d: Path, before: Path | None, before_index: Path | None, repeats: int) -> list[dict]:
    runs = [("this checkout", ROOT, d / "scale.db.index" / "text_vec")]
    if before is not None and before_index is not None:
        runs.insert(0, ("before", before, before_index))
    rows = {name: [] for name, _, _ in runs}
    for _ in range(repeats):
        for name, code, index in runs:
            rows[name].append(_open_once(code, index, d / "queries.npy"))
    out = []
    for name, values in rows.items():
        a = np.array(values)
        out.append({"code": name, "load_ms_median": round(float(np.median(a[:, 0])), 1),
                    "first_search_ms_median": round(float(np.median(a[:, 1])), 1),
                    "load_plus_first_ms_median": round(float(np.median(a[:, 0] + a[:, 1])), 1),
                    "peak_rss_mb": round(float(a[:, 2].max()), 1), "repeats": len(values)})
    return out


def filters_ab(d: Path) -> list[dict]:
    from shopgraph.graph.vector_index import AnnIndex, _top

    ix = AnnIndex.load(d / "scale.db.index" / "text_vec")
    q = np.load(d / "queries.npy")
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    with (d / "catalog.csv").open(encoding="utf-8") as fh:
        rows = [(r["id"], r["category"], float(r["price"])) for r in csv.DictReader(fh)]
    prefix = ix.ids()[0].split(":")[0] + ":"  # the store's product ids are platform:source id
    mirror = np.array(ix._mirror)  # as before format 3: an aligned float32 array in memory

    def gather_exact(row, k, slots):  # the exact step before blocks: chunked gathers from the mirror
        scores = np.empty(slots.size, dtype=np.float32)
        buf = np.empty((min(1024, slots.size), mirror.shape[1]), dtype=np.float32)
        for lo in range(0, slots.size, 1024):
            part = slots[lo:lo + 1024]
            np.take(mirror, part, axis=0, out=buf[:part.size])
            np.dot(buf[:part.size], row, out=scores[lo:lo + part.size])
        return slots[_top(scores, min(k, slots.size))]

    out = []
    cases = {"category ~20%": lambda c, p: c.startswith("Top3 "),
             "price+category": lambda c, p: c.startswith("Top3 ") and 100 <= p <= 800}
    for name, keep in cases.items():
        f = ix.id_filter({prefix + i for i, c, p in rows if keep(c, p)})
        ix._exact_filter(q[0], 10, f)  # a filter's first exact search gathers; its second makes the block
        t = time.perf_counter()
        ix._exact_filter(q[0], 10, f)
        made_ms = (time.perf_counter() - t) * 1000
        old, new, full, agree = [], [], [], 0
        for n, row in enumerate(q[1:]):
            for which in ((0, 1) if n % 2 else (1, 0)):
                t = time.perf_counter()
                if which == 0:
                    before = gather_exact(row, 10, f._slots)
                else:
                    after = ix._exact_filter(row, 10, f)
                (old if which == 0 else new).append((time.perf_counter() - t) * 1000)
            agree += set(ix._ids.at(before.tolist())) == {i for i, _ in after}
            t = time.perf_counter()
            ix.search(row, 10, allowed=f)
            full.append((time.perf_counter() - t) * 1000)
        a, b, s = percentiles(old), percentiles(new), percentiles(full)
        out.append({"case": name, "allowed": int(f._slots.size), "gather_p50_ms": a["p50"], "gather_p99_ms": a["p99"],
                    "block_p50_ms": b["p50"], "block_p99_ms": b["p99"], "ratio_p50": round(a["p50"] / b["p50"], 1),
                    "same_top10": f"{agree}/{len(q) - 1}", "block_made_ms": round(made_ms, 1),
                    "search_p50_ms": s["p50"], "search_p99_ms": s["p99"]})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="a bench.scale size folder (e.g. DIR/n100000)")
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the code before format 3")
    parser.add_argument("--before-index", type=Path, default=None, help="the index folder that code saved")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process opens per code (default 3)")
    args = parser.parse_args(argv)
    opened = open_ab(args.dir, args.before, args.before_index, args.repeats)
    print_table(opened, title="load + first search of the saved index, fresh processes (median)")
    filtered = filters_ab(args.dir)
    print_table(filtered, title="broad filters, exact step: float32 gathers vs the filter's 8-bit block")
    load = [round(x, 2) for x in os.getloadavg()]
    path = write_results("index_ab", args_settings(args), {"open": opened, "filters": filtered},
                         notes=[f"load average at the end {load} (a shared 2-core machine)"])
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
