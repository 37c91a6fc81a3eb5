"""Prices from catalog values: the one place a price (amount and currency) is read.

`read_price(value, default_currency)` returns a `PriceValue` (amount, ISO 4217 currency, the symbol
as written) or raises ValueError with the reason for anything it cannot read with certainty; the
caller decides what an unreadable price means for the row (validate.py keeps the product without a
price and the raw text as an attribute). `parse_price(value)` is the amount alone.

Division of labour:
- The currency symbol or code is found by PyPI `price-parser` (symbols and codes before or after the
  number: "$", "€", "Lei", "лв", "kr", "zł", "R$", "US$", "EUR" ...), and turned into an ISO code by
  `currency_code`: a three-letter ISO code is itself; a symbol that one current currency uses is that
  currency; a symbol several use ("$", "¥", "kr", "£", "Rs") is the mapping's default_currency when
  that is one of them, else the most common one (AMBIGUOUS_PRIMARY, data below: "$" -> USD).
- The amount is read here, strictly: thousands separators must group the digits as people write them
  (price-parser would read "1.2.3" or "n0pe" as numbers; a price is better missing than wrong), and
  the text around the number may hold nothing but the currency token, signs and punctuation.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
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
# What may surround the number besides the currency token: spaces, signs and punctuation
# ("Rs. 899/-", "589.99 Lei;", "(EUR 12)").
_AFFIX_NOISE = re.compile(r"[\s+\-\u2212.,;:/()\[\]*=~]+")
_MINUS = ("-", "\u2212")
_WESTERN_GROUPS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_INDIAN_GROUPS = re.compile(r"[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3}")

# Symbols several current currencies use, most used first: without a default currency among them, a
# symbol means the first ("$" -> USD, "kr" -> SEK). Currencies listed here count as users of the
# symbol besides those price-parser's table names. Data, not code per dataset.
AMBIGUOUS = {
    "$": ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN"), "US$": ("USD",), "C$": ("CAD", "NIO"),
    "¥": ("JPY", "CNY"), "￥": ("JPY", "CNY"), "元": ("CNY",), "£": ("GBP", "EGP", "GIP", "FKP"),
    "kr": ("SEK", "NOK", "DKK", "ISK"), "kr.": ("DKK", "ISK"), "Kr": ("SEK", "NOK", "DKK"),
    "Rs": ("INR", "PKR", "LKR", "NPR", "MUR"), "Rs.": ("INR", "PKR", "LKR", "NPR", "MUR"),
    "₨": ("INR", "PKR", "LKR", "NPR", "MUR"), "R": ("ZAR",), "Fr": ("CHF",), "Fr.": ("CHF",),
    "руб": ("RUB", "BYN"), "руб.": ("RUB", "BYN"), "р.": ("RUB", "BYN"), "лв": ("BGN", "KGS", "UZS"),
    "лв.": ("BGN",), "din": ("RSD",), "дин.": ("RSD",), "₩": ("KRW", "KPW"), "lei": ("RON", "MDL"),
    "Lei": ("RON", "MDL"), "LEI": ("RON", "MDL"),
}


@dataclass(frozen=True)
class PriceValue:
    """A read price: amount (float, None when blank), currency (ISO 4217 code or None) and symbol (the
    currency token as written, e.g. "€", "Lei", "EUR"; None when the value had none)."""

    amount: float | None
    currency: str | None = None
    symbol: str | None = None


def _float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"price out of range ({str(value)[:40]})") from None


@functools.lru_cache(maxsize=1)
def _symbol_table() -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """(current ISO codes, symbol -> the current currencies using it) from price-parser's table
    (which also lists currencies the euro replaced: those are left out)."""
    from price_parser import _currencies as table

    retired = set(getattr(table, "REPLACED_BY_EURO", {}))
    codes = frozenset(code for code in table.CURRENCIES if code not in retired)
    users: dict[str, set[str]] = {}
    for code in codes:
        info = table.CURRENCIES[code]
        for symbol in (info.get("s"), info.get("sn"), *info.get("sn2", [])):
            if symbol:
                users.setdefault(symbol.strip(), set()).add(code)
    return codes, {symbol: tuple(sorted(found)) for symbol, found in users.items()}


def is_currency_code(text: str | None) -> bool:
    """Whether text is a current ISO 4217 code ("EUR", "INR"; upper case)."""
    return bool(text) and text in _symbol_table()[0]


def currency_code(symbol: str | None, default: str | None = None) -> str | None:
    """The ISO 4217 code a currency token stands for (see the module docstring); None when unknown.

    "eur", "EUR" -> "EUR"; "€" -> "EUR"; "$" -> default when it is a dollar currency (AUD, CAD ...),
    else "USD"; "Lei" -> "RON"."""
    if symbol is None:
        return None
    text = unicodedata.normalize("NFKC", str(symbol)).strip()
    if not text:
        return None
    codes, users = _symbol_table()
    if text.upper() in codes and text.isalpha() and len(text) == 3:
        return text.upper()
    preferred = AMBIGUOUS.get(text) or AMBIGUOUS.get(text.rstrip(".")) or ()
    candidates = set(preferred) | set(users.get(text, ())) | set(users.get(text.rstrip("."), ()))
    if default is not None and default.upper() in candidates:
        return default.upper()
    if preferred:
        return preferred[0]
    return min(candidates) if len(candidates) == 1 else None


def parse_price(value: Any) -> float | None:
    """The amount of a price (see read_price), or None when blank; ValueError when unreadable."""
    return read_price(value).amount


def read_price(value: Any, default_currency: str | None = None) -> PriceValue:
    """A price as PriceValue; PriceValue(None) when blank. Raises ValueError with the reason when
    the value cannot be read with certainty.

    Accepted: numbers; plain numeric strings ("1299", "12.5", "1e3"); strings with a currency symbol
    or code before or after ("$1,299.00", "Rs. 899", "1.099,00 €", "EUR 12", "589.99 Lei;", "-$5");
    spaces and apostrophes as thousands separators ("1 299,00", "1'299.00"). Digits are 0-9.
    Separators: when both "," and "." occur, the later one is the decimal point and occurs once
    ("1.299,00" = 1299.0, "1,299.00" = 1299.0); several of one kind are thousands ("1.299.000" =
    1299000.0); one "," followed by exactly 3 digits is thousands ("1,299" = 1299.0), otherwise decimal
    ("12,50" = 12.5); one "." is always decimal ("1.299" = 1.299). Thousands separators must group the
    digits as people write them: groups of 3 after a first group of 1-3 digits, or the Indian 2-2-3
    ("1,29,999" = 129999.0); so "1.2.3" and "1,2,3,4" are unreadable, not 123 and 1234. Any other
    text ("POA", "n0pe", "approx 12", "12 to 20") is unreadable.
    Blank: None, "", NaN, "nan", "none", "null", "n/a", "na", "-". Infinite or out-of-range values
    are an error; negative values are returned (the caller rejects them). currency: the value's own
    currency (currency_code of its symbol, with default_currency settling ambiguous symbols), else None
    (the caller applies its default).
    """
    if value is None:
        return PriceValue(None)
    if isinstance(value, bool):
        raise ValueError(f"price is a boolean ({value})")
    if isinstance(value, Real) or type(value).__name__ == "Decimal":
        number = _float(value)
        if math.isnan(number):
            return PriceValue(None)
        if not math.isfinite(number):
            raise ValueError(f"price is not finite ({number})")
        return PriceValue(number)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "strict")
    if not isinstance(value, str):
        raise ValueError(f"price must be a number or text, got {type(value).__name__}")
    text = value.strip()
    if text.lower() in _BLANK_PRICES:
        return PriceValue(None)
    if _PLAIN_NUMBER.fullmatch(text):
        return read_price(_float(text))
    match = _PRICE_CORE.search(text)
    if match is None:
        raise ValueError(f"unparseable price {_shown(value)}")
    prefix, suffix = text[:match.start()], text[match.end():]
    symbol = _currency_token(prefix, suffix, value)
    number = _parse_separators(match.group(), value)
    negative = any(m in prefix for m in _MINUS)
    currency = currency_code(symbol, default_currency) if symbol else None
    return PriceValue(-number if negative else number, currency, symbol)


def _currency_token(prefix: str, suffix: str, original: Any) -> str | None:
    """The currency token of the text around the number (None when there is none); ValueError when
    that text holds anything else (words, another number)."""
    from price_parser import Price

    leftovers = []
    found = None
    for affix in (prefix, suffix):
        rest = _AFFIX_NOISE.sub(" ", affix).strip()
        if not rest:
            continue
        token = Price.fromstring(rest).currency
        if token and found is None:
            remainder = rest.replace(token, " ", 1).strip()
        else:
            remainder = rest
        # "NZD $ 12": a code with its sign beside it is one token.
        if token and found is None and all(unicodedata.category(c) == "Sc" for c in _AFFIX_NOISE.sub("", remainder)):
            found = token
            continue
        leftovers.append(rest)
    if leftovers:
        # Symbols price-parser does not list (a lone currency sign, e.g. "₿") still count as one.
        if len(leftovers) == 1 and found is None and all(unicodedata.category(c) == "Sc" for c in leftovers[0]):
            return leftovers[0]
        raise ValueError(f"unparseable price {_shown(original)}")
    return found


def read_number(core: str) -> float:
    """A number written with thousands and decimal separators ("1,299", "12,50", "1.099,00") by the
    price rules above (attribute values use it too); ValueError when the separators are ambiguous."""
    if not _PRICE_CORE.fullmatch(core):
        raise ValueError(f"not a number {_shown(core)}")
    return _parse_separators(core, core)


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
