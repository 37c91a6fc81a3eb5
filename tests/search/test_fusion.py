"""Weighted reciprocal rank fusion, score-aware (z-score) fusion, and query kinds."""

import pytest

from shopgraph.search.fusion import query_kind, reciprocal_rank_fusion, zscore_fusion


def test_agreeing_channels_win_and_each_hit_names_its_channels():
    fused = reciprocal_rank_fusion({"bm25": ["a", "b", "c"], "text": ["b", "a", "d"]})
    assert [h.id for h in fused][:2] in (["a", "b"], ["b", "a"])
    assert {h.id for h in fused} == {"a", "b", "c", "d"}
    d = next(h for h in fused if h.id == "d")
    assert d.ranks == {"text": 3}
    assert fused[0].ranks.keys() == {"bm25", "text"}


def test_weights_decide_and_zero_drops_a_channel():
    rankings = {"exact": ["x"], "text": ["y", "x"]}
    assert reciprocal_rank_fusion(rankings, {"exact": 4.0, "text": 1.0})[0].id == "x"
    assert [h.id for h in reciprocal_rank_fusion(rankings, {"exact": 0.0, "text": 1.0})] == ["y", "x"]


def test_ties_are_deterministic_and_repeats_count_once():
    fused = reciprocal_rank_fusion({"a": ["p", "p", "q"], "b": ["q", "p"]}, limit=1)
    assert len(fused) == 1
    again = reciprocal_rank_fusion({"b": ["q", "p"], "a": ["p", "p", "q"]}, limit=1)
    assert fused[0].id == again[0].id
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"a": ["p"]}, k=0)


def _outlier(ids, top, rest):
    """Scores where the first id stands far above an even run of the others."""
    return [(ids[0], top)] + [(i, rest - 0.01 * n) for n, i in enumerate(ids[1:])]


def _even(ids, top, step):
    return [(i, top - step * n) for n, i in enumerate(ids)]


def test_zscore_fusion_follows_the_sharp_channel_where_rank_fusion_cannot():
    # 20 candidates; "a" is BM25's first and the vectors' last, "b" the vectors' first and BM25's second
    ids = ["a", "b"] + [f"p{n}" for n in range(18)]
    by_vector = ["b"] + ids[2:] + ["a"]
    lexical_sharp = {"bm25": _outlier(ids, 30.0, 5.0), "vector": _even(by_vector, 0.80, 0.01)}
    vector_sharp = {"bm25": _even(ids, 9.0, 0.1), "vector": _outlier(by_vector, 0.95, 0.40)}
    for rank_weight in (0.0, 20.0):
        assert zscore_fusion(lexical_sharp, rank_weight=rank_weight)[0].id == "a"
        assert zscore_fusion(vector_sharp, rank_weight=rank_weight)[0].id == "b"
    for scored in (lexical_sharp, vector_sharp):  # ranks alone answer both alike
        assert reciprocal_rank_fusion({c: [i for i, _ in hits] for c, hits in scored.items()})[0].id == "b"


def test_zscore_shares_are_standardised_scores_above_the_channel_floor():
    fused = zscore_fusion({"exact": [("x", 1.0), ("y", 1.0)], "bm25": [("y", 3.0), ("z", 1.0)]},
                          {"exact": 2.0, "bm25": 1.0}, rank_weight=0.0)
    by_id = {h.id: h for h in fused}
    assert set(by_id) == {"x", "y", "z"}
    assert by_id["x"].contributions == {"exact": 0.0}  # every exact hit alike: no evidence between them
    assert by_id["y"].contributions == {"exact": 0.0, "bm25": pytest.approx(2.0)}  # z 1 above the floor's -1
    assert by_id["z"].contributions == {"bm25": 0.0}
    for hit in fused:
        assert hit.score == pytest.approx(sum(hit.contributions.values()))
    assert [h.id for h in fused] == ["y", "x", "z"]
    assert [h.id for h in zscore_fusion({"bm25": [("y", 3.0), ("z", 1.0)]}, {"bm25": 0.0})] == []
    # the rank part: weight * rank_weight / (k + rank) on top, as in reciprocal rank fusion
    ranked = {h.id: h for h in zscore_fusion({"exact": [("x", 1.0), ("y", 1.0)], "bm25": [("y", 3.0), ("z", 1.0)]},
                                             {"exact": 2.0, "bm25": 1.0}, rank_weight=20.0, k=20.0)}
    assert ranked["x"].contributions == {"exact": pytest.approx(2.0 * 20 / 21)}
    assert ranked["y"].contributions == {"exact": pytest.approx(2.0 * 20 / 22), "bm25": pytest.approx(20 / 21 + 2.0)}


