"""Whole ingests through ShopGraph (real encoders, real LadybugDB) for the input findings of issue 13:
nothing good is lost to one bad row, quarantine records survive later runs, replaced photos are
re-encoded, ids stay exact, and image paths survive a moved database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shopgraph.ingest.interactions import InteractionMapping
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.queries.api import ShopGraph


@pytest.fixture(scope="module")
def sg(tmp_path_factory):
    """One graph for the module; each test uses platforms of its own."""
    root = tmp_path_factory.mktemp("pipeline")
    with ShopGraph.open(root / "g.db") as graph:
        yield graph


def _quarantined(summary) -> list[dict]:
    return [json.loads(line) for path in summary.quarantine_files for line in Path(path).read_text().splitlines()]


def _photo(path: Path, colour) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, "PNG")
    return path


def test_a_broken_quote_costs_one_row_of_the_201_line_file(sg, tmp_path):
    """Finding 4: in a 201-line file, 195 good rows vanished inside one broken quote with exit 0."""
    lines = ["sku,name,price"] + [f"Q-{i},Quartz wall clock model {i},{10 + i}.50" for i in range(200)]
    lines[6] = 'Q-BAD,"Clock with a broken quote,12'
    path = tmp_path / "clocks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = sg.ingest(path, ColumnMapping(platform="p4", id="sku", title="name", price="price"), progress=False)
    assert (summary.rows_read, summary.products_written, summary.quarantined) == (200, 199, 1)
    [bad] = _quarantined(summary)
    assert bad["line"] == 7 and bad["reason"].startswith("unclosed quote") and "Q-BAD" in bad["row"]["raw"]
    assert sg.store.count_nodes("Product") >= 199 and sg.product("p4:Q-6").title == "Quartz wall clock model 6"


def test_one_overflowing_interaction_does_not_lose_the_batch(sg, tmp_path):
    """Finding 5: a timestamp of 99999999999999999999 (or 1e300) crashed the run with OverflowError."""
    catalog = tmp_path / "c.csv"
    catalog.write_text("sku,name\nI-1,Insulated bottle\nI-2,Insulated mug\n", encoding="utf-8")
    sg.ingest(catalog, ColumnMapping(platform="p5", id="sku", title="name"), progress=False)
    events = tmp_path / "events.jsonl"
    events.write_text('{"u": "a", "i": "I-1", "t": 1577836800}\n'
                      '{"u": "b", "i": "I-2", "t": 99999999999999999999}\n'
                      '{"u": "c", "i": "I-2", "t": 1e300}\n'
                      '{"u": "d", "i": "I-2", "t": 1577836801}\n', encoding="utf-8")
    summary = sg.ingest_interactions(events, InteractionMapping(namespace="p5", user="u", item="i", timestamp="t"),
                                     progress=False)
    assert (summary.rows_read, summary.interactions_written, summary.quarantined) == (4, 2, 2)
    assert {r["line"] for r in _quarantined(summary)} == {2, 3}
    rows = sg.cypher("MATCH (u:User)-[r:INTERACTED]->(p:Product {platform: 'p5'}) RETURN u.id AS uid ORDER BY uid")
    assert [r["uid"] for r in rows] == ["p5:a", "p5:d"]


def test_a_photo_replaced_at_the_same_path_is_encoded_again(sg, tmp_path):
    """Finding 6: the content hash covered the image path only: a replaced or repaired photo kept its
    old vector (or image_missing)."""
    photo = _photo(tmp_path / "img" / "lamp.png", (200, 30, 30))
    broken = tmp_path / "img" / "vase.png"
    broken.write_bytes(b"not an image yet")
    catalog = tmp_path / "c.csv"
    catalog.write_text("sku,name,img\nL-1,Desk lamp,lamp.png\nV-1,Glass vase,vase.png\n", encoding="utf-8")
    mapping = ColumnMapping(platform="p6", id="sku", title="name", image="img", image_dir=str(tmp_path / "img"))
    first = sg.ingest(catalog, mapping, progress=False)
    assert first.products_written == 2 and first.images_missing == 1
    _, before = sg.store.get_vectors("Product", "image_vec", ["p6:L-1"])
    assert sg.product("p6:V-1").image_missing

    _photo(photo, (20, 40, 220))                 # replaced: same path, other picture
    _photo(broken, (240, 240, 240))              # repaired
    second = sg.ingest(catalog, mapping, progress=False)
    assert second.products_written == 2 and second.products_replaced == 2 and second.images_missing == 0
    _, after = sg.store.get_vectors("Product", "image_vec", ["p6:L-1"])
    assert not np.allclose(before, after)
    assert not sg.product("p6:V-1").image_missing
    assert sg.ingest(catalog, mapping, progress=False).products_unchanged == 2


def test_two_files_of_the_same_name_keep_both_quarantines_and_report_shared_ids(sg, tmp_path):
    """Finding 7: jan/products.csv and feb/products.csv shared one quarantine file, so the second run
    erased the first run's records. Finding 11: the same id in both files overwrote without a word."""
    mapping = ColumnMapping(platform="p7", id="sku", title="name", price="price")
    summaries = []
    for month, rows in (("jan", "S-1,Steel kettle,20\nS-2,,20\n"),
                        ("feb", "S-1,Smart speaker,90\nS-3,,12\n")):
        (tmp_path / month).mkdir()
        path = tmp_path / month / "products.csv"
        path.write_text("sku,name,price\n" + rows, encoding="utf-8")
        summaries.append(sg.ingest(path, mapping, progress=False))
    jan, feb = summaries
    assert jan.quarantine_files != feb.quarantine_files
    assert [r["row"]["sku"] for r in _quarantined(jan)] == ["S-2"]      # still there after feb's run
    assert [r["row"]["sku"] for r in _quarantined(feb)] == ["S-3"]
    assert feb.products_replaced == 1 and feb.replaced[0].startswith("p7:S-1 (line 2 of ")
    assert "replaced product     p7:S-1" in feb.render() and "of them replaced" in feb.render()


