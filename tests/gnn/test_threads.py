"""Training threads: small work runs on one torch thread (its operations are too small to split and
a busy second core stalls every parallel region), large work keeps torch's count, an explicit
setting wins, and the caller's count comes back afterwards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shopgraph.config import AlignConfig
from shopgraph.errors import ConfigError
from shopgraph.gnn.alignment import AlignmentData, train_alignment
from shopgraph.gnn.threads import SMALL_WORK, torch_threads, training_threads


@pytest.fixture
def two_threads():
    """torch on 2 threads for the test (as on this 2-core machine), whatever the session set."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_small_work_is_one_thread_large_work_keeps_torchs_count():
    assert training_threads(0, 1000) == 1
    assert training_threads(0, SMALL_WORK - 1) == 1
    assert training_threads(0, SMALL_WORK) == 0  # 0: leave torch's count alone
    assert training_threads(0, None) == 0  # a task that does not say its work
    assert training_threads(3, 10) == 3 and training_threads(2, 10 * SMALL_WORK) == 2
    with pytest.raises(ConfigError, match="threads"):
        training_threads(-1, 10)


def test_torch_threads_puts_the_callers_count_back(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("a failed training")
    assert torch.get_num_threads() == 2
    with torch_threads(0):
        assert torch.get_num_threads() == 2


def _catalog(n: int = 48) -> AlignmentData:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(n, 10)).astype(np.float32)
    text = (image @ rng.normal(size=(10, 12))).astype(np.float32)
    return AlignmentData(text, image, np.ones(n, bool), np.ones(n, bool))


@pytest.mark.parametrize("setting, expected", [(0, 1), (2, 2)])
def test_alignment_epochs_run_on_the_threads_chosen(two_threads, setting, expected):
    """A small catalog's epochs ran on torch's 2 threads before: 7x slower at load 10 on the demo."""
    seen = []
    config = AlignConfig(hidden=16, epochs=2, batch_size=16, patience=5, val_fraction=0.25, threads=setting)
    train_alignment(_catalog(), config, dim=8, on_epoch=lambda record: seen.append(torch.get_num_threads()))
    assert seen == [expected, expected]
    assert torch.get_num_threads() == 2


def test_gnn_epochs_on_a_small_graph_run_on_one_thread(demo_graph, tmp_path, two_threads):
    from shopgraph.config import Config, with_overrides
    from shopgraph.queries.api import ShopGraph
    from tests.gnn.test_store_training import copy_store

    db = copy_store(demo_graph.db, tmp_path)
    seen = []
    with ShopGraph.open(db, config=with_overrides(Config(), {"gnn.epochs": 2})) as sg:
        sg.train(align=False, on_epoch=lambda record: seen.append(torch.get_num_threads()))
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2
