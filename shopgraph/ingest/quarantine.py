"""The quarantine: rows that failed reading or validation, kept as JSONL with their place and reason.

One object per line: ``{"source_file": str, "line": int, "reason": str, "row": {...}}``. Every run
writes files of its own (`run_file_name`: the run's UTC time is in the name) and a writer only ever
creates a new file, never opens an existing one, so no run can erase or mix into another run's records.
A file is created at the first bad row (a clean run leaves none), and every line is flushed as it is
written, so a killed run leaves only complete lines.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from shopgraph.errors import BadFileError
from shopgraph.names import file_part, inside
from shopgraph.records import QuarantinedRow

# Tries at another name when a run's file name is taken (two runs in the same second).
_NAME_TRIES = 1000


def run_stamp(moment: _dt.datetime | None = None) -> str:
    """The UTC time of a run as it appears in quarantine file names: 20260115T103000Z."""
    moment = moment or _dt.datetime.now(_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run_file(folder: str | Path, platform: str, source_name: str, stamp: str) -> Path:
    """`<folder>/<platform>-<source file name>-<stamp>.jsonl`: the source's name made safe
    (names.file_part) and the result checked to stay inside folder. platform must already be a valid
    platform name (names.check_platform)."""
    return inside(Path(folder), f"{file_part(platform)}-{file_part(source_name)}-{stamp}.jsonl")


def _safe_text(text: str) -> str:
    # Lone surrogates (from "\ud800" JSON escapes or surrogateescape decoding) cannot be written as
    # UTF-8: spell them as backslash escapes instead.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value: Any) -> Any:
    """A copy of value that json.dumps(..., allow_nan=False) accepts: str/int/float/bool/None, lists
    and str-keyed dicts. bytes are decoded as UTF-8 with bad bytes escaped (\\xNN); NaN and infinities,
    dates, numpy scalars and anything else become their str()."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _safe_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_safe_text(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy / pyarrow scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    return _safe_text(str(value))


def _create_new(path: Path):
    """Open a file that did not exist (never an existing file, nor through a symbolic link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8", newline="\n")


class QuarantineWriter:
    """Write QuarantinedRows to a new JSONL file; `count` is how many were written.

    The file (and its folder) is created at the first write, never before: `path` is None until then.
    When the wanted name is taken, "-2", "-3", ... is added before the suffix; an existing file is never
    opened. Use as a context manager or call close().
    """

    def __init__(self, path: str | Path):
        self.wanted = Path(path)
        self.path: Path | None = None
        self.count = 0
        self._file = None
        self._closed = False

    def _open(self) -> None:
        try:
            self.wanted.parent.mkdir(parents=True, exist_ok=True)
            for n in range(1, _NAME_TRIES + 1):
                path = self.wanted if n == 1 else self.wanted.with_name(f"{self.wanted.stem}-{n}{self.wanted.suffix}")
                try:
                    self._file = _create_new(path)
                except FileExistsError:
                    continue
                self.path = path
                return
        except OSError as e:
            raise BadFileError(f"{self.wanted}: cannot write the quarantine file: {e.strerror or e}") from None
        raise BadFileError(f"{self.wanted}: cannot write the quarantine file: {_NAME_TRIES} files of that name exist")

    def write(self, q: QuarantinedRow) -> None:
        """Append one row as a complete, flushed JSON line."""
        if self._closed:
            raise ValueError(f"quarantine file {self.path or self.wanted} is closed")
        if self._file is None:
            self._open()
        obj = {"source_file": _safe_text(str(q.source_file)), "line": int(q.source_line),
               "reason": _safe_text(str(q.reason)), "row": json_safe(q.row)}
        self._file.write(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        self._closed = True
        if self._file is not None and not self._file.closed:
            self._file.close()

    def __enter__(self) -> "QuarantineWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_quarantine(path: str | Path) -> Iterator[QuarantinedRow]:
    """Read a quarantine file back (for reports and tests); a torn last line is skipped."""
    with open(path, encoding="utf-8") as f:
        for text in f:
            try:
                obj = json.loads(text)
            except ValueError:
                continue
            yield QuarantinedRow(obj["source_file"], obj["line"], obj["reason"], obj["row"])
