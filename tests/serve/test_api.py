"""The HTTP API through the ASGI test client on a small real graph: every endpoint, every error path
(4xx with a one-line reason, never a 500), the API key, the limits, and reads during an ingest."""

from __future__ import annotations

import io
import json
import threading

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shopgraph.ingest.normalise import normalise_brand
from tests.serve.conftest import KEY, LiveServer, make_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AUTH = {"X-API-Key": KEY}


def refused(response, status: int, fragment: str = "") -> str:
    """Assert a refusal: the status, a JSON body with a one-line detail containing fragment."""
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail
    assert fragment.lower() in detail.lower(), detail
    return detail


def jpeg(color=(200, 30, 30), size=(64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def client(shared_app):
    return shared_app[0]


@pytest.fixture(scope="module")
def a_product(client, demo_graph):
    return demo_graph.truth[0][0]


# -- reads ---------------------------------------------------------------------------------------

def test_warm_up_loads_the_torch_text_model(client, shared_app):
    """A one-off search encodes its query with the numpy pass; the server loads the torch model at
    start instead, so a burst of queries batched together never waits for torch mid-traffic."""
    client.get("/api/health")
    text_encoder = shared_app[1].graph.encoder.text_encoder
    assert type(text_encoder).__name__ == "BatchingTextEncoder"
    assert text_encoder.wrapped._model is not None



def test_health_stats_platforms_and_schema(client, shared_app):
    health = client.get("/api/health").json()
    store = type(shared_app[1].graph.store).__name__
    assert health["status"] == "ok" and health["store"] == store in ("EmbeddedStore", "Neo4jStore")
    assert health["products"] > 0
    assert client.get("/api/stats").json()["Product"] == health["products"]
    assert client.get("/api/platforms").json() == ["shop_a", "shop_b"]
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/product", "/api/review", "/api/cypher", "/api/ingest", "/api/match",
            "/api/recommend", "/api/similar", "/api/image"} <= set(schema["paths"])
    assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])


def test_text_search_with_facets_and_filters(client, demo_graph):
    a_id, b_id = demo_graph.truth[0]
    title = client.get("/api/product", params={"id": a_id}).json()["product"]["title"]
    body = client.get("/api/search", params={"q": title, "k": 5}).json()
    ids = [hit["product"]["id"] for hit in body["results"]]
    assert ids[0] == a_id and b_id in ids and body["took_ms"] >= 0
    assert {f["value"] for f in body["facets"]["platform"]} == {"shop_a", "shop_b"}
    # facets count every matching candidate, not only the 5 shown
    assert sum(f["count"] for f in body["facets"]["platform"]) == body["total"] >= len(ids)
    hit = body["results"][0]
    assert hit["score"] >= body["results"][-1]["score"] and "bm25" in hit["matched_by"]
    assert hit["strength"] in ("exact", "strong") and not body["no_close_match"] and body["kind"]
    nonsense = client.get("/api/search", params={"q": "zzzzqqq", "k": 3}).json()
    assert nonsense["no_close_match"] and nonsense["total"] == 0
    page = client.get("/api/search", params={"q": title, "k": 2, "offset": 1, "sort": "price_asc"}).json()
    assert page["offset"] == 1 and len(page["results"]) == 2
    only_b = client.get("/api/search", params={"q": title, "k": 5, "platform": "shop_b"}).json()["results"]
    assert only_b and all(h["product"]["platform"] == "shop_b" for h in only_b)
    brand = hit["product"]["brand"]
    branded = client.get("/api/search", params={"q": title, "brand": brand, "price_max": 10_000,
                                                      "currency": hit["product"]["currency"]}).json()["results"]
    assert branded and all(normalise_brand(h["product"]["brand"]) == normalise_brand(brand) for h in branded)
    top = hit["product"]["category"].split(" > ")[0]
    in_category = client.get("/api/search", params={"q": title, "category": top}).json()["results"]
    assert in_category and all(h["product"]["category"].startswith(top) for h in in_category)


