import json
import math

import pytest

from shopgraph.errors import BadFileError
from shopgraph.ingest.quarantine import QuarantineWriter, json_safe, read_quarantine
from shopgraph.records import QuarantinedRow


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_flushed_object_per_line_and_creates_dirs(tmp_path):
    path = tmp_path / "deep" / "er" / "q.jsonl"
    writer = QuarantineWriter(path)
    writer.write(QuarantinedRow("a.csv", 3, "missing title", {"id": "7", "title": ""}))
    # Flushed per write: readable before close (a killed run leaves complete lines).
    assert _lines(path) == [{"source_file": "a.csv", "line": 3, "reason": "missing title",
                             "row": {"id": "7", "title": ""}}]
    writer.write(QuarantinedRow("a.csv", 9, "price: negative (-1.0)", {"id": "8"}))
    assert writer.count == 2
    writer.close()
    writer.close()      # idempotent
    assert [r["line"] for r in _lines(path)] == [3, 9]


def test_reopening_truncates(tmp_path):
    path = tmp_path / "q.jsonl"
    for _ in range(2):
        with QuarantineWriter(path) as writer:
            writer.write(QuarantinedRow("a.csv", 2, "bad", {}))
    assert len(_lines(path)) == 1
    with QuarantineWriter(path):
        pass
    assert path.read_text() == ""       # created empty even when nothing is quarantined


def test_rows_are_made_json_safe(tmp_path):
    row = {"price": math.nan, "big": math.inf, "raw": b"ab\xffcd", "title": "x\ud800y",
           "nested": {1: (1, 2)}, "ok": 1.5}
    path = tmp_path / "q.jsonl"
    with QuarantineWriter(path) as writer:
        writer.write(QuarantinedRow("a.jsonl", 1, "bad \udcff reason", row))
    [obj] = _lines(path)
    assert obj["row"] == {"price": "nan", "big": "inf", "raw": "ab\\xffcd", "title": "x\\ud800y",
                          "nested": {"1": [1, 2]}, "ok": 1.5}
    assert obj["reason"] == "bad \\udcff reason"


def test_json_safe_leaves_plain_values():
    assert json_safe({"a": [1, "b", None, True]}) == {"a": [1, "b", None, True]}


def test_read_back(tmp_path):
    path = tmp_path / "q.jsonl"
    with QuarantineWriter(path) as writer:
        writer.write(QuarantinedRow("f.csv", 4, "why", {"k": "v"}))
    with open(path, "a") as f:
        f.write('{"source_file": "torn')       # a torn last line is skipped
    assert list(read_quarantine(path)) == [QuarantinedRow("f.csv", 4, "why", {"k": "v"})]


def test_write_after_close_and_unwritable_path(tmp_path):
    writer = QuarantineWriter(tmp_path / "q.jsonl")
    writer.close()
    with pytest.raises(ValueError):
        writer.write(QuarantinedRow("a", 1, "r", {}))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadFileError, match="cannot write the quarantine file"):
        QuarantineWriter(blocker / "q.jsonl")
