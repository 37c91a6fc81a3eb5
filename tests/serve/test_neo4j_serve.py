"""The server on a Neo4j-backed graph: tests/serve/conftest.py runs the shared app's tests (test_api.py,
test_errors.py), the writing tests (review, ingest, searches during an ingest, recommend after
training) and the browser tests on the session's live Neo4j as well; this module checks what is
particular to it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def neo4j_app(matched_graph, neo4j_server, tmp_path_factory):
    from fastapi.testclient import TestClient

    from tests.serve.conftest import make_app, neo4j_copy

    graph = neo4j_copy(matched_graph, neo4j_server, tmp_path_factory.mktemp("n4j"))
    app, host = make_app(graph, image_root=matched_graph.photos)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, host
    host.close()


def test_health_says_neo4j_and_the_local_files_sit_under_local_dir(neo4j_app, neo4j_server):
    client, host = neo4j_app
    health = client.get("/api/health").json()
    assert health["store"] == "Neo4jStore" and health["products"] > 0
    assert neo4j_server.uri.split("://")[1].replace(":", "-") in str(host.graph.store_path)
    assert host.graph.matcher_path("shop_a", "shop_b").exists()  # the copied scorer, found by /api/match
