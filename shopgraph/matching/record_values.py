"""A listing's attributes as typed values, the type read from the VALUES, never from a key's name.

Every column of a catalog that is not the id reaches matching as key -> raw text. `typed(raw)` reads
one value into a `Value`: its kind and the parsed parts a comparison needs. Kinds:

- "gtin": a valid GTIN-8/12/13/14 (check digit validated by python-stdnum, via ingest.identifiers);
- "code": one token mixing letters and digits ("MC359LL/A", "SM-G991B"), compacted ("mc359lla");
- "date": a full date in any format ingest reads ("18-May-15", "May 18 , 2015"), number = days;
- "duration": "m:ss" or "h:mm:ss", number = seconds;
- "price": a number with a currency symbol or code ("$ 1.29", "1.099,00 €"), number = amount;
- "number": a number with an optional unit ("8.10 %", "256 GB"), number in the unit's base when the
  unit is known (1 TB and 1000 GB compare equal);
- "text": anything else, compared by its words.

A key's kind over a whole catalog (`key_kinds`) is the kind most of its non-blank values have, so one
odd value does not turn a column of numbers into text. The parsers are ingest's (attributes.py,
prices.py, identifiers.py): one reading of "256 GB" for the graph and for matching.
"""

from __future__ import annotations

import functools
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

KINDS = ("gtin", "code", "date", "duration", "price", "number", "text")
_WORD = re.compile(r"\w+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_DIGIT = re.compile(r"\d")
_ASCII_DIGIT = re.compile(r"[0-9]")
MIN_CODE_CHARS = 4


@dataclass(frozen=True)
class Value:
    """One typed value: kind (KINDS), norm (case-folded text; a code compacted; a date ISO),
    number (float or None: days, seconds, amount or the base-unit number), unit (base unit, currency
    or None) and words (frozenset of its lower-case words)."""

    kind: str
    norm: str
    number: float | None = None
    unit: str | None = None
    words: frozenset = frozenset()


@functools.lru_cache(maxsize=131072)
def typed(raw: str) -> Value:
    """The Value of one raw text (see the module docstring). Cached: catalog values repeat."""
    from shopgraph.ingest.attributes import normalise_text, parse_value
    from shopgraph.ingest.identifiers import compact_code, looks_like_gtin

    text = " ".join(str(raw).split())
    norm = normalise_text(text)
    words = frozenset(map(sys.intern, _WORD.findall(norm)))   # interned: one string per distinct word
    if text.isascii() and not _ASCII_DIGIT.search(text):
        # Every other kind needs a digit 0-9 (a GTIN, a code, a number, a duration, a date with its
        # day and year, a price's amount); an ASCII text is its own NFKC form, so none can appear.
        # Most titles and descriptions end here without the parsers (a 100k catalog's featurizer
        # tried the price parser on every one).
        return Value("text", norm, words=words)
    if looks_like_gtin(text):
        from shopgraph.ingest.identifiers import gtin
        return Value("gtin", gtin(text) or norm, words=words)
    parsed = parse_value(text)
    if parsed.number is not None:
        if parsed.unit == "date":
            return Value("date", parsed.norm, parsed.number, "day", words)
        if parsed.unit == "s" and ":" in text:
            return Value("duration", norm, parsed.number, "s", words)
        if parsed.base_number is not None:
            return Value("number", norm, parsed.base_number, parsed.base_unit, words)
        return Value("number", norm, parsed.number, parsed.unit, words)
    price = _price(text)
    if price is not None:
        return Value("price", norm, price[0], price[1], words)
    if " " not in text and len(text) >= MIN_CODE_CHARS and _LETTER.search(text) and _DIGIT.search(text):
        return Value("code", compact_code(text), words=words)
    return Value("text", norm, words=words)


def _price(text: str) -> tuple[float, str | None] | None:
    """(amount, currency) when the text is a price with a currency token, else None."""
    from shopgraph.ingest.prices import read_price

    try:
        value = read_price(text)
    except ValueError:
        return None
    if value.amount is None or value.symbol is None:
        return None
    return value.amount, value.currency or value.symbol


def key_kinds(records: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """key -> the kind most of that key's non-blank values have, over a catalog's records."""
    counts: dict[str, Counter] = {}
    for record in records:
        for key, raw in record.items():
            if raw:
                counts.setdefault(key, Counter())[typed(raw).kind] += 1
    return {key: c.most_common(1)[0][0] for key, c in counts.items()}


def serialise(record: Mapping[str, str], with_keys: bool = True) -> str:
    """A record as one text: "key: value key: value" (with_keys) or its values joined by spaces,
    in the record's key order, blanks left out."""
    if with_keys:
        return " ".join(f"{key}: {raw}" for key, raw in record.items() if raw)
    return " ".join(raw for raw in record.values() if raw)