def test_image_search_checks_content_not_name(client, demo_graph):
    graph_products = [a for a, _ in demo_graph.truth]
    product = next(p for p in (client.get("/api/product", params={"id": i}).json()["product"] for i in graph_products)
                   if p["has_image"])
    photo = client.get(product["image_url"]).content
    # A real photo named .txt with a text content type is accepted: the bytes decide.
    body = client.post("/api/search", files={"image": ("notes.txt", photo, "text/plain")},
                       data={"k": "3", "platform": product["platform"]}).json()
    assert body["results"][0]["product"]["id"] == product["id"]
    assert "image" in body["results"][0]["matched_by"]
    # Text and photo together.
    both = client.post("/api/search", files={"image": ("x.jpg", photo)}, data={"q": product["title"], "k": "3"})
    assert both.status_code == 200 and both.json()["results"]
    # Text named .jpg is refused, and so are empty and truncated files.
    refused(client.post("/api/search", files={"image": ("photo.jpg", b"GIF89a but not really", "image/jpeg")}),
            400, "not a readable image")
    refused(client.post("/api/search", files={"image": ("photo.jpg", b"", "image/jpeg")}), 400, "empty")
    refused(client.post("/api/search", files={"image": ("photo.jpg", photo[: len(photo) // 3], "image/jpeg")}),
            400, "not a readable image")
    refused(client.post("/api/search", data={"q": "x"}), 422, "image")


def test_product_page_has_the_neighbourhood(client, matched_graph):
    a_id, b_id = matched_graph.labelled
    page = client.get("/api/product", params={"id": a_id}).json()
    assert page["product"]["id"] == a_id and page["brand"]["name"]
    assert page["category_path"] and " > ".join(page["category_path"]) == page["product"]["category"]
    same = {x["product"]["id"]: x for x in page["same_as"]}
    assert same[b_id]["status"] == "label" and same[b_id]["product"]["platform"] == "shop_b"
    assert page["different_from"] and all(x["status"] == "different" for x in page["different_from"])
    assert len(page["similar"]) == 8 and a_id not in [h["product"]["id"] for h in page["similar"]]
    assert page["users"] >= 0
    # Matches written by the matching run carry their evidence.
    matched = [x for p in matched_graph.review for x in
               client.get("/api/product", params={"id": p[0]}).json()["same_as"] if x["status"] == "review"]
    assert matched and matched[0]["evidence"][0]["group"] and matched[0]["evidence"][0]["says"].startswith(
        ("for: ", "against: "))


def test_image_endpoint_serves_jpeg_thumbnails(client, shared_app):
    """The demo catalog (fixed seed) has products with and without an image: both are checked."""
    graph = shared_app[1].graph
    with_image = graph.cypher("MATCH (p:Product) WHERE p.image_missing = false RETURN p.id AS id ORDER BY id LIMIT 1")
    without = graph.cypher("MATCH (p:Product) WHERE p.image_missing = true RETURN p.id AS id ORDER BY id LIMIT 1")
    assert with_image and without, "the demo catalog should have products with and without images"
    product = with_image[0]["id"]
    assert client.get("/api/product", params={"id": product}).json()["product"]["has_image"]
    response = client.get("/api/image", params={"id": product, "size": 64})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(response.content)).size) <= 64
    assert not client.get("/api/product", params={"id": without[0]["id"]}).json()["product"]["has_image"]
    refused(client.get("/api/image", params={"id": without[0]["id"]}), 404, "no image")


def test_similar_match_review_queue_and_recommend(client, matched_graph):
    a_id, b_id = matched_graph.labelled
    hits = client.get("/api/similar", params={"id": a_id, "k": 3, "platform": "shop_b"}).json()
    assert len(hits) == 3 and b_id in [h["product"]["id"] for h in hits]
    proposals = client.get("/api/match", params={"id": a_id, "platform": "shop_b", "limit": 3}).json()["proposals"]
    assert proposals[0]["dst"] == b_id and proposals[0]["product"]["id"] == b_id
    assert proposals[0]["status"] in ("matched", "review", "no match") and proposals[0]["evidence"]
    assert all(e["says"].startswith(("for: ", "against: ", "neutral: ")) for e in proposals[0]["evidence"])
    queue = client.get("/api/review").json()["items"]
    assert {(i["src"], i["dst"]) for i in queue} == set(matched_graph.review)
    assert queue[0]["src_product"]["id"] == queue[0]["src"] and queue[0]["evidence"]
    # The demo graph has no trained GNN: recommend says so, as a client error.
    user = client.post("/api/cypher", json={"query": "MATCH (u:User) RETURN u.id AS id ORDER BY id LIMIT 1"},
                       headers=AUTH).json()["rows"][0]["id"]
    refused(client.get("/api/recommend", params={"user": user}), 400, "no learned vector")
    refused(client.get("/api/recommend", params={"user": "nobody:1"}), 404, "no user")


def test_read_errors_are_one_line_4xx(client):
    refused(client.get("/api/search"), 422, "q")
    refused(client.get("/api/search", params={"q": "x", "k": 0}), 422, "k")
    refused(client.get("/api/search", params={"q": "x", "k": 101}), 422, "k")
    refused(client.get("/api/search", params={"q": "x", "k": "many"}), 422, "k")
    refused(client.get("/api/search", params={"q": "x" * 501}), 422, "q")
    refused(client.get("/api/search", params={"q": "   "}), 400, "needs text")
    refused(client.get("/api/search", params={"q": "x", "rank_by": "colour"}), 422, "rank_by")
    refused(client.get("/api/search", params={"q": "x", "rank_by": "image"}), 400, "alignment")
    refused(client.get("/api/search", params={"q": "x", "price_min": "nan"}), 422, "price_min")
    refused(client.get("/api/search", params={"q": "x", "price_min": -1}), 422, "price_min")
    refused(client.get("/api/search", params={"q": "x", "price_min": 9, "price_max": 1}), 400, "price_min")
    refused(client.get("/api/product", params={"id": "shop_a:none"}), 404, "no product")
    refused(client.get("/api/product"), 422, "id")
    refused(client.get("/api/similar", params={"id": "shop_a:none"}), 404, "no product")
    refused(client.get("/api/image", params={"id": "shop_a:none"}), 404, "no product")
    refused(client.get("/api/image", params={"id": "x", "size": 5000}), 422, "size")
    refused(client.get("/api/match", params={"id": "shop_a:none", "platform": "shop_b"}), 404, "no product")
    a_id = client.get("/api/search", params={"q": "x", "platform": "shop_a", "k": 1}).json()["results"][0]["product"]["id"]
    refused(client.get("/api/match", params={"id": a_id, "platform": "nowhere"}), 400, "no platform")
    refused(client.get("/api/review", params={"limit": 0}), 422, "limit")
    refused(client.get("/api/nothing-here"), 404)


# -- the API key and writes ----------------------------------------------------------------------

def test_writes_and_cypher_need_the_key(client):
    decision = {"src": "a", "dst": "b", "decision": "accept"}
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}):
        refused(client.post("/api/review", json=decision, headers=headers), 401, "api key")
        refused(client.post("/api/cypher", json={"query": "RETURN 1 AS one"}, headers=headers), 401, "api key")
        refused(client.post("/api/ingest", files={"file": ("c.csv", b"sku,name\n1,x\n")},
                            data={"mapping": 'platform = "p"\nid = "sku"\ntitle = "name"\n'}, headers=headers),
                401, "api key")


