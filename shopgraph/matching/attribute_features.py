"""Schema-agnostic pair features over two listings' attributes (key -> raw text, any keys).

Every feature here is the same whichever catalog it comes from and however many keys it has: values
are typed from what they hold (record_values.typed), compared by type, and the comparisons aggregated
(best / mean / worst agreement over the keys both sides have, how many of them conflict); no key's
name is read. Every feature is symmetric: swapping the two listings gives the same row.

Families (ATTRIBUTE_GROUPS):
- "attributes": per shared key an agreement in [0, 1] and a conflict flag, by kind:
  gtin and code: equal 1, one inside the other 0.9, else the fuzzy ratio, conflict when neither;
  number, price, duration: 1 - relative difference (same unit only), conflict past CONFLICT_RELATIVE
  (PRICE_CONFLICT_RELATIVE for prices: shops price one product differently);
  date: 1 on the same day, falling over a year, conflict when the days differ;
  text: fuzzy token-set ratio, conflict when no word is shared.
  Two values of different kinds (or units) compare as text.
- "identifiers": every GTIN and code value of each side (under any key): same GTIN, conflicting
  GTINs, same code, a code of one side inside the other's record text, conflicting codes, the closest
  code pair's fuzzy ratio.
- "containment": share of one side's words that the other side's record has (the lower and the higher
  of the two directions), and share of one side's coded values (codes, numbers) written in the other
  side's record text.
- "measures": amounts with a unit wherever they are written (a whole value such as "5:14" or
  "8.10 %", or a quantity inside a text, "Kingston 8GB ..."), compared across keys by unit family
  (seconds with seconds, bytes with bytes: 1 TB = 1000 GB): the gap (relative difference) of each
  amount to the other side's closest amount of its unit, worst per side, the lower of the two sides
  (a long description's extra specs do not count against a short title whose amounts it all
  has); and the gap of the closest pair of all. Keyed comparisons above only meet
  values under one key; these let a scorer that learned "a size differs" on one catalog read "a
  duration differs" on another (a live and a studio version of a song). Prices and dates are left to
  their own features (shops price and date one product differently).
NaN = not known (no shared key, no code on one side ...), never "disagrees".
"""

from __future__ import annotations

import re

import numpy as np
from rapidfuzz import fuzz

from shopgraph.matching.record_values import Value, serialise, typed
from shopgraph.matching.text_signals import token_set

CONFLICT_RELATIVE = 0.01
PRICE_CONFLICT_RELATIVE = 0.2
DATE_SCALE_DAYS = 365.0
CONTAINED = 0.9
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)

ATTRIBUTE_GROUPS: dict[str, tuple[str, ...]] = {
    "attributes": ("attr_shared_keys", "attr_agree_best", "attr_agree_mean", "attr_agree_worst",
                   "attr_conflicts", "attr_conflict_share", "attr_exact_share", "attr_text_agree",
                   "attr_number_agree", "attr_time_agree", "attr_price_ratio"),
    "identifiers": ("gtin_equal", "gtin_conflict", "code_equal", "code_in_other", "code_conflict",
                    "code_best_fuzz"),
    "containment": ("words_explained_min", "words_explained_max", "values_in_other_min",
                    "values_in_other_max"),
    "measures": ("measure_gap", "measure_gap_closest"),
}
ATTRIBUTE_FEATURES: tuple[str, ...] = tuple(n for names in ATTRIBUTE_GROUPS.values() for n in names)
# Which way each feature moves the match probability, read from its definition above (never from a
# dataset): +1 an agreement, similarity or shared count (more of it, likelier a match), -1 a conflict
# or gap (more of it, less likely), 0 no direction of its own (attr_shared_keys counts the keys both
# catalogs have: a property of the schema, not of the pair). The pair scorer may constrain its trees
# to these directions (ScorerConfig.monotone, features.FEATURE_DIRECTIONS).
ATTRIBUTE_DIRECTIONS: dict[str, int] = {
    "attr_shared_keys": 0, "attr_agree_best": 1, "attr_agree_mean": 1, "attr_agree_worst": 1,
    "attr_conflicts": -1, "attr_conflict_share": -1, "attr_exact_share": 1, "attr_text_agree": 1,
    "attr_number_agree": 1, "attr_time_agree": 1, "attr_price_ratio": 1,
    "gtin_equal": 1, "gtin_conflict": -1, "code_equal": 1, "code_in_other": 1, "code_conflict": -1,
    "code_best_fuzz": 1,
    "words_explained_min": 1, "words_explained_max": 1, "values_in_other_min": 1, "values_in_other_max": 1,
    "measure_gap": -1, "measure_gap_closest": -1,
}


