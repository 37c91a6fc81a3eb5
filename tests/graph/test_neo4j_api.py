"""The rest of shopgraph on a Neo4jStore (recording driver): ShopGraph.open on a URI, the HeteroData
export and the batched write-back of vectors."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import Config, IndexConfig
from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph import schema as S
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.queries.api import ShopGraph
from tests.contract.conftest import SMALL_DIMS
from tests.graph.neo4j_fake import FakeDriver
from tests.graph.test_migrate import build_source


def mirror(driver: FakeDriver, source: EmbeddedStore) -> None:
    """Answer the Neo4j read queries that the export sends with the embedded graph's data."""
    for label, node in S.NODE_TYPES.items():
        columns = [node.key] + (["platform"] if label == "Product" else []) + (["depth"] if label == "Category" else [])
        rows = [dict(r, _key=r[node.key]) for b in source.iter_nodes(label, columns) for r in b]
        driver.answer(Q.node_page(label, columns, True), lambda p, rows=rows: rows[:p["n"]])
        driver.answer(Q.node_page(label, columns, False),
                      lambda p, rows=rows: [r for r in rows if r["_key"] > p["after"]][:p["n"]])
    for prop in S.VECTOR_PROPERTIES:
        def vectors(p, prop=prop):
            got, matrix = source.get_vectors("Product", prop, p["ids"])
            return [{"id": i, "v": v.tolist()} for i, v in zip(got, matrix)]
        driver.answer(Q.get_vectors("Product", prop), vectors)
    for name, rel in S.REL_TYPES.items():
        props = [p for p in ("value", "timestamp", "kind", "score", "weight") if p in rel.properties]
        driver.answer(Q.relationship_pairs(name, props), source.relationship_pairs(name, props))


@pytest.fixture
def source(tmp_path):
    store = build_source(tmp_path / "source.db")
    yield store
    store.close()


def test_shopgraph_opens_a_neo4j_uri_with_a_given_driver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    driver = FakeDriver(existing=True, dims=SMALL_DIMS)
    driver.answer("MATCH (n:Product) RETURN count(n) AS n", [{"n": 23}])
    with ShopGraph.open("neo4j://graph.example:7687", driver=driver) as sg:
        assert type(sg.store).__name__ == "Neo4jStore" and sg.stats()["Product"] == 23
        assert sg.matcher_path("a", "b") == tmp_path.joinpath(
            "shopgraph-neo4j", "graph.example-7687-neo4j.models", "matcher-a-b.pkl").relative_to(tmp_path)
        assert not (tmp_path / "shopgraph-neo4j").exists()  # made by the first file written there
        assert str(sg._cache_path) == "shopgraph-neo4j/graph.example-7687-neo4j.cache.sqlite"
    assert not driver.closed


def test_heterodata_export_is_the_same_from_neo4j(source):
    pytest.importorskip("torch_geometric")
    from shopgraph.graph.neo4j_connect import Neo4jSettings
    from shopgraph.graph.neo4j_store import Neo4jStore
    from shopgraph.gnn.export import to_heterodata, write_back

    driver = FakeDriver(existing=True, dims=SMALL_DIMS)
    mirror(driver, source)
    store = Neo4jStore.open(Neo4jSettings("bolt://localhost:7687"), driver=driver)
    a, b = to_heterodata(source), to_heterodata(store)
    assert a.ids == b.ids
    for key in a.data.node_types:
        for attr, value in a.data[key].items():
            assert np.array_equal(np.asarray(value), np.asarray(b.data[key][attr])), (key, attr)
    # The same edges with the same attributes; relationship order is up to each store.
    for key in a.data.edge_types:
        order_a, order_b = (_edge_order(d[key]) for d in (a.data, b.data))
        for attr, value in a.data[key].items():
            mine, theirs = np.asarray(value), np.asarray(b.data[key][attr])
            axis = 1 if attr == "edge_index" else 0
            assert np.array_equal(np.take(mine, order_a, axis=axis), np.take(theirs, order_b, axis=axis)), (key, attr)

    mark = driver.mark()
    vectors = np.random.default_rng(1).normal(size=(len(b.ids["product"]), 128)).astype(np.float32)
    write_back(store, b, vectors, "gnn_vec")
    writes = [c for c in driver.calls[mark:] if c.query == Q.set_vectors("Product", "gnn_vec")]
    sent = {r["id"]: r["v"] for c in writes for r in c.params["rows"]}
    assert len(writes) == -(-len(vectors) // 250) and list(sent) == b.ids["product"]
    assert np.array_equal(np.asarray([sent[i] for i in b.ids["product"]], dtype=np.float32), vectors)


def _edge_order(store) -> np.ndarray:
    """Edge positions sorted by (source, target) node index."""
    index = np.asarray(store["edge_index"])
    return np.lexsort((index[1], index[0]))


def test_open_rejects_a_driver_with_a_path(tmp_path):
    from shopgraph.errors import StoreError

    with pytest.raises(StoreError, match="pass a Neo4j URI"):
        ShopGraph.open(tmp_path / "x.db", driver=FakeDriver(), config=Config(index=IndexConfig()))


def test_read_only_open_creates_no_local_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    driver = FakeDriver(existing=True, dims=SMALL_DIMS)
    with ShopGraph.open("neo4j://graph.example:7687", driver=driver, read_only=True) as sg:
        sg.stats()
        assert str(sg.store_path).startswith("shopgraph-neo4j")
    assert list(tmp_path.iterdir()) == []
