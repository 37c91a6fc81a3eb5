"""Row validation: one source row -> a ProductRecord, or a QuarantinedRow saying exactly why not.

Checks, in order (the first failure is the reason):
- text fields are text: str, or UTF-8 bytes; numbers are accepted for id and brand, as exact text
  (values.id_text: 12 -> "12", 12.0 -> "12", 9007199254740993 -> "9007199254740993"; a float too large
  to be exact is refused); no NUL characters and no lone surrogates anywhere;
- id present and non-empty after stripping, without control characters, at most limits.max_id_chars;
- title present, non-empty after control characters are replaced by spaces and spaces collapsed,
  at most limits.max_title_chars characters;
- description (mapped columns joined with "\\n", control characters other than \\n and \\t removed)
  at most limits.max_description_chars characters;
- price: see prices.parse_price; blank / NaN / None give price None (kept), the rest must be finite
  and >= 0; a currency is at most CURRENCY_MAX_CHARS characters;
- brand at most limits.max_brand_chars characters, category path (its key, levels joined with " > ")
  at most limits.max_category_chars;
- image (when mapped): resolved against image_base; blank, missing, not a regular file, unreadable or
  larger than limits.max_image_bytes gives image_path None when not limits.require_image, and
  quarantine when it is. A usable image's bytes are hashed (image_digest).
Too long is quarantined, never truncated. Brand is kept as displayed (spaces collapsed; the graph keys
it with normalise_brand); category becomes a tuple path (normalise.parse_category_path). currency is
None when price is None.
"""

from __future__ import annotations

import logging
import math
import re
from decimal import Decimal
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from shopgraph.config import IngestConfig
from shopgraph.files import NotRegularFileError, file_digest
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.normalise import category_key, parse_category_path
from shopgraph.ingest.prices import parse_price
from shopgraph.ingest.quarantine import json_safe
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows
from shopgraph.ingest.values import id_text
from shopgraph.records import ProductRecord, QuarantinedRow

__all__ = ["parse_price", "read_products", "validate_product"]

log = logging.getLogger(__name__)

CURRENCY_MAX_CHARS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Reject(Exception):
    """Internal: the row fails validation; the message is the reason."""


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
    elif isinstance(value, (Real, Decimal)) and not isinstance(value, bool) and numbers_ok:
        try:
            value = id_text(value, field)
        except ValueError as e:
            raise _Reject(str(e)) from None
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


def _category(value: Any, mapping: ColumnMapping, limits: IngestConfig) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        for item in value:
            _as_text(item, "category")
    elif value is not None and not (isinstance(value, float) and math.isnan(value)):
        value = _as_text(value, "category")
    else:
        return ()
    path = parse_category_path(value, mapping.category_separator, mapping.category_max_depth)
    size = len(category_key(path))
    if size > limits.max_category_chars:
        raise _Reject(f"category too long ({size} characters > max_category_chars {limits.max_category_chars})")
    return path


def _limited(text: str, field: str, limit: int, setting: str) -> str:
    if len(text) > limit:
        raise _Reject(f"{field} too long ({len(text)} characters > {setting} {limit})")
    return text


def _image_file(value: str, mapping: ColumnMapping, base: Path) -> tuple[Path | None, str | None]:
    """(the image path value names, None) or (None, why it names none)."""
    path = Path(value)
    if mapping.images_inside_dir:
        if path.is_absolute() or not (base / path).resolve().is_relative_to(base.resolve()):
            return None, f"image {value!r} is not a relative path inside the image folder"
    else:
        path = path.expanduser()
    return (path if path.is_absolute() else base / path), None


