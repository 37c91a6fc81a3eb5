"""The search-quality metrics and the schema-agnostic name-column rule of bench/search_suites.py."""

import pytest

from bench.search_quality import metrics
from bench.search_suites import name_column


def test_metrics_of_a_perfect_and_a_missed_ranking():
    assert metrics(["a", "b"], {"a": 1}) == {"ndcg@10": 1.0, "mrr": 1.0, "recall@10": 1.0, "success@1": 1.0}
    assert metrics(["x", "y"], {"a": 1}) == {"ndcg@10": 0.0, "mrr": 0.0, "recall@10": 0.0, "success@1": 0.0}


def test_metrics_with_grades_count_only_the_top_grade_as_the_answer():
    got = metrics(["sibling", "own"], {"own": 2, "sibling": 1})
    assert got["mrr"] == 0.5 and got["success@1"] == 0.0 and got["recall@10"] == 1.0
    assert 0.0 < got["ndcg@10"] < 1.0


def test_name_column_is_the_distinct_short_text_column_whatever_its_name():
    rows = [{"id": str(i), "Beer_Name": f"Beer {i}", "Style": "Ale" if i % 2 else "Lager",
             "ABV": f"{i}.5 %", "Notes": f"a long free text about beer number {i} " * 3} for i in range(20)]
    assert name_column(rows) == "Beer_Name"
    with pytest.raises(ValueError):
        name_column([{"id": "1", "price": "3.5"}])
