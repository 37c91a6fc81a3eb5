"""Match strength inputs: the query-term coverage of a result, whether the query is given as text or
as its prepared term set (how ranked_page judges every candidate against one query)."""

from __future__ import annotations

from shopgraph.search.confidence import coverage, term_set


def test_coverage_counts_the_querys_distinct_terms_found_in_the_texts():
    assert coverage("wireless mouse", "Logitech Wireless Mouse M185", "Logitech") == 1.0
    assert coverage("wireless mouse", "Wireless keyboard", None) == 0.5
    assert coverage("zzzzqqq", "Wireless keyboard") == 0.0
    assert coverage("", "anything") == coverage(None, "anything") == 0.0
    assert coverage("WM-330S", "Cordless drill WM 330S") == 1.0     # parts and the compact model-number form
    assert coverage("连衣裙", "夏季 连衣裙 女") == 1.0                # CJK bigrams and characters


def test_a_prepared_term_set_gives_the_same_coverage_as_the_text():
    for query, texts in (("wireless mouse", ("Wireless keyboard", "Acme")), ("WM-330S drill", ("wm330s", None)),
                         ("飞利浦 剃须刀", ("飞利浦电动剃须刀", "Philips")), ("", ("x",))):
        assert coverage(term_set(query), *texts) == coverage(query, *texts)
    assert term_set(None) == term_set("") == frozenset()
