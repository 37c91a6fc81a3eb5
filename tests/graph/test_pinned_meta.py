"""store.pinned_meta(): a search reads the graph's version, database id and model records once; writes
never see the pin; a pin older than an index another thread synced since never rebuilds that index."""

from __future__ import annotations

import logging
import threading

import numpy as np

from shopgraph.config import IndexConfig
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.queries.api import ShopGraph
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def _open(db) -> ShopGraph:
    store = EmbeddedStore.open(db, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))
    return ShopGraph(store, store_path=db)


def _in_thread(work) -> None:
    failed = []

    def run():
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            failed.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def test_a_search_with_current_indexes_runs_two_statements(graph):
    """Before the pin a hybrid search ran 12 statements for the same few Meta values (the lexical
    mirror's check, each vector channel's BEGIN / generation / COMMIT, the model record)."""
    title = graph.cypher("MATCH (p:Product) RETURN p.title AS t ORDER BY p.id LIMIT 1")[0]["t"]
    graph.search(title, k=10)  # indexes load, caches fill
    seen = []
    graph.store.trace = lambda query, params: seen.append(query)
    try:
        hits = graph.search(title, k=10)
    finally:
        graph.store.trace = None
    assert hits
    assert len(seen) <= 2, seen
    assert not any("BEGIN" in q for q in seen), seen


def test_a_write_inside_a_pin_bumps_the_real_generation_and_later_reads_see_it(tmp_path):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        store.write(catalog_batch([product("1")]))
        before = store.generation()
        with store.pinned_meta():
            assert store.generation() == before
            store.write(catalog_batch([product("2", seed=1)]))
            assert store.generation() == before + 1
            store.write(catalog_batch([product("3", seed=2)]))
            assert store.generation() == before + 2
        assert store.generation() == before + 2


def test_a_pin_older_than_an_index_synced_since_does_not_rebuild_it(tmp_path, caplog):
    db = tmp_path / "g.db"
    with _open(db) as sg:
        sg.store.write(catalog_batch([product("1", title="red kettle")]))
        query = np.asarray(product("2", seed=5)["text_vec"], dtype=np.float32)
        sg.store.vector_search("text_vec", query, 5)
        sg.lexical.index()
        lexical = sg.lexical._index
        with sg.store.pinned_meta():  # pinned at the first write's generation

            def another_thread_writes_and_searches():
                sg.store.write(catalog_batch([product("2", title="blue kettle", seed=5)]))
                sg.store.vector_search("text_vec", query, 5)
                sg.lexical.index()

            _in_thread(another_thread_writes_and_searches)
            with caplog.at_level(logging.INFO):
                hits = sg.store.vector_search("text_vec", query, 5)
                found = sg.lexical.index().search("kettle")
        assert "rebuilding" not in caplog.text
        assert sg.lexical._index is lexical  # neither reopened nor rebuilt
        assert hits[0][0] == "shop_a:2"
        assert sorted(i for i, _ in found) == ["shop_a:1", "shop_a:2"]


def test_reads_inside_a_pin_are_one_snapshot_with_the_meta_they_need(tmp_path):
    """A pinned search's read of derived fused vectors must take the fusion weights from the same
    snapshot as the rows: a first ingest committed after the pin (weights recorded, text-only
    fused_vec left null) once made 48 of 60 products vanish inside the pin."""
    from shopgraph.config import FusionConfig
    from shopgraph.graph.store import GraphBatch
    from shopgraph.ingest.encoders.fusion import fusion_weights
    from tests.graph.test_derived_fused import _catalog

    rows = _catalog()[0]
    ids = [r["id"] for r in rows]
    with EmbeddedStore.open(tmp_path / "g.db") as store:
        with store.pinned_meta():  # the graph has no fusion weights yet
            _in_thread(lambda: store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig()))))
            got, _ = store.get_vectors("Product", "fused_vec", ids)
            assert sorted(got) == sorted(ids)
            assert store.count_with_vector("fused_vec") == len(ids)


def test_a_write_inside_unpinned_leaves_no_stale_pin_behind(tmp_path):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        store.write(catalog_batch([product("1")]))
        with store.pinned_meta():
            with store.unpinned():
                store.write(catalog_batch([product("2", seed=1)]))
            assert store.generation() == 2  # the thread's own write, not the pinned generation 1
