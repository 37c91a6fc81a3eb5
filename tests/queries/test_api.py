"""The query API on a small real graph: search by text, image and both, similar, Cypher + vector."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopgraph.errors import BadArgumentError, ReadOnlyError
from shopgraph.graph.store import Filters


def test_ingest_summary_counts_everything(demo_graph):
    s, counts = demo_graph.summary, demo_graph.catalog.counts
    products = counts["shop_a_products"] + counts["shop_b_products"]
    assert s.products_written == products
    assert s.quarantined == counts["bad_rows"]
    assert s.interactions_written == counts["interactions"]
    assert s.rows_read == counts["shop_a_rows"] + counts["shop_b_rows"] + counts["interactions"]
    # Missing and corrupt image files are kept, flagged and counted, never dropped.
    assert s.images_missing == counts["image_missing"] + counts["image_corrupt"]


def test_quarantine_files_hold_every_bad_row_with_reason(demo_graph):
    records = [json.loads(line) for path in demo_graph.summary.quarantine_files
               for line in open(path, encoding="utf-8")]
    assert len(records) == demo_graph.catalog.counts["bad_rows"]
    for record in records:
        assert record["reason"] and record["line"] > 0 and record["source_file"] and record["row"]


def test_graph_shape(graph, demo_graph):
    stats = graph.stats()
    counts = demo_graph.catalog.counts
    assert stats["Product"] == counts["shop_a_products"] + counts["shop_b_products"]
    assert stats["Platform"] == 2 and stats["LISTED_ON"] == stats["Product"]
    assert stats["User"] == counts["users"] and stats["INTERACTED"] == counts["interactions"]
    flagged = graph.cypher("MATCH (p:Product) WHERE p.image_missing RETURN count(p) AS n")[0]["n"]
    assert flagged == counts["image_missing"] + counts["image_corrupt"]
    orphans = graph.cypher("MATCH (c:Category) WHERE c.depth > 1 AND NOT EXISTS { MATCH (c)-[:SUBCATEGORY_OF]->(:Category) } "
                           "RETURN count(c) AS n")[0]["n"]
    assert orphans == 0


def test_text_search_finds_the_product_on_both_platforms(graph, demo_graph):
    a_id, b_id = demo_graph.truth[0]
    title = graph.product(a_id).title
    hits = graph.search(text=title, k=5)
    assert hits[0].product.id == a_id
    assert b_id in [h.product.id for h in hits]
    assert hits[0].score >= hits[-1].score
    assert "bm25" in hits[0].matched_by
    assert "image" not in hits[0].channels  # a text query runs no image channel
    by_vector = graph.search(text=title, k=5, rank_by="fused")  # the vector mode keeps its channel shares
    assert "text" in by_vector[0].matched_by and by_vector[0].channels["image"] == 0.0


def test_image_search_finds_the_other_listing(graph, demo_graph):
    found = 0
    pairs = [(a, b) for a, b in demo_graph.truth if not graph.product(b).image_missing][:10]
    for a_id, b_id in pairs:
        photo = graph.image_file(graph.product(b_id))
        hits = graph.search(image=photo, k=5, filters=Filters(platform="shop_a"))
        assert all(h.product.platform == "shop_a" for h in hits)
        assert hits and "image" in hits[0].matched_by
        found += a_id in [h.product.id for h in hits]
    assert found >= 0.7 * len(pairs)


def test_image_search_accepts_bytes_and_text_plus_image(graph, demo_graph):
    a_id, b_id = next((a, b) for a, b in demo_graph.truth if not graph.product(b).image_missing)
    with open(graph.image_file(graph.product(b_id)), "rb") as f:
        data = f.read()
    by_bytes = graph.search(image=data, k=3)
    assert by_bytes[0].product.id == b_id
    both = graph.search(text=graph.product(a_id).title, image=data, k=3)
    assert {"bm25", "image"} <= set(both[0].channels) and both[0].channels["image"] > 0
    assert both[0].product.id in (a_id, b_id)


def test_filters_restrict_results(graph):
    brand = graph.cypher("MATCH (b:Brand)<-[:OF_BRAND]-(p) RETURN b.name AS b, count(p) AS n ORDER BY n DESC LIMIT 1")[0]["b"]
    hits = graph.search(text="product", k=50, filters=Filters(brand=brand, platform="shop_b"))
    assert hits and all(h.product.platform == "shop_b" for h in hits)
    ids = {r["id"] for r in graph.cypher("MATCH (p:Product)-[:OF_BRAND]->(:Brand {name: $b}) RETURN p.id AS id", {"b": brand})}
    assert {h.product.id for h in hits} <= ids
    cheap = graph.search(text="product", k=50, filters=Filters(price_max=50, currency="usd"))
    assert cheap and all(h.product.price is not None and h.product.price <= 50 and h.product.currency == "USD"
                         for h in cheap)


def test_price_bounds_never_compare_two_currencies(graph):
    """Issue 15: shop_a prices in USD, shop_b in EUR. A bound without a currency over both is refused
    with the currencies named; over one shop it applies to that shop's currency."""
    with pytest.raises(BadArgumentError, match="priced in EUR, USD"):
        graph.search(text="product", k=5, filters=Filters(price_max=50))
    euros = graph.search(text="product", k=20, filters=Filters(price_max=50, platform="shop_b"))
    assert euros and all(h.product.currency == "EUR" and h.product.price <= 50 for h in euros)
    assert not graph.search(text="product", k=5, filters=Filters(price_max=50, currency="JPY"))
    with pytest.raises(BadArgumentError, match="ISO 4217"):
        Filters(currency="euro")


