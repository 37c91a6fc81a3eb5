import os
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopgraph.errors import BadFileError
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows


def _bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _bad_file_message(path, **kw) -> str:
    with pytest.raises(BadFileError) as info:
        list(read_rows(path, **kw))
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


# -- CSV -------------------------------------------------------------------------------------------

def test_csv_line_numbers_follow_physical_lines(tmp_path):
    path = _bytes(tmp_path, "a.csv", b'id,name,desc\n1,"two\nline name",x\n\n2,b,"c\n\nd"\n3,c,e\n')
    rows = list(read_rows(path))
    assert rows == [(2, {"id": "1", "name": "two\nline name", "desc": "x"}, None),
                    (5, {"id": "2", "name": "b", "desc": "c\n\nd"}, None),
                    (8, {"id": "3", "name": "c", "desc": "e"}, None)]


def test_csv_bom_crlf_and_header_spaces(tmp_path):
    path = _bytes(tmp_path, "a.csv", b"\xef\xbb\xbfid , name\r\n1,caf\xc3\xa9\r\n")
    assert list(read_rows(path)) == [(2, {"id": "1", "name": "café"}, None)]
    assert peek_columns(path) == {"id", "name"}


def test_one_invalid_utf8_byte_spoils_one_row_only(tmp_path):
    path = _bytes(tmp_path, "a.csv", b"id,name\n1,ok\n2,bad\xff byte\n3,fine\n")
    rows = list(read_rows(path))
    assert [r[0] for r in rows] == [2, 3, 4]
    assert rows[0][2] is None and rows[2] == (4, {"id": "3", "name": "fine"}, None)
    line, row, error = rows[1]
    assert row == {"raw": "2,bad\\xff byte"}
    assert "invalid UTF-8 byte 0xff" in error


def test_wrong_field_count_is_a_row_error(tmp_path):
    path = _bytes(tmp_path, "a.csv", b"id,name,price\n1,a,2\n2,b\n3,c,4,extra\n4,d,5\n")
    rows = list(read_rows(path))
    assert [(r[0], r[2]) for r in rows] == [(2, None), (3, "expected 3 fields, found 2"),
                                            (4, "expected 3 fields, found 4"), (5, None)]
    assert rows[2][1] == {"raw": "3,c,4,extra"}


def test_huge_field_and_tsv(tmp_path):
    big = "x" * 300_000          # above the csv module's default 131072 limit
    path = tmp_path / "a.tsv"
    path.write_text(f"id\tdesc\n1\t{big}\n", encoding="utf-8")
    [(line, row, error)] = list(read_rows(path))
    assert error is None and len(row["desc"]) == 300_000


def test_header_only_csv_has_no_rows(tmp_path):
    assert list(read_rows(_bytes(tmp_path, "a.csv", b"id,name\n"))) == []


@pytest.mark.parametrize("data, message", [
    (b"", "empty file, no header row"),
    (b"\n\n", "empty file, no header row"),
    (b"id,name,id\n1,2,3\n", "column 'id' appears twice"),
    (b"\x00\x01\x02garbage\x00" * 20, "looks like a binary file"),
    (b"PAR1\x00\x00", "is a Parquet file, not CSV"),
    (b"\xff\xfei\x00d\x00", "UTF-16"),
    (b"\x1f\x8b\x08\x00", "gzip"),
])
def test_bad_csv_files(tmp_path, data, message):
    assert message in _bad_file_message(_bytes(tmp_path, "a.csv", data))


def test_missing_file_directory_and_unknown_format(tmp_path):
    assert "file not found" in _bad_file_message(tmp_path / "nope.csv")
    (tmp_path / "d.csv").mkdir()
    assert "is a directory" in _bad_file_message(tmp_path / "d.csv")
    path = _bytes(tmp_path, "a.xml", b"<a/>")
    assert "cannot tell the format" in _bad_file_message(path)
    assert "unknown format 'xml'" in _bad_file_message(path, format="xml")


