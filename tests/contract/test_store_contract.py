"""The GraphStore contract: what every store must do, checked on tiny graphs."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.errors import ModelError, QueryTimeoutError, ReadOnlyError, SchemaError, ShopGraphError
from shopgraph.graph.store import Filters, GraphBatch, VectorWrite
from tests.contract.conftest import SMALL_DIMS


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def vec(seed: int, dim: int):
    return unit(np.random.default_rng(seed).normal(size=dim))


def product(pid: str, platform: str = "shop_a", price: float | None = 10.0, brand: str | None = "acme",
            category: str | None = "Audio > Headphones", seed: int = 0, **extra) -> dict:
    return {
        "id": f"{platform}:{pid}", "platform": platform, "source_id": pid, "title": f"title {pid}",
        "description": "", "price": price, "currency": "USD", "brand": brand, "category": category,
        "image_ref": None, "image_missing": False, "content_hash": f"h-{pid}-{seed}",
        "text_vec": vec(seed, SMALL_DIMS.text), "image_vec": vec(seed + 1, SMALL_DIMS.image),
        "lex_vec": vec(seed + 2, SMALL_DIMS.lexical), "fused_vec": vec(seed + 3, SMALL_DIMS.fused), **extra,
    }


def catalog_batch(products: list[dict]) -> GraphBatch:
    """Products with their platform, brand and category (two levels) nodes and edges."""
    categories = {}
    for p in products:
        if p["category"]:
            parts = p["category"].split(" > ")
            for depth in range(1, len(parts) + 1):
                path = " > ".join(parts[:depth])
                categories[path] = {"path": path, "name": parts[depth - 1], "depth": depth}
    sub = [{"src": c, "dst": c.rsplit(" > ", 1)[0]} for c in categories if " > " in c]
    return GraphBatch(
        nodes={"Platform": [{"name": p["platform"]} for p in products],
               "Brand": [{"name": p["brand"], "display_name": p["brand"].upper()} for p in products if p["brand"]],
               "Category": list(categories.values()), "Product": products},
        relationships={"LISTED_ON": [{"src": p["id"], "dst": p["platform"]} for p in products],
                       "OF_BRAND": [{"src": p["id"], "dst": p["brand"]} for p in products if p["brand"]],
                       "IN_CATEGORY": [{"src": p["id"], "dst": p["category"]} for p in products if p["category"]],
                       "SUBCATEGORY_OF": sub},
        replace_outgoing={r: [p["id"] for p in products] for r in ("LISTED_ON", "OF_BRAND", "IN_CATEGORY")},
    )


@pytest.fixture
def filled(store):
    products = [
        product("1", brand="acme", category="Audio > Headphones", price=50.0, seed=10),
        product("2", brand="acme", category="Audio > Speakers", price=150.0, seed=20),
        product("3", brand="nordvik", category="Audio > Headphones", price=250.0, seed=30),
        product("1", platform="shop_b", brand="nordvik", category="Kitchen > Kettles", price=None, seed=40),
        product("4", platform="shop_b", brand=None, category=None, price=5.0, seed=50),
    ]
    store.write(catalog_batch(products))
    return store, products


def test_counts_after_write(filled):
    store, _ = filled
    stats = store.stats()
    assert stats["Product"] == 5
    assert stats["Brand"] == 2
    assert stats["Platform"] == 2
    assert stats["Category"] == 5  # Audio, Audio > Headphones, Audio > Speakers, Kitchen, Kitchen > Kettles
    assert stats["OF_BRAND"] == 4 and stats["IN_CATEGORY"] == 4 and stats["LISTED_ON"] == 5
    assert stats["SUBCATEGORY_OF"] == 3


def test_same_sku_on_two_platforms_is_two_products(filled):
    store, _ = filled
    rows = store.get_nodes("Product", ["shop_a:1", "shop_b:1"])
    assert [r["platform"] for r in rows] == ["shop_a", "shop_b"]


def test_writing_twice_changes_nothing(filled):
    store, products = filled
    before = store.stats()
    store.write(catalog_batch(products))
    store.write(catalog_batch(products))
    assert store.stats() == before


def test_get_nodes_keeps_order_and_skips_unknown(filled):
    store, _ = filled
    rows = store.get_nodes("Product", ["shop_a:3", "nope", "shop_a:1"], ["id", "price", "brand"])
    assert rows == [{"id": "shop_a:3", "price": 250.0, "brand": "nordvik"},
                    {"id": "shop_a:1", "price": 50.0, "brand": "acme"}]


def test_vectors_round_trip(filled):
    store, products = filled
    ids, matrix = store.get_vectors("Product", "text_vec", ["shop_a:2", "shop_a:1"])
    assert ids == ["shop_a:2", "shop_a:1"]
    assert matrix.dtype == np.float32 and matrix.shape == (2, SMALL_DIMS.text)
    np.testing.assert_allclose(matrix[1], products[0]["text_vec"], rtol=1e-6)


def test_get_metas_reads_the_keys_asked_for_with_none_for_missing(store):
    store.set_meta("colour", "blue")
    store.set_meta("size", "42")
    assert store.get_metas(["size", "nowhere", "colour"]) == {"size": "42", "nowhere": None, "colour": "blue"}
    assert store.get_metas([]) == {}


def test_null_vector_is_absent(store):
    store.write(catalog_batch([product("9", image_vec=None, image_missing=True)]))
    ids, matrix = store.get_vectors("Product", "image_vec", ["shop_a:9"])
    assert ids == [] and matrix.shape == (0, SMALL_DIMS.image)


def test_update_changes_properties_and_replaces_owned_edges(filled):
    store, products = filled
    changed = dict(products[0], brand="nordvik", price=55.0, content_hash="new")
    store.write(catalog_batch([changed]))
    assert store.get_nodes("Product", ["shop_a:1"], ["price", "brand"]) == [{"price": 55.0, "brand": "nordvik"}]
    brands = store.cypher("MATCH (p:Product {id: $id})-[:OF_BRAND]->(b:Brand) RETURN b.name AS b", {"id": "shop_a:1"})
    assert brands == [{"b": "nordvik"}]
    assert store.product_hashes(["shop_a:1", "shop_a:2"]) == {"shop_a:1": "new", "shop_a:2": "h-2-20"}


def test_duplicate_keys_in_one_batch_last_wins(store):
    first, second = product("7", price=1.0), product("7", price=2.0)
    store.write(catalog_batch([first, second]))
    assert store.count_nodes("Product") == 1
    assert store.get_nodes("Product", ["shop_a:7"], ["price"]) == [{"price": 2.0}]
    assert store.count_relationships("OF_BRAND") == 1


def test_failed_batch_leaves_nothing(filled):
    store, _ = filled
    before = store.stats()
    bad = catalog_batch([product("8")])
    bad.relationships["OF_BRAND"] = [{"src": "shop_a:8", "dst": "no-such-brand"}]
    with pytest.raises(ShopGraphError):
        store.write(bad)
    assert store.stats() == before
    assert store.get_nodes("Product", ["shop_a:8"]) == []


def test_relationship_properties_upsert(filled):
    store, _ = filled
    edge = {"src": "shop_a:1", "dst": "shop_b:1", "score": 0.7, "method": "test", "model_version": "v1"}
    store.write(GraphBatch(relationships={"SAME_AS": [edge]}))
    store.write(GraphBatch(relationships={"SAME_AS": [dict(edge, score=0.9)]}))
    assert store.relationship_pairs("SAME_AS", ["score", "method"]) == [
        {"src": "shop_a:1", "dst": "shop_b:1", "score": 0.9, "method": "test"}]


def test_relationship_upsert_updates_the_existing_pair_beside_new_pairs_of_the_same_nodes(filled):
    # The existing edges of an unkeyed type are found from their sources (embedded store): a source's
    # edge to another target, or another source's edge to the same target, is not the pair.
    store, _ = filled
    edge = {"src": "shop_a:1", "dst": "shop_b:1", "score": 0.7, "method": "test", "model_version": "v1"}
    store.write(GraphBatch(relationships={"SAME_AS": [edge]}))
    store.write(GraphBatch(relationships={"SAME_AS": [
        dict(edge, score=0.9), dict(edge, dst="shop_b:4", score=0.5), dict(edge, src="shop_a:2", score=0.4)]}))
    got = sorted((r["src"], r["dst"], r["score"]) for r in store.relationship_pairs("SAME_AS", ["score"]))
    assert got == [("shop_a:1", "shop_b:1", 0.9), ("shop_a:1", "shop_b:4", 0.5), ("shop_a:2", "shop_b:1", 0.4)]


def test_relationship_update_with_fewer_properties_keeps_the_others(filled):
    store, _ = filled
    edge = {"src": "shop_a:1", "dst": "shop_b:1", "score": 0.7, "method": "test", "model_version": "v1",
            "status": "review"}
    store.write(GraphBatch(relationships={"SAME_AS": [edge]}))
    store.write(GraphBatch(relationships={"SAME_AS": [{"src": "shop_a:1", "dst": "shop_b:1", "status": "accepted"}]}))
    assert store.relationship_pairs("SAME_AS", ["score", "method", "status"]) == [
        {"src": "shop_a:1", "dst": "shop_b:1", "score": 0.7, "method": "test", "status": "accepted"}]


def test_interactions_keyed_by_kind_and_time(filled):
    store, _ = filled
    edges = [{"src": "u1", "dst": "shop_a:1", "kind": "view", "value": 1.0, "timestamp": 1},
             {"src": "u1", "dst": "shop_a:1", "kind": "view", "value": 1.0, "timestamp": 2},
             {"src": "u1", "dst": "shop_a:1", "kind": "purchase", "value": 1.0, "timestamp": 2}]
    batch = GraphBatch(nodes={"User": [{"id": "u1"}]}, relationships={"INTERACTED": edges})
    store.write(batch)
    store.write(batch)
    assert store.count_relationships("INTERACTED") == 3
    # A row without a key property is refused whole (it would otherwise be written again on every
    # run by one store and overwrite all of that kind by the other); nothing of the batch is kept.
    bad = GraphBatch(nodes={"User": [{"id": "u2"}]}, relationships={"INTERACTED": [
        {"src": "u1", "dst": "shop_a:1", "kind": "view", "value": 5.0, "timestamp": None}]})
    with pytest.raises(SchemaError, match="INTERACTED row 'u1' -> 'shop_a:1' has no timestamp"):
        store.write(bad)
    assert store.count_relationships("INTERACTED") == 3 and store.get_nodes("User", ["u2"]) == []
    values = {(r["kind"], r["timestamp"]): r["value"] for r in store.relationship_pairs("INTERACTED", ["kind", "value", "timestamp"])}
    assert set(values.values()) == {1.0}


def test_delete_removes_node_edges_and_search_hits(filled):
    store, products = filled
    assert store.delete_nodes("Product", ["shop_a:1", "nope"]) == 1
    assert store.get_nodes("Product", ["shop_a:1"]) == []
    assert store.count_relationships("OF_BRAND") == 3
    hits = store.vector_search("fused_vec", products[0]["fused_vec"], 5)
    assert "shop_a:1" not in [i for i, _ in hits]


def test_vector_search_exact_scores_best_first(filled):
    store, products = filled
    query = products[2]["fused_vec"]
    hits = store.vector_search("fused_vec", query, 3)
    expected = sorted(((p["id"], float(np.dot(p["fused_vec"], query))) for p in products), key=lambda t: -t[1])[:3]
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-5)


def test_vector_search_sees_changed_vectors(filled):
    store, products = filled
    store.vector_search("text_vec", products[0]["text_vec"], 1)  # build and persist the index
    target = vec(99, SMALL_DIMS.text)
    store.write(catalog_batch([dict(products[3], text_vec=target, content_hash="x")]))
    hits = store.vector_search("text_vec", target, 1)
    assert hits[0][0] == "shop_b:1" and hits[0][1] == pytest.approx(1.0, abs=1e-5)


def test_set_vectors_write_back(filled):
    store, _ = filled
    new = np.stack([vec(123, SMALL_DIMS.fused), vec(124, SMALL_DIMS.fused)])
    store.set_vectors("Product", "fused_vec", ["shop_a:1", "shop_a:2"], new)
    hits = store.vector_search("fused_vec", new[1], 1)
    assert hits[0][0] == "shop_a:2"
    with pytest.raises(SchemaError):
        store.set_vectors("Product", "fused_vec", ["shop_a:1"], new)


def test_model_vectors_switch_with_the_model_record(filled):
    """A model's vector properties and its Meta record are written together; adding vectors of a
    model that is no longer the recorded one is refused and writes nothing (issue 13, finding 8)."""
    store, _ = filled
    ids = ["shop_a:1", "shop_a:2", "shop_a:3"]
    txt = np.stack([vec(300 + i, SMALL_DIMS.aligned) for i in range(3)])
    mm = np.stack([vec(400 + i, SMALL_DIMS.aligned) for i in range(3)])
    store.write_model_vectors("align", "m1", [VectorWrite("Product", "txt_emb", ids, txt),
                                              VectorWrite("Product", "mm_vec", ids[:2], mm[:2])])
    assert store.get_meta("model.align") == "m1"
    assert store.get_vectors("Product", "mm_vec", ids)[0] == ids[:2]
    assert store.vector_search("txt_emb", txt[2], 1)[0][0] == "shop_a:3"
    store.write_model_vectors("align", "m1", [VectorWrite("Product", "mm_vec", ids[2:], mm[2:])], switch=False)
    assert store.vector_search("mm_vec", mm[2], 1)[0][0] == "shop_a:3"
    store.write_model_vectors("align", "m2", [VectorWrite("Product", "txt_emb", ids[:1], txt[1:2])])
    assert store.get_meta("model.align") == "m2"
    with pytest.raises(ModelError, match="now m2, not m1"):
        store.write_model_vectors("align", "m1", [VectorWrite("Product", "txt_emb", ids[1:2], txt[:1])],
                                  switch=False)
    np.testing.assert_allclose(store.get_vectors("Product", "txt_emb", ["shop_a:2"])[1][0], txt[1], rtol=1e-6)
    with pytest.raises(SchemaError):
        store.write_model_vectors("align", "m3", [VectorWrite("Product", "txt_emb", ids, txt[:2])])
    assert store.get_meta("model.align") == "m2"


def test_a_batch_carrying_a_replaced_models_vectors_writes_nothing(filled):
    """An ingest's aligned vectors are written only while the model that made them is still the
    recorded one: a retrain in between (another process, on Neo4j) makes the batch fail whole,
    rather than leave products with vectors of a model nobody uses any more."""
    store, _ = filled
    aligned = np.stack([vec(500 + i, SMALL_DIMS.aligned) for i in range(2)])
    store.write_model_vectors("align", "m1", [VectorWrite("Product", "txt_emb", ["shop_a:1"], aligned[:1])])
    fresh = dict(product("new"), txt_emb=aligned[1], mm_vec=aligned[1])
    stale = catalog_batch([fresh])
    stale.models = {"align": "m0"}
    with pytest.raises(ModelError, match="now m1, not m0"):
        store.write(stale)
    assert store.get_nodes("Product", ["shop_a:new"]) == []
    current = catalog_batch([fresh])
    current.models = {"align": "m1"}
    store.write(current)
    assert store.get_vectors("Product", "txt_emb", ["shop_a:new"])[0] == ["shop_a:new"]


@pytest.mark.parametrize("filters, expected", [
    (Filters(brand="acme"), {"shop_a:1", "shop_a:2"}),
    (Filters(brand=("ACME", "Nordvik")), {"shop_a:1", "shop_a:2", "shop_a:3", "shop_b:1"}),
    (Filters(category="Audio"), {"shop_a:1", "shop_a:2", "shop_a:3"}),
    (Filters(category="Audio > Headphones"), {"shop_a:1", "shop_a:3"}),
    (Filters(category="Aud"), set()),
    (Filters(platform="shop_b"), {"shop_b:1", "shop_b:4"}),
    (Filters(price_min=40, price_max=200), {"shop_a:1", "shop_a:2"}),
    (Filters(brand="nordvik", category="Audio"), {"shop_a:3"}),
])
def test_filtered_search_returns_only_matches(filled, filters, expected):
    store, products = filled
    for exact in (False, True):
        hits = store.vector_search("fused_vec", products[0]["fused_vec"], 10, filters=filters, exact=exact)
        assert {i for i, _ in hits} == expected, f"exact={exact}"


def test_where_pattern_and_expression(filled):
    store, products = filled
    q = products[0]["fused_vec"]
    hits = store.vector_search("fused_vec", q, 10, where="(p)-[:OF_BRAND]->(b:Brand) WHERE b.display_name = $d",
                               params={"d": "NORDVIK"})
    assert {i for i, _ in hits} == {"shop_a:3", "shop_b:1"}
    hits = store.vector_search("fused_vec", q, 10, where="p.price < $cap", params={"cap": 60.0},
                               filters=Filters(platform="shop_a"))
    assert {i for i, _ in hits} == {"shop_a:1"}
    with pytest.raises(ReadOnlyError):
        store.vector_search("fused_vec", q, 10, where="(p) DETACH DELETE p")


def test_filtered_search_returns_k_when_filter_is_selective(store):
    products = [product(str(i), brand="common" if i else "rare", seed=i * 7) for i in range(60)]
    store.write(catalog_batch(products))
    hits = store.vector_search("fused_vec", products[5]["fused_vec"], 1, filters=Filters(brand="rare"))
    assert [i for i, _ in hits] == ["shop_a:0"]
    hits = store.vector_search("fused_vec", products[5]["fused_vec"], 10, filters=Filters(brand="common"))
    assert len(hits) == 10 and hits[0][0] == "shop_a:5"


def test_cypher_reads_with_parameters_and_refuses_writes(filled):
    store, _ = filled
    rows = store.cypher("MATCH (p:Product) WHERE p.price > $min RETURN p.id AS id ORDER BY id", {"min": 100})
    assert rows == [{"id": "shop_a:2"}, {"id": "shop_a:3"}]
    for query in ("MATCH (p:Product) SET p.price = 0", "CREATE (:Brand {name: 'x'})",
                  "MATCH (p) DETACH DELETE p", "MATCH (p) RETURN p; MATCH (b) DELETE b"):
        with pytest.raises(ReadOnlyError):
            store.cypher(query)
    store.cypher("MATCH (p:Product {id: $id}) SET p.price = 1.5", {"id": "shop_a:1"}, allow_write=True)
    assert store.get_nodes("Product", ["shop_a:1"], ["price"]) == [{"price": 1.5}]


def test_lexical_index_follows_a_write_query(filled):
    """A write query may change any product; the lexical index must not keep serving the old text.
    Neo4j does not restamp products after one (the embedded store does): it failed here before."""
    from shopgraph.search.lexical_sync import LexicalMirror

    store, _ = filled
    mirror = LexicalMirror(store, None)
    assert "shop_a:1" not in [i for i, _ in mirror.index().search("zebrawood lamp", 5)]
    store.cypher("MATCH (p:Product {id: $id}) SET p.title = $title", {"id": "shop_a:1", "title": "Zebrawood lamp"},
                 allow_write=True)
    assert [i for i, _ in mirror.index().search("zebrawood lamp", 5)] == ["shop_a:1"]
    store.cypher("MATCH (p:Product {id: $id}) SET p.title = $title", {"id": "shop_a:1", "title": "Plain lamp"},
                 allow_write=True)
    assert mirror.index().search("zebrawood", 5) == []


def test_schema_names_are_checked(filled):
    store, _ = filled
    with pytest.raises(SchemaError):
        store.get_nodes("Prodcut", ["x"])
    with pytest.raises(SchemaError):
        store.get_nodes("Product", ["x"], ["price; DROP"])
    with pytest.raises(SchemaError):
        store.write(GraphBatch(nodes={"Product": [dict(product("z"), colour="red")]}))
    with pytest.raises(SchemaError):
        store.vector_search("title", np.zeros(3), 1)


def test_iteration_and_pairs(filled):
    store, _ = filled
    ids = [row["id"] for batch in store.iter_nodes("Product", ["id"], batch_size=2) for row in batch]
    assert ids == sorted(ids) and len(ids) == 5
    pairs = store.relationship_pairs("SUBCATEGORY_OF")
    assert {(p["src"], p["dst"]) for p in pairs} == {("Audio > Headphones", "Audio"), ("Audio > Speakers", "Audio"),
                                                    ("Kitchen > Kettles", "Kitchen")}


def test_fused_vectors_rank_by_inner_product(store):
    """A fused vector shorter than 1 (no image channel) keeps its length: no boost from re-normalising."""
    direction = vec(5, SMALL_DIMS.fused)
    full = product("full", fused_vec=direction)
    short = product("short", fused_vec=0.5 * direction + 0.05 * vec(6, SMALL_DIMS.fused))
    store.write(catalog_batch([full, short]))
    for exact in (False, True):
        hits = store.vector_search("fused_vec", direction, 2, exact=exact)
        assert [i for i, _ in hits] == ["shop_a:full", "shop_a:short"], f"exact={exact}"
        assert hits[1][1] == pytest.approx(float(short["fused_vec"] @ direction), abs=1e-5)


def test_cypher_time_limit_stops_a_long_query(filled):
    store, _ = filled
    with pytest.raises(QueryTimeoutError, match="time limit"):
        # Ten billion rows unless stopped (a fast machine finished 20 million before Neo4j's
        # transaction monitor, which checks every 2 s by default, looked at it).
        store.cypher("UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y WITH x, y WHERE (x + y) % 7 = 3 "
                     "RETURN count(*) AS n", timeout=0.05)
    # The limit was for that query only.
    assert store.cypher("RETURN 1 AS one", timeout=5) == [{"one": 1}]
    assert len(store.cypher("MATCH (p:Product) RETURN p.id AS id")) == 5
