"""Issue 15's value readers, without a graph: GTIN check digits and identifier normalisation, prices
with their currency (the symbol table), attribute keys and numbers with units, category separator
detection, and brand merges."""

from __future__ import annotations

import pytest

from shopgraph.errors import ConfigError
from shopgraph.ingest.attributes import attribute_key, parse_value
from shopgraph.ingest.brands import BrandMerger, descriptor_stem, load_aliases
from shopgraph.ingest.columns import plan_columns
from shopgraph.ingest.identifiers import column_scheme, gtin, identifier
from shopgraph.ingest.mapping import mapping_from_dict
from shopgraph.ingest.normalise import normalise_brand
from shopgraph.ingest.prices import read_price


@pytest.mark.parametrize("raw, expected", [
    ("4006381333931", "04006381333931"),          # EAN-13
    ("012345678905", "00012345678905"),           # UPC-A
    ("0 12345 67890 5", "00012345678905"),        # printed with spaces
    ("9780306406157", "09780306406157"),          # ISBN-13
    ("96385074", "00000096385074"),               # GTIN-8
    ("10012345678902", "10012345678902"),         # GTIN-14
    ("4006381333932", None),                      # wrong check digit
    ("012345678900", None),
    ("12345", None), ("40063813339311", None), ("abc", None), ("", None),
])
def test_gtin_check_digits_and_one_form(raw, expected):
    assert gtin(raw) == expected


def test_identifier_keys_meet_across_spellings_and_skus_stay_in_their_shop():
    assert identifier("mpn", "WM-330 S/b", "shop_a").key == identifier("mpn", "wm330sb", "shop_b").key == "mpn:wm330sb"
    assert identifier("gtin", "4006381333931", "a").key == "gtin:04006381333931"
    assert identifier("gtin", "4006381333932", "a") is None       # invalid: kept as an attribute by the reader
    assert identifier("sku", "Ab-1", "shop_a").key != identifier("sku", "Ab-1", "shop_b").key


@pytest.mark.parametrize("column, scheme", [("Model No", "mpn"), ("model_no", "mpn"), ("ModelNo", "mpn"),
                                            ("EAN", "gtin"), ("upc", "gtin"), ("ISBN", "gtin"), ("SKU", "sku"),
                                            ("MPN", "mpn"), ("colour", None), ("title", None)])
def test_identifier_columns_by_name(column, scheme):
    assert column_scheme(column) == scheme


@pytest.mark.parametrize("raw, default, amount, currency", [
    ("1.099,00 €", None, 1099.0, "EUR"),      # decimal comma, symbol after
    ("1.099,00 €", "USD", 1099.0, "EUR"),     # the value's currency wins over the default
    ("$399.99", None, 399.99, "USD"),
    ("$399.99", "CAD", 399.99, "CAD"),        # "$" is the default currency when that is a dollar
    ("$399.99", "EUR", 399.99, "USD"),        # ... else USD
    ("589.99 Lei;", None, 589.99, "RON"),
    ("378,00 лв", None, 378.0, "BGN"),
    ("£12", None, 12.0, "GBP"),
    ("12 USD", None, 12.0, "USD"),
    ("EUR 1 299,50", None, 1299.5, "EUR"),
    ("Rs. 1,299", "INR", 1299.0, "INR"),
    ("19.99", "EUR", 19.99, None),            # none in the value (validate then uses default_currency)
])
def test_prices_keep_their_currency(raw, default, amount, currency):
    value = read_price(raw, default)
    assert (value.amount, value.currency) == (pytest.approx(amount), currency)


@pytest.mark.parametrize("raw", ["POA", "n0pe", "abc 12", "call for price", "1.2.3"])
def test_unreadable_prices_are_errors_not_numbers(raw):
    with pytest.raises(ValueError):
        read_price(raw)


def test_attribute_keys_and_numbers_with_units():
    assert attribute_key("Colour ") == attribute_key("color") == attribute_key("COLORS") == "color"
    assert attribute_key("Hard Drive-Capacity") == "hard_drive_capacity"
    tb, gb = parse_value("1 TB"), parse_value("500GB")
    assert (tb.number, tb.unit, gb.number, gb.unit) == (1.0, "TB", 500.0, "GB")
    assert tb.base_unit == gb.base_unit == "B" and tb.base_number == 2 * gb.base_number
    assert (parse_value("8.10 %").number, parse_value("8.10 %").unit) == (8.1, "%")
    assert (parse_value("6:30").number, parse_value("6:30").unit) == (390.0, "s")      # a duration
    assert parse_value("18-May-15").norm == "2015-05-18"
    assert parse_value("Red").number is None and parse_value("Red").norm == "red"


