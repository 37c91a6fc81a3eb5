"""treeshap.tree_contributions: LightGBM's own TreeSHAP, asked once per decision pattern of each tree,
gives every row what pred_contrib gives it (decisions with missing values included)."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.matching import treeshap


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 3] = np.round(x[:, 3])            # many exact zeros
    x[rng.random(n) < 0.2, 1] = np.nan     # missing values, learnt as such
    y = ((np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1], nan=1.0) * x[:, 2] - 0.5 * x[:, 3]) > 0).astype(int)
    return x, y


@pytest.fixture(scope="module", params=[{"num_leaves": 31}, {"num_leaves": 40, "zero_as_missing": True},
                                                {"num_leaves": 80}])   # the last: trees too big to code
def booster(request):
    import lightgbm as lgb

    x, y = _data(3000, 0)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5,
              "deterministic": True, **request.param}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=40)


def _leaf(tree: treeshap._Tree, x: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The leaf each row reaches by its pattern code (bit k: left at split k)."""
    out = np.empty(len(x), dtype=np.int64)
    for r in range(len(x)):
        node = 0
        while node >= 0:
            node = tree.left[node] if (int(code[r]) >> node) & 1 else tree.right[node]
        out[r] = ~node
    return out


def test_patterns_send_every_row_to_lightgbms_leaf(booster):
    x, _ = _data(500, 1)
    x[:5, 3] = 0.0
    x[5:10, 0] = np.nan   # missing where training had none
    trees = treeshap.parse_trees(booster.model_to_string())
    leaves = booster.predict(x, pred_leaf=True)
    checked = 0
    for t, tree in enumerate(trees):
        if tree.num_leaves > 1 and len(tree.split_feature) <= treeshap._MAX_CODED_SPLITS:
            assert np.array_equal(_leaf(tree, x, treeshap._patterns(tree, x)), leaves[:, t])
            checked += 1
    assert checked or all(len(tree.split_feature) > treeshap._MAX_CODED_SPLITS for tree in trees)


def test_contributions_are_lightgbms(booster, monkeypatch):
    x, _ = _data(4000, 2)
    x[:7, 0] = np.nan
    monkeypatch.setattr(treeshap, "ROW_CHUNK", 1500)   # several chunks, the last one short
    expected = booster.predict(x, pred_contrib=True)
    for small in (1, treeshap.SMALL_TREE):   # every tree by patterns, and runs of small trees at once
        monkeypatch.setattr(treeshap, "SMALL_TREE", small)
        got = treeshap.tree_contributions(booster, x)
        assert got.shape == expected.shape
        assert np.allclose(got, expected, rtol=0, atol=1e-12)


def test_pair_scorer_contributions_the_same_through_either_path(monkeypatch):
    from shopgraph.matching import scorer as scorer_module
    from shopgraph.matching.features import FEATURE_NAMES
    from shopgraph.matching.scorer import PairScorer, ScorerConfig

    rng = np.random.default_rng(4)
    x = rng.random((1200, len(FEATURE_NAMES))).astype(np.float32)
    y = (x[:, 0] + x[:, 5] > 1).astype(int)
    fitted = PairScorer(ScorerConfig(max_iter=30, early_stopping=False)).fit(x[:800], y[:800], x[800:], y[800:])
    direct, direct_words = fitted.contributions(x[:300]), fitted.evidence(x[:300])   # 600 rows: LightGBM itself
    monkeypatch.setattr(scorer_module, "TREESHAP_MIN_ROWS", 2)
    assert np.allclose(fitted.contributions(x[:300]), direct, rtol=0, atol=1e-12)
    assert fitted.evidence(x[:300]) == direct_words
