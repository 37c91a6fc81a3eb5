"""Product attributes: normalised keys, and values kept as text with a parsed number and unit.

An attribute becomes `(:Product)-[:HAS_ATTRIBUTE {value, norm, number, unit, base_number,
base_unit}]->(:Attribute {key})`:

- key (`attribute_key`): NFKC, case-folded, trimmed, every run of characters other than letters and
  digits as one "_" ("Colour ", "colour" -> "colour"), then the synonym table
  (data/attribute_keys.toml, plus config ingest.attribute_synonyms): "colour" -> "color".
- value: the text as written (numbers as their exact text); norm: NFKC, case-folded, spaces
  collapsed; for a date its ISO form.
- number / unit (`parse_value`), when the whole value is one of:
  a number with an optional unit ("256 GB" -> 256, "GB"; "8.10 %" -> 8.1, "%"; "1,5 kg" -> 1.5, "kg";
  "8 pack" -> 8, "pack"), a duration "m:ss" or "h:mm:ss" ("6:30" -> 390, "s"), a date with a month name
  or in ISO form ("18-May-15", "May 18 , 2015", "2015-05-18" -> norm "2015-05-18", number = days since
  1970-01-01, unit "date"). Numbers read as prices do (prices.py: "1,299" = 1299, "12,50" = 12.5).
- base_number / base_unit: the number in the base unit of a known unit (data/units.toml: 1 TB ->
  1e12, "B"; 500 GB -> 5e11, "B"), so values compare across units; None for unknown units.
Anything else is text only. Lists give one attribute per item; a dict (JSON object) gives one per key
(a specification table).
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
import tomllib
import unicodedata
from collections.abc import Mapping  # not typing's: its isinstance is ~5x slower (ingest calls it per cell)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from shopgraph.ingest.normalise import structured_text

DATA = Path(__file__).parent / "data"
MAX_UNIT_CHARS = 20
_EPOCH = _dt.date(1970, 1, 1)
_KEY_SEPARATORS = re.compile(r"[^\w]+|_+")
_NUMBER_UNIT = re.compile(r"(?P<sign>[+\-\u2212]?)(?P<num>\.?[0-9](?:[0-9.,'\u00a0\u202f\u2009 ]*[0-9])?)"
                          r"\s*(?P<unit>[^\s0-9].*)?")
_UNIT_TEXT = re.compile(r"[^\W\d]+(?:[ ./][^\W\d]+){0,2}|[%\"″°]|[^\W\d]*[²³]", re.UNICODE)
_DURATION = re.compile(r"(?:(\d{1,3}):)?(\d{1,3}):([0-5]\d)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_DATE = re.compile(r"(?i)(?=.*\b(?:" + "|".join(_MONTHS) + r")[a-z]*\.?\b)[\w .,/\-]{5,30}")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class ParsedValue:
    """What parse_value reads from one value (see the module docstring)."""

    norm: str
    number: float | None = None
    unit: str | None = None
    base_number: float | None = None
    base_unit: str | None = None


@dataclass(frozen=True)
class Attribute:
    """One attribute of a product: key (normalised), value (raw text) and its ParsedValue fields."""

    key: str
    value: str
    parsed: ParsedValue

    def edge(self) -> dict:
        """The HAS_ATTRIBUTE properties."""
        p = self.parsed
        return {"value": self.value, "norm": p.norm, "number": p.number, "unit": p.unit,
                "base_number": p.base_number, "base_unit": p.base_unit}


# -- keys -------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def synonyms(extra_file: str | None = None) -> Mapping[str, str]:
    """The key synonym table: data/attribute_keys.toml, updated by extra_file (a TOML file with a
    [synonyms] table; ConfigError when unreadable)."""
    from shopgraph.errors import ConfigError

    table = dict(_load_toml(DATA / "attribute_keys.toml").get("synonyms", {}))
    if extra_file:
        try:
            extra = _load_toml(Path(extra_file)).get("synonyms", {})
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read attribute synonyms {extra_file}: {e}") from None
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise ConfigError(f"{extra_file}: [synonyms] must map keys to key names")
        table.update({_squash(k): _squash(v) for k, v in extra.items()})
    return table


def _load_toml(path: Path) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def _squash(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).casefold().strip()
    return _KEY_SEPARATORS.sub("_", text).strip("_")


def attribute_key(name: Any, synonym_file: str | None = None) -> str | None:
    """The normalised key of an attribute name (see the module docstring); None when nothing is left."""
    key = _squash(name)
    if not key:
        return None
    return synonyms(synonym_file).get(key, key)


# -- values -----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _units() -> tuple[dict[str, tuple[str, str, float]], dict[str, tuple[str, str, float]]]:
    """(exact token -> (symbol, base unit, factor), lower-case token -> the same when unambiguous)."""
    table = {token: (symbol, base, float(factor))
             for token, (symbol, base, factor) in _load_toml(DATA / "units.toml")["units"].items()}
    folded: dict[str, set] = {}
    for token, spec in table.items():
        folded.setdefault(token.casefold(), set()).add(spec)
    return table, {k: next(iter(v)) for k, v in folded.items() if len(v) == 1}


def unit_of(text: str) -> tuple[str, str, float] | None:
    """(symbol, base unit, factor) of a unit token, or None when it is not in data/units.toml."""
    exact, folded = _units()
    token = " ".join(text.split())
    return exact.get(token) or folded.get(token.casefold()) or exact.get(token.rstrip(".")) \
        or folded.get(token.rstrip(".").casefold())


def value_text(value: Any) -> str | None:
    """A scalar value as text: str as it is (None when blank), an integer exactly, a float by repr
    without a trailing ".0", a bool as "true" / "false"; None for None and NaN."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    text = str(value).strip()
    return text or None


