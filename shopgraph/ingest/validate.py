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
- price: see prices.read_price; blank / NaN / None give price None. A price that cannot be read (or
  is negative or not finite) leaves the product without a price: its raw text is kept as an attribute
  of the price column's key and the row gets a NOTE_PRICE note (counted, never quarantined). The
  currency is the value's own (its symbol or code), else the currency column's (an ISO code or a
  symbol), else the mapping's default_currency; at most CURRENCY_MAX_CHARS characters;
- brand at most limits.max_brand_chars characters, category path (its key, levels joined with " > ")
  at most limits.max_category_chars;
- image (when mapped): one value or several (a list, a JSON list, or separated by "|", ";" or line
  breaks); the first is the main image. A file name is resolved against image_base; an http(s) URL
  is recorded as a URL (downloaded only by a `fetch` callable, images.py; otherwise the row gets a
  NOTE_IMAGE_URL note). A main image that is blank, missing, not a regular file, unreadable or larger
  than limits.max_image_bytes gives image_path None when not limits.require_image, and quarantine
  when it is. A usable image's bytes are hashed (image_digest).
- identifiers and attributes: as the ColumnPlan says (columns.py). A GTIN column value that is not a
  valid GTIN stays an attribute of that column and gets a NOTE_IDENTIFIER note. Attribute values are
  text (no NUL, no lone surrogate), at most limits.max_attribute_chars each and
  limits.max_attributes per product (more is quarantined, never cut).
Too long is quarantined, never truncated. Brand is kept as displayed (spaces collapsed; the graph keys
it with normalise_brand); category becomes a tuple path (normalise.parse_category_path). currency is
None when price is None.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from dataclasses import replace
from decimal import Decimal
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from shopgraph.config import IngestConfig
from shopgraph.files import NotRegularFileError, file_digest
from shopgraph.ingest.attributes import attributes_of, parse_value
from shopgraph.ingest.columns import SAMPLE_ROWS, ColumnPlan, plan_columns
from shopgraph.ingest.identifiers import identifier
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.normalise import category_key, json_list, parse_category_path
from shopgraph.ingest.prices import currency_code, is_currency_code, parse_price, read_price
from shopgraph.ingest.quarantine import json_safe
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows
from shopgraph.ingest.values import id_text
from shopgraph.records import (NOTE_CURRENCY, NOTE_ESCAPED, NOTE_IDENTIFIER, NOTE_IMAGE_URL, NOTE_PRICE, ProductRecord,
                               QuarantinedRow)

__all__ = ["parse_price", "read_products", "validate_product", "ProductStream"]

log = logging.getLogger(__name__)

CURRENCY_MAX_CHARS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_IMAGE_SPLIT = re.compile(r"[|;\n]")


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


def _category(value: Any, mapping: ColumnMapping, limits: IngestConfig, separator: str | None) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        for item in value:
            _as_text(item, "category")
    elif value is not None and not (isinstance(value, float) and math.isnan(value)):
        value = _as_text(value, "category")
    else:
        return ()
    path = parse_category_path(value, separator, mapping.category_max_depth)
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


