"""The listing fields of a benchmark table are chosen from the column values, never the names: renaming
every column (even to another field's name) gives the same listings and the same pair features."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from shopgraph.matching.benchmarks import load_benchmark
from shopgraph.matching.features import PairFeaturizer
from shopgraph.matching.table_fields import TableFields, table_fields
from tests.helpers import need_data

COLUMNS = ("name", "description", "manufacturer", "price")
# Each column renamed, two of them to the name of another field: only the values can tell.
RENAMED = {"name": "price", "description": "Attr 7", "manufacturer": "title", "price": "x"}
TABLE_A = [
    ("0", "sony turntable pslx350h black", "sony turntable pslx350h belt drive system with two speeds, a servo "
     "speed control, a moving magnet phono cartridge and a bonded diamond stylus for vinyl", "sony", "149.99"),
    ("1", "bose acoustimass 5 series iii speaker system", "bose acoustimass 5 series iii speaker system am53bk "
     "with two dual cube speakers and a powerful bass module, 200 watts max power, black finish", "bose", "399.0"),
    ("2", "sony bravia 40 inch lcd tv kdl40v4100", "sony bravia 40 inch lcd hdtv with 1080p resolution, "
     "three hdmi inputs, a 120 hz motion flow panel and an energy saving mode for daily use", "sony", "1099.00"),
    ("3", "linksys wireless-g broadband router wrt54g", "linksys wireless-g broadband router with a four port "
     "switch, 54 mbps wireless networking, wpa security and a built in firewall for a home office", "linksys", ""),
]
TABLE_B = [
    ("0", "sony pslx350h turntable", "belt drive turntable with a servo control and a moving magnet cartridge "
     "for records, black colour, two speeds and a dust cover included in the box", "sony", "139.00"),
    ("1", "bose acoustimass 5 iii am53bk", "a dual cube speaker system with a bass module and two cubes, "
     "200 watts, black finish, for home theatre and music listening in larger rooms", "bose", "379.95"),
    ("2", "linksys wrt54g wireless router", "wireless g router with four ports, 54 mbps, wpa security, a "
     "firewall and a setup wizard for a broadband connection shared by a small household", "linksys", "49.99"),
]


def _write(folder, names):
    folder.mkdir()
    for file, rows in (("tableA.csv", TABLE_A), ("tableB.csv", TABLE_B)):
        with open(folder / file, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", *names])
            writer.writerows(rows)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.csv").write_text("ltable_id,rtable_id,label\n0,0,1\n1,1,1\n3,2,1\n2,0,0\n0,1,0\n")
    return folder


def test_the_fields_come_from_the_values():
    records = [dict(zip(COLUMNS, row[1:])) for row in TABLE_A + TABLE_B]
    assert table_fields(records) == TableFields("name", "description", "manufacturer", "price")
    # A number with a unit is not a price; a long text alone is still the name.
    assert table_fields([{"abv": "8.10 %", "t": "Red Ale"}, {"abv": "5 %", "t": "Pale Ale"}]) == TableFields("t")
    assert table_fields([{"n": "12"}, {"n": "14"}]) == TableFields()


def test_renaming_every_column_gives_the_same_listings_and_features(tmp_path):
    plain = load_benchmark(_write(tmp_path / "shopa_shopb", COLUMNS))
    renamed = load_benchmark(_write(tmp_path / "shopc_shopd", [RENAMED[c] for c in COLUMNS]))
    assert renamed[2].fields == TableFields(*(RENAMED[c] for c in COLUMNS))
    for one, other in zip(plain[:2], renamed[:2]):
        assert (one.titles, one.texts, one.brands) == (other.titles, other.texts, other.brands)
        np.testing.assert_array_equal(one.prices, other.prices)
    assert plain[0].titles[0] == "sony turntable pslx350h black" and plain[0].brands[1] == "bose"
    assert plain[0].texts[1].startswith("bose acoustimass 5 series iii speaker system. bose acoustimass")
    np.testing.assert_array_equal(plain[0].prices, [149.99, 399.0, 1099.0, np.nan])
    pairs = plain[2].splits["test"].rows
    np.testing.assert_array_equal(renamed[2].splits["test"].rows, pairs)
    np.testing.assert_array_equal(PairFeaturizer(*plain[:2]).features(pairs),
                                  PairFeaturizer(*renamed[:2]).features(pairs))


@pytest.mark.data
@pytest.mark.parametrize("dataset, expected", [
    ("abt_buy", TableFields("name", "description", None, "price")),
    ("amazon_google", TableFields("title", None, "manufacturer", "price")),
    ("wdc_computers", TableFields("title")),
    ("itunes_amazon", TableFields("Song_Name", None, "Artist_Name", "Price")),
])
def test_the_real_tables_fields(dataset, expected):
    assert load_benchmark(need_data(f"em/{dataset}"))[2].fields == expected
