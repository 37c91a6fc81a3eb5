"""Blocking channels beside the title ones: identifiers found in any column (compared by prefix) and
the rare words of the whole record."""

from __future__ import annotations

import numpy as np

from shopgraph.matching.blocking import block
from shopgraph.matching.features import FEATURE_GROUPS, FEATURE_NAMES, PairFeaturizer
from shopgraph.matching.listings import Listings


def _listings(platform, titles, records):
    return Listings(platform, [f"{platform}:{n}" for n in range(len(titles))], titles, titles,
                    attributes=[{"t": t, **r} for t, r in zip(titles, records)])


def test_a_code_in_another_column_brings_its_listing_in():
    # Five tablets with the same title; only the part number (in a column, not the title) tells them
    # apart. The title channels tie; the identifier channel must pick the right one.
    left = _listings("a", ["Apple iPad MC359LL/A tablet 16GB silver"], [{}])
    codes = ["MD528LL/A", "ME279LL/A", "MF432LL/A", "MG442LL/A", "MC359LL/A"]
    right = _listings("b", ["Apple iPad tablet 16GB silver"] * 5, [{"part": c} for c in codes])
    featurizer = PairFeaturizer(left, right)
    assert block(featurizer, k=1).rows.tolist() == [[0, 4]]
    sims = featurizer.similarity_block("ident", np.array([0]))[0]
    assert sims.argmax() == 4 and sims[4] > 0 and (sims[:4] == 0).all()


def test_a_code_cut_short_still_meets_its_product():
    left = _listings("a", ["Corsair Vengeance LPX 32GB (2x16GB) DDR4 Kit (CMK32GX4M2A2"], [{}])
    right = _listings("b", ["Corsair Vengeance LPX CMK16GX4M2B3000C15 - Prijzen",
                            "Corsair Vengeance LPX CMK32GX4M2A2133C13 - Prijzen",
                            "Corsair Vengeance LPX CMK64GX4M4A2400C16 - Prijzen"], [{}, {}, {}])
    sims = PairFeaturizer(left, right).similarity_block("ident", np.array([0]))[0]
    assert sims.argmax() == 1 and sims[1] > sims[0] and sims[1] > sims[2]


def test_catalogs_without_any_code_are_matched_all_the_same():
    # No title has a digit: the code channels have no token at all (this used to raise ValueError
    # "empty vocabulary" from the code TF-IDF), and they count as "nothing shared".
    left = _listings("a", ["red cotton shirt", "blue wool scarf"], [{}, {}])
    right = _listings("b", ["shirt in red cotton", "scarf of blue wool"], [{}, {}])
    featurizer = PairFeaturizer(left, right)
    assert featurizer.channel("ident") is None
    assert sorted(map(tuple, block(featurizer, k=1).rows.tolist())) == [(0, 0), (1, 1)]
    x = featurizer.features(np.array([[0, 0], [0, 1]]))
    assert x[:, FEATURE_NAMES.index("tfidf_code_title")].tolist() == [0.0, 0.0]


def test_identifier_agreement_is_a_feature_and_unknown_without_identifiers():
    left = _listings("a", ["Apple iPad MC359LL/A tablet", "red cotton shirt"], [{}, {}])
    right = _listings("b", ["Apple tablet", "Apple tablet"], [{"part": "MC359LL/A"}, {"part": "MD528LL/A"}])
    x = PairFeaturizer(left, right).features(np.array([[0, 0], [0, 1], [1, 0]]))
    ident = x[:, FEATURE_NAMES.index("tfidf_ident")]
    assert ident[0] > 0.9 and ident[1] < 0.5 and np.isnan(ident[2])


def test_catalogs_from_one_pool_of_offers_leave_the_context_features_unknown():
    titles = ["seagate 2tb st2000dm001", "wd red 4tb wd40efrx", "kingston 8gb ddr4 hx424c15fb2/8"]
    two_shops = PairFeaturizer(_listings("a", titles, [{}] * 3),
                               _listings("b", [t.upper() + " new" for t in titles], [{}] * 3))
    pooled = PairFeaturizer(_listings("a", titles, [{}] * 3),
                            _listings("b", [titles[0], "seagate desktop 2tb", titles[2]], [{}] * 3))
    assert not two_shops.pooled and pooled.pooled
    context = [FEATURE_NAMES.index(n) for n in FEATURE_GROUPS["context"]]
    pairs = np.array([[0, 0], [0, 1]])
    assert not np.isnan(two_shops.features(pairs)[:, context]).all()
    assert np.isnan(pooled.features(pairs)[:, context]).all()


