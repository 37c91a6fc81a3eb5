import json
import math
import os

from decimal import Decimal

import pytest

from shopgraph.config import IngestConfig
from shopgraph.errors import BadFileError
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.validate import _validate, parse_price, read_products, validate_product
from shopgraph.records import ProductRecord, QuarantinedRow

MAPPING = ColumnMapping(platform="shop", id="sku", title="name", description=("desc", "features"),
                        price="price", currency="cur", default_currency="USD", brand="brand",
                        category="cat", category_separator=">", image="img")
LIMITS = IngestConfig(max_title_chars=40, max_description_chars=50)


def _row(**changes):
    row = {"sku": " A-1 ", "name": "Phone\tX\x07 128GB", "desc": "Fast.", "features": "5G\x01",
           "price": "$1,299.00", "cur": "", "brand": "  Acme   Inc ", "cat": "Electronics > Phones",
           "img": ""}
    row.update(changes)
    return row


def _check(row, limits=LIMITS, image_base=None, source="/data/shop.csv"):
    return validate_product(row, MAPPING, limits, source, 7, image_base)


def test_good_row(tmp_path):
    record = _check(_row())
    assert record == ProductRecord(platform="shop", source_id="A-1", title="Phone X 128GB",
                                   description="Fast.\n5G", price=1299.0, currency="USD", brand="Acme Inc",
                                   category_path=("Electronics", "Phones"), image_path=None,
                                   source_file="/data/shop.csv", source_line=7)
    assert record.id == "shop:A-1"


@pytest.mark.parametrize("value, expected", [
    ("$1,299.00", 1299.0), ("1299", 1299.0), ("1.299,00 €", 1299.0), ("Rs. 899", 899.0),
    ("₹ 1,29,999", 129999.0), ("1 299,50", 1299.5), ("12,50", 12.5), ("1,299", 1299.0),
    ("1.299", 1.299), ("EUR 12", 12.0), ("12 USD", 12.0), (".99", 0.99), (42, 42.0), (2.5, 2.5),
    ("", None), ("  ", None), (None, None), (math.nan, None), ("NaN", None), ("n/a", None),
])
def test_parse_price(value, expected):
    assert parse_price(value) == expected


@pytest.mark.parametrize("value", ["12 to 20", "abc", "approx 12", "1,2,3.4.5", True, [1]])
def test_parse_price_rejects(value):
    with pytest.raises(ValueError):
        parse_price(value)


@pytest.mark.parametrize("price, reason", [
    ("-5", "negative (-5.0)"), ("-$5.00", "negative (-5.0)"), (math.inf, "price is not finite (inf)"),
    ("inf", "price is not finite (inf)"), ("12 to 20", "unparseable price '12 to 20'"), ("POA", "unparseable"),
    ("589.99 Lei; or less", "unparseable"), ("n0pe", "unparseable"), (True, "boolean"),
])
def test_unreadable_price_keeps_the_product_with_the_raw_text(price, reason):
    """Issue 15: a row whose price could not be read was quarantined whole (title, id and its labelled
    pairs lost). Now the product stays, without a price; the raw text is an attribute of the price
    column and the note is counted."""
    record = _check(_row(price=price))
    assert isinstance(record, ProductRecord), record
    assert (record.price, record.currency) == (None, None)
    assert [(a.key, a.value) for a in record.attributes] == [("price", str(price).lower() if price is True else
                                                              (str(price) if not isinstance(price, float) else "inf"))]
    (kind, detail), = record.notes
    assert kind == "prices unreadable" and reason in detail


@pytest.mark.parametrize("price, default, expected", [
    ("1.099,00 €", "USD", (1099.0, "EUR")), ("$399.99", None, (399.99, "USD")), ("$399.99", "CAD", (399.99, "CAD")),
    ("589.99 Lei;", "USD", (589.99, "RON")), ("378,00 лв", None, (378.0, "BGN")), ("12", "INR", (12.0, "INR")),
    ("£5", "EUR", (5.0, "GBP")), ("¥1200", "CNY", (1200.0, "CNY")), ("¥1200", None, (1200.0, "JPY")),
])
def test_the_values_currency_wins_over_the_default(price, default, expected):
    """Issue 15: "1.099,00 €" was stored as 1099 USD (the default currency) and "$399.99" with none."""
    mapping = ColumnMapping(platform="shop", id="sku", title="name", price="price", default_currency=default)
    record = validate_product(_row(price=price), mapping, LIMITS, "/data/shop.csv", 7, None)
    assert (record.price, record.currency) == expected


