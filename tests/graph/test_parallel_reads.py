"""Reads of one store run side by side (issue 13, finding 9): a long Cypher query holds one connection,
not the store. Before, every call waited behind one lock on one connection."""

from __future__ import annotations

import threading
import time

import pytest

from shopgraph.config import IndexConfig
from shopgraph.errors import QueryTimeoutError
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product

# A four-way cross product over 200 products: far longer than any time limit below.
LONG = ("MATCH (a:Product), (b:Product), (c:Product), (d:Product) "
        "WHERE a.title + b.title + c.title + d.title = 'no such title' RETURN count(*) AS n")


@pytest.fixture(scope="module")
def db200(tmp_path_factory):
    path = tmp_path_factory.mktemp("parallel") / "g.db"
    with EmbeddedStore.open(path, dims=SMALL_DIMS) as store:
        store.write(catalog_batch([product(str(i), seed=i) for i in range(200)]))
    return path


def _long_query(store, timeout: float, record: dict) -> None:
    record["start"] = time.monotonic()
    try:
        store.cypher(LONG, timeout=timeout)
    except QueryTimeoutError:
        record["timed_out"] = True
    record["end"] = time.monotonic()


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_reads_finish_while_a_long_cypher_query_runs(db200, read_only):
    with EmbeddedStore.open(db200, read_only=read_only, index_config=IndexConfig(min_ann_size=0)) as store:
        query = product("7", seed=7)["fused_vec"]
        assert store.vector_search("fused_vec", query, 1)[0][0] == "shop_a:7"  # index built before
        record: dict = {}
        long = threading.Thread(target=_long_query, args=(store, 5.0, record))
        long.start()
        time.sleep(0.5)  # the long query is running
        for n in range(5):
            assert store.vector_search("fused_vec", query, 1)[0][0] == "shop_a:7"
            assert store.get_nodes("Product", [f"shop_a:{n}"])[0]["title"] == f"title {n}"
            assert store.cypher("MATCH (p:Product) RETURN count(p) AS n") == [{"n": 200}]
            assert store.count_nodes("Product") == 200
        reads_done = time.monotonic()
        assert long.is_alive(), "the reads waited for the long query"
        long.join()
    assert record.get("timed_out") and record["end"] > reads_done


def test_four_long_queries_run_side_by_side(db200):
    """Four queries stopped at their 2 s limit end together, not one after another (8 s apart)."""
    limit = 2.0
    with EmbeddedStore.open(db200, read_only=True) as store:
        records = [{} for _ in range(4)]
        threads = [threading.Thread(target=_long_query, args=(store, limit, r)) for r in records]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(r.get("timed_out") for r in records)
    ends = sorted(r["end"] for r in records)
    assert ends[-1] - ends[0] < limit, f"the queries ended {ends[-1] - ends[0]:.1f} s apart"
