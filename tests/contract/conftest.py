"""Store factories for the contract suite: every available GraphStore runs the same tests.

The embedded store always runs; a Neo4j store joins when NEO4J_URI is set (later issue).
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


STORES = {"embedded": _embedded}


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path):
    if request.param != "embedded" and not os.environ.get("NEO4J_URI"):
        pytest.skip("NEO4J_URI not set: no Neo4j server to test against")
    s = STORES[request.param](tmp_path)
    yield s
    s.close()
