"""shopgraph migrate: store to store, verified, resumable: embedded -> embedded, and embedded -> the
session's live Neo4j for the interrupted-and-resumed copy; the round trip embedded -> Neo4j ->
embedded is in tests/contract/test_neo4j_live.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopgraph.config import IndexConfig, Neo4jConfig
from shopgraph.errors import StoreError
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.migrate import PROGRESS_KEY, graph_checksum, migrate
from shopgraph.graph.neo4j_store import Neo4jStore
from shopgraph.graph.store import GraphBatch
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product, vec


class Interrupted(Exception):
    pass


def build_source(path) -> EmbeddedStore:
    """A graph with every label and relationship type, null and present vectors, meta entries."""
    store = EmbeddedStore.open(path, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))
    products = [product(str(i), platform="shop_a" if i % 2 else "shop_b", brand=f"brand{i % 4}" if i % 5 else None,
                        category=["Audio > Headphones", "Audio > Speakers", "Kitchen > Kettles", None][i % 4],
                        price=None if i % 7 == 0 else 10.0 + i, seed=i,
                        image_vec=None if i % 3 == 0 else vec(i + 100, SMALL_DIMS.image),
                        image_missing=i % 3 == 0, source=f"catalog_{i % 2}.csv",
                        images=[f"img/{i}.jpg", f"https://cdn.example.com/{i}-b.jpg"] if i % 4 else None)
                for i in range(23)]
    store.write(catalog_batch(products))
    # Identifiers and attributes (schema version 4): shared nodes, values on the edges (nulls included).
    store.write(GraphBatch(
        nodes={"Identifier": [{"key": f"mpn:wm{i}", "scheme": "mpn", "value": f"wm{i}"} for i in range(4)]
               + [{"key": "gtin:00012345678905", "scheme": "gtin", "value": "00012345678905"}],
               "Attribute": [{"key": "color"}, {"key": "capacity"}]},
        relationships={
            "HAS_IDENTIFIER": [{"src": p["id"], "dst": f"mpn:wm{i % 4}", "raw": f"WM-{i % 4}",
                                "source_column": "model"} for i, p in enumerate(products)]
            + [{"src": products[0]["id"], "dst": "gtin:00012345678905", "raw": "012345678905", "source_column": "upc"}],
            "HAS_ATTRIBUTE": [{"src": p["id"], "dst": "color", "value": ["Red", "blue"][i % 2],
                               "norm": ["red", "blue"][i % 2]} for i, p in enumerate(products)]
            + [{"src": p["id"], "dst": "capacity", "value": f"{100 * i} GB", "norm": f"{100 * i} gb",
                "number": 100.0 * i, "unit": "GB", "base_number": 1e11 * i, "base_unit": "B"}
               for i, p in enumerate(products[:9])]}))
    users = [{"id": f"u{i}"} for i in range(6)]
    interactions = [{"src": f"u{i % 6}", "dst": products[i]["id"], "kind": ["view", "purchase"][i % 2],
                     "value": float(i), "timestamp": 1000 + i} for i in range(23)]
    store.write(GraphBatch(nodes={"User": users}, relationships={
        "INTERACTED": interactions,
        "ALSO_BOUGHT": [{"src": products[i]["id"], "dst": products[i + 1]["id"], "weight": 0.5 * i} for i in range(5)],
        "SAME_AS": [{"src": products[1]["id"], "dst": products[2]["id"], "score": 0.91, "method": "label",
                     "model_version": "", "status": "label", "evidence": json.dumps([{"group": "title"}])}],
        "DIFFERENT_FROM": [{"src": products[3]["id"], "dst": products[4]["id"], "method": "review",
                            "model_version": "v1"}]}))
    rng = np.random.default_rng(0)
    store.set_vectors("User", "gnn_vec", [u["id"] for u in users], rng.normal(size=(6, 128)).astype(np.float32))
    store.set_vectors("Product", "mm_vec", [p["id"] for p in products[:10]], rng.normal(size=(10, 256)).astype(np.float32))
    store.set_meta("align_model", "align.pt")
    return store


@pytest.fixture
def source(tmp_path):
    store = build_source(tmp_path / "source.db")
    yield store
    store.close()


def open_target(path):
    return EmbeddedStore.open(path, dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))


def test_embedded_to_embedded_copies_everything_and_verifies(source, tmp_path):
    with open_target(tmp_path / "copy.db") as target:
        report = migrate(source, target, batch_size=7)
        assert report.verified and report.checksum == graph_checksum(source) == graph_checksum(target)
        assert target.stats() == source.stats() and target.stats()["INTERACTED"] == 23
        ids = [r["id"] for b in source.iter_nodes("Product", ["id"]) for r in b]
        for prop in ("text_vec", "image_vec", "fused_vec", "mm_vec"):
            got_a, a = source.get_vectors("Product", prop, ids)
            got_b, b = target.get_vectors("Product", prop, ids)
            assert got_a == got_b and np.array_equal(a, b), prop
        assert target.get_nodes("Product", ids) == source.get_nodes("Product", ids) or _same_but_rev(source, target, ids)
        assert target.get_meta("align_model") == "align.pt"
        # The copy is another database: its vector index must not pass for the source's.
        assert target.get_meta("database_id") not in (None, source.get_meta("database_id"))
        assert target.relationship_pairs("SAME_AS", ["evidence", "status"]) == \
            source.relationship_pairs("SAME_AS", ["evidence", "status"])
        # The copy is a working graph: search finds the same things.
        q = source.get_vectors("Product", "fused_vec", ["shop_a:5"])[1][0]
        hits_a, hits_b = source.vector_search("fused_vec", q, 3), target.vector_search("fused_vec", q, 3)
        assert [i for i, _ in hits_a] == [i for i, _ in hits_b]
        assert [s for _, s in hits_b] == pytest.approx([s for _, s in hits_a])
        assert "checksum" in report.render() and "INTERACTED" in report.render()


def _same_but_rev(a, b, ids):
    strip = lambda rows: [{k: v for k, v in r.items() if k != "rev"} for r in rows]  # noqa: E731
    return strip(a.get_nodes("Product", ids)) == strip(b.get_nodes("Product", ids))


@pytest.fixture(params=["embedded", "neo4j"])
def reopen(request, tmp_path):
    """Opens the migration target anew each call, as a new process would: a LadybugDB file, or the
    session's live Neo4j (emptied first)."""
    if request.param == "embedded":
        return lambda: open_target(tmp_path / "resumed.db")
    request.getfixturevalue("neo4j_empty")
    return lambda: Neo4jStore.open(None, dims=SMALL_DIMS, config=Neo4jConfig(exact_max=0))


