"""User-item interactions: from tables (CSV / TSV / JSONL / Parquet) or S3-Rec sequence files.

Both readers stream InteractionRecord | QuarantinedRow, one per interaction or bad row. User and product
ids are namespaced (records.user_id / records.product_id) so they meet the products of the same
platform or data set.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Iterator

from shopgraph.errors import ConfigError
from shopgraph.files import open_regular
from shopgraph.ingest.mapping import FORMATS, read_mapping_file
from shopgraph.ingest.quarantine import json_safe
from shopgraph.ingest.readers import check_columns, check_file, decode_utf8, peek_columns, read_rows
from shopgraph.ingest.values import id_text, int64, to_float
from shopgraph.names import check_platform
from shopgraph.records import INTERACTION_KINDS, InteractionRecord, QuarantinedRow, product_id, user_id


@dataclass(frozen=True)
class InteractionMapping:
    """Columns of an interaction table. namespace prefixes user and product ids (a platform or data
    set name: a valid platform name, names.py). kind None (or a blank value) means default_kind; value None (or blank)
    means 1.0, except that kind "rating" needs a value; timestamp None (or blank) means 0."""

    namespace: str
    user: str
    item: str
    kind: str | None = None
    default_kind: str = "view"
    value: str | None = None
    timestamp: str | None = None
    format: str | None = None

    def __post_init__(self) -> None:
        for name in ("namespace", "user", "item"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"interaction mapping {name!r} must be a non-empty string, got {value!r}")
        check_platform(self.namespace, "namespace")
        if self.default_kind not in INTERACTION_KINDS:
            raise ConfigError(f"default_kind {self.default_kind!r} is not one of {', '.join(INTERACTION_KINDS)}")
        for name in ("kind", "value", "timestamp", "format"):
            if getattr(self, name) is not None and not str(getattr(self, name)).strip():
                object.__setattr__(self, name, None)     # "" means "not mapped"
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    def columns(self) -> set[str]:
        """Every source column this mapping reads."""
        return {c for c in (self.user, self.item, self.kind, self.value, self.timestamp) if c is not None}


def load_interaction_mapping(path: str | Path) -> InteractionMapping:
    """Read an InteractionMapping from TOML (JSON when the name ends in .json)::

        namespace = "shop_a"        # or platform = "shop_a"
        user = "customer_id"
        item = "sku"
        kind = "event"              # optional; default_kind = "view"
        value = "rating"            # optional
        timestamp = "time"          # optional

    Unknown or missing keys and bad values raise ConfigError naming the file and the key.
    """
    path = Path(path)
    data = read_mapping_file(path)
    if "platform" in data:
        if "namespace" in data:
            raise ConfigError(f"{path}: give 'namespace' or 'platform', not both")
        data["namespace"] = data.pop("platform")
    fields = {f.name for f in dataclasses.fields(InteractionMapping)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})")
    for key in ("namespace", "user", "item"):
        if key not in data:
            raise ConfigError(f"{path}: missing required key {key!r}")
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: key {key!r} must be a string, got {value!r}")
    try:
        return InteractionMapping(**data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


class _Reject(Exception):
    pass


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _ident(value: Any, field: str) -> str:
    """A user or item id as text: str, or a number as exact text (values.id_text: 12.0 -> "12",
    9007199254740993 -> "9007199254740993")."""
    if _is_blank(value):
        raise _Reject(f"missing {field}")
    if isinstance(value, bool):
        raise _Reject(f"{field}: expected an id, got a boolean")
    if isinstance(value, (Real, Decimal)):
        try:
            return id_text(value, field)
        except ValueError as e:
            raise _Reject(str(e)) from None
    if not isinstance(value, str):
        raise _Reject(f"{field}: expected an id, got {type(value).__name__}")
    text = value.strip()
    if "\x00" in text or any(ord(ch) < 32 for ch in text):
        raise _Reject(f"{field}: contains control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject(f"{field}: invalid Unicode (lone surrogate)") from None
    return text


def parse_timestamp(value: Any) -> int:
    """Epoch seconds (int) from a number, a numeric string or an ISO-8601 string / datetime.

    Blank gives 0 (unknown). Naive ISO times are taken as UTC; fractions of a second are floored.
    Raises ValueError when the value is none of these, or does not fit the store's 64-bit integer
    (99999999999999999999, 1e300).
    """
    return int64(_timestamp(value), "timestamp")


def _timestamp(value: Any) -> int:
    if _is_blank(value):
        return 0
    if isinstance(value, bool):
        raise ValueError(f"timestamp is a boolean ({value})")
    if isinstance(value, Real):
        if isinstance(value, Integral):
            return int(value)
        number = to_float(value)
        if not math.isfinite(number):
            raise ValueError(f"timestamp is not finite ({value})")
        return math.floor(number)
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):
        moment = _dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"[+-]?[0-9]+", text):
                return int(text)
            if re.fullmatch(r"[+-]?[0-9]*\.[0-9]+", text):
                return _timestamp(float(text))
            return _timestamp(_dt.datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"cannot read timestamp {value!r} (expected epoch seconds or ISO-8601)") from None
    else:
        raise ValueError(f"timestamp: unexpected {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return math.floor(moment.timestamp())


def _value(raw: Any, kind: str) -> float:
    if _is_blank(raw):
        if kind == "rating":
            raise _Reject("rating without a value")
        return 1.0
    if isinstance(raw, bool):
        raise _Reject("value: expected a number, got a boolean")
    try:
        number = to_float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise _Reject(f"value: not a number ({str(raw)[:40]!r})") from None
    if math.isnan(number):
        if kind == "rating":
            raise _Reject("rating without a value")
        return 1.0
    if not math.isfinite(number):
        raise _Reject(f"value: not finite ({str(raw)[:40]!r})")
    return number


def _interaction(row: dict, mapping: InteractionMapping, source_file: str, line: int) -> InteractionRecord:
    user = _ident(row.get(mapping.user), "user")
    item = _ident(row.get(mapping.item), "item")
    kind = mapping.default_kind
    if mapping.kind is not None and not _is_blank(row.get(mapping.kind)):
        raw_kind = row.get(mapping.kind)
        kind = raw_kind.strip().lower() if isinstance(raw_kind, str) else raw_kind
        if kind not in INTERACTION_KINDS:
            raise _Reject(f"unknown kind {raw_kind!r} (expected one of {', '.join(INTERACTION_KINDS)})")
    value = _value(row.get(mapping.value) if mapping.value else None, kind)
    try:
        timestamp = parse_timestamp(row.get(mapping.timestamp) if mapping.timestamp else None)
    except ValueError as e:
        raise _Reject(str(e)) from None
    return InteractionRecord(user_id(mapping.namespace, user), product_id(mapping.namespace, item), kind,
                             value, timestamp, source_file, line)


def read_interactions(path: str | Path, mapping: InteractionMapping) -> Iterator[InteractionRecord | QuarantinedRow]:
    """Stream validated interactions from a table. The file and its columns are checked before this
    returns (BadFileError); bad rows come out as QuarantinedRows with the reason."""
    path = Path(path)
    check_columns(path, peek_columns(path, mapping.format, wanted=mapping.columns()), mapping)
    rows = read_rows(path, mapping.format, columns=mapping.columns())
    return _interactions(rows, mapping, str(path))


def _interactions(rows, mapping: InteractionMapping, source_file: str) -> Iterator:
    for line, row, error in rows:
        if error is not None:
            yield QuarantinedRow(source_file, line, error, json_safe(row or {}))
            continue
        try:
            yield _interaction(row, mapping, source_file, line)
        except _Reject as e:
            yield QuarantinedRow(source_file, line, str(e), json_safe(row))


_S3REC_ID = re.compile(r"[0-9]{1,40}")


def _s3rec_lines(path: Path) -> Iterator[tuple[int, list[str] | None, str, str | None]]:
    """(line, [user, item, ...] or None, text, error) for each non-blank line of an S3-Rec file."""
    with open_regular(path) as f:
        for line_no, raw in enumerate(f, start=1):
            text, error = decode_utf8(raw)
            text = text.strip()
            if not text:
                continue
            tokens = text.split()
            if error is None and len(tokens) < 2:
                error = "a user id with no items"
            if error is None:
                bad = next((t for t in tokens if not _S3REC_ID.fullmatch(t)), None)
                if bad is not None:
                    error = f"not an integer id of at most 40 digits: {bad[:40]!r}"
            yield line_no, (None if error else tokens), text, error


def read_s3rec_sequences(path: str | Path, namespace: str) -> Iterator[InteractionRecord | QuarantinedRow]:
    """Interactions from an S3-Rec sequence file ("user item item ..." per line, integer ids in time
    order): kind "purchase", value 1.0, timestamp = the item's 0-based position in the user's
    sequence, source_line = the user's line. A malformed line is one QuarantinedRow.
    The file is checked before this returns (BadFileError)."""
    path = Path(path)
    check_file(path, "s3rec")
    check_platform(namespace, "namespace")
    return _s3rec_records(path, namespace)


def _s3rec_records(path: Path, namespace: str) -> Iterator:
    source_file = str(path)
    for line_no, tokens, text, error in _s3rec_lines(path):
        if error is not None:
            yield QuarantinedRow(source_file, line_no, error, {"raw": json_safe(text[:10000])})
            continue
        user = user_id(namespace, tokens[0])
        for position, item in enumerate(tokens[1:]):
            yield InteractionRecord(user, product_id(namespace, item), "purchase", 1.0, position,
                                    source_file, line_no)


def s3rec_items(path: str | Path) -> dict[str, int]:
    """Every item id of an S3-Rec sequence file -> the line where it first appears (malformed lines
    are skipped here; read_s3rec_sequences reports them). Memory: one entry per distinct item."""
    path = Path(path)
    check_file(path, "s3rec")
    first: dict[str, int] = {}
    for line_no, tokens, _, error in _s3rec_lines(path):
        if error is None:
            for item in tokens[1:]:
                first.setdefault(item, line_no)
    return first


def iter_interaction_source(path: str | Path,
                            spec: str | InteractionMapping) -> Iterator[InteractionRecord | QuarantinedRow]:
    """Read one entry of Layout.interactions: spec is a namespace (str) for an S3-Rec sequence file,
    or an InteractionMapping for a table."""
    if isinstance(spec, InteractionMapping):
        return read_interactions(path, spec)
    return read_s3rec_sequences(path, spec)
