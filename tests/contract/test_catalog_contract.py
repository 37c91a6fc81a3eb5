"""Schema version 4 on every store: identifiers and attributes as nodes with values on the edges,
several images per product, the README's three catalog queries, and retiring products (sync/delete)."""

from __future__ import annotations

import numpy as np

from shopgraph.graph.store import GraphBatch
from tests.contract.test_store_contract import catalog_batch, product

# The README's queries ("Querying identifiers and attributes"): kept here word for word.
RED_OF_BRAND = ('MATCH (p:Product)-[:OF_BRAND]->(:Brand {name: $brand}), '
                '(p)-[a:HAS_ATTRIBUTE]->(:Attribute {key: "color"}) WHERE a.norm = "red" '
                'RETURN p.id AS id ORDER BY id')
SHARED_MPN = ("MATCH (a:Product)-[:HAS_IDENTIFIER]->(i:Identifier {scheme: 'mpn'})<-[:HAS_IDENTIFIER]-(b:Product) "
              "WHERE a.platform < b.platform "
              "RETURN i.value AS mpn, a.id AS listing_a, b.id AS listing_b ORDER BY mpn, listing_a, listing_b")
CAPACITY_BETWEEN = ('MATCH (p:Product)-[c:HAS_ATTRIBUTE]->(:Attribute {key: "capacity"}) '
                    'WHERE c.base_unit = "B" AND c.base_number >= $low AND c.base_number <= $high '
                    'RETURN p.id AS id ORDER BY id')


def attribute(src: str, key: str, value: str, norm: str, number=None, unit=None, base_number=None, base_unit=None):
    return {"src": src, "dst": key, "value": value, "norm": norm, "number": number, "unit": unit,
            "base_number": base_number, "base_unit": base_unit}


def write_catalog(store):
    products = [
        product("1", brand="acme", seed=1, images=["a/1.jpg", "https://cdn.example.com/1b.jpg"], source="a.csv"),
        product("2", brand="acme", seed=2, source="a.csv"),
        product("3", brand="nordvik", seed=3, source="a.csv"),
        product("9", platform="shop_b", brand="acme", seed=4, source="b.csv"),
    ]
    store.write(catalog_batch(products))
    store.write(GraphBatch(
        nodes={"Identifier": [{"key": "mpn:wm330s", "scheme": "mpn", "value": "wm330s"},
                              {"key": "mpn:x1", "scheme": "mpn", "value": "x1"},
                              {"key": "gtin:04006381333931", "scheme": "gtin", "value": "04006381333931"}],
               "Attribute": [{"key": "color"}, {"key": "capacity"}]},
        relationships={
            "HAS_IDENTIFIER": [{"src": "shop_a:1", "dst": "mpn:wm330s", "raw": "WM-330S", "source_column": "model"},
                               {"src": "shop_b:9", "dst": "mpn:wm330s", "raw": "wm 330 s", "source_column": "mpn"},
                               {"src": "shop_a:2", "dst": "mpn:x1", "raw": "X1", "source_column": "model"},
                               {"src": "shop_a:1", "dst": "gtin:04006381333931", "raw": "4006381333931",
                                "source_column": "ean"}],
            "HAS_ATTRIBUTE": [attribute("shop_a:1", "color", "Red", "red"),
                              attribute("shop_a:1", "color", "Black", "black"),   # two values of one key
                              attribute("shop_a:2", "color", "RED ", "red"),
                              attribute("shop_a:3", "color", "red", "red"),
                              attribute("shop_b:9", "color", "Blue", "blue"),
                              attribute("shop_a:1", "capacity", "256 GB", "256 gb", 256.0, "GB", 256e9, "B"),
                              attribute("shop_a:2", "capacity", "1 TB", "1 tb", 1.0, "TB", 1e12, "B"),
                              attribute("shop_a:3", "capacity", "100GB", "100gb", 100.0, "GB", 100e9, "B"),
                              attribute("shop_b:9", "capacity", "500 GB", "500 gb", 500.0, "GB", 500e9, "B")]}))
    return products


