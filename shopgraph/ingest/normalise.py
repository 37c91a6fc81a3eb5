"""Canonical keys for brands and categories, so that spellings from different shops meet in one node.

- ``normalise_brand("Samsung Electronics Co., Ltd.") == normalise_brand("SAMSUNG ELECTRONICS") ==
  "samsung electronics"``: the key of a Brand node (the display name is kept elsewhere).
- ``parse_category_path('["Home Furnishing >> Curtains & Accessories >> Curtains >> Elegance Po..."]')
  == ("Home Furnishing", "Curtains & Accessories", "Curtains")``: root-to-leaf levels.
- ``category_key(("Home Furnishing", "Curtains"))`` == ``"Home Furnishing > Curtains"``: the key of a
  Category node.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Sequence

from shopgraph.errors import BadArgumentError
from shopgraph.records import CATEGORY_SEPARATOR

# Trailing words that name a company's legal form, not the brand ("Acme Pvt. Ltd." is "acme").
# Removed only at the end of the name, repeatedly ("co ltd"), and never when nothing would be left.
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "gmbh", "corp", "corporation",
    "co", "company", "pvt", "private", "ag", "sa", "srl", "bv", "nv", "pty", "kg", "oy",
    "ab", "asa", "aps", "oyj", "spa", "sarl", "bhd",
})

# Trailing words that describe a company rather than name its brand ("Samsung Electronics", "Sony
# Europe"): brands.BrandMerger drops them only when the shorter brand exists (never on their own).
CORPORATE_DESCRIPTORS = frozenset({
    "electronics", "electronic", "international", "intl", "group", "holdings", "holding", "industries",
    "industrial", "technologies", "technology", "enterprises", "enterprise", "worldwide", "global",
    "brands", "products", "manufacturing", "usa", "america", "europe", "india", "china", "japan",
})

# Characters deleted without leaving a gap, so "AT&T" -> "att", "L'Oréal" -> "loreal", "S.T." -> "st".
_JOINING = frozenset("'’‘`´.&")

DEFAULT_CATEGORY_DEPTH = 4

# category_key joins levels with " > ": a ">" inside a level would make the key ambiguous.
_KEY_MARK = CATEGORY_SEPARATOR.strip()

# A level that ends in an ellipsis is a truncated product name (Flipkart puts the product's own name,
# cut to ~50 characters, at the end of its category tree): never a category.
_TRUNCATED = ("...", "…")


def _strip_latin_accents(text: str) -> str:
    """Drop accents from Latin letters only ("Nestlé" -> "Nestle"); marks in other scripts (Devanagari
    vowel signs, ...) carry meaning and stay."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.category(ch) == "Mn" and out and out[-1].isascii() and out[-1].isalpha():
            continue
        out.append(ch)
    return unicodedata.normalize("NFKC", "".join(out))


def normalise_brand(name: str | None) -> str | None:
    """Canonical Brand key: NFKC, accents off Latin letters, casefold, punctuation removed, legal
    suffixes (inc, ltd, llc, gmbh, corp, co, pvt, ...) dropped from the end, spaces collapsed.

    Returns None for None, blank, or a name made only of punctuation.
    """
    if name is None:
        return None
    text = _strip_latin_accents(unicodedata.normalize("NFKC", str(name))).casefold()
    chars = []
    for ch in text:
        if ch in _JOINING:
            continue
        # Letters and digits of any script stay; combining marks stay (they belong to the letter).
        chars.append(ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " ")
    words = "".join(chars).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words) or None


