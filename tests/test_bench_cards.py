"""bench.cards fills a card file from a read-only open, then times the API with cards against the
graph read on every bench.scale case, checking that no card call read the graph."""
import json

import pytest

import bench.common
from bench import cards
from tests.helpers import small_scale_folder


def test_fill_then_ab_on_every_case(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    small_scale_folder(tmp_path)
    with pytest.raises(SystemExit, match="fill them first"):
        cards.main(["--dir", str(tmp_path), "--results", "ab_test"])
    filled = cards.main(["--dir", str(tmp_path), "--fill-into", str(tmp_path / "scale.db.index" / "cards.sqlite"),
                         "--results", "fill_test"])
    assert filled["products"] == filled["cards"] == 300
    cards.main(["--dir", str(tmp_path), "--results", "ab_test"])
    rows = json.loads((tmp_path / "results" / "ab_test.json").read_text(encoding="utf-8"))["results"]["cases"]
    assert list(rows) == ["unfiltered", "brand ~1%", "category ~20%", "price+category", "cypher where"]
    for r in rows.values():
        assert r["graph_reads_during_card_calls"] == 0 and r["api_cards_p50_ms"] > 0 and r["api_graph_p50_ms"] > 0


def test_a_folder_without_a_database_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no scale.db there"):
        cards.main(["--dir", str(tmp_path)])
