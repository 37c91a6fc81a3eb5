"""Relation-aware graph attention: one GATv2 attention per relation, summed per target type.

Per layer, for every node v of type T:

    h_v' = W_T h_v + sum over relations r into T of GATv2_r(h, v)

followed by GELU and dropout between layers. Attention lets a product weigh its neighbours (a
strong brand signal over a generic category, say). The output is the mean of the input and every
layer's output, node type -> (n, dim).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_geometric.nn import GATv2Conv

from shopgraph.gnn.models.inputs import NodeInputs


class RelationalGATLayer(nn.Module):
    def __init__(self, node_types, edge_types, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the width {dim} must be divisible by the number of heads {heads}")
        self.self_loop = nn.ModuleDict({t: nn.Linear(dim, dim) for t in node_types})
        self.relation = nn.ModuleDict({
            "__".join(e): GATv2Conv((dim, dim), dim // heads, heads=heads, add_self_loops=False,
                                    dropout=dropout, share_weights=e[0] == e[2])
            for e in edge_types})

    def forward(self, h: dict[str, torch.Tensor], edge_index_dict) -> dict[str, torch.Tensor]:
        out = {t: self.self_loop[t](x) for t, x in h.items()}
        for edge_type, edge_index in edge_index_dict.items():
            src_type, _, dst_type = edge_type
            if edge_index.shape[1] == 0:
                continue
            message = self.relation["__".join(edge_type)]((h[src_type], h[dst_type]), edge_index)
            out[dst_type] = out[dst_type] + message
        return out


class RelationalGAT(nn.Module):
    """metadata: (node types, edge types) of the message graph; in_dims / learned: see NodeInputs."""

    kind = "gat"

    def __init__(self, metadata, in_dims: dict[str, int], learned: dict[str, int], dim: int = 128,
                 layers: int = 2, heads: int = 2, dropout: float = 0.1):
        super().__init__()
        node_types, edge_types = metadata
        self.inputs = NodeInputs(in_dims, learned, dim)
        self.layers = nn.ModuleList(RelationalGATLayer(node_types, edge_types, dim, heads, dropout)
                                    for _ in range(layers))
        self.dropout = dropout

    def forward(self, x_dict, edge_index_dict, learned_rows, num_nodes) -> dict[str, torch.Tensor]:
        h = self.inputs(x_dict, learned_rows, num_nodes)
        outputs = [h]
        for n, layer in enumerate(self.layers):
            h = layer(h, edge_index_dict)
            if n < len(self.layers) - 1:
                h = {t: F.dropout(F.gelu(x), self.dropout, self.training) for t, x in h.items()}
            outputs.append(h)
        return {t: torch.stack([o[t] for o in outputs]).mean(0) for t in h}
