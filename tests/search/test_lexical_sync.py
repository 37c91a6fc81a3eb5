"""The lexical index lives with the database (<db>.index/lexical/) and follows its writes: ingest,
delete, re-ingest, write queries; same identity rules as the vector index; kill-safe."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from shopgraph.config import IndexConfig
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.store import GraphBatch
from shopgraph.queries.api import ShopGraph
from shopgraph.search.lexical_index import LexicalIndex
from shopgraph.search.lexical_sync import index_folder
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product

REPO = Path(__file__).resolve().parents[2]


def _open(db, read_only=False) -> ShopGraph:
    store = EmbeddedStore.open(db, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0), read_only=read_only)
    return ShopGraph(store, store_path=db)


def _with_identifier(p: dict, raw: str) -> GraphBatch:
    batch = catalog_batch([p])
    key = f"mpn:{raw.lower().replace('-', '')}"
    batch.nodes["Identifier"] = [{"key": key, "scheme": "mpn", "value": raw.lower().replace("-", "")}]
    batch.relationships["HAS_IDENTIFIER"] = [{"src": p["id"], "dst": key, "raw": raw, "source_column": "mpn"}]
    batch.replace_outgoing["HAS_IDENTIFIER"] = [p["id"]]
    return batch


def _ids(hits):
    return [i for i, _ in hits]


def test_written_products_are_found_by_words_and_model_number_and_deleted_ones_go(tmp_path):
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(_with_identifier(product("1", title="Sony Walkman cassette player"), "WM-330S"))
        g.store.write(catalog_batch([product("2", title="Red cotton summer dress"),
                                     product("3", title="连衣裙 女 夏季 碎花")]))
        index = g.lexical.index()
        assert index.lookup("wm330s") == [("shop_a:1", 1)]
        assert _ids(index.search("walkman"))[0] == "shop_a:1"
        assert _ids(index.search("连衣裙")) == ["shop_a:3"]
        g.delete_products(["shop_a:2"])
        assert g.lexical.index().search("dress") == []
        g.store.write(catalog_batch([product("3", title="Blue linen summer dress")]))  # re-ingest changes it
        assert _ids(g.lexical.index().search("dress")) == ["shop_a:3"]
        assert g.lexical.index().search("连衣裙") == []
    folder = index_folder(db)
    assert (folder / "manifest.json").exists()
    with _open(db, read_only=True) as reader:  # a reader uses the copy the writer left on disk
        index = reader.lexical.index()
        assert index.path is not None and index.path.parent == folder
        assert reader.lexical.index().lookup("WM 330 S") == [("shop_a:1", 1)]


def test_a_reader_never_serves_a_stale_disk_copy(tmp_path):
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product("1", title="garden hose")]))
    # a writer that dies before syncing: the graph moves on, the index on disk stays behind
    store = EmbeddedStore.open(db, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))
    store.write(catalog_batch([product("2", title="desk lamp")]))
    store.close()
    with _open(db, read_only=True) as reader:
        index = reader.lexical.index()
        assert _ids(index.search("lamp")) == ["shop_a:2"]
        assert index.path is None  # answered from a private copy synced from the graph


def test_an_index_of_another_database_is_rebuilt_not_served(tmp_path):
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product("1", title="garden hose")]))
    old_index = tmp_path / "kept"
    shutil.copytree(index_folder(db), old_index)
    shutil.rmtree(tmp_path / "g.db.index")
    db.unlink()
    with _open(db) as g:  # a new database at the same path, the old database's index put back
        shutil.copytree(old_index, index_folder(db))
        g.store.write(catalog_batch([product("9", title="desk lamp")]))
        index = g.lexical.index()
        assert index.search("hose") == []
        assert _ids(index.search("lamp")) == ["shop_a:9"]
        assert index.database_id.startswith(g.store.get_meta("database_id"))


def test_an_index_claiming_a_newer_generation_is_rebuilt(tmp_path):
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product("1", title="garden hose")]))
        g.lexical.index().set_revision(99)  # e.g. a database restored from an older copy
        g.lexical.close()
        assert _ids(g.lexical.index().search("hose")) == ["shop_a:1"]
        assert g.lexical.index().revision == g.store.generation()


def test_killed_during_a_sync_the_next_open_is_consistent(tmp_path):
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product(str(i), title=f"hose model {i}") for i in range(50)]))
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.search.test_lexical_sync import _open
        from tests.contract.test_store_contract import catalog_batch, product
        import shopgraph.search.lexical_sync as sync_module
        sync_module.BATCH = 10
        from shopgraph.search.lexical_index import LexicalIndex
        real = LexicalIndex.upsert
        calls = []
        def upsert(self, ids, docs, revision=None):
            real(self, ids, docs, revision)
            calls.append(1)
            if len(calls) == 2:  # two batches committed, the revision not yet
                os.kill(os.getpid(), signal.SIGKILL)
        LexicalIndex.upsert = upsert
        g = _open({str(db)!r})
        g.store.write(catalog_batch([product(str(i), title=f"lamp model {{i}}") for i in range(50)]))
        g.lexical.index()
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with _open(db) as g:
        index = g.lexical.index()
        assert index.revision == g.store.generation()
        assert len(_ids(index.search("lamp", k=100))) == 50
        assert index.search("hose") == []


def test_in_memory_graph_keeps_its_index_in_memory(tmp_path):
    store = EmbeddedStore.open(tmp_path / "m.db", dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))
    with ShopGraph(store) as g:  # no store_path: nothing written beside the database
        g.store.write(catalog_batch([product("1", title="garden hose")]))
        assert _ids(g.lexical.index().search("hose")) == ["shop_a:1"]
    assert not (tmp_path / "m.db.index" / "lexical").exists()
    assert isinstance(LexicalIndex.memory(), LexicalIndex)


def test_a_search_reads_the_graphs_version_in_one_statement(tmp_path):
    """The lexical mirror's per-search check (generation, database id, schema version) is one Meta
    read, not three read transactions of three statements each (a search's fixed cost)."""
    db = tmp_path / "g.db"
    with _open(db) as sg:
        sg.store.write(catalog_batch([product("1", title="red kettle")]))
        sg.lexical.index()
        seen = []
        sg.store.trace = lambda query, params: seen.append(query)
        sg.lexical.index()
        sg.store.trace = None
    meta_reads = [q for q in seen if "Meta" in q]
    assert len(meta_reads) == 1, seen
    assert not any("BEGIN" in q for q in seen), seen


def _sorted_docs(batches):
    """{id: document with its lists sorted} and the gone ids, from GraphDocs.changed_since's batches."""
    docs, gone = {}, set()
    for ids, batch, removed in batches:
        gone.update(removed)
        for i, d in zip(ids, batch):
            docs[i] = {k: sorted(v) if isinstance(v, list) else v for k, v in d.items()}
    return docs, gone


def test_many_changes_are_read_in_scanned_pages_with_the_same_documents_as_by_key(tmp_path, monkeypatch):
    """Above one page of changes the embedded store's products are read by scanning node-offset pages
    (a full sync at 1M products read them by key at 2.24 ms a product, by pages at 0.09): every page
    together gives exactly the documents, identifiers, attributes and gone ids the reads by key give."""
    from shopgraph.search import lexical_sync
    from tests.contract.test_catalog_contract import write_catalog

    db = tmp_path / "g.db"
    with _open(db) as g:
        write_catalog(g.store)
        g.store.write(catalog_batch([product(str(i), title=f"Plain kettle {i}") for i in range(10, 17)]))
        g.delete_products(["shop_a:12"])
        g.store.write(catalog_batch([product("11", title="Plain kettle 11", gone=True)]))  # a tombstone
        docs = lexical_sync.GraphDocs(g.store)
        by_key = list(docs.changed_since(-1))  # 9 live, 1 gone: under one page of PAGE rows
        assert g.store.product_pages(-1, lexical_sync.PAGE) is None
        monkeypatch.setattr(lexical_sync, "PAGE", 3)
        pages = g.store.product_pages(-1, 3)
        assert pages is not None and len(pages) >= 4
        paged = list(docs.changed_since(-1))
        assert len(paged) == len(pages)
        assert _sorted_docs(paged) == _sorted_docs(by_key)
        live, gone = _sorted_docs(paged)
        assert gone == {"shop_a:11"} and len(live) == 9 and "shop_a:12" not in live
        assert live["shop_a:1"]["identifiers"] == sorted(["WM-330S", "wm330s", "4006381333931", "04006381333931"])
        assert live["shop_a:1"]["attributes"] == ["capacity 256 GB", "color Black", "color Red"]
        # since a revision: only what changed after it, by pages too
        revision = docs.identity()[1]
        g.store.write(catalog_batch([product(str(i), title=f"Steel kettle {i}") for i in range(13, 17)]))
        changed, _ = _sorted_docs(docs.changed_since(revision))
        assert sorted(changed) == [f"shop_a:{i}" for i in range(13, 17)]
        assert changed["shop_a:14"]["title"] == "Steel kettle 14"
        # and the index a paged sync writes answers like one written by key
        assert _ids(g.lexical.index().search("steel kettle"))[:4] and len(g.lexical.index()) == 9


def test_the_lexical_sync_bench_runs_and_finds_both_reads_agree(tmp_path, monkeypatch):
    """bench.lexical_sync on a small graph with tiny pages: it reads pages and keys, checks they agree
    and writes its JSON (the figures themselves are the benchmark's, not a test's)."""
    import json

    import bench.common
    from bench import lexical_sync as bench_sync
    from shopgraph.search import lexical_sync

    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(lexical_sync, "PAGE", 4)
    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product(str(i), title=f"Kettle {i}") for i in range(20)]))
    results = bench_sync.main(["--db", str(db), "--pages", "2", "--full", "--out", "sync_small"])
    assert results["documents_equal"] is True and results["timed_products"] == 8
    # --full runs the whole sync: every live product written, in pages of 4
    assert results["full_sync"]["documents"] == 20 and results["full_sync"]["changes"] == 20
    saved = json.loads((tmp_path / "sync_small.json").read_text(encoding="utf-8"))
    assert saved["results"]["products"] == 20