class RecordView:
    """One listing's attributes parsed once: typed values per key, codes, GTINs, words, compact text."""

    __slots__ = ("values", "gtins", "codes", "words", "compact", "coded", "measures")

    def __init__(self, record: dict[str, str]):
        self.values: dict[str, Value] = {k: typed(v) for k, v in record.items() if v}
        # frozensets: most listings have no GTIN or code, and every empty frozenset is one shared object
        self.gtins = frozenset(v.norm for v in self.values.values() if v.kind == "gtin")
        self.codes = frozenset(v.norm for v in self.values.values() if v.kind == "code")
        text = serialise(record, with_keys=False)
        self.words = token_set(_NON_ALNUM.split(text.casefold())) - {""}   # interned: catalogs repeat words
        self.compact = _NON_ALNUM.sub("", text.casefold())
        # Values that identify rather than describe: codes, GTINs, numbers as written (compact).
        self.coded = frozenset({_NON_ALNUM.sub("", v.norm) for v in self.values.values()
                                if v.kind in ("gtin", "code", "number")} - {""})
        self.measures = _measures(self.values.values())


def _measures(values) -> dict[str, dict[float, str]]:
    """base unit -> {amount in that unit: as written} of every amount with a unit among the typed
    values: whole values of kind number (with a unit) or duration, and the quantities written inside
    text values ("32gb" in a title). Amounts of zero say nothing and are left out."""
    from shopgraph.ingest.attributes import parse_value
    from shopgraph.matching.text_signals import quantities

    out: dict[str, dict[float, str]] = {}
    for v in values:
        if v.kind in ("number", "duration") and v.unit and v.number:
            out.setdefault(v.unit, {}).setdefault(v.number, v.norm)
        elif v.kind == "text":
            for written in sorted(quantities(v.norm)):
                parsed = parse_value(written)
                if parsed.base_unit and parsed.base_number:
                    out.setdefault(parsed.base_unit, {}).setdefault(parsed.base_number, written)
    return out


def _relative(x: float, y: float) -> float:
    return abs(x - y) / max(abs(x), abs(y))


def _mean(values: list[float]) -> float:
    """float(np.mean(values)) of a short list of floats, without numpy's ~20 us a call (pair_features
    runs per candidate pair: 2M pairs at 100k x 100k). Below 8 values numpy's pairwise sum adds them
    one by one from 0.0, as the loop here does (not sum(), which compensates from Python 3.12), so the
    float is the same; from 8 values on numpy is asked, for its own order."""
    n = len(values)
    if n >= 8:
        return float(np.mean(values))
    total = 0.0
    for v in values:
        total += v
    return total / n


def _closest(a: dict, b: dict, unit: str, x: float) -> tuple[float, float]:
    """(relative difference, amount) of b's amount of `unit` closest to a's amount x."""
    return min((_relative(x, y), y) for y in b[unit])


def compare(a: Value, b: Value) -> tuple[float, bool, str]:
    """(agreement in [0, 1], conflict, the kind compared as) of two values of one key."""
    kind = a.kind if a.kind == b.kind and a.unit == b.unit else "text"
    if kind in ("gtin", "code"):
        if a.norm == b.norm:
            return 1.0, False, "code"
        if a.norm in b.norm or b.norm in a.norm:
            return CONTAINED, False, "code"
        return fuzz.ratio(a.norm, b.norm) / 100, True, "code"
    if kind in ("number", "price", "duration"):
        x, y = a.number, b.number
        scale = max(abs(x), abs(y))
        relative = abs(x - y) / scale if scale else 0.0
        limit = PRICE_CONFLICT_RELATIVE if kind == "price" else CONFLICT_RELATIVE
        return max(0.0, 1.0 - relative), relative > limit, "time" if kind == "duration" else kind
    if kind == "date":
        days = abs(a.number - b.number)
        return max(0.0, 1.0 - days / DATE_SCALE_DAYS), days > 0, "time"
    agree = fuzz.token_set_ratio(a.norm, b.norm) / 100
    return agree, not (a.words & b.words), "text"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def conflicts(a: RecordView, b: RecordView, raw_a: dict, raw_b: dict, limit: int = 3) -> dict[str, list[str]]:
    """What disagrees, in words, for a pair's evidence: {"attributes": ["colour: blue vs orange", ...],
    "identifiers": ["mc359lla vs a1377"]} (at most `limit` each, the least alike first); empty lists
    when nothing does. a / b: the views of the raw records raw_a / raw_b."""
    found = []
    for key in sorted(a.values.keys() & b.values.keys()):
        agree, conflict, _ = compare(a.values[key], b.values[key])
        if conflict:
            found.append((agree, f"{key}: {_short(raw_a[key])} vs {_short(raw_b[key])}"))
    codes = []
    if a.codes and b.codes and not (a.codes & b.codes):
        pairs = sorted(((fuzz.ratio(x, y), x, y) for x in a.codes for y in b.codes), reverse=True)
        if not any(x in b.compact or y in a.compact for _, x, y in pairs):
            codes = [f"{x} vs {y}" for _, x, y in pairs[:limit]]
    amounts = set()   # each side's amounts against the other's closest, always said as "a's vs b's"
    for own, other, flip in ((a.measures, b.measures, False), (b.measures, a.measures, True)):
        for unit in sorted(own.keys() & other.keys()):
            for x in own[unit]:
                gap, y = _closest(own, other, unit, x)
                if gap > CONFLICT_RELATIVE:
                    pair = (other[unit][y], own[unit][x]) if flip else (own[unit][x], other[unit][y])
                    amounts.add((-gap, " vs ".join(pair)))
    return {"attributes": [text for _, text in sorted(found)[:limit]], "identifiers": codes,
            "measures": [text for _, text in sorted(amounts)[:limit]]}