def normalise_text(text: str) -> str:
    """NFKC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@functools.lru_cache(maxsize=65536)
def parse_value(text: str) -> ParsedValue:
    """The norm, number and unit of one value (see the module docstring). Cached: catalog values
    repeat (colours, sizes), and a 100k-row catalog has millions of them."""
    norm = normalise_text(text)
    compact = unicodedata.normalize("NFKC", text).strip()
    parsed = _duration(compact) or _number_unit(compact) or _date(compact)
    if parsed is None:
        return ParsedValue(norm)
    return ParsedValue(parsed.norm or norm, parsed.number, parsed.unit, parsed.base_number, parsed.base_unit)


def _duration(text: str) -> ParsedValue | None:
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if match.group(1) is not None and minutes > 59:
        return None
    total = float(hours * 3600 + minutes * 60 + seconds)
    return ParsedValue("", total, "s", total, "s")


def _number_unit(text: str) -> ParsedValue | None:
    from shopgraph.ingest.prices import read_number

    match = _NUMBER_UNIT.fullmatch(text)
    if match is None:
        return None
    try:
        number = read_number(match.group("num"))
    except ValueError:
        return None
    if match.group("sign") in ("-", "\u2212"):
        number = -number
    unit_text = (match.group("unit") or "").strip()
    if not unit_text:
        return ParsedValue("", number)
    if len(unit_text) > MAX_UNIT_CHARS or not _UNIT_TEXT.fullmatch(unit_text):
        return None
    known = unit_of(unit_text)
    if known is None:
        return ParsedValue("", number, normalise_text(unit_text))
    symbol, base, factor = known
    return ParsedValue("", number, symbol, number * factor, base)


def _date(text: str) -> ParsedValue | None:
    day = None
    iso = _ISO_DATE.fullmatch(text)
    if iso is not None:
        try:
            day = _dt.date(*(int(g) for g in iso.groups()))
        except ValueError:
            return None
    elif _MONTH_DATE.fullmatch(text) and sum(ch.isdigit() for ch in text) >= 3:
        day = _month_name_date(text)
    if day is None:
        return None
    days = float((day - _EPOCH).days)
    return ParsedValue(day.isoformat(), days, "date", days, "day")


def _month_name_date(text: str) -> _dt.date | None:
    """A full date written with a month name, by dateutil; None when a part (day, year) is missing
    (two parses with different defaults must agree) or it does not parse."""
    from dateutil import parser

    try:
        first = parser.parse(text, default=_dt.datetime(2001, 1, 1))
        second = parser.parse(text, default=_dt.datetime(2002, 2, 2))
    except (ValueError, OverflowError, parser.ParserError):
        return None
    if first.date() != second.date():
        return None
    return first.date()


# -- from a row -------------------------------------------------------------------------------------

def attributes_of(name: Any, value: Any, synonym_file: str | None = None) -> Iterator[Attribute]:
    """The attributes a column gives: one for a scalar, one per item of a list, one per key of a
    dict (a specification table: the dict's keys name the attributes). A text cell holding a JSON or
    `=>`-notation object or list (normalise.structured_text) is read as that structure, so a
    specification table exported as text gives its attributes, not one long value. Blank values give none."""
    if isinstance(value, str):
        decoded = structured_text(value)
        if decoded is not None:
            value = decoded
    if isinstance(value, Mapping):
        for sub, item in value.items():
            yield from attributes_of(sub, item, synonym_file)
        return
    key = attribute_key(name, synonym_file)
    if key is None:
        return
    items = value if isinstance(value, (list, tuple)) else (value,)
    for item in items:
        if isinstance(item, Mapping):
            yield from _pair_or_table(key, item, synonym_file)
            continue
        text = value_text(item)
        if text is not None:
            yield Attribute(key, text, parse_value(text))


def _pair_or_table(key: str, item: Mapping, synonym_file: str | None) -> Iterator[Attribute]:
    """A {"key": ..., "value": ...} pair (how specification lists are often written) is one attribute
    named by its key; any other dict is a table of attributes."""
    names = {str(k).casefold(): k for k in item}
    if set(names) <= {"key", "value", "name"} and "value" in names:
        label = item.get(names.get("key") or names.get("name"), key) if ("key" in names or "name" in names) else key
        yield from attributes_of(label, item[names["value"]], synonym_file)
    else:
        yield from attributes_of(key, dict(item), synonym_file)