@pytest.mark.parametrize("stop_after", [1, 6, 14])
def test_interrupted_migration_resumes_to_the_same_graph(source, tmp_path, stop_after, reopen):
    all_batches = []
    with open_target(tmp_path / "whole.db") as whole:
        reference = migrate(source, whole, batch_size=5, on_batch=lambda step, rows: all_batches.append(step))

    seen = []

    def interrupt(step, rows):
        seen.append(step)
        if len(seen) == stop_after:
            raise Interrupted(step)

    with reopen() as target:
        with pytest.raises(Interrupted):
            migrate(source, target, batch_size=5, on_batch=interrupt)
        partial = target.stats()
        assert partial != source.stats()  # really stopped part-way
        state = json.loads(target.get_meta(PROGRESS_KEY))
        assert state["step"] == seen[-1]
    with reopen() as target:  # a new process, as after a crash
        batches = []
        report = migrate(source, target, batch_size=5, on_batch=lambda step, rows: batches.append(step))
        assert report.resumed_from is not None and report.verified
        assert report.checksum == reference.checksum
        assert target.stats() == source.stats()
        # It went on after the last committed batch: nothing done twice, nothing left out.
        assert batches == all_batches[stop_after:]
        again = migrate(source, target, batch_size=5)  # running it once more changes nothing
        assert again.checksum == reference.checksum and target.stats() == source.stats()


