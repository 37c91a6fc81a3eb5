"""Helpers shared by the learned-vector benchmarks (flipkart, grocery, recommend).

Not a benchmark itself: a linear probe, a training timer that also reports peak memory, the default
data and work directories.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from bench.common import peak_rss_mb, rss_mb

REPO = Path(__file__).resolve().parents[1]
WORK_DIR = REPO / "bench" / ".work"  # databases and vector caches kept between runs (git-ignored)


def run_checked(args, run, what: str) -> dict | None:
    """results = run(args) for a benchmark's main(): None (after a one-line error on stderr) when
    args.data is not a directory or the run raises a ShopGraphError (a bad file or argument)."""
    from shopgraph.errors import ShopGraphError

    logging.basicConfig(level=logging.WARNING)
    if not args.data.is_dir():
        print(f"error: no {what} directory at {args.data} (pass --data)", file=sys.stderr)
        return None
    try:
        return run(args)
    except ShopGraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def data_root() -> Path:
    """../shared/data beside the repo ($SHOPGRAPH_DATA replaces it)."""
    env = os.environ.get("SHOPGRAPH_DATA")
    return (Path(env) if env else REPO / ".." / "shared" / "data").resolve()


@contextmanager
def training_cost() -> Iterator[dict]:
    """`with training_cost() as cost: ...` -> cost["seconds"], cost["rss_mb"] (resident memory at the
    end) and cost["peak_rss_mb"] (the process's peak so far, which includes earlier work)."""
    cost: dict = {}
    start = time.perf_counter()
    yield cost
    cost["seconds"] = round(time.perf_counter() - start, 1)
    cost["rss_mb"] = rss_mb()
    cost["peak_rss_mb"] = peak_rss_mb()


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   c: float = 10.0) -> float:
    """Accuracy of a logistic regression fit on (train_x, train_y), scored on the test rows (rows
    with label -1 are dropped on both sides). Features are standardised on the training rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    keep_train, keep_test = train_y >= 0, test_y >= 0
    scaler = StandardScaler().fit(train_x[keep_train])
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(scaler.transform(train_x[keep_train]), train_y[keep_train])
    return float((model.predict(scaler.transform(test_x[keep_test])) == test_y[keep_test]).mean())


def unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def retrieval(scores: np.ndarray, ks=(1, 5, 10), valid: np.ndarray | None = None) -> dict[str, float]:
    """scores (n, n): row i's correct item is column i. recall@k over all rows; rows or columns that
    cannot match (valid False, e.g. a product without an image) count as misses."""
    n = scores.shape[0]
    scores = scores.copy()
    if valid is not None:
        scores[:, ~valid] = -np.inf
    target = scores[np.arange(n), np.arange(n)]
    rank = (scores > target[:, None]).sum(1)
    hit_ok = np.isfinite(target) if valid is None else (valid & np.isfinite(target))
    return {f"R@{k}": round(float(((rank < k) & hit_ok).mean()), 4) for k in ks}


# Alignment settings tried by the benchmarks, chosen on validation only: with a few hundred to a few
# thousand pairs the heads overfit within a few epochs, and how hard to regularise them depends on
# the catalog (measured: +3 points of grocery top-1 between the corners of this grid).
ALIGN_GRID = ({"weight_decay": 0.2, "dropout": 0.3}, {"weight_decay": 0.2, "dropout": 0.5},
              {"weight_decay": 1.0, "dropout": 0.3}, {"weight_decay": 1.0, "dropout": 0.5})


def tune_alignment(data, base_config, dim: int, val_rows: np.ndarray, score=None, grid=ALIGN_GRID):
    """Train the alignment once per setting in grid and keep the best by score(aligner, history)
    (default: the validation recall@10 the trainer early-stopped on). Returns (aligner, history,
    chosen settings, trials: one {settings, val score, seconds, best epoch} per setting)."""
    from dataclasses import replace

    from shopgraph.gnn.alignment import train_alignment

    best, trials = None, []
    for settings in grid:
        start = time.perf_counter()
        aligner, history = train_alignment(data, replace(base_config, **settings), dim, val_rows=val_rows)
        value = score(aligner, history) if score else history.best_metrics.get("recall@10", 0.0)
        trials.append({**settings, "val score": round(float(value), 4), "best epoch": history.best_epoch,
                       "seconds": round(time.perf_counter() - start, 1)})
        if best is None or value > best[0]:
            best = (value, aligner, history, settings)
    return best[1], best[2], best[3], trials
