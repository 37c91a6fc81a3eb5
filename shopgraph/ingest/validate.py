"""Row validation: one source row -> a ProductRecord, or a QuarantinedRow saying exactly why not.

Checks, in order (the first failure is the reason):
- text fields are text: str, or UTF-8 bytes; numbers are accepted for id and brand (12 -> "12",
  12.0 -> "12"); no NUL characters and no lone surrogates anywhere;
- id present and non-empty after stripping, without control characters;
- title present, non-empty after control characters are replaced by spaces and spaces collapsed,
  at most limits.max_title_chars characters;
- description (mapped columns joined with "\\n", control characters other than \\n and \\t removed)
  at most limits.max_description_chars characters: too long is quarantined, never truncated;
- price: see parse_price; blank / NaN / None give price None (kept), the rest must be finite and >= 0;
- image (when mapped): resolved against image_base; blank or missing file gives image_path None when
  not limits.require_image, and quarantine when it is.
Brand is kept as displayed (spaces collapsed; the graph keys it with normalise_brand); category becomes
a tuple path (normalise.parse_category_path). currency is None when price is None.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from shopgraph.config import IngestConfig
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.normalise import parse_category_path
from shopgraph.ingest.quarantine import json_safe
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows
from shopgraph.records import ProductRecord, QuarantinedRow

log = logging.getLogger(__name__)

_BLANK_PRICES = frozenset({"", "nan", "none", "null", "n/a", "na", "-", "--"})
# First digit (or a dot right before one) to last digit, through thousands/decimal separators.
_PRICE_CORE = re.compile(r"\.?\d(?:[\d.,'\u00a0\u202f\u2009 ]*\d)?")
_PRICE_AFFIX = re.compile(r"[A-Za-z]{0,3}\.?")
_MINUS = ("-", "\u2212")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Reject(Exception):
    """Internal: the row fails validation; the message is the reason."""


def parse_price(value: Any) -> float | None:
    """A price as float, or None when blank. Raises ValueError with the reason when unparseable.

    Accepted: numbers; plain numeric strings ("1299", "12.5"); strings with a currency symbol or a
    code of up to 3 letters before or after ("$1,299.00", "Rs. 899", "1.299,00 €", "EUR 12",
    "-$5"); spaces and apostrophes as thousands separators ("1 299,00", "1'299.00").
    Separators: when both "," and "." occur, the later one is the decimal point ("1.299,00" =
    1299.0, "1,299.00" = 1299.0); several of one kind are thousands ("1,29,999" = 129999.0,
    "1.299.000" = 1299000.0); one "," followed by exactly 3 digits is thousands ("1,299" = 1299.0),
    otherwise decimal ("12,50" = 12.5); one "." is always decimal ("1.299" = 1.299).
    Blank: None, "", NaN, "nan", "none", "null", "n/a", "na", "-". Infinite values are an error;
    negative values are returned (the caller rejects them).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"price is a boolean ({value})")
    if isinstance(value, Real) or type(value).__name__ == "Decimal":
        number = float(value)
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
    try:
        number = float(text)     # plain numbers, "1e3", "nan", "inf"
    except ValueError:
        number = None
    if number is not None:
        return parse_price(number)
    match = _PRICE_CORE.search(text)
    if match is None:
        raise ValueError(f"unparseable price {value!r}")
    prefix, suffix = text[:match.start()], text[match.end():]
    negative = any(m in prefix for m in _MINUS)
    for affix in (prefix, suffix):
        rest = "".join(ch for ch in affix if not (ch.isspace() or ch in "+-\u2212" or unicodedata.category(ch) == "Sc"))
        if not _PRICE_AFFIX.fullmatch(rest):
            raise ValueError(f"unparseable price {value!r}")
    number = _parse_separators(re.sub(r"['\s\u00a0\u202f\u2009]", "", match.group()), value)
    return -number if negative else number


def _parse_separators(core: str, original: Any) -> float:
    bad = ValueError(f"unparseable price {original!r}")
    if "," in core and "." in core:
        decimal = "," if core.rfind(",") > core.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        if core.count(decimal) > 1:
            raise bad
        whole, frac = core.split(decimal)
        if not re.fullmatch(rf"\d+(?:{re.escape(thousands)}\d+)*", whole) or not frac.isdigit():
            raise bad
        core = whole.replace(thousands, "") + "." + frac
    elif "," in core:
        parts = core.split(",")
        if not all(p.isdigit() for p in parts):
            raise bad
        if len(parts) > 2 or len(parts[1]) == 3:
            core = "".join(parts)
        else:
            core = parts[0] + "." + parts[1]
    elif core.count(".") > 1:
        parts = core.split(".")
        if not all(p.isdigit() for p in parts):
            raise bad
        core = "".join(parts)
    try:
        return float(core)
    except ValueError:
        raise bad from None