@pytest.mark.parametrize("changes, reason", [
    ({"name": ""}, "missing title (column 'name')"),
    ({"name": " \x07\t "}, "missing title (column 'name')"),
    ({"name": None}, "missing title (column 'name')"),
    ({"name": "x" * 41}, "title too long (41 characters > max_title_chars 40)"),
    ({"name": 1984}, "title: expected text, got int"),
    ({"desc": "d" * 48}, "description too long (51 characters > max_description_chars 50)"),
    ({"sku": "  "}, "missing id (column 'sku')"),
    ({"sku": "a\nb"}, "id contains control characters"),
    ({"desc": "nul\x00here"}, "description column 'desc': contains a NUL character"),
    ({"name": "bad \ud800 surrogate"}, "title: invalid Unicode (lone surrogate)"),
    ({"name": b"caf\xe9"}, "title: invalid UTF-8 bytes"),
    ({"brand": ["a"]}, "brand: expected text, got list"),
])
def test_quarantine_reasons(changes, reason):
    row = _row(**changes)
    result = _check(row)
    assert isinstance(result, QuarantinedRow)
    assert result.reason == reason
    assert (result.source_file, result.source_line) == ("/data/shop.csv", 7)
    json.dumps(result.row, allow_nan=False).encode("utf-8")    # the raw row is JSON-safe
    assert set(result.row) == set(row)


def test_missing_title_key():
    row = _row()
    del row["name"]
    assert _check(row).reason == "missing title (column 'name')"


def test_long_description_is_quarantined_not_truncated():
    result = _check(_row(desc="d" * 200))
    assert isinstance(result, QuarantinedRow) and result.row["desc"] == "d" * 200


def test_nan_price_is_kept_as_none_without_currency():
    record = _check(_row(price=math.nan))
    assert record.price is None and record.currency is None


def test_numbers_become_text_for_id_and_brand():
    assert _check(_row(sku=12)).source_id == "12"
    assert _check(_row(sku=12.0)).source_id == "12"
    assert _check(_row(brand=3)).brand == "3"


def test_currency_column_and_blank_brand_and_category():
    record = _check(_row(cur=" inr ", price="1299", brand="  ", cat=None))
    assert (record.currency, record.brand, record.category_path) == ("INR", None, ())
    # The value's own currency wins over the column's.
    assert _check(_row(cur="INR", price="€12")).currency == "EUR"
    assert _check(_row(cur="€", price="12")).currency == "EUR"
    assert _check(_row(cat=["Home", "Decor"])).category_path == ("Home", "Decor")


