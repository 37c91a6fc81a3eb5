"""Neo4jStore behaviour that only a real server shows (the session's live Neo4j, tests/neo4j_live.py):
the schema it makes, refusals on open, what clear() leaves, MERGE against parallel relationships,
vectors too wide for an index, full-text search, and every Cypher text the store and the rest of
shopgraph send, checked by the server's own parser and planner (EXPLAIN runs nothing)."""

from __future__ import annotations

import ast

import pytest

from shopgraph.config import Neo4jConfig
from shopgraph.errors import SchemaError, StoreError
from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph.filters import candidate_query
from shopgraph.graph.neo4j_store import SEARCH_CLAUSE_VERSION, Neo4jStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import Filters, GraphBatch
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product, vec
from tests.helpers import REPO


def open_live(dims: VectorDims | None = SMALL_DIMS, *, read_only: bool = False, trace=None, **config) -> Neo4jStore:
    return Neo4jStore.open(None, dims=dims, read_only=read_only, config=Neo4jConfig(**config), trace=trace)


def own_indexes(store: Neo4jStore) -> dict[str, dict]:
    rows = store.cypher("SHOW INDEXES YIELD name, type, options WHERE name STARTS WITH 'sg_' "
                        "RETURN name, type, options.indexConfig AS config")
    return {r["name"]: r for r in rows}


def test_a_new_database_gets_constraints_cosine_vector_indexes_and_meta(neo4j_empty):
    with open_live(VectorDims()) as store:
        found = own_indexes(store)
        assert {n for n, r in found.items() if r["type"] == "VECTOR"} == {
            "sg_product_text_vec", "sg_product_image_vec", "sg_product_lex_vec", "sg_product_txt_emb",
            "sg_product_img_emb", "sg_product_mm_vec"}  # none for fused_vec / gnn_vec (inner product)
        assert found["sg_product_text_vec"]["config"]["vector.dimensions"] == 384
        assert found["sg_product_text_vec"]["config"]["vector.similarity_function"] == "COSINE"
        assert found["sg_product_fulltext"]["type"] == "FULLTEXT" and "sg_product_platform" in found
        constraints = {r["name"] for r in store.cypher(
            "SHOW CONSTRAINTS YIELD name, type WHERE type = 'UNIQUENESS' RETURN name")}
        assert constraints == {Q.constraint_name(label) for label in
                               ("Product", "Brand", "Category", "Platform", "User", "Identifier", "Attribute", "Meta")}
        assert store.get_meta("schema_version") == "4" and store.get_meta("dim_text") == "384"
        assert store.edition == "community" and store.server_version >= (5, 18)
    sent: list[str] = []
    with open_live(None, trace=lambda query, params: sent.append(query)):
        assert not any(q.startswith(("CREATE", "DROP")) for q in sent)  # opened again: nothing to make


def test_opening_refuses_other_widths_a_newer_schema_and_an_empty_read_only_database(neo4j_empty):
    with pytest.raises(StoreError, match="holds no shopgraph graph"):
        open_live(None, read_only=True)
    with open_live() as store:
        store.write(catalog_batch([product("1")]))
    with pytest.raises(SchemaError, match="vector widths"):
        open_live(VectorDims())
    with open_live(None) as store:
        assert store.dims == SMALL_DIMS
        store.set_meta("schema_version", "5")
    for read_only in (False, True):
        with pytest.raises(SchemaError, match="schema version 5; this shopgraph reads version 4 and older"):
            open_live(None, read_only=read_only)
    with _raw() as driver:  # not rewritten
        assert driver.execute_query("MATCH (m:Meta {key: 'schema_version'}) RETURN m.value AS v").records[0]["v"] == "5"


def _raw():
    """A plain driver to the live Neo4j (NEO4J_* set by neo4j_env)."""
    import os

    import neo4j

    return neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"],
                                      auth=(os.environ["NEO4J_USERNAME"], os.environ["NEO4J_PASSWORD"]))


def test_a_closed_store_says_so(neo4j_empty):
    store = open_live()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count_nodes("Product")


def test_clear_deletes_every_node_and_with_drop_schema_its_indexes(neo4j_empty):
    with open_live(write_rows=8) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(30)]))
        store.clear()
        assert all(n == 0 for n in store.stats().values()) and store.get_meta("schema_version") is None
        assert "sg_product_text_vec" in own_indexes(store)
        store.clear(drop_schema=True)
        assert own_indexes(store) == {}
        assert not store.cypher("SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'sg_' RETURN name")


def test_a_row_naming_a_missing_node_fails_even_where_merge_matches_parallel_relationships(neo4j_empty):
    """MERGE matches every existing relationship of a row's key; counting matched relationships would
    hide a row whose end is missing (here: one row finds no Brand, the other matches two old edges)."""
    with open_live() as store:
        store.write(catalog_batch([product("1"), product("2")]))
        store.cypher("MATCH (p:Product {id: 'shop_a:1'}), (b:Brand {name: 'acme'}) CREATE (p)-[:OF_BRAND]->(b)",
                     allow_write=True)
        assert store.count_relationships("OF_BRAND") == 3  # two parallel edges shop_a:1 -> acme
        batch = GraphBatch(relationships={"OF_BRAND": [{"src": "shop_a:1", "dst": "acme"},
                                                       {"src": "shop_a:2", "dst": "ghost"}]})
        with pytest.raises(StoreError, match="1 OF_BRAND rows name a Product or Brand that is not in the graph"):
            store.write(batch)
        assert store.count_relationships("OF_BRAND") == 3


