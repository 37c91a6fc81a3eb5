"""Text -> index terms for the lexical (BM25) index, the same for documents and queries.

The engine only ever sees whitespace-separated terms made here, so the behaviour does not depend on
an engine's tokenizers and is the same on every machine:
- NFKC + casefold (full-width letters, ligatures and case variants become one form);
- words: runs of letters/digits in scripts written with spaces (Latin, Cyrillic, Greek, Arabic, ...);
- scripts written without spaces (Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer, Myanmar):
  every character and every pair of neighbouring characters ("连衣裙" -> 连 衣 裙 连衣 衣裙), so a
  query word matches inside a longer title without a segmenter (character bigrams, as in Lucene's
  CJK analyzer; single characters keep one-character queries such as "鞋" working);
- model numbers kept whole: a token mixing letters and digits, written with dashes, dots or slashes,
  is also indexed in its compact form ("WM-330S" -> wm 330s wm330s), and short neighbours are joined
  ("sm g991b" -> smg991b), with the same rules as the hashed lexical vectors
  (shopgraph/ingest/encoders/lexical.py).

`identifier_key` is the normal form for exact identifier lookup: case, spaces, dashes, dots and
slashes removed ("WM-330S" == "wm330s" == "WM 330 S").
"""

from __future__ import annotations

import re

import regex

from shopgraph.ingest.encoders.lexical import _HAS_DIGIT, _QUANTITY, _SEPARATORS, _joinable, _mixed, normalize

ANALYZER_VERSION = 1  # bump when the terms change: a saved index made by another version is rebuilt

# Scripts written without spaces between words: indexed as character unigrams + bigrams.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_UNSPACED_RUN = regex.compile(rf"[{_UNSPACED}]+")
# A word: letters, digits and combining marks (Devanagari vowel signs are marks), outside those scripts.
_WORD = regex.compile(rf"(?:(?![{_UNSPACED}])[\p{{L}}\p{{N}}\p{{M}}])+")
_KEY_DROP = regex.compile(r"[\s\p{P}\p{S}_]+")
# An ASCII token with inner separators, not part of a longer word ("caf" in "café" is not a token).
# (Unspaced scripts do end a token: "ksr10-07-25编码" holds ksr10-07-25.)
_WORD_CHAR = rf"[[\p{{L}}\p{{N}}]--[{_UNSPACED}]]"
_ASCII_TOKEN = regex.compile(rf"(?<!{_WORD_CHAR})[a-z0-9]+(?:[-./][a-z0-9]+)*(?!{_WORD_CHAR})", regex.V1)
# The same pattern for a text that is all ASCII, where a letter or digit of _WORD_CHAR is exactly
# [A-Za-z0-9]: the stdlib engine runs it several times faster than `regex` runs the Unicode classes,
# and most catalog text is ASCII (tests/search/test_analysis.py checks both give the same tokens).
_ASCII_TOKEN_IN_ASCII = re.compile(r"(?<![A-Za-z0-9])[a-z0-9]+(?:[-./][a-z0-9]+)*(?![A-Za-z0-9])")
_WORD_IN_ASCII = re.compile(r"[A-Za-z0-9]+")  # _WORD on ASCII text (no marks, no unspaced scripts there)
MAX_TERMS = 4096  # terms kept from one field (a description can be long; the first ones count)


def identifier_key(value: str) -> str:
    """Normal form of an identifier or model number for exact lookup: NFKC, casefold, and every
    space, punctuation mark and symbol removed. "WM-330S", "wm330s", "WM 330 S" -> "wm330s"."""
    return _KEY_DROP.sub("", normalize(value))


def _unspaced_terms(run: str, unigrams: bool) -> list[str]:
    """Unigrams (optional; always for a one-character run) and bigrams of a run without spaces."""
    if len(run) == 1:
        return [run]
    bigrams = [run[i:i + 2] for i in range(len(run) - 1)]
    return [*run, *bigrams] if unigrams else bigrams


def model_numbers(text: str) -> list[str]:
    """Model-number-like tokens of a text in their compact form, in order, without repeats:
    ASCII tokens mixing letters and digits that are not quantities ("wm330s", "sm-g991b" ->
    "smg991b"; not "128gb"), and short neighbours joined ("sm g991b" -> "smg991b")."""
    norm = normalize(text)
    matches = list((_ASCII_TOKEN_IN_ASCII if norm.isascii() else _ASCII_TOKEN).finditer(norm))
    tokens = [m.group() for m in matches]
    compact = [_SEPARATORS.sub("", t) for t in tokens]
    # Whether each token holds a digit, found once: a token without one is not mixed, and two
    # neighbours join only when exactly one has a digit (_joinable), which rules out most pairs of
    # a text (two plain words) before any other test. Same result as asking _mixed/_joinable.
    digit = [_HAS_DIGIT.search(c) is not None for c in compact]
    out: dict[str, None] = {}
    for raw, comp, has_digit in zip(tokens, compact, digit):
        if has_digit and _mixed(comp) and not _QUANTITY.fullmatch(raw):
            out[comp] = None
    for i in range(len(tokens) - 1):
        if digit[i] == digit[i + 1]:
            continue
        a, b = compact[i], compact[i + 1]
        only_space = norm[matches[i].end():matches[i + 1].start()].isspace()  # not across other words
        if only_space and _joinable(a, tokens[i], b, tokens[i + 1]) and not _QUANTITY.fullmatch(a + b):
            out[a + b] = None
    return list(out)


def terms(text: str, *, unigrams: bool = True, limit: int = MAX_TERMS) -> list[str]:
    """Index terms of one text, in order of appearance (repeats kept: they are term frequency).

    unigrams: also index single characters of unspaced scripts (besides bigrams).
    limit: at most this many terms (bounds the cost of long descriptions)."""
    if not text:
        return []
    norm = normalize(text)
    out: list[str] = []
    pos = 0
    for match in (() if norm.isascii() else _UNSPACED_RUN.finditer(norm)):  # ASCII has no unspaced run
        out.extend(_spaced_terms(norm[pos:match.start()]))
        out.extend(_unspaced_terms(match.group(), unigrams))
        pos = match.end()
        if len(out) >= limit:
            return out[:limit]
    out.extend(_spaced_terms(norm[pos:]))
    return out[:limit]


def _spaced_terms(chunk: str) -> list[str]:
    """Words of a chunk in spaced scripts, plus compact model-number forms not already a word."""
    if not chunk.strip():
        return []
    words = (_WORD_IN_ASCII if chunk.isascii() else _WORD).findall(chunk)
    seen = set(words)
    extra = [m for m in model_numbers(chunk) if m not in seen]
    return words + extra


def analyze(text: str, *, unigrams: bool = True, limit: int = MAX_TERMS) -> str:
    """`terms` joined by single spaces: the form handed to the engine."""
    return " ".join(terms(text, unigrams=unigrams, limit=limit))
