"""Store factories for the contract suite: every GraphStore runs the same tests.

The embedded store runs on a new LadybugDB per test; the Neo4j store on the session's live Neo4j
(tests/neo4j_live.py: a local Neo4j Community, or $NEO4J_URI), its database emptied before each test.
"""

from __future__ import annotations

import pytest

from shopgraph.graph.schema import VectorDims

SMALL_DIMS = VectorDims(text=8, image=6, lexical=4)


def _embedded(tmp_path):
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore

    # min_ann_size=0 so the ANN path (not only the exact fallback) is exercised on tiny graphs.
    return EmbeddedStore.open(tmp_path / "contract.db", dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))


def neo4j_store(dims: VectorDims = SMALL_DIMS):
    """A Neo4jStore on the live Neo4j's database (neo4j_empty has emptied it; indexes of other widths
    left by an earlier test are replaced on open). exact_max=0: every search goes through the vector
    index, as min_ann_size=0 does for the embedded store."""
    from shopgraph.config import Neo4jConfig
    from shopgraph.graph.neo4j_store import Neo4jStore

    return Neo4jStore.open(None, config=Neo4jConfig(exact_max=0), dims=dims)


@pytest.fixture(params=["embedded", "neo4j"])
def store(request, tmp_path):
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_empty")
        s = neo4j_store()
    else:
        s = _embedded(tmp_path)
    yield s
    s.close()
