"""Integration on the real datasets in ../shared/data (skipped with the reason when absent)."""

from __future__ import annotations

import pytest

from shopgraph import Filters, ShopGraph
from tests.helpers import need_data


@pytest.fixture(scope="module")
def flipkart(tmp_path_factory):
    data = need_data("multimodal/flipkart_1050")
    db = tmp_path_factory.mktemp("flipkart") / "flipkart.db"
    with ShopGraph.open(db) as sg:
        summary = sg.ingest_dataset(data, progress=False)
    return db, summary


def test_flipkart_ingest(flipkart):
    db, summary = flipkart
    assert summary.rows_read == 1050 and summary.products_written == 1050 and summary.quarantined == 0
    assert summary.images_missing == 3  # three images are absent from the source copy: flagged, kept
    with ShopGraph.open(db, read_only=True) as sg:
        stats = sg.stats()
        assert stats["Product"] == 1050 and stats["Platform"] == 1
        assert stats["OF_BRAND"] == 712 and 400 < stats["Brand"] <= 490
        top = sg.cypher("MATCH (c:Category) WHERE c.depth = 1 RETURN count(c) AS n")[0]["n"]
        assert top == 7
        assert sg.cypher("MATCH (p:Product) WHERE p.image_missing RETURN count(p) AS n")[0]["n"] == 3


def test_flipkart_search_by_title_and_by_image(flipkart):
    db, _ = flipkart
    with ShopGraph.open(db, read_only=True) as sg:
        rows = sg.cypher("MATCH (p:Product) WHERE NOT p.image_missing RETURN p.id AS id ORDER BY id LIMIT 40")
        text_top1 = image_top1 = 0
        for row in rows:
            product = sg.product(row["id"])
            text_top1 += sg.search(text=product.title, k=1)[0].product.id == product.id
            image_top1 += sg.search(image=sg.image_file(product), k=1)[0].product.id == product.id
        assert text_top1 >= 38 and image_top1 >= 38


def test_flipkart_category_subtree_filter(flipkart):
    db, _ = flipkart
    with ShopGraph.open(db, read_only=True) as sg:
        hits = sg.search(text="analog watch for men", k=10, filters=Filters(category="Watches"))
        assert len(hits) == 10
        assert all(h.product.category.startswith("Watches") for h in hits)


def test_abt_buy_ingest_with_labelled_pairs(tmp_path):
    data = need_data("em/abt_buy")
    with ShopGraph.open(tmp_path / "abt.db", config=None) as sg:
        summary = sg.ingest_dataset(data, "deepmatcher", progress=False)
        stats = sg.stats()
        assert stats["Product"] == 1081 + 1092 and stats["Platform"] == 2
        assert summary.same_as_written == 616 == stats["SAME_AS"]  # positive training pairs only
        pairs = sg.store.relationship_pairs("SAME_AS", ["method"])[:30]
        found = sum(p["dst"] in [h.product.id for h in sg.similar(p["src"], k=5, platform="buy")] for p in pairs)
        assert found >= 24, f"only {found}/30 labelled matches among the 5 most similar Buy products"
