"""The reader/writer protocol of an embedded database (shopgraph.graph.access_lock), and a long-lived
read-only store beside a writer in another process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from shopgraph.config import IndexConfig
from shopgraph.errors import StoreBusyError
from shopgraph.graph.access_lock import AccessLock
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def lock(db, wait: float = 10.0) -> AccessLock:
    return AccessLock(db, read_wait=wait, write_wait=wait)


def read_in_thread(access: AccessLock, log: list, name: str, hold: threading.Event | None = None) -> threading.Thread:
    def run():
        with access.reading() as marker:
            log.append((name, marker))
            if hold is not None:
                hold.wait(10)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_reader_waits_for_the_commit_and_sees_a_new_marker(tmp_path):
    db = tmp_path / "x.db"
    writer, reader = lock(db), lock(db)
    with reader.reading() as before:
        pass
    log: list = []
    with writer.writing():
        thread = read_in_thread(reader, log, "reader")
        time.sleep(0.3)
        assert log == []  # kept out while the writer commits
    thread.join()
    assert len(log) == 1 and log[0][1] != before and len(log[0][1]) == 16


def test_a_waiting_writer_goes_before_readers_that_come_after_it(tmp_path):
    db = tmp_path / "x.db"
    first, later, writer = lock(db), lock(db), lock(db)
    log: list = []
    release = threading.Event()
    holder = read_in_thread(first, log, "first reader", hold=release)
    while not log:
        time.sleep(0.01)

    def write():
        with writer.writing():
            log.append(("writer", None))

    writing = threading.Thread(target=write)
    writing.start()
    time.sleep(0.3)  # the writer waits for the first reader, holding the gate
    late = read_in_thread(later, log, "later reader")
    time.sleep(0.3)
    assert [name for name, _ in log] == ["first reader"]  # neither the writer nor the later reader yet
    release.set()
    for thread in (holder, writing, late):
        thread.join()
    assert [name for name, _ in log] == ["first reader", "writer", "later reader"]


def test_a_reader_gives_up_with_a_retryable_error(tmp_path):
    db = tmp_path / "x.db"
    writer, reader = lock(db), lock(db, wait=0.3)
    with writer.writing():
        with pytest.raises(StoreBusyError, match="retry"):
            with reader.reading():
                pass


def test_lock_files_deleted_and_made_anew_are_followed(tmp_path):
    db = tmp_path / "x.db"
    reader, writer = lock(db, wait=0.5), lock(db)
    with reader.reading():  # the reader's thread keeps its lock files open
        pass
    for path in (reader.data_path, reader.gate_path):
        path.unlink()
    with writer.writing():  # the writer locks new files at the same paths
        with pytest.raises(StoreBusyError):
            with reader.reading():  # so must the reader, not its deleted ones
                pass


def test_long_lived_reader_sees_each_commit_of_a_writer_process(tmp_path):
    db = tmp_path / "g.db"
    with EmbeddedStore.open(db, dims=SMALL_DIMS) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(5)]))
    with EmbeddedStore.open(db, read_only=True, index_config=IndexConfig(min_ann_size=0)) as reader:
        assert reader.count_nodes("Product") == 5
        for round_ in range(3):
            code = textwrap.dedent(f"""
                from shopgraph.graph.embedded import EmbeddedStore
                from tests.contract.test_store_contract import catalog_batch, product
                with EmbeddedStore.open({str(db)!r}) as s:
                    s.write(catalog_batch([product("new{round_}", seed={100 + round_})]))
            """)
            subprocess.run([sys.executable, "-c", code], check=True)
            assert reader.count_nodes("Product") == 6 + round_
            hit = reader.vector_search("fused_vec", product(f"new{round_}", seed=100 + round_)["fused_vec"], 1)
            assert hit[0][0] == f"shop_a:new{round_}"
