"""Body limits per route (ingest: max_body; photo search: about max_image; JSON: max_json), counted
as the body streams in, the API key checked before a keyed route's body is read, and time limits for
clients that send their headers or body too slowly."""

from __future__ import annotations

import socket
import time

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


def _live(app, **timeouts):
    from shopgraph.serve.host import ServeSettings
    from tests.serve.conftest import LiveServer

    return LiveServer(app, ServeSettings(**timeouts)).start()


def _closed_within(sock, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the connection within seconds, what it sent)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
        return True, received
    except (socket.timeout, TimeoutError):
        return False, received
    except ConnectionResetError:
        return True, received


def test_slow_clients_are_disconnected(matched_graph):
    """Issue 13, finding 11: a client trickling its headers or its body held a connection for ever."""
    app, host = make_app(matched_graph.db, read_only=True, body_idle_timeout=1.0, body_timeout=3.0)
    server = _live(app, header_timeout=1.0)
    try:
        port = server.port
        # Headers, one byte at a time, never finished: each byte is well within uvicorn's keep-alive
        # timeout, which any byte resets; the header limit closes the connection anyway.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.monotonic()
            for byte in b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ":
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.1)
                if time.monotonic() - started > 8:
                    break
            closed, _ = _closed_within(sock, 5)
            assert closed and time.monotonic() - started < 8
        # A body that stops arriving: 408 and the connection closed.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: 5000\r\n\r\n--b\r\n")
            closed, answer = _closed_within(sock, 6)
            assert closed and answer.startswith(b"HTTP/1.1 408"), answer[:200]
        # A body trickled fast enough between parts but never finished: cut at body_timeout.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: 5000\r\n\r\n--b\r\n")
            started, answer = time.monotonic(), b""
            sock.settimeout(0.5)
            while not answer and time.monotonic() - started < 8:
                try:
                    sock.sendall(b"x")      # one byte every 0.5 s: never idle for body_idle_timeout
                    answer = sock.recv(4096)
                except (socket.timeout, TimeoutError):
                    continue
                except OSError:
                    break
            assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 6, answer[:200]
        # A normal client is not affected.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            closed, answer = _closed_within(sock, 10)
            assert answer.startswith(b"HTTP/1.1 200")
    finally:
        server.stop()
        host.close()
