import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopgraph.errors import BadFileError, ConfigError
from shopgraph.ingest.interactions import (InteractionMapping, iter_interaction_source, load_interaction_mapping,
                                           parse_timestamp, read_interactions, read_s3rec_sequences, s3rec_items)
from shopgraph.records import InteractionRecord, QuarantinedRow

MAPPING = InteractionMapping(namespace="shop", user="uid", item="sku", kind="event", value="val", timestamp="ts")


@pytest.mark.parametrize("value, expected", [
    ("2020-01-01T00:00:00Z", 1577836800), ("2020-01-01T01:00:00+01:00", 1577836800),
    ("2020-01-01 00:00:10", 1577836810), ("2020-01-02", 1577923200), ("1577836800", 1577836800),
    ("1577836800.9", 1577836800), (1577836800, 1577836800), (12.7, 12), ("", 0), (None, 0),
    (dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), 1577836800), (dt.date(2020, 1, 1), 1577836800),
])
def test_parse_timestamp(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2020-13-45", True, float("inf")])
def test_parse_timestamp_rejects(value):
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_read_csv_interactions(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "uid,sku,event,val,ts\n"
        "u1,p1,purchase,,2020-01-01T00:00:00Z\n"
        "u1,p2,,,\n"                      # default kind, value 1.0, timestamp 0
        "7,8,Rating,4.5,1577836800\n"
        "u2,p1,like,,\n"                  # unknown kind
        "u2,p1,rating,,\n"                # rating without value
        "u2,p1,view,inf,\n"               # value not finite
        "u2,p1,view,1,soon\n"             # bad timestamp
        ",p1,view,1,\n",                  # missing user
        encoding="utf-8")
    results = list(read_interactions(path, MAPPING))
    good = [r for r in results if isinstance(r, InteractionRecord)]
    assert good == [
        InteractionRecord("shop:u1", "shop:p1", "purchase", 1.0, 1577836800, str(path), 2),
        InteractionRecord("shop:u1", "shop:p2", "view", 1.0, 0, str(path), 3),
        InteractionRecord("shop:7", "shop:8", "rating", 4.5, 1577836800, str(path), 4),
    ]
    bad = {r.source_line: r.reason for r in results if isinstance(r, QuarantinedRow)}
    assert bad == {5: "unknown kind 'like' (expected one of view, cart, purchase, rating)",
                   6: "rating without a value", 7: "value: not finite ('inf')",
                   8: "cannot read timestamp 'soon' (expected epoch seconds or ISO-8601)",
                   9: "missing user"}


def test_jsonl_and_parquet_interactions(tmp_path):
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"uid": 1, "sku": 2.0, "event": "cart"}\n{"uid": \n', encoding="utf-8")
    mapping = InteractionMapping(namespace="n", user="uid", item="sku", kind="event")
    first, second = list(read_interactions(jsonl, mapping))
    assert (first.user_id, first.product_id, first.kind) == ("n:1", "n:2", "cart")
    assert second.source_line == 2 and second.reason.startswith("invalid JSON")
    parquet = tmp_path / "e.parquet"
    when = dt.datetime(2021, 5, 1, tzinfo=dt.timezone.utc)
    pq.write_table(pa.table({"u": ["a"], "i": ["b"], "t": pa.array([when], pa.timestamp("s", tz="UTC"))}), parquet)
    [record] = list(read_interactions(parquet, InteractionMapping(namespace="n", user="u", item="i", timestamp="t")))
    assert record.timestamp == int(when.timestamp()) and record.source_line == 1


def test_mapping_checks(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user,item\n1,2\n", encoding="utf-8")
    with pytest.raises(BadFileError, match="mapping names columns 'event', 'sku', 'ts', 'uid', 'val' not in the file"):
        read_interactions(path, MAPPING)
    with pytest.raises(ConfigError, match="default_kind"):
        InteractionMapping(namespace="n", user="u", item="i", default_kind="click")
    with pytest.raises(ConfigError, match="namespace 'a:b' contains ':'"):
        InteractionMapping(namespace="a:b", user="u", item="i")
    assert MAPPING.columns() == {"uid", "sku", "event", "val", "ts"}


def test_s3rec_sequences(tmp_path):
    path = tmp_path / "Mini.txt"
    path.write_bytes(b"1 5 6 7\n\n2 6\n3\nx 1 2\n4 9 \xff\n")
    results = list(read_s3rec_sequences(path, "mini"))
    good = [(r.user_id, r.product_id, r.kind, r.value, r.timestamp, r.source_line)
            for r in results if isinstance(r, InteractionRecord)]
    assert good == [("mini:1", "mini:5", "purchase", 1.0, 0, 1), ("mini:1", "mini:6", "purchase", 1.0, 1, 1),
                    ("mini:1", "mini:7", "purchase", 1.0, 2, 1), ("mini:2", "mini:6", "purchase", 1.0, 0, 3)]
    bad = {r.source_line: (r.reason, r.row) for r in results if isinstance(r, QuarantinedRow)}
    assert bad[4] == ("a user id with no items", {"raw": "3"})
    assert bad[5] == ("not an integer id of at most 40 digits: 'x'", {"raw": "x 1 2"})
    assert bad[6][0] == "invalid UTF-8 byte 0xff"
    assert s3rec_items(path) == {"5": 1, "6": 1, "7": 1}
    assert len(list(iter_interaction_source(path, "mini"))) == len(results)


def test_s3rec_bad_files(tmp_path):
    with pytest.raises(BadFileError, match="file not found"):
        read_s3rec_sequences(tmp_path / "nope.txt", "n")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01" * 100)
    with pytest.raises(BadFileError, match="binary"):
        read_s3rec_sequences(binary, "n")


def test_load_interaction_mapping(tmp_path):
    path = tmp_path / "events.toml"
    text = 'platform = "shop"\nuser = "uid"\nitem = "sku"\nkind = "event"\ntimestamp = "ts"\n'
    path.write_text(text, encoding="utf-8")
    assert load_interaction_mapping(path) == InteractionMapping(namespace="shop", user="uid", item="sku",
                                                                kind="event", timestamp="ts")
    for text, message in [('namespace = "n"\nuser = "u"\n', "missing required key 'item'"),
                          ('namespace = "n"\nuser = "u"\nitem = "i"\nwhen = "t"\n', "unknown key 'when'"),
                          ('namespace = "n"\nuser = "u"\nitem = "i"\ndefault_kind = "click"\n', "default_kind 'click'"),
                          ('namespace = "n"\nuser = "u"\nitem = 3\n', "key 'item' must be a string")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_interaction_mapping(path)
        assert message in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("value", ["99999999999999999999", 99999999999999999999, 1e300, -1e300, 10 ** 400,
                                   "9" * 5000, 2 ** 63])
def test_timestamps_beyond_the_stores_integers_are_refused(value):
    """Finding 5: 99999999999999999999 (or JSON 1e300) passed here and crashed the write with OverflowError."""
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_one_overflowing_row_is_one_bad_row(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"uid": "u1", "sku": "p1", "ts": 99999999999999999999}\n'
                    '{"uid": "u2", "sku": "p1", "ts": 1e300}\n'
                    '{"uid": "u3", "sku": "p1", "val": 1e400, "event": "rating"}\n'
                    '{"uid": "u4", "sku": "p1", "val": ' + "9" * 400 + ', "event": "rating"}\n'
                    '{"uid": "u5", "sku": "p1", "ts": 1577836800}\n', encoding="utf-8")
    results = list(read_interactions(path, MAPPING))
    assert [type(r).__name__ for r in results] == ["QuarantinedRow"] * 4 + ["InteractionRecord"]
    assert "out of range" in results[0].reason and "timestamp" in results[1].reason
    assert results[2].reason.startswith("value: not finite") and results[3].reason.startswith("value: not a number")


def test_numeric_ids_are_exact(tmp_path):
    """Finding 10: item 9007199254740993 attached to product ...992."""
    path = tmp_path / "e.jsonl"
    path.write_text('{"uid": 9007199254740993, "sku": 9007199254740993}\n'
                    '{"uid": 1, "sku": 9007199254740993.0}\n', encoding="utf-8")
    first, second = list(read_interactions(path, InteractionMapping(namespace="shop", user="uid", item="sku")))
    assert (first.user_id, first.product_id) == ("shop:9007199254740993", "shop:9007199254740993")
    assert isinstance(second, QuarantinedRow) and "too large to be an exact id" in second.reason


def test_s3rec_ids_are_ascii_digits_of_a_sane_length(tmp_path):
    path = tmp_path / "Seq.txt"
    path.write_text("1 2 3\n2 ²\n3 " + "9" * 5000 + "\n4 5\n", encoding="utf-8")
    results = list(read_s3rec_sequences(path, "seq"))
    assert [type(r).__name__ for r in results] == ["InteractionRecord"] * 2 + ["QuarantinedRow"] * 2 + ["InteractionRecord"]
    assert sorted(s3rec_items(path), key=int) == ["2", "3", "5"]
