"""Numbers from catalog values turned into what the graph stores, exactly or not at all.

- `id_text`: a number that names something (a product, user or brand id) as text, never rounded.
  Integers keep every digit (9007199254740993 stays "9007199254740993"); a float is an id only when it
  is a whole number small enough that no other integer shares its float (|x| < 2**53), since a
  larger one may already have been rounded by whoever wrote the file (2**53 + 1 reads as 2**53).
- `int64`: an integer the store's INT64 columns can hold, or ValueError.
- `to_float`: float(value) with an overflowing integer as ValueError, not OverflowError.

Every conversion of a value read from a file goes through these (or prices.parse_price), so one bad
value is one row's problem (ValueError -> the row is quarantined), never an exception that ends the run.
"""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Integral, Real
from typing import Any

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
EXACT_FLOAT_INT = 2 ** 53


def to_float(value: Any) -> float:
    """float(value); ValueError (not OverflowError) for an integer beyond the float range."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"number out of range ({str(value)[:40]}...)") from None


def int64(value: int, what: str) -> int:
    """value when it fits a signed 64-bit integer; ValueError naming `what` otherwise."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{what} out of range ({str(value)[:40]})")
    return value


def id_text(value: Any, field: str) -> str:
    """A numeric id as exact text (see the module docstring); ValueError with the reason otherwise.
    value is an int, float or Decimal (not bool)."""
    if isinstance(value, bool) or not isinstance(value, (Real, Decimal)):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field}: not a valid id ({value})")
        return str(int(value)) if value == value.to_integral_value() else str(value)
    number = to_float(value)
    if not math.isfinite(number):
        raise ValueError(f"{field}: not a valid id ({value})")
    if number.is_integer():
        if abs(number) >= EXACT_FLOAT_INT:
            raise ValueError(f"{field}: {value!r} is a floating-point number too large to be an exact id "
                             f"(write ids as text or integers)")
        return str(int(number))
    return repr(number)
