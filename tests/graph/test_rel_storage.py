"""Relationships into a few hub nodes are stored forward only in the embedded store (schema.RelType.
stored_backward): HAS_ATTRIBUTE's backward adjacency put every attribute edge of the graph on the
handful of Attribute nodes, which each checkpoint rewrote in memory until a 1M-product ingest died
with "buffer pool is full" (docs/benchmarks.md, Scale: "The 1M run"). Queries from the hub side still
answer, by a scan."""

from __future__ import annotations

from shopgraph.graph import schema as S
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_catalog_contract import CAPACITY_BETWEEN, RED_OF_BRAND, write_catalog


def _direction(store: EmbeddedStore, rel: str) -> str:
    """'fwd' or 'both' (table_info lists it per property, so only for a relationship with some)."""
    rows = store._rows_raw(f"CALL table_info('{rel}') RETURN DISTINCT storage_direction")
    return rows[0][0]


def test_attribute_edges_are_stored_forward_only_and_other_rels_both_ways(tmp_path):
    store = EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS)
    try:
        assert not S.REL_TYPES["HAS_ATTRIBUTE"].stored_backward
        assert _direction(store, "HAS_ATTRIBUTE") == "fwd"
        for name, rel in S.REL_TYPES.items():
            if rel.properties:
                assert _direction(store, name) == ("both" if rel.stored_backward else "fwd"), name
        assert S.REL_TYPES["HAS_IDENTIFIER"].stored_backward  # identifiers are not hubs: both ways
    finally:
        store.close()


def test_queries_from_the_attribute_side_still_answer(tmp_path):
    store = EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS)
    try:
        write_catalog(store)
        from_key = store.cypher('MATCH (a:Attribute {key: "color"})<-[e:HAS_ATTRIBUTE]-(p:Product) '
                                'WHERE e.norm = "red" RETURN p.id AS id ORDER BY id')
        assert [r["id"] for r in from_key] == ["shop_a:1", "shop_a:2", "shop_a:3"]
        assert [r["id"] for r in store.cypher(RED_OF_BRAND, {"brand": "acme"})] == ["shop_a:1", "shop_a:2"]
        assert [r["id"] for r in store.cypher(CAPACITY_BETWEEN, {"low": 100e9, "high": 500e9})] == [
            "shop_a:1", "shop_a:3", "shop_b:9"]
    finally:
        store.close()
