"""The vector index beside a database knows which database and which generation it mirrors (issue 13,
finding 2): an index of another database, or of a newer generation than the graph, is rebuilt from the
graph and never served."""

from __future__ import annotations

import json
import shutil

import numpy as np

from shopgraph.config import IndexConfig
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product

INDEX = IndexConfig(min_ann_size=0)


def _open(path, **kwargs):
    return EmbeddedStore.open(path, dims=SMALL_DIMS, index_config=INDEX, **kwargs)


def _manifest(db, prop="fused_vec") -> dict:
    return json.loads((db.parent / f"{db.name}.index" / prop / "manifest.json").read_text())


def test_database_made_anew_at_the_same_path_gets_its_own_index(tmp_path):
    db = tmp_path / "demo.db"
    with _open(db) as store:
        for n in range(4):  # four batches: generation 4
            store.write(catalog_batch([product(f"{n}-{i}", seed=10 * n + i) for i in range(5)]))
        old_query = product("0-0", seed=0)["fused_vec"]
        assert store.vector_search("fused_vec", old_query, 1)[0][0] == "shop_a:0-0"
        old_generation = store.generation()
    assert _manifest(db)["revision"] == old_generation
    for leftover in tmp_path.iterdir():  # the user deletes the database, not the index beside it
        if leftover.name.startswith("demo.db") and not leftover.name.endswith(".index"):
            leftover.unlink()

    with _open(db) as store:
        new_ids = []
        while store.generation() < old_generation:  # the new graph reaches the old index's revision
            n = store.generation()
            batch = [product(f"new{n}-{i}", platform="shop_b", seed=500 + 10 * n + i) for i in range(3)]
            store.write(catalog_batch(batch))
            new_ids += [p["id"] for p in batch]
        assert store.generation() == old_generation
        target = product(f"new0-1", platform="shop_b", seed=501)["fused_vec"]
        hits = store.vector_search("fused_vec", target, 5)
        assert hits[0][0] == "shop_b:new0-1"
        assert {i for i, _ in hits} <= set(new_ids)
        assert store.vector_search("fused_vec", old_query, 20)  # answered from the new graph only
        assert {i for i, _ in store.vector_search("fused_vec", old_query, 20)} <= set(new_ids)
        new_id = store.get_meta("database_id")
    assert _manifest(db)["source"] == new_id
    with _open(db, read_only=True) as reader:  # a fresh reader loads the new index from disk
        assert reader.vector_search("fused_vec", target, 1)[0][0] == "shop_b:new0-1"


def test_index_newer_than_the_graph_is_rebuilt(tmp_path):
    """A database restored from an older copy: the index beside it has seen later vectors."""
    db = tmp_path / "g.db"
    with _open(db) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(10)]))
    shutil.copy(db, tmp_path / "copy.db")
    with _open(db) as store:
        moved = product("3", seed=99)  # product 3 gets another vector, at a later generation
        store.write(catalog_batch([moved]))
        store.vector_search("fused_vec", moved["fused_vec"], 1)
        assert _manifest(db)["revision"] == store.generation() == 2
    shutil.copy(tmp_path / "copy.db", db)  # restored: generation 1, product 3 has its old vector

    with _open(db) as store:
        assert store.generation() == 1
        hits = dict(store.vector_search("fused_vec", moved["fused_vec"], 10))
        exact = dict(store.vector_search("fused_vec", moved["fused_vec"], 10, exact=True))
        assert hits.keys() == exact.keys()
        assert np.allclose([hits[i] for i in exact], list(exact.values()), atol=1e-5)


def test_database_without_an_id_gets_one_when_opened_read_write(tmp_path):
    db = tmp_path / "old.db"
    with _open(db) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(10)]))
        store.cypher("MATCH (m:Meta {key: 'database_id'}) DELETE m", allow_write=True)  # as older versions made it
        assert store.get_meta("database_id") is None
    query = product("4", seed=4)["fused_vec"]
    with _open(db, read_only=True) as reader:  # searches work, the index stays in memory
        assert reader.vector_search("fused_vec", query, 1)[0][0] == "shop_a:4"
    assert not (tmp_path / "old.db.index" / "fused_vec" / "manifest.json").exists()
    with _open(db) as store:
        given = store.get_meta("database_id")
        assert given and len(given) == 32
        assert store.vector_search("fused_vec", query, 1)[0][0] == "shop_a:4"
    assert _manifest(db)["source"] == given
