"""`shopgraph train` on the demo graph: wall time per model, old thread setting against the new one.

    python -m bench.train_speed                       # 2 rounds of (old, new), seed 0
    python -m bench.train_speed --rounds 1 --seeds 0,1,2
    python -m bench.train_speed --sweep 400,2000,10000   # also: one GAT step, 1 vs 2 threads, by size

The graph is the README's demo (`shopgraph demo`: 240 products on two shops, 390 listings, users,
SAME_AS labels), made once in --workdir; every run trains a fresh copy of it (database and encoder
cache, so the text model's title vectors are cached after the first run and every run pays the
same). Both settings run in this process, alternating, so a busy machine weighs on both alike:

- old: align.threads and gnn.threads = torch's own count (every core: what training did before);
- new: 0 = auto (shopgraph/gnn/threads.py: one thread for small work).

Per run: seconds of the alignment and of the GNN (their TrainReports: the trainer's wall time),
of the whole ShopGraph.train() call, epochs, and the validation figures, so quality is compared
beside time. With several --seeds, each seed trains under both settings (align.seed, gnn.seed).
--sweep times one full-batch GAT training step and one validation on synthetic graphs of the given
product counts on 1 and on 2 threads: where one thread stops paying (SMALL_WORK).
The load average is printed with each run: on a shared 2-core machine it moves the figures a lot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from bench.common import args_settings, print_table, write_results
from bench.learned import WORK_DIR


def demo_db(workdir: Path) -> Path:
    """The README's demo graph in workdir (made once, as `shopgraph demo` makes it)."""
    from shopgraph.demo.run import run_demo

    db = workdir / "demo.db"
    if not db.exists():
        run_demo(workdir, say=lambda _: None)
    return db