def test_target_with_another_graph_is_refused(source, tmp_path):
    with open_target(tmp_path / "other.db") as other:
        other.write(catalog_batch([product("x")]))
        with pytest.raises(StoreError, match="already holds a graph"):
            migrate(source, other)


def test_different_vector_widths_are_refused(source, tmp_path):
    with EmbeddedStore.open(tmp_path / "wide.db") as wide:
        with pytest.raises(StoreError, match="widths"):
            migrate(source, wide)


def test_verification_catches_a_difference(source, tmp_path):
    from shopgraph.graph.migrate import verify_equal

    with open_target(tmp_path / "copy.db") as target:
        migrate(source, target)
        target.cypher("MATCH (p:Product {id: 'shop_a:1'}) SET p.title = 'changed'", allow_write=True)
        with pytest.raises(StoreError, match="checksums differ"):
            verify_equal(source, target)
        target.delete_nodes("User", ["u1"])
        with pytest.raises(StoreError, match="counts differ"):
            verify_equal(source, target)


def test_a_finished_copy_that_does_not_verify_says_to_empty_the_target(source, tmp_path):
    def change_source(step, rows):
        if step == "meta":  # the source changes after its products were copied
            source.cypher("MATCH (p:Product {id: 'shop_a:1'}) SET p.title = 'changed'", allow_write=True)

    with open_target(tmp_path / "copy.db") as target:
        for on_batch in (change_source, None):  # and a rerun, which only redoes meta and verifies
            with pytest.raises(StoreError, match="checksums differ.*empty the target .* and migrate again"):
                migrate(source, target, on_batch=on_batch)


class ReorderedRows:
    """A store whose iter_nodes yields each label's rows in another order (as a store with another
    string collation would)."""

    def __init__(self, store):
        self.store = store

    def __getattr__(self, name):
        return getattr(self.store, name)

    def iter_nodes(self, label, properties, batch_size=10000):
        rows = [r for batch in self.store.iter_nodes(label, properties, batch_size) for r in batch]
        yield rows[::-1]


def test_checksum_does_not_depend_on_the_stores_row_order(source):
    assert graph_checksum(ReorderedRows(source)) == graph_checksum(source)


def test_cli_migrate_embedded_to_embedded(source, tmp_path, capsys):
    from shopgraph.cli import main

    path = source.path
    source.close()
    assert main(["migrate", "--from", str(path), "--to", str(tmp_path / "cli-copy.db"), "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "counts and checksum equal on both sides" in out and "Product" in out
    assert main(["migrate", "--from", str(tmp_path / "nope.db"), "--to", str(tmp_path / "x.db")]) == 1
    assert "no shopgraph database" in capsys.readouterr().err
    assert main(["stats", "--db", "bolt://"]) == 1
    assert "Neo4j URI" in capsys.readouterr().err


def test_migrate_keeps_the_sources_unstamped_write_marker_out_of_the_target(tmp_path):
    """Review of i18-mirror: any_product_changed is a generation of the source's counter (a Neo4j source
    after a write query at its generation 500); copied into a target at generation 1 it made every
    lexical and card sync of the target re-read every product until the target's generation passed it."""
    from shopgraph.graph.mirror_state import resync_point
    from shopgraph.graph.store import ANY_PRODUCT_CHANGED

    src = EmbeddedStore.open(tmp_path / "src.db", dims=SMALL_DIMS)
    dst = EmbeddedStore.open(tmp_path / "dst.db", dims=SMALL_DIMS)
    try:
        src.write(catalog_batch([product(str(i), seed=i) for i in range(5)]))
        src.set_meta(ANY_PRODUCT_CHANGED, "500")
        migrate(src, dst, verify=False)
        assert dst.get_meta(ANY_PRODUCT_CHANGED) is None
        assert resync_point(dst, dst.generation()) == dst.generation()
    finally:
        src.close()
        dst.close()