def pair_features(a: RecordView, b: RecordView) -> list[float]:
    """One row of ATTRIBUTE_FEATURES for two listings (symmetric in a and b)."""
    nan = np.nan
    shared = sorted(a.values.keys() & b.values.keys())
    agrees, conflicts, exact, by_kind = [], 0, 0, {}
    for key in shared:
        va, vb = a.values[key], b.values[key]
        agree, conflict, kind = compare(va, vb)
        agrees.append(agree)
        conflicts += conflict
        exact += va.norm == vb.norm
        by_kind.setdefault(kind, []).append(agree)
    n = len(shared)

    def kind_mean(*kinds):
        got = [x for k in kinds for x in by_kind.get(k, [])]
        return _mean(got) if got else nan

    attributes = [float(n), max(agrees, default=nan), _mean(agrees) if agrees else nan,
                  min(agrees, default=nan), float(conflicts), conflicts / n if n else nan,
                  exact / n if n else nan, kind_mean("text"), kind_mean("number", "code"), kind_mean("time"),
                  kind_mean("price")]

    gtin_equal = float(bool(a.gtins & b.gtins)) if a.gtins and b.gtins else nan
    gtin_conflict = float(not (a.gtins & b.gtins)) if a.gtins and b.gtins else nan
    codes_known = bool(a.codes) and bool(b.codes)
    code_equal = float(bool(a.codes & b.codes)) if codes_known else nan
    in_other = (any(c in b.compact for c in a.codes) or any(c in a.compact for c in b.codes)) \
        if (a.codes or b.codes) else None
    code_in_other = nan if in_other is None else float(in_other)
    code_conflict = float(not (a.codes & b.codes) and not in_other) if codes_known else nan
    best_fuzz = max((fuzz.ratio(x, y) / 100 for x in a.codes for y in b.codes), default=nan)
    identifiers = [gtin_equal, gtin_conflict, code_equal, code_in_other, code_conflict, best_fuzz]

    common = len(a.words & b.words)
    explained = [common / len(w) for w in (a.words, b.words) if w]
    found = [sum(c in other.compact for c in own.coded) / len(own.coded)
             for own, other in ((a, b), (b, a)) if own.coded]
    containment = [min(explained) if len(explained) == 2 else nan, max(explained) if len(explained) == 2 else nan,
                   min(found) if found else nan, max(found) if found else nan]
    return attributes + identifiers + containment + _measure_features(a.measures, b.measures)


def _measure_features(a: dict, b: dict) -> list[float]:
    """The "measures" row: of the two sides, the lower worst gap (each amount of a side against the
    closest of the other side's amounts of its unit), and the smallest gap of all; unknown (NaN)
    when no unit is on both sides."""
    shared = a.keys() & b.keys()
    if not shared:
        return [np.nan, np.nan]
    # Every gap |x - y| / max(|x|, |y|) of a's and b's amounts of a shared unit, once (the amounts are
    # never 0): a side's worst is the max over its amounts of the min over the other side's, the
    # closest pair the min of all (the same floats as _closest's, without a tuple per comparison).
    worst_a, worst_b, closest = -np.inf, -np.inf, np.inf
    for u in shared:
        xs, ys = list(a[u]), list(b[u])
        gaps = [[abs(x - y) / max(abs(x), abs(y)) for y in ys] for x in xs]
        if any(g != g for row in gaps for g in row):  # an infinite amount: the gap is unknown, and so the
            return [np.nan, np.nan]                   # row, whichever side is asked first (symmetric)
        for row in gaps:
            low = min(row)
            worst_a = max(worst_a, low)
            closest = min(closest, low)
        for column in zip(*gaps):
            worst_b = max(worst_b, min(column))
    return [min(worst_a, worst_b), closest]
