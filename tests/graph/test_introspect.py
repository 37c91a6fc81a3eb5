"""Schema introspection (ShopGraph.schema, `shopgraph schema`), platforms in `stats` and in the ingest
summary, and what the embedded store's Cypher offers instead of Neo4j's `CALL db.labels()`; on both
stores."""

from __future__ import annotations

import json

import pytest

from shopgraph.cli import main
from shopgraph.errors import StoreError
from shopgraph.graph import schema as S
from shopgraph.graph.introspect import key_count_query, keyed_elements


@pytest.fixture(params=["embedded", "neo4j"])
def any_graph(request, demo_graph, tmp_path):
    """The demo graph: the embedded database read-only, or migrated into the live Neo4j."""
    from dataclasses import replace

    from shopgraph.config import Config
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.migrate import migrate
    from shopgraph.queries.api import ShopGraph

    if request.param == "embedded":
        with ShopGraph.open(demo_graph.db, read_only=True) as sg:
            yield sg
        return
    request.getfixturevalue("neo4j_empty")
    config = Config()
    sg = ShopGraph.open("neo4j", config=replace(config, neo4j=replace(config.neo4j, local_dir=str(tmp_path))))
    with EmbeddedStore.open(demo_graph.db, read_only=True) as source:
        migrate(source, sg.store)
    yield sg
    sg.close()


def test_schema_describes_every_label_and_type_with_counts(any_graph):
    schema = any_graph.schema()
    stats = any_graph.stats()
    assert [x.label for x in schema.labels] == list(S.DATA_LABELS)
    assert [x.type for x in schema.relationships] == list(S.REL_TYPES)
    assert {x.label: x.count for x in schema.labels} == {k: stats[k] for k in S.DATA_LABELS}
    assert {x.type: x.count for x in schema.relationships} == {k: stats[k] for k in S.REL_TYPES}
    assert schema.version == any_graph.store.get_meta("schema_version")
    product = next(x for x in schema.labels if x.label == "Product")
    props = {p.name: p for p in product.properties}
    assert set(props) == set(S.NODE_TYPES["Product"].properties)
    assert props["text_vec"].width == any_graph.store.dims.text and props["fused_vec"].width == any_graph.store.dims.fused
    assert props["id"].filled == product.count and props["title"].max_chars > 10
    assert props["price"].type == "DOUBLE" and props["price"].filled <= product.count
    assert props["gnn_vec"].filled == 0  # not trained
    assert props["fused_vec"].filled == props["text_vec"].filled  # derived ones counted (embedded store)
    same_as = next(x for x in schema.relationships if x.type == "SAME_AS")
    assert {p.name for p in same_as.properties} == set(S.REL_TYPES["SAME_AS"].properties)
    assert sum(p["products"] for p in schema.platforms) == stats["Product"]
    assert [p["name"] for p in schema.platforms] == sorted(p["name"] for p in schema.platforms)  # equal counts
    text = schema.render()
    assert "shop_a: " in text and "(:Product)-[:SAME_AS]->(:Product)" in text and "VECTOR[384]" in text
    json.dumps(schema.to_dict())


def test_attribute_keys_are_found_on_any_keyed_label_or_type():
    """Generic over the schema: a label or relationship type with a `key` property (an attribute's
    name) has its keys counted: schema 4's Attribute nodes, not its Identifier nodes (values)."""
    assert keyed_elements() == [("node", "Attribute")]
    nodes = {**S.NODE_TYPES, "Attribute": S.NodeType("Attribute", "id", {"id": S.STRING, "key": S.STRING})}
    rels = {**S.REL_TYPES, "HAS_ATTRIBUTE": S.RelType("HAS_ATTRIBUTE", "Product", "Attribute", {"value": S.STRING}),
            "HAS_SPEC": S.RelType("HAS_SPEC", "Product", "Brand", {"key": S.STRING})}
    assert keyed_elements(nodes, rels) == [("node", "Attribute"), ("rel", "HAS_SPEC")]
    assert key_count_query("node", "Attribute", rels) == (
        "MATCH (:Product)-[r:HAS_ATTRIBUTE]->(a:Attribute) RETURN a.key AS key, count(r) AS n ORDER BY n DESC, key")
    assert key_count_query("rel", "HAS_SPEC", rels).startswith("MATCH (:Product)-[r:HAS_SPEC]->(:Brand) RETURN r.key")


def test_cli_schema_stats_and_ingest_name_the_platforms(demo_graph, capsys, tmp_path):
    db = str(demo_graph.db)
    assert main(["schema", "--db", db]) == 0
    assert "platforms\n  shop_a: " in capsys.readouterr().out
    assert main(["schema", "--db", db, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in data["platforms"]} == {"shop_a", "shop_b"}
    assert main(["stats", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "platform shop_a: " in out and "platform shop_b: " in out
    assert "platforms            shop_a, shop_b" in demo_graph.summary.render()
    catalog = tmp_path / "c.csv"
    catalog.write_text("sku,name\n1,Steel kettle\n", encoding="utf-8")
    assert main(["ingest", str(catalog), "--db", str(tmp_path / "n.db"), "--platform", "kettles", "--id-col", "sku",
                 "--title-col", "name", "--no-progress"]) == 0
    assert "platforms            kettles" in capsys.readouterr().out


def test_embedded_dialect_catalog_calls_pass_the_read_only_guard(demo_graph):
    from shopgraph.queries.api import ShopGraph

    with ShopGraph.open(demo_graph.db, read_only=True) as sg:
        tables = {r["name"]: r["type"] for r in sg.cypher("CALL show_tables() RETURN *")}
        assert {k: "NODE" for k in S.DATA_LABELS}.items() <= tables.items()
        assert {k: "REL" for k in S.REL_TYPES}.items() <= tables.items()
        columns = {r["name"]: r["type"] for r in sg.cypher("CALL table_info('Product') RETURN *")}
        assert columns["price"] == "DOUBLE" and columns["text_vec"].startswith("FLOAT[")
        ends = sg.cypher("CALL show_connection('SAME_AS') RETURN *")[0]
        assert ends["source table name"] == "Product"
        assert sg.cypher("MATCH (p:Product) RETURN p.title AS comment LIMIT 1")[0]["comment"]
        with pytest.raises(StoreError, match=r"no db\.\* procedures: use ShopGraph.schema\(\)"):
            sg.cypher("CALL db.labels() YIELD label RETURN label")


def test_neo4j_catalog_procedures_pass_the_guard(neo4j_empty):
    from shopgraph.graph.neo4j_store import Neo4jStore

    with Neo4jStore.open(None) as store:
        store.cypher("CALL db.labels() YIELD label RETURN label")
        store.cypher("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType")
        assert store.cypher("RETURN 1 AS comment") == [{"comment": 1}]
