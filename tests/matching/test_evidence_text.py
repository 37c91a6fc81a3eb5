"""Plain-word evidence: each feature group's phrase follows from its values."""

from __future__ import annotations

import pytest

from shopgraph.matching.evidence_text import PHRASES, describe
from shopgraph.matching.features import FEATURE_GROUPS


def test_every_feature_group_has_a_phrase():
    assert set(PHRASES) == set(FEATURE_GROUPS)


@pytest.mark.parametrize("group, values, effect, expected", [
    ("model_number", {"models_shared": 1.0, "models_left": 1, "models_right": 1}, 0.4, "for: same model number"),
    ("model_number", {"models_shared": 0.0, "model_conflict": 1.0, "model_best_fuzz": 0.909, "models_left": 1,
                      "models_right": 1}, -0.5, "against: different model numbers (closest pair 91% alike)"),
    ("model_number", {"models_left": 0.0, "models_right": 0.0}, 0.01, "for: no model number on either side"),
    ("brand", {"brand_equal": 0.0}, -0.2, "against: different brands"),
    ("brand", {"brand_in_other_title": 1.0}, 0.1, "for: brand named in the other title"),
    ("price", {"price_ratio": 0.96}, 0.05, "for: prices 4% apart"),
    ("price", {}, 0.0, "neutral: price unknown on one side"),
    ("numbers", {"quantity_conflict": 1.0}, -0.3, "against: a size or capacity differs"),
    ("numbers", {"digits_unmatched_max": 2.0}, -0.1, "against: 2 tokens with digits differ"),
    ("context", {"ctx_mutual_best": 1.0}, 0.9, "for: each other's closest listing by text and wording"),
    ("context", {"ctx_mutual_best": 0.0, "ctx_text_row_rank": 3.0, "ctx_char_row_rank": 2.0}, -0.2,
     "against: 2 other listing(s) look closer"),
    ("text", {"cos_text": 0.93}, 0.2, "for: texts very similar (cosine 0.93)"),
    ("image", {}, 0.0, "neutral: no photos to compare"),
    ("category", {"category_equal": 1.0}, 0.05, "for: same category"),
    ("measures", {"measure_gap": 0.306, "measure_gap_closest": 0.306}, -0.6,
     "against: amounts with the same unit differ (31% apart)"),
    ("measures", {"measure_gap": 0.0}, 0.2, "for: amounts with the same unit agree"),
    ("measures", {}, 0.0, "neutral: no amounts with the same unit on both sides"),
])
def test_describe(group, values, effect, expected):
    assert describe(group, values, effect) == expected


def test_unknown_group_is_named_not_crashing():
    assert describe("something_new", {}, 0.2) == "for: something_new"
