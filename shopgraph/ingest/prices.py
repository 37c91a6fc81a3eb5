"""Prices from catalog values: the one place a price is read (numbers, or text such as "$1,299.00").

`parse_price` returns a float or None (blank) and raises ValueError with the reason for anything it
cannot read with certainty; the caller decides what an unreadable price means for the row.
"""

from __future__ import annotations

import math
import re
import unicodedata
from numbers import Real
from typing import Any

_BLANK_PRICES = frozenset({"", "nan", "none", "null", "n/a", "na", "-", "--"})
# A plain number as float() would read it, minus what float() also accepts but a price never is
# ("1_000", non-ASCII digits): optional sign, digits with one optional point, optional exponent.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                           re.IGNORECASE)
# First digit (or a point right before one) to last digit, through thousands/decimal separators.
_SPACES = "\u00a0\u202f\u2009 "
_PRICE_CORE = re.compile(rf"\.?[0-9](?:[0-9.,'{_SPACES}]*[0-9])?")
_PRICE_AFFIX = re.compile(r"[A-Za-z]{0,3}\.?")
_MINUS = ("-", "\u2212")
_WESTERN_GROUPS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_INDIAN_GROUPS = re.compile(r"[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3}")


def _float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"price out of range ({str(value)[:40]})") from None


def parse_price(value: Any) -> float | None:
    """A price as float, or None when blank. Raises ValueError with the reason when unreadable.

    Accepted: numbers; plain numeric strings ("1299", "12.5", "1e3"); strings with a currency symbol
    or a code of up to 3 letters before or after ("$1,299.00", "Rs. 899", "1.299,00 €", "EUR 12",
    "-$5"); spaces and apostrophes as thousands separators ("1 299,00", "1'299.00"). Digits are 0-9.
    Separators: when both "," and "." occur, the later one is the decimal point and occurs once
    ("1.299,00" = 1299.0, "1,299.00" = 1299.0); several of one kind are thousands ("1.299.000" =
    1299000.0); one "," followed by exactly 3 digits is thousands ("1,299" = 1299.0), otherwise decimal
    ("12,50" = 12.5); one "." is always decimal ("1.299" = 1.299). Thousands separators must group the
    digits as people write them: groups of 3 after a first group of 1-3 digits, or the Indian 2-2-3
    ("1,29,999" = 129999.0); so "1.2.3" and "1,2,3,4" are unreadable, not 123 and 1234.
    Blank: None, "", NaN, "nan", "none", "null", "n/a", "na", "-". Infinite or out-of-range values
    are an error; negative values are returned (the caller rejects them).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"price is a boolean ({value})")
    if isinstance(value, Real) or type(value).__name__ == "Decimal":
        number = _float(value)
        if math.isnan(number):
            return None
        if not math.isfinite(number):
            raise ValueError(f"price is not finite ({number})")
        return number
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "strict")
    if not isinstance(value, str):
        raise ValueError(f"price must be a number or text, got {type(value).__name__}")
    text = value.strip()
    if text.lower() in _BLANK_PRICES:
        return None
    if _PLAIN_NUMBER.fullmatch(text):
        return parse_price(_float(text))
    match = _PRICE_CORE.search(text)
    if match is None:
        raise ValueError(f"unparseable price {_shown(value)}")
    prefix, suffix = text[:match.start()], text[match.end():]
    negative = any(m in prefix for m in _MINUS)
    for affix in (prefix, suffix):
        rest = "".join(ch for ch in affix if not (ch.isspace() or ch in "+-\u2212" or unicodedata.category(ch) == "Sc"))
        if not _PRICE_AFFIX.fullmatch(rest):
            raise ValueError(f"unparseable price {_shown(value)}")
    number = _parse_separators(match.group(), value)
    return -number if negative else number


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_separators(core: str, original: Any) -> float:
    """The number in core (digits and separators, as matched by _PRICE_CORE); ValueError when the
    separators do not read one way for certain."""
    bad = ValueError(f"unparseable price {_shown(original)}")
    core = re.sub(f"[{_SPACES}]", " ", core)
    marks = [ch for ch in core if not ch.isdigit()]
    points = [ch for ch in marks if ch in ".,"]
    decimal = None
    if "," in points and "." in points:
        decimal = points[-1]
    elif points.count(",") == 1:
        after = core.rsplit(",", 1)[1]
        decimal = None if len(after) == 3 and after.isdigit() else ","
    elif points.count(".") == 1:
        decimal = "."
    whole, frac = core, ""
    if decimal is not None:
        if marks.count(decimal) != 1 or marks[-1] != decimal:
            raise bad                       # a decimal mark is the last separator and occurs once
        whole, frac = core.split(decimal)
        if not frac.isdigit():
            raise bad
    thousands = {ch for ch in whole if not ch.isdigit()}
    if len(thousands) > 1:
        raise bad
    if thousands:
        grouped = whole.replace(thousands.pop(), ",")
        if not (_WESTERN_GROUPS.fullmatch(grouped) or _INDIAN_GROUPS.fullmatch(grouped)):
            raise bad
        whole = grouped.replace(",", "")
    try:
        return _float(f"{whole or '0'}.{frac or '0'}")
    except ValueError:
        raise bad from None
