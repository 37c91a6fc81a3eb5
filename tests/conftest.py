"""Session fixtures: a small real graph (generated two-shop catalog, real encoders, real LadybugDB)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class DemoGraph:
    db: Path
    catalog: object            # shopgraph.demo.catalog.DemoCatalog
    truth: list[tuple[str, str]]  # (shop_a product id, shop_b product id)
    summary: object            # IngestSummary of the whole ingest


@pytest.fixture(scope="session")
def demo_graph(tmp_path_factory) -> DemoGraph:
    from shopgraph.demo.catalog import generate_demo_catalog
    from shopgraph.ingest.interactions import load_interaction_mapping
    from shopgraph.ingest.pipeline import IngestSummary
    from shopgraph.queries.api import ShopGraph

    root = tmp_path_factory.mktemp("demo")
    catalog = generate_demo_catalog(root / "catalog", n_products=48, seed=3)
    db = root / "demo.db"
    summary = IngestSummary()
    with ShopGraph.open(db) as graph:
        for data, mapping in catalog.sources:
            summary.merge(graph.ingest(data, mapping, progress=False))
        summary.merge(graph.ingest_interactions(catalog.interactions_path,
                                                load_interaction_mapping(catalog.interactions_mapping_path),
                                                progress=False))
    with open(catalog.truth_path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    truth = [(f"shop_a:{a}", f"shop_b:{b}") for a, b, *_ in rows]
    return DemoGraph(db, catalog, truth, summary)


@pytest.fixture
def graph(demo_graph):
    """The demo graph opened read-only (tests must not change the shared database)."""
    from shopgraph.queries.api import ShopGraph

    with ShopGraph.open(demo_graph.db, read_only=True) as g:
        yield g


# -- a live Neo4j (tests/neo4j_live.py) ------------------------------------------------------------
@pytest.fixture(scope="session")
def neo4j_server():
    """A live Neo4j for the whole session: $NEO4J_URI, or a local Neo4j Community started here on
    first use and stopped at the end of the session. Skips (one line) when neither can be had."""
    from tests.neo4j_live import Neo4jTarget, external_target, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    external = external_target()
    if external is not None:
        yield external
        return
    from tools.neo4j_local import LocalNeo4j

    with LocalNeo4j.start() as server:
        yield Neo4jTarget(server.uri, server.username, server.password, "neo4j", server.version)


@pytest.fixture
def neo4j_env(neo4j_server, monkeypatch):
    """The live Neo4j's NEO4J_* variables set for this test (so `--db neo4j` and
    Neo4jStore.open(None) reach it)."""
    for key, value in neo4j_server.environment().items():
        monkeypatch.setenv(key, value)
    return neo4j_server


@pytest.fixture
def neo4j_empty(neo4j_env):
    """The live Neo4j with its database emptied first (every node; indexes stay)."""
    from tests.neo4j_live import empty

    empty(neo4j_env)
    return neo4j_env