def _image(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
           image_base: Path | None) -> tuple[str | None, str | None, str | None]:
    """(absolute image path, SHA-256 of its bytes, None), or (None, None, the problem) when the row
    names no usable image file. The digest makes a photo replaced at the same path a changed product."""
    if mapping.image is None:
        return None, None, None
    value = _as_text(row.get(mapping.image), "image")
    if value is None or not value.strip():
        problem = f"no image (column {mapping.image!r} is blank)"
    else:
        base = image_base if image_base is not None else Path(source_file).resolve().parent
        path, problem = _image_file(value.strip(), mapping, base)
        if path is not None:
            try:
                return str(path.resolve()), file_digest(path, limits.max_image_bytes), None
            except FileNotFoundError:
                problem = f"image file not found: {path}"
            except NotRegularFileError as e:
                problem = f"image is not a file: {e}"
            except OSError as e:
                problem = f"image cannot be read: {path}: {e.strerror or type(e).__name__}"
            except ValueError as e:
                problem = f"image file {path} is {e} (max_image_bytes)"
    if limits.require_image:
        raise _Reject(problem)
    return None, None, problem


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
        _limited(source_id, "id", limits.max_id_chars, "max_id_chars")
        title = _single_line(_as_text(row.get(mapping.title), "title") or "")
        if not title:
            raise _Reject(f"missing title (column {mapping.title!r})")
        _limited(title, "title", limits.max_title_chars, "max_title_chars")
        description = _description(row, mapping, limits)
        try:
            price = parse_price(_get(row, mapping.price))
        except (ValueError, UnicodeDecodeError) as e:
            raise _Reject(f"price: {e}") from None
        if price is not None and price < 0:
            raise _Reject(f"price: negative ({price})")
        currency = None
        if price is not None:
            currency = _single_line(_as_text(_get(row, mapping.currency), "currency") or "").upper()
            currency = _limited(currency, "currency", CURRENCY_MAX_CHARS, "the limit") or mapping.default_currency
        brand = _single_line(_as_text(_get(row, mapping.brand), "brand", numbers_ok=True) or "") or None
        if brand is not None:
            _limited(brand, "brand", limits.max_brand_chars, "max_brand_chars")
        category = _category(_get(row, mapping.category), mapping, limits)
        image_path, image_digest, image_problem = _image(row, mapping, limits, source_file, image_base)
    except _Reject as e:
        raw = row if isinstance(row, dict) else {"raw": row}
        return QuarantinedRow(source_file, line, str(e), json_safe(raw)), None
    record = ProductRecord(platform=mapping.platform, source_id=source_id, title=title, description=description,
                           price=price, currency=currency, brand=brand, category_path=category,
                           image_path=image_path, image_digest=image_digest, source_file=source_file,
                           source_line=line)
    return record, image_problem


def validate_product(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
                     line: int, image_base: Path | None) -> ProductRecord | QuarantinedRow:
    """Validate one row (see the module docstring). image_base None resolves relative image values
    against source_file's directory. The QuarantinedRow keeps the row made JSON-safe."""
    return _validate(row, mapping, limits, source_file, line, image_base)[0]


def read_products(path: str | Path, mapping: ColumnMapping, limits: IngestConfig | None = None,
                  format: str | None = None, source_name: str | None = None) -> Iterator[ProductRecord | QuarantinedRow]:
    """Read and validate a whole catalog file: check its columns against the mapping (BadFileError
    before anything is yielded), then stream one ProductRecord or QuarantinedRow per record.

    Unparseable records become QuarantinedRows with the reader's reason. Kept records whose image is
    missing are logged once at the end (count and first example), not one warning per row.
    source_name: the file's name in records and quarantine rows (default: its path).
    """
    limits = limits or IngestConfig()
    path = Path(path)
    fmt = format or mapping.format
    check_columns(path, peek_columns(path, fmt, wanted=mapping.columns()), mapping)
    rows = read_rows(path, fmt, columns=mapping.columns(), max_record_lines=limits.max_record_lines)
    return _validated(rows, path, mapping, limits, source_name or str(path))


def _validated(rows, path: Path, mapping: ColumnMapping, limits: IngestConfig, source_file: str) -> Iterator:
    image_base = mapping.image_base(path)
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
