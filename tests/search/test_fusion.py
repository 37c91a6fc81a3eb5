"""Weighted reciprocal rank fusion and query kinds."""

import pytest

from shopgraph.search.fusion import query_kind, reciprocal_rank_fusion


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
