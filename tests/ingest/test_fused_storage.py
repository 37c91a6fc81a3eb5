"""The real ingest stores fused_vec only for products with an image (graph/derived_fused.py): the
demo catalog's products whose image is missing or corrupt get theirs derived, and read it back as
the encoder made it."""

from __future__ import annotations

import numpy as np

from shopgraph.graph import derived_fused as F
from shopgraph.ingest.encoders.fusion import fuse, fusion_weights


def test_ingest_leaves_out_exactly_the_fused_vectors_it_can_derive(graph):
    rows = graph.store.cypher("MATCH (p:Product) WHERE p.text_vec IS NOT NULL RETURN p.id AS id, "
                              "p.image_vec IS NULL AS no_image, p.fused_vec IS NULL AS derived ORDER BY id")
    text_only = [r["id"] for r in rows if r["no_image"]]
    assert text_only, "the demo catalog has products whose image is missing or corrupt"
    assert [r["derived"] for r in rows] == [r["no_image"] for r in rows]  # before: none derived
    weights = F.parse_weights(graph.store.get_meta(F.FUSION_META))
    assert weights == fusion_weights(graph.config.fusion)
    _, text = graph.store.get_vectors("Product", "text_vec", text_only)
    _, lexical = graph.store.get_vectors("Product", "lex_vec", text_only)
    got, fused = graph.store.get_vectors("Product", "fused_vec", text_only)
    assert got == text_only
    assert np.array_equal(fused, fuse(text, None, lexical, graph.config.fusion))
    assert graph.store.count_with_vector("fused_vec") == len(rows)