def test_a_server_without_a_key_refuses_writes(matched_graph):
    app, host = make_app(matched_graph.db, api_key=None, read_only=True)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        refused(client.post("/api/cypher", json={"query": "RETURN 1 AS one"}, headers=AUTH), 403, "without an API key")
        src, dst = matched_graph.review[0]
        refused(client.post("/api/review", json={"src": src, "dst": dst, "decision": "accept"}, headers=AUTH),
                403, "without an API key")
        refused(client.post("/api/ingest", files={"file": ("c.csv", catalog_csv(1))}, data={"mapping": MAPPING},
                            headers=AUTH), 403, "without an API key")
        assert client.get("/api/review").json()["items"], "the queue is still there: nothing was decided"
        assert client.get("/api/health").json()["read_only"] is True
    finally:
        host.close()


def test_a_read_only_server_refuses_decisions(matched_graph):
    app, host = make_app(matched_graph.db, read_only=True)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        src, dst = matched_graph.review[0]
        refused(client.post("/api/review", json={"src": src, "dst": dst, "decision": "accept"}, headers=AUTH),
                403, "read-only")
        assert client.get("/api/search", params={"q": "backpack"}).status_code == 200
    finally:
        host.close()


def test_review_accept_and_reject(served_copy, open_copy):
    app, host = make_app(open_copy())
    try:
        client = TestClient(app, raise_server_exceptions=False)
        (s1, d1), (s2, d2) = served_copy.review[:2]
        queued = {(i["src"], i["dst"]): i for i in client.get("/api/review").json()["items"]}
        accepted = client.post("/api/review", json={"src": s1, "dst": d1, "decision": "accept"}, headers=AUTH)
        assert accepted.json() == {"src": s1, "dst": d1, "state": "accepted"}
        same = {x["product"]["id"]: x["status"] for x in client.get("/api/product", params={"id": s1}).json()["same_as"]}
        assert same[d1] == "accepted"
        rejected = client.post("/api/review", json={"src": s2, "dst": d2, "decision": "reject"}, headers=AUTH)
        assert rejected.json()["state"] == "rejected"
        page = client.get("/api/product", params={"id": s2}).json()
        assert d2 not in [x["product"]["id"] for x in page["same_as"]]
        assert d2 in [x["product"]["id"] for x in page["different_from"]]
        # decided pairs leave the queue (the matching run's own review-band pairs stay)
        queue = {(i["src"], i["dst"]) for i in client.get("/api/review", params={"limit": 500}).json()["items"]}
        assert queue == set(served_copy.review[2:])
        refused(client.post("/api/review", json={"src": s2, "dst": d2, "decision": "accept"}, headers=AUTH),
                400, "no proposed match")
        refused(client.post("/api/review", json={"src": s1, "dst": d1, "decision": "maybe"}, headers=AUTH),
                422, "decision")
        refused(client.post("/api/review", json={"src": s1, "dst": d1, "decision": "accept", "extra": 1},
                            headers=AUTH), 422, "extra")
        refused(client.post("/api/review", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}),
                422)
        # Undo puts both pairs back in the queue exactly as they were (score, evidence, titles), and the
        # DIFFERENT_FROM the reject wrote is gone; a second undo has nothing to take back.
        for src, dst in ((s2, d2), (s1, d1)):
            undone = client.post("/api/review", json={"src": src, "dst": dst, "decision": "undo"}, headers=AUTH)
            assert undone.json() == {"src": src, "dst": dst, "state": "review"}
        assert {(i["src"], i["dst"]): i for i in client.get("/api/review").json()["items"]} == queued
        assert client.get("/api/product", params={"id": s2}).json()["different_from"] == []
        refused(client.post("/api/review", json={"src": s1, "dst": d1, "decision": "undo"}, headers=AUTH),
                400, "no decision")
        # A write while another write holds the lock is refused at once, not queued.
        with host.write_lock:
            refused(client.post("/api/review", json={"src": s1, "dst": d1, "decision": "accept"}, headers=AUTH),
                    409, "another write")
    finally:
        host.close()


