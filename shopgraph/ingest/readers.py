"""Stream rows out of catalog files (CSV, TSV, JSON Lines, Parquet) without loading them whole.

`read_rows` yields ``(line, row, error)``:

- ``line``: 1-based physical line where the record starts for CSV/TSV (the header is line 1, so the
  first record is line 2) and JSONL; row index + 1 for Parquet. Lines end at "\\n", "\\r\\n" or a
  bare "\\r" (text_lines.py).
- ``row``: {column: value}. CSV values are str ("" for an empty field); JSONL and Parquet values keep
  their JSON / Arrow types (str, int, float, bool, None, list, dict).
- ``error``: None, or the reason a record could not be parsed (invalid JSON, wrong number of CSV fields,
  an unclosed quote, invalid UTF-8 bytes, a Parquet value Python cannot hold ...). Then row is
  ``{"raw": <the record's text, bad bytes escaped as \\xNN>}`` (Parquet: the readable values), so the
  record can go to the quarantine and the rest of the file is still read.

A bad *file* (missing, a directory, a FIFO or device, unreadable, binary or UTF-16 given as text, not
Parquet, a CSV without header) raises BadFileError("<path>: <reason>") instead. A NUL byte or a bad
byte after the first line is one row's problem, not the file's (text_lines.binary_problem).

Bytes are decoded as UTF-8 one physical line at a time, so one bad byte spoils one record only; a
broken CSV quote spoils one line only (csv_records.py).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import IO, Iterable, Iterator

from shopgraph.errors import BadFileError
from shopgraph.ingest.csv_records import csv_records
from shopgraph.files import kind_of, open_regular
from shopgraph.ingest.text_lines import Lines, binary_problem

log = logging.getLogger(__name__)

Row = tuple[int, "dict | None", "str | None"]

FORMAT_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                    ".parquet": "parquet", ".pq": "parquet"}
JSONL_PEEK_RECORDS = 100
PARQUET_BATCH_ROWS = 1024
DEFAULT_MAX_RECORD_LINES = 1000
_SNIFF_BYTES = 8192


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
    """path as a Path; BadFileError if it is missing, a directory, or anything but a regular file (a
    FIFO would block the reader until some process wrote to it)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadFileError(f"{path}: file not found") from None
    except OSError as e:
        raise BadFileError(f"{path}: cannot read: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise BadFileError(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise BadFileError(f"{path}: is {kind_of(mode)}, not a regular file")
    return path


def check_file(path: str | Path, fmt: str) -> None:
    """Raise BadFileError unless path is a readable file; for text formats also unless its first
    bytes look like text (not Parquet, gzip, UTF-16 or binary)."""
    path = check_exists(path)
    with _open_binary(path) as f:
        try:
            head = f.read(_SNIFF_BYTES)
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
    problem = binary_problem(head)
    if problem is not None:
        raise BadFileError(f"{path}: {problem}, not {fmt.upper()}")


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return open_regular(path)
    except PermissionError:
        raise BadFileError(f"{path}: permission denied") from None
    except OSError as e:
        raise BadFileError(f"{path}: cannot read: {e.strerror or e}") from None


def decode_utf8(raw: bytes) -> tuple[str, str | None]:
    """(text, error): strict UTF-8, or the text with bad bytes escaped and the reason."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return raw.decode("utf-8", "backslashreplace"), f"invalid UTF-8 byte 0x{raw[e.start]:02x}"


def _csv_header(path: Path, lines: Lines, delimiter: str) -> list[str]:
    for record in csv_records(lines, delimiter, DEFAULT_MAX_RECORD_LINES):
        if record.error or record.fields is None:
            raise BadFileError(f"{path}: the header row cannot be read ({record.error})")
        header = [name.strip() for name in record.fields]
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise BadFileError(f"{path}: column {name!r} appears twice in the header")
            seen.add(name)
        return header
    raise BadFileError(f"{path}: empty file, no header row")


def _read_csv(path: Path, delimiter: str, max_record_lines: int) -> Iterator[Row]:
    with _open_binary(path) as f:
        lines = Lines(f)
        header = _csv_header(path, lines, delimiter)
        width = len(header)
        for record in csv_records(lines, delimiter, max_record_lines, width):
            if record.error:
                yield record.line, {"raw": record.raw}, record.error
            elif len(record.fields) != width:
                yield record.line, {"raw": record.raw}, f"expected {width} fields, found {len(record.fields)}"
            else:
                yield record.line, dict(zip(header, record.fields)), None


def _read_jsonl(path: Path) -> Iterator[Row]:
    with _open_binary(path) as f:
        seen_record = False
        for line in Lines(f):
            text = line.text.rstrip("\r\n")
            if not text.strip():
                continue
            if line.error:
                yield line.number, {"raw": line.shown}, line.error
                seen_record = True
                continue
            try:
                obj = json.loads(text)
            except ValueError as e:
                if not seen_record and text.lstrip().startswith("["):
                    raise BadFileError(f"{path}: a JSON array, not JSON Lines (one object per line)") from None
                reason = f"invalid JSON: {getattr(e, 'msg', e)} (column {getattr(e, 'colno', '?')})"
                yield line.number, {"raw": text}, reason
            except RecursionError:
                yield line.number, {"raw": text[:1000]}, "invalid JSON: nested too deeply"
            else:
                if isinstance(obj, dict):
                    yield line.number, obj, None
                else:
                    yield line.number, {"raw": text}, f"expected a JSON object, got {type(obj).__name__}"
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
    """Row i of a batch whose bulk conversion failed: column by column, bad bytes escaped, a value
    Python cannot hold (a date beyond year 9999, ...) replaced by its reason."""
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
        except (ValueError, OverflowError, pa.ArrowException) as e:
            problem = f"column {name!r}: value out of range ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            row[name] = f"<{problem}>"
            error = error or problem
    return row, error


def _read_parquet(path: Path, columns: Iterable[str] | None) -> Iterator[Row]:
    import pyarrow as pa

    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    wanted = [c for c in names if c in set(columns)] if columns is not None else None
    try:
        yield from _batch_rows(pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted))
    except (pa.ArrowException, OSError) as e:
        raise BadFileError(f"{path}: corrupt Parquet data after row {line} ({e})") from None


def _delimiter(fmt: str) -> str:
    return "\t" if fmt == "tsv" else ","


def read_rows(path: str | Path, format: str | None = None, columns: Iterable[str] | None = None,
              max_record_lines: int = DEFAULT_MAX_RECORD_LINES) -> Iterator[Row]:
    """Stream (line, row, error) tuples from a catalog file; see the module docstring.

    The file is checked before this returns (BadFileError at once for a bad file); rows are read
    lazily. columns, when given, limits the Parquet columns read (other formats ignore it).
    max_record_lines: the most physical lines one CSV record may span (csv_records.py).
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
        _csv_header(path, Lines(f), _delimiter(fmt))
    return _read_csv(path, _delimiter(fmt), max_record_lines)


def peek_columns(path: str | Path, format: str | None = None, wanted: Iterable[str] = ()) -> set[str]:
    """The columns of a file: the CSV header, the Parquet schema, or for JSONL (whose objects need not
    share their keys) the union of the keys of the first JSONL_PEEK_RECORDS objects, read on through
    the whole file while a key in `wanted` has not been seen (a key that first appears in record 5000
    is still a column of the file)."""
    path = check_exists(path)
    fmt = resolve_format(path, format)
    check_file(path, fmt)
    if fmt == "parquet":
        return set(_parquet_file(path).schema_arrow.names)
    if fmt == "jsonl":
        keys: set[str] = set()
        missing = set(wanted)
        seen = 0
        for _, row, error in _read_jsonl(path):
            if error is None:
                keys.update(row)
                missing.difference_update(row)
                seen += 1
                if seen >= JSONL_PEEK_RECORDS and not missing:
                    break
        return keys
    with _open_binary(path) as f:
        return set(_csv_header(path, Lines(f), _delimiter(fmt)))


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


def arrow_table(table):
    """A pandas DataFrame or a pyarrow Table (or RecordBatch) as a pyarrow Table; BadArgumentError for
    anything else. A DataFrame's index is dropped (give it as a column to keep it)."""
    import pyarrow as pa

    from shopgraph.errors import BadArgumentError

    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if isinstance(table, pa.Table):
        return table
    if type(table).__module__.startswith("pandas") and hasattr(table, "columns"):
        duplicated = [c for c in table.columns[table.columns.duplicated()]]
        if duplicated:
            raise BadArgumentError(f"the DataFrame has column {duplicated[0]!r} twice")
        try:
            return pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise BadArgumentError(f"the DataFrame cannot be read as a table: {str(e).splitlines()[0]}") from None
    raise BadArgumentError(f"expected a file path, a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")


def read_table_rows(table, columns: Iterable[str] | None = None) -> Iterator[Row]:
    """(line, row, error) from an Arrow table, line = row index + 1, like a Parquet file's rows (a value
    Python cannot hold spoils its row only)."""
    import pyarrow as pa

    if columns is not None:
        table = table.select([c for c in table.column_names if c in set(columns)])
    yield from _batch_rows(table.to_batches(max_chunksize=PARQUET_BATCH_ROWS))


def _batch_rows(batches) -> Iterator[Row]:
    """(line, row, error) of Arrow record batches, line counting rows from 1."""
    import pyarrow as pa

    line = 0
    for batch in batches:
        try:
            rows = batch.to_pylist()
        except (UnicodeDecodeError, ValueError, OverflowError, pa.ArrowException):
            rows = None     # some value cannot become a Python value: find it row by row
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
