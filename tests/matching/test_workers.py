"""Workers (matching.workers, shopgraph/matching/workers.py): blocking's top lists in threads and
the features of a large run in forked processes give exactly what one thread gives."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys

import numpy as np
import pytest

from shopgraph.config import MatchingConfig, load_config
from shopgraph.errors import ConfigError
from shopgraph.matching import features as features_module
from shopgraph.matching import workers
from shopgraph.matching.blocking import block
from shopgraph.matching.features import PairFeaturizer
from tests.matching.shops import two_shops


def _run(n_workers: int, monkeypatch):
    """Blocking and features on the approximate path (the one large catalogs take), the features in
    chunks of 500 pairs so several chunks go to the workers."""
    monkeypatch.setattr(features_module, "FEATURE_CHUNK", 500)
    calls = []
    fork_map = workers.fork_map
    monkeypatch.setattr(workers, "fork_map", lambda fn, items, n, sink=None: calls.append((len(items), n))
                        or fork_map(fn, items, n, sink))
    left, right = two_shops(300, 5, priced=True)
    featurizer = PairFeaturizer(left, right)
    featurizer.approximate, featurizer.workers = True, n_workers
    candidates = block(featurizer, 10)
    x = featurizer.features(candidates.rows)
    assert calls and calls[0][0] > 4 and calls[0][1] == n_workers   # the chunks went to fork_map
    return candidates, x


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers need fork")
def test_workers_give_the_single_thread_candidates_and_features(monkeypatch):
    one_rows, one_x = _run(1, monkeypatch)
    for n in (2, 3):
        rows, x = _run(n, monkeypatch)
        np.testing.assert_array_equal(rows.rows, one_rows.rows)
        np.testing.assert_array_equal(rows.fused, one_rows.fused)
        # bit for bit, NaN where NaN
        np.testing.assert_array_equal(x.view(np.uint32), one_x.view(np.uint32))


def test_thread_map_keeps_the_order():
    assert workers.thread_map(lambda v: v * v, range(20), 3) == [v * v for v in range(20)]
    assert workers.thread_map(lambda v: v + 1, [], 2) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers need fork")
def test_fork_map_runs_in_children_and_returns_in_order():
    parent = os.getpid()
    import time

    def slow(v):   # slow enough that the parent cannot take every item before the child starts
        time.sleep(0.02)
        return v, os.getpid()

    got = workers.fork_map(slow, range(40), 2)
    assert [v for v, _ in got] == list(range(40))
    assert {pid for _, pid in got} - {parent}, "no item went to a child"
    seen = {}
    assert workers.fork_map(lambda v: v * 2, range(10), 3, sink=seen.__setitem__) is None
    assert seen == {v: v * 2 for v in range(10)}
    assert gc.get_freeze_count() == 0   # the collector is handed its objects back


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers need fork")
def test_a_failing_worker_is_an_error_here():
    def bad(v):
        if v == 7:
            raise ValueError("item seven")
        return v

    with pytest.raises((RuntimeError, ValueError), match="item seven"):
        workers.fork_map(bad, range(12), 2)


def test_workers_setting(monkeypatch):
    """0 (the default) takes the cores this process may use, no more than a user's OMP_NUM_THREADS, a
    container's CPU quota or DEFAULT_MAX_WORKERS (review: a 2-CPU container on a 64-core host forked 63
    children, ~150 MB each at 100k; OMP_NUM_THREADS=1, set to share a machine, was overridden)."""
    assert load_config(overrides={"matching.workers": "1"}).matching.workers == 1
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert workers.resolve(0) == min(workers.available_cores(), workers.DEFAULT_MAX_WORKERS) == workers.resolve(None)
    assert workers.resolve(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert workers.resolve(0) == 1 and workers.resolve(2) == 2  # asked for: as asked
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(workers, "_cgroup_quota", lambda: 2)
    assert workers.available_cores() == 2 and workers.resolve(0) == 2
    monkeypatch.setattr(workers, "_cgroup_quota", lambda: None)
    assert workers.available_cores() == 64 and workers.resolve(0) == workers.DEFAULT_MAX_WORKERS
    with pytest.raises(ConfigError):
        MatchingConfig(workers=-1)


def test_long_lived_hands_the_objects_back():
    with workers.long_lived():
        assert gc.get_freeze_count() > 0
        kept = [[] for _ in range(10)]
        workers.settle()
        assert kept
    assert gc.get_freeze_count() == 0


def test_scores_on_lightgbm_threads_are_the_single_thread_scores(monkeypatch):
    from shopgraph.matching import scorer as scorer_module
    from shopgraph.matching.features import FEATURE_NAMES
    from shopgraph.matching.ready import ready_scorer

    scorer = ready_scorer()
    monkeypatch.setattr(scorer_module, "PREDICT_CHUNK", 256)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(3000, len(FEATURE_NAMES))).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.1] = np.nan
    one = scorer.predict(x)
    np.testing.assert_array_equal(scorer.predict(x, workers=2), one)
    np.testing.assert_array_equal(scorer.predict(x, workers=3), one)


def test_sparse_lists_with_threads_are_the_single_thread_lists():
    from shopgraph.matching import neighbours

    left, right = two_shops(300, 5, priced=True)
    featurizer = PairFeaturizer(left, right)
    own, other = featurizer.channel("char")
    one = neighbours.sparse_lists(own, other, 30)
    for threads in (2, 3):
        idx, sims = neighbours.sparse_lists(own, other, 30, threads=threads)
        np.testing.assert_array_equal(idx, one[0])
        np.testing.assert_array_equal(sims, one[1])



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers run on Linux only")
def test_an_error_reading_the_childrens_results_ends_the_run_not_a_partial_one():
    """Review: the thread reading the children's results died on an error (unpickling, the sink) and
    fork_map returned as if done, the missing chunks left as whatever the caller's matrix held."""
    import threading
    import time

    def slow(v):
        time.sleep(0.01)
        return v

    def sink(n, v):
        if threading.current_thread() is not threading.main_thread():
            raise MemoryError("no room for this chunk")

    with pytest.raises(RuntimeError, match="no room for this chunk"):
        workers.fork_map(slow, range(40), 2, sink=sink)
    assert gc.get_freeze_count() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers run on Linux only")
def test_after_an_error_here_the_children_stop_and_nothing_is_left_running():
    """Review: when the parent's own share failed, the children went on taking items, each was waited
    for 5 s before being stopped, and the reading thread stayed blocked (holding the results) forever."""
    import threading
    import time

    parent = os.getpid()

    def work(v):
        if os.getpid() == parent and v >= 3:
            raise ValueError("the parent's item failed")
        time.sleep(0.05)
        return v

    started = time.perf_counter()
    with pytest.raises(ValueError, match="the parent's item failed"):
        workers.fork_map(work, range(200), 3)
    assert time.perf_counter() - started < 4.0
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name.endswith("(drain)") and t.is_alive()]
    assert not multiprocessing.active_children()