# -- Cypher --------------------------------------------------------------------------------------

def test_cypher_reads_with_parameters_and_json_values(client, a_product):
    body = client.post("/api/cypher", headers=AUTH, json={
        "query": "MATCH (p:Product {id: $id})-[:OF_BRAND]->(b:Brand) RETURN p.id AS id, b.name AS brand, "
                 "p.price AS price, 0.0 / 0.0 AS nan, [1, 2] AS list, p.fused_vec AS vec",
        "params": {"id": a_product}}).json()
    row = body["rows"][0]
    assert row["id"] == a_product and row["brand"] and row["nan"] is None and row["list"] == [1, 2]
    assert len(row["vec"]) > 1000 and body["truncated"] is False
    many = client.post("/api/cypher", headers=AUTH, json={"query": "UNWIND range(1, 5000) AS x RETURN x"}).json()
    assert len(many["rows"]) == 1000 and many["truncated"] is True


@pytest.mark.parametrize("query, status, fragment", [
    ("MATCH (p:Product) DETACH DELETE p", 403, "writes to the graph"),
    ("CREATE (:Platform {name: 'x'})", 403, "CREATE"),
    ("MATCH (p:Product) SET p.title = 'x'", 403, "SET"),
    ("CALL db.createLabel('X')", 403, "procedure"),
    ("CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {})", 403, "procedure"),
    ("CALL apoc.create.node(['X'], {})", 403, "procedure"),
    ("CALL threads=1", 403, "procedure"),
    ("COPY Product FROM 'x.csv'", 403, "COPY"),
    ("LOAD EXTENSION vector", 403, "LOAD"),
    ("MATCH (p:Product) RETURN p.id; MATCH (p) DELETE p", 403, "statements"),
    ("MATCH (p:Product RETURN p", 400, "query failed"),
])
def test_cypher_refuses_writes_and_bad_queries(client, query, status, fragment):
    detail = refused(client.post("/api/cypher", headers=AUTH, json={"query": query}), status, fragment)
    assert "allow_write" not in detail  # the CLI's advice means nothing over HTTP


