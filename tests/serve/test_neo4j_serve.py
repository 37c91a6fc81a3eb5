"""The server on a Neo4jStore: ShopGraph.open on a neo4j:// URI with the recording fake driver, whose
answers come from the small real demo graph (the store's read queries are plain Cypher that LadybugDB
runs too). Search, the product page, the review queue and Cypher go through the Neo4j store's code."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.graph.neo4j_fake import FakeDriver
from tests.serve.conftest import KEY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AUTH = {"X-API-Key": KEY}


class MirrorDriver(FakeDriver):
    """A fake Neo4j whose data queries are answered by an embedded copy of the graph; meta and
    schema statements by FakeDriver's own model. Every query is still recorded."""

    def __init__(self, store):
        super().__init__(existing=True, dims=store.dims)
        self.store = store

    def respond(self, query: str, params: dict) -> list[dict]:
        if query in self.answers or "Meta" in query or "dbms.components" in query or query.startswith("CREATE"):
            return super().respond(query, params)
        return list(self.store.cypher(query, params))


@pytest.fixture(scope="module")
def neo4j_client(matched_graph, tmp_path_factory):
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.queries.api import ShopGraph
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings

    mirror = EmbeddedStore.open(matched_graph.db, read_only=True)
    driver = MirrorDriver(mirror)
    cwd = tmp_path_factory.mktemp("neo4j-serve")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)  # the Neo4j store keeps its model files and cache beside the working directory
        graph = ShopGraph.open("neo4j://graph.example:7687", driver=driver)
        host = GraphHost(graph, ServeSettings(api_key=KEY, cypher_max_rows=5, image_root=matched_graph.photos))
        with TestClient(create_app(host), raise_server_exceptions=False) as client:
            yield client, driver
        host.close()
    mirror.close()


def test_health_says_neo4j(neo4j_client):
    client, _ = neo4j_client
    health = client.get("/api/health").json()
    assert health["store"] == "Neo4jStore" and health["products"] > 0


def test_search_on_neo4j(neo4j_client, matched_graph):
    client, driver = neo4j_client
    mark = driver.mark()
    body = client.get("/api/search", params={"q": "backpack", "k": 5, "platform": "shop_b"}).json()
    assert len(body["results"]) == 5 and all(h["product"]["platform"] == "shop_b" for h in body["results"])
    assert body["facets"]["platform"] == [{"value": "shop_b", "count": 5}]
    assert driver.queries(mark), "the search went through the driver"


def test_product_page_on_neo4j(neo4j_client, matched_graph):
    client, _ = neo4j_client
    a_id, b_id = matched_graph.labelled
    page = client.get("/api/product", params={"id": a_id}).json()
    assert page["product"]["id"] == a_id and page["brand"]["name"] and page["category_path"]
    assert b_id in [x["product"]["id"] for x in page["same_as"]]
    assert len(page["similar"]) == 8
    assert client.get("/api/product", params={"id": "shop_a:nope"}).status_code == 404
    assert client.get("/api/review").json()["items"]


def test_cypher_on_neo4j(neo4j_client):
    client, driver = neo4j_client
    mark = driver.mark()
    body = client.post("/api/cypher", headers=AUTH, json={"query": "MATCH (p:Product) RETURN p.id AS id ORDER BY id"}).json()
    assert len(body["rows"]) == 5 and body["truncated"] is True
    sent = [c for c in driver.calls[mark:] if c.query.startswith("MATCH (p:Product) RETURN p.id")]
    assert sent and {c.mode for c in sent} == {"READ"}
    refused = client.post("/api/cypher", headers=AUTH, json={"query": "CALL `threads`=1"})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    assert client.post("/api/cypher", json={"query": "RETURN 1 AS one"}).status_code == 401
