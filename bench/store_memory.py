"""Where an ingest's resident memory goes: N text-only products written straight into an EmbeddedStore.

Issue 15 reports a 24.6k-row catalog peaking at 7 GB resident. This isolates the store from the
encoders: each run is a fresh process (ru_maxrss is per process) that writes N products with random
text, lexical and fused vectors (the default widths) in batches of --batch, then reports its peak
resident memory next to the Python heap's peak (tracemalloc), the database's size on disk, and the
resident memory every 8 batches (and after close). With
--buffer-pool-mb the LadybugDB buffer pool is capped (0 = LadybugDB's default, a share of the RAM).
The baseline is the default pool, run side by side in the same invocation.

    python -m bench.store_memory --n 10000 --buffer-pool-mb 1536
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import args_settings, print_table, write_results

_CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np
n, batch, cap, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
import ladybug
if cap:
    _init = ladybug.Database.__init__
    def init(self, *a, **k):
        k.setdefault("buffer_pool_size", cap * 2**20)
        _init(self, *a, **k)
    ladybug.Database.__init__ = init
from bench.common import peak_rss_mb, rss_mb
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphBatch
tracemalloc.start()
dims, rng = VectorDims(), np.random.default_rng(0)
store = EmbeddedStore.open(path, dims=dims)
started, error, trace = time.perf_counter(), None, [[0, rss_mb()]]
try:
    for start in range(0, n, batch):
        rows = [{"id": f"s:{i}", "platform": "s", "source_id": str(i), "title": f"title {i}",
                 "description": "d" * 200, "content_hash": str(i), "image_missing": True,
                 "text_vec": rng.standard_normal(dims.text).astype(np.float32),
                 "lex_vec": rng.standard_normal(dims.lexical).astype(np.float32),
                 "fused_vec": rng.standard_normal(dims.fused).astype(np.float32)}
                for i in range(start, min(n, start + batch))]
        store.write(GraphBatch(nodes={"Product": rows}))
        if (start // batch) % 8 == 7:
            trace.append([start + len(rows), rss_mb()])
except Exception as e:
    error = str(e).splitlines()[0][:160]
finally:
    store.close()
trace.append(["closed", rss_mb()])
print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb(),
                  "python_heap_peak_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1), "error": error,
                  "rss_by_products": trace}))
"""


def run_one(n: int, batch: int, cap_mb: int, workdir: Path) -> dict:
    path = workdir / f"store-{cap_mb}.db"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(batch), str(cap_mb), str(path)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"child failed: {done.stderr.strip().splitlines()[-1:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in workdir.glob(f"store-{cap_mb}.db*") if p.is_file())
    return {"buffer_pool_mb": cap_mb or "default", "products": n, **row, "db_mb": round(size / 2**20, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="products to write (default 10000)")
    parser.add_argument("--batch", type=int, default=256,
                        help="products per write (default 256: ingest's batch until issue 18, now 2048)")
    parser.add_argument("--buffer-pool-mb", type=int, default=1536, help="the capped run's buffer pool (MiB)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="store-memory-") as tmp:
        rows = [run_one(args.n, args.batch, 0, Path(tmp)), run_one(args.n, args.batch, args.buffer_pool_mb, Path(tmp))]
    rows[1]["rss_ratio_to_default"] = round(rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"], 2)
    traces = [row.pop("rss_by_products") for row in rows]
    print_table(rows, title="peak resident memory of writing text-only products into an EmbeddedStore")
    print_table([{"products written": n, "RSS MB, default pool": a, "RSS MB, capped pool": b}
                 for (n, a), (_, b) in zip(*traces)], title="resident memory as products are written")
    for row, trace in zip(rows, traces):
        row["rss_by_products"] = trace
    path = write_results("store_memory", args_settings(args), rows)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
