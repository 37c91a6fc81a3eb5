"""The rest of shopgraph on a live Neo4j (the session's server, tests/neo4j_live.py): ShopGraph.open on
a URI with the caller's own driver, the HeteroData export equal to the embedded store's, and the
write-back of learned vectors (batched, then searchable)."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import Config, IndexConfig, Neo4jConfig
from shopgraph.graph import neo4j_cypher as Q
from shopgraph.queries.api import ShopGraph
from tests.contract.conftest import SMALL_DIMS
from tests.graph.test_migrate import build_source


@pytest.fixture
def copied(neo4j_empty, tmp_path):
    """(embedded source, Neo4jStore holding a migrated copy of it)."""
    from shopgraph.graph.migrate import migrate
    from shopgraph.graph.neo4j_store import Neo4jStore

    source = build_source(tmp_path / "source.db")
    trace: list[str] = []
    target = Neo4jStore.open(None, dims=SMALL_DIMS, config=Neo4jConfig(exact_max=0),
                             trace=lambda query, params: trace.append(query))
    migrate(source, target)
    target.sent = trace
    yield source, target
    target.close()
    source.close()


def test_shopgraph_opens_a_neo4j_uri_with_a_given_driver(copied, neo4j_env, tmp_path, monkeypatch):
    import neo4j

    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    port = neo4j_env.uri.rsplit(":", 1)[1]
    host = neo4j_env.uri.split("://", 1)[1].rsplit(":", 1)[0]
    with neo4j.GraphDatabase.driver(neo4j_env.uri, auth=neo4j_env.auth) as driver:
        with ShopGraph.open(neo4j_env.uri, driver=driver) as sg:
            assert type(sg.store).__name__ == "Neo4jStore" and sg.stats()["Product"] == 23
            stem = f"{host}-{port}-neo4j"
            assert sg.matcher_path("a", "b") == tmp_path.joinpath(
                "shopgraph-neo4j", f"{stem}.models", "matcher-a-b.json").relative_to(tmp_path)
            assert not (tmp_path / "shopgraph-neo4j").exists()  # made by the first file written there
            assert str(sg._cache_path) == f"shopgraph-neo4j/{stem}.cache.sqlite"
        driver.verify_connectivity()  # the caller's driver is still theirs, and open


def test_heterodata_export_is_the_same_from_neo4j(copied):
    pytest.importorskip("torch_geometric")
    from shopgraph.gnn.export import to_heterodata, write_back

    source, store = copied
    a, b = to_heterodata(source), to_heterodata(store)
    assert a.ids == b.ids
    for key in a.data.node_types:
        assert set(a.data[key].keys()) == set(b.data[key].keys()), key
        for attr, value in a.data[key].items():
            assert np.array_equal(np.asarray(value), np.asarray(b.data[key][attr])), (key, attr)
    # The same edges with the same attributes; relationship order is up to each store.
    assert set(a.data.edge_types) == set(b.data.edge_types)
    for key in a.data.edge_types:
        order_a, order_b = (_edge_order(d[key]) for d in (a.data, b.data))
        for attr, value in a.data[key].items():
            mine, theirs = np.asarray(value), np.asarray(b.data[key][attr])
            axis = 1 if attr == "edge_index" else 0
            assert np.array_equal(np.take(mine, order_a, axis=axis), np.take(theirs, order_b, axis=axis)), (key, attr)

    # Learned vectors written back in batches of write_rows // 4, then read and searched.
    vectors = np.random.default_rng(1).normal(size=(len(b.ids["product"]), 128)).astype(np.float32)
    mark = len(store.sent)
    write_back(store, b, vectors, "gnn_vec")
    assert store.sent[mark:].count(Q.set_vectors("Product", "gnn_vec")) == -(-len(vectors) // 250)
    got, back = store.get_vectors("Product", "gnn_vec", b.ids["product"])
    assert got == b.ids["product"] and np.array_equal(back, vectors)
    hits = store.vector_search("gnn_vec", vectors[4], 3)
    expected = sorted(zip(b.ids["product"], vectors @ vectors[4]), key=lambda t: -t[1])[:3]
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-5)


def _edge_order(store) -> np.ndarray:
    """Edge positions sorted by (source, target) node index."""
    index = np.asarray(store["edge_index"])
    return np.lexsort((index[1], index[0]))


def test_open_rejects_a_driver_with_a_path(tmp_path):
    from shopgraph.errors import StoreError

    with pytest.raises(StoreError, match="pass a Neo4j URI"):
        ShopGraph.open(tmp_path / "x.db", driver=object(), config=Config(index=IndexConfig()))


def test_read_only_open_creates_no_local_directory(copied, neo4j_env, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with ShopGraph.open("neo4j", read_only=True) as sg:
        assert sg.stats()["Product"] == 23
        assert str(sg.store_path).startswith("shopgraph-neo4j")
    assert list(work.iterdir()) == []
