"""Opening a database loads its saved vector index: the first search reads no vector from the graph
and builds no HNSW graph (issue 18: the first query after opening must not cost a rebuild)."""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import IndexConfig
from shopgraph.graph import vector_index
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphBatch

DIMS = VectorDims(text=8, image=4, lexical=4)
CONFIG = IndexConfig(min_ann_size=50)  # an HNSW graph even for this small test


def _store_of(path, vectors: np.ndarray) -> EmbeddedStore:
    """A new read-write store at path holding one product per row of vectors (its text_vec)."""
    store = EmbeddedStore.open(path, dims=DIMS, index_config=CONFIG)
    store.write(GraphBatch(nodes={"Product": [
        {"id": f"p{i}", "platform": "s", "source_id": str(i), "title": f"t{i}", "content_hash": str(i),
         "text_vec": v} for i, v in enumerate(vectors)]}))
    return store


@pytest.mark.parametrize("read_only", [False, True])
def test_first_search_after_opening_loads_the_saved_index(tmp_path, monkeypatch, read_only):
    path = tmp_path / "g.db"
    vectors = np.random.default_rng(0).standard_normal((300, DIMS.text)).astype(np.float32)
    store = _store_of(path, vectors)
    expected = store.vector_search("text_vec", vectors[7], 5)  # builds the index and saves it
    store.close()
    assert (tmp_path / "g.db.index" / "text_vec" / "manifest.json").exists()

    built = []
    real_add = vector_index.AnnIndex._ensure_hnsw

    def counting(self, *args, **kwargs):
        before = None if self._hnsw is None else self._hnsw.ntotal
        result = real_add(self, *args, **kwargs)
        if result is not None and before != result.ntotal:
            built.append(result.ntotal)
        return result

    monkeypatch.setattr(vector_index.AnnIndex, "_ensure_hnsw", counting)
    sent: list[str] = []
    store = EmbeddedStore.open(path, read_only=read_only, index_config=CONFIG, trace=lambda q, p: sent.append(q))
    try:
        sent.clear()
        assert store.vector_search("text_vec", vectors[7], 5) == expected
        assert not [q for q in sent if "text_vec" in q], sent  # no vector read from the graph
        assert built == []  # the saved HNSW graph was used as it is
        with store.vector_index("text_vec") as index:
            stats = index.stats()
            assert stats["hnsw_built"] and len(index) == 300
            # nor read every vector and id into memory: the vectors are the saved file, mapped
            assert stats["vectors_mapped"] and stats["ids_packed"]
    finally:
        store.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_an_index_saved_in_an_older_format_is_saved_in_todays_at_its_first_search(tmp_path, read_only):
    """A format-3 index (float32 vectors walked through the mapped file: seconds a query on a cold page
    cache at 1M) was only rewritten as format 4 once a tenth of the catalog changed, which a catalog
    that changes little never reaches: the first search after opening it now saves it in today's format,
    with the same answers and without rebuilding its graph."""
    import json

    from tests.graph.test_vector_index import _as_format_3

    path = tmp_path / "g.db"
    vectors = np.random.default_rng(1).standard_normal((300, DIMS.text)).astype(np.float32)
    store = _store_of(path, vectors)
    store.vector_search("text_vec", vectors[3], 5)  # builds the index and saves it
    store.close()
    root = tmp_path / "g.db.index" / "text_vec"
    _as_format_3(root)
    store = EmbeddedStore.open(path, read_only=read_only, index_config=CONFIG)
    try:
        expected = [store.vector_search("text_vec", v, 5) for v in vectors[:10]]
    finally:
        store.close()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format_version"] == vector_index.FORMAT_VERSION == 4
    store = EmbeddedStore.open(path, read_only=True, index_config=CONFIG)
    try:
        assert [[i for i, _ in store.vector_search("text_vec", v, 5)] for v in vectors[:10]] == \
            [[i for i, _ in hits] for hits in expected]
        with store.vector_index("text_vec") as index:
            assert index.stats()["graph_codes"] == "8-bit"
    finally:
        store.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_mapped_vector_file_damaged_in_place_is_rebuilt_from_the_graph_not_searched(tmp_path, read_only):
    """Review of the cold open: the float32 vectors of a saved index (mirror.npy, mapped) are checked by
    size only, so bytes damaged in place (same size) loaded fine and searches ranked NaN scores: the
    query for a product's own vector did not find it. Non-finite scores now mean damage: the store drops
    the index, builds it from the graph and answers; its save replaces the damaged files."""
    import json

    path = tmp_path / "g.db"
    vectors = np.random.default_rng(2).standard_normal((300, DIMS.text)).astype(np.float32)
    store = _store_of(path, vectors)
    expected = [store.vector_search("text_vec", v, 5) for v in vectors[:10]]  # builds and saves the index
    store.close()
    root = tmp_path / "g.db.index" / "text_vec"
    manifest = json.loads((root / "manifest.json").read_text())
    mirror = root / manifest["data"] / "mirror.npy"
    size = mirror.stat().st_size
    with open(mirror, "r+b") as f:  # every stored value becomes a NaN; the file keeps its size
        f.seek(128)
        f.write(b"\xff" * (size - 128))
    store = EmbeddedStore.open(path, read_only=read_only, index_config=CONFIG)
    try:
        got = [store.vector_search("text_vec", v, 5) for v in vectors[:10]]
    finally:
        store.close()
    assert [[i for i, _ in hits] for hits in got] == [[i for i, _ in hits] for hits in expected]
    assert all(hits[0][0] == f"p{n}" for n, hits in enumerate(got))
    rewritten = json.loads((root / "manifest.json").read_text())
    assert rewritten["data"] != manifest["data"]  # the rebuilt index was saved in place of the damaged one
