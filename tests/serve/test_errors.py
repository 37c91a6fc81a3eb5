"""Review fixes: 404 by exception type, no server paths in errors, the pair scorer loaded once per
file version, thumbnail sizes from a fixed set, every encoder call on the encoder's one thread."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from shopgraph.errors import BadArgumentError, NotFoundError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def client(shared_app):
    return shared_app[0]


def test_unknown_ids_are_not_found_errors_and_404(client, graph):
    with pytest.raises(NotFoundError):
        graph.product("shop_a:nope")
    with pytest.raises(NotFoundError):
        graph.similar("shop_a:nope")
    assert issubclass(NotFoundError, BadArgumentError)
    for path, params in (("/api/product", {"id": "shop_a:nope"}), ("/api/similar", {"id": "shop_a:nope"}),
                         ("/api/match", {"id": "shop_a:nope", "platform": "shop_b"}),
                         ("/api/image", {"id": "shop_a:nope"}), ("/api/recommend", {"user": "nobody"})):
        assert client.get(path, params=params).status_code == 404, path


def test_a_bad_argument_that_merely_reads_like_not_found_is_a_400():
    from shopgraph.serve.app import _status

    assert _status(BadArgumentError("no product with id 'x' in the text, but raised as a plain bad argument")) == 400
    assert _status(NotFoundError("anything")) == 404


def test_match_without_a_trained_scorer_is_answered_by_the_ready_one_and_says_so(client, matched_graph):
    b_id = matched_graph.labelled[1]
    response = client.get("/api/match", params={"id": b_id, "platform": "shop_a"})
    assert response.status_code == 200
    proposals = response.json()["proposals"]
    assert proposals and all(p["scorer"]["kind"] == "ready" and p["scorer"]["trained_on"] for p in proposals)
    # The demo's platforms are small, so match re-ranks a deeper pool by default, with the shipped rerank
    # scorer: its provenance reaches the API (the response model once refused the field: a 500).
    assert all(p["scorer"]["rerank"]["kind"] == "rerank" and p["scorer"]["rerank"]["version"] for p in proposals)


def test_the_pair_scorer_is_loaded_once_per_file_version(matched_graph, monkeypatch):
    from shopgraph.matching.scorer import PairScorer
    from shopgraph.queries.api import ShopGraph

    loads = []
    real = PairScorer.load.__func__
    monkeypatch.setattr(PairScorer, "load", classmethod(lambda cls, path: loads.append(path) or real(cls, path)))
    a_id = matched_graph.labelled[0]
    with ShopGraph.open(matched_graph.db, read_only=True) as sg:
        sg.match(a_id, platform="shop_b")
        sg.match(a_id, platform="shop_b")
        assert len(loads) == 1
        path = sg.matcher_path("shop_a", "shop_b")
        stat = os.stat(path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        try:
            sg.match(a_id, platform="shop_b")
        finally:
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert len(loads) == 2


def test_thumbnail_sizes_come_from_a_fixed_set():
    from shopgraph.serve.uploads import THUMBNAIL_SIZES, thumbnail_size

    assert len(THUMBNAIL_SIZES) <= 8
    assert {thumbnail_size(n) for n in range(32, 1025)} == set(THUMBNAIL_SIZES)
    assert thumbnail_size(32) == THUMBNAIL_SIZES[0] and thumbnail_size(1024) == 1024
    assert all(thumbnail_size(n) >= n for n in range(32, 1025))


def test_every_encoder_call_runs_on_the_encoder_thread():
    from shopgraph.serve.batching import BatchingTextEncoder

    class Recording:
        dim = 3

        def __init__(self):
            self.threads = set()

        def encode(self, texts, progress=False):
            self.threads.add(threading.current_thread().name)
            return np.ones((len(texts), 3), dtype=np.float32)

    inner = Recording()
    batching = BatchingTextEncoder(inner)
    try:
        assert batching.encode(["one"]).shape == (1, 3)
        assert batching.encode(["a", "b", "c"], progress=True).shape == (3, 3)   # an ingest batch
        assert batching.encode([]).shape == (0, 3)
        results = []
        workers = [threading.Thread(target=lambda i=i: results.append(batching.encode([f"t{i}"] * (1 + i % 3))))
                   for i in range(12)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert sorted(len(r) for r in results) == sorted(1 + i % 3 for i in range(12))
        assert inner.threads == {"query-encoder"}
    finally:
        batching.close()


def test_guard_bypasses_are_refused_by_the_endpoint_and_the_server_lives(client, tmp_path):
    """The reviewer's queries: a setting, a table function that crashed LadybugDB, a schema comment."""
    auth = {"X-API-Key": "test-key-0123456789"}
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    for query, params in (("CALL `threads`=1", {}), ("CALL `checkpoint_threshold`=1", {}),
                          ("CALL `read_csv_serial`($show_tables) RETURN *", {"show_tables": str(csv)}),
                          ("CALL `read_parquet`($show_tables) RETURN *", {"show_tables": str(csv)}),
                          ("COMMENT ON TABLE Brand IS 'x'", {}), ("ANALYZE", {}), ("UPDATE vector", {})):
        response = client.post("/api/cypher", headers=auth, json={"query": query, "params": params})
        assert response.status_code == 403, (query, response.text)
    assert client.post("/api/cypher", headers=auth, json={"query": "RETURN 1 AS one"}).json()["rows"] == [{"one": 1}]
