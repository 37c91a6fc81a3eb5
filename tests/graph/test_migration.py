"""Schema versions 1 -> 2 -> 3 -> 4: a database written before the learned vectors (2), the matching
review columns (3) and identifiers / attributes / several images (4) existed is upgraded in place when
opened read-write, and refused (with the way out) when opened read-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopgraph.errors import StoreError
from shopgraph.graph import schema as S
from shopgraph.graph.embedded import SCHEMA_VERSION, EmbeddedStore
from shopgraph.graph.store import GraphBatch

V1_DIMS = S.VectorDims(text=8, image=6, lexical=4)
ADDED = {"Product": ("txt_emb", "img_emb", "mm_vec", "gnn_vec"), "User": ("gnn_vec",)}
# Version 4: left out of the version 1 database too (tests/graph/test_migration_v4.py upgrades a version 3 one).
ADDED_IN_4 = {"Product": ("images", "source", "gone")}
LABELS_IN_4 = ("Identifier", "Attribute")
RELS_IN_4 = ("HAS_IDENTIFIER", "HAS_ATTRIBUTE")
DDL = {S.STRING: "STRING", S.DOUBLE: "DOUBLE", S.INT64: "INT64", S.BOOL: "BOOLEAN"}


ADDED_REL_PROPERTIES = {"SAME_AS": ("status", "evidence")}
ADDED_REL_TYPES = ("DIFFERENT_FROM",) + RELS_IN_4


def v1_rel_properties(name: str) -> dict[str, str]:
    return {p: t for p, t in S.REL_TYPES[name].properties.items() if p not in ADDED_REL_PROPERTIES.get(name, ())}


def v1_properties(label: str) -> dict[str, str]:
    return {p: t for p, t in S.NODE_TYPES[label].properties.items()
            if p not in ADDED.get(label, ()) + ADDED_IN_4.get(label, ())}


def vector(seed: int, dim: int) -> list[float]:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


PRODUCTS = [
    {"id": f"shop:{n}", "platform": "shop", "source_id": str(n), "title": f"Kettle {n}", "description": "steel",
     "price": 10.0 + n, "currency": "EUR", "brand": "Acme", "category": "kitchen", "image_ref": None,
     "image_missing": n == 1, "content_hash": f"h{n}", "rev": 1,
     "text_vec": vector(n, V1_DIMS.text), "image_vec": None if n == 1 else vector(10 + n, V1_DIMS.image),
     "lex_vec": vector(20 + n, V1_DIMS.lexical), "fused_vec": vector(30 + n, V1_DIMS.fused)}
    for n in range(3)]


def build_v1(path: Path) -> None:
    """A shopgraph database as schema version 1 wrote it, made with LadybugDB directly."""
    import ladybug

    database = ladybug.Database(str(path))
    conn = ladybug.Connection(database)
    try:
        for label, node in S.NODE_TYPES.items():
            if label in LABELS_IN_4:
                continue
            columns = ", ".join(f"{p} {f'FLOAT[{V1_DIMS.of(p)}]' if t == S.VECTOR else DDL[t]}"
                                for p, t in v1_properties(label).items())
            conn.execute(f"CREATE NODE TABLE {label}({columns}, PRIMARY KEY ({node.key}))")
        for name, rel in S.REL_TYPES.items():
            if name in ADDED_REL_TYPES:
                continue
            props = "".join(f", {p} {DDL[t]}" for p, t in v1_rel_properties(name).items())
            conn.execute(f"CREATE REL TABLE {name}(FROM {rel.src} TO {rel.dst}{props})")
        meta = {"schema_version": "1", "generation": "1", "dim_text": str(V1_DIMS.text),
                "dim_image": str(V1_DIMS.image), "dim_lexical": str(V1_DIMS.lexical)}
        for key, value in meta.items():
            conn.execute("CREATE (:Meta {key: $k, value: $v})", {"k": key, "v": value})
        props = v1_properties("Product")
        for row in PRODUCTS:
            assignments = ", ".join(
                f"{p}: CAST(${p} AS FLOAT[{V1_DIMS.of(p)}])" if t == S.VECTOR else f"{p}: ${p}"
                for p, t in props.items() if row[p] is not None)
            conn.execute(f"CREATE (:Product {{{assignments}}})", {p: v for p, v in row.items() if v is not None})
        conn.execute("CREATE (:Platform {name: 'shop'}), (:Brand {name: 'acme', display_name: 'Acme'}), "
                     "(:User {id: 'shop:u1'}), (:User {id: 'shop:u2'})")
        conn.execute("MATCH (p:Product), (b:Brand {name: 'acme'}) CREATE (p)-[:OF_BRAND]->(b)")
        conn.execute("MATCH (p:Product), (s:Platform {name: 'shop'}) CREATE (p)-[:LISTED_ON]->(s)")
        conn.execute("MATCH (u:User {id: 'shop:u1'}), (p:Product {id: 'shop:2'}) "
                     "CREATE (u)-[:INTERACTED {kind: 'purchase', value: 1.0, timestamp: 7}]->(p)")
        conn.execute("MATCH (a:Product {id: 'shop:0'}), (b:Product {id: 'shop:1'}) "
                     "CREATE (a)-[:SAME_AS {score: 0.9, method: 'label', model_version: 'v1'}]->(b)")
    finally:
        conn.close()
        database.close()


def columns(path: Path, label: str) -> dict[str, str]:
    import ladybug

    database = ladybug.Database(str(path), read_only=True)
    conn = ladybug.Connection(database)
    try:
        return {row[1]: row[2] for row in conn.execute(f"CALL table_info('{label}') RETURN *").get_all()}
    finally:
        conn.close()
        database.close()


@pytest.fixture
def v1_db(tmp_path) -> Path:
    path = tmp_path / "old.db"
    build_v1(path)
    return path


def test_the_hand_made_database_is_version_1(v1_db):
    assert "mm_vec" not in columns(v1_db, "Product") and set(columns(v1_db, "User")) == {"id"}
    assert set(columns(v1_db, "Product")) == (set(S.NODE_TYPES["Product"].properties) - set(ADDED["Product"])
                                              - set(ADDED_IN_4["Product"]))


def test_open_upgrades_to_the_current_version(v1_db):
    with EmbeddedStore.open(v1_db) as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        assert store.get_meta("dim_aligned") == "256" and store.get_meta("dim_gnn") == "128"
        assert store.dims == S.VectorDims(text=8, image=6, lexical=4, aligned=256, gnn=128)
        for prop in ADDED["Product"]:
            assert store.count_with_vector(prop) == 0, prop
        assert store.cypher("MATCH (u:User) WHERE u.gnn_vec IS NULL RETURN count(u) AS n")[0]["n"] == 2
    product_columns, user_columns = columns(v1_db, "Product"), columns(v1_db, "User")
    for prop in ("txt_emb", "img_emb", "mm_vec"):
        assert product_columns[prop] == "FLOAT[256]"
    assert product_columns["gnn_vec"] == "FLOAT[128]" and user_columns["gnn_vec"] == "FLOAT[128]"


def test_upgrade_keeps_the_old_data(v1_db):
    with EmbeddedStore.open(v1_db) as store:
        ids = [p["id"] for p in PRODUCTS]
        rows = store.get_nodes("Product", ids)
        plain = [p for p, t in v1_properties("Product").items() if t != S.VECTOR]
        assert [{p: r[p] for p in plain} for r in rows] == [{p: row[p] for p in plain} for row in PRODUCTS]
        for prop in ("text_vec", "lex_vec", "fused_vec", "image_vec"):
            got, vectors = store.get_vectors("Product", prop, ids)
            expected = [row for row in PRODUCTS if row[prop] is not None]
            assert got == [row["id"] for row in expected]
            np.testing.assert_allclose(vectors, [row[prop] for row in expected], rtol=1e-6)
        assert store.relationship_pairs("INTERACTED", ["kind", "timestamp"]) == [
            {"src": "shop:u1", "dst": "shop:2", "kind": "purchase", "timestamp": 7}]
        assert len(store.relationship_pairs("OF_BRAND")) == 3
        assert store.count_nodes("User") == 2 and store.get_meta("generation") == "1"
        hit = store.vector_search("text_vec", np.array(PRODUCTS[1]["text_vec"]), 1, exact=True)
        assert hit[0][0] == "shop:1"


def test_new_columns_are_usable_after_the_upgrade(v1_db):
    with EmbeddedStore.open(v1_db) as store:
        mm = np.eye(3, 256, dtype=np.float32)
        store.set_vectors("Product", "mm_vec", ["shop:0", "shop:1", "shop:2"], mm)
        store.set_vectors("User", "gnn_vec", ["shop:u2"], np.full((1, 128), 0.5, np.float32))
        assert store.vector_search("mm_vec", mm[2], 1)[0][0] == "shop:2"
    with EmbeddedStore.open(v1_db) as store:  # opening again: already the current version, nothing to do
        assert store.get_meta("schema_version") == SCHEMA_VERSION
        got, vectors = store.get_vectors("User", "gnn_vec", ["shop:u1", "shop:u2"])
        assert got == ["shop:u2"] and np.allclose(vectors, 0.5)
        assert store.count_with_vector("mm_vec") == 3


def test_read_only_open_of_version_1_is_refused(v1_db):
    with pytest.raises(StoreError, match="schema version 1.*read-write to upgrade") as info:
        EmbeddedStore.open(v1_db, read_only=True)
    assert "\n" not in str(info.value)
    assert "mm_vec" not in columns(v1_db, "Product")  # untouched
    with EmbeddedStore.open(v1_db) as store:  # and the refused attempt left nothing locked
        assert store.get_meta("schema_version") == SCHEMA_VERSION


def test_version_3_adds_the_review_columns_and_keeps_same_as_edges(v1_db):
    assert "status" not in columns(v1_db, "SAME_AS")
    with EmbeddedStore.open(v1_db) as store:
        assert store.relationship_pairs("SAME_AS", ["score", "method", "status"]) == [
            {"src": "shop:0", "dst": "shop:1", "score": 0.9, "method": "label", "status": None}]
        store.write(GraphBatch(relationships={
            "SAME_AS": [{"src": "shop:0", "dst": "shop:1", "status": "accepted", "evidence": "[]"}],
            "DIFFERENT_FROM": [{"src": "shop:0", "dst": "shop:2", "method": "review", "model_version": "m"}]}))
        assert store.relationship_pairs("SAME_AS", ["status"]) == [{"src": "shop:0", "dst": "shop:1", "status": "accepted"}]
        assert store.relationship_pairs("DIFFERENT_FROM") == [{"src": "shop:0", "dst": "shop:2"}]
    assert {"status", "evidence"} <= set(columns(v1_db, "SAME_AS"))