def test_identifiers_attributes_and_images_round_trip(store):
    write_catalog(store)
    stats = store.stats()
    assert stats["Identifier"] == 3 and stats["Attribute"] == 2
    assert stats["HAS_IDENTIFIER"] == 4 and stats["HAS_ATTRIBUTE"] == 9
    rows = {r["id"]: r for r in store.get_nodes("Product", ["shop_a:1", "shop_a:2"])}
    assert list(rows["shop_a:1"]["images"]) == ["a/1.jpg", "https://cdn.example.com/1b.jpg"]
    assert not rows["shop_a:2"]["images"] and rows["shop_a:1"]["source"] == "a.csv"
    pairs = store.relationship_pairs("HAS_ATTRIBUTE", ["value", "number", "unit", "base_number"])
    assert {"src": "shop_a:2", "dst": "capacity", "value": "1 TB", "number": 1.0, "unit": "TB",
            "base_number": 1e12} in pairs
    assert sorted(p["value"] for p in pairs if p["src"] == "shop_a:1" and p["dst"] == "color") == ["Black", "Red"]
    assert store.relationship_pairs("HAS_IDENTIFIER", ["raw"])[0].keys() == {"src", "dst", "raw"}


def test_the_three_catalog_queries(store):
    write_catalog(store)
    assert [r["id"] for r in store.cypher(RED_OF_BRAND, {"brand": "acme"})] == ["shop_a:1", "shop_a:2"]
    assert store.cypher(SHARED_MPN) == [{"mpn": "wm330s", "listing_a": "shop_a:1", "listing_b": "shop_b:9"}]
    assert [r["id"] for r in store.cypher(CAPACITY_BETWEEN, {"low": 100e9, "high": 500e9})] == [
        "shop_a:1", "shop_a:3", "shop_b:9"]


def test_rewriting_a_product_replaces_its_identifiers_and_attributes(store):
    write_catalog(store)
    store.write(GraphBatch(
        nodes={"Product": [product("1", seed=1)], "Attribute": [{"key": "color"}]},
        relationships={"HAS_ATTRIBUTE": [attribute("shop_a:1", "color", "Green", "green")], "HAS_IDENTIFIER": []},
        replace_outgoing={"HAS_ATTRIBUTE": ["shop_a:1"], "HAS_IDENTIFIER": ["shop_a:1"]}))
    assert [p["value"] for p in store.relationship_pairs("HAS_ATTRIBUTE", ["value"]) if p["src"] == "shop_a:1"] == ["Green"]
    assert not [p for p in store.relationship_pairs("HAS_IDENTIFIER") if p["src"] == "shop_a:1"]


def test_retire_products_deletes_or_keeps_a_tombstone_for_decisions(store):
    products = write_catalog(store)
    store.write(GraphBatch(relationships={
        "SAME_AS": [{"src": "shop_a:1", "dst": "shop_b:9", "score": 0.9, "method": "label", "model_version": "",
                     "status": "label", "evidence": "[]"}]}))
    before = int(store.get_meta("generation"))
    assert store.retire_products(["shop_a:1", "shop_a:2", "shop_a:nope"]) == (1, 1)
    assert store.retire_products([]) == (0, 0) and store.retire_products(["shop_a:nope"]) == (0, 0)
    assert int(store.get_meta("generation")) > before
    assert store.get_nodes("Product", ["shop_a:2"]) == []        # no decision names it: deleted
    tomb = store.get_nodes("Product", ["shop_a:1"])[0]           # named by SAME_AS: a tombstone
    assert tomb["gone"] is True and tomb["content_hash"] is None
    assert store.get_vectors("Product", "text_vec", ["shop_a:1"])[0] == []
    owned = [p for rel in ("LISTED_ON", "OF_BRAND", "IN_CATEGORY", "HAS_IDENTIFIER", "HAS_ATTRIBUTE")
             for p in store.relationship_pairs(rel) if p["src"] in ("shop_a:1", "shop_a:2")]
    assert owned == []
    assert store.relationship_pairs("SAME_AS") == [{"src": "shop_a:1", "dst": "shop_b:9"}]
    query = np.asarray(products[0]["text_vec"])
    assert "shop_a:1" not in [i for i, _ in store.vector_search("text_vec", query, 4)]
    assert store.retire_products(["shop_a:1"]) == (0, 1)        # again: the same graph
    assert store.relationship_pairs("SAME_AS") == [{"src": "shop_a:1", "dst": "shop_b:9"}]
