"""The server's access log (one line per request: client, method, path, status, ms; never a query
string, header or body) and its offline API docs at /docs (Swagger UI from the swagger-ui-bundle
package, no inline script). The docs page in a browser with the network off: test_browser.py."""

from __future__ import annotations

import logging
import re

import pytest

from tests.serve.conftest import KEY, copy_graph

ACCESS = "shopgraph.access"


@pytest.fixture(scope="module")
def client(matched_graph, tmp_path_factory):
    from fastapi.testclient import TestClient

    from shopgraph.queries.api import ShopGraph
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings

    db = copy_graph(matched_graph.db, tmp_path_factory.mktemp("access"))
    host = GraphHost(ShopGraph.open(db, read_only=True), ServeSettings(api_key=KEY, max_json=1000))
    with TestClient(create_app(host, warm_up=False), raise_server_exceptions=False) as c:
        yield c
    host.close()


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ACCESS]


def test_a_line_per_request_with_status_and_time(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/nothing-here").status_code == 404
    assert client.post("/api/cypher", json={"query": "RETURN 1"}).status_code == 401       # refused before the app
    assert client.post("/api/cypher", content=b"x" * 5000, headers={"X-API-Key": KEY,
                                                                   "content-type": "application/json"}).status_code == 413
    lines = access_lines(caplog)
    assert len(lines) == 4, lines
    pattern = r"testclient {} {} {} \d+\.\d ms"
    for line, (method, path, status) in zip(lines, [("GET", "/api/health", 200), ("GET", "/api/nothing-here", 404),
                                                    ("POST", "/api/cypher", 401), ("POST", "/api/cypher", 413)]):
        assert re.fullmatch(pattern.format(method, re.escape(path), status), line), line


def test_no_query_string_key_or_body_in_the_log(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    client.get("/api/platforms", params={"q": "my-secret-search", "key": "sk-live-123"}, headers={"X-API-Key": KEY})
    client.post("/api/cypher", json={"query": "RETURN 'body-secret' AS x"}, headers={"X-API-Key": KEY})
    client.get("/api/health%0Afake 200 line")  # a newline in the path cannot forge a second line
    text = "\n".join(access_lines(caplog))
    assert len(access_lines(caplog)) == 3
    for secret in ("my-secret-search", "sk-live-123", KEY, "body-secret", "?"):
        assert secret not in text
    assert "/api/health\\nfake 200 line 404" in text


def test_silenced(client, caplog):
    caplog.set_level(logging.WARNING, logger=ACCESS)
    client.get("/api/health")
    assert access_lines(caplog) == []


def test_docs_are_served_locally_without_inline_script(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)  # local files only
    assert "http" not in page.text  # no CDN
    for src in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 100, src
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert client.get("/docs/assets/../app.py").status_code == 404
