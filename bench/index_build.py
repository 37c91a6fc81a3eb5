"""Peak memory of building the vector index alone (no graph), this checkout against an older one.

Issue 18's bar: the index build of 1M products peaks under 4 GB resident. This measures the build as
the store does it after reading the vectors, without ingesting a graph: `AnnIndex.from_config` with the
default IndexConfig, `reserve(n)`, then `upsert` of streamed 20k-row chunks read from a file (as the
store pages through the graph), `build()` and `save()`. Each build runs in a fresh process, so its
peak resident memory (VmHWM) is its own; the codes take turns per repeat (same load for both).
After the build the child also reports recall@10 of `search` against exact cosine over the same file
(for the queries held out of the mixture).

Vectors: 384-d text-like vectors from the calibrated mixture (bench/vector.py make_mixture), written
once per size to DIR/nN/vectors.f32 and queries.npy (the same layout as bench.scale's gen stage).

    python -m bench.index_build --sizes 200000 --before /tmp/before          # A/B at a size both do
    python -m bench.index_build --sizes 1000000 --keep /work/tmp/ib            # this checkout alone
    python -m bench.index_build --sizes 1000000 --ef-construction 40           # same memory, faster

--before names a checkout of the older code (e.g. `git archive COMMIT shopgraph | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results

DIM = 384
ROOT = Path(__file__).resolve().parents[1]
# The child: build from streamed chunks, report peak RSS right after build + save, then recall@10.
_BUILD = """
import json, sys, time
import numpy as np
from shopgraph.config import IndexConfig
from shopgraph.graph.vector_index import AnnIndex
d, n, dim, out, efc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
path = d + "/vectors.f32"
t = time.perf_counter()
config = IndexConfig() if efc == "default" else IndexConfig(ef_construction=int(efc))
index = AnnIndex.from_config(dim, config)
index.reserve(n)
for lo in range(0, n, 20000):
    m = min(20000, n - lo)
    chunk = np.fromfile(path, dtype=np.float32, count=m * dim, offset=lo * dim * 4).reshape(m, dim)
    index.upsert([f"a{i:07d}" for i in range(lo, lo + m)], chunk)
index.build(progress=False)
built = time.perf_counter() - t
index.save(out)
seconds = time.perf_counter() - t
# VmHWM, not ru_maxrss: after fork + exec, ru_maxrss still holds the parent's peak (the vector generator's)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
q = np.load(d + "/queries.npy")
q = q / np.linalg.norm(q, axis=1, keepdims=True)
best = np.full((len(q), 10), -1, dtype=np.int64)
best_s = np.full((len(q), 10), -np.inf, dtype=np.float32)
for lo in range(0, n, 100000):
    m = min(100000, n - lo)
    x = np.fromfile(path, dtype=np.float32, count=m * dim, offset=lo * dim * 4).reshape(m, dim)
    s = (q @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T).astype(np.float32)
    rows = np.hstack([best, np.broadcast_to(np.arange(lo, lo + m), s.shape)])
    scores = np.hstack([best_s, s])
    top = np.argsort(-scores, axis=1)[:, :10]
    best, best_s = np.take_along_axis(rows, top, axis=1), np.take_along_axis(scores, top, axis=1)
recall = [len({int(i[1:]) for i, _ in index.search(v, 10)} & set(t.tolist())) / 10 for v, t in zip(q, best)]
print(json.dumps({"build_s": round(built, 1), "build_and_save_s": round(seconds, 1), "peak_rss_mb": round(peak, 1),
                  "recall@10": round(float(np.mean(recall)), 4)}))
"""


def make_vectors(d: Path, n: int, queries: int) -> None:
    """vectors.f32 (n, 384) and queries.npy (queries, 384) from the calibrated mixture, unless there."""
    if (d / "vectors.f32").is_file() and (d / "vectors.f32").stat().st_size == n * DIM * 4 \
            and (d / "queries.npy").is_file():
        return
    from bench.vector import make_mixture

    d.mkdir(parents=True, exist_ok=True)
    base, held = make_mixture(n, queries, DIM, seed=0)
    base.vectors.astype(np.float32).tofile(d / "vectors.f32")
    np.save(d / "queries.npy", held.vectors.astype(np.float32))


def build_once(code: Path, d: Path, n: int, ef_construction: int | None = None) -> dict:
    """One build in a fresh process running `code`'s shopgraph; returns its figures and the load."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ib-", dir=d) as out:
        done = subprocess.run([sys.executable, "-c", _BUILD, str(d), str(n), str(DIM), out,
                               "default" if ef_construction is None else str(ef_construction)], capture_output=True,
                              text=True, cwd=code, env=env)
    if done.returncode != 0:
        raise SystemExit(f"build of {n:,} with {code} failed: {done.stderr.strip().splitlines()[-3:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["wall_s"] = round(time.perf_counter() - started, 1)
    row["load_avg_1m"] = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index_build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000", help="comma list of vector counts (default 200000)")
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the older code to compare with")
    parser.add_argument("--repeats", type=int, default=1, help="builds per code and size (default 1)")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries for recall@10 (default 200)")
    parser.add_argument("--ef-construction", type=int, default=None,
                        help="HNSW build beam instead of the default (200): a faster build with the same memory "
                             "(storage n x dim x 4 bytes plus about 2M+2 links per vector; the beam sets neither), "
                             "lower recall")
    parser.add_argument("--keep", type=Path, default=None, help="keep the vector files in this folder")
    parser.add_argument("--results", default=None, help="results file name (default index_build)")
    args = parser.parse_args(argv)
    codes = [("this checkout", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="index-build-") as tmp:
        work = args.keep or Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            d = work / f"n{n}"
            make_vectors(d, n, args.queries)
            for r in range(args.repeats):
                order = codes if r % 2 == 0 else codes[::-1]
                for name, code in order:
                    rows.append({"vectors": n, "code": name, "ef_construction": args.ef_construction or "default",
                                 **build_once(code, d, n, args.ef_construction)})
                    print_table(rows[-1:])
    print_table(rows, title="index build alone (reserve, streamed upserts, build, save), fresh process each")
    ratios = []
    for n in sorted({r["vectors"] for r in rows}):
        mine = [r for r in rows if r["vectors"] == n and r["code"] == "this checkout"]
        old = [r for r in rows if r["vectors"] == n and r["code"] == "before"]
        if mine and old:
            ratios.append({"vectors": n, "peak_rss_before_over_now": round(max(r["peak_rss_mb"] for r in old)
                                                                            / max(r["peak_rss_mb"] for r in mine), 2),
                           "build_s_before_over_now": round(np.median([r["build_s"] for r in old])
                                                            / np.median([r["build_s"] for r in mine]), 2)})
    if ratios:
        print_table(ratios, title="before / this checkout (same run, alternating)")
    path = write_results("index_build" if args.results is None else args.results, args_settings(args), {"builds": rows, "ratios": ratios},
                         notes=["each build in its own process; peak_rss_mb is its VmHWM after build + save, "
                                "before the recall check", "load_avg_1m: 1-minute load average before-after "
                                "the build (a shared 2-core machine)"])
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
