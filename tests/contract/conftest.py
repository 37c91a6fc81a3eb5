"""Store factories for the contract suite: every available GraphStore runs the same tests.

The embedded store always runs; the Neo4j store joins when NEO4J_URI is set (with NEO4J_USERNAME,
NEO4J_PASSWORD, NEO4J_DATABASE as needed). The Neo4j factory empties the database and drops
shopgraph's indexes before and after each test: point NEO4J_URI at a server (or NEO4J_DATABASE at a
database) that holds nothing else, e.g. the one `make neo4j-up` starts.
"""

from __future__ import annotations

import os

import pytest

from shopgraph.graph.schema import VectorDims

SMALL_DIMS = VectorDims(text=8, image=6, lexical=4)


def _embedded(tmp_path):
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore

    # min_ann_size=0 so the ANN path (not only the exact fallback) is exercised on tiny graphs.
    return EmbeddedStore.open(tmp_path / "contract.db", dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))


def neo4j_store(dims: VectorDims = SMALL_DIMS):
    """A Neo4jStore on an emptied $NEO4J_URI database (exact_max=0: every search goes through the
    vector index, as min_ann_size=0 does for the embedded store)."""
    from shopgraph.config import Neo4jConfig
    from shopgraph.graph.neo4j_store import Neo4jStore

    config = Neo4jConfig(exact_max=0)
    first = Neo4jStore.open(None, config=config, dims=dims)
    first.clear(drop_schema=True)  # indexes of another width may be there from an earlier run
    first.close()
    return Neo4jStore.open(None, config=config, dims=dims)


def _neo4j(tmp_path):
    return neo4j_store()


def cleanup(store) -> None:
    if type(store).__name__ == "Neo4jStore":
        store.clear(drop_schema=True)


STORES = {"embedded": _embedded, "neo4j": _neo4j}


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path):
    if request.param != "embedded" and not os.environ.get("NEO4J_URI"):
        pytest.skip("NEO4J_URI not set: no Neo4j server to test against")
    s = STORES[request.param](tmp_path)
    yield s
    cleanup(s)
    s.close()
