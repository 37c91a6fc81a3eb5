"""Body limits per route (ingest: max_body; photo search: about max_image; JSON: max_json), counted
as the body streams in, and the API key checked before a keyed route's body is read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import KEY, make_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def small_limits(matched_graph):
    app, host = make_app(matched_graph.db, read_only=True, max_body=400_000, max_image=20_000, max_json=2_000)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    host.close()


def detail(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["detail"]


def test_json_routes_take_small_bodies_only(small_limits):
    big = {"query": "RETURN $x AS x", "params": {"x": "y" * 5_000}}
    assert "2,000" in detail(small_limits.post("/api/cypher", json=big, headers=AUTH), 413)
    assert "2,000" in detail(small_limits.post("/api/review", json={"src": "a" * 3_000, "dst": "b", "decision": "accept"},
                                               headers=AUTH), 413)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 500

    assert "2,000" in detail(small_limits.post("/api/cypher", headers={**AUTH, "Content-Type": "application/json"},
                                               content=chunks()), 413)


def test_photo_search_takes_about_the_image_limit(small_limits):
    response = small_limits.post("/api/search", files={"image": ("big.jpg", b"\xff" * 200_000)})
    assert "limit" in detail(response, 413) and "400,000" not in response.text


def test_the_key_is_checked_before_the_body_is_read(small_limits):
    """Bodies that cannot be parsed: without the key the answer is 401, not a body error."""
    bad_json = {"Content-Type": "application/json"}
    for headers in ({}, {"X-API-Key": "wrong"}):
        for path, ctype in (("/api/cypher", "application/json"), ("/api/review", "application/json"),
                            ("/api/ingest", "multipart/form-data; boundary=xyz")):
            response = small_limits.post(path, content=b"{not json or multipart", headers={**headers, "Content-Type": ctype})
            assert "api key" in detail(response, 401).lower()
        # Over the size limit too: the key comes first.
        assert "api key" in detail(small_limits.post("/api/cypher", content=b" " * 5_000,
                                                     headers={**headers, **bad_json}), 401).lower()


def test_no_key_server_refuses_keyed_routes_before_reading(matched_graph):
    app, host = make_app(matched_graph.db, api_key=None, read_only=True)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        for path in ("/api/cypher", "/api/review", "/api/ingest"):
            assert "without an API key" in detail(client.post(path, content=b"{", headers={
                **AUTH, "Content-Type": "application/json"}), 403)
    finally:
        host.close()
