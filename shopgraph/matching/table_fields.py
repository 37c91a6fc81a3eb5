"""Which column of a table plays which listing field, read from the column VALUES, never their names.

A labelled benchmark (or any two-table catalog pair) arrives with columns under any names. Matching
needs a few of them as fields: a name (the short text that names the product: the title channels),
a description (a long text, added to the name for the MiniLM channel), a brand and a price. Every
column stays an attribute whatever is chosen here; this only decides what fills the fields.

Rules (over the non-blank values of each column; kinds from record_values.typed):
- text column: most of its values are of kind "text";
- name: among text columns whose median length is at most NAME_MAX_WORDS words, the one with the
  most distinct values and words per row (score = distinct share x distinct words per row): a
  product's name differs from row to row and uses many words; a brand or a category repeats. Without
  a short text column, the best-scoring text column of any length;
- description: another text column whose median length is at least DESCRIPTION_RATIO times the
  name's, the longest;
- brand: another short text column (median at most BRAND_MAX_WORDS words) whose values repeat (at
  most BRAND_MAX_DISTINCT distinct values per row: one maker, many products), the most repeated;
- price: a column whose values are mostly prices (a currency symbol or code) or unit-less numbers
  written with a decimal part ("399.0", "38.99"); a number with a unit ("8.10 %", "256 GB") is not
  a price.
Each choice is None when no column qualifies.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

from shopgraph.matching.record_values import typed

NAME_MAX_WORDS = 20
DESCRIPTION_RATIO = 2.0
BRAND_MAX_WORDS = 3
BRAND_MAX_DISTINCT = 0.5
MOSTLY = 0.5


@dataclass(frozen=True)
class TableFields:
    """The column playing each field (None when none does)."""

    name: str | None = None
    description: str | None = None
    brand: str | None = None
    price: str | None = None


@dataclass(frozen=True)
class _Column:
    key: str
    text_share: float
    price_share: float
    median_words: float
    distinct_share: float
    words_per_row: float

    @property
    def name_score(self) -> float:
        return self.distinct_share * self.words_per_row


def _profile(key: str, values: list[str]) -> _Column:
    kinds = [typed(v) for v in values]
    n = len(values)
    priced = sum(k.kind == "price" or (k.kind == "number" and k.unit is None and "." in v)
                 for k, v in zip(kinds, values))
    words = {w for v in values for w in v.casefold().split()}
    return _Column(key, sum(k.kind == "text" for k in kinds) / n, priced / n,
                   statistics.median(len(v.split()) for v in values), len(set(values)) / n, len(words) / n)


def table_fields(records: Sequence[Mapping[str, str]]) -> TableFields:
    """The field columns of a table given as records (key -> raw text, the id left out); see the
    module docstring for the rules."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    columns = []
    for key in keys:
        values = [" ".join(str(r[key]).split()) for r in records if r.get(key) and str(r[key]).strip()]
        if values:
            columns.append(_profile(key, values))
    texts = [c for c in columns if c.text_share > MOSTLY]
    short = [c for c in texts if c.median_words <= NAME_MAX_WORDS]
    name = max(short or texts, key=lambda c: c.name_score, default=None)
    rest = [c for c in texts if c is not name]
    long = [c for c in rest if name is not None and c.median_words >= DESCRIPTION_RATIO * max(name.median_words, 1)]
    description = max(long, key=lambda c: c.median_words, default=None)
    makers = [c for c in rest if c.median_words <= BRAND_MAX_WORDS and c.distinct_share <= BRAND_MAX_DISTINCT]
    brand = min(makers, key=lambda c: c.distinct_share, default=None)
    prices = [c for c in columns if c.price_share > MOSTLY and c is not name]
    price = max(prices, key=lambda c: c.price_share, default=None)
    return TableFields(*(c.key if c is not None else None for c in (name, description, brand, price)))
