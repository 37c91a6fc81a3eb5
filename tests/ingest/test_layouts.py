import os
from collections import Counter
from pathlib import Path

import pytest

from shopgraph.errors import BadArgumentError, BadFileError
from shopgraph.ingest.interactions import iter_interaction_source
from shopgraph.ingest.layouts import (deepmatcher_platforms, deepmatcher_title, detect_layout, grocery_brand,
                                      load_layout, product_items, tables_share_records)
from shopgraph.names import platform_from_text
from shopgraph.records import InteractionRecord, ProductRecord, QuarantinedRow


def _data_dir() -> Path:
    env = os.environ.get("SHOPGRAPH_DATA")
    return Path(env) if env else (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="module")
def data():
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"real data sets not found at {path} (set SHOPGRAPH_DATA)")
    return path


def _split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, ProductRecord)], [i for i in items if isinstance(i, QuarantinedRow)])


# -- real data ---------------------------------------------------------------------------------------

@pytest.mark.data
def test_abt_buy(data):
    layout = load_layout(data / "em" / "abt_buy")
    assert layout.name == "deepmatcher"
    assert [s.mapping.platform for s in layout.products] == ["abt", "buy"]
    counts = [len(_split(product_items(s))[0]) for s in layout.products]
    assert counts == [1081, 1092]
    abt = layout.products[0].mapping
    assert (abt.title, abt.description, abt.price, abt.default_currency) == ("name", ("description",), "price", "USD")
    pairs = layout.labelled_pairs
    assert {k: (len(v), sum(p[2] for p in v)) for k, v in pairs.items()} == {
        "train": (5743, 616), "valid": (1916, 206), "test": (1916, 206), "peeters_sampled_test": (1206, 206)}
    assert pairs["train"][0] == ("abt:730", "buy:775", 0)
    assert list(pairs)[:3] == ["train", "valid", "test"]


@pytest.mark.data
def test_amazon_google_and_wdc(data):
    layout = load_layout(data / "em" / "amazon_google")
    assert [s.mapping.platform for s in layout.products] == ["amazon", "google"]
    assert layout.products[0].mapping.brand == "manufacturer"
    records, bad = _split(product_items(layout.products[1]))
    assert (len(records), len(bad)) == (3226, 0)
    assert records[0].brand == "intuit" and records[0].price == 38.99
    wdc = load_layout(data / "em" / "wdc_computers")
    assert wdc.extra["platforms"] == ("wdc_computers_a", "wdc_computers_b")
    assert {k: len(v) for k, v in wdc.labelled_pairs.items()} == {"train": 2231, "valid": 536, "test": 1098}


@pytest.mark.data
def test_platforms_come_from_the_data_not_the_dataset_name(data, tmp_path):
    """A renamed copy of the web-offer corpus (two tables drawn from one pool of many shops' offers)
    still gets "<dir>_a" / "<dir>_b", while a renamed two-shop benchmark gets its two parts."""
    for source, name, expected in (("wdc_computers", "offers_pool", ("offers_pool_a", "offers_pool_b")),
                                   ("abt_buy", "shopone_shoptwo", ("shopone", "shoptwo"))):
        copy = tmp_path / name
        copy.mkdir()
        for file in ("tableA.csv", "tableB.csv", "train.csv"):
            (copy / file).symlink_to(data / "em" / source / file)
        assert load_layout(copy).extra["platforms"] == expected


@pytest.mark.data
def test_flipkart(data):
    layout = load_layout(data / "multimodal" / "flipkart_1050")
    assert layout.name == "flipkart"
    records, bad = _split(product_items(layout.products[0]))
    assert (len(records), len(bad)) == (1050, 0)
    no_image = sorted(r.source_id for r in records if r.image_path is None)
    assert no_image == ["22ac36ba254a68d7dd6173f099771147", "994f1d8ade16b9fddce3c127eb7f38ed",
                        "c4ac93e194281d6d1450ffdaa52f5f99"]
    first = records[0]
    assert first.title == "Elegance Polyester Multicolor Abstract Eyelet Door Curtain"
    assert (first.price, first.currency, first.brand) == (899.0, "INR", "Elegance")
    assert first.category_path == ("Home Furnishing", "Curtains & Accessories", "Curtains")
    assert Path(first.image_path).name == "55b85ea15a1536d46b7190ad6fff8ce7.jpg"
    assert sum(r.brand is not None for r in records) == 712
    assert max(len(r.category_path) for r in records) == 4
    assert len({r.category_path[0] for r in records}) == 7