def _plan(values, separator=None):
    mapping = mapping_from_dict({"platform": "s", "id": "id", "title": "t", "category": "c",
                                 **({"category_separator": separator} if separator else {})})
    return plan_columns(["id", "t", "c"], [{"id": str(i), "t": "x", "c": v} for i, v in enumerate(values)], mapping)


@pytest.mark.parametrize("values, separator", [
    (["Electronics > Audio > Headphones", "Electronics > TV"], ">"),
    (["Home >> Kitchen", "Home >> Garden"], ">>"),
    (["Audio & Video / Headphones", "Audio & Video / TV"], "/"),
    (["Tools | Drills", "Tools | Saws"], "|"),
    (["Mode » Damen", "Mode » Herren"], "»"),
    (["Tools", "Garden"], None),                   # one level: nothing to detect
])
def test_category_separator_is_detected(values, separator):
    plan = _plan(values)
    assert plan.category_separator == separator and plan.separator_detected == (separator is not None)
    assert plan.warnings == []


def test_a_set_separator_that_never_splits_warns_when_another_would():
    plan = _plan(["Electronics > Audio > Headphones", "Electronics > TV"], separator="|")
    assert plan.category_separator == "|"
    assert any("'>'" in w for w in plan.warnings), plan.warnings


def test_brand_merges_legal_suffixes_descriptors_and_aliases(tmp_path):
    assert normalise_brand("SAMSUNG Electronics Co., Ltd.") == "samsung electronics"
    assert normalise_brand("Nordvik AB") == normalise_brand("NORDVIK") == "nordvik"
    assert descriptor_stem("samsung electronics") == "samsung" and descriptor_stem("samsung") is None
    merger = BrandMerger(["samsung"])
    assert merger.resolve("samsung electronics") == "samsung"
    assert BrandMerger([]).resolve("samsung electronics") == "samsung electronics"   # no stem known: no merge
    assert BrandMerger(["general"]).resolve("general electric") == "general electric"  # not a descriptor
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("variant,brand\nHP Inc.,Hewlett-Packard\n", encoding="utf-8")
    merger = BrandMerger([], load_aliases(aliases))
    assert merger.resolve("hp") == "hewlett packard" and merger.lines() == ["hp -> hewlett packard"]
    toml = tmp_path / "aliases.toml"
    toml.write_text('[aliases]\n"Proctor & Gamble" = "Procter & Gamble"\n', encoding="utf-8")
    assert BrandMerger([], load_aliases(toml)).resolve(normalise_brand("Proctor & Gamble")) == "procter gamble"
    bad = tmp_path / "bad.toml"
    bad.write_text("[aliases]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_aliases(bad)


def test_a_specification_table_written_as_text_gives_its_attributes():
    """A spec table exported as text, as JSON or in Ruby/PHP `=>` notation (Flipkart's
    product_specifications column), gives one attribute per entry, not one long raw value; a "=>"
    inside a value and a text that only looks bracketed are kept as written."""
    from shopgraph.ingest.attributes import attributes_of

    hashed = ('{"product_specification"=>[{"key"=>"Brand", "value"=>"Elegance"}, '
              '{"key"=>"Colour", "value"=>"Multi => color"}, {"key"=>"Capacity", "value"=>"256 GB"}, '
              '{"key"=>"Weight", "value"=>nil}]}')
    as_json = hashed.replace("=>", ": ").replace("Multi :  color", "Multi => color").replace("nil", "null")
    for text in (hashed, as_json):
        read = {a.key: a for a in attributes_of("product_specifications", text)}
        assert set(read) == {"brand", "color", "capacity"}
        assert read["color"].value == "Multi => color"
        assert (read["capacity"].parsed.number, read["capacity"].parsed.unit) == (256.0, "GB")
    assert [a.value for a in attributes_of("sizes", '["S", "M"]')] == ["S", "M"]
    for text in ('{"a"=>', "[New] shirt", "{braces} in a sentence"):
        assert [a.value for a in attributes_of("note", text)] == [text]


def test_a_cell_nested_too_deep_is_kept_as_text_not_a_traceback():
    """A hostile cell of thousands of "[" (or a structure deeper than a spec table needs) is one raw
    attribute value; json.loads raised RecursionError through the ingest before."""
    from shopgraph.ingest.attributes import attributes_of
    from shopgraph.ingest.normalise import MAX_STRUCTURE_DEPTH, json_list, structured_text

    for deep in ("[" * 5000 + "]" * 5000, "[" * (MAX_STRUCTURE_DEPTH + 1) + "]" * (MAX_STRUCTURE_DEPTH + 1)):
        assert structured_text(deep) is None
        assert [a.value for a in attributes_of("spec", deep)] == [deep]
    assert json_list("[" * 5000 + "]" * 5000) is None
    assert structured_text('{"a": [{"key": "Colour", "value": "red"}]}') is not None
