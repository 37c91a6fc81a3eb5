"""Live Neo4j checks beyond the store contract (run when NEO4J_URI is set, e.g. `make test-neo4j`):
the migration round trip embedded -> Neo4j -> embedded, the API and CLI on a Neo4j URI, and the
error for bad credentials from a real server."""

from __future__ import annotations

import os

import numpy as np
import pytest

from shopgraph.errors import StoreConnectionError
from tests.contract.conftest import SMALL_DIMS, cleanup, neo4j_store

pytestmark = pytest.mark.skipif(not os.environ.get("NEO4J_URI"), reason="NEO4J_URI not set: no Neo4j server to test against")


@pytest.fixture
def live():
    store = neo4j_store()
    yield store
    cleanup(store)
    store.close()


def test_migration_round_trip_embedded_neo4j_embedded(live, tmp_path):
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.migrate import graph_checksum, migrate
    from tests.graph.test_migrate import build_source

    with build_source(tmp_path / "source.db") as source:
        there = migrate(source, live, batch_size=7)
        assert there.verified and live.stats() == source.stats()
        with EmbeddedStore.open(tmp_path / "back.db", dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0)) as back:
            home = migrate(live, back, batch_size=7)
            assert home.checksum == there.checksum == graph_checksum(source)
            q = source.get_vectors("Product", "fused_vec", ["shop_a:5"])[1][0]
            assert [i for i, _ in live.vector_search("fused_vec", q, 3)] == [i for i, _ in source.vector_search("fused_vec", q, 3)]


def test_api_and_cli_on_a_neo4j_uri(live, tmp_path, capsys, monkeypatch):
    from shopgraph.cli import main
    from shopgraph.graph.migrate import migrate
    from shopgraph.queries.api import ShopGraph
    from tests.graph.test_migrate import build_source

    with build_source(tmp_path / "source.db") as source:
        migrate(source, live)
    monkeypatch.chdir(tmp_path)
    with ShopGraph.open("neo4j", read_only=True) as sg:
        assert sg.stats()["Product"] == 23 and sg.product("shop_a:1").platform == "shop_a"
        assert str(sg.matcher_path("a", "b")).startswith("shopgraph-neo4j/")
    assert main(["stats", "--db", os.environ["NEO4J_URI"]]) == 0
    assert "Product" in capsys.readouterr().out
    assert main(["cypher", "MATCH (p:Product) RETURN count(p) AS n", "--db", "neo4j", "--json"]) == 0
    assert '"n": 23' in capsys.readouterr().out


def test_bad_password_from_a_real_server(monkeypatch):
    from shopgraph.graph.neo4j_store import Neo4jStore

    monkeypatch.setenv("NEO4J_PASSWORD", "certainly-not-the-password")
    with pytest.raises(StoreConnectionError, match="refused the credentials") as caught:
        Neo4jStore.open(None)
    assert "certainly-not-the-password" not in str(caught.value)


def test_selective_filter_on_a_larger_graph_returns_k(live):
    from shopgraph.graph.store import Filters
    from tests.contract.test_store_contract import catalog_batch, product

    products = [product(str(i), brand="rare" if i % 50 == 0 else "common", seed=i) for i in range(400)]
    live.write(catalog_batch(products))
    hits = live.vector_search("fused_vec", products[7]["fused_vec"], 5, filters=Filters(brand="rare"))
    expected = sorted((float(np.dot(p["fused_vec"], products[7]["fused_vec"])), p["id"]) for p in products
                      if p["brand"] == "rare")[::-1][:5]
    assert [i for i, _ in hits] == [i for _, i in expected]
