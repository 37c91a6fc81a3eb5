"""Monotone pair scorers: every feature's direction comes from its definition (FEATURE_DIRECTIONS),
a scorer configured monotone never moves against it, and the shipped ready scorer is one."""

import numpy as np
import pytest

from shopgraph.errors import BadArgumentError
from shopgraph.matching.features import FEATURE_DIRECTIONS, FEATURE_NAMES, FINGERPRINT_FEATURES, swapped_columns
from shopgraph.matching.ready import READY_MONOTONE, ready_scorer
from shopgraph.matching.scorer import MONOTONE_METHODS, PairScorer, ScorerConfig

# Values a feature may take, from -1 (cosines, gaps) to past RANK_CAP (ranks, counts).
GRID = np.r_[np.linspace(-1.0, 1.0, 41), 1.5, 2, 3, 5, 10, 20, 50, 60]


def _steps_against(scorer: PairScorer, rows: np.ndarray, name: str) -> float:
    """The largest move of the score against `name`'s direction while `name` alone walks up GRID
    from each of `rows` (0 when the scorer never moves that way)."""
    k, sign = FEATURE_NAMES.index(name), FEATURE_DIRECTIONS[name]
    worst = 0.0
    for row in rows:
        walk = np.repeat(row[None, :], len(GRID), axis=0)
        walk[:, k] = GRID
        steps = np.diff(scorer.predict(walk)) * sign
        worst = max(worst, float(-steps.min()))
    return worst


def test_every_feature_has_a_direction_read_from_its_definition():
    assert tuple(FEATURE_DIRECTIONS) == FEATURE_NAMES
    assert set(FEATURE_DIRECTIONS.values()) <= {-1, 0, 1}
    # Asking a pair the other way round swaps per-side features: both sides must share a direction.
    swap = swapped_columns()
    assert all(FEATURE_DIRECTIONS[n] == FEATURE_DIRECTIONS[FEATURE_NAMES[swap[k]]] for k, n in enumerate(FEATURE_NAMES))
    for name, sign in FEATURE_DIRECTIONS.items():
        if "conflict" in name or "unmatched" in name and "fuzz" not in name or name.endswith("_rank"):
            assert sign == -1, name
        if name.startswith(("cos_", "tfidf_", "fuzz_")) or "agree" in name or name.endswith(("_equal", "_shared")):
            assert sign == 1, name
    # The per-side sizes say how a catalog writes, not whether two listings agree.
    assert all(FEATURE_DIRECTIONS[n] == 0 for n in FINGERPRINT_FEATURES)


@pytest.fixture(scope="module")
def bumpy():
    """Pairs whose label rises then falls with cos_text (a match only in the middle) and rises with
    model_conflict: the opposite of both features' directions past the middle."""
    rng = np.random.default_rng(0)
    x = rng.random((800, len(FEATURE_NAMES))).astype(np.float32)
    cos, conflict = x[:, FEATURE_NAMES.index("cos_text")], x[:, FEATURE_NAMES.index("model_conflict")]
    y = (((cos > 0.3) & (cos < 0.6)) | (conflict > 0.8)).astype(int)
    return x[:600], y[:600], x[600:], y[600:]


def _fit(bumpy, **options) -> PairScorer:
    config = ScorerConfig(min_samples_leaf=5, early_stopping=False, max_iter=60, **options)
    return PairScorer(config).fit(*bumpy)


def test_an_unconstrained_scorer_learns_the_bump(bumpy):
    # The data does pull against the directions: without constraints the scores do bend.
    scorer, rows = _fit(bumpy), bumpy[2][:10]
    assert _steps_against(scorer, rows, "cos_text") > 0.2
    assert _steps_against(scorer, rows, "model_conflict") > 0.2


@pytest.mark.parametrize("method", MONOTONE_METHODS)
def test_a_monotone_scorer_never_moves_against_a_direction(bumpy, method):
    scorer, rows = _fit(bumpy, monotone=method), bumpy[2][:10]
    for name in ("cos_text", "model_conflict", "ctx_text_row_rank", "ctx_text_row_gap", "tfidf_char_title"):
        assert _steps_against(scorer, rows, name) <= 1e-12, (method, name)
    # Features with no direction stay free.
    assert scorer._params()["monotone_constraints"][FEATURE_NAMES.index("words_left")] == 0


def test_monotone_options_survive_save_and_load(bumpy, tmp_path):
    scorer = _fit(bumpy, monotone="basic", monotone_penalty=0.5)
    back = PairScorer.load(scorer.save(tmp_path / "scorer.json"))
    assert (back.config.monotone, back.config.monotone_penalty) == ("basic", 0.5)
    np.testing.assert_array_equal(back.predict(bumpy[2]), scorer.predict(bumpy[2]))


def test_an_unknown_monotone_method_is_refused(bumpy):
    with pytest.raises(BadArgumentError, match="monotone"):
        _fit(bumpy, monotone="strict")


def test_the_shipped_ready_scorer_is_monotone():
    scorer = ready_scorer()
    assert scorer.config.monotone == READY_MONOTONE
    rng = np.random.default_rng(1)
    rows = rng.random((8, len(FEATURE_NAMES)))
    rows[rng.random(rows.shape) < 0.2] = np.nan   # unknown features are common
    worst = {name: _steps_against(scorer, rows, name) for name, sign in FEATURE_DIRECTIONS.items() if sign}
    assert max(worst.values()) <= 1e-12, {n: w for n, w in worst.items() if w > 1e-12}


def _toy_datasets(n_sets: int = 2, rows: int = 200) -> dict:
    """bench.ready_scorer's input shape ({name: {"features": {split: x}, "bench": .splits[split].labels}})
    over random features, labels from cos_text and the per-side word counts."""
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    out = {}
    for d in range(n_sets):
        features, splits = {}, {}
        for split in ("train", "valid", "test"):
            x = rng.random((rows, len(FEATURE_NAMES))).astype(np.float32)
            y = ((x[:, FEATURE_NAMES.index("cos_text")] + x[:, FEATURE_NAMES.index("words_left")]) > 1).astype(int)
            features[split], splits[split] = x, SimpleNamespace(labels=y)
        out[f"set{d}"] = {"features": features, "bench": SimpleNamespace(splits=splits)}
    return out


def test_the_ready_recipe_is_monotone_and_can_hide_fingerprints():
    from bench.ready_scorer import ready_config, train_ready

    data = _toy_datasets()
    scorer = train_ready(data, data)
    assert scorer.config.monotone == READY_MONOTONE   # the bench retrains the shipped recipe by default
    assert ready_config("none").monotone == ""
    hidden = train_ready(data, data, hidden=FINGERPRINT_FEATURES)
    gain = dict(zip(FEATURE_NAMES, hidden.model.feature_importance("split")))
    assert all(gain[n] == 0 for n in FINGERPRINT_FEATURES) and gain["cos_text"] > 0
    assert dict(zip(FEATURE_NAMES, scorer.model.feature_importance("split")))["words_left"] > 0
