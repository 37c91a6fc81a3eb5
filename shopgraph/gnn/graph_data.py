"""The graph a GNN trains on: node inputs, id-embedding rows and forward message edges.

Edges are kept in their stored direction; `message_edges` adds every relation's reverse
("rev_<relation>") so messages flow both ways, after dropping the edges an objective holds out
(validation targets, or the targets of the current training batch, so the model never reads the
answer off the graph).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

EdgeType = tuple[str, str, str]


@dataclass
class TrainingGraph:
    """num_nodes: node type -> count; x: node type -> (n, d) float32 features (types without
    features are absent); learned_rows: node type -> (n,) long row of its id embedding, -1 = unseen;
    edges: forward edge type -> (2, E) long; ids: node type -> graph ids in row order;
    category_parent: (n_categories,) long parent row or -1; category_depth: (n_categories,) long."""

    num_nodes: dict[str, int]
    x: dict[str, torch.Tensor]
    learned_rows: dict[str, torch.Tensor]
    edges: dict[EdgeType, torch.Tensor]
    ids: dict[str, list[str]] = field(default_factory=dict)
    category_parent: torch.Tensor | None = None
    category_depth: torch.Tensor | None = None

    @property
    def node_types(self) -> list[str]:
        return sorted(self.num_nodes)

    def message_types(self) -> list[EdgeType]:
        """Forward and reverse edge types, in a fixed order (the model's metadata)."""
        out = []
        for src, rel, dst in sorted(self.edges):
            out += [(src, rel, dst), (dst, f"rev_{rel}", src)]
        return out

    def message_edges(self, drop: dict[EdgeType, torch.Tensor] | None = None) -> dict[EdgeType, torch.Tensor]:
        """Forward edges minus the masked ones (drop: edge type -> (E,) bool, True = leave out),
        plus each one's reverse. The same drop masks give the same tensors back (memoised), so the
        models' per-edge-set caches (normalised adjacencies) hit across training steps."""
        key = tuple(sorted((e, id(m)) for e, m in (drop or {}).items()))
        memo = self.__dict__.setdefault("_message_memo", {})
        if key in memo and all(memo[key][1].get(e) is m for e, m in (drop or {}).items()):
            return memo[key][0]
        out = {}
        for edge_type in sorted(self.edges):
            edge_index = self.edges[edge_type]
            if drop and edge_type in drop:
                edge_index = edge_index[:, ~drop[edge_type]]
            src, rel, dst = edge_type
            out[edge_type] = edge_index
            out[(dst, f"rev_{rel}", src)] = edge_index.flip(0)
        if len(memo) >= 4:
            memo.pop(next(iter(memo)))
        memo[key] = (out, dict(drop or {}))  # holds the masks, so their ids stay unique
        return out

    def work(self, dim: int) -> int:
        """Rows times width of one message-passing layer: every node and every edge, both ways, at
        width dim (what decides whether splitting its operations over threads pays; gnn/threads.py)."""
        edges = sum(int(e.shape[1]) for e in self.edges.values())
        return (sum(self.num_nodes.values()) + 2 * edges) * dim

    def in_dims(self) -> dict[str, int]:
        return {t: int(self.x[t].shape[1]) if t in self.x else 0 for t in self.node_types}

    def category_at_depth(self, depth: int) -> torch.Tensor:
        """(n_categories,) long: each category's ancestor at `depth` (itself at that depth; -1 when
        the category is shallower than depth)."""
        parent, depths = self.category_parent, self.category_depth
        n = len(parent)
        out = torch.full((n,), -1, dtype=torch.long)
        for row in range(n):
            node, d = row, int(depths[row])
            if d < depth:
                continue
            while d > depth and parent[node] >= 0:
                node, d = int(parent[node]), d - 1
            out[row] = node if d == depth else -1
        return out


def from_export(export, product_x: np.ndarray, brand_x: np.ndarray | None, category_x: np.ndarray | None,
                learned_types: set[str], learned_ids: dict[str, list[str]] | None = None) -> TrainingGraph:
    """A TrainingGraph from a GraphExport (see shopgraph.gnn.export).

    product_x (n_products, d): the product inputs; brand_x / category_x: encoded names (None: learned
    instead). learned_types: node types with an id embedding; learned_ids: for a trained model, the
    ids its embedding rows belong to (None: this graph's own rows, i.e. training).
    """
    data = export.data
    # Node types with no nodes (a catalog without users, brands...) are left out of the model.
    num_nodes = {t: int(data[t].num_nodes) for t in export.ids if data[t].num_nodes}
    x = {"product": torch.as_tensor(product_x, dtype=torch.float32)}
    if brand_x is not None and "brand" in num_nodes:
        x["brand"] = torch.as_tensor(brand_x, dtype=torch.float32)
    if category_x is not None and "category" in num_nodes:
        x["category"] = torch.as_tensor(category_x, dtype=torch.float32)
    types = {t for t in learned_types if t in num_nodes} | {t for t in num_nodes if t not in x}
    learned_rows = {}
    for t in types:
        if learned_ids is None:
            learned_rows[t] = torch.arange(num_nodes[t])
        else:
            known = {node_id: row for row, node_id in enumerate(learned_ids.get(t, []))}
            learned_rows[t] = torch.tensor([known.get(i, -1) for i in export.ids[t]], dtype=torch.long)
    edges = {}
    for edge_type in data.edge_types:
        edge_index = data[edge_type].edge_index
        if edge_index.shape[1] and edge_type[0] in num_nodes and edge_type[2] in num_nodes:
            edges[edge_type] = edge_index
    parent = torch.full((num_nodes.get("category", 0),), -1, dtype=torch.long)
    sub = ("category", "subcategory_of", "category")
    if sub in edges:
        parent[edges[sub][0]] = edges[sub][1]
    depth = data["category"].depth if "category" in num_nodes else torch.zeros(0, dtype=torch.long)
    return TrainingGraph(num_nodes, x, learned_rows, edges, dict(export.ids), parent, depth)


def add_similarity_edges(graph: TrainingGraph, k: int, features: torch.Tensor | None = None,
                         chunk: int = 4096) -> None:
    """Add ("product", "similar_to", "product") edges from each product to its k nearest others by
    cosine of `features` (default: the product inputs). Products without features (zero rows) get
    none. Lets the GNN carry what similar products know (their category, their brand) to a product
    whose own edges are missing, a new listing say."""
    x = graph.x["product"] if features is None else features
    if k <= 0 or x.shape[0] < 2:
        return
    unit = torch.nn.functional.normalize(x.float(), dim=-1)
    has = unit.norm(dim=-1) > 0
    k = min(k, int(has.sum()) - 1)
    if k <= 0:
        return
    sources, targets = [], []
    for start in range(0, unit.shape[0], chunk):
        scores = unit[start:start + chunk] @ unit.T
        rows = torch.arange(start, min(start + chunk, unit.shape[0]))
        scores[torch.arange(len(rows)), rows] = -2.0  # not itself
        scores[:, ~has] = -2.0
        best = scores.topk(k, dim=1).indices
        keep = has[rows]
        sources.append(rows[keep].repeat_interleave(k))
        targets.append(best[keep].reshape(-1))
    graph.edges[("product", "similar_to", "product")] = torch.stack([torch.cat(sources), torch.cat(targets)])
