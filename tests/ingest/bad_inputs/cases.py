"""Every case of the bad-input corpus: an input file (bytes, or a function that makes it and whatever
it names) and what ingesting it must do.

A case expects either a bad *file* (`bad_file`: the one-line error names the file and contains this
text, and nothing is written), or rows: `rows` records read, of which `written` are written and the
rest quarantined; `bad` maps the line of each quarantined record to a piece of its reason. Products
go through the catalog mapping `mapping` (ColumnMapping keywords; the platform is the case's own),
interaction files (`interactions=True`) through `mapping` as InteractionMapping keywords, over
products I-1..I-3 of the case's platform.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

SKU_NAME = {"id": "sku", "title": "name"}
WITH_PRICE = {"id": "sku", "title": "name", "price": "price"}
WITH_IMAGE = {"id": "sku", "title": "name", "image": "img", "image_dir": "pics"}


@dataclass
class Case:
    name: str
    data: bytes | Callable[[Path], Path]
    suffix: str = ".csv"
    mapping: dict = field(default_factory=lambda: dict(SKU_NAME))
    rows: int = 0
    written: int = 0
    bad: dict[int, str] = field(default_factory=dict)
    # kind -> a piece of each noted value's detail, in file order (a kept product's unreadable value)
    notes: dict[str, list[str]] = field(default_factory=dict)
    bad_file: str | None = None
    images_missing: int = 0
    interactions: bool = False

    def make(self, folder: Path) -> Path:
        """Write the input into folder; returns the path to ingest."""
        if callable(self.data):
            return self.data(folder)
        path = folder / f"input{self.suffix}"
        path.write_bytes(self.data)
        return path


def _rows(n: int, start: int = 1) -> bytes:
    return b"".join(b"A-%d,Product number %d\n" % (i, i) for i in range(start, start + n))


GOOD = b"sku,name\n" + _rows(3)


# -- images ----------------------------------------------------------------------------------------

def png(width: int = 32, height: int = 24, colour=(200, 40, 40)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose header claims width x height pixels (a decompression bomb's header)."""
    data = bytearray(png())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _images(folder: Path) -> Path:
    pics = folder / "pics"
    pics.mkdir()
    (pics / "ok.png").write_bytes(png())
    (pics / "truncated.png").write_bytes(png()[:60])
    (pics / "text.png").write_bytes(b"this is not an image\n")
    (pics / "dir.png").mkdir()
    (pics / "huge.png").write_bytes(png_claiming(100_000, 100_000))
    os.mkfifo(pics / "fifo.png")
    (folder / "outside.png").write_bytes(png(colour=(10, 10, 200)))
    (pics / "link_out.png").symlink_to(folder / "outside.png")
    rows = ["sku,name,img", "I-1,Fine photo,ok.png", "I-2,Missing photo,gone.png", "I-3,Truncated,truncated.png",
            "I-4,Text as image,text.png", "I-5,Directory,dir.png", "I-6,Huge header,huge.png",
            "I-7,FIFO photo,fifo.png", "I-8,Link outside,link_out.png", "I-9,Dot dot,../outside.png",
            f"I-10,Absolute,{folder / 'outside.png'}", "I-11,Blank photo,"]
    path = folder / "images.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# -- files that are not catalogs -------------------------------------------------------------------

def _fifo(folder: Path) -> Path:
    path = folder / "input.csv"
    os.mkfifo(path)
    return path


def _directory(folder: Path) -> Path:
    path = folder / "input.csv"
    path.mkdir()
    return path


def _symlink_to_good(folder: Path) -> Path:
    (folder / "real.csv").write_bytes(GOOD)
    path = folder / "input.csv"
    path.symlink_to(folder / "real.csv")
    return path


# -- Parquet ---------------------------------------------------------------------------------------

def _parquet(table: pa.Table) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "input.parquet"
        pq.write_table(table, path)
        return path
    return make