def _as_text(value: Any, field: str, numbers_ok: bool = False) -> str | None:
    """value as str (None for None / NaN), or _Reject with the reason."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(f"{field}: invalid UTF-8 bytes") from None
    elif isinstance(value, Real) and not isinstance(value, bool) and numbers_ok:
        number = float(value)
        if not math.isfinite(number):
            raise _Reject(f"{field}: not a valid value ({value})")
        value = str(int(number)) if number.is_integer() and not isinstance(value, int) else str(value)
    elif not isinstance(value, str):
        raise _Reject(f"{field}: expected text, got {type(value).__name__}")
    if "\x00" in value:
        raise _Reject(f"{field}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject(f"{field}: invalid Unicode (lone surrogate)") from None
    return value


def _get(row: dict, column: str | None) -> Any:
    return row.get(column) if column is not None else None


def _single_line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _description(row: dict, mapping: ColumnMapping, limits: IngestConfig) -> str:
    parts = []
    for column in mapping.description:
        text = _as_text(row.get(column), f"description column {column!r}")
        if text is not None:
            text = _CONTROL_EXCEPT_NL_TAB.sub("", text).strip()
            if text:
                parts.append(text)
    description = "\n".join(parts)
    if len(description) > limits.max_description_chars:
        raise _Reject(f"description too long ({len(description)} characters > max_description_chars "
                      f"{limits.max_description_chars})")
    return description


def _category(value: Any, mapping: ColumnMapping) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        for item in value:
            _as_text(item, "category")
    elif value is not None and not (isinstance(value, float) and math.isnan(value)):
        value = _as_text(value, "category")
    else:
        return ()
    return parse_category_path(value, mapping.category_separator, mapping.category_max_depth)


def _image(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
           image_base: Path | None) -> tuple[str | None, str | None]:
    """(absolute image path or None, problem or None)."""
    if mapping.image is None:
        return None, None
    value = _as_text(row.get(mapping.image), "image")
    if value is None or not value.strip():
        problem = f"no image (column {mapping.image!r} is blank)"
    else:
        base = image_base if image_base is not None else Path(source_file).resolve().parent
        if mapping.images_inside_dir:
            path = Path(value.strip())
            inside = not path.is_absolute() and (base / path).resolve().is_relative_to(base.resolve())
            if not inside:
                path = None
                problem = f"image {value.strip()!r} is not a relative path inside the image folder"
        else:
            path = Path(value.strip()).expanduser()
        if path is not None:
            path = path if path.is_absolute() else base / path
            if path.is_file():
                return str(path.resolve()), None
            problem = f"image file not found: {path}"
    if limits.require_image:
        raise _Reject(problem)
    return None, problem


def _validate(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str, line: int,
              image_base: Path | None) -> tuple[ProductRecord | QuarantinedRow, str | None]:
    """The result, and the image problem of a kept record (None when its image is fine)."""
    try:
        if not isinstance(row, dict):
            raise _Reject(f"row is not a record ({type(row).__name__})")
        source_id = (_as_text(row.get(mapping.id), "id", numbers_ok=True) or "").strip()
        if not source_id:
            raise _Reject(f"missing id (column {mapping.id!r})")
        if _CONTROL.search(source_id):
            raise _Reject("id contains control characters")
        title = _single_line(_as_text(row.get(mapping.title), "title") or "")
        if not title:
            raise _Reject(f"missing title (column {mapping.title!r})")
        if len(title) > limits.max_title_chars:
            raise _Reject(f"title too long ({len(title)} characters > max_title_chars {limits.max_title_chars})")
        description = _description(row, mapping, limits)
        try:
            price = parse_price(_get(row, mapping.price))
        except (ValueError, UnicodeDecodeError) as e:
            raise _Reject(f"price: {e}") from None
        if price is not None and price < 0:
            raise _Reject(f"price: negative ({price})")
        currency = None
        if price is not None:
            currency = _as_text(_get(row, mapping.currency), "currency")
            currency = (currency or "").strip().upper() or mapping.default_currency
        brand = _single_line(_as_text(_get(row, mapping.brand), "brand", numbers_ok=True) or "") or None
        category = _category(_get(row, mapping.category), mapping)
        image_path, image_problem = _image(row, mapping, limits, source_file, image_base)
    except _Reject as e:
        raw = row if isinstance(row, dict) else {"raw": row}
        return QuarantinedRow(source_file, line, str(e), json_safe(raw)), None
    record = ProductRecord(platform=mapping.platform, source_id=source_id, title=title, description=description,
                           price=price, currency=currency, brand=brand, category_path=category,
                           image_path=image_path, source_file=source_file, source_line=line)
    return record, image_problem


def validate_product(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
                     line: int, image_base: Path | None) -> ProductRecord | QuarantinedRow:
    """Validate one row (see the module docstring). image_base None resolves relative image values
    against source_file's directory. The QuarantinedRow keeps the row made JSON-safe."""
    return _validate(row, mapping, limits, source_file, line, image_base)[0]


def read_products(path: str | Path, mapping: ColumnMapping, limits: IngestConfig | None = None,
                  format: str | None = None) -> Iterator[ProductRecord | QuarantinedRow]:
    """Read and validate a whole catalog file: check its columns against the mapping (BadFileError
    before anything is yielded), then stream one ProductRecord or QuarantinedRow per record.

    Unparseable records become QuarantinedRows with the reader's reason. Kept records whose image is
    missing are logged once at the end (count and first example), not one warning per row.
    """
    limits = limits or IngestConfig()
    path = Path(path)
    fmt = format or mapping.format
    check_columns(path, peek_columns(path, fmt), mapping)
    rows = read_rows(path, fmt, columns=mapping.columns())
    return _validated(rows, path, mapping, limits)


def _validated(rows, path: Path, mapping: ColumnMapping, limits: IngestConfig) -> Iterator:
    source_file, image_base = str(path), mapping.image_base(path)
    missing, first_problem = 0, None
    for line, row, error in rows:
        if error is not None:
            yield QuarantinedRow(source_file, line, error, json_safe(row or {}))
            continue
        result, problem = _validate(row, mapping, limits, source_file, line, image_base)
        if problem is not None:
            missing += 1
            first_problem = first_problem or f"line {line}: {problem}"
        yield result
    if missing:
        log.warning("%s: %d kept rows have no usable image (first: %s)", path, missing, first_problem)
