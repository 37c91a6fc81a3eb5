"""Early stopping by k-fold cross-validation (ScorerConfig.stop_folds), what `match --train` uses."""

from __future__ import annotations

import inspect

import lightgbm as lgb
import numpy as np

from shopgraph.matching import pipeline
from shopgraph.matching.features import FEATURE_NAMES
from shopgraph.matching.scorer import PairScorer, ScorerConfig, _stratified_folds


def pairs(m: int, positives: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(m, F) random feature rows and 0/1 labels (the first `positives` are matches) that three
    columns separate with some overlap, so early stopping has a real optimum to find."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(positives), np.zeros(m - positives)].astype(np.int64)
    x = rng.normal(size=(m, len(FEATURE_NAMES))).astype(np.float32)
    x[:, :3] += 1.2 * y[:, None]
    return x, y


def test_folds_are_label_stratified_seeded_and_absent_when_a_class_is_too_small():
    y = np.r_[np.ones(13), np.zeros(50)].astype(int)
    folds = _stratified_folds(y, 5, seed=3)
    assert folds.shape == (63,) and set(folds) == set(range(5))
    for f in range(5):   # each fold holds 2-3 of the 13 matches and 10 of the 50 others
        assert (y[folds == f] == 1).sum() in (2, 3) and (y[folds == f] == 0).sum() == 10
    np.testing.assert_array_equal(folds, _stratified_folds(y, 5, seed=3))
    assert not np.array_equal(folds, _stratified_folds(y, 5, seed=4))
    assert set(_stratified_folds(np.r_[np.ones(3), np.zeros(9)].astype(int), 5, seed=0)) == {0, 1, 2}
    assert _stratified_folds(np.r_[np.ones(1), np.zeros(9)].astype(int), 5, seed=0) is None


def test_cv_stopping_refits_on_every_train_pair_with_the_folds_best_round_count():
    x, y = pairs(300, 40)
    xv, yv = pairs(100, 15, seed=1)
    config = ScorerConfig(stop_folds=5, seed=2)
    scorer = PairScorer(config).fit(x, y, xv, yv)
    assert scorer.metrics["early_stopping"] == "5-fold cv, refit on all"
    rounds = scorer.metrics["iterations"]
    assert 0 < rounds < config.max_iter   # stopped, not run to the cap
    # the same rounds, found again by hand from the seeded folds (a pair's two orders in one fold)
    x2, y2 = scorer._both_orders(x), np.r_[y, y]
    folds = np.tile(_stratified_folds(y, 5, 2), 2)
    cv = lgb.cv(scorer._params(), lgb.Dataset(x2, y2), num_boost_round=config.max_iter,
                folds=[(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(5)],
                callbacks=[lgb.early_stopping(30, verbose=False)])
    assert rounds == len(cv["valid binary_logloss-mean"])
    # ... and the model is fitted on ALL the train pairs (the hold-out fit leaves 15% of them out)
    alone = lgb.train(scorer._params(), lgb.Dataset(x2, y2), num_boost_round=rounds)
    np.testing.assert_allclose(scorer.model.predict(xv), alone.predict(xv), atol=1e-12)
    held = PairScorer(ScorerConfig(seed=2)).fit(x, y, xv, yv)
    assert held.metrics["early_stopping"] == "15% hold-out"


def test_cv_stopping_fine_tunes_from_a_base_scorer_and_falls_back_on_tiny_label_sets():
    x, y = pairs(300, 40)
    xv, yv = pairs(100, 15, seed=1)
    base = PairScorer(ScorerConfig(seed=0)).fit(x, y, xv, yv)
    tuned = PairScorer(ScorerConfig(stop_folds=5)).fit(x, y, xv, yv, init=base)
    assert tuned.metrics["fine_tuned_from"] == base.version
    assert tuned.metrics["iterations"] >= base.metrics["iterations"]   # base's trees kept, new ones added
    assert tuned.metrics["early_stopping"] == "5-fold cv, refit on all"   # the folds, not the hold-out, stopped it
    # one match: no folds can hold it out, so the 15% hold-out's rule applies (here: no stopping)
    tiny = PairScorer(ScorerConfig(stop_folds=5, max_iter=20)).fit(x[39:], y[39:], xv, yv)
    assert tiny.metrics["early_stopping"] != "5-fold cv, refit on all"


def test_match_train_stops_by_cv_and_the_choice_survives_saving(tmp_path):
    assert pipeline.TRAIN_CONFIG.stop_folds >= 2
    for function in (pipeline.fit_scorer, pipeline.train_matcher):
        assert inspect.signature(function).parameters["config"].default is pipeline.TRAIN_CONFIG
    x, y = pairs(200, 30)
    xv, yv = pairs(80, 12, seed=1)
    scorer = pipeline.fit_scorer(x, y, xv, yv, None)
    assert scorer.metrics["early_stopping"] == "5-fold cv, refit on all"
    again = PairScorer.load(scorer.save(tmp_path / "s.json"))
    assert again.config.stop_folds == pipeline.TRAIN_CONFIG.stop_folds