def image_values(value: Any) -> list[str]:
    """The image references a value holds, in order: a list's items, a JSON list's, or the parts of
    a text separated by "|", ";" or line breaks; blanks dropped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        items = [_as_text(v, "image") for v in value]
    else:
        text = (_as_text(value, "image") or "").strip()
        decoded = json_list(text)
        items = None if decoded is None else [_as_text(v, "image") if isinstance(v, str) else None for v in decoded]
        if items is None:
            items = _IMAGE_SPLIT.split(text) if not _URL.match(text) or _IMAGE_SPLIT.search(text) else [text]
    return [item.strip() for item in items if item and item.strip()]


def _image(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str, image_base: Path | None,
           fetch) -> tuple[str | None, str | None, str | None, tuple[str, ...], list[tuple[str, str]]]:
    """(absolute path of the main image, SHA-256 of its bytes, None, every image, notes), or with
    (None, None, the problem, ...) when the main image is not a usable file. The digest makes a photo
    replaced at the same path a changed product. fetch: url -> (cached file, digest), raising
    ImageFetchError (images.py); None: URLs are recorded, not downloaded."""
    if mapping.image is None:
        return None, None, None, (), []
    values = image_values(row.get(mapping.image))
    base = image_base if image_base is not None else Path(source_file).resolve().parent
    images: list[str] = []
    notes: list[tuple[str, str]] = []
    main_path, digest, problem = None, None, None
    for n, value in enumerate(values):
        if _URL.match(value):
            if not value.lower().startswith(("http://", "https://")):
                problem = problem or f"image {value[:80]!r} is not an http(s) URL or a file"
                continue
            images.append(value)
            if n == 0:
                main_path, digest, problem = _fetched(value, fetch, notes)
            continue
        path, bad = _image_file(value, mapping, base)
        if path is None:
            problem = problem or bad
            continue
        images.append(str(path.resolve()))
        if n == 0:
            main_path, digest, problem = _local_image(path, limits)
    if not values:
        problem = f"no image (column {mapping.image!r} is blank)"
    if main_path is None and limits.require_image:
        raise _Reject(problem or "no usable image")
    return main_path, digest, (None if main_path else problem), tuple(images), notes


def _fetched(url: str, fetch, notes: list) -> tuple[str | None, str | None, str | None]:
    if fetch is None:
        notes.append((NOTE_IMAGE_URL, url))
        return None, None, f"image is a URL, not downloaded (--fetch-images): {url[:200]}"
    from shopgraph.ingest.images import ImageFetchError

    try:
        path, digest = fetch(url)
    except ImageFetchError as e:
        from shopgraph.records import NOTE_IMAGE_FETCH

        notes.append((NOTE_IMAGE_FETCH, f"{url[:200]}: {e}"))
        return None, None, f"image URL not downloaded: {e}"
    return str(path), digest, None


def _local_image(path: Path, limits: IngestConfig) -> tuple[str | None, str | None, str | None]:
    try:
        return str(path.resolve()), file_digest(path, limits.max_image_bytes), None
    except FileNotFoundError:
        return None, None, f"image file not found: {path}"
    except NotRegularFileError as e:
        return None, None, f"image is not a file: {e}"
    except OSError as e:
        return None, None, f"image cannot be read: {path}: {e.strerror or type(e).__name__}"
    except ValueError as e:
        return None, None, f"image file {path} is {e} (max_image_bytes)"


def _price(row: dict, mapping: ColumnMapping, attributes: list, notes: list,
           limits: IngestConfig) -> tuple[float | None, str | None]:
    """(price, currency) of a row; an unreadable price is kept as an attribute with a note."""
    raw = _get(row, mapping.price)
    try:
        value = read_price(raw, mapping.default_currency)
        if value.amount is not None and value.amount < 0:
            raise ValueError(f"negative ({value.amount})")
    except (ValueError, UnicodeDecodeError) as e:
        notes.append((NOTE_PRICE, f"{str(raw)[:60]!r}: {e}"))
        attributes.extend(_checked_attributes(mapping.price, raw, limits, notes))
        return None, None
    if value.amount is None:
        return None, None
    if value.symbol is not None:
        if value.currency is None:
            notes.append((NOTE_CURRENCY, f"{value.symbol!r} in {str(raw)[:60]!r}"))
        return value.amount, value.currency
    column = _single_line(_as_text(_get(row, mapping.currency), "currency") or "")
    if column:
        _limited(column, "currency", CURRENCY_MAX_CHARS, "the limit")
        code = currency_code(column, mapping.default_currency)
        if code is None and not is_currency_code(column.upper()):
            notes.append((NOTE_CURRENCY, f"currency {column!r}"))
        return value.amount, code or column.upper()
    return value.amount, mapping.default_currency


def _checked_attributes(column: str, value: Any, limits: IngestConfig, notes: list | None = None) -> list:
    """The attributes of one column's value. A value with a NUL or a lone surrogate (which the stores
    cannot hold) is kept with those characters written as escapes ("\\x00") and noted."""
    out = []
    for attribute in attributes_of(column, value, limits.attribute_synonyms or None):
        text = attribute.value
        if "\x00" in text or not _encodable(text):
            text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
            attribute = replace(attribute, value=text, parsed=parse_value(text))
            if notes is not None:
                notes.append((NOTE_ESCAPED, f"{column}: {text[:60]!r}"))
        _limited(attribute.value, f"column {column!r}", limits.max_attribute_chars, "max_attribute_chars")
        out.append(attribute)
    return out


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _identifiers_and_attributes(row: dict, mapping: ColumnMapping, plan: ColumnPlan, limits: IngestConfig,
                                attributes: list, notes: list) -> tuple:
    identifiers = {}
    for column, scheme in plan.identifiers:
        value = row.get(column)
        for item in (value if isinstance(value, (list, tuple)) else (value,)):
            text = _as_text(item, f"column {column!r}", numbers_ok=True)
            if text is None or not text.strip():
                continue
            found = identifier(scheme, text, mapping.platform, column)
            if found is None:
                notes.append((NOTE_IDENTIFIER, f"{column}: {text[:60]!r}"))
                attributes.extend(_checked_attributes(column, text, limits, notes))
            else:
                identifiers.setdefault(found.key, found)
    for column in plan.attributes:
        attributes.extend(_checked_attributes(column, row.get(column), limits, notes))
    if len(attributes) > limits.max_attributes:
        raise _Reject(f"too many attributes ({len(attributes)} > max_attributes {limits.max_attributes})")
    return tuple(identifiers.values())


def _validate(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str, line: int,
              image_base: Path | None, plan: ColumnPlan | None = None,
              fetch=None) -> tuple[ProductRecord | QuarantinedRow, str | None]:
    """The result, and the image problem of a kept record (None when its image is fine)."""
    plan = plan if plan is not None else plan_columns(list(mapping.field_columns()), [], mapping)
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
        attributes: list = []
        notes: list[tuple[str, str]] = []
        price, currency = _price(row, mapping, attributes, notes, limits)
        brand = _single_line(_as_text(_get(row, mapping.brand), "brand", numbers_ok=True) or "") or None
        if brand is not None:
            _limited(brand, "brand", limits.max_brand_chars, "max_brand_chars")
        category = _category(_get(row, mapping.category), mapping, limits,
                             plan.category_separator if mapping.category_separator is None else mapping.category_separator)
        identifiers = _identifiers_and_attributes(row, mapping, plan, limits, attributes, notes)
        image_path, image_digest, image_problem, images, image_notes = _image(row, mapping, limits, source_file,
                                                                              image_base, fetch)
        notes += image_notes
    except _Reject as e:
        raw = row if isinstance(row, dict) else {"raw": row}
        return QuarantinedRow(source_file, line, str(e), json_safe(raw)), None
    record = ProductRecord(platform=mapping.platform, source_id=source_id, title=title, description=description,
                           price=price, currency=currency, brand=brand, category_path=category,
                           image_path=image_path, image_digest=image_digest, source_file=source_file,
                           source_line=line, images=images, identifiers=identifiers, attributes=tuple(attributes),
                           notes=tuple(notes))
    return record, image_problem


def validate_product(row: dict, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
                     line: int, image_base: Path | None, plan: ColumnPlan | None = None,
                     fetch=None) -> ProductRecord | QuarantinedRow:
    """Validate one row (see the module docstring). image_base None resolves relative image values
    against source_file's directory. plan: the file's ColumnPlan (None: the mapped fields only). The
    QuarantinedRow keeps the row made JSON-safe."""
    return _validate(row, mapping, limits, source_file, line, image_base, plan, fetch)[0]


class ProductStream:
    """The validated products of one source, with the plan they were read by.

    Iterating yields ProductRecord | QuarantinedRow once. `plan` is the ColumnPlan; `seen_ids` the ids
    of every row read so far, quarantined rows included when their id could be read (a full snapshot
    keeps those products: a broken row is not a removed product)."""

    def __init__(self, rows, plan: ColumnPlan, mapping: ColumnMapping, limits: IngestConfig, source_file: str,
                 image_base: Path | None, label: str, fetch=None):
        self.plan = plan
        self.seen_ids: set[str] = set()
        self._items = _validated(rows, mapping, limits, source_file, image_base, plan, label, fetch, self.seen_ids)

    def __iter__(self):
        return self._items


def read_products(path: str | Path, mapping: ColumnMapping, limits: IngestConfig | None = None,
                  format: str | None = None, source_name: str | None = None, fetch=None) -> ProductStream:
    """Read and validate a whole catalog file: check its columns against the mapping (BadFileError
    before anything is yielded), plan its columns from the header and the first SAMPLE_ROWS rows
    (columns.py), then stream one ProductRecord or QuarantinedRow per record.

    Unparseable records become QuarantinedRows with the reader's reason. Kept records whose image is
    missing are logged once at the end (count and first example), not one warning per row.
    source_name: the file's name in records and quarantine rows (default: its path). fetch: see _image.
    """
    limits = limits or IngestConfig()
    path = Path(path)
    fmt = format or mapping.format
    available = peek_columns(path, fmt, wanted=mapping.columns())
    check_columns(path, available, mapping)
    columns = _ordered_columns(path, fmt, available, limits)
    sample = [row for _, row, error in itertools.islice(read_rows(path, fmt, max_record_lines=limits.max_record_lines),
                                                        SAMPLE_ROWS) if error is None and isinstance(row, dict)]
    plan = plan_columns(columns, sample, mapping)
    rows = read_rows(path, fmt, columns=plan.columns(), max_record_lines=limits.max_record_lines)
    return ProductStream(rows, plan, mapping, limits, source_name or str(path), mapping.image_base(path), str(path),
                         fetch)


def read_table(table, mapping: ColumnMapping, limits: IngestConfig | None = None, source_name: str = "table",
               fetch=None) -> ProductStream:
    """read_products for an in-memory table (pandas DataFrame or pyarrow Table): the same column check,
    plan, validation and quarantine. Relative image values resolve against mapping.image_dir, else the
    working directory."""
    from shopgraph.ingest.readers import arrow_table, read_table_rows

    limits = limits or IngestConfig()
    table = arrow_table(table)
    columns = list(table.column_names)
    check_columns(source_name, set(columns), mapping)
    sample = [row for _, row, error in itertools.islice(read_table_rows(table), SAMPLE_ROWS) if error is None]
    plan = plan_columns(columns, sample, mapping)
    image_base = Path(mapping.image_dir).expanduser().resolve() if mapping.image_dir else Path.cwd()
    return ProductStream(read_table_rows(table, plan.columns()), plan, mapping, limits, source_name,
                         image_base if mapping.image else None, source_name, fetch)


def _ordered_columns(path: Path, fmt: str | None, available: set[str], limits: IngestConfig) -> list[str]:
    """The file's columns in file order (header order; JSONL: order of first appearance)."""
    order: list[str] = []
    seen: set[str] = set()
    for _, row, error in itertools.islice(read_rows(path, fmt, max_record_lines=limits.max_record_lines), SAMPLE_ROWS):
        if error is None and isinstance(row, dict):
            for key in row:
                if key not in seen and key in available:
                    seen.add(key)
                    order.append(key)
        if len(order) == len(available):
            break
    return order + sorted(available - seen)


def _validated(rows, mapping: ColumnMapping, limits: IngestConfig, source_file: str, image_base: Path | None,
               plan: ColumnPlan, label: str, fetch, seen_ids: set[str]) -> Iterator:
    missing, first_problem = 0, None
    for line, row, error in rows:
        if error is not None:
            yield QuarantinedRow(source_file, line, error, json_safe(row or {}))
            continue
        result, problem = _validate(row, mapping, limits, source_file, line, image_base, plan, fetch)
        if isinstance(result, ProductRecord):
            seen_ids.add(result.source_id)
        elif isinstance(row, dict):
            readable = row.get(mapping.id)
            if isinstance(readable, (str, int)) and not isinstance(readable, bool) and str(readable).strip():
                seen_ids.add(str(readable).strip())
        if problem is not None:
            missing += 1
            first_problem = first_problem or f"line {line}: {problem}"
        yield result
    if missing:
        log.warning("%s: %d kept rows have no usable image (first: %s)", label, missing, first_problem)