def test_pages_only_when_changes_are_dense_and_never_more_than_a_bounded_number(tmp_path):
    """A page scans the whole table (LadybugDB filters offsets after a full scan), so sparse changes
    are read by key, and a full read is split into at most _MAX_PAGES longer pages."""
    from shopgraph.graph import embedded

    db = tmp_path / "g.db"
    with _open(db) as g:
        g.store.write(catalog_batch([product(str(i), title=f"Kettle {i}") for i in range(300)]))
        revision = int(g.store.get_meta("generation"))
        g.store.write(catalog_batch([product(str(i), title=f"Steel kettle {i}") for i in range(5)]))
        assert g.store.product_pages(revision, 3) is None  # 5 of 300 changed: under _PAGES_PAY
        g.store.write(catalog_batch([product(str(i), title=f"Iron kettle {i}") for i in range(40)]))
        pages = g.store.product_pages(revision, 3)  # 40 of 300 changed
        assert pages is not None and len(pages) <= embedded._MAX_PAGES
        assert all(p["hi"] - p["lo"] == pages[0][1]["hi"] - pages[0][1]["lo"] >= 300 // embedded._MAX_PAGES
                   for _, p in pages)
        assert pages[0][1]["lo"] == 0 and pages[-1][1]["hi"] >= 40  # up to the last changed product


def test_the_lexical_sync_bench_names_a_missing_database(tmp_path):
    import pytest

    from bench import lexical_sync as bench_sync

    with pytest.raises(SystemExit, match="no shopgraph database"):
        bench_sync.main(["--db", str(tmp_path / "none.db")])
