import json
import math

import pytest

from shopgraph.errors import BadFileError
from shopgraph.ingest.quarantine import QuarantineWriter, json_safe, read_quarantine, run_file
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


def test_a_writer_never_opens_an_existing_file(tmp_path):
    """Finding 7 of issue 13: a later run must not destroy an earlier run's records (it truncated them)."""
    path = tmp_path / "q.jsonl"
    paths = []
    for n in range(3):
        with QuarantineWriter(path) as writer:
            writer.write(QuarantinedRow("a.csv", n, "bad", {}))
        paths.append(writer.path)
    assert paths == [path, tmp_path / "q-2.jsonl", tmp_path / "q-3.jsonl"]
    assert [_lines(p)[0]["line"] for p in paths] == [0, 1, 2]
    with QuarantineWriter(tmp_path / "clean.jsonl") as writer:
        pass
    assert writer.path is None and not (tmp_path / "clean.jsonl").exists()   # no rows, no file


def test_a_writer_does_not_follow_a_planted_symlink(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    (tmp_path / "q.jsonl").symlink_to(target)
    with QuarantineWriter(tmp_path / "q.jsonl") as writer:
        writer.write(QuarantinedRow("a.csv", 2, "bad", {}))
    assert target.read_text() == "keep me" and writer.path == tmp_path / "q-2.jsonl"


def test_run_files_are_named_per_run_and_stay_in_their_folder(tmp_path):
    assert run_file(tmp_path, "shop_a", "products.csv", "20260115T103000Z") == \
        tmp_path / "shop_a-products.csv-20260115T103000Z.jsonl"
    name = run_file(tmp_path, "shop_a", "../../etc/products.csv", "20260115T103000Z")
    assert name.parent == tmp_path and name.name == "shop_a-_.._etc_products.csv-20260115T103000Z.jsonl"
    weird = run_file(tmp_path, "shop_a", "..\n" + "x" * 300, "T")
    assert weird.parent == tmp_path and len(weird.name) < 120 and "\n" not in weird.name


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
        QuarantineWriter(blocker / "q.jsonl").write(QuarantinedRow("a", 1, "r", {}))
