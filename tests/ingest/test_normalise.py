import pytest

from shopgraph.errors import BadArgumentError
from shopgraph.ingest.normalise import category_key, normalise_brand, parse_category_path

FLIPKART_TREE = ('["Home Furnishing >> Curtains & Accessories >> Curtains >> '
                 'Elegance Polyester Multicolor Abstract Eyelet Do..."]')


@pytest.mark.parametrize("raw, key", [
    ("Samsung Electronics Co., Ltd.", "samsung electronics"),
    ("SAMSUNG  ELECTRONICS", "samsung electronics"),
    ("Acme Pvt. Ltd.", "acme"),
    ("Acme Private Limited", "acme"),
    ("Siemens GmbH", "siemens"),
    ("Apple Inc.", "apple"),
    ("AT&T", "att"),
    ("L'Oréal Paris", "loreal paris"),
    ("Nestlé", "nestle"),
    ("Hewlett-Packard", "hewlett packard"),
    ("ＳＯＮＹ", "sony"),          # full-width letters (NFKC)
    ("Co", "co"),                  # a suffix word alone is kept, never emptied
    ("  Elegance ", "elegance"),
])
def test_normalise_brand(raw, key):
    assert normalise_brand(raw) == key


def test_normalise_brand_keeps_non_latin_marks():
    # Devanagari vowel signs are combining marks that carry meaning: they must survive.
    assert normalise_brand("पतंजलि") == "पतंजलि"
    assert normalise_brand("小米 Xiaomi") == "小米 xiaomi"


@pytest.mark.parametrize("raw", [None, "", "   ", "!!!", "..."])
def test_normalise_brand_blank_is_none(raw):
    assert normalise_brand(raw) is None


def test_flipkart_tree_drops_truncated_product_name():
    assert parse_category_path(FLIPKART_TREE) == ("Home Furnishing", "Curtains & Accessories", "Curtains")


def test_depth_is_capped_at_four_by_default():
    tree = '["Baby Care >> Infant Wear >> Baby Girls\' Clothes >> Innerwear & Sleepwear >> Night Suits >> x"]'
    assert parse_category_path(tree) == ("Baby Care", "Infant Wear", "Baby Girls' Clothes", "Innerwear & Sleepwear")
    assert len(parse_category_path(tree, max_depth=None)) == 6
    assert parse_category_path(tree, max_depth=2) == ("Baby Care", "Infant Wear")


def test_blank_levels_quotes_and_spaces():
    assert parse_category_path(" A >>  >> ' B  b ' >>") == ("A", "B b")
    assert parse_category_path("['A >> B']") == ("A", "B")     # not JSON: brackets and quotes stripped


def test_other_separators_and_lists():
    assert parse_category_path("Electronics > Phones", separator=">") == ("Electronics", "Phones")
    assert parse_category_path(["Fruit", " Apple "]) == ("Fruit", "Apple")
    assert parse_category_path(["A >> B", "C >> D"]) == ("A", "B")     # list of paths: the first
    assert parse_category_path(None) == ()
    assert parse_category_path("") == ()


def test_gt_inside_a_level_cannot_break_the_key():
    path = parse_category_path("Tools | 3 > 2 | Misc", separator="|")
    assert path == ("Tools", "3 / 2", "Misc")
    assert category_key(path).split(" > ") == list(path)


def test_category_key():
    assert category_key(("Home Furnishing", "Curtains")) == "Home Furnishing > Curtains"
    assert category_key(()) == ""


def test_bad_max_depth():
    with pytest.raises(BadArgumentError):
        parse_category_path("A >> B", max_depth=0)
