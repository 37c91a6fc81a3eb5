"""Relationships into a few hub nodes, stored both ways or forward only: commit time, memory, queries.

Why HAS_ATTRIBUTE is stored forward only (docs/architecture.md, "Writes"): a bare LadybugDB graph
shaped like shopgraph's attributes (Product -> a handful of Attribute {key} nodes, two STRING and one
DOUBLE property on each edge), filled in transactions of `--batch` products with `--keys` edges each,
once with both directions (LadybugDB's default) and once `WITH (storage_direction = 'fwd')`, each in
its own process with its own buffer pool (`--pool-mb`). Reports each commit's seconds and the
process's resident MB, then the hub-side and product-side queries on both graphs; the JSON keeps
every commit. A pool too small for a checkpoint ends that side's run with LadybugDB's error, reported.

    python -m bench.rel_storage                      # 12 commits of 32,768 products, 8 keys, 2 GB pool
    python -m bench.rel_storage --commits 30 --pool-mb 128
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import args_settings, print_table, rss_mb, write_results

ROOT = Path(__file__).resolve().parent.parent
QUERIES = {
    "count one key's products (from the hub)": ("MATCH (a:Attribute {key: 'k0'})<-[:HAS_ATTRIBUTE]-(p:Product) "
                                                "RETURN count(*)"),
    "value filter over one key": ("MATCH (p:Product)-[e:HAS_ATTRIBUTE]->(a:Attribute {key: 'k3'}) "
                                  "WHERE e.value = 'v5' RETURN count(*)"),
    "one product's attributes": "MATCH (p:Product {id: 'p00000005'})-[e:HAS_ATTRIBUTE]->(a) RETURN count(*)",
}


def fill(direction: str, path: Path, commits: int, batch: int, keys: int, pool_mb: int) -> dict:
    """One side, in this process: the commits, then the queries (best of 3, ms)."""
    import ladybug
    import numpy as np
    import pyarrow as pa

    db = ladybug.Database(str(path), buffer_pool_size=pool_mb * 2**20)
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE Product(id STRING, title STRING, PRIMARY KEY(id))")
    conn.execute("CREATE NODE TABLE Attribute(key STRING, PRIMARY KEY(key))")
    storage = "" if direction == "both" else " WITH (storage_direction = 'fwd')"
    conn.execute(f"CREATE REL TABLE HAS_ATTRIBUTE(FROM Product TO Attribute, value STRING, norm STRING, "
                 f"number DOUBLE){storage}")
    for k in range(keys):
        conn.execute("CREATE (:Attribute {key: $k})", {"k": f"k{k}"})
    rows, error = [], None
    for c in range(commits):
        ids = [f"p{c * batch + i:08d}" for i in range(batch)]
        products = pa.table({"id": ids, "title": [f"title of {i}" for i in ids]})
        n = batch * keys
        edges = pa.table({"from": np.repeat(ids, keys), "to": [f"k{k}" for k in range(keys)] * batch,
                          "value": [f"v{i % 97}" for i in range(n)], "norm": [f"n{i % 97}" for i in range(n)],
                          "number": np.arange(n, dtype=np.float64)})
        try:
            conn.execute("BEGIN TRANSACTION")
            conn.execute("COPY Product FROM $t", {"t": products})
            conn.execute("COPY HAS_ATTRIBUTE FROM $t", {"t": edges})
            started = time.perf_counter()
            conn.execute("COMMIT")
        except RuntimeError as e:  # e.g. "buffer pool is full" in a checkpoint
            error = f"commit {c + 1}: {str(e).splitlines()[0][:200]}"
            break
        rows.append({"products": (c + 1) * batch, "commit_s": round(time.perf_counter() - started, 2),
                     "rss_mb": rss_mb()})
    queries = {}
    if error is None:
        for name, text in QUERIES.items():
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                result = conn.execute(text)
                result.get_next()
                best = min(best, (time.perf_counter() - started) * 1000)
            queries[name] = round(best, 1)
    return {"direction": direction, "commits": rows, "error": error, "queries_ms": queries}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rel_storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=12, help="transactions per side (default 12)")
    parser.add_argument("--batch", type=int, default=32768, help="products per transaction (default 32768)")
    parser.add_argument("--keys", type=int, default=8, help="attribute keys, the hubs (default 8)")
    parser.add_argument("--pool-mb", type=int, default=2048, help="LadybugDB buffer pool per side (default 2048)")
    parser.add_argument("--out", default="rel_storage", help="results name (bench/results/NAME.json)")
    parser.add_argument("--side", choices=("both", "fwd"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:  # a child process: one side, one JSON line
        print(json.dumps(fill(args.side, args.path, args.commits, args.batch, args.keys, args.pool_mb)))
        return
    sides = {}
    with tempfile.TemporaryDirectory(prefix="rel-storage-") as tmp:
        for side in ("both", "fwd"):
            done = subprocess.run([sys.executable, "-m", "bench.rel_storage", "--side", side, "--path",
                                   str(Path(tmp) / f"{side}.db"), "--commits", str(args.commits), "--batch",
                                   str(args.batch), "--keys", str(args.keys), "--pool-mb", str(args.pool_mb)],
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"side {side} failed: {done.stderr.strip().splitlines()[-3:]}")
            sides[side] = json.loads(done.stdout.strip().splitlines()[-1])
            shutil.rmtree(Path(tmp) / f"{side}.db", ignore_errors=True)
    both, fwd = sides["both"]["commits"], sides["fwd"]["commits"]
    table = [{"products": b["products"], "both commit s": b["commit_s"], "fwd commit s": f["commit_s"],
              "both RSS MB": b["rss_mb"], "fwd RSS MB": f["rss_mb"]} for b, f in zip(both, fwd)]
    print_table(table, title=f"commits of {args.batch:,} products x {args.keys} attribute edges, pool {args.pool_mb} MB")
    for side in ("both", "fwd"):
        if sides[side]["error"]:
            print(f"{side}: stopped at {sides[side]['error']}")
    queries = [{"query": q, "both ms": sides["both"]["queries_ms"].get(q), "fwd ms": sides["fwd"]["queries_ms"].get(q)}
               for q in QUERIES]
    print_table(queries, title="queries, best of 3 (after every commit)")
    path = write_results(args.out, args_settings(args), {"sides": sides, "commits": table, "queries": queries})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