def json_list(text: str) -> list | None:
    """The list a text cell holds as JSON ("[...]", e.g. a category tree or several image names),
    None when the text is not a JSON list."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    decoded = _json_or_none(text)
    return decoded if isinstance(decoded, list) else None


# A structure in a text cell nested deeper than this is not a list or a specification table
# (those need three levels: {"spec": [{"key": .., "value": ..}]}): it is kept as text, and the
# readers below never recurse through a hostile "[[[[...]]]]" cell.
MAX_STRUCTURE_DEPTH = 8


def _json_or_none(text: str):
    """json.loads, or None for text that is not JSON or nests too deep for the decoder (RecursionError:
    a cell of thousands of "[" would otherwise end the ingest with a traceback)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _depth(value) -> int:
    """Nesting depth of decoded JSON (a scalar is 0), counted without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_STRUCTURE_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


# A JSON string literal (escapes included): what the hash-notation rewrite below must leave alone.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NIL = re.compile(r"\bnil\b")


def structured_text(text: str) -> dict | list | None:
    """The object or list a text cell holds, written as JSON or in the `=>` hash notation Ruby and
    PHP print (`{"key"=>"Brand", "value"=>"Acme"}`, nil for null: how some shop exports write their
    specification tables); None when the text is neither, or nests deeper than MAX_STRUCTURE_DEPTH
    (it is then an ordinary value). Only the
    text outside string literals is rewritten, so a "=>" inside a value is kept."""
    text = text.strip()
    if not ((text.startswith("{") and text.endswith("}")) or (text.startswith("[") and text.endswith("]"))):
        return None
    for candidate in (text, _hash_as_json(text)):
        decoded = _json_or_none(candidate)
        if isinstance(decoded, (dict, list)):
            return decoded if _depth(decoded) <= MAX_STRUCTURE_DEPTH else None
    return None


def _hash_as_json(text: str) -> str:
    def outside(part: str) -> str:
        return _NIL.sub("null", part.replace("=>", ":"))

    pieces, at = [], 0
    for literal in _JSON_STRING.finditer(text):
        pieces += [outside(text[at:literal.start()]), literal.group()]
        at = literal.end()
    return "".join(pieces + [outside(text[at:])])


def _levels_from_text(text: str, separator: str) -> list[str]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        # Flipkart stores the tree as a JSON list holding one path string.
        decoded = json_list(text)
        if decoded is not None:
            return _levels_from_list(decoded, separator)
        text = text[1:-1]
    return text.split(separator) if separator else [text]


def _levels_from_list(items: Sequence[Any], separator: str) -> list[str]:
    strings = [str(item) for item in items if item is not None]
    # A list whose items contain the separator is a list of whole paths: take the first one.
    # Otherwise the items are the levels themselves (a list column in JSONL or Parquet).
    for item in strings:
        if separator and separator in item:
            return _levels_from_text(item, separator)
    return strings


# Separators category paths are written with, in the order they are preferred when several occur in
# the values (">" inside ">>" is not counted twice; "/" is often part of a level's name: "Tops/Tees").
SEPARATORS = (">>", "»", "›", "→", ">", "|", "\\", "/")
# A separator found in at least this share of the non-blank values is the one (a few values may be
# top-level categories with no separator at all).
SEPARATOR_MIN_SHARE = 0.2


def _path_text(value: Any) -> str | None:
    if value is None or isinstance(value, (list, tuple)):
        return None
    text = str(value).strip()
    decoded = json_list(text)
    if decoded:
        return str(decoded[0])
    return text or None


def separator_shares(values: Sequence[Any]) -> dict[str, float]:
    """Share of the non-blank text values containing each of SEPARATORS (">" not counting ">>")."""
    texts = [t for t in (_path_text(v) for v in values) if t]
    if not texts:
        return {}
    shares = {}
    for sep in SEPARATORS:
        hits = sum(1 for t in texts if sep in (t.replace(">>", "") if sep == ">" else t))
        if hits:
            shares[sep] = hits / len(texts)
    return shares


def detect_separator(values: Sequence[Any]) -> str | None:
    """The category path separator the values use: the first of SEPARATORS found in at least
    SEPARATOR_MIN_SHARE of them; None when none is (flat categories, or list values)."""
    shares = separator_shares(values)
    return next((sep for sep in SEPARATORS if shares.get(sep, 0) >= SEPARATOR_MIN_SHARE), None)


def parse_category_path(value: Any, separator: str | None = ">>",
                        max_depth: int | None = DEFAULT_CATEGORY_DEPTH) -> tuple[str, ...]:
    """Root-to-leaf category levels from a path string, a bracketed/quoted list string, or a list.

    Levels are stripped of spaces and quotes and collapsed inside; blank levels and levels that end in
    an ellipsis (truncated product names) are dropped; the path is cut to max_depth levels (None: no
    limit). A ">" inside a level becomes "/" so that category_key (levels joined with " > ") stays
    unambiguous. None or blank gives ().
    """
    if max_depth is not None and max_depth < 1:
        raise BadArgumentError(f"max_depth must be at least 1, got {max_depth}")
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        raw = _levels_from_list(value, separator)
    else:
        raw = _levels_from_text(str(value), separator)
    levels: list[str] = []
    for level in raw:
        level = " ".join(level.strip().strip("\"'").split())
        level = level.replace(_KEY_MARK, "/")
        if not level or level.endswith(_TRUNCATED):
            continue
        levels.append(level)
    return tuple(levels[:max_depth] if max_depth is not None else levels)


def category_key(path: Sequence[str]) -> str:
    """The Category node key of a path: its levels joined with records.CATEGORY_SEPARATOR."""
    return CATEGORY_SEPARATOR.join(path)
