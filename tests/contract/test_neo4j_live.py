"""Live Neo4j checks beyond the store contract (the session's live Neo4j, tests/neo4j_live.py): the
migration round trip embedded -> Neo4j -> embedded, the API and CLI on a Neo4j URI, the error for bad
credentials from a real server, and what an emptied database keeps (its indexes)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from shopgraph.errors import StoreConnectionError
from shopgraph.graph.schema import VectorDims
from tests.contract.conftest import SMALL_DIMS, neo4j_store
from tests.contract.test_store_contract import catalog_batch, product, vec
from tests.neo4j_live import empty


@pytest.fixture
def live(neo4j_empty):
    store = neo4j_store()
    yield store
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
    # The server's notes on a query (here: no product has that property) are not dumped on stderr
    # (a process of its own: under pytest, logging does not reach stderr).
    shown = subprocess.run([sys.executable, "-m", "shopgraph", "cypher", "MATCH (p:Product) RETURN p.colour AS c "
                            "LIMIT 1", "--db", "neo4j", "--json"], capture_output=True, text=True, env=os.environ)
    assert shown.returncode == 0 and '"c": null' in shown.stdout and shown.stderr == ""


def test_verification_counts_each_store_once(live, tmp_path):
    from shopgraph.graph import neo4j_cypher as Q
    from shopgraph.graph.migrate import migrate, verify_equal
    from shopgraph.graph.neo4j_store import Neo4jStore
    from tests.graph.test_migrate import build_source

    sent: list[str] = []
    with build_source(tmp_path / "source.db") as source:
        migrate(source, live)
        with Neo4jStore.open(None, dims=SMALL_DIMS, trace=lambda query, params: sent.append(query)) as target:
            sent.clear()
            verify_equal(source, target)
    assert sent.count(Q.count_nodes("Product")) == 1 and sent.count(Q.count_relationships("SAME_AS")) == 1


def test_bad_password_from_a_real_server(neo4j_env, monkeypatch):
    from shopgraph.graph.neo4j_store import Neo4jStore

    monkeypatch.setenv("NEO4J_PASSWORD", "certainly-not-the-password")
    with pytest.raises(StoreConnectionError, match="refused the credentials") as caught:
        Neo4jStore.open(None)
    assert "certainly-not-the-password" not in str(caught.value)


def test_selective_filter_on_a_larger_graph_returns_k(live):
    from shopgraph.graph.store import Filters

    products = [product(str(i), brand="rare" if i % 50 == 0 else "common", seed=i) for i in range(400)]
    live.write(catalog_batch(products))
    hits = live.vector_search("fused_vec", products[7]["fused_vec"], 5, filters=Filters(brand="rare"))
    expected = sorted((float(np.dot(p["fused_vec"], products[7]["fused_vec"])), p["id"]) for p in products
                      if p["brand"] == "rare")[::-1][:5]
    assert [i for i, _ in hits] == [i for _, i in expected]


def test_an_emptied_database_opened_with_other_widths_gets_indexes_of_those_widths(neo4j_empty):
    """Deleting every node (MATCH (n) DETACH DELETE n) leaves Neo4j's indexes: a new graph of other
    vector widths must not inherit vector indexes of the old widths (the index would skip every new
    vector, and a search through it fail)."""
    neo4j_store(SMALL_DIMS).close()
    empty(neo4j_empty)
    wide = VectorDims(text=16, image=SMALL_DIMS.image, lexical=SMALL_DIMS.lexical)
    with neo4j_store(wide) as store:
        products = [product(str(i), seed=i, text_vec=vec(i, wide.text), fused_vec=vec(i, wide.fused))
                    for i in range(30)]
        store.write(catalog_batch(products))
        hits = store.vector_search("text_vec", products[3]["text_vec"], 3)  # exact_max=0: the index
        assert hits[0][0] == "shop_a:3" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
