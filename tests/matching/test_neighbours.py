"""Top lists above the size threshold (faiss HNSW for dense channels, pruned sparse products for
TF-IDF): the same candidates and context features as the exact, quadratic path on a small catalog."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.matching import neighbours
from shopgraph.matching.blocking import block, pair_completeness
from shopgraph.matching.features import FEATURE_GROUPS, FEATURE_NAMES, RANK_CAP, PairFeaturizer
from tests.matching.shops import two_shops


def _featurizers(n: int = 400):
    left, right = two_shops(n, 3)
    exact, approx = PairFeaturizer(left, right), PairFeaturizer(left, right)
    exact.approximate, approx.approximate = False, True
    return exact, approx


def test_the_threshold_picks_the_path_by_catalog_size():
    exact, _ = _featurizers(50)
    del exact.approximate
    assert not neighbours.approximate(exact)           # 50 x 50 is far below APPROX_MIN_PAIRS
    exact.n_left = exact.n_right = 20_000                # 4e8 pairs
    assert neighbours.approximate(exact)


def test_approximate_lists_find_the_exact_neighbours_on_a_small_catalog():
    exact, approx = _featurizers()
    for channel in ("text", "char", "code", "word", "ident", "record"):
        for side in (False, True):
            want_idx, want = neighbours.top_lists(exact, channel, 20, side)
            got_idx, got = neighbours.top_lists(approx, channel, 20, side)
            assert got_idx.shape == want_idx.shape
            # Similarities kept are exact cosines, so the heads agree; the exact top 5 (the ranks that
            # carry most votes) are nearly all in the approximate top 20. Char n-grams lose most to
            # the pruned queries: among look-alike siblings the low-weight n-grams order ranks 3-20.
            found = np.mean([len(set(a[a >= 0]) & set(b[:5][b[:5] >= 0])) / max(1, (b[:5] >= 0).sum())
                             for a, b in zip(got_idx, want_idx)])
            assert found >= (0.8 if channel == "char" else 0.97), (channel, side, found)
            head = (got_idx[:, 0] >= 0) & (want_idx[:, 0] >= 0)
            assert np.isclose(got[head, 0], want[head, 0], atol=1e-5).mean() >= 0.97, (channel, side)


def test_approximate_blocking_keeps_the_true_pairs_and_most_exact_candidates():
    exact, approx = _featurizers()
    want, got = block(exact, k=10), block(approx, k=10)
    assert len(got) == len(want)
    assert pair_completeness(got, want.rows) >= 0.85
    truth = np.column_stack([np.arange(400), np.arange(400)])
    assert pair_completeness(got, truth) >= pair_completeness(want, truth) - 0.01


def test_context_features_from_top_lists_agree_with_the_whole_catalog_ones():
    exact, approx = _featurizers(300)
    pairs = block(exact, k=10).rows
    names = FEATURE_GROUPS["context"]
    columns = [FEATURE_NAMES.index(n) for n in names]
    want, got = exact.features(pairs)[:, columns], approx.features(pairs)[:, columns]
    agree = np.isclose(got, want, atol=1e-4, equal_nan=True)
    for k, name in enumerate(names):
        if name.startswith("ctx_char_") and name.endswith("_rank"):
            # Char lists are approximate past their head (see above): ranks agree near the top.
            near = want[:, k] <= 2
            assert agree[near, k].mean() >= 0.99, name
        else:
            assert agree[:, k].mean() >= 0.99, name
    # The approximate run read its context from the top lists (cached on the featurizer).
    assert {("text", False), ("text", True), ("char", False), ("char", True)} <= set(approx._top_lists)
    assert not hasattr(exact, "_top_lists")


def test_context_from_lists_is_exact_when_the_list_is_rank_cap_deep():
    rng = np.random.default_rng(0)
    own, other = rng.normal(size=(40, 8)), rng.normal(size=(500, 8))
    full = own @ other.T
    idx, sims = neighbours.exact_lists(own, other, RANK_CAP)
    keys = rng.integers(0, 40, size=300)
    cols = rng.integers(0, 500, size=300)
    s = full[keys, cols]
    gap, rank = neighbours.context_from_lists(idx, sims.astype(np.float64), keys, s, 500, RANK_CAP, False)
    assert np.allclose(gap, s - full[keys].max(axis=1))
    assert np.array_equal(rank, np.minimum((full[keys] > s[:, None] + 1e-6).sum(axis=1), RANK_CAP))


@pytest.mark.parametrize("s", [0.0, 0.3, -0.5])
def test_a_sparse_list_counts_its_unlisted_zeros(s):
    # A sparse row lists only similarities > 0: two neighbours at 0.9 and 0.5, the other 8 are 0.
    idx = np.array([[3, 7, -1, -1]])
    sims = np.array([[0.9, 0.5, -np.inf, -np.inf]])
    gap, rank = neighbours.context_from_lists(idx, sims, np.array([0]), np.array([s]), 10, RANK_CAP, True)
    full = np.array([0.9, 0.5] + [0.0] * 8)
    assert gap[0] == pytest.approx(s - max(full.max(), s))
    assert rank[0] == (full > s + 1e-6).sum()


def test_one_product_on_a_large_catalog_keeps_exact_context_without_building_lists(monkeypatch):
    # Matching one product (match_product) on a catalog past the threshold must not build top lists
    # for the whole catalog: its few listings get exact blocks; a whole run's many listings use lists.
    exact, _ = _featurizers(300)
    large, _ = _featurizers(300)
    del large.approximate
    monkeypatch.setattr(neighbours, "APPROX_MIN_PAIRS", 300 * 300 - 1)
    assert neighbours.approximate(large)
    pairs = np.array([[5, 5], [5, 6], [5, 7]])
    assert np.allclose(large.features(pairs), exact.features(pairs), equal_nan=True)
    assert not large.__dict__.get("_top_lists")
    many = block(exact, k=5).rows
    large.features(many)
    assert ("char", False) in large._top_lists


def test_after_blocking_only_the_context_lists_stay_and_only_rank_cap_deep(monkeypatch):
    # Blocking builds every channel's lists DEPTH_PER_K * k deep; the chunked features keep the
    # context channels' lists RANK_CAP deep (the rest was ~0.64 GB at 100k x 100k) and give the
    # same features as a featurizer that kept everything.
    import shopgraph.matching.features as features_module

    _, approx = _featurizers(300)
    _, kept = _featurizers(300)
    pairs = block(approx, k=20).rows
    block(kept, k=20)
    assert ("word", False) in approx._top_lists and approx._top_lists[("text", False)][0].shape[1] > RANK_CAP
    monkeypatch.setattr(features_module, "FEATURE_CHUNK", 1000)
    monkeypatch.setattr(neighbours, "keep_lists", lambda *args, **kwargs: None)
    want = kept.features(pairs)
    monkeypatch.undo()
    monkeypatch.setattr(features_module, "FEATURE_CHUNK", 1000)
    got = approx.features(pairs)
    assert np.array_equal(got, want, equal_nan=True)
    wanted = {(c, side) for c in features_module.CONTEXT_CHANNELS if approx.channel(c) is not None
              for side in (False, True)}
    assert set(approx._top_lists) == wanted
    assert all(idx.shape[1] == RANK_CAP and sims.shape[1] == RANK_CAP and idx.flags.c_contiguous
               for idx, sims in approx._top_lists.values())
    # Still a cache: a later, deeper ask builds its list again.
    assert neighbours.top_lists(approx, "word", 60)[0].shape[1] == 60