def fresh_copy(db: Path, directory: Path) -> Path:
    """The database and its encoder cache (no models, no index mirrors) in a new directory."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    copy = directory / db.name
    shutil.copyfile(db, copy)
    cache = Path(f"{db}.cache.sqlite")
    if cache.exists():
        shutil.copyfile(cache, f"{copy}.cache.sqlite")
    return copy


def train_once(db: Path, threads: int, seed: int) -> dict:
    """One ShopGraph.train() on db with align/gnn threads and seeds set: seconds and figures."""
    from shopgraph.config import Config, with_overrides
    from shopgraph.queries.api import ShopGraph

    config = with_overrides(Config(), {"align.threads": threads, "gnn.threads": threads,
                                       "align.seed": seed, "gnn.seed": seed})
    load = os.getloadavg()[0]
    with ShopGraph.open(db, config=config) as sg:
        started = time.perf_counter()
        reports = sg.train()
        total = time.perf_counter() - started
    row = {"train_s": round(total, 1), "load": round(load, 1)}
    for report in reports:
        kind = "align" if report.model == "align" else "gnn"
        row[f"{kind}_s"] = round(report.seconds, 1)
        row[f"{kind}_epochs"] = f"{report.best_epoch}/{report.epochs}"
        row.update({f"{kind}:{k}": round(v, 3) for k, v in report.metrics.items()})
    return row


def sweep(sizes: list[int]) -> list[dict]:
    """One GAT training step (forward + backward) and one validation on a synthetic graph of n
    products (n/13 brands, n/6 categories, n/6 users, 3n interactions), on 1 and 2 threads."""
    import torch

    from shopgraph.config import GNNConfig
    from shopgraph.gnn.graph_data import TrainingGraph
    from shopgraph.gnn.models import build_model
    from shopgraph.gnn.objectives import objectives_for
    from shopgraph.gnn.task import GNNTask
    from shopgraph.gnn.training import build_model_args

    rows, before = [], torch.get_num_threads()
    for n in sizes:
        g = torch.Generator().manual_seed(0)
        counts = {"product": n, "brand": max(5, n // 13), "category": max(5, n // 6), "user": max(5, n // 6)}
        x = {"product": torch.randn(n, 2176, generator=g), "brand": torch.randn(counts["brand"], 384, generator=g),
             "category": torch.randn(counts["category"], 384, generator=g)}

        def links(src: int, dst: int, m: int):
            return torch.stack([torch.randint(src, (m,), generator=g), torch.randint(dst, (m,), generator=g)])

        edges = {("product", "of_brand", "brand"): links(n, counts["brand"], n),
                 ("product", "in_category", "category"): links(n, counts["category"], n),
                 ("user", "interacted", "product"): links(counts["user"], n, 3 * n)}
        graph = TrainingGraph(counts, x, {"user": torch.arange(counts["user"])}, edges,
                              {t: [str(i) for i in range(c)] for t, c in counts.items()},
                              torch.full((counts["category"],), -1), torch.ones(counts["category"], dtype=torch.long))
        config = GNNConfig()
        objectives = objectives_for(graph, "auto", 128, 1, 0.1)
        model = build_model("gat", **build_model_args(config, graph, 128))
        task = GNNTask(model, graph, objectives, config.batch_size, torch.Generator().manual_seed(0))
        batch = next(iter(task.batches(torch.Generator().manual_seed(0))))
        timed: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for threads in (2, 1, 2, 1):
            torch.set_num_threads(threads)
            started = time.perf_counter()
            task.loss(batch).backward()
            step = time.perf_counter() - started
            with torch.no_grad():
                task.validate()
            timed[threads].append((step, time.perf_counter() - started - step))
        torch.set_num_threads(before)
        best = {t: (min(s for s, _ in v), min(v_ for _, v_ in v)) for t, v in timed.items()}
        rows.append({"products": n, "work": graph.work(128), "step_2t_s": round(best[2][0], 3),
                     "step_1t_s": round(best[1][0], 3), "validate_2t_s": round(best[2][1], 3),
                     "validate_1t_s": round(best[1][1], 3), "step_ratio_2t/1t": round(best[2][0] / best[1][0], 2),
                     "load": round(os.getloadavg()[0], 1)})
        print_table(rows[-1:], title=None)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--workdir", type=Path, default=WORK_DIR / "train_speed",
                        help="where the demo graph and the copies trained go")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (old, new) per seed")
    parser.add_argument("--seeds", default="0", help="comma list of training seeds")
    parser.add_argument("--sweep", default="", help="comma list of product counts for the thread sweep")
    parser.add_argument("--no-train", action="store_true", help="only the sweep")
    args = parser.parse_args(argv)
    import torch

    old_threads = torch.get_num_threads()  # what training used before: torch's own count
    results: dict = {"old_threads": old_threads, "runs": [], "sweep": []}
    if not args.no_train:
        db = demo_db(args.workdir)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        for seed in seeds:
            for round_ in range(args.rounds):
                for name, threads in (("old", old_threads), ("new", 0)):
                    row = {"seed": seed, "round": round_ + 1, "setting": name,
                           **train_once(fresh_copy(db, args.workdir / "run"), threads, seed)}
                    results["runs"].append(row)
                    print_table([row], title=None)
                    save(args, results)  # each run kept as it ends: a stopped benchmark keeps what it measured
        print_table(results["runs"], title="train on the demo graph (seconds; best epoch/epochs run; validation)")
        summary = []
        for seed in seeds:
            got = {name: [r for r in results["runs"] if r["seed"] == seed and r["setting"] == name]
                   for name in ("old", "new")}
            row = {"seed": seed}
            for key in ("train_s", "align_s", "gnn_s"):
                old = sorted(r[key] for r in got["old"])[len(got["old"]) // 2]
                new = sorted(r[key] for r in got["new"])[len(got["new"]) // 2]
                row.update({f"old_{key}": old, f"new_{key}": new, f"{key}_ratio": round(old / max(new, 1e-9), 2)})
            summary.append(row)
        results["summary"] = summary
        print_table(summary, title="median old vs new, and old/new ratio (>1: new is faster)")
    if args.sweep:
        results["sweep"] = sweep([int(s) for s in args.sweep.split(",") if s.strip()])
        print_table(results["sweep"], title="one GAT step and one validation, 2 vs 1 threads (best of 2)")
    print(f"\nwrote {save(args, results)}")
    return results


def save(args, results: dict) -> Path:
    return write_results("train_speed", args_settings(args), results,
                         notes=["old = torch's own thread count while training; new = align/gnn.threads 0 (auto)",
                                "alternating in one process; load = 1-minute load average at the run's start"])


if __name__ == "__main__":
    main()