def test_explicit_format_wins_over_extension(tmp_path):
    path = _bytes(tmp_path, "data.txt", b'{"id": 1}\n')
    assert list(read_rows(path, format="jsonl")) == [(1, {"id": 1}, None)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = _bytes(tmp_path, "a.csv", b"id\n1\n")
    path.chmod(0)
    assert "permission denied" in _bad_file_message(path)


def test_csv_reading_is_streamed(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,title,description\n")
        for i in range(20_000):
            f.write(f"{i},product {i},{'words ' * 80}\n")
    assert path.stat().st_size > 9_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_rows(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 2_000_000, f"peak {peak} bytes: the reader is not streaming"


# -- JSONL -----------------------------------------------------------------------------------------

def test_jsonl_rows_and_row_errors(tmp_path):
    path = _bytes(tmp_path, "a.jsonl", b'{"id": 1, "price": NaN}\n{"id": 2,\n\n[1, 2]\n{"id": "\xfe"}\n{"id": 3}\n')
    rows = list(read_rows(path))
    assert [r[0] for r in rows] == [1, 2, 4, 5, 6]
    assert rows[0][1]["id"] == 1 and rows[0][1]["price"] != rows[0][1]["price"]     # NaN kept
    assert rows[1][1] == {"raw": '{"id": 2,'} and rows[1][2].startswith("invalid JSON")
    assert rows[2][2] == "expected a JSON object, got list"
    assert rows[3][1] == {"raw": '{"id": "\\xfe"}'} and "invalid UTF-8" in rows[3][2]
    assert rows[4] == (6, {"id": 3}, None)


def test_json_array_is_not_jsonl(tmp_path):
    path = _bytes(tmp_path, "a.jsonl", b'[\n  {"id": 1}\n]\n')
    assert "a JSON array, not JSON Lines" in _bad_file_message(path)


def test_jsonl_columns_are_the_union_of_the_first_100_records(tmp_path):
    lines = [b'{"id": 1, "a": 1}', b'{"id": 2, "b": 2}', b"not json"]
    lines += [b'{"id": %d}' % i for i in range(3, 120)] + [b'{"id": 200, "late": 1}']
    path = _bytes(tmp_path, "a.jsonl", b"\n".join(lines))
    assert peek_columns(path) == {"id", "a", "b"}


# -- Parquet ---------------------------------------------------------------------------------------

def test_parquet_rows_batches_and_projection(tmp_path):
    n = 2500            # more than one reader batch
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": list(range(n)), "title": [f"t{i}" for i in range(n)],
                             "price": [None if i % 2 else float(i) for i in range(n)]}), path)
    rows = list(read_rows(path))
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert rows[2000] == (2001, {"id": 2000, "title": "t2000", "price": 2000.0}, None)
    assert rows[1][1]["price"] is None
    assert list(read_rows(path, columns={"id"}))[0] == (1, {"id": 0}, None)
    assert peek_columns(path) == {"id", "title", "price"}


def test_garbage_as_parquet(tmp_path):
    path = _bytes(tmp_path, "a.parquet", os.urandom(2000))
    assert "not a readable Parquet file" in _bad_file_message(path)
    csv_path = _bytes(tmp_path, "b.csv", b"id\n1\n")
    assert "not a readable Parquet file" in _bad_file_message(csv_path, format="parquet")


# -- columns ---------------------------------------------------------------------------------------

def test_check_columns_names_file_and_missing_columns(tmp_path):
    path = _bytes(tmp_path, "a.csv", b"sku,name\n1,x\n")
    mapping = ColumnMapping(platform="p", id="sku", title="title", brand="maker")
    with pytest.raises(BadFileError) as info:
        check_columns(path, peek_columns(path), mapping)
    message = str(info.value)
    assert message == f"{path}: mapping names columns 'maker', 'title' not in the file (it has: 'name', 'sku')"
    check_columns(path, peek_columns(path), ColumnMapping(platform="p", id="sku", title="name"))


# -- issue 13: broken quotes, line endings, NUL bytes, FIFOs, late JSONL keys, Parquet values ---------

def test_an_unclosed_quote_costs_one_row_not_the_rows_after_it(tmp_path):
    """Finding 4: B-1's quote swallowed A-2..A-4 into its title ("rows read 2, written 2")."""
    path = _bytes(tmp_path, "a.csv", b'sku,name\nA-1,One\nB-1,"Broken quote\nA-2,Two\nA-3,Three\nA-4,Four\n')
    rows = list(read_rows(path))
    assert [(line, row.get("sku")) for line, row, _ in rows] == [(2, "A-1"), (3, None), (4, "A-2"), (5, "A-3"), (6, "A-4")]
    line, row, error = rows[1]
    assert row == {"raw": 'B-1,"Broken quote'}
    assert error.startswith("unclosed quote: the quoted field that starts on line 3 is still open at the end of the file")


@pytest.mark.parametrize("broken, reason", [
    (b'B-1,"Broken\nA-8,"Eight, with comma"\n', "closed by a quote followed by text"),
    (b'B-1,"Broken\nA-8,Eight",x\n', "leaves its record with 3 fields, expected 2"),
])
def test_a_quote_closed_in_the_wrong_place_is_found_too(tmp_path, broken, reason):
    path = _bytes(tmp_path, "a.csv", b"sku,name\nA-1,One\n" + broken + b"A-9,Nine\n")
    rows = list(read_rows(path))
    assert rows[1][0] == 3 and reason in rows[1][2]
    assert rows[0][1] == {"sku": "A-1", "name": "One"} and rows[-1][1] == {"sku": "A-9", "name": "Nine"}
    assert len(rows) == 4      # A-1, the broken line, the line after it read again, A-9


