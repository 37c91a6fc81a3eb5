"""grouped_writes(): a failed write ends the group (its uncommitted writes are rolled back, and the
group says so instead of carrying on); close() refuses while this thread's group holds uncommitted
writes."""

from __future__ import annotations

import pytest

from shopgraph.errors import StoreError
from shopgraph.graph.embedded import EmbeddedStore
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def _batch(lo: int, hi: int):
    return catalog_batch([product(f"p{i}", seed=i) for i in range(lo, hi)])


def test_writes_after_a_failed_write_of_the_group_are_refused_and_the_loss_is_reported(tmp_path):
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as store:
        with pytest.raises(StoreError, match="rolled back"):
            with store.grouped_writes():
                store.write(_batch(0, 5))
                with pytest.raises(ValueError):
                    with store._transaction():  # a write that fails half-way (as a bad statement would)
                        raise ValueError("one batch failed")
                with pytest.raises(StoreError, match="failed write"):
                    store.write(_batch(5, 10))
        assert store.count_nodes("Product") == 0  # nothing of the group was committed
        store.write(_batch(0, 3))  # the store itself is usable again
        assert store.count_nodes("Product") == 3


def test_close_inside_an_open_group_is_refused_and_the_group_still_commits(tmp_path):
    store = EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS)
    with store.grouped_writes():
        store.write(_batch(0, 3))
        with pytest.raises(StoreError, match="grouped writes"):
            store.close()
    assert store.count_nodes("Product") == 3
    store.close()
    with EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS) as again:
        assert again.count_nodes("Product") == 3
