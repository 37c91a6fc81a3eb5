"""Disk and ingest of one catalog, an older checkout against this one (issue 18: derived fused vectors).

bench.scale's `gen` stage makes one synthetic text-only catalog; then, for each round, the `ingest` and
`storage` stages run on a fresh copy of it with the older code (`git archive BEFORE shopgraph bench`)
and with this checkout, alternating, each stage in its own process. Reported per run: ingest rows/s
with the load average at its start, the ingest's peak RSS, the database file, the Product table and
the fused_vec column's LadybugDB pages.

    python -m bench.fused_storage --before da6ffb5 --size 10000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.common import args_settings, print_table, write_results

ROOT = Path(__file__).resolve().parents[1]


def _stage(code: Path, name: str, d: Path, n: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--stage", name, "--dir", str(d), "--sizes", str(n),
                           "--queries", "30"], capture_output=True, text=True, cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code)})
    if done.returncode != 0:
        raise SystemExit(f"stage {name} ({code}) failed: {done.stderr.strip().splitlines()[-3:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _checkout(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit, "shopgraph", "bench"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    into.mkdir(parents=True)
    (into / "code.tar").write_bytes(archive)
    with tarfile.open(into / "code.tar") as tar:
        tar.extractall(into, filter="data")
    return into


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fused_storage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the older commit (e.g. main before the change)")
    parser.add_argument("--size", type=int, default=10000, help="products (default 10000)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs (default 2)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fused-storage-") as tmp:
        work = Path(tmp)
        codes = {"before": _checkout(args.before, work / "before"), "now": ROOT}
        (work / "gen").mkdir()
        _stage(ROOT, "gen", work / "gen", args.size)
        for round_no in range(1, args.rounds + 1):
            for label, code in codes.items():
                d = work / f"{label}{round_no}"
                d.mkdir()
                for name in ("catalog.csv", "vectors.f32", "queries.npy"):
                    shutil.copy(work / "gen" / name, d / name)
                load = round(os.getloadavg()[0], 1)
                ingest = _stage(code, "ingest", d, args.size)
                storage = _stage(code, "storage", d, args.size)
                rows.append({"code": label, "round": round_no, "load": load,
                             "ingest_rows_s": ingest["ingest_rows_s"], "ingest_peak_rss_mb": ingest["ingest_peak_rss_mb"],
                             "db_file_mb": round((d / "scale.db").stat().st_size / 2**20, 1),
                             "product_table_mb": storage["product_table_mb"], "fused_vec_mb": storage["fused_vec_mb"]})
                shutil.rmtree(d)
    print_table(rows, title=f"{args.size:,} products: {args.before} vs this checkout")
    path = write_results("fused_storage", args_settings(args), rows)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