def test_images(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.jpg").write_bytes(b"jpg")
    base = tmp_path / "pics"
    assert _check(_row(img="a.jpg"), image_base=base).image_path == str((base / "a.jpg").resolve())
    assert _check(_row(img=str(base / "a.jpg"))).image_path == str((base / "a.jpg").resolve())
    # image_base None: relative to the source file's directory.
    assert _check(_row(img="pics/a.jpg"), source=str(tmp_path / "shop.csv")).image_path == str(base / "a.jpg")
    # Missing or blank: kept without an image, unless images are required.
    assert _check(_row(img="gone.jpg"), image_base=base).image_path is None
    assert _check(_row(img=""), image_base=base).image_path is None
    strict = IngestConfig(max_title_chars=40, max_description_chars=50, require_image=True)
    missing = _check(_row(img="gone.jpg"), limits=strict, image_base=base)
    assert missing.reason == f"image file not found: {base / 'gone.jpg'}"
    assert _check(_row(img=" "), limits=strict, image_base=base).reason == "no image (column 'img' is blank)"
    assert _check(_row(img="a.jpg"), limits=strict, image_base=base).image_path is not None


# -- read_products: whole files ---------------------------------------------------------------------

def _mapping(**kw):
    return ColumnMapping(platform="s", id="id", title="title", price="price", **kw)


def test_read_products_mixes_records_and_quarantine(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,title,price\n1,Good,9.5\n2,,1\n3,Neg,-1\n4,Bad\xffByte,1\n5,Too,many,fields\n"
                     b"6,Blank price,\n7,NaN price,NaN\n")
    results = list(read_products(path, _mapping()))
    kept = {r.source_id: r.price for r in results if isinstance(r, ProductRecord)}
    bad = {r.source_line: r.reason for r in results if isinstance(r, QuarantinedRow)}
    assert kept == {"1": 9.5, "3": None, "6": None, "7": None}     # a negative price is no price, kept
    assert bad == {3: "missing title (column 'title')",
                   5: "invalid UTF-8 byte 0xff on line 5", 6: "expected 3 fields, found 4"}


def test_read_products_jsonl_bad_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": 1, "title": "A", "price": 3}\n{"id": 2, "title": \n', encoding="utf-8")
    results = list(read_products(path, _mapping()))
    assert isinstance(results[0], ProductRecord) and results[0].source_id == "1"
    assert results[1].source_line == 2 and results[1].reason.startswith("invalid JSON")


def test_unknown_mapped_column_fails_before_any_row(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,name,price\n1,a,2\n", encoding="utf-8")
    with pytest.raises(BadFileError) as info:
        read_products(path, _mapping())
    assert str(info.value).startswith(f"{path}: mapping names column 'title' not in the file")


def test_wrong_format(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,title\n1,a\n", encoding="utf-8")
    with pytest.raises(BadFileError, match="not a readable Parquet file"):
        read_products(path, _mapping(format="parquet"))
    with pytest.raises(BadFileError, match="file not found"):
        read_products(tmp_path / "missing.csv", _mapping())


# -- issue 13 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1.2.3", "1,2,3,4", "1 2 3", "12,34,5", "1.2345.678", "1'2'3", "1,299 000",
                                   "1_000", "1.299.00", "1,2999.5"])
def test_separators_that_do_not_group_digits_are_unreadable(value):
    """Finding 11: "1.2.3" was read as 123 and "1,2,3,4" as 1234."""
    with pytest.raises(ValueError, match="unparseable price"):
        parse_price(value)


@pytest.mark.parametrize("value, expected", [
    ("1.299.000", 1299000.0), ("1,299,000.50", 1299000.5), ("1 299 000,5", 1299000.5), ("12,34,567", 1234567.0),
    ("1e3", 1000.0), ("+5", 5.0), (10 ** 30, 1e30),
])
def test_grouped_thousands_still_read(value, expected):
    assert parse_price(value) == expected


@pytest.mark.parametrize("value", [10 ** 400, "9" * 400 + "e9999"])
def test_out_of_range_prices_are_a_note_not_a_crash(value):
    """Finding 5's class: float(10**400) raises OverflowError, which ended the whole run. (Issue 15:
    the product is kept without a price.)"""
    result = _check(_row(price=value))
    assert isinstance(result, ProductRecord) and result.price is None
    assert result.notes[0][0] == "prices unreadable"


@pytest.mark.parametrize("changes, reason", [
    ({"brand": "b" * 41}, "brand too long (41 characters > max_brand_chars 40)"),
    ({"cat": "c" * 30 + " > " + "d" * 30}, "category too long (63 characters > max_category_chars 60)"),
    ({"sku": "s" * 21}, "id too long (21 characters > max_id_chars 20)"),
    ({"cur": "X" * 21, "price": "12"}, "currency too long"),
    ({"sku": 9007199254740993.0}, "is a floating-point number too large to be an exact id"),
    ({"sku": float("inf")}, "not a valid id"),
    ({"sku": 1e300}, "too large to be an exact id"),
])
def test_limits_for_brand_category_and_ids(changes, reason):
    """Finding 11: 200,000-character brands and categories were accepted."""
    limits = IngestConfig(max_title_chars=40, max_description_chars=50, max_brand_chars=40, max_category_chars=60,
                          max_id_chars=20)
    result = _check(_row(**changes), limits=limits)
    assert isinstance(result, QuarantinedRow) and reason in result.reason, result


def test_integer_ids_are_exact_text():
    """Finding 10: 9007199254740993 became ...992 through a float and named another product."""
    assert _check(_row(sku=9007199254740993)).source_id == "9007199254740993"
    assert _check(_row(sku=-(2 ** 70))).source_id == str(-(2 ** 70))
    assert _check(_row(sku=2.0 ** 53 - 1)).source_id == "9007199254740991"
    assert _check(_row(sku=Decimal("12345678901234567890.000"))).source_id == "12345678901234567890"


def test_image_digest_follows_the_bytes(tmp_path):
    """Finding 6: the content hash covered the image path only, so a replaced photo was never re-read."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"first")
    first = _check(_row(img="a.jpg"), image_base=tmp_path)
    photo.write_bytes(b"second")
    second = _check(_row(img="a.jpg"), image_base=tmp_path)
    assert first.image_path == second.image_path and first.image_digest != second.image_digest
    assert first.content_hash() != second.content_hash()
    no_image = _check(_row())
    assert no_image.image_digest is None


def test_an_image_that_is_not_a_file_is_a_missing_image(tmp_path):
    (tmp_path / "dir.jpg").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "big.jpg").write_bytes(b"x" * 2000)
    small = IngestConfig(max_title_chars=40, max_description_chars=50, max_image_bytes=1000)
    for name, problem in (("dir.jpg", "is a directory"), ("pipe.jpg", "is a FIFO"), ("big.jpg", "larger than 1,000")):
        record, found = _validate(_row(img=name), MAPPING, small, "/data/shop.csv", 7, tmp_path)
        assert isinstance(record, ProductRecord) and record.image_path is None and problem in found, found
