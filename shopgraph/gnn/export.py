"""Export the graph to a PyTorch Geometric HeteroData, and write node vectors back.

Node types are the lower-cased labels (product, brand, category, platform, user); edge types are
(source type, lower-cased relationship, target type). Row i of a node type is its i-th id in key
order; `GraphExport.ids[node_type]` maps rows back to graph ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shopgraph.graph import schema as S
from shopgraph.graph.store import GraphStore
from shopgraph.records import INTERACTION_KINDS


@dataclass
class GraphExport:
    """data: the HeteroData; ids: node type -> list of graph ids, row order."""

    data: object
    ids: dict[str, list[str]] = field(default_factory=dict)

    def row_of(self, node_type: str) -> dict[str, int]:
        return {node_id: row for row, node_id in enumerate(self.ids[node_type])}


def to_heterodata(store: GraphStore, product_vector: str = "fused_vec") -> GraphExport:
    """HeteroData with:

    - data["product"].x: float32 (n_products, dim) from `product_vector` (zeros where null),
      data["product"].has_x: bool (n_products,), data["product"].platform: long (n_products,) index
      into data["platform"] rows;
    - data[t].num_nodes for every node type; data["category"].depth: long (n_categories,);
    - edge_index (2, E) long per relationship type; INTERACTED also has edge_attr float32 (E, 2) =
      (value, timestamp) and edge_kind long (E,) indexing INTERACTION_KINDS; SAME_AS has edge_attr
      (E, 1) = score; ALSO_BOUGHT edge_attr (E, 1) = weight.
    """
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    export = GraphExport(data)
    for label in S.DATA_LABELS:
        node = S.node_type(label)
        props = [node.key] + (["platform"] if label == "Product" else []) + (["depth"] if label == "Category" else [])
        rows = [row for batch in store.iter_nodes(label, props) for row in batch]
        node_type = label.lower()
        export.ids[node_type] = [r[node.key] for r in rows]
        data[node_type].num_nodes = len(rows)
        if label == "Category":
            data[node_type].depth = torch.tensor([r["depth"] or 0 for r in rows], dtype=torch.long)
        if label == "Product":
            product_rows = rows

    rows_of = {t: export.row_of(t) for t in export.ids}
    platform_rows = rows_of["platform"]
    data["product"].platform = torch.tensor([platform_rows.get(r["platform"], -1) for r in product_rows], dtype=torch.long)

    dim = store.dims.of(product_vector)
    x = np.zeros((len(export.ids["product"]), dim), dtype=np.float32)
    has_x = np.zeros(len(export.ids["product"]), dtype=bool)
    for start in range(0, len(export.ids["product"]), 5000):
        chunk = export.ids["product"][start:start + 5000]
        got, vectors = store.get_vectors("Product", product_vector, chunk)
        positions = [rows_of["product"][i] for i in got]
        x[positions] = vectors
        has_x[positions] = True
    data["product"].x = torch.from_numpy(x)
    data["product"].has_x = torch.from_numpy(has_x)

    for name, rel in S.REL_TYPES.items():
        src_type, dst_type = rel.src.lower(), rel.dst.lower()
        props = [p for p in ("value", "timestamp", "kind", "score", "weight") if p in rel.properties]
        pairs = store.relationship_pairs(name, props)
        src_rows, dst_rows = rows_of[src_type], rows_of[dst_type]
        pairs = [p for p in pairs if p["src"] in src_rows and p["dst"] in dst_rows]
        store_edge = data[src_type, name.lower(), dst_type]
        store_edge.edge_index = torch.tensor([[src_rows[p["src"]] for p in pairs], [dst_rows[p["dst"]] for p in pairs]],
                                             dtype=torch.long).reshape(2, len(pairs))
        if name == "INTERACTED":
            store_edge.edge_attr = torch.tensor([[p["value"] or 0.0, float(p["timestamp"] or 0)] for p in pairs],
                                                dtype=torch.float32).reshape(len(pairs), 2)
            store_edge.edge_kind = torch.tensor([INTERACTION_KINDS.index(p["kind"]) if p["kind"] in INTERACTION_KINDS else 0
                                                 for p in pairs], dtype=torch.long)
        elif name in ("SAME_AS", "ALSO_BOUGHT"):
            key = "score" if name == "SAME_AS" else "weight"
            store_edge.edge_attr = torch.tensor([[p[key] if p[key] is not None else 1.0] for p in pairs],
                                                dtype=torch.float32).reshape(len(pairs), 1)
    return export


def write_back(store: GraphStore, export: GraphExport, vectors, prop: str, node_type: str = "product") -> None:
    """Write one vector per row of `node_type` (float32 (n, dim) array or tensor) to property `prop`."""
    array = vectors.detach().cpu().numpy() if hasattr(vectors, "detach") else np.asarray(vectors)
    store.set_vectors(node_type.capitalize(), prop, export.ids[node_type], array.astype(np.float32))