def _corrupt_parquet(folder: Path) -> Path:
    out = io.BytesIO()
    pq.write_table(pa.table({"sku": ["a", "b"], "name": ["x", "y"]}), out)
    data = out.getvalue()
    path = folder / "input.parquet"
    path.write_bytes(data[:len(data) // 2] + data[-8:])     # footer kept, column chunks cut
    return path


def _jsonl(*objects) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objects)


CASES: list[Case] = [
    # -- CSV structure ------------------------------------------------------------------------------
    Case("good", GOOD, rows=3, written=3),
    Case("unclosed_quote_to_eof", b'sku,name\nA-1,One\nB-1,"Broken quote\nA-2,Two\nA-3,Three\nA-4,Four\n',
         rows=5, written=4, bad={3: "still open at the end of the file"}),
    Case("unclosed_quote_closed_by_a_later_quote",
         b'sku,name\nA-1,One\nB-1,"Broken\nA-2,"Two, quoted"\nA-3,Three\n',
         rows=4, written=3, bad={3: "closed by a quote followed by text"}),
    Case("unclosed_quote_wrong_width", b'sku,name\nB-1,"Broken\nA-2,Two",x\nA-3,Three\n',
         rows=3, written=1, bad={2: "leaves its record with 3 fields", 3: "expected 2 fields, found 3"}),
    Case("unclosed_quote_on_the_last_line", b'sku,name\nA-1,One\nA-2,Two\nB-1,"Broken',
         rows=3, written=2, bad={4: "unparseable CSV record"}),
    Case("unclosed_quote_runs_over_max_record_lines",
         b"sku,name\n" + b'B-1,"Runaway\n' + _rows(1500) ,
         rows=1501, written=1500, bad={2: "runs over more than 1000 lines"}),
    Case("unclosed_quote_in_the_header", b'sku,"name\nA-1,One\n', bad_file="the header row cannot be read"),
    Case("quote_then_text", b'sku,name\nA-1,"One"two\nA-2,Two\n', rows=2, written=1, bad={2: "unparseable CSV"}),
    Case("legit_multi_line_field", b'sku,name\nA-1,"One\nstill one"\nA-2,Two\n', rows=2, written=2),
    Case("extra_and_missing_fields", b"sku,name\nA-1,One,extra\nA-2\nA-3,Three\n", rows=3, written=1,
         bad={2: "expected 2 fields, found 3", 3: "expected 2 fields, found 1"}),
    Case("bom", b"\xef\xbb\xbf" + GOOD, rows=3, written=3),
    Case("crlf", GOOD.replace(b"\n", b"\r\n"), rows=3, written=3),
    Case("bare_cr", GOOD.replace(b"\n", b"\r"), rows=3, written=3),
    Case("mixed_line_endings", b"sku,name\r\nA-1,One\rA-2,Two\nA-3,Three\r\n", rows=3, written=3),
    Case("blank_and_whitespace_lines", b"sku,name\n\nA-1,One\n   \n\r\nA-2,Two\n", rows=2, written=2),
    Case("empty_fields_row", b"sku,name\n,\nA-1,One\n", rows=2, written=1, bad={2: "missing id"}),
    Case("nul_early", b"sku,name\nA-1,On\x00e\n" + _rows(2, 2), rows=3, written=2, bad={2: "NUL"}),
    Case("nul_late", b"sku,name\n" + _rows(400) + b"B-1,Bad\x00row\n", rows=401, written=400, bad={402: "NUL"}),
    # Issue 15: the unmapped column is an attribute now; its NUL is kept escaped and counted.
    Case("nul_in_an_unmapped_column", b"sku,name,note\nA-1,One,x\x00y\n", rows=1, written=1,
         notes={"attribute values escaped": ["x\\\\x00y"]}),
    Case("invalid_utf8", b"sku,name\nA-1,Caf\xe9\nA-2,Two\n", rows=2, written=1, bad={2: "invalid UTF-8 byte 0xe9"}),
    Case("latin1_file", "sku,name\nA-1,Crème brûlée\nA-2,Plain\nA-3,Jalapeño\n".encode("latin-1"), rows=3,
         written=1, bad={2: "invalid UTF-8", 4: "invalid UTF-8"}),
    Case("utf16_with_bom", "sku,name\nA-1,One\n".encode("utf-16"), bad_file="UTF-16"),
    Case("utf16_without_bom", "sku,name\nA-1,One\n".encode("utf-16-le"), bad_file="UTF-16"),
    Case("very_long_title", b"sku,name\nA-1," + b"t" * 5000 + b"\nA-2,Two\n", rows=2, written=1,
         bad={2: "title too long"}),
    Case("very_long_description", b"sku,name,desc\nA-1,One," + b"d" * 300_000 + b"\nA-2,Two,short\n",
         mapping={**SKU_NAME, "description": ("desc",)}, rows=2, written=1, bad={2: "description too long"}),
    Case("very_long_brand_and_category", b"sku,name,brand,cat\nA-1,One," + b"b" * 200_000 + b",x\nA-2,Two,ok,"
         + b"c" * 200_000 + b"\nA-3,Three,ok,Home > Kitchen\n",
         mapping={**SKU_NAME, "brand": "brand", "category": "cat"}, rows=3, written=1,
         bad={2: "brand too long", 3: "category too long"}),
    Case("header_only", b"sku,name\n", rows=0, written=0),
    Case("duplicate_headers", b"sku,name,sku\nA-1,One,x\n", bad_file="appears twice in the header"),
    Case("missing_mapped_column", b"sku,title\nA-1,One\n", bad_file="mapping names column 'name' not in the file"),
    Case("empty_file", b"", bad_file="empty file, no header row"),
    Case("only_blank_lines", b"\n\n\r\n", bad_file="empty file, no header row"),
    Case("binary_garbage", bytes(range(256)) * 20, bad_file="binary"),
    Case("gzip", gzip.compress(GOOD), bad_file="gzip"),
    Case("parquet_named_csv", b"PAR1" + b"\x00" * 40, bad_file="is a Parquet file"),
    Case("fifo", _fifo, bad_file="is a FIFO"),
    Case("directory", _directory, bad_file="is a directory"),
    Case("symlink_to_a_good_file", _symlink_to_good, rows=3, written=3),
    Case("tsv_with_quotes_and_commas", b'sku\tname\nA-1\t"One, with comma"\nA-2\tTwo "inch"\nA-3\t"x"y\n',
         suffix=".tsv", rows=3, written=2, bad={4: "unparseable CSV"}),
    Case("duplicate_ids", b"sku,name\nA-1,One\nA-1,One again\nA-2,Two\n", rows=3, written=2, bad={3: "duplicate id"}),
    # -- hostile ids --------------------------------------------------------------------------------
    Case("path_like_and_unicode_ids", "sku,name\n../../etc/passwd,Path id\n/abs/x,Absolute id\n"
         "🙂-1,Emoji id\nעברית,RTL id\n".encode(), rows=4, written=4),
    Case("control_characters_in_ids", b"sku,name\n\"A\t1\",Tab\n\x1b[31m,Escape\nA-3,Fine\n", rows=3, written=1,
         bad={2: "control characters", 3: "control characters"}),
    Case("very_long_id", b"sku,name\n" + b"i" * 600 + b",Long id\nA-2,Two\n", rows=2, written=1,
         bad={2: "id too long"}),
    Case("blank_ids", b'sku,name\n,No id\n"   ",Spaces\nA-3,Fine\n', rows=3, written=1,
         bad={2: "missing id", 3: "missing id"}),
    Case("json_number_ids", _jsonl({"sku": 2 ** 64 + 1, "name": "Huge int"}, {"sku": 1.5, "name": "Float id"},
                                   {"sku": 12.0, "name": "Integral float"}, b'{"sku": 1e300, "name": "Huge float"}',
                                   b'{"sku": 9007199254740993.0, "name": "Rounded float"}',
                                   {"sku": True, "name": "Boolean id"}, {"sku": None, "name": "Null id"},
                                   {"sku": [1], "name": "List id"}),
         suffix=".jsonl", rows=8, written=3,
         bad={4: "exact id", 5: "exact id", 6: "id", 7: "missing id", 8: "id: expected text"}),
    # -- prices -------------------------------------------------------------------------------------
    Case("prices_of_every_form", "sku,name,price\n"
         "P-1,Dollar,\"$1,299.00\"\nP-2,Euro,\"1.299,00 €\"\nP-3,Rupee,\"₹ 1,29,999\"\nP-4,Blank,\n"
         "P-5,NaN,NaN\nP-6,Spaces, 7 \nP-7,Decimal comma,\"12,50\"\nP-8,Dots,1.2.3\nP-9,Commas,\"1,2,3,4\"\n"
         "P-10,Words,abc\nP-11,Negative,-5\nP-12,Infinite,inf\nP-13,Overflow,1e400\nP-14,Underscore,1_000\n"
         "P-15,Hex,0x10\nP-16,Range,12 to 20\nP-17,Currency only,EUR\n".encode(),
         # Issue 15: an unreadable price is no reason to drop a product: each is kept without a price,
         # its raw text an attribute, and counted (line -> a piece of the note).
         mapping=dict(WITH_PRICE), rows=17, written=17,
         notes={"prices unreadable": ["unparseable price '1.2.3'", "unparseable price '1,2,3,4'", "unparseable",
                                      "negative", "not finite", "not finite", "unparseable", "unparseable",
                                      "unparseable", "unparseable"]}),
    Case("json_prices", _jsonl({"sku": "P-1", "name": "Int", "price": 10 ** 400}, {"sku": "P-2", "name": "Bool", "price": True},
                               {"sku": "P-3", "name": "List", "price": [1]}, {"sku": "P-4", "name": "Fine", "price": 9.5},
                               b'{"sku": "P-5", "name": "NaN", "price": NaN}',
                               b'{"sku": "P-6", "name": "Infinity", "price": Infinity}'),
         suffix=".jsonl", mapping=dict(WITH_PRICE), rows=6, written=6,
         notes={"prices unreadable": ["out of range", "boolean", "number or text", "not finite"]}),
    # -- images -------------------------------------------------------------------------------------
    # Trusted (CLI) ingests follow links and absolute paths; uploads (images_inside_dir) do not.
    Case("images_of_every_kind", _images, mapping=dict(WITH_IMAGE), rows=11, written=11, images_missing=7),
    Case("images_confined_to_their_folder", _images, mapping={**WITH_IMAGE, "images_inside_dir": True},
         rows=11, written=11, images_missing=10),
    Case("nul_in_an_image_value", b"sku,name,img\nA-1,One,a\x00.png\nA-2,Two,\n", mapping={**WITH_IMAGE, "image_dir": None},
         rows=2, written=1, bad={2: "image: contains a NUL"}, images_missing=1),
    # -- JSONL --------------------------------------------------------------------------------------
    Case("jsonl_bad_lines", _jsonl({"sku": "J-1", "name": "One"}, b'{"sku": "J-2", "name": ', b"not json at all",
                                   b'{"sku": "J-4", "name": "Four"} trailing', {"sku": "J-5", "name": "Five"}),
         suffix=".jsonl", rows=5, written=2, bad={2: "invalid JSON", 3: "invalid JSON", 4: "invalid JSON"}),
    Case("jsonl_non_object_lines", _jsonl([1, 2], 3, "text", None, {"sku": "J-5", "name": "Five"}),
         suffix=".jsonl", rows=5, written=1, bad={1: "got list", 2: "got int", 3: "got str", 4: "got NoneType"}),
    Case("jsonl_nested_values", _jsonl({"sku": "J-1", "name": {"en": "One"}}, {"sku": {"a": 1}, "name": "Two"},
                                       {"sku": "J-3", "name": "Three", "cat": ["Home", "Kitchen"]},
                                       {"sku": "J-4", "name": "Four", "cat": {"x": 1}}),
         suffix=".jsonl", mapping={**SKU_NAME, "category": "cat"}, rows=4, written=1,
         bad={1: "title: expected text", 2: "id: expected text", 4: "category: expected text"}),
    Case("jsonl_late_key", _jsonl(*[{"sku": f"J-{i}", "name": f"Item {i}"} for i in range(150)],
                                  {"sku": "J-150", "name": "Late", "brand": "Latecomer"}),
         suffix=".jsonl", mapping={**SKU_NAME, "brand": "brand"}, rows=151, written=151),
    Case("jsonl_array_file", b'[\n{"sku": "J-1", "name": "One"}\n]\n', suffix=".jsonl", bad_file="a JSON array"),
    Case("jsonl_deep_nesting", b'{"sku": "J-1", "name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
         + _jsonl({"sku": "J-2", "name": "Two"}), suffix=".jsonl", rows=2, written=1, bad={1: "nested too deeply"}),
    Case("jsonl_invalid_utf8_and_bare_cr", b'{"sku": "J-1", "name": "Caf\xe9"}\r{"sku": "J-2", "name": "Two"}\r',
         suffix=".jsonl", rows=2, written=1, bad={1: "invalid UTF-8"}),
    Case("jsonl_duplicate_keys", b'{"sku": "J-1", "name": "First", "name": "Second"}\n', suffix=".jsonl",
         rows=1, written=1),
    # -- Parquet ------------------------------------------------------------------------------------
    Case("parquet_wrong_types", _parquet(pa.table({"sku": ["a", "b", "c"], "name": pa.array([1, 2, 3])})),
         rows=3, written=0, bad={1: "title: expected text", 2: "title: expected text", 3: "title: expected text"}),
    Case("parquet_nulls", _parquet(pa.table({"sku": ["a", None, "c"], "name": ["A", "B", None]})),
         rows=3, written=1, bad={2: "missing id", 3: "missing title"}),
    Case("parquet_nested_columns", _parquet(pa.table({
        "sku": ["a", "b"], "name": pa.array([{"x": 1}, {"x": 2}]), "cat": pa.array([["Home", "Kitchen"], ["Toys"]])})),
         mapping={**SKU_NAME, "category": "cat"}, rows=2, written=0, bad={1: "title", 2: "title"}),
    Case("parquet_list_category", _parquet(pa.table({
        "sku": ["a", "b"], "name": ["A", "B"], "cat": pa.array([["Home", "Kitchen"], None])})),
         mapping={**SKU_NAME, "category": "cat"}, rows=2, written=2),
    Case("parquet_values_out_of_range", _parquet(pa.table({
        "sku": ["a", "b", "c"], "name": ["A", "B", "C"], "when": pa.array([0, 2 ** 31 - 1, 1], type=pa.date32())})),
         mapping={**SKU_NAME, "description": ("when",)}, rows=3, written=0,
         bad={1: "expected text, got date", 2: "value out of range", 3: "expected text, got date"}),
    Case("parquet_invalid_utf8_binary_title", _parquet(pa.table({
        "sku": ["a", "b"], "name": pa.array([b"fine", b"bad \xff byte"], type=pa.binary())})),
         rows=2, written=1, bad={2: "title: invalid UTF-8"}),
    Case("parquet_big_integer_ids", _parquet(pa.table({
        "sku": pa.array([2 ** 64 - 1, 9007199254740993], type=pa.uint64()), "name": ["Max", "Odd"]})),
         rows=2, written=2),
    Case("parquet_float_ids", _parquet(pa.table({"sku": pa.array([1.0, 9007199254740993.0, float("nan")]),
                                                 "name": ["One", "Rounded", "NaN"]})),
         rows=3, written=1, bad={2: "exact id", 3: "missing id"}),
    Case("parquet_corrupt", _corrupt_parquet, bad_file="Parquet"),
    Case("parquet_garbage", os.urandom(3000), suffix=".parquet", bad_file="not a readable Parquet file"),
    # -- interactions -------------------------------------------------------------------------------
    Case("interactions_overflow_and_unknown", _jsonl(
        {"u": "a", "i": "I-1", "t": 1577836800, "v": 1}, {"u": "b", "i": "I-2", "t": 99999999999999999999},
        b'{"u": "c", "i": "I-2", "t": 1e300}', {"u": "d", "i": "I-2", "v": 10 ** 400},
        {"u": "e", "i": "I-9"}, {"u": None, "i": "I-1"}, {"u": 9007199254740993, "i": "I-3"},
        {"u": "f", "i": "I-1", "t": "yesterday"}),
         suffix=".jsonl", interactions=True, mapping={"user": "u", "item": "i", "timestamp": "t", "value": "v"},
         rows=8, written=2,
         bad={2: "timestamp out of range", 3: "timestamp", 4: "value", 5: "unknown product", 6: "missing user",
              8: "cannot read timestamp"}),
    Case("interactions_csv_broken_quote", b'u,i,t\na,I-1,1\nb,"I-2,2\nc,I-3,3\n', interactions=True,
         mapping={"user": "u", "item": "i", "timestamp": "t"}, rows=3, written=2, bad={3: "unclosed quote"}),
]