def test_an_unknown_label_is_an_error_on_the_embedded_store_and_no_rows_on_neo4j(client, shared_app):
    """LadybugDB checks labels against its schema; Neo4j has none to check against (README: dialects)."""
    response = client.post("/api/cypher", headers=AUTH, json={"query": "MATCH (p:NoSuchLabel) RETURN p"})
    if type(shared_app[1].graph.store).__name__ == "Neo4jStore":
        assert response.status_code == 200 and response.json()["rows"] == []
    else:
        refused(response, 400, "query failed")


def test_cypher_limits(client):
    refused(client.post("/api/cypher", headers=AUTH, json={"query": ""}), 422, "query")
    refused(client.post("/api/cypher", headers=AUTH, json={"query": "RETURN 1 AS x " + " " * 20_001}), 400, "limit")
    refused(client.post("/api/cypher", headers=AUTH, json={"query": "RETURN $x AS x", "params": {"x": 2**70}}), 400)
    refused(client.post("/api/cypher", headers=AUTH, json={"query": "RETURN 1", "params": []}), 422, "params")


def test_cypher_time_limit(matched_graph):
    app, host = make_app(matched_graph.db, cypher_timeout=0.05, read_only=True)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        refused(client.post("/api/cypher", headers=AUTH,
                            # The WHERE makes it ten billion rows of work: without it LadybugDB counts
                            # the cross product without enumerating it (0.2 s), racing the 0.05 s limit.
                            json={"query": "UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y "
                                           "WITH x, y WHERE (x + y) % 7 = 3 RETURN count(*) AS n"}),
                400, "time limit")
        # The limit applies to that query only: the store's own queries still run.
        assert client.get("/api/search", params={"q": "backpack", "k": 2}).status_code == 200
        assert client.post("/api/cypher", headers=AUTH, json={"query": "RETURN 1 AS one"}).json()["rows"] == [{"one": 1}]
    finally:
        host.close()


# -- ingest, limits, concurrency -----------------------------------------------------------------

MAPPING = 'platform = "shop_c"\nid = "sku"\ntitle = "name"\nprice = "price"\ndefault_currency = "USD"\nbrand = "brand"\n'


def catalog_csv(n: int, start: int = 0) -> bytes:
    lines = ["sku,name,price,brand"]
    lines += [f"C-{i},Trail running shoe model TR-{i} size {40 + i % 8},{50 + i % 30}.99,Taravo" for i in range(start, start + n)]
    return ("\n".join(lines) + "\n").encode()


def test_ingest_upload_by_content(open_copy):
    import pyarrow as pa
    import pyarrow.parquet as pq

    app, host = make_app(open_copy())
    try:
        client = TestClient(app, raise_server_exceptions=False)
        before = client.get("/api/stats").json()["Product"]
        done = client.post("/api/ingest", headers=AUTH, files={"file": ("catalog.bin", catalog_csv(5))},
                           data={"mapping": MAPPING}).json()
        assert done["products_written"] == 5 and done["rows_read"] == 5 and done["quarantined"] == 0
        again = client.post("/api/ingest", headers=AUTH, files={"file": ("x.csv", catalog_csv(5))},
                            data={"mapping": MAPPING}).json()
        assert again["products_written"] == 0 and again["products_unchanged"] == 5
        jsonl = b"".join(json.dumps({"sku": f"J-{i}", "name": f"Water bottle {i}", "price": 9.5, "brand": "Brakmoor"}).encode()
                         + b"\n" for i in range(3))
        assert client.post("/api/ingest", headers=AUTH, files={"file": ("catalog.csv", jsonl)},
                           data={"mapping": MAPPING}).json()["products_written"] == 3
        table = pa.table({"sku": ["P-1", "P-2"], "name": ["Kettle one", "Kettle two"], "price": [20.0, 21.0],
                          "brand": ["Vessaro", "Vessaro"]})
        out = io.BytesIO()
        pq.write_table(table, out)
        assert client.post("/api/ingest", headers=AUTH, files={"file": ("c.txt", out.getvalue())},
                           data={"mapping": MAPPING}).json()["products_written"] == 2
        assert client.get("/api/stats").json()["Product"] == before + 10
        hits = client.get("/api/search", params={"q": "trail running shoe TR-3", "platform": "shop_c"}).json()["results"]
        assert hits[0]["product"]["id"] == "shop_c:C-3"
        # Bad uploads and mappings: one line each, the temporary folder never named.
        detail = refused(client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", catalog_csv(1))},
                                     data={"mapping": 'platform = "p"\ntitle = "name"\n'}), 400, "missing required key 'id'")
        assert "shopgraph-upload-" not in detail
        refused(client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", catalog_csv(1))},
                            data={"mapping": "not = [toml"}), 400, "not valid TOML")
        refused(client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", catalog_csv(1))},
                            data={"mapping": MAPPING.replace('"sku"', '"nope"')}), 400, "nope")
        refused(client.post("/api/ingest", headers=AUTH, files={"file": ("c.parquet", b"\x00\x01\x02binary")},
                            data={"mapping": MAPPING}), 400, "binary")
        refused(client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", b"")}, data={"mapping": MAPPING}),
                400, "empty")
        refused(client.post("/api/ingest", headers=AUTH, data={"mapping": MAPPING}), 422, "file")
    finally:
        host.close()