def test_similar_finds_the_same_product_on_the_other_platform(graph, demo_graph):
    hits_at_1 = 0
    for a_id, b_id in demo_graph.truth[:10]:
        hits = graph.similar(a_id, k=3, platform="shop_b")
        assert a_id not in [h.product.id for h in hits]
        assert all(h.product.platform == "shop_b" for h in hits)
        hits_at_1 += hits[0].product.id == b_id
    assert hits_at_1 >= 7


def test_vector_search_with_cypher_pattern(graph, demo_graph):
    a_id, _ = demo_graph.truth[0]
    _, vectors = graph.store.get_vectors("Product", "fused_vec", [a_id])
    category = graph.cypher("MATCH (p:Product {id: $id})-[:IN_CATEGORY]->(c) RETURN c.path AS c", {"id": a_id})[0]["c"]
    hits = graph.vector_search(vectors[0], k=5, where="(p)-[:IN_CATEGORY]->(c:Category) WHERE c.path = $cat",
                               params={"cat": category})
    assert hits[0].product.id == a_id and hits[0].score == pytest.approx(float(vectors[0] @ vectors[0]), abs=1e-4)
    members = {r["id"] for r in graph.cypher("MATCH (p:Product)-[:IN_CATEGORY]->(:Category {path: $c}) RETURN p.id AS id",
                                             {"c": category})}
    assert {h.product.id for h in hits} <= members
    by_text_channel = graph.vector_search(graph.store.get_vectors("Product", "text_vec", [a_id])[1][0], k=1, prop="text_vec")
    assert by_text_channel[0].product.id == a_id


def test_bad_arguments_are_one_line_errors(graph):
    for call in (lambda: graph.search(), lambda: graph.search(text="   "), lambda: graph.search(text="x", k=0),
                 lambda: graph.search(text="x", k=10**6), lambda: graph.similar("shop_a:nope"),
                 lambda: graph.product("nope"), lambda: graph.search(image=b"not an image"),
                 lambda: graph.vector_search(np.full(graph.store.dims.fused, np.nan))):
        with pytest.raises(BadArgumentError) as info:
            call()
        assert "\n" not in str(info.value)


def test_cypher_is_read_only_by_default(graph):
    with pytest.raises(ReadOnlyError):
        graph.cypher("MATCH (p:Product) DETACH DELETE p")
    assert graph.cypher("MATCH (p:Platform) RETURN p.name AS name ORDER BY name") == [{"name": "shop_a"}, {"name": "shop_b"}]
