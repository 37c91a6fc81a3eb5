"""CLI search latency on the demo graph: the whole `shopgraph search` command, as a user runs it.

    python -m bench.cli_search                    # 5 runs per query
    python -m bench.cli_search --runs 3 --workdir /tmp/cli

The graph is the demo catalog (shopgraph.demo.catalog, 48 products, seed 3) ingested once into
--workdir with the default models (already on disk: nothing is downloaded). Each run is a new process
`python -m shopgraph search QUERY --db demo.db -k 10`, timed from start to exit, for one query of each
kind: an identifier (a model number from the catalog: hybrid search loads no model), a descriptive
English query (runs the text model: its numpy forward pass, no torch), a query in Chinese (BM25 over
character bigrams: no model), and the English query again on a trained copy of the demo graph (the
learned channel too: the alignment model's numpy weights).
Baseline in the same run, side by side: `python -c "import shopgraph.cli"` (interpreter start and the
CLI's imports), so the ratio says what the search itself adds. In-process breakdown (one process):
import, open, first search (with model load), second search.
The bar (issue 17): a text search answers in under 2 s (p50 of the command's wall time).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, percentiles, print_table, report_bars, write_results
from bench.learned import WORK_DIR

REPO = Path(__file__).resolve().parents[1]
BAR_S = 2.0
PACKAGES = ("numpy", "torch", "sentence-transformers", "safetensors", "tokenizers", "tantivy", "real-ladybug")


def demo_db(workdir: Path) -> Path:
    """The demo graph in workdir (made once)."""
    from shopgraph.demo.catalog import generate_demo_catalog
    from shopgraph.queries.api import ShopGraph

    db = workdir / "demo.db"
    if not db.exists():
        catalog = generate_demo_catalog(workdir / "catalog", n_products=48, seed=3)
        with ShopGraph.open(db) as graph:
            for data, mapping in catalog.sources:
                graph.ingest(data, mapping, progress=False)
    return db


def trained_db(workdir: Path) -> Path:
    """A second demo graph, trained (a few epochs: the timing, not the model's quality, is measured
    here), so a text search also runs the learned channel."""
    trained = workdir / "trained"
    db = demo_db(trained)
    if not Path(f"{db}.models").is_dir():
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        subprocess.run([sys.executable, "-m", "shopgraph", "train", "--db", str(db), "--no-progress",
                        "--set", "align.epochs=5", "--set", "gnn.epochs=5"], cwd=REPO, env=env, check=True,
                       capture_output=True)
    return db


def queries(db: Path) -> dict[str, str]:
    from shopgraph.queries.api import ShopGraph
    from shopgraph.search.analysis import model_numbers

    with ShopGraph.open(db, read_only=True) as graph:
        titles = [r["t"] for r in graph.cypher("MATCH (p:Product) RETURN p.title AS t ORDER BY p.id")]
    identifier = next(k for t in titles for k in model_numbers(t))
    return {"identifier": identifier.upper(), "text": "wireless headphones with long battery", "chinese": "无线耳机",
            "text, trained graph": "wireless headphones with long battery"}


def wall(cmd: list[str], cpu: list | None = None) -> float:
    """Wall seconds of one command; its CPU seconds (user + system) appended to `cpu` when given
    (on a loaded machine the CPU time says what the command costs, the wall time what a user waits)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return seconds


def in_process(db: Path, text: str) -> dict[str, float]:
    """Seconds per step of one search in a fresh process (import, open, first and second search)."""
    code = f"""
import time, json
t0 = time.perf_counter()
from shopgraph.queries.api import ShopGraph
t1 = time.perf_counter()
g = ShopGraph.open({str(db)!r}, read_only=True)
t2 = time.perf_counter()
g.search({text!r}, k=10)
t3 = time.perf_counter()
g.search({text!r} + " black", k=10)
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "open": t2 - t1, "first search": t3 - t2, "second search": t4 - t3}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True, text=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="runs per query (default 5)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR / "cli_search", help="where the demo graph is kept")
    p.add_argument("--out", default="cli_search", help="results name (bench/results/NAME.json)")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    db = demo_db(args.workdir)
    asked = queries(db)
    base = [wall([sys.executable, "-c", "import shopgraph.cli"]) for _ in range(args.runs)]
    rows, results = [], {"baseline_import_s": percentiles(base)}
    trained = trained_db(args.workdir)
    for kind, text in asked.items():
        on = trained if kind.endswith("trained graph") else db
        cmd = [sys.executable, "-m", "shopgraph", "search", text, "--db", str(on), "-k", "10"]
        wall([sys.executable, "-m", "shopgraph", "search", text, "--db", str(on), "-k", "1"])  # warm the page cache
        cpu: list[float] = []
        times = np.asarray([wall(cmd, cpu) for _ in range(args.runs)])
        pct = percentiles(times)
        results[kind] = {"query": text, "seconds": pct, "cpu_seconds": percentiles(cpu)}
        rows.append({"query kind": kind, "query": text, "p50 s": pct["p50"], "p99 s": pct["p99"],
                     "cpu p50 s": results[kind]["cpu_seconds"]["p50"],
                     "import-only p50 s": results["baseline_import_s"]["p50"],
                     "ratio": pct["p50"] / results["baseline_import_s"]["p50"]})
    print_table(rows, title=f"`shopgraph search` wall time, {args.runs} runs each (demo graph)")
    steps = in_process(db, asked["text"])
    results["in_process_text_s"] = steps
    print_table([{k: round(v, 3) for k, v in steps.items()}], title="one process, text query (seconds)")
    results["load_average"] = os.getloadavg()
    print(f"load average while measuring: {results['load_average']}")
    report_bars(results, {f"text search < {BAR_S:g} s": results["text"]["seconds"]["p50"] < BAR_S,
                          f"text search on the trained graph < {BAR_S:g} s":
                              results["text, trained graph"]["seconds"]["p50"] < BAR_S})
    print(write_results(args.out, args_settings(args), results, packages=PACKAGES))


if __name__ == "__main__":
    main()
