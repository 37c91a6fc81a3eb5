"""Embedded-store behaviour beyond the contract: files, locks, read-only opens, index persistence."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from shopgraph.config import IndexConfig
from shopgraph.errors import ReadOnlyError, SchemaError, StoreError, StoreLockedError
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "g.db"
    with EmbeddedStore.open(path, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0)) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(20)]))
    return path


def test_reopen_keeps_data_and_dims(db_path):
    with EmbeddedStore.open(db_path) as store:
        assert store.dims == SMALL_DIMS
        assert store.count_nodes("Product") == 20


def test_reopen_with_other_dims_is_a_clear_error(db_path):
    with pytest.raises(SchemaError, match="created with vector widths"):
        EmbeddedStore.open(db_path, dims=VectorDims(text=384, image=6, lexical=4))


def test_read_only_open_refuses_writes(db_path):
    with EmbeddedStore.open(db_path, read_only=True) as store:
        assert store.count_nodes("Product") == 20
        with pytest.raises(ReadOnlyError):
            store.write(catalog_batch([product("x")]))
        with pytest.raises(ReadOnlyError):
            store.cypher("MATCH (p:Product) SET p.price = 1", allow_write=True)


def test_read_only_open_of_missing_database(tmp_path):
    with pytest.raises(StoreError, match="no shopgraph database"):
        EmbeddedStore.open(tmp_path / "missing.db", read_only=True)


def test_not_a_database_file(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        EmbeddedStore.open(bogus)


def test_second_writer_process_gets_a_clear_error(db_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from shopgraph.graph.embedded import EmbeddedStore
        s = EmbeddedStore.open({str(db_path)!r})
        print("open", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLockedError, match="open for writing by another process"):
            EmbeddedStore.open(db_path)
        with EmbeddedStore.open(db_path, read_only=True) as reader:  # readers beside a writer work
            assert reader.count_nodes("Product") == 20
    finally:
        holder.kill()
        holder.wait()


def test_index_is_persisted_and_rebuilt_when_corrupt(db_path):
    query = product("3", seed=3)["fused_vec"]
    with EmbeddedStore.open(db_path, index_config=IndexConfig(min_ann_size=0)) as store:
        first = store.vector_search("fused_vec", query, 5)
    index_dir = db_path.parent / "g.db.index" / "fused_vec"
    assert index_dir.exists()
    files = [f for f in index_dir.rglob("*") if f.is_file()]
    assert files
    for f in files:
        f.write_bytes(b"garbage")
    with EmbeddedStore.open(db_path, index_config=IndexConfig(min_ann_size=0)) as store:
        assert store.vector_search("fused_vec", query, 5) == first


def test_index_notices_writes_from_another_process(db_path):
    with EmbeddedStore.open(db_path, read_only=True, index_config=IndexConfig(min_ann_size=0)) as reader:
        target = product("3", seed=3)["fused_vec"]
        assert reader.vector_search("fused_vec", target, 1)[0][0] == "shop_a:3"
    code = textwrap.dedent(f"""
        from shopgraph.graph.embedded import EmbeddedStore
        with EmbeddedStore.open({str(db_path)!r}) as s:
            s.delete_nodes("Product", ["shop_a:3"])
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    with EmbeddedStore.open(db_path, read_only=True, index_config=IndexConfig(min_ann_size=0)) as reader:
        assert "shop_a:3" not in [i for i, _ in reader.vector_search("fused_vec", target, 5)]


def test_cypher_writes_are_seen_by_search_and_filters(db_path):
    from shopgraph.graph.store import Filters

    with EmbeddedStore.open(db_path, index_config=IndexConfig(min_ann_size=0)) as store:
        target = product("3", seed=3)["text_vec"]
        cheap = Filters(price_max=5.0)
        assert store.vector_search("text_vec", target, 1)[0][0] == "shop_a:3"
        assert store.vector_search("text_vec", target, 5, filters=cheap) == []  # every price is 10.0
        new = np.zeros(SMALL_DIMS.text, dtype=np.float32)
        new[0] = 1.0
        store.cypher("MATCH (p:Product {id: $id}) SET p.text_vec = $v, p.price = 1.0",
                     {"id": "shop_a:7", "v": new.tolist()}, allow_write=True)
        hit = store.vector_search("text_vec", new, 1)
        assert hit[0][0] == "shop_a:7" and hit[0][1] == pytest.approx(1.0, abs=1e-5)
        assert [i for i, _ in store.vector_search("text_vec", target, 5, filters=cheap)] == ["shop_a:7"]


def test_fused_vectors_read_from_the_index_mirror_follow_writes(db_path):
    """Once a search has loaded the fused_vec index, get_vectors answers from its mirror: the same
    values as the database, and new, changed and deleted products are seen at once."""
    with EmbeddedStore.open(db_path, dims=SMALL_DIMS) as store:
        products = [product(str(n), seed=n) for n in range(5)]
        store.write(catalog_batch(products))
        ids = [p["id"] for p in products] + ["shop_a:none"]
        from_db = store.get_vectors("Product", "fused_vec", ids)
        store.vector_search("fused_vec", products[0]["fused_vec"], 3)  # loads the index
        from_mirror = store.get_vectors("Product", "fused_vec", ids)
        assert from_mirror[0] == from_db[0] == ids[:5]
        np.testing.assert_array_equal(from_mirror[1], from_db[1])
        changed = product("1", seed=99)
        store.write(catalog_batch([changed, product("9", seed=9)]))
        store.delete_nodes("Product", ["shop_a:0"])
        got_ids, vectors = store.get_vectors("Product", "fused_vec", ["shop_a:0", "shop_a:1", "shop_a:9"])
        assert got_ids == ["shop_a:1", "shop_a:9"]
        np.testing.assert_allclose(vectors[0], np.asarray(changed["fused_vec"], dtype=np.float32), atol=1e-6)
