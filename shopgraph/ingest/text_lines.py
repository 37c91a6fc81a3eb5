"""Physical lines of a text file, and the test of whether a file is text at all.

Lines end at "\\n", "\\r\\n" or a bare "\\r" (old Mac and some spreadsheet exports), so a file with
any of these line endings reads the same. Each line is decoded as UTF-8 on its own: a bad byte spoils
its line only (the line comes with the reason), never the file. A UTF-8 byte-order mark at the start
is dropped. Lines can be pushed back to be read again (the CSV reader does so after an unclosed quote).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import IO

_BOM = "\ufeff"
# Bytes that are not UTF-8 arrive as lone surrogates U+DC80..U+DCFF (errors="surrogateescape").
_UNDECODED = re.compile("[\udc80-\udcff]")
# Control characters that do not occur in text files (tab, newlines, form feed, escape excepted).
_NOT_TEXT = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")
BINARY_FRACTION = 0.1


@dataclass(frozen=True)
class Line:
    """number: 1-based physical line number; text: the line with its ending (bad bytes as
    surrogates); error: None or "invalid UTF-8 byte 0xNN on line N"."""

    number: int
    text: str
    error: str | None

    @property
    def shown(self) -> str:
        """The line without its ending, bad bytes written as \\xNN (for quarantine records)."""
        return self.text.rstrip("\r\n").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Lines:
    """Iterator of Line over a binary file object, with push_back."""

    def __init__(self, f: IO[bytes]):
        self._text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="")
        self._count = 0
        self._pending: list[Line] = []

    def __iter__(self) -> "Lines":
        return self

    def __next__(self) -> Line:
        if self._pending:
            return self._pending.pop()
        text = self._text.readline()
        if not text:
            raise StopIteration
        self._count += 1
        if self._count == 1 and text.startswith(_BOM):
            text = text[len(_BOM):]
        bad = _UNDECODED.search(text)
        error = None
        if bad is not None:
            error = f"invalid UTF-8 byte 0x{ord(bad.group()) - 0xDC00:02x} on line {self._count}"
        return Line(self._count, text, error)

    def push_back(self, lines: list[Line]) -> None:
        """Read these lines again, in order, before any new one."""
        self._pending.extend(reversed(lines))


def binary_problem(head: bytes) -> str | None:
    """Why the first bytes of a file show it is not a UTF-8 text file, or None when they may be one.

    Binary: the first line holds a NUL, or more than BINARY_FRACTION of the characters are control
    characters or bytes that are not UTF-8. A NUL further on is one row's problem, not the file's.
    """
    if not head:
        return None
    zeros = head.count(b"\x00")
    if zeros > len(head) // 4:
        # UTF-16 of mostly-Latin text: every other byte NUL, the bytes between them printable.
        for nul_half, other in ((head[0::2], head[1::2]), (head[1::2], head[0::2])):
            printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in other)
            if nul_half.count(b"\x00") > 0.9 * len(nul_half) and printable > 0.9 * max(len(other), 1):
                return "looks UTF-16 encoded (without a byte-order mark); save it as UTF-8"
    first = re.split(rb"[\r\n]", head, maxsplit=1)[0]
    if b"\x00" in first:
        return "looks like a binary file (a NUL byte in the first line)"
    text = head.decode("utf-8", "replace")
    if text.endswith("\ufffd"):
        text = text.rstrip("\ufffd")     # a multi-byte character cut at the end of the sample
    if len(_NOT_TEXT.findall(text)) > BINARY_FRACTION * max(len(text), 1):
        return "looks like a binary file"
    return None
