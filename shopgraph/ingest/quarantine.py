"""The quarantine: rows that failed reading or validation, kept as JSONL with their place and reason.

One object per line: ``{"source_file": str, "line": int, "reason": str, "row": {...}}``. The file is
truncated when a writer opens it, so running the same ingest again rewrites it instead of appending
duplicates, and every line is flushed as it is written, so a killed run leaves only complete lines.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any, Iterator

from shopgraph.errors import BadFileError
from shopgraph.records import QuarantinedRow


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


class QuarantineWriter:
    """Write QuarantinedRows to a JSONL file; `count` is how many were written.

    Creates parent directories and truncates the file on open. Use as a context manager or call close().
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise BadFileError(f"{self.path}: cannot write the quarantine file: {e.strerror or e}") from None

    def write(self, q: QuarantinedRow) -> None:
        """Append one row as a complete, flushed JSON line."""
        if self._file.closed:
            raise ValueError(f"quarantine file {self.path} is closed")
        obj = {"source_file": _safe_text(str(q.source_file)), "line": int(q.source_line),
               "reason": _safe_text(str(q.reason)), "row": json_safe(q.row)}
        self._file.write(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
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
