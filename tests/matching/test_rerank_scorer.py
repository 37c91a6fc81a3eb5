"""Two shipped models, two jobs: the monotone ready scorer decides every match, the unconstrained
rerank scorer only orders `match --rerank`'s pool (shopgraph/matching/ready.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from shopgraph.errors import ConfigError
from shopgraph.matching import blocking, pipeline, ready
from shopgraph.matching.blocking import RERANK_KEEP, rerank, widen
from shopgraph.matching.scorer import PairScorer
from tests.matching.test_matching import toy  # noqa: F401  (the hand-made two-shop fixture)
from tests.matching.test_monotone import _toy_datasets


def test_both_shipped_files_load_are_versioned_and_say_their_recipe():
    decide, order = ready.ready_scorer(), ready.rerank_scorer()
    assert decide.metrics["kind"] == ready.READY_KIND and order.metrics["kind"] == ready.RERANK_KIND
    assert decide.version.startswith("lgbm-") and order.version.startswith("lgbm-")
    assert decide.version != order.version
    assert decide.config.monotone == ready.READY_MONOTONE
    assert order.config.monotone == ""   # RERANK_MONOTONE "none": the unconstrained recipe
    assert sorted(order.metrics["trained_on"]) == sorted(decide.metrics["trained_on"])


def test_a_missing_corrupt_or_swapped_rerank_file_is_one_clear_error(tmp_path, monkeypatch):
    for name, make in (("missing.json", lambda p: None),
                       ("corrupt.json", lambda p: p.write_text("{not json", encoding="utf-8")),
                       ("swapped.json", lambda p: shutil.copy(ready.READY_PATH, p))):
        path = tmp_path / name
        make(path)
        monkeypatch.setattr(ready, "RERANK_PATH", path)
        ready.rerank_scorer.cache_clear()
        with pytest.raises(ConfigError, match=name):
            ready.rerank_scorer()
    ready.rerank_scorer.cache_clear()


class _Reversed:
    """A ranker that orders by the opposite of the ready scorer: any candidate it keeps that the ready
    scorer's order would not have kept shows which one ordered the pool."""

    def __init__(self, scorer):
        self.scorer, self.calls = scorer, 0

    def predict(self, x):
        self.calls += 1
        return 1.0 - self.scorer.predict(x)


def test_the_ranker_orders_the_pool_and_the_ready_scorer_scores_what_is_kept(toy):  # noqa: F811
    _, _, truth, featurizer = toy
    scorer, k = ready.ready_scorer(), RERANK_KEEP + 2
    ranker = _Reversed(scorer)
    by_ready, _, _ = pipeline.scored_candidates(featurizer, scorer, k, rerank_pool=3 * k)
    got, x, scores = pipeline.scored_candidates(featurizer, scorer, k, rerank_pool=3 * k, ranker=ranker)
    assert ranker.calls >= 1
    # The kept rows are what rerank gives on the ranker's scores ...
    pool = pipeline.block(featurizer, 3 * k, depth=pipeline.DEPTH_PER_K * k)
    wide, rank_scores, from_pool = widen(featurizer, pool, ranker.predict(featurizer.features(pool.rows)),
                                         lambda f, pairs: ranker.predict(f.features(pairs)))
    assert got.rows.tolist() == wide.rows[rerank(wide, rank_scores, k, fused=from_pool >= 0)].tolist()
    assert got.rows.tolist() != by_ready.rows.tolist()
    # ... and each carries its own features and the deciding scorer's score, never the ranker's.
    assert np.allclose(x, featurizer.features(got.rows), equal_nan=True)
    assert np.allclose(scores, scorer.predict(x))


def test_the_ready_scorer_is_reranked_by_the_rerank_scorer_and_provenance_says_so(monkeypatch):
    spy = _Reversed(ready.ready_scorer())
    spy.metrics, spy.version = {"kind": ready.RERANK_KIND, "trained_on": ["x"]}, "lgbm-spy"
    monkeypatch.setattr(ready, "rerank_scorer", lambda: spy)
    decide = ready.ready_scorer()
    assert ready.ranker_for(decide) is spy
    trained = PairScorer.__new__(PairScorer)
    trained.metrics = {"kind": "trained"}
    assert ready.ranker_for(trained) is trained   # a platform pair's own scorer ranks for itself
    who = ready.provenance(decide, spy)
    assert who["kind"] == "ready" and who["version"] == decide.version
    assert who["rerank"] == {"kind": "rerank", "version": "lgbm-spy", "trained_on": ["x"]}
    assert "rerank" not in ready.provenance(decide, decide)