def test_rerank_keeps_the_fused_top_and_fills_the_rest_by_score():
    from shopgraph.matching.blocking import Candidates, rerank

    # Source 0 has five fused candidates (targets 10..14 in fused order), source 1 has two.
    rows = np.array([[0, 10], [0, 11], [0, 12], [0, 13], [0, 14], [1, 20], [1, 21]])
    pool = Candidates(rows, np.linspace(1, 0.3, len(rows)))
    scores = np.array([0.0, 0.1, 0.2, 0.9, 0.5, 0.0, 0.8])
    chosen = rerank(pool, scores, k=3, keep=1)
    # Source 0: its fused best (10) stays whatever its score; then 13 (0.9) and 14 (0.5) beat 11 and 12.
    # Source 1 has only two: both kept, the fused best first.
    assert rows[chosen].tolist() == [[0, 10], [0, 13], [0, 14], [1, 20], [1, 21]]
    # keep >= k: the fused order alone, as plain blocking at k.
    assert rows[rerank(pool, scores, k=2, keep=5)].tolist() == [[0, 10], [0, 11], [1, 20], [1, 21]]


def test_rerank_refuses_scores_that_do_not_fit_the_pool():
    import pytest

    from shopgraph.errors import BadArgumentError
    from shopgraph.matching.blocking import Candidates, rerank

    pool = Candidates(np.array([[0, 1], [0, 2]]), np.array([1.0, 0.5]))
    with pytest.raises(BadArgumentError):
        rerank(pool, np.array([0.3]), k=1)
    assert rerank(Candidates(np.zeros((0, 2), np.int64), np.zeros(0)), np.zeros(0), k=5).tolist() == []


def test_look_alikes_bring_in_a_match_that_shares_nothing_with_the_source():
    # WDC-like: the source names a product by its bare code; the target catalog lists it twice, once
    # with the code (the scorer is sure of that one) and once spelt out without it (the labelled
    # match, beyond the pool). The rerank alone keeps the code's neighbours; the look-alike of the
    # sure candidate gets in at the product of the two scores.
    from shopgraph.matching.blocking import Candidates, expand, rerank

    pool = Candidates(np.array([[0, 10], [0, 11], [0, 12], [1, 20], [1, 21]]), np.array([.5, .4, .3, .5, .4]))
    scores = np.array([0.95, 0.2, 0.1, 0.5, 0.4])
    # (target, its look-alike in the target catalog) pairs, scored by the same scorer
    look = Candidates(np.array([[10, 13], [10, 11], [11, 14], [20, 22]]), np.zeros(4))
    look_scores = np.array([0.9, 0.5, 0.99, 0.99])
    old = pool.rows[rerank(pool, scores, k=2, keep=1)]
    assert [0, 13] not in old.tolist()
    wide, wide_scores, from_pool = expand(pool, scores, look, look_scores)
    # 13 added (0.95 * 0.9); 11 keeps the higher of 0.2 and 0.95 * 0.5; 14 is lent by 11, which the
    # scorer is not sure of, and 22 by 20 (0.5): neither gets in.
    assert wide.rows.tolist() == [[0, 10], [0, 11], [0, 12], [0, 13], [1, 20], [1, 21]]
    assert np.allclose(wide_scores, [0.95, 0.475, 0.1, 0.855, 0.5, 0.4])
    assert from_pool.tolist() == [0, 1, 2, -1, 3, 4] and wide.fused[3] == 0
    new = wide.rows[rerank(wide, wide_scores, k=2, keep=1)]
    assert new.tolist() == [[0, 10], [0, 13], [1, 20], [1, 21]]


def test_look_alikes_are_other_listings_of_the_same_catalog():
    from shopgraph.matching.blocking import lookalikes

    titles = ["Corsair Vengeance Red LED 32GB DDR4 3000MHz Memory Kit 2x16GB CMU32GX4M2C3000C15R",
              "Corsair Vengeance LED 32GB (2 x 16GB) DDR4 DRAM 3000MHz C15 Memory Kit - Red LED",
              "Kingston HyperX Fury 8GB DDR4 2133MHz HX421C14FB/8",
              "Samsung 850 EVO 250GB SSD MZ-75E250B", "Seagate Barracuda 2TB ST2000DM001"]
    right = _listings("b", titles, [{}] * len(titles))
    twin = PairFeaturizer(_listings("a", ["Corsair CMU32GX4M2C3000C15R"], [{}]), right).target_twin()
    look = lookalikes(twin, [0, 2], per_listing=2)
    assert (look.rows[:, 0] != look.rows[:, 1]).all()          # never itself
    assert np.bincount(look.rows[:, 0]).max() <= 2
    assert look.rows[look.rows[:, 0] == 0][0].tolist() == [0, 1]  # the spelt-out kit first
    assert lookalikes(twin, []).rows.shape == (0, 2)


def test_look_alikes_never_take_a_kept_fused_place_in_a_short_group():
    # A source with 2 fused candidates (fewer than keep=3): the look-alikes appended after them sat at
    # positions 2 and 3 and took the kept places in target-id order, so the weak one (0.01) stayed and
    # the strong one (0.9) was dropped. They compete by score for the places after the fused rows.
    from shopgraph.matching.blocking import Candidates, rerank

    wide = Candidates(np.array([[0, 10], [0, 11], [0, 12], [0, 13]]), np.array([.5, .4, 0., 0.]))
    scores = np.array([0.95, 0.3, 0.01, 0.9])
    fused = np.array([True, True, False, False])
    chosen = wide.rows[rerank(wide, scores, k=3, keep=3, fused=fused)]
    assert chosen.tolist() == [[0, 10], [0, 11], [0, 13]]
