"""Workers (matching.workers, shopgraph/matching/workers.py): blocking's top lists in threads and
the features of a large run in forked processes give exactly what one thread gives."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from bench.synthetic_catalog import make_entities, title_a, title_b
from shopgraph.config import MatchingConfig, load_config
from shopgraph.errors import ConfigError
from shopgraph.matching import features as features_module
from shopgraph.matching import workers
from shopgraph.matching.blocking import block
from shopgraph.matching.features import PairFeaturizer
from shopgraph.matching.listings import Listings


def _catalogs(n: int = 300, seed: int = 5):
    """Two shops listing the same n synthetic products, with text vectors, brands, prices and
    attributes (so every feature family, the per-pair Python ones included, has values)."""
    rng = np.random.default_rng(seed)
    entities = make_entities(n, rng)
    base = rng.normal(size=(n, 32)).astype(np.float32)
    sides = []
    for name, title in (("a", title_a), ("b", title_b)):
        titles = [title(e, rng) for e in entities]
        vec = base + 0.6 * rng.normal(size=base.shape).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        prices = np.round(rng.uniform(5, 500, size=n), 2)
        attributes = [{"title": t, "price": f"${p:.2f}", "weight": f"{rng.integers(1, 9)} kg"}
                      for t, p in zip(titles, prices)]
        sides.append(Listings(name, [f"{name}:{i}" for i in range(n)], titles, titles,
                              brands=[t.split()[0] for t in titles], categories=["c"] * n, prices=prices,
                              vectors={"text": vec}, attributes=attributes))
    return sides


def _run(n_workers: int, monkeypatch):
    """Blocking and features on the approximate path (the one large catalogs take), the features in
    chunks of 500 pairs so several chunks go to the workers."""
    monkeypatch.setattr(features_module, "FEATURE_CHUNK", 500)
    calls = []
    fork_map = workers.fork_map
    monkeypatch.setattr(workers, "fork_map", lambda fn, items, n, sink=None: calls.append((len(items), n))
                        or fork_map(fn, items, n, sink))
    left, right = _catalogs()
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


def test_workers_setting():
    assert load_config(overrides={"matching.workers": "1"}).matching.workers == 1
    assert workers.resolve(0) == workers.available_cores() == workers.resolve(None)
    assert workers.resolve(3) == 3
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

    left, right = _catalogs()
    featurizer = PairFeaturizer(left, right)
    own, other = featurizer.channel("char")
    one = neighbours.sparse_lists(own, other, 30)
    for threads in (2, 3):
        idx, sims = neighbours.sparse_lists(own, other, 30, threads=threads)
        np.testing.assert_array_equal(idx, one[0])
        np.testing.assert_array_equal(sims, one[1])