def test_write_writes_both_files_reproducibly(tmp_path):
    from bench.ready_scorer import write_shipped

    data = _toy_datasets()
    runs = []
    for n in (1, 2):
        paths = tmp_path / f"ready{n}.json", tmp_path / f"rerank{n}.json"
        shipped = write_shipped(data, ready_path=paths[0], rerank_path=paths[1])
        assert [s["role"] for s in shipped] == ["ready", "rerank"]
        runs.append([p.read_bytes() for p in paths])
    assert runs[0] == runs[1]   # same data, same seed: the same bytes
    decide, order = PairScorer.load(tmp_path / "ready1.json"), PairScorer.load(tmp_path / "rerank1.json")
    assert decide.metrics["kind"] == "ready" and decide.config.monotone == ready.READY_MONOTONE
    assert order.metrics["kind"] == "rerank" and order.config.monotone == ""
    assert decide.version != order.version
    assert [s["version"] for s in shipped] == [decide.version, order.version]


def test_match_product_with_the_ready_scorer_orders_by_the_rerank_scorer(tmp_path, monkeypatch):
    from tests.matching.test_matching import catalog, listings

    class Store:   # what match_product reads: one product, the two platforms, their listings
        def get_nodes(self, label, ids, props):
            return [{"id": ids[0], "platform": "a"}]

    left_rows, right_rows, _ = catalog()
    prepared = listings(left_rows, "a"), listings(right_rows, "b")
    prepared = (*prepared, pipeline.PairFeaturizer(*prepared))
    monkeypatch.setattr(pipeline, "_check_platforms", lambda store, s, t: None)
    decide = ready.ready_scorer()
    spy = _Reversed(decide)
    spy.metrics, spy.version = {"kind": ready.RERANK_KIND, "trained_on": ["x"]}, "lgbm-spy"
    monkeypatch.setattr(ready, "rerank_scorer", lambda: spy)
    out = pipeline.match_product(Store(), decide, "a:17", "b", k=RERANK_KEEP + 2, limit=50,
                                 prepared=prepared, rerank_pool=3 * (RERANK_KEEP + 2))
    assert spy.calls >= 1
    assert all(m["scorer"]["version"] == decide.version and m["scorer"]["rerank"]["version"] == "lgbm-spy"
               for m in out)
    plain = pipeline.match_product(Store(), decide, "a:17", "b", k=RERANK_KEEP + 2, limit=50, prepared=prepared,
                                   rerank_pool=0)
    assert all("rerank" not in m["scorer"] for m in plain)
    # Asked for nothing, a small platform is re-ranked (default_rerank_pool), a large one is not.
    spy.calls = 0
    auto = pipeline.match_product(Store(), decide, "a:17", "b", k=RERANK_KEEP + 2, limit=50, prepared=prepared)
    assert spy.calls >= 1 and all(m["scorer"]["rerank"]["version"] == "lgbm-spy" for m in auto)
    monkeypatch.setattr(blocking, "RERANK_AUTO_PAIRS", len(prepared[0]) * blocking.RERANK_POOL - 1)
    spy.calls = 0
    large = pipeline.match_product(Store(), decide, "a:17", "b", k=RERANK_KEEP + 2, limit=50, prepared=prepared)
    assert spy.calls == 0 and all("rerank" not in m["scorer"] for m in large)


def test_the_default_rerank_pool_is_on_within_its_pair_budget_only(monkeypatch):
    budget = blocking.RERANK_AUTO_PAIRS // blocking.RERANK_POOL
    assert blocking.default_rerank_pool(budget, 20) == blocking.RERANK_POOL
    assert blocking.default_rerank_pool(budget + 1, 20) == 0
    assert blocking.default_rerank_pool(10, blocking.RERANK_POOL) == 0   # a pool no deeper than k is no rerank
    monkeypatch.setattr(blocking, "RERANK_AUTO_PAIRS", 0)
    assert blocking.default_rerank_pool(1, 20) == 0


def test_the_match_help_states_the_default_rerank_budget(capsys):
    import shopgraph.cli as cli_module

    with pytest.raises(SystemExit):
        cli_module.main(["match", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert f"default: {blocking.RERANK_POOL} when the source platform has up to " \
           f"{blocking.RERANK_AUTO_PAIRS // blocking.RERANK_POOL:,} products" in helptext.lower()
