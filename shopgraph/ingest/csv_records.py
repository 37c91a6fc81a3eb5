"""CSV / TSV records out of physical lines, where a broken quote costs one row, never the rows after it.

A quoted field may legitimately run over several lines (a description with line breaks), so a quote
that is never closed would otherwise swallow every line after it into one field. The rule: a record
that runs over more than one line is *broken* when

- its quoted field is still open at the end of the file,
- its quoted field runs over more than `max_lines` physical lines,
- a closing quote is followed by something other than the delimiter or the line end, or
- it ends with a different number of fields than the header has.

A broken record's first line (where the quote opened) is reported as a bad row with the reason, and the
lines after it are read again as records of their own. Every physical line therefore ends up in exactly
one place: the header, a record, a bad row, or a blank line (skipped). A broken record on one line is
one bad row, as any other malformed line. Quotes are parsed strictly (csv's strict mode) for the same
reason: `"abc"def` is a bad row, not a guess.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Iterator

from shopgraph.ingest.text_lines import Line, Lines

# Large enough for any real description; a field of one line beyond it is one bad record.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
_RAW_LIMIT = 100_000


class _TooManyLines(Exception):
    """Internal: the record being read has run over max_lines lines."""


@dataclass
class Record:
    """One record: start line, its fields (None when it could not be parsed), its raw text, the
    reason it is bad (None when good)."""

    line: int
    fields: list[str] | None
    raw: str
    error: str | None


class _Feed:
    """Hands lines to csv.reader and remembers the ones of the record being read."""

    def __init__(self, lines: Lines, max_lines: int):
        self.lines = lines
        self.max_lines = max_lines
        self.current: list[Line] = []

    def __iter__(self) -> "_Feed":
        return self

    def __next__(self) -> str:
        if len(self.current) >= self.max_lines:
            raise _TooManyLines()
        line = next(self.lines)
        self.current.append(line)
        return line.text


def _raw(lines: list[Line]) -> str:
    raw = "\n".join(line.shown for line in lines)
    if len(raw) > _RAW_LIMIT:
        raw = raw[:_RAW_LIMIT] + f"... [{len(raw) - _RAW_LIMIT} more characters]"
    return raw


def _blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _parsed(feed: _Feed, reader) -> Iterator[tuple[list[Line], list[str] | None, str | None]]:
    """(lines, fields, csv problem) per record as csv.reader sees it, blank lines included."""
    while True:
        feed.current = []
        try:
            fields, problem = next(reader), None
        except StopIteration:
            return
        except _TooManyLines:
            fields, problem = None, f"runs over more than {feed.max_lines} lines (max_record_lines)"
        except csv.Error as e:
            fields, problem = None, str(e)
        yield feed.current, fields, problem


def csv_records(lines: Lines, delimiter: str, max_lines: int, width: int | None = None) -> Iterator[Record]:
    """Records of the lines (blank lines skipped). width: the header's number of fields (None while
    reading the header itself)."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:     # process-wide setting: only ever raised
        csv.field_size_limit(CSV_FIELD_LIMIT)
    feed = _Feed(lines, max(1, max_lines))
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    for consumed, fields, problem in _parsed(feed, reader):
        if not consumed:
            return
        if problem is None and _blank(fields):
            continue
        start = consumed[0].number
        if problem is None and width is not None and len(consumed) > 1 and len(fields) != width:
            problem = f"leaves its record with {len(fields)} fields, expected {width}"
        if problem is not None and len(consumed) > 1:
            lines.push_back(consumed[1:])
            yield Record(start, None, _raw(consumed[:1]), _unclosed(problem, consumed))
            continue
        if problem is not None:
            yield Record(start, None, _raw(consumed), f"unparseable CSV record: {problem}")
            continue
        decoding = next((line.error for line in consumed if line.error), None)
        yield Record(start, fields, _raw(consumed), decoding)


def _unclosed(problem: str, consumed: list[Line]) -> str:
    if problem == "unexpected end of data":
        problem = "is still open at the end of the file"
    elif problem.startswith("'"):
        problem = f"is closed by a quote followed by text ({problem})"
    first, last = consumed[1].number, consumed[-1].number
    again = f"line {first}" if first == last else f"lines {first}-{last}"
    return (f"unclosed quote: the quoted field that starts on line {consumed[0].number} {problem}; "
            f"{again} read again as rows of their own")
