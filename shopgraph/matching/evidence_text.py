"""Plain words for a match's evidence: one short phrase per feature group, from its feature values.

The scorer measures which feature groups moved a pair's score (scorer.PairScorer.evidence); this
module says what those groups saw, for a person reviewing the pair, e.g. "same model number",
"prices 4% apart", "each other's closest listing by text". Values are the pair's features
(FEATURE_GROUPS names; a missing name means "not known" for that pair).
"""

from __future__ import annotations

from typing import Callable, Mapping

from shopgraph.matching.attribute_features import CONFLICT_RELATIVE

Values = Mapping[str, float]


def _cosine(v: Values, name: str, what: str) -> str:
    if name not in v:
        return f"no {what} to compare"
    cos = v[name]
    strength = "very similar" if cos >= 0.9 else "similar" if cos >= 0.75 else "somewhat similar" \
        if cos >= 0.5 else "not similar"
    return f"{what} {strength} (cosine {cos:.2f})"


def _lexical(v: Values) -> str:
    share = v.get("containment_title")
    fuzzy = v.get("fuzz_token_set")
    parts = []
    if share is not None:
        parts.append(f"{share:.0%} of the shorter title's words in the other")
    if fuzzy is not None:
        parts.append(f"fuzzy title match {fuzzy:.0%}")
    return "titles: " + ", ".join(parts) if parts else "titles share little wording"


def _model_number(v: Values) -> str:
    if v.get("models_shared", 0) > 0:
        return "same model number"
    if v.get("model_in_other_text", 0) > 0:
        return "model number found in the other listing's text"
    if v.get("model_conflict", 0) > 0:
        closeness = v.get("model_best_fuzz")
        near = f" (closest pair {closeness:.0%} alike)" if closeness is not None else ""
        return f"different model numbers{near}"
    if not v.get("models_left") and not v.get("models_right"):
        return "no model number on either side"
    return "model number on one side only"


def _numbers(v: Values) -> str:
    if v.get("quantity_conflict", 0) > 0:
        return "a size or capacity differs"
    if v.get("quantities_shared", 0) > 0:
        return "same sizes/capacities"
    unmatched = v.get("digits_unmatched_max", 0)
    if unmatched:
        return "1 token with digits differs" if unmatched == 1 else f"{unmatched:.0f} tokens with digits differ"
    return "numbers agree" if v.get("numbers_jaccard", 0) > 0 else "no shared numbers"


def _brand(v: Values) -> str:
    if "brand_equal" in v:
        return "same brand" if v["brand_equal"] else "different brands"
    if v.get("brand_in_other_title"):
        return "brand named in the other title"
    return "brand unknown on one side"


def _category(v: Values) -> str:
    if "category_equal" not in v:
        return "category unknown on one side"
    return "same category" if v["category_equal"] else "different categories"


def _price(v: Values) -> str:
    ratio = v.get("price_ratio")
    if ratio is None:
        return "price unknown on one side"
    return f"prices {1 - ratio:.0%} apart" if ratio < 1 else "same price"


def _length(v: Values) -> str:
    if "words_left" in v and "words_right" in v:
        return f"titles of {v['words_left']:.0f} and {v['words_right']:.0f} words"
    return "title lengths unknown"


def _context(v: Values) -> str:
    if v.get("ctx_mutual_best"):
        return "each other's closest listing by text and wording"
    ranks = [v[n] for n in ("ctx_text_row_rank", "ctx_char_row_rank") if n in v]
    if ranks:
        best = min(ranks)
        if best == 0:
            return "the closest listing on the other platform (one way only)"
        return f"{best:.0f} other listing(s) look closer"
    return "no catalog context"


def _attributes(v: Values) -> str:
    shared = v.get("attr_shared_keys", 0)
    if not shared:
        return "no attribute on both sides"
    conflicts = v.get("attr_conflicts", 0)
    if conflicts:
        return f"{conflicts:.0f} of {shared:.0f} shared attributes disagree"
    mean = v.get("attr_agree_mean")
    return f"{shared:.0f} shared attributes agree ({mean:.0%} on average)" if mean is not None \
        else f"{shared:.0f} shared attributes"


def _identifiers(v: Values) -> str:
    if v.get("gtin_equal"):
        return "same GTIN"
    if v.get("gtin_conflict"):
        return "different GTINs"
    if v.get("code_equal"):
        return "same code"
    if v.get("code_in_other"):
        return "a code of one listing written in the other"
    if v.get("code_conflict"):
        closeness = v.get("code_best_fuzz")
        near = f" (closest pair {closeness:.0%} alike)" if closeness is not None else ""
        return f"different codes{near}"
    return "no code or GTIN on both sides"


