"""Stream rows out of catalog files (CSV, TSV, JSON Lines, Parquet) without loading them whole.

`read_rows` yields ``(line, row, error)``:

- ``line``: 1-based physical line where the record starts for CSV/TSV (the header is line 1, so the
  first record is line 2) and JSONL; row index + 1 for Parquet.
- ``row``: {column: value}. CSV values are str ("" for an empty field); JSONL and Parquet values keep
  their JSON / Arrow types (str, int, float, bool, None, list, dict).
- ``error``: None, or the reason a record could not be parsed (invalid JSON, wrong number of CSV fields,
  invalid UTF-8 bytes ...). Then row is ``{"raw": <the record's text, bad bytes escaped as \\xNN>}``, so
  the record can go to the quarantine and the rest of the file is still read.

A bad *file* (missing, a directory, unreadable, binary or UTF-16 given as text, not Parquet, a CSV
without header) raises BadFileError("<path>: <reason>") instead.

Bytes are decoded as UTF-8 one physical line at a time, so one bad byte spoils one record only.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import IO, Iterable, Iterator

from shopgraph.errors import BadFileError

log = logging.getLogger(__name__)

Row = tuple[int, "dict | None", "str | None"]

FORMAT_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                    ".parquet": "parquet", ".pq": "parquet"}
# Large enough for any real description; small enough that a runaway quote (an unclosed '"' that
# swallows the rest of the file) fails as one bad record instead of filling memory.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
JSONL_PEEK_RECORDS = 100
PARQUET_BATCH_ROWS = 1024
_SNIFF_BYTES = 8192
_RAW_LIMIT = 100_000
_BOM = b"\xef\xbb\xbf"


def resolve_format(path: str | Path, format: str | None = None) -> str:
    """The format to read path as: the given one, else from the file extension."""
    if format is not None:
        fmt = format.lower().lstrip(".")
        fmt = {"ndjson": "jsonl", "pq": "parquet"}.get(fmt, fmt)
        if fmt not in set(FORMAT_BY_SUFFIX.values()):
            raise BadFileError(f"{path}: unknown format {format!r} (known: csv, tsv, jsonl, parquet)")
        return fmt
    fmt = FORMAT_BY_SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        raise BadFileError(f"{path}: cannot tell the format from the extension "
                           f"{Path(path).suffix or '(none)'!r}; use .csv, .tsv, .jsonl or .parquet, or name the format")
    return fmt


def check_exists(path: str | Path) -> Path:
    """path as a Path; BadFileError if it is missing or a directory."""
    path = Path(path)
    if not path.exists():
        raise BadFileError(f"{path}: file not found")
    if path.is_dir():
        raise BadFileError(f"{path}: is a directory, not a file")
    return path


def check_file(path: str | Path, fmt: str) -> None:
    """Raise BadFileError unless path is a readable file; for text formats also unless its first
    bytes look like text (not Parquet, gzip, UTF-16 or binary)."""
    path = check_exists(path)
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except PermissionError:
        raise BadFileError(f"{path}: permission denied") from None
    except OSError as e:
        raise BadFileError(f"{path}: cannot read: {e.strerror or e}") from None
    if fmt == "parquet":
        return
    if head.startswith(b"PAR1"):
        raise BadFileError(f"{path}: is a Parquet file, not {fmt.upper()}")
    if head.startswith(b"\x1f\x8b"):
        raise BadFileError(f"{path}: is gzip-compressed; decompress it first")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFileError(f"{path}: is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in head:
        raise BadFileError(f"{path}: looks like a binary file, not {fmt.upper()}")


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as e:
        raise BadFileError(f"{path}: cannot read: {e.strerror or e}") from None


def decode_utf8(raw: bytes) -> tuple[str, str | None]:
    """(text, error): strict UTF-8, or the text with bad bytes escaped and the reason."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return raw.decode("utf-8", "backslashreplace"), f"invalid UTF-8 byte 0x{raw[e.start]:02x}"


class _LineFeed:
    """Feeds decoded physical lines to csv.reader, remembering the current record's raw text, its
    first decoding error and the number of lines read."""

    def __init__(self, f: IO[bytes]):
        self._f = f
        self.line_no = 0
        self._buffer: list[str] = []
        self._error: str | None = None

    def __iter__(self) -> "_LineFeed":
        return self

    def __next__(self) -> str:
        raw = self._f.readline()
        if not raw:
            raise StopIteration
        self.line_no += 1
        if self.line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        text, error = decode_utf8(raw)
        if error and self._error is None:
            self._error = f"{error} on line {self.line_no}"
        self._buffer.append(text)
        return text

    def take(self) -> tuple[str, str | None]:
        """The raw text and decoding error of the record just read; resets both."""
        text, error = "".join(self._buffer).rstrip("\r\n"), self._error
        self._buffer.clear()
        self._error = None
        return text, error


