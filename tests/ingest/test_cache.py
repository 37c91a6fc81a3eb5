"""VectorCache: round trips, namespaces, corrupt files, and a SIGKILL in the middle of writes."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from shopgraph.ingest.encoders.cache import VectorCache

REPO = Path(__file__).resolve().parents[2]


def vec(seed: int, d: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=d).astype(np.float32)


def test_round_trip_and_namespaces(tmp_path):
    path = tmp_path / "cache.sqlite"
    with VectorCache(path) as cache:
        cache.put_many("model-a", {"k1": vec(1), "k2": vec(2, 8)})
        cache.put_many("model-b", {"k1": vec(3)})
        got = cache.get_many("model-a", ["k1", "k2", "absent", "k1"])
        assert set(got) == {"k1", "k2"}
        np.testing.assert_array_equal(got["k1"], vec(1))
        assert got["k2"].shape == (8,) and got["k2"].dtype == np.float32
        np.testing.assert_array_equal(cache.get_many("model-b", ["k1"])["k1"], vec(3))
        assert cache.get_many("model-c", ["k1"]) == {}
        assert cache.get_many("model-a", []) == {}
    with VectorCache(path) as again:  # persisted
        np.testing.assert_array_equal(again.get_many("model-a", ["k2"])["k2"], vec(2, 8))
        assert len(again) == 3
        mode = again.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_float64_input_is_stored_as_float32_and_replace_works(tmp_path):
    with VectorCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("ns", {"k": np.arange(4, dtype=np.float64) / 3})
        cache.put_many("ns", {"k": np.arange(4, dtype=np.float64) / 7})  # same key: replaced
        got = cache.get_many("ns", ["k"])["k"]
        np.testing.assert_array_equal(got, (np.arange(4) / 7).astype(np.float32))
        with pytest.raises(ValueError):
            cache.put_many("ns", {"bad": np.zeros((2, 2))})
        assert len(cache) == 1


def test_many_keys_span_several_queries(tmp_path):
    items = {f"key-{i}": vec(i, 4) for i in range(1234)}
    with VectorCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("ns", items)
        got = cache.get_many("ns", list(items) + ["nope"])
    assert len(got) == 1234
    np.testing.assert_array_equal(got["key-1000"], items["key-1000"])


def test_garbage_file_is_moved_aside_and_rebuilt(tmp_path, caplog):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with caplog.at_level(logging.WARNING, logger="shopgraph.ingest.encoders.cache"):
        cache = VectorCache(path)
    assert "corrupt" in caplog.text
    assert (tmp_path / "cache.sqlite.corrupt").read_bytes().startswith(b"this is not")
    cache.put_many("ns", {"k": vec(1)})
    np.testing.assert_array_equal(cache.get_many("ns", ["k"])["k"], vec(1))
    cache.close()


def test_damaged_pages_found_later_are_survived(tmp_path, caplog):
    path = tmp_path / "cache.sqlite"
    with VectorCache(path) as cache:
        cache.put_many("ns", {f"k{i}": vec(i, 256) for i in range(400)})
        cache.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):  # keep the header and schema page
        data[offset:offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="shopgraph.ingest.encoders.cache"):
        cache = VectorCache(path)
        got = cache.get_many("ns", [f"k{i}" for i in range(400)])  # must not raise
        cache.put_many("ns", {"fresh": vec(9)})                   # must not raise
        fresh = cache.get_many("ns", ["fresh"])
    cache.close()
    assert got == {}  # the damaged cache reads as all misses...
    assert "malformed" in caplog.text and (tmp_path / "cache.sqlite.corrupt").exists()
    np.testing.assert_array_equal(fresh["fresh"], vec(9))  # ...and the rebuilt one works


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from shopgraph.ingest.encoders.cache import VectorCache

    cache = VectorCache(sys.argv[1])
    batch = 0
    while True:
        cache.put_many("ns", {f"{batch}-{j}": np.full(384, batch + j / 1000, np.float32) for j in range(300)})
        if batch == 0:
            print("ready", flush=True)
        batch += 1
""")


@pytest.mark.slow
def test_sigkill_mid_write_leaves_whole_batches(tmp_path):
    path = tmp_path / "cache.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.7)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    keys = [k for (k,) in raw.execute("SELECT key FROM vectors")]
    raw.close()
    batches: dict[int, int] = {}
    for key in keys:
        b = int(key.split("-")[0])
        batches[b] = batches.get(b, 0) + 1
    assert len(batches) >= 2 and set(batches.values()) == {300}  # every batch whole, none partial
    assert sorted(batches) == list(range(len(batches)))
    with VectorCache(path) as cache:
        last = max(batches)
        got = cache.get_many("ns", [f"{last}-7"])
        np.testing.assert_array_equal(got[f"{last}-7"], np.full(384, last + 7 / 1000, np.float32))


def test_one_cache_serves_several_threads(tmp_path):
    """A server ingests in one thread while others run: the cache is created in one thread and
    written and read in others."""
    import threading

    cache = VectorCache(tmp_path / "cache.sqlite")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                cache.put_many("m", {f"{n}-{i}": vec(n * 100 + i)})
                assert f"{n}-{i}" in cache.get_many("m", [f"{n}-{i}"])
        except BaseException as e:  # collected: an exception in a thread would not fail the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) == 80
    cache.close()
