"""Relation-aware GCN (R-GCN style) over a heterogeneous graph.

Per layer, for every node v of type T:

    h_v' = W_T h_v + sum over relations r into T, sum over u in N_r(v) of  W_r h_u / sqrt(d_r(u) d_r(v))

with d_r the degrees within relation r (GCN's symmetric normalisation, per relation). With
transform=False the W are identities and there is no nonlinearity (LightGCN-style propagation,
which suits id-embedding inputs such as users). The output is the mean of the input and every
layer's output (layer combination), shape node type -> (n, dim).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from shopgraph.gnn.models.inputs import NodeInputs


def gcn_propagate(h_src: torch.Tensor, edge_index: torch.Tensor, n_dst: int) -> torch.Tensor:
    """Sum over edges (src -> dst) of h_src[src] / sqrt(deg_src * deg_dst): (n_dst, dim)."""
    src, dst = edge_index
    if src.numel() == 0:
        return h_src.new_zeros(n_dst, h_src.shape[1])
    deg_src = torch.bincount(src, minlength=h_src.shape[0]).clamp(min=1).float()
    deg_dst = torch.bincount(dst, minlength=n_dst).clamp(min=1).float()
    weight = (deg_src[src] * deg_dst[dst]).rsqrt().unsqueeze(-1)
    return h_src.new_zeros(n_dst, h_src.shape[1]).index_add_(0, dst, h_src[src] * weight)


class RelationalGCNLayer(nn.Module):
    def __init__(self, node_types, edge_types, dim: int, transform: bool):
        super().__init__()
        self.transform = transform
        if transform:
            self.self_loop = nn.ModuleDict({t: nn.Linear(dim, dim) for t in node_types})
            self.relation = nn.ModuleDict({"__".join(e): nn.Linear(dim, dim, bias=False) for e in edge_types})

    def forward(self, h: dict[str, torch.Tensor], edge_index_dict) -> dict[str, torch.Tensor]:
        out = {t: (self.self_loop[t](x) if self.transform else torch.zeros_like(x)) for t, x in h.items()}
        for edge_type, edge_index in edge_index_dict.items():
            src_type, _, dst_type = edge_type
            h_src = h[src_type]
            if self.transform:
                h_src = self.relation["__".join(edge_type)](h_src)
            out[dst_type] = out[dst_type] + gcn_propagate(h_src, edge_index, h[dst_type].shape[0])
        return out


class RelationalGCN(nn.Module):
    """metadata: (node types, edge types) of the message graph; in_dims / learned: see NodeInputs."""

    kind = "rgcn"

    def __init__(self, metadata, in_dims: dict[str, int], learned: dict[str, int], dim: int = 128,
                 layers: int = 2, dropout: float = 0.1, transform: bool = True):
        super().__init__()
        node_types, edge_types = metadata
        self.inputs = NodeInputs(in_dims, learned, dim)
        self.layers = nn.ModuleList(RelationalGCNLayer(node_types, edge_types, dim, transform) for _ in range(layers))
        self.dropout = dropout
        self.transform = transform

    def forward(self, x_dict, edge_index_dict, learned_rows, num_nodes) -> dict[str, torch.Tensor]:
        h = self.inputs(x_dict, learned_rows, num_nodes)
        outputs = [h]
        for n, layer in enumerate(self.layers):
            h = layer(h, edge_index_dict)
            if self.transform and n < len(self.layers) - 1:
                h = {t: F.dropout(F.gelu(x), self.dropout, self.training) for t, x in h.items()}
            outputs.append(h)
        return {t: torch.stack([o[t] for o in outputs]).mean(0) for t in h}
