"""A retrain killed with SIGKILL never leaves vectors from two models (issue 13, finding 8).

`shopgraph train` runs in its own process with a hook that sends itself SIGKILL at a chosen point
of the write-back (the hook wraps EmbeddedStore._run, so the command itself runs unchanged). Before
the fix each vector property was its own transaction and the checkpoint was saved last: killed after
the first commit, txt_emb came from a model that was never saved while align.pt and mm_vec were old.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from shopgraph.config import AlignConfig, Config, GNNConfig
from shopgraph.gnn.training import alignment_data
from shopgraph.queries.api import ShopGraph
from tests.gnn.test_store_training import copy_store

EPOCHS = 8  # enough for distinct models; the default 100 only costs time here
QUERIES = ("wireless headphones", "steel water bottle", "running shoes", "leather backpack")

# SIGKILL right after the first COMMIT of a transaction that set a learned vector ("after"), or just
# before the second learned-vector statement runs ("during": the write-back is half sent).
HOOK = textwrap.dedent("""
    import os, runpy, signal, sys
    from shopgraph.graph import embedded

    when, argv = sys.argv[1], sys.argv[2:]
    original = embedded.EmbeddedStore._run
    seen = {"vector statements": 0}

    def run(self, query, params=None):
        if any(f"SET n.{p} =" in query for p in ("txt_emb", "img_emb", "mm_vec", "gnn_vec")):
            seen["vector statements"] += 1
            if when == "during" and seen["vector statements"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, query, params)
        if when == "after" and query == "COMMIT" and seen["vector statements"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    embedded.EmbeddedStore._run = run
    sys.argv = ["shopgraph", *argv]
    runpy.run_module("shopgraph", run_name="__main__")
""")


def shopgraph(*args: str, kill: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", HOOK, kill, *args] if kill else [sys.executable, "-m", "shopgraph", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ})


def text_ranking(db) -> list[list[str]]:
    with ShopGraph.open(db, read_only=True) as sg:
        return [[h.product.id for h in sg.search(text=q, rank_by="text", k=5)] for q in QUERIES]


def assert_one_model(db) -> None:
    """Every product's txt_emb / img_emb / mm_vec is what the model the loaders pick makes of it."""
    with ShopGraph.open(db, read_only=True) as sg:
        aligner = sg.aligner
        assert aligner is not None
        ids, data = alignment_data(sg)
        expected = aligner.embed(data.text, data.image, data.has_text, data.has_image)
        for prop, key, present in (("txt_emb", "text", data.has_text), ("img_emb", "image", data.has_image),
                                   ("mm_vec", "fused", np.ones(len(ids), bool))):
            got_ids, stored = sg.store.get_vectors("Product", prop, ids)
            assert got_ids == [i for i, ok in zip(ids, present) if ok], prop
            np.testing.assert_allclose(stored, expected[key][present], atol=1e-4, err_msg=prop)


@pytest.fixture(scope="module")
def aligned(demo_graph, tmp_path_factory):
    """The demo graph after one complete alignment training: (db, text rankings)."""
    db = copy_store(demo_graph.db, tmp_path_factory.mktemp("aligned"))
    with ShopGraph.open(db, config=Config(align=AlignConfig(epochs=EPOCHS))) as sg:
        sg.train(gnn=False)
    return db, text_ranking(db)


@pytest.mark.parametrize("when", ["during", "after"])
def test_killed_alignment_retrain_leaves_one_model(aligned, tmp_path, when):
    db = copy_store(aligned[0], tmp_path)
    before = aligned[1]
    args = ("train", "--db", str(db), "--skip-gnn", "--no-progress", "--set", "align.seed=7",
            "--set", f"align.epochs={EPOCHS}")

    killed = shopgraph(*args, kill=when)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert_one_model(db)
    if when == "during":  # nothing was committed: the previous model, its vectors and its rankings
        assert text_ranking(db) == before

    rerun = shopgraph(*args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_one_model(db)
    checkpoints = sorted(p.name for p in db.parent.glob(f"{db.name}.models/align*.pt"))
    with ShopGraph.open(db, read_only=True) as sg:
        assert checkpoints == [f"align-{sg.store.get_meta('model.align')}.pt"]  # the orphan was removed


def test_killed_gnn_retrain_leaves_the_previous_vectors(aligned, tmp_path):
    db = copy_store(aligned[0], tmp_path)
    with ShopGraph.open(db, config=Config(gnn=GNNConfig(epochs=3))) as sg:
        sg.train(align=False)

    def gnn_state():
        with ShopGraph.open(db, read_only=True) as sg:
            vectors = {}
            for label in ("Product", "User"):
                ids = [r["id"] for batch in sg.store.iter_nodes(label, ["id"]) for r in batch]
                vectors[label] = sg.store.get_vectors(label, "gnn_vec", ids)
            return sg.store.get_meta("model.gnn"), vectors

    model, vectors = gnn_state()
    killed = shopgraph("train", "--db", str(db), "--skip-align", "--no-progress", "--set", "gnn.epochs=3",
                       "--set", "gnn.seed=5", kill="during")  # products' vectors sent, users' not yet
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    model_after, vectors_after = gnn_state()
    assert model_after == model
    for label in ("Product", "User"):
        assert vectors_after[label][0] == vectors[label][0]
        np.testing.assert_array_equal(vectors_after[label][1], vectors[label][1], err_msg=label)
    assert (db.parent / f"{db.name}.models" / f"gnn-{model}.pt").exists()