def test_large_integer_ids_stay_exact(sg, tmp_path):
    """Finding 10: JSON id 9007199254740993 became ...992 through a float and attached to another product."""
    catalog = tmp_path / "c.jsonl"
    catalog.write_text('{"id": 9007199254740992, "title": "Walnut cutting board"}\n'
                       '{"id": 9007199254740993, "title": "Bamboo cutting board"}\n', encoding="utf-8")
    summary = sg.ingest(catalog, ColumnMapping(platform="p10", id="id", title="title"), progress=False)
    assert summary.products_written == 2
    assert sg.product("p10:9007199254740993").title == "Bamboo cutting board"
    events = tmp_path / "e.jsonl"
    events.write_text('{"user": 7, "item": 9007199254740993}\n', encoding="utf-8")
    sg.ingest_interactions(events, InteractionMapping(namespace="p10", user="user", item="item"), progress=False)
    rows = sg.cypher("MATCH (:User {id: 'p10:7'})-[:INTERACTED]->(p:Product) RETURN p.title AS t")
    assert [r["t"] for r in rows] == ["Bamboo cutting board"]


def test_image_paths_survive_a_moved_database(tmp_path):
    """Finding 11: image_ref held absolute paths, so a database moved with its photos lost them. Images
    inside the database's folder are stored relative to it; absolute refs of older databases still read."""
    home = tmp_path / "home"
    _photo(home / "catalog" / "img" / "chair.png", (90, 60, 30))
    outside = _photo(tmp_path / "elsewhere" / "stool.png", (30, 90, 60))
    catalog = home / "catalog" / "c.csv"
    catalog.write_text(f"sku,name,img\nC-1,Oak chair,img/chair.png\nC-2,Pine stool,{outside}\n", encoding="utf-8")
    with ShopGraph.open(home / "g.db") as graph:
        graph.ingest(catalog, ColumnMapping(platform="p11", id="sku", title="name", image="img"), progress=False)
        assert graph.product("p11:C-1").image_ref == "catalog/img/chair.png"
        assert graph.product("p11:C-2").image_ref == str(outside)
    moved = tmp_path / "moved"
    shutil.move(home, moved)
    with ShopGraph.open(moved / "g.db", read_only=True) as graph:
        chair, stool = graph.product("p11:C-1"), graph.product("p11:C-2")
        assert graph.image_file(chair) == moved / "catalog" / "img" / "chair.png"
        assert graph.image_file(chair).is_file() and graph.image_file(stool) == outside
        assert graph.search(image=graph.image_file(chair), k=1)[0].product.id == "p11:C-1"
