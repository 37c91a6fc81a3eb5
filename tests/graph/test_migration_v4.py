"""Schema version 3 -> 4 (issue 15: identifiers, attributes, several images, source file, tombstones).

A version 3 database is made by `build_v3` below as the version 3 code made it (the version 4 tables
and columns left out), then opened by today's store: upgraded in place in one transaction, its data
kept, the new tables usable; opened read-only first it is refused with the way out. On Neo4j a
version 3 graph lacks the new labels' constraints: opening it read-write adds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopgraph.errors import StoreError
from shopgraph.graph import schema as S
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.store import GraphBatch
from tests.contract.conftest import SMALL_DIMS
from tests.graph.test_migration import DDL, columns, vector

NEW_LABELS = ("Identifier", "Attribute")
NEW_RELS = ("HAS_IDENTIFIER", "HAS_ATTRIBUTE")
NEW_PRODUCT_PROPERTIES = ("images", "source", "gone")


def _ddl(prop: str, kind: str) -> str:
    return f"FLOAT[{SMALL_DIMS.of(prop)}]" if kind == S.VECTOR else DDL[kind]


def build_v3(path: Path) -> None:
    """A version 3 shopgraph database, made with LadybugDB directly: two products, a brand, a SAME_AS."""
    import ladybug

    database = ladybug.Database(str(path))
    conn = ladybug.Connection(database)
    try:
        for label, node in S.NODE_TYPES.items():
            if label in NEW_LABELS:
                continue
            props = {p: t for p, t in node.properties.items() if not (label == "Product" and p in NEW_PRODUCT_PROPERTIES)}
            cols = ", ".join(f"{p} {_ddl(p, t)}" for p, t in props.items())
            conn.execute(f"CREATE NODE TABLE {label}({cols}, PRIMARY KEY ({node.key}))")
        for name, rel in S.REL_TYPES.items():
            if name in NEW_RELS:
                continue
            extra = "".join(f", {p} {DDL[t]}" for p, t in rel.properties.items())
            conn.execute(f"CREATE REL TABLE {name}(FROM {rel.src} TO {rel.dst}{extra})")
        meta = {"schema_version": "3", "generation": "1", "dim_text": str(SMALL_DIMS.text),
                "dim_image": str(SMALL_DIMS.image), "dim_lexical": str(SMALL_DIMS.lexical),
                "dim_aligned": str(SMALL_DIMS.aligned), "dim_gnn": str(SMALL_DIMS.gnn)}
        for key, value in meta.items():
            conn.execute("CREATE (:Meta {key: $k, value: $v})", {"k": key, "v": value})
        for n in range(2):
            conn.execute(f"CREATE (:Product {{id: $id, platform: 'shop', source_id: $sid, title: $title, "
                         f"content_hash: 'h', rev: 1, text_vec: CAST($v AS FLOAT[{SMALL_DIMS.text}])}})",
                         {"id": f"shop:{n}", "sid": str(n), "title": f"Kettle {n}", "v": vector(n, SMALL_DIMS.text)})
        conn.execute("CREATE (:Brand {name: 'acme', display_name: 'Acme'})")
        conn.execute("MATCH (p:Product), (b:Brand {name: 'acme'}) CREATE (p)-[:OF_BRAND]->(b)")
        conn.execute("MATCH (a:Product {id: 'shop:0'}), (b:Product {id: 'shop:1'}) "
                     "CREATE (a)-[:SAME_AS {score: 0.9, method: 'label', status: 'label'}]->(b)")
    finally:
        conn.close()
        database.close()


@pytest.fixture
def v3_db(tmp_path) -> Path:
    path = tmp_path / "v3.db"
    build_v3(path)
    return path


def tables(path: Path) -> set[str]:
    import ladybug

    database = ladybug.Database(str(path), read_only=True)
    conn = ladybug.Connection(database)
    try:
        return {row[1] for row in conn.execute("CALL show_tables() RETURN *").get_all()}
    finally:
        conn.close()
        database.close()


def test_read_only_open_of_version_3_is_refused_and_changes_nothing(v3_db):
    with pytest.raises(StoreError, match="schema version 3.*read-write to upgrade"):
        EmbeddedStore.open(v3_db, read_only=True)
    assert not set(NEW_LABELS) & tables(v3_db) and "images" not in columns(v3_db, "Product")


def test_version_3_is_upgraded_in_place_and_keeps_its_data(v3_db):
    with EmbeddedStore.open(v3_db) as store:
        assert store.get_meta("schema_version") == "4"
        rows = store.get_nodes("Product", ["shop:0", "shop:1"])
        assert [r["title"] for r in rows] == ["Kettle 0", "Kettle 1"]
        assert all(r["images"] is None and r["source"] is None and r["gone"] is None for r in rows)
        assert store.relationship_pairs("SAME_AS", ["status"]) == [{"src": "shop:0", "dst": "shop:1", "status": "label"}]
        got, vectors = store.get_vectors("Product", "text_vec", ["shop:0", "shop:1"])
        assert got == ["shop:0", "shop:1"] and np.allclose(vectors[1], vector(1, SMALL_DIMS.text), atol=1e-6)
        # The new tables work.
        store.write(GraphBatch(
            nodes={"Identifier": [{"key": "mpn:k1", "scheme": "mpn", "value": "k1"}], "Attribute": [{"key": "color"}],
                   "Product": [{"id": "shop:0", "images": ["a.jpg", "https://x.example/b.jpg"], "source": "f.csv"}]},
            relationships={"HAS_IDENTIFIER": [{"src": "shop:0", "dst": "mpn:k1", "raw": "K-1"}],
                           "HAS_ATTRIBUTE": [{"src": "shop:1", "dst": "color", "value": "Red", "norm": "red"}]}))
        assert store.retire_products(["shop:0"]) == (0, 1)    # a SAME_AS names it: a tombstone
    assert set(NEW_LABELS) | set(NEW_RELS) <= tables(v3_db)
    assert columns(v3_db, "Product")["images"] == "STRING[]"
    with EmbeddedStore.open(v3_db, read_only=True) as store:   # now version 4: read-only is fine
        assert store.get_nodes("Product", ["shop:0"])[0]["gone"] is True
        assert store.relationship_pairs("HAS_ATTRIBUTE", ["value"]) == [{"src": "shop:1", "dst": "color", "value": "Red"}]


def test_neo4j_version_3_graph_gets_the_new_constraints(neo4j_empty):
    from shopgraph.config import Neo4jConfig
    from shopgraph.graph import neo4j_cypher as Q
    from shopgraph.graph.neo4j_store import Neo4jStore

    def open_store(read_only=False):
        return Neo4jStore.open(None, config=Neo4jConfig(exact_max=0), dims=SMALL_DIMS, read_only=read_only)

    def constraints(store):
        return {r["name"] for r in store.cypher("SHOW CONSTRAINTS YIELD name RETURN name")}

    with open_store() as store:   # make it look like version 3: no constraints for the new labels
        for label in NEW_LABELS:
            store._write_tx(lambda tx, label=label: store._run(tx, f"DROP CONSTRAINT {Q.constraint_name(label)}", {}))
        store.set_meta("schema_version", "3")
        assert not {Q.constraint_name(label) for label in NEW_LABELS} & constraints(store)
    with open_store(read_only=True) as store:   # read-only: left as it is
        assert store.get_meta("schema_version") == "3"
    with open_store() as store:
        assert store.get_meta("schema_version") == "4"
        assert {Q.constraint_name(label) for label in NEW_LABELS} <= constraints(store)
