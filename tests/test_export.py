"""Export to PyTorch Geometric HeteroData and write-back, on the demo graph."""

from __future__ import annotations

import numpy as np
import torch

from shopgraph.gnn.export import to_heterodata, write_back
from shopgraph.graph.embedded import EmbeddedStore


def test_heterodata_mirrors_the_graph(graph):
    export = to_heterodata(graph.store)
    data, stats = export.data, graph.stats()
    for label in ("Product", "Brand", "Category", "Platform", "User"):
        assert data[label.lower()].num_nodes == stats[label]
    assert data["product"].x.shape == (stats["Product"], graph.store.dims.fused)
    assert data["product"].x.dtype == torch.float32 and bool(data["product"].has_x.all())
    for rel, (src, dst) in {"OF_BRAND": ("product", "brand"), "INTERACTED": ("user", "product"),
                            "SUBCATEGORY_OF": ("category", "category")}.items():
        edge_index = data[src, rel.lower(), dst].edge_index
        assert edge_index.shape == (2, stats[rel]) and edge_index.dtype == torch.long
        assert int(edge_index[0].max()) < data[src].num_nodes and int(edge_index[1].max()) < data[dst].num_nodes
    assert data["user", "interacted", "product"].edge_attr.shape == (stats["INTERACTED"], 2)
    data.validate(raise_on_error=True)
    # Row i of product.x is the fused vector of export.ids["product"][i].
    row = 7
    _, vectors = graph.store.get_vectors("Product", "fused_vec", [export.ids["product"][row]])
    np.testing.assert_allclose(data["product"].x[row].numpy(), vectors[0], rtol=1e-6)
    # Edges point at the right nodes.
    brand_of = {r["src"]: r["dst"] for r in graph.store.relationship_pairs("OF_BRAND")}
    ei = data["product", "of_brand", "brand"].edge_index
    for s, d in ei.t().tolist()[:20]:
        assert brand_of[export.ids["product"][s]] == export.ids["brand"][d]


def test_write_back_round_trip(demo_graph, tmp_path):
    copy = tmp_path / "copy.db"
    copy.write_bytes(demo_graph.db.read_bytes())
    with EmbeddedStore.open(copy) as store:
        export = to_heterodata(store)
        new = torch.nn.functional.normalize(torch.randn(len(export.ids["product"]), store.dims.text), dim=1)
        write_back(store, export, new, "text_vec")
        ids, vectors = store.get_vectors("Product", "text_vec", export.ids["product"][:3])
        np.testing.assert_allclose(vectors, new[:3].numpy(), rtol=1e-5)
        hit = store.vector_search("text_vec", new[5].numpy(), 1)
        assert hit[0][0] == export.ids["product"][5]
