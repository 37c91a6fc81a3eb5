"""Helpers shared by the learned-vector benchmarks (flipkart, grocery, recommend).

Not a benchmark itself: a linear probe, a training timer that also reports peak memory, the default
data and work directories.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from bench.common import peak_rss_mb, rss_mb

REPO = Path(__file__).resolve().parents[1]
WORK_DIR = REPO / "bench" / ".work"  # databases and vector caches kept between runs (git-ignored)


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
