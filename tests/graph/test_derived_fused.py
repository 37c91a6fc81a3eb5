"""A text-only product's fused_vec is derived, not stored (graph/derived_fused.py, issue 18: disk).

Every reader of fused_vec must see exactly what the ingest computed: get_vectors, the ANN index, exact
search, counts, get_nodes / iter_nodes; a database written before (every fused_vec stored, no weights
in Meta) must read the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from shopgraph.config import FusionConfig
from shopgraph.graph import derived_fused as F
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.store import GraphBatch
from shopgraph.ingest.encoders.fusion import fuse, fusion_weights

N = 60


def _catalog(seed: int = 0, n: int = N, prefix: str = "p", config: FusionConfig = FusionConfig()):
    """n products, every fifth with an image; the lexical vectors are sparse like hashed n-grams and
    the image block of an image-less row is made by masking (so it may hold -0.0), as the ingest does."""
    rng = np.random.default_rng(seed)
    text = rng.standard_normal((n, 384)).astype(np.float32)
    lexical = (rng.standard_normal((n, 512)) * (rng.random((n, 512)) < 0.1)).astype(np.float32)
    image = rng.standard_normal((n, 1280)).astype(np.float32)
    ok = np.arange(n) % 5 == 0
    fused = fuse(text, image, lexical, config, image_ok=ok)
    rows = [{"id": f"{prefix}{i:03d}", "title": f"t{i}", "brand": "b" if i % 2 else "c",
             "text_vec": text[i], "lex_vec": lexical[i], "fused_vec": fused[i],
             "image_vec": image[i] if ok[i] else None} for i in range(n)]
    return rows, fused, ok


def _stored(store) -> int:
    return store.cypher("MATCH (p:Product) WHERE p.fused_vec IS NOT NULL RETURN count(p) AS n")[0]["n"]


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore.open(tmp_path / "g.db")
    yield s
    s.close()


def test_only_products_with_an_image_store_their_fused_vector(store):
    rows, fused, ok = _catalog()
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    assert _stored(store) == int(ok.sum())  # was N: every text-only row stored 2176 floats
    assert F.parse_weights(store.get_meta(F.FUSION_META)) == fusion_weights(FusionConfig())
    ids = [r["id"] for r in rows]
    got, vectors = store.get_vectors("Product", "fused_vec", ids)
    assert got == ids and np.array_equal(vectors, fused)
    assert store.count_with_vector("fused_vec") == N and store.ids_with_vector("fused_vec") == set(ids)
    nodes = store.get_nodes("Product", ids[:3], ["id", "fused_vec"])
    assert [np.array_equal(np.asarray(n["fused_vec"], np.float32), fused[i]) for i, n in enumerate(nodes)] == [True] * 3
    streamed = [r for batch in store.iter_nodes("Product", ["fused_vec"], batch_size=7) for r in batch]
    assert np.array_equal(np.asarray([r["fused_vec"] for r in streamed], np.float32), fused)


def test_searches_see_the_derived_vectors(store):
    rows, fused, _ = _catalog()
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    ids = np.array([r["id"] for r in rows])
    for q in (fused[1], fused[5], fused[7] + fused[10]):
        scores = fused @ q
        want = list(ids[np.lexsort((ids, -scores))][:5])
        assert [i for i, _ in store.vector_search("fused_vec", q, 5, exact=True)] == want
        assert [i for i, _ in store.vector_search("fused_vec", q, 5)] == want
        exact = store.vector_search("fused_vec", q, 5, exact=True)
        assert np.allclose([s for _, s in exact], np.sort(scores)[::-1][:5], atol=1e-5)
        allowed = np.array([int(i[1:]) % 2 == 1 for i in ids])
        want_b = list(ids[allowed][np.lexsort((ids[allowed], -scores[allowed]))][:5])
        for exact in (True, False):
            assert [i for i, _ in store.vector_search("fused_vec", q, 5, exact=exact, where="p.brand = 'b'")] == want_b


def test_a_database_written_the_old_way_reads_the_same(tmp_path):
    """Before: every fused_vec stored, no weights in Meta. It opens and reads as it did, and a later
    ingest into it derives only its own new text-only products."""
    rows, fused, _ = _catalog()
    with EmbeddedStore.open(tmp_path / "old.db") as old:
        old.write(GraphBatch(nodes={"Product": rows}))  # the old writer: no fusion weights
        assert _stored(old) == N and old.get_meta(F.FUSION_META) is None
    with EmbeddedStore.open(tmp_path / "old.db", read_only=True) as ro:
        got, vectors = ro.get_vectors("Product", "fused_vec", [r["id"] for r in rows])
        assert len(got) == N and np.array_equal(vectors, fused)
        assert [i for i, _ in ro.vector_search("fused_vec", fused[3], 3)][0] == "p003"
    new_rows, new_fused, new_ok = _catalog(seed=1, prefix="q")
    with EmbeddedStore.open(tmp_path / "old.db") as rw:
        rw.write(GraphBatch(nodes={"Product": new_rows}, fusion=fusion_weights(FusionConfig())))
        assert _stored(rw) == N + int(new_ok.sum())
        got, vectors = rw.get_vectors("Product", "fused_vec", [r["id"] for r in rows + new_rows])
        assert np.array_equal(vectors, np.concatenate([fused, new_fused]))


def test_vectors_made_with_other_weights_are_stored_whole(store):
    rows, fused, _ = _catalog()
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    other = FusionConfig(text_weight=0.3, lexical_weight=1.0)
    rows2, fused2, _ = _catalog(seed=2, prefix="r", config=other)
    store.write(GraphBatch(nodes={"Product": rows2}, fusion=fusion_weights(other)))
    assert F.parse_weights(store.get_meta(F.FUSION_META)) == fusion_weights(FusionConfig())  # the first stay
    assert _stored(store) == int((np.arange(N) % 5 == 0).sum()) + N
    got, vectors = store.get_vectors("Product", "fused_vec", [r["id"] for r in rows2])
    assert np.array_equal(vectors, fused2)


def test_changing_a_channel_keeps_the_fused_vector_the_product_had(store):
    rows, fused, _ = _catalog()
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    store.set_vectors("Product", "text_vec", ["p001"], np.ones((1, 384), np.float32))
    store.write(GraphBatch(nodes={"Product": [{"id": "p002", "lex_vec": np.ones(512, np.float32)}]}))
    got, vectors = store.get_vectors("Product", "fused_vec", ["p001", "p002", "p003"])
    assert np.array_equal(vectors, fused[1:4])
    # a whole row again (text, lexical and their fusion) is derived again
    store.write(GraphBatch(nodes={"Product": [rows[1]]}, fusion=fusion_weights(FusionConfig())))
    assert store.cypher("MATCH (p:Product {id: 'p001'}) RETURN p.fused_vec IS NULL AS derived")[0]["derived"]


def test_a_retired_product_has_no_fused_vector(store):
    rows, _, _ = _catalog(n=6)
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    store.write(GraphBatch(nodes={"Product": [{"id": "x"}, {"id": "y"}]},
                           relationships={"SAME_AS": [{"src": "p001", "dst": "x", "score": 1.0}]}))
    store.retire_products(["p001", "p002"])
    assert store.count_with_vector("fused_vec") == 4
    assert store.get_vectors("Product", "fused_vec", ["p001"])[0] == []


def test_many_ids_read_through_arrow_derive_the_same(store, monkeypatch):
    import shopgraph.graph.embedded as embedded

    rows, fused, _ = _catalog()
    store.write(GraphBatch(nodes={"Product": rows}, fusion=fusion_weights(FusionConfig())))
    monkeypatch.setattr(embedded, "_PLAIN_ROWS_MAX", 0)  # the path of more than 1024 ids
    ids = [r["id"] for r in reversed(rows)]
    got, vectors = store.get_vectors("Product", "fused_vec", ids)
    assert got == ids and np.array_equal(vectors, fused[::-1])
