"""Small text parsers for matching: words, model numbers, plain numbers, units.

Everything here works on one string at a time and is deterministic; `features.py` applies it to
whole catalogs once and compares the results pair by pair.
"""

from __future__ import annotations

import re
import sys
import unicodedata

# The lexical encoder's token patterns: a code is the same thing there and here.
from shopgraph.ingest.encoders.lexical import _ASCII_TOKEN as _CODE
from shopgraph.ingest.encoders.lexical import _HAS_DIGIT, _HAS_LETTER, _SEPARATORS

_WORD = re.compile(r"[a-z0-9]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# A number with a unit: "128gb", "1.5l", "15.6in". Such tokens are specs, not model numbers.
UNITS = ("gb|tb|mb|kb|mp|mah|ah|wh|kw|w|v|hz|khz|mhz|ghz|db|fps|mbps|gbps|rpm|mm|cm|m|km|in|inch|ft|"
         "ml|cl|l|ltr|g|gm|kg|mg|oz|lb|lbs|pcs|pc|pk|pack|x|k|p|th|st|nd|rd|yrs|yr|bit|ms|ns")
_QUANTITY = re.compile(rf"(\d+(?:[.,x]\d+)*)({UNITS})")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
MIN_MODEL_LEN = 4  # "a12" is too short to identify a product; "am53bk" is not
IDENTIFIER_PREFIX = 5  # the identifier channel compares codes by their prefixes from this length on


def normalise(text: str) -> str:
    """NFKC, casefold, and the one quote mark that titles use for inches spelt out."""
    return unicodedata.normalize("NFKC", text or "").casefold().replace("''", '"')


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of an already normalised text."""
    return _WORD.findall(text)


def token_set(tokens) -> set[str]:
    """The set of tokens, each string interned (sys.intern): catalogs repeat their words and numbers
    across listings, and a listing's parses (features._Side, attribute_features.RecordView) held one
    string object per token per listing, ~0.2 GB a side at 100k listings. The same set either way."""
    return set(map(sys.intern, tokens))


def compact(text: str) -> str:
    """Only the letters and digits: "PS-LX350H" and "pslx 350h" both become "pslx350h"."""
    return _NON_ALNUM.sub("", text)


def _is_code(token: str) -> bool:
    # Most tokens are plain words: all letters, so no digit (str.isalpha in C, before three regexes;
    # the featurizer asks this of every token of every record, ~8 per listing's title and ~80 of its record).
    if token.isalpha():
        return False
    return (len(token) >= MIN_MODEL_LEN and bool(_HAS_LETTER.search(token)) and bool(_HAS_DIGIT.search(token))
            and _QUANTITY.fullmatch(token) is None)


def model_numbers(text: str) -> set[str]:
    """Model-number candidates of a normalised text, in compact form.

    A token mixing letters and digits (at least MIN_MODEL_LEN long, not a quantity like "128gb"),
    plus neighbouring tokens joined when the join is such a token ("iphone 13" -> "iphone13") and
    long all-digit part numbers ("540-5629" -> "5405629").
    """
    raw = _CODE.findall(text)
    tokens = [_SEPARATORS.sub("", t) for t in raw]
    out = {t for t in tokens if _is_code(t) or (t.isdigit() and len(t) >= 6)}
    for (a, raw_a), (b, raw_b) in zip(zip(tokens, raw), zip(tokens[1:], raw[1:])):
        # Join only two plain parts ("iphone" + "13" is fine, "g991b" + "128" is two things).
        if _is_code(a) or _is_code(b) or (a + b).isdigit() or "." in raw_a + raw_b:
            continue
        if _QUANTITY.fullmatch(a) or _QUANTITY.fullmatch(b) or any(t.isdigit() and len(t) > 4 for t in (a, b)):
            continue
        joined = a + b
        if _is_code(joined) and min(len(a), len(b)) <= 4:
            out.add(joined)
    return out


def numbers(text: str) -> set[str]:
    """Every number written in the text ("2.4", "350"), units stripped."""
    return set(_NUMBER.findall(text))


def quantities(text: str) -> set[str]:
    """Number-with-unit specs in compact form ("128gb", "15.6in"); "128 gb" counts as "128gb"."""
    spaced = re.sub(rf"(\d)\s+({UNITS})\b", r"\1\2", text)
    return {m.group(0) for m in _QUANTITY.finditer(spaced)
            if (m.start() == 0 or not spaced[m.start() - 1].isalnum())
            and (m.end() == len(spaced) or not spaced[m.end()].isalnum())}


def digit_tokens(text: str) -> set[str]:
    """Every token of a normalised text that contains a digit, compact ("i5-4590" -> "i54590",
    "6700k", "250gb", "15.4" -> "154"): what tells a product from its next variant."""
    return {t for t in (_SEPARATORS.sub("", raw) for raw in _CODE.findall(text)) if _HAS_DIGIT.search(t) and len(t) >= 2}

