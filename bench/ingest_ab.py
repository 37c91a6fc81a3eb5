"""Ingest throughput, an older checkout against this one (issue 18, round 5), on one bench.scale catalog.

bench.scale's `gen` stage makes one synthetic attribute-rich catalog with text vectors; then, per
round, the older code (`git archive BEFORE shopgraph bench`) and this checkout each ingest it into a
fresh database in a process of their own, alternating (the machine is shared: the load average at
each start is reported beside each figure). Per run: ShopGraph.ingest's time and rows/s, the close
that follows (it syncs the lexical index from the graph), rows/s with it, the time spent in COMMIT
statements (LadybugDB checkpoints after each batch's COPY), and the process's peak RSS.

    python -m bench.ingest_ab --before f6eca3b --size 10000 --rounds 2          # --batch-size 8192
    python -m bench.ingest_ab --before HEAD --size 20000 --batch-size 2048,8192  # batch sizes, same code
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import args_settings, peak_rss_mb, print_table, write_results
from bench.fused_storage import _checkout

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"platform": "s", "id": "id", "title": "title", "description": "description", "brand": "brand",
           "category": "category", "category_separator": ">", "price": "price", "default_currency": "USD",
           "identifiers": {"mpn": "mpn"}}


def run_one(catalog: Path, n: int, batch_size: int, db: Path) -> dict:
    """One ingest of catalog (bench.scale gen's folder) into db, in this process; COMMITs timed."""
    import ladybug.connection as connection

    import bench.scale as scale
    from shopgraph.config import Config
    from shopgraph.queries.api import ShopGraph

    commits = [0, 0.0]
    execute = connection.Connection.execute

    def timed(self, query, parameters=None):
        started = time.perf_counter()
        try:
            return execute(self, query, parameters) if parameters is not None else execute(self, query)
        finally:
            if str(query).strip() == "COMMIT":
                commits[0] += 1
                commits[1] += time.perf_counter() - started

    connection.Connection.execute = timed
    config = Config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, batch_size=batch_size))
    graph = ShopGraph.open(db, config=config)
    graph._encoder = scale.VectorFileEncoder(catalog / "vectors.f32", graph.store.dims, graph.config)
    started = time.perf_counter()
    summary = graph.ingest(catalog / "catalog.csv", MAPPING, progress=False)
    ingested = time.perf_counter()
    graph.close()
    closed = time.perf_counter()
    return {"ingest_s": round(ingested - started, 1), "rows_s": round(n / (ingested - started)),
            "close_s": round(closed - ingested, 1), "rows_s_with_close": round(n / (closed - started)),
            "commit_s": round(commits[1], 1), "commits": commits[0], "peak_rss_mb": peak_rss_mb(),
            "products": summary.products_written}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the older commit (e.g. main before the change)")
    parser.add_argument("--size", type=int, default=10000, help="products (default 10000)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs (default 2)")
    parser.add_argument("--batch-size", default="2048", help="ingest.batch_size, or several comma-separated")
    parser.add_argument("--one", nargs=3, metavar=("CATALOG", "BATCH", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a child: one ingest, JSON on stdout
        print(json.dumps(run_one(Path(args.one[0]), args.size, int(args.one[1]), Path(args.one[2]))))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="ingest-ab-") as tmp:
        work = Path(tmp)
        codes = {"before": _checkout(args.before, work / "before"), "now": ROOT}
        (work / "gen").mkdir()
        subprocess.run([sys.executable, "-m", "bench.scale", "--stage", "gen", "--dir", str(work / "gen"),
                        "--sizes", str(args.size), "--queries", "30"], cwd=ROOT, check=True, capture_output=True)
        for round_no in range(1, args.rounds + 1):
            for batch in (int(b) for b in args.batch_size.split(",")):
                for label, code in codes.items():
                    db = work / f"{label}-{batch}-{round_no}.db"
                    load = round(os.getloadavg()[0], 1)
                    # this checkout's bench/ingest_ab.py drives either code (the older one may not have it)
                    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest_ab.py"), "--before", "-",
                                           "--size", str(args.size), "--one", str(work / "gen"), str(batch), str(db)],
                                          cwd=code, capture_output=True, text=True,
                                          env={**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{ROOT}"})
                    if done.returncode != 0:
                        raise SystemExit(f"{label} ingest failed: {done.stderr.strip().splitlines()[-3:]}")
                    rows.append({"code": label, "batch": batch, "round": round_no, "load": load,
                                 **json.loads(done.stdout.strip().splitlines()[-1])})
                    for path in work.glob(f"{db.name}*"):
                        subprocess.run(["rm", "-rf", str(path)], check=True)
    print_table(rows, title=f"{args.size:,} products: {args.before} vs this checkout")
    path = write_results(f"ingest_ab_{args.size}", args_settings(args), rows)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
