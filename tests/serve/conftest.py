"""Fixtures for the server tests: copies of the small real demo graph with matching labels, a trained
pair scorer and a review queue, an app over each, and a live uvicorn server on loopback. The shared
app and the live server come twice: on the embedded store and on the session's live Neo4j (the
same graph migrated into it, its scorer copied beside it)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shopgraph.graph.store import GraphBatch

KEY = "test-key-0123456789"


@dataclass
class ServedGraph:
    db: Path
    review: list[tuple[str, str]]   # (src, dst) pairs waiting for review
    labelled: tuple[str, str]       # a SAME_AS label pair (shop_a id, shop_b id)
    photos: Path                    # the demo catalog's folder: the copies' --image-root


def copy_graph(db: Path, to: Path) -> Path:
    """A private copy of a closed database and everything in its folder (index, cache, models, and the
    demo catalog's photos, which the graph names relative to that folder)."""
    to.mkdir(parents=True, exist_ok=True)
    for item in db.parent.iterdir():
        target = to / item.name
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target)
    return to / db.name


@pytest.fixture(scope="session")
def matched_graph(demo_graph, tmp_path_factory) -> ServedGraph:
    """The demo graph with half of its known matches as labels, a pair scorer trained on them, a
    matching run (SAME_AS matched/review with evidence), and two extra pairs queued for review."""
    from shopgraph.ingest.pipeline import ingest_same_as
    from shopgraph.queries.api import ShopGraph

    db = copy_graph(demo_graph.db, tmp_path_factory.mktemp("served"))
    labels = demo_graph.truth[::2]
    with ShopGraph.open(db) as sg:
        ingest_same_as(sg.store, labels, "label", "test:truth")
        # Near misses as non-matches: each labelled source with another pair's target.
        wrong = [(a, labels[(i + 1) % len(labels)][1]) for i, (a, _) in enumerate(labels)]
        ingest_same_as(sg.store, wrong, "label", "test:truth", different=True)
        sg.train_matcher("shop_a", "shop_b")
        sg.match_platforms("shop_a", "shop_b")
        # Two known pairs queued explicitly, so the queue is never empty whatever the scorer decided.
        queued = demo_graph.truth[1:5:2]
        sg.store.write(GraphBatch(relationships={"SAME_AS": [
            {"src": a, "dst": b, "score": 0.5, "method": "test", "model_version": "t", "status": "review",
             "evidence": '[{"group": "numbers", "effect": 0.4, "values": {"numbers_jaccard": 1.0}}]'}
            for a, b in queued]}))
        review = [(r["src"], r["dst"]) for r in sg.review_queue(limit=500)]
    return ServedGraph(db, review, labels[0], demo_graph.catalog.root)


@pytest.fixture
def served_copy(matched_graph, tmp_path) -> ServedGraph:
    """A private copy of matched_graph for a test that writes."""
    return ServedGraph(copy_graph(matched_graph.db, tmp_path / "g"), matched_graph.review, matched_graph.labelled,
                       matched_graph.photos)


def make_app(db, **settings):
    """(app, host) over a database path, or over an open ShopGraph (which the host then owns)."""
    from shopgraph.queries.api import ShopGraph
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings

    read_only = settings.get("read_only", False)
    graph = db if isinstance(db, ShopGraph) else ShopGraph.open(db, read_only=read_only)
    host = GraphHost(graph, ServeSettings(**{"api_key": KEY, **settings}))
    return create_app(host), host


def neo4j_copy(served: ServedGraph, server, local_dir: Path, config=None):
    """served's graph migrated into the live Neo4j (emptied first), its trained pair scorer copied to
    where a Neo4j graph keeps its models (migrate copies the graph only); an open ShopGraph on it."""
    from dataclasses import replace

    from shopgraph.config import Config
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.migrate import migrate
    from shopgraph.queries.api import ShopGraph
    from tests.neo4j_live import empty

    empty(server)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.environment().items():
            patch.setenv(key, value)
        config = config or Config()
        # The graph names its photos relative to the embedded database's folder; the Neo4j copy's
        # local folder is elsewhere, so its image root is set to where the photos are.
        config = replace(config, neo4j=replace(config.neo4j, local_dir=str(local_dir)),
                         ingest=replace(config.ingest, image_root=config.ingest.image_root or str(served.db.parent)))
        graph = ShopGraph.open("neo4j", config=config)
    with EmbeddedStore.open(served.db, read_only=True) as source:
        migrate(source, graph.store)
    shutil.copytree(f"{served.db}.models", f"{graph.store_path}.models")
    return graph


@pytest.fixture(scope="module", params=["embedded", "neo4j"])
def shared_app(request, matched_graph, tmp_path_factory):
    """An app over a module-wide copy (tests that write use pairs no other test reads), on each store."""
    from fastapi.testclient import TestClient

    if request.param == "neo4j":
        target = neo4j_copy(matched_graph, request.getfixturevalue("neo4j_server"), tmp_path_factory.mktemp("n4j"))
    else:
        target = copy_graph(matched_graph.db, tmp_path_factory.mktemp("shared"))
    app, host = make_app(target, cypher_timeout=2.0, image_root=matched_graph.photos)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, host
    host.close()


@pytest.fixture(params=["embedded", "neo4j"])
def open_copy(request, served_copy, tmp_path):
    """open_copy(config=None) -> a read-write ShopGraph on a private copy of the matched graph: a
    LadybugDB copy, or the live Neo4j holding it (for tests that write)."""
    from shopgraph.queries.api import ShopGraph

    if request.param == "neo4j":
        server = request.getfixturevalue("neo4j_server")
        return lambda config=None: neo4j_copy(served_copy, server, tmp_path / "n4j", config)
    return lambda config=None: ShopGraph.open(served_copy.db, config=config)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a background thread; stop() ends it."""

    def __init__(self, app, settings=None):
        import uvicorn

        from shopgraph.serve.host import ServeSettings
        from shopgraph.serve.run import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port, settings or ServeSettings()))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(params=["embedded", "neo4j"])
def live_server(request, served_copy, tmp_path):
    """(server, graph copy, host): uvicorn on a private copy, on each store."""
    target = served_copy.db
    if request.param == "neo4j":
        target = neo4j_copy(served_copy, request.getfixturevalue("neo4j_server"), tmp_path / "n4j")
    app, host = make_app(target, image_root=served_copy.photos)
    server = LiveServer(app).start()
    yield server, served_copy, host
    server.stop()
    host.close()