@pytest.mark.data
def test_grocery(data):
    layout = load_layout(data / "multimodal" / "grocery_store")
    assert layout.name == "grocery"
    records, bad = _split(product_items(layout.products[0]))
    assert (len(records), len(bad)) == (81, 0)
    by_id = {r.source_id: r for r in records}
    assert by_id["0"].title == "Golden Delicious" and by_id["0"].category_path == ("Fruit", "Apple")
    assert by_id["0"].brand is None
    assert by_id["30"].brand == "God-Morgon" and by_id["30"].title == "God Morgon Apple Juice"
    assert by_id["30"].category_path == ("Packages", "Juice")
    assert sum(r.brand is not None for r in records) == 31
    assert all(r.image_path and Path(r.image_path).is_file() for r in records)
    # Every column of products.csv is a field, an attribute, or named as ignored (its value is in a
    # derived field): before, coarse_class_id, iconic_exists and description_file vanished unnamed.
    assert {(a.key, a.value) for a in by_id["0"].attributes} >= {("coarse_class_id", "0"), ("iconic_exists", "True")}
    stream = layout.products[0].records(None)
    header = (data / "multimodal" / "grocery_store" / "products.csv").read_text().splitlines()[0].split(",")
    assert set(stream.plan.roles) == set(header)
    assert stream.plan.roles["class_name"] == "field:title" and stream.plan.roles["top_category"] == "field:category"
    assert "ignored" not in stream.plan.roles.values()
    photos = layout.extra["photos"]
    assert Counter(p[0] for p in photos) == {"train": 2640, "val": 296, "test": 2485}
    assert photos[0][2:] == (0, 0) and Path(photos[0][1]).is_absolute() and Path(photos[0][1]).is_file()


@pytest.mark.data
def test_s3rec(data):
    directory = data / "interactions" / "amazon_s3rec"
    layout = load_layout(directory)
    assert layout.extra["datasets"] == ["Beauty", "Sports_and_Outdoors", "Toys_and_Games"]
    assert layout.extra["dataset"] == "Beauty" and layout.extra["item_attributes"].name == "Beauty_item2attributes.json"
    records = list(product_items(layout.products[0]))
    assert len(records) == 12101 and records[0].title == "Beauty item 1" and records[0].id == "beauty:1"
    # item2attributes: 45,037 item-attribute links (README.txt), each an attribute of its item
    assert sum(len(r.attributes) for r in records) == 45037
    assert {a.key for r in records for a in r.attributes} == {"attribute_id"}
    [(path, namespace)] = layout.interactions
    kinds = Counter(type(r).__name__ for r in iter_interaction_source(path, namespace))
    assert kinds == {"InteractionRecord": 198502}
    toys = load_layout(directory, "s3rec:toys_and_games")
    assert toys.products[0].mapping.platform == "toys_and_games"
    expected = "missing Garden.txt .available: Beauty, Sports_and_Outdoors, Toys_and_Games"
    with pytest.raises(BadFileError, match=expected):
        load_layout(directory, "s3rec:Garden")


@pytest.mark.data
def test_detect_on_real_dirs(data):
    assert detect_layout(data / "em" / "abt_buy") == "deepmatcher"
    assert detect_layout(data / "multimodal" / "flipkart_1050") == "flipkart"
    assert detect_layout(data / "multimodal" / "grocery_store") == "grocery"
    assert detect_layout(data / "interactions" / "amazon_s3rec") == "s3rec"
    assert detect_layout(data / "zh" / "ecommerce_titles") == "titles"


@pytest.mark.data
def test_zh_titles(data):
    """The Chinese titles table has no id column: ids are row numbers, every other column is kept."""
    layout = load_layout(data / "zh" / "ecommerce_titles")
    good, bad = _split(product_items(layout.products[0]))
    assert (len(good), len(bad)) == (4987, 0)
    first = good[0]
    assert first.id == "ecommerce_titles:1" and first.title.startswith("日本otax")
    assert {a.key for a in first.attributes} == {"split", "brands_hp", "products_hc"}
    stream = product_items(layout.products[0])     # the plan an ingest's summary reports
    assert stream.plan.title_script.script == "Han" and stream.plan.title_script.needs_multilingual


# -- tiny generated directories ----------------------------------------------------------------------

