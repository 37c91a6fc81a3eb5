"""`shopgraph serve` from the command line: argument errors are one line, and a real server process
on the demo graph serves the page and the API, with a key made and printed when none is given."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from shopgraph.cli import main
from tests.helpers import REPO
from tests.serve.conftest import free_port


@pytest.mark.parametrize("argv, message", [
    (["--db", "/nonexistent/graph.db"], "no shopgraph database"),
    (["--port", "0"], "--port must be"),
    (["--port", "70000"], "--port must be"),
    (["--api-key", "short"], "at least 8 characters"),
    (["--cypher-timeout", "0"], "must be positive"),
])
def test_argument_errors_are_one_line(argv, message, capsys, tmp_path):
    code = main(["serve", *argv] if "--db" in argv else ["serve", "--db", str(tmp_path / "x.db"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_serve_process_shows_the_page_and_the_api(matched_graph, tmp_path):
    from tests.serve.conftest import copy_graph

    db = copy_graph(matched_graph.db, tmp_path / "g")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SHOPGRAPH_API_KEY"}
    process = subprocess.Popen([sys.executable, "-m", "shopgraph", "serve", "--db", str(db), "--port", str(port)],
                               cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("#key=" in line for line in lines):
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
        key = re.search(r"#key=(\S+)", "".join(lines))
        assert key, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # uvicorn binds just after the banner
            try:
                page = httpx.get(base + "/", timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert page.status_code == 200 and "<title>shopgraph</title>" in page.text
        assert httpx.get(base + "/api/search", params={"q": "backpack", "k": 3}).json()["results"]
        cypher = {"query": "RETURN 1 AS one"}
        assert httpx.post(base + "/api/cypher", json=cypher).status_code == 401
        assert httpx.post(base + "/api/cypher", json=cypher, headers={"X-API-Key": key.group(1)}).json()["rows"] == [{"one": 1}]
        # The access log on stderr: a line per request, without the query string or the key.
        process.terminate()
        process.wait(timeout=30)
        log = process.stderr.read()
        assert re.search(r"127\.0\.0\.1 GET /api/search 200 \d+\.\d ms", log), log
        assert re.search(r"POST /api/cypher 401 .*\n.*POST /api/cypher 200 ", log), log
        assert "backpack" not in log and key.group(1) not in log
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