def _containment(v: Values) -> str:
    low = v.get("words_explained_min")
    if low is None:
        return "no words to compare"
    return f"{low:.0%} to {v.get('words_explained_max', low):.0%} of each listing's words in the other"


def _measures(v: Values) -> str:
    gap = v.get("measure_gap")
    if gap is None:
        return "no amounts with the same unit on both sides"
    if gap <= CONFLICT_RELATIVE:
        return "amounts with the same unit agree"
    return f"amounts with the same unit differ ({gap:.0%} apart)"


PHRASES: dict[str, Callable[[Values], str]] = {
    "text": lambda v: _cosine(v, "cos_text", "texts"),
    "lexical": _lexical,
    "image": lambda v: _cosine(v, "cos_image", "photos"),
    "gnn": lambda v: _cosine(v, "cos_gnn", "graph neighbourhoods"),
    "model_number": _model_number,
    "numbers": _numbers,
    "brand": _brand,
    "category": _category,
    "price": _price,
    "length": _length,
    "context": _context,
    "attributes": _attributes,
    "identifiers": _identifiers,
    "containment": _containment,
    "measures": _measures,
}


def _sign(flag_for: bool, flag_against: bool) -> int:
    return 1 if flag_for else -1 if flag_against else 0


def _cosine_sign(v: Values, name: str) -> int:
    return 0 if name not in v else _sign(v[name] >= 0.75, v[name] < 0.5)


# Which side each group's phrase argues for, from the same values: +1 "sounds like a match", -1 "sounds
# like a different product", 0 neutral. Evidence whose effect has the other sign is not shown.
POLARITY: dict[str, Callable[[Values], int]] = {
    "text": lambda v: _cosine_sign(v, "cos_text"),
    "lexical": lambda v: _sign(v.get("fuzz_token_set", 0.5) >= 0.8, v.get("fuzz_token_set", 0.5) < 0.5),
    "image": lambda v: _cosine_sign(v, "cos_image"),
    "gnn": lambda v: _cosine_sign(v, "cos_gnn"),
    "model_number": lambda v: _sign(v.get("models_shared", 0) > 0 or v.get("model_in_other_text", 0) > 0,
                                    v.get("model_conflict", 0) > 0),
    "numbers": lambda v: _sign(v.get("quantity_conflict", 0) == 0 and v.get("quantities_shared", 0) > 0,
                               v.get("quantity_conflict", 0) > 0 or v.get("digits_unmatched_max", 0) > 0),
    "brand": lambda v: _sign(v.get("brand_equal") == 1 or ("brand_equal" not in v and v.get("brand_in_other_title") == 1),
                             v.get("brand_equal") == 0),
    "category": lambda v: _sign(v.get("category_equal") == 1, v.get("category_equal") == 0),
    "price": lambda v: 0 if "price_ratio" not in v else _sign(v["price_ratio"] >= 0.9, v["price_ratio"] < 0.7),
    "length": lambda v: 0,
    "context": lambda v: _sign(bool(v.get("ctx_mutual_best")) or min(
        [v[n] for n in ("ctx_text_row_rank", "ctx_char_row_rank") if n in v], default=1) == 0,
        min([v[n] for n in ("ctx_text_row_rank", "ctx_char_row_rank") if n in v], default=0) > 0),
    "attributes": lambda v: _sign(v.get("attr_shared_keys", 0) > 0 and v.get("attr_conflicts", 0) == 0,
                                  v.get("attr_conflicts", 0) > 0),
    "identifiers": lambda v: _sign(bool(v.get("gtin_equal") or v.get("code_equal") or v.get("code_in_other")),
                                   bool(v.get("gtin_conflict") or v.get("code_conflict"))),
    "containment": lambda v: 0 if "words_explained_min" not in v else _sign(
        v["words_explained_min"] >= 0.7, v["words_explained_max"] < 0.4),
    "measures": lambda v: 0 if "measure_gap" not in v else _sign(
        v["measure_gap"] <= CONFLICT_RELATIVE, v["measure_gap"] > CONFLICT_RELATIVE),
}


def polarity(group: str, values: Values) -> int:
    """+1, -1 or 0: the side the group's phrase argues for (see POLARITY); 0 for an unknown group."""
    return POLARITY.get(group, lambda _: 0)(values)


def describe(group: str, values: Values, effect: float) -> str:
    """One phrase for one evidence item, e.g. "for: same model number" or "against: different brands"."""
    phrase = PHRASES.get(group, lambda _: group)(values)
    side = "for" if effect > 0 else "against" if effect < 0 else "neutral"
    return f"{side}: {phrase}"