def _dir(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for file, text in files.items():
        (d / file).parent.mkdir(parents=True, exist_ok=True)
        (d / file).write_text(text, encoding="utf-8")
    return d


def test_deepmatcher_generated(tmp_path):
    d = _dir(tmp_path, "shopx_shopy", {
        "tableA.csv": "id,name,description,price\n0,Phone X,fast,\"$1,299.00\"\n1,Case,,\n",
        "tableB.csv": "id,title,manufacturer,price\n0,phone x 128,acme,1299\n",
        "train.csv": "ltable_id,rtable_id,label\n0,0,1\n1,0,0\n",
        "notes.csv": "a,b\n1,2\n",
    })
    layout = load_layout(d)
    assert [(s.mapping.platform, s.mapping.title, s.mapping.brand) for s in layout.products] == [
        ("shopx", "name", None), ("shopy", "title", "manufacturer")]
    assert layout.labelled_pairs == {"train": [("shopx:0", "shopy:0", 1), ("shopx:1", "shopy:0", 0)]}
    records, _ = _split(product_items(layout.products[0]))
    assert [r.price for r in records] == [1299.0, None]


def test_tables_drawn_from_one_pool_are_not_named_as_two_shops(tmp_path):
    pooled = _dir(tmp_path, "left_right", {
        "tableA.csv": "id,title\n0,Seagate 2TB ST2000DM001\n1,WD Red 4TB\n",
        "tableB.csv": "id,title\n0,wd  red 4tb\n1,Toshiba 1TB\n",
        "train.csv": "ltable_id,rtable_id,label\n0,1,0\n"})
    assert tables_share_records(pooled / "tableA.csv", pooled / "tableB.csv")
    assert load_layout(pooled).extra["platforms"] == ("left_right_a", "left_right_b")
    two_shops = _dir(tmp_path, "left2_right2", {
        "tableA.csv": "id,title\n0,Seagate 2TB ST2000DM001\n1,WD Red 4TB\n",
        "tableB.csv": "id,title\n0,WD Red 4 TB NAS drive\n1,Toshiba 1TB\n",
        "train.csv": "ltable_id,rtable_id,label\n0,1,0\n"})
    assert not tables_share_records(two_shops / "tableA.csv", two_shops / "tableB.csv")
    assert load_layout(two_shops).extra["platforms"] == ("left2", "right2")


def test_bad_pair_file(tmp_path):
    d = _dir(tmp_path, "a_b", {"tableA.csv": "id,title\n0,x\n", "tableB.csv": "id,title\n0,y\n",
                               "train.csv": "ltable_id,rtable_id,label\n0,0,yes\n"})
    with pytest.raises(BadFileError, match=r"train.csv: line 2: expected two ids and a 0/1 label"):
        load_layout(d)


@pytest.mark.parametrize("name, expected", [
    ("abt_buy", ("abt", "buy")), ("amazon_google", ("amazon", "google")),
    ("wdc_computers", ("wdc", "computers")), ("shop", ("shop_a", "shop_b")),
    ("a_b_c", ("a_b_c_a", "a_b_c_b")), ("same_same", ("same_same_a", "same_same_b")),
    # Directory names are made valid platform names (issue 13): never a path, a space or a NUL.
    ("my data", ("my_data_a", "my_data_b")), ("..", ("data_a", "data_b")), ("a b_c", ("a_b_c_a", "a_b_c_b")),
    ("x" * 100, ("x" * 62 + "_a", "x" * 62 + "_b")),
])
def test_deepmatcher_platforms(name, expected):
    assert deepmatcher_platforms(name) == expected
    assert deepmatcher_platforms(name, one_pool=True) == (f"{platform_from_text(name)[:62]}_a",
                                                          f"{platform_from_text(name)[:62]}_b")


@pytest.mark.parametrize("layout, files, missing", [
    ("deepmatcher", {"tableA.csv": "id,title\n"}, "tableB.csv"),
    ("flipkart", {"other.csv": "id,title\n"}, "flipkart_com-ecommerce_sample_1050.csv"),
    ("grocery", {"images.csv": "split\n"}, "products.csv"),
    ("s3rec", {"README.txt": "hello world\n"}, "<Name>.txt"),
])
def test_missing_layout_files_name_directory_and_file(tmp_path, layout, files, missing):
    d = _dir(tmp_path, "x", files)
    with pytest.raises(BadFileError) as info:
        load_layout(d, layout)
    message = str(info.value)
    article = "an" if layout == "s3rec" else "a"
    assert message.startswith(str(d.resolve())) and f"not {article} {layout} layout" in message
    assert missing in message and "\n" not in message


def test_flipkart_any_csv_with_its_columns(tmp_path):
    d = _dir(tmp_path, "fk", {
        "mine.csv": "uniq_id,product_name,product_category_tree,discounted_price,description,brand,image\n"
                    'u1,Mug,"[""Kitchen >> Mugs >> Mug X...""]",199,Nice mug,,u1.jpg\n',
        "images/u1.jpg": "jpg"})
    assert detect_layout(d) == "flipkart"
    layout = load_layout(d)
    [record] = list(product_items(layout.products[0]))
    assert (record.category_path, record.price, record.brand) == (("Kitchen", "Mugs"), 199.0, None)
    assert Path(record.image_path) == (d / "images" / "u1.jpg").resolve()


def test_grocery_brand_rule():
    assert grocery_brand("Arla-Standard-Milk", "Packages") == "Arla"
    assert grocery_brand("God-Morgon-Apple-Juice", "Packages") == "God-Morgon"
    assert grocery_brand("Granny-Smith", "Fruit") is None


def test_s3rec_generated(tmp_path):
    d = _dir(tmp_path, "s", {"Zed.txt": "1 3 2\n2 2\n", "Alpha.txt": "9 10\n", "README.txt": "1 2\n",
                             "notes.txt": "not sequences\n"})
    layout = load_layout(d)
    assert layout.extra["datasets"] == ["Alpha", "Zed"] and layout.extra["item_attributes"] is None
    zed = load_layout(d, "s3rec:Zed")
    assert [(r.source_id, r.title, r.source_line) for r in product_items(zed.products[0])] == [
        ("2", "Zed item 2", 1), ("3", "Zed item 3", 1)]
    interactions = list(iter_interaction_source(*zed.interactions[0]))
    assert [r.timestamp for r in interactions if isinstance(r, InteractionRecord)] == [0, 1, 0]
    (d / "Zed_item2attributes.json").write_text('{"2": [7, 8], "9": [1]}', encoding="utf-8")
    records = list(product_items(load_layout(d, "s3rec:Zed").products[0]))
    assert [[a.value for a in r.attributes] for r in records] == [["7", "8"], []]
    (d / "Zed_item2attributes.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BadFileError, match="Zed_item2attributes.json"):
        list(product_items(load_layout(d, "s3rec:Zed").products[0]))


@pytest.mark.parametrize("columns, title", [
    (["id", "Beer_Name", "Brew_Factory_Name", "Style", "ABV"], "Beer_Name"),      # em/beer
    (["id", "Song_Name", "Artist_Name", "Album_Name", "Time"], "Song_Name"),      # em/itunes_amazon
    (["id", "name", "description", "price"], "name"),
    (["id", "productTitle", "maker"], "productTitle"),
    (["id", "maker", "cost"], None),
])
def test_deepmatcher_title_by_column_names(columns, title):
    assert deepmatcher_title(columns) == title


def test_deepmatcher_table_without_a_title_column_keeps_every_column(tmp_path):
    d = _dir(tmp_path, "beers_x", {"tableA.csv": "id,Beer_Name,Style,ABV\n0,Red Ale,Amber,8.10 %\n",
                                  "tableB.csv": "id,Beer_Name,Style,ABV\n0,Red Ale Imperial,Amber,8.1%\n",
                                  "train.csv": "ltable_id,rtable_id,label\n0,0,1\n"})
    layout = load_layout(d)
    record = next(iter(product_items(layout.products[0])))
    assert record.title == "Red Ale"
    assert {a.key: (a.value, a.parsed.number, a.parsed.unit) for a in record.attributes} == {
        "style": ("Amber", None, None), "abv": ("8.10 %", 8.1, "%")}
    d = _dir(tmp_path, "songs_x", {"tableA.csv": "id,Song_Name,Price,Time\n0,Clarity,$ 1.29,6:30\n",
                                  "tableB.csv": "id,Song_Name,Price,Time\n0,Clarity,$1.29,4:02\n"})
    record = next(iter(product_items(load_layout(d).products[0])))
    assert (record.title, record.price, record.currency) == ("Clarity", 1.29, "USD")      # "Price" is the price
    assert [(a.key, a.parsed.number, a.parsed.unit) for a in record.attributes] == [("time", 390.0, "s")]


def test_titles_generated(tmp_path):
    d = _dir(tmp_path, "shop titles", {"t.tsv": "split\tProduct_Name\tcolour\ntrain\t无线耳机\tred\ntest\t\tblue\n",
                                        "notes.txt": "not a table\n"})
    assert detect_layout(d) == "titles"
    good, bad = _split(product_items(load_layout(d).products[0]))
    assert [(r.id, r.title) for r in good] == [("shop_titles:1", "无线耳机")]
    assert {a.key: a.value for a in good[0].attributes} == {"split": "train", "color": "red"}
    assert [q.source_line for q in bad] == [3]          # no title: quarantined, not dropped
    (d / "u.csv").write_text("title\nx\n", encoding="utf-8")   # two title tables: not this layout
    assert detect_layout(d) is None


def test_bad_names_and_directories(tmp_path):
    with pytest.raises(BadArgumentError, match="unknown layout 'magento'"):
        load_layout(tmp_path, "magento")
    with pytest.raises(BadArgumentError, match="takes no ':' argument"):
        load_layout(tmp_path, "flipkart:x")
    with pytest.raises(BadFileError, match="directory not found"):
        load_layout(tmp_path / "nope")
    (tmp_path / "f.csv").write_text("a\n")
    with pytest.raises(BadFileError, match="not a directory"):
        load_layout(tmp_path / "f.csv")
    assert detect_layout(tmp_path / "nope") is None