def test_vectors_wider_than_an_index_takes_are_searched_exactly(neo4j_empty):
    """Neo4j's vector indexes take at most 4096 dimensions: a wider property gets no index, and the
    store opens and searches it exactly instead of refusing."""
    wide = VectorDims(text=5000, image=SMALL_DIMS.image, lexical=SMALL_DIMS.lexical)
    with open_live(wide, exact_max=0) as store:
        found = own_indexes(store)
        assert "sg_product_text_vec" not in found and "sg_product_image_vec" in found
        products = [product(str(i), seed=i, text_vec=vec(i, 5000), fused_vec=vec(i, wide.fused)) for i in range(6)]
        store.write(catalog_batch(products))
        hits = store.vector_search("text_vec", products[4]["text_vec"], 3)
        assert hits[0] == ("shop_a:4", pytest.approx(1.0, abs=1e-5))


def test_fulltext_search_finds_words_in_title_description_and_brand(neo4j_empty):
    with open_live() as store:
        products = [product("1", title="Brakmoor urban backpack 22 l"),
                    product("2", title="Kettle", description="a steel kettle for any backpack trip"),
                    product("3", title="Frying pan", brand="nordvik"),
                    product("4", title="sm-g991b (black) case")]
        store.write(catalog_batch(products))
        hits = store.fulltext_search("backpack", 10)
        assert [i for i, _ in hits][:1] == ["shop_a:1"] and {i for i, _ in hits} == {"shop_a:1", "shop_a:2"}
        assert all(score > 0 for _, score in hits)
        assert [i for i, _ in store.fulltext_search("NORDVIK", 10)] == ["shop_a:3"]
        # Lucene syntax in the words is escaped: it finds the text, and never fails to parse.
        assert [i for i, _ in store.fulltext_search("sm-g991b (black) AND title:x", 10)] == ["shop_a:4"]
        assert store.fulltext_search('"unbalanced [', 10) == [] and store.fulltext_search("  ", 10) == []


# -- every Cypher text, checked by the server ------------------------------------------------------
def _caller_literals() -> list[tuple[str, str]]:
    """(file:line, text) of every constant string passed as the query to a .cypher(...) call in
    shopgraph/, and of query texts kept in constants before being passed (matching's graph_labels):
    the Cypher the rest of shopgraph sends must run unchanged on Neo4j."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "shopgraph").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cypher" \
                    and node.args:
                try:
                    found.setdefault(ast.literal_eval(node.args[0]), where)
                except ValueError:
                    pass  # a variable: user text, or one of the constants found below
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("MATCH (") \
                    and "RETURN" in node.value and "neo4j_cypher" not in str(path) and "embedded" not in str(path):
                found.setdefault(node.value, where)
    return [(where, text) for text, where in found.items()]


CALLER_QUERIES = _caller_literals()


def test_callers_queries_were_found():
    files = {where.split(":")[0] for where, _ in CALLER_QUERIES}
    assert {"shopgraph/matching/pipeline.py", "shopgraph/matching/listings.py", "shopgraph/queries/api.py",
            "shopgraph/gnn/training.py", "shopgraph/demo/run.py"} <= files


def test_every_text_the_store_and_shopgraph_send_is_valid_neo4j_cypher(neo4j_empty):
    """Every builder of neo4j_cypher over the whole schema, every candidate query shape, and every
    Cypher literal in shopgraph/ (run through EXPLAIN: parsed and planned, not run). The SEARCH
    clause texts need Neo4j 2026.01+; older servers are never sent them."""
    with open_live() as store:
        texts = [(name, text) for name, _, text in Q.every_statement()
                 if not text.startswith("CYPHER 25") or store.server_version >= SEARCH_CLAUSE_VERSION]
        texts += [(where, text) for where, text in CALLER_QUERIES]
        for filters, where in [(Filters(brand="acme"), None),
                               (Filters(brand=("a", "b"), category="Audio", platform=("x",), price_min=1, price_max=5), None),
                               (None, "(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $brand"),
                               (Filters(platform="shop_a"), "p.price < $cap")]:
            texts.append(("candidate_query", candidate_query(filters, where, {"brand": "x", "cap": 1})[0]))
    import neo4j

    failed = []
    with _raw() as driver, driver.session(database=neo4j_empty.database) as session:
        for name, text in texts:
            try:
                session.run(f"EXPLAIN {text}").consume()  # its own transaction: schema and data never mix
            except neo4j.exceptions.Neo4jError as e:
                failed.append(f"{name}: {text[:80]} -> {e.message}")
    assert failed == [] and len(texts) > 100
