import json
from pathlib import Path

import pytest

from shopgraph.errors import ConfigError
from shopgraph.ingest.mapping import ColumnMapping, load_mapping, mapping_from_flags

EXAMPLE = '''
platform = "shop_a"
id = "sku"
title = "name"
description = ["desc", "features"]
price = "price"
default_currency = "USD"
brand = "brand"
category = "category"
category_separator = ">"
image = "image_file"
image_dir = "images"
'''


def _write(tmp_path, text, name="map.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_toml_example(tmp_path):
    mapping = load_mapping(_write(tmp_path, EXAMPLE))
    assert mapping.platform == "shop_a"
    assert (mapping.id, mapping.title, mapping.description) == ("sku", "name", ("desc", "features"))
    assert (mapping.price, mapping.currency, mapping.default_currency) == ("price", None, "USD")
    assert (mapping.brand, mapping.category, mapping.category_separator) == ("brand", "category", ">")
    assert mapping.columns() == {"sku", "name", "desc", "features", "price", "brand", "category", "image_file"}
    # A relative image_dir is relative to the mapping file.
    assert Path(mapping.image_dir) == (tmp_path / "images").resolve()
    assert mapping.image_base(tmp_path / "elsewhere" / "data.csv") == (tmp_path / "images").resolve()
    assert mapping.format is None and mapping.category_max_depth == 4


def test_load_json(tmp_path):
    path = _write(tmp_path, '{"platform": "p", "id": "i", "title": "t", "description": "d", '
                            '"format": "jsonl", "category_max_depth": 0}', "m.json")
    mapping = load_mapping(path)
    assert mapping.description == ("d",) and mapping.format == "jsonl"
    assert mapping.category_max_depth is None       # 0 in a file means "no cap"
    assert mapping.columns() == {"i", "t", "d"}
    assert mapping.image_base(tmp_path / "x.csv") is None     # no image column


@pytest.mark.parametrize("text, message", [
    (EXAMPLE + 'colour = "c"\n', "unknown key 'colour'"),
    ('platform = "p"\ntitle = "t"\n', "missing required key 'id'"),
    ('platform = "p"\nid = "i"\ntitle = 3\n', "'title' must be a non-empty string"),
    ('platform = "p"\nid = "i"\ntitle = "t"\nprice = ["a"]\n', "'price' must be a string"),
    ('platform = "p:q"\nid = "i"\ntitle = "t"\n', "platform 'p:q' contains ':'"),
    ('platform = "p"\nid = "i"\ntitle = "t"\nformat = "xml"\n', "'format' must be one of"),
    ('platform = "p"\nid = "i"\ntitle = "t"\ncategory_max_depth = -1\n', "category_max_depth"),
    ('platform = "p"\nid = "i"\ntitle = \n', "not valid TOML"),
])
def test_bad_mapping_files_name_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(ConfigError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")


def test_from_flags(tmp_path):
    mapping = mapping_from_flags("shop_b", "id", "title", description="desc, notes", price="cost",
                                 brand=None, image="img", image_dir="pics", category_max_depth="none")
    assert mapping.description == ("desc", "notes")
    assert mapping.brand is None and mapping.price == "cost"
    assert mapping.category_max_depth is None
    # From flags, a relative image_dir is relative to the data file's directory.
    assert mapping.image_base(tmp_path / "data.csv") == tmp_path.resolve() / "pics"
    assert mapping_from_flags("s", "id", "t", image="img").image_base(tmp_path / "d.csv") == tmp_path.resolve()


def test_from_flags_rejects_unknown_option():
    with pytest.raises(ConfigError, match="unknown mapping option 'colour'"):
        mapping_from_flags("s", "id", "t", colour="c")


def test_blank_optional_column_means_unmapped():
    mapping = ColumnMapping(platform="p", id="i", title="t", brand="", price="  ")
    assert mapping.brand is None and mapping.price is None
    assert mapping.columns() == {"i", "t"}


@pytest.mark.parametrize("platform, problem", [
    ("../../x", "contains '/'"), ("/some/dir/x", "contains '/'"), ("..", "starts with '.'"),
    ("a\x00b", "contains '\\x00'"), ("a\nb", "contains '\\n'"), ("a b", "contains ' '"),
    ("a\\b", "contains '\\\\'"), ("-rf", "starts with '-'"), ("", "non-empty"), ("p" * 65, "65 characters"),
])
def test_platform_names_that_could_reach_a_path_are_refused(tmp_path, platform, problem):
    """Finding 3 of issue 13: a platform named a path made files be written anywhere."""
    with pytest.raises(ConfigError, match=problem.replace("\\", "\\\\").replace("(", r"\(")) as info:
        ColumnMapping(platform=platform, id="i", title="t")
    assert "\n" not in str(info.value)
    as_file = tmp_path / "m.json"
    as_file.write_text(json.dumps({"platform": platform, "id": "i", "title": "t"}))
    with pytest.raises(ConfigError):
        load_mapping(as_file)


@pytest.mark.parametrize("platform", ["shop_a", "Shop-B.eu", "淘宝", "a", "p" * 64, "2nd_shop"])
def test_valid_platform_names(platform):
    assert ColumnMapping(platform=platform, id="i", title="t").platform == platform