def _csv_records(feed: _LineFeed, delimiter: str) -> Iterator[tuple[int, list[str] | None, str, str | None]]:
    """(start line, fields or None, raw text, error) for each non-blank record."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:     # process-wide setting: only ever raised
        csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        start = feed.line_no + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raw, _ = feed.take()
            if len(raw) > _RAW_LIMIT:       # a runaway quote: keep the start, not megabytes
                raw = raw[:_RAW_LIMIT] + f"... [{len(raw) - _RAW_LIMIT} more characters]"
            yield start, None, raw, f"unparseable CSV record: {e}"
            continue
        raw, error = feed.take()
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue    # blank line
        yield start, fields, raw, error


def _csv_header(path: Path, records: Iterator) -> list[str]:
    for _, fields, _, error in records:
        if error or fields is None:
            raise BadFileError(f"{path}: the header row cannot be read ({error})")
        header = [name.strip() for name in fields]
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise BadFileError(f"{path}: column {name!r} appears twice in the header")
            seen.add(name)
        return header
    raise BadFileError(f"{path}: empty file, no header row")


def _read_csv(path: Path, delimiter: str) -> Iterator[Row]:
    with _open_binary(path) as f:
        records = _csv_records(_LineFeed(f), delimiter)
        header = _csv_header(path, records)
        width = len(header)
        for start, fields, raw, error in records:
            if error:
                yield start, {"raw": raw}, error
            elif len(fields) != width:
                yield start, {"raw": raw}, f"expected {width} fields, found {len(fields)}"
            else:
                yield start, dict(zip(header, fields)), None


def _read_jsonl(path: Path) -> Iterator[Row]:
    with _open_binary(path) as f:
        seen_record = False
        for line_no, raw in enumerate(f, start=1):
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if not raw.strip():
                continue
            text, error = decode_utf8(raw)
            text = text.rstrip("\r\n")
            if error:
                yield line_no, {"raw": text}, error
                seen_record = True
                continue
            try:
                obj = json.loads(text)
            except ValueError as e:
                if not seen_record and text.lstrip().startswith("["):
                    raise BadFileError(f"{path}: a JSON array, not JSON Lines (one object per line)") from None
                reason = f"invalid JSON: {getattr(e, 'msg', e)} (column {getattr(e, 'colno', '?')})"
                yield line_no, {"raw": text}, reason
            except RecursionError:
                yield line_no, {"raw": text[:1000]}, "invalid JSON: nested too deeply"
            else:
                if isinstance(obj, dict):
                    yield line_no, obj, None
                else:
                    yield line_no, {"raw": text}, f"expected a JSON object, got {type(obj).__name__}"
            seen_record = True


def _parquet_file(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadFileError(f"{path}: not a readable Parquet file ({detail})") from None


def _parquet_row_one_by_one(batch, i: int) -> tuple[dict, str | None]:
    """Row i of a batch whose bulk conversion failed: decode column by column, escaping bad bytes."""
    import pyarrow as pa

    row, error = {}, None
    for name, column in zip(batch.schema.names, batch.columns):
        cell = column.slice(i, 1)
        try:
            row[name] = cell.to_pylist()[0]
        except UnicodeDecodeError:
            text, bad = decode_utf8(cell.cast(pa.binary()).to_pylist()[0])
            row[name] = text
            if bad and error is None:
                error = f"{bad} in column {name!r}"
    return row, error


def _read_parquet(path: Path, columns: Iterable[str] | None) -> Iterator[Row]:
    import pyarrow as pa

    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    wanted = [c for c in names if c in set(columns)] if columns is not None else None
    line = 0
    try:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
            try:
                rows = batch.to_pylist()
            except UnicodeDecodeError:
                rows = None
            for i in range(batch.num_rows):
                line += 1
                if rows is not None:
                    yield line, rows[i], None
                    continue
                row, error = _parquet_row_one_by_one(batch, i)
                if error:
                    yield line, {"raw": json.dumps(row, default=str, ensure_ascii=False)}, error
                else:
                    yield line, row, None
    except (pa.ArrowException, OSError) as e:
        raise BadFileError(f"{path}: corrupt Parquet data after row {line} ({e})") from None


def read_rows(path: str | Path, format: str | None = None,
              columns: Iterable[str] | None = None) -> Iterator[Row]:
    """Stream (line, row, error) tuples from a catalog file; see the module docstring.

    The file is checked before this returns (BadFileError at once for a bad file); rows are read
    lazily. columns, when given, limits the Parquet columns read (other formats ignore it).
    """
    path = check_exists(path)
    fmt = resolve_format(path, format)
    check_file(path, fmt)
    if fmt == "parquet":
        _parquet_file(path)     # fail now, not on the first next()
        return _read_parquet(path, columns)
    if fmt == "jsonl":
        return _read_jsonl(path)
    with _open_binary(path) as f:    # read the header now, so a headerless file fails at once
        _csv_header(path, _csv_records(_LineFeed(f), "\t" if fmt == "tsv" else ","))
    return _read_csv(path, "\t" if fmt == "tsv" else ",")


def peek_columns(path: str | Path, format: str | None = None) -> set[str]:
    """The columns of a file: the CSV header, the Parquet schema, or for JSONL the union of the keys
    of the first JSONL_PEEK_RECORDS objects."""
    path = check_exists(path)
    fmt = resolve_format(path, format)
    check_file(path, fmt)
    if fmt == "parquet":
        return set(_parquet_file(path).schema_arrow.names)
    if fmt == "jsonl":
        keys: set[str] = set()
        seen = 0
        for _, row, error in _read_jsonl(path):
            if error is None:
                keys.update(row)
                seen += 1
                if seen >= JSONL_PEEK_RECORDS:
                    break
        return keys
    with _open_binary(path) as f:
        return set(_csv_header(path, _csv_records(_LineFeed(f), "\t" if fmt == "tsv" else ",")))


def check_columns(path: str | Path, available: set[str], mapping) -> None:
    """Raise BadFileError (one line, naming the file) if mapping reads columns that are not available.

    mapping is anything with a `columns() -> set[str]` method (ColumnMapping, InteractionMapping).
    """
    missing = sorted(mapping.columns() - set(available))
    if not missing:
        return
    have = sorted(available)
    shown = ", ".join(repr(c) for c in have[:20]) + (f", ... ({len(have)} in all)" if len(have) > 20 else "")
    noun = "column" if len(missing) == 1 else "columns"
    raise BadFileError(f"{path}: mapping names {noun} {', '.join(repr(c) for c in missing)} "
                       f"not in the file (it has: {shown or 'no columns'})")
