"""bench.cards fills a card file from a read-only open, then times the API with cards against the
graph read on every bench.scale case, checking that no card call read the graph."""
import json

import numpy as np
import pytest

import bench.common
from bench import cards
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def test_fill_then_ab_on_every_case(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    products = [product(str(i), seed=i, brand=f"brand{i % 15:03d}", category=f"Top{i % 5} > Leaf{i % 2}",
                        price=float(50 + 10 * (i % 90))) for i in range(300)]
    with EmbeddedStore.open(tmp_path / "scale.db", dims=SMALL_DIMS) as store:
        store.write(catalog_batch(products))
    np.save(tmp_path / "queries.npy", np.random.default_rng(0).standard_normal((8, SMALL_DIMS.text)).astype(np.float32))
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
