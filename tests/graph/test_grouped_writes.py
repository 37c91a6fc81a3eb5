"""Grouped writes (issue 18, Scale round 6): several writes of one thread share a transaction until
commit_writes(), so a bulk writer checkpoints once per many rows. What must hold: the writer's thread
sees its own uncommitted writes, every other reader (another thread, another process) sees the last
commit and is not kept waiting, an error rolls back only what is not committed, and a SIGKILL between
a write and its commit leaves exactly the committed rows in a database that opens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from shopgraph.errors import StoreError
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def _batch(lo: int, hi: int):
    return catalog_batch([product(f"p{i}", seed=i) for i in range(lo, hi)])


def _count_elsewhere(db) -> int:
    """Products a read-only store in another process sees (it must not wait for the writer)."""
    code = textwrap.dedent(f"""
        from shopgraph.graph.embedded import EmbeddedStore
        from shopgraph.config import StoreConfig
        with EmbeddedStore.open({str(db)!r}, read_only=True, store_config=StoreConfig(read_wait=5)) as store:
            print(store.count_nodes("Product"))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def _count_in_thread(store) -> int:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(store.count_nodes("Product")))
    thread.start()
    thread.join(30)
    return seen[0]


def test_writes_share_a_transaction_that_only_their_thread_sees_until_commit(tmp_path):
    db = tmp_path / "g.db"
    with EmbeddedStore.open(db, dims=SMALL_DIMS) as store:
        with store.grouped_writes():
            store.write(_batch(0, 5))
            store.write(_batch(5, 10))
            assert store.count_nodes("Product") == 10  # its own writes
            assert _count_in_thread(store) == 0
            assert _count_elsewhere(db) == 0
            store.commit_writes()
            store.write(_batch(10, 15))
            assert _count_in_thread(store) == 10
            assert _count_elsewhere(db) == 10
        assert store.count_nodes("Product") == 15  # leaving the block commits
    assert _count_elsewhere(db) == 15


def test_two_writes_in_a_group_commit_once(tmp_path):
    """The point of grouping: one COMMIT (one LadybugDB checkpoint) for several writes with COPY."""
    seen = []
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        store.trace = lambda query, params: seen.append(query)
        with store.grouped_writes():
            for lo in range(0, 40, 10):
                store.write(_batch(lo, lo + 10))
        begins = [q for q in seen if q == "BEGIN TRANSACTION"]
        assert len(begins) == 1 and seen.count("COMMIT") - seen.count("BEGIN TRANSACTION READ ONLY") == 1
        assert store.count_nodes("Product") == 40


def test_an_error_rolls_back_only_what_was_not_committed(tmp_path):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        with pytest.raises(RuntimeError, match="stop"):
            with store.grouped_writes():
                store.write(_batch(0, 5))
                store.commit_writes()
                store.write(_batch(5, 10))
                raise RuntimeError("stop")
        assert store.count_nodes("Product") == 5
        store.write(_batch(5, 10))  # the store writes on afterwards
        assert store.count_nodes("Product") == 10


def test_a_write_query_inside_a_group_is_refused(tmp_path):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        with store.grouped_writes():
            store.write(_batch(0, 3))
            with pytest.raises(StoreError, match="inside grouped writes"):
                store.cypher("MATCH (p:Product) SET p.price = 1", allow_write=True)
        assert store.count_nodes("Product") == 3


KILLED_WRITER = """
import os, signal, sys
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product
store = EmbeddedStore.open(sys.argv[1], dims=SMALL_DIMS)
with store.grouped_writes():
    store.write(catalog_batch([product(f"p{i}", seed=i) for i in range(0, 30)]))
    store.commit_writes()
    for lo in range(30, 90, 20):   # written, not committed
        store.write(catalog_batch([product(f"p{i}", seed=i) for i in range(lo, lo + 20)]))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_kill_between_grouped_writes_and_their_commit_keeps_the_last_commit(tmp_path):
    db = tmp_path / "g.db"
    dead = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert _count_elsewhere(db) == 30
    with EmbeddedStore.open(db, dims=SMALL_DIMS) as store:
        ids = [r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id")]
        assert sorted(i.split(":", 1)[1] for i in ids) == sorted(f"p{i}" for i in range(30))
        with store.grouped_writes():  # the same writes again finish the job
            store.write(_batch(0, 90))
        assert store.count_nodes("Product") == 90