def test_size_limits(matched_graph):
    app, host = make_app(matched_graph.db, read_only=True, max_body=50_000, max_image=20_000, max_image_pixels=10_000)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        refused(client.post("/api/search", files={"image": ("big.jpg", b"\xff" * 60_000)}), 413, "limit")
        refused(client.post("/api/search", files={"image": ("big.jpg", np.random.default_rng(0).bytes(30_000))}),
                413, "limit")
        refused(client.post("/api/search", files={"image": ("wide.png", _png((400, 400)))}), 413, "pixels")
        assert client.post("/api/search", files={"image": ("ok.jpg", jpeg())}).status_code == 200

        def chunks():  # a chunked body (no Content-Length) is counted as it arrives
            for _ in range(10):
                yield b"x" * 10_000

        refused(client.post("/api/cypher", headers={**AUTH, "Content-Type": "application/json"}, content=chunks()),
                413, "limit")
    finally:
        host.close()


def _png(size) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 0).save(out, "PNG")
    return out.getvalue()


def test_security_headers_and_page(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200
    docs = client.get("/docs")  # Swagger UI from local files under the same policy (test_access_log_docs.py)
    assert docs.status_code == 200 and "script-src 'self'" in docs.headers["content-security-policy"]


def test_searches_succeed_while_an_ingest_runs(open_copy):
    """A live server on loopback: an ingest of 600 rows runs in one request while other clients
    search; every search answers 200, several of them before the ingest finished."""
    app, host = make_app(open_copy())
    server = LiveServer(app).start()
    try:
        result: dict = {}

        def ingest():
            with httpx.Client(base_url=server.url, timeout=120) as http:
                result["response"] = http.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", catalog_csv(600))},
                                               data={"mapping": MAPPING})

        writer = threading.Thread(target=ingest)
        statuses, during = [], 0
        with httpx.Client(base_url=server.url, timeout=30) as http:
            writer.start()
            while writer.is_alive() and len(statuses) < 500:
                response = http.get("/api/search", params={"q": "backpack", "k": 5})
                statuses.append(response.status_code)
                during += writer.is_alive()
            writer.join(timeout=120)
            after = http.get("/api/search", params={"q": "trail running shoe TR-599", "platform": "shop_c", "k": 1})
        assert result["response"].status_code == 200, result["response"].text
        assert result["response"].json()["products_written"] == 600
        assert statuses and set(statuses) == {200}
        assert during >= 3, f"only {during} searches ran during the ingest"
        assert after.json()["results"][0]["product"]["id"] == "shop_c:C-599"
    finally:
        server.stop()
        host.close()


LONG_CYPHER = ("MATCH (a:Product), (b:Product), (c:Product), (d:Product), (e:Product) "
               "WHERE a.title + b.title + c.title + d.title + e.title = 'no such title' RETURN count(*) AS n")


