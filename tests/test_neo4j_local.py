"""tools/neo4j_local.py without starting Java: the pinned version, where the jars go, and what a
machine without java or mvn is told (one line, and `make test` goes on). The server itself is
started by the live tests' session fixture (tests/conftest.py: neo4j_server)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO
from tools import neo4j_local


def test_the_version_is_the_one_pinned_in_the_pom(monkeypatch, tmp_path):
    pom = (REPO / "tools" / "neo4j" / "pom.xml").read_text()
    pinned = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", pom).group(1)
    assert neo4j_local.pinned_version() == pinned and pinned.startswith("5.26.")
    assert "<artifactId>maven-dependency-plugin</artifactId>\n          <version>" in pom  # the plugin pinned too
    monkeypatch.delenv("SHOPGRAPH_NEO4J_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert neo4j_local.lib_dir() == tmp_path / "shopgraph" / f"neo4j-{pinned}" / "lib"  # outside the repository
    monkeypatch.setenv("SHOPGRAPH_NEO4J_CACHE", str(tmp_path / "elsewhere"))
    assert neo4j_local.lib_dir() == tmp_path / "elsewhere" / "lib"


def test_without_java_or_mvn_fetch_says_so_in_one_line_and_make_test_goes_on(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SHOPGRAPH_NEO4J_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert neo4j_local.main(["fetch", "--if-possible"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "the live Neo4j tests will skip" in out and "java" in out
    assert neo4j_local.main(["fetch"]) == 1
    assert capsys.readouterr().err.startswith("neo4j-local: no java on PATH")
    assert not (tmp_path / "cache" / "lib").exists()


def test_the_live_tests_skip_reason_is_one_line(monkeypatch, tmp_path):
    from tests.neo4j_live import skip_reason

    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.setenv("SHOPGRAPH_NEO4J_CACHE", str(tmp_path / "empty"))
    reason = skip_reason()
    assert reason and "\n" not in reason and reason.startswith("no live Neo4j: NEO4J_URI is not set and ")
    monkeypatch.setenv("NEO4J_URI", "bolt://somewhere:7687")
    assert skip_reason() is None  # an external server is used as it is


@pytest.mark.skipif(neo4j_local.unavailable_reason() is not None, reason="no java or no fetched jars here")
def test_the_session_server_listens_on_loopback_only(neo4j_server):
    if neo4j_server.version:  # the local one (not an external $NEO4J_URI)
        assert neo4j_server.uri.startswith("bolt://127.0.0.1:") and len(neo4j_server.password) >= 24


def test_make_test_fetches_the_jars_before_the_suite():
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shown = subprocess.run(["make", "-n", "-W", "pyproject.toml", "test"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout
    assert shown.index("tools.neo4j_local fetch --if-possible") < shown.index("-m pytest")