def test_zscore_standardises_each_channel_over_its_top_only():
    # below the top, a channel says nothing more: the 3rd and 4th get the floor (0) like a product it
    # did not return, and the long tail does not dilute the spread of the top
    fused = zscore_fusion({"bm25": [("a", 4.0), ("b", 2.0), ("c", 1.0), ("d", 0.5)]}, top=2, rank_weight=0.0)
    assert {h.id: h.score for h in fused} == {"a": pytest.approx(2.0), "b": 0.0, "c": 0.0, "d": 0.0}
    with pytest.raises(ValueError):
        zscore_fusion({"bm25": [("a", 1.0)]}, top=1)


def test_query_kinds():
    assert query_kind("WM-330S") == "model_number"
    assert query_kind("sony wm330s walkman") == "model_number"
    assert query_kind("连衣裙") == "other_script"
    assert query_kind("red summer dress") == "text"
    assert query_kind("128GB phone") == "text"  # a quantity is not a model number
    assert query_kind("WM-330S", identifier=True) == "identifier"


@pytest.mark.parametrize("query", ["nike 短裤", "haier冰柜", "Книга про кота", "ヘッドホン Sony", "飞利浦 电动 shaver"])
def test_a_query_half_in_a_script_the_english_model_cannot_read_is_other_script(query):
    # by words, not letters: "nike" has more letters than "短裤", but the text vectors read only half
    assert query_kind(query) == "other_script"
    assert query_kind(query, short_words=3) == "other_script"


def test_a_minority_of_unread_words_stays_text():
    assert query_kind("philips electric shaver 飞利浦") == "text"


@pytest.mark.parametrize("query, short", [
    ("Baby Bedding", True), ("wireless mouse", True), ("Bar & Glassware", True), ("Men's Footwear", True),
    ("noise cancelling over ear headphones", False), ("Closer feat Mike Posner Radio Edit", False)])
def test_short_descriptive_queries_are_their_own_kind(query, short):
    assert query_kind(query, short_words=3) == ("short_text" if short else "text")
    assert query_kind(query) == "text"  # short_words 0: the kind is off


def test_the_short_kind_needs_no_model_number_and_a_readable_script():
    assert query_kind("sony wm330s", short_words=3) == "model_number"
    assert query_kind("连衣裙", short_words=3) == "other_script"


def test_the_learned_channel_agrees_only_when_its_best_is_near_the_top_of_another_channel():
    from shopgraph.search.fusion import learned_agrees

    rankings = {"bm25": ["a", "b", "c"], "vector": ["b", "d", "e"], "learned": ["d", "a"]}
    assert not learned_agrees(rankings, 1)  # d is first in neither bm25 nor vector
    assert learned_agrees(rankings, 2)  # d is second in vector
    assert learned_agrees({**rankings, "learned": ["b", "x"]}, 1)  # the vector channel's best
    assert learned_agrees(rankings, 0)  # 0: no guard
    assert learned_agrees({"learned": ["d"]}, 1)  # nothing to check it against
    assert learned_agrees({"bm25": ["a"], "vector": [], "learned": []}, 1)  # no learned candidates
    assert not learned_agrees({"bm25": ["a"], "vector": [], "learned": ["d"]}, 5)  # an empty channel confirms nothing