def test_search_and_health_answer_while_long_cypher_queries_run(served_copy):
    """Issue 13, finding 9: four Cypher queries running to the server's time limit hold neither
    /api/search nor /api/health, and run side by side (they end together, not a limit apart)."""
    import time

    limit = 6.0  # long beside the searches, even on a busy machine
    app, host = make_app(served_copy.db, cypher_timeout=limit)
    server = LiveServer(app).start()
    try:
        ends: list[tuple[float, int, str]] = []

        def long_query():
            with httpx.Client(base_url=server.url, timeout=120) as http:
                response = http.post("/api/cypher", headers=AUTH, json={"query": LONG_CYPHER})
                ends.append((time.monotonic(), response.status_code, response.text))

        threads = [threading.Thread(target=long_query) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # the four queries are running
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for _ in range(3):
                assert http.get("/api/search", params={"q": "backpack", "k": 5}).status_code == 200
                assert http.get("/api/health").json()["status"] == "ok"
        reads_done = time.monotonic()
        still_running = sum(t.is_alive() for t in threads)
        for t in threads:
            t.join()
    finally:
        server.stop()
        host.close()
    assert still_running == 4, "searches waited for the Cypher queries"
    assert all(status == 400 and "time limit" in text for _, status, text in ends), ends
    finished = sorted(end for end, _, _ in ends)
    assert finished[0] > reads_done and finished[-1] - finished[0] < limit


def test_batched_query_encoding_gives_the_single_query_vectors(shared_app):
    """Concurrent searches share one model call; each still gets its own text's vector."""
    from concurrent.futures import ThreadPoolExecutor

    from shopgraph.serve.batching import BatchingTextEncoder

    _, host = shared_app
    batching = host.graph.encoder.text_encoder
    assert isinstance(batching, BatchingTextEncoder)
    texts = [f"{word} backpack {n}" for n, word in enumerate(["red", "steel", "travel", "kids", "laptop", "hiking"])]
    alone = batching.wrapped.encode(texts)
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda t: batching.encode([t])[0], texts))
    np.testing.assert_allclose(np.stack(together), alone, atol=1e-5)
    with pytest.raises(Exception):
        batching.encode([None])  # not a string: refused by the wrapped encoder, worker unharmed
    assert batching.encode(["still works"]).shape == (1, alone.shape[1])


def test_image_of_a_moved_or_broken_file_is_a_404(served_copy, tmp_path):
    """Point two products of a private copy at files of this test (the catalog's own images are
    shared with other tests), then remove one and spoil the other."""
    app, host = make_app(served_copy.db, image_root=tmp_path)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        ids = [r["id"] for r in host.graph.cypher("MATCH (p:Product) WHERE p.image_missing = false "
                                                  "RETURN p.id AS id ORDER BY id LIMIT 2")]
        gone, spoilt = tmp_path / "gone.jpg", tmp_path / "spoilt.jpg"
        for product_id, path in zip(ids, (gone, spoilt)):
            path.write_bytes(jpeg())
            host.graph.cypher("MATCH (p:Product {id: $id}) SET p.image_ref = $ref", {"id": product_id, "ref": str(path)},
                              allow_write=True)
            assert client.get("/api/image", params={"id": product_id}).status_code == 200
        gone.unlink()
        spoilt.write_bytes(b"no longer a picture")
        refused(client.get("/api/image", params={"id": ids[0]}), 404, "cannot be read")
        refused(client.get("/api/image", params={"id": ids[1]}), 404, "cannot be read")
    finally:
        host.close()


def test_recommend_after_training(open_copy):
    """A short GNN training on a private copy gives users vectors; /api/recommend then ranks
    products for them, leaving out what they already interacted with."""
    from shopgraph.config import Config, with_overrides
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings

    config = with_overrides(Config(), {"gnn.epochs": "5", "gnn.patience": "5"})
    graph = open_copy(config)
    graph.train(align=False, gnn=True)
    host = GraphHost(graph, ServeSettings(api_key=KEY))
    try:
        client = TestClient(create_app(host, warm_up=False), raise_server_exceptions=False)
        first = graph.cypher("MATCH (u:User)-[:INTERACTED]->(p:Product) RETURN u.id AS u, collect(p.id) AS seen "
                             "ORDER BY u LIMIT 1")[0]
        user, seen = first["u"], first["seen"]
        hits = client.get("/api/recommend", params={"user": user, "k": 5}).json()
        assert len(hits) == 5 and not {h["product"]["id"] for h in hits} & set(seen)
    finally:
        host.close()