def test_a_runaway_quote_in_a_long_file_costs_one_row(tmp_path):
    """The issue's 201-line file: one broken quote near the top lost 195 good rows with exit 0."""
    lines = [b"sku,name"] + [b"A-%d,Product %d" % (i, i) for i in range(200)]
    lines[6] = b'B-1,"Broken quote'
    rows = list(read_rows(_bytes(tmp_path, "a.csv", b"\n".join(lines) + b"\n"), max_record_lines=50))
    good = [row for _, row, error in rows if error is None]
    assert len(rows) == 200 and len(good) == 199
    assert [line for line, _, error in rows if error] == [7]


def test_legit_multi_line_fields_stay_whole(tmp_path):
    text = "sku,desc\n1,\"line one\nline two, with comma\n\nline four\"\n2,plain\n"
    rows = list(read_rows(_bytes(tmp_path, "a.csv", text.encode())))
    assert rows == [(2, {"sku": "1", "desc": "line one\nline two, with comma\n\nline four"}, None),
                    (6, {"sku": "2", "desc": "plain"}, None)]


def test_strict_quotes_make_a_malformed_line_a_bad_row(tmp_path):
    rows = list(read_rows(_bytes(tmp_path, "a.csv", b'sku,name\n1,"abc"def\n2,ok\n')))
    assert rows[0][0] == 2 and "unparseable CSV record" in rows[0][2] and rows[1] == (3, {"sku": "2", "name": "ok"}, None)


def test_bare_cr_line_endings_are_line_endings(tmp_path):
    """Finding 11: a file with bare-CR line endings was refused whole."""
    path = _bytes(tmp_path, "a.csv", b'sku,name\r1,a\r2,"b\rc"\r\n3,c\n4,d')
    assert list(read_rows(path)) == [(2, {"sku": "1", "name": "a"}, None), (3, {"sku": "2", "name": "b\rc"}, None),
                                      (5, {"sku": "3", "name": "c"}, None), (6, {"sku": "4", "name": "d"}, None)]
    assert peek_columns(path) == {"sku", "name"}


def test_a_nul_byte_early_in_the_file_is_a_row_problem(tmp_path):
    """Finding 11: a NUL in the first 8 KB refused the whole file (later ones only their row)."""
    path = _bytes(tmp_path, "a.csv", b"sku,name\n1,a\x00b\n2,fine\n")
    assert list(read_rows(path)) == [(2, {"sku": "1", "name": "a\x00b"}, None), (3, {"sku": "2", "name": "fine"}, None)]
    jsonl = _bytes(tmp_path, "a.jsonl", b'{"sku": "1", "name": "x"}\n{"sku": "2"\x00}\n{"sku": "3", "name": "y"}\n')
    assert [(line, error is None) for line, _, error in read_rows(jsonl)] == [(1, True), (2, False), (3, True)]


@pytest.mark.parametrize("data, message", [
    (b"s\x00k\x00u\x00,\x00n\x00a\x00m\x00e\x00\n\x00", "looks UTF-16 encoded"),
    (b"sku,na\x00me\n1,a\n", "a NUL byte in the first line"),
    (bytes(range(256)) * 40, "looks like a binary file"),
])
def test_binary_files_are_still_refused_whole(tmp_path, data, message):
    assert message in _bad_file_message(_bytes(tmp_path, "a.csv", data))


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    """Finding 11: a FIFO given as the catalog hung the ingest until some process wrote to it."""
    import threading

    fifo = tmp_path / "catalog.csv"
    os.mkfifo(fifo)
    outcome = {}

    def attempt():
        try:
            list(read_rows(fifo))
        except BadFileError as e:
            outcome["error"] = str(e)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():      # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert outcome["error"] == f"{fifo}: is a FIFO (named pipe), not a regular file"


def test_jsonl_keys_that_first_appear_late_are_columns(tmp_path):
    """Finding 11: a mapped key first seen after record 100 made the whole file 'not have' the column."""
    lines = [b'{"id": %d}' % i for i in range(150)] + [b'{"id": 150, "brand": "Late"}']
    path = _bytes(tmp_path, "a.jsonl", b"\n".join(lines) + b"\n")
    assert peek_columns(path) == {"id"}                       # the cheap look at the first 100
    assert peek_columns(path, wanted={"id", "brand"}) == {"id", "brand"}
    mapping = ColumnMapping(platform="p", id="id", title="id", brand="brand")
    check_columns(path, peek_columns(path, wanted=mapping.columns()), mapping)
    with pytest.raises(BadFileError, match="'maker'"):
        wrong = ColumnMapping(platform="p", id="id", title="id", brand="maker")
        check_columns(path, peek_columns(path, wanted=wrong.columns()), wrong)


def test_parquet_values_python_cannot_hold_spoil_their_row_only(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"],
                             "when": pa.array([0, 2 ** 31 - 1, 1], type=pa.date32())}), path)
    rows = list(read_rows(path))
    assert [(line, error is None) for line, _, error in rows] == [(1, True), (2, False), (3, True)]
    assert "column 'when'" in rows[1][2] and rows[1][1]["raw"]
