"""Relation-aware GCN (R-GCN style) over a heterogeneous graph.

Per layer, for every node v of type T:

    h_v' = W_T h_v + sum over relations r into T, sum over u in N_r(v) of  W_r h_u / sqrt(d_r(u) d_r(v))

with d_r the degrees within relation r (GCN's symmetric normalisation, per relation). With
transform=False the W are identities and there is no nonlinearity (LightGCN-style propagation,
which suits id-embedding inputs such as users). The output is the mean of the input and every
layer's output (layer combination), shape node type -> (n, dim).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from shopgraph.gnn.models.inputs import NodeInputs


class _SparseProduct(torch.autograd.Function):
    """matrix @ h with the gradient through the cached transpose: autograd's own backward of a
    sparse CSR product is several times slower than the forward on CPU."""

    @staticmethod
    def forward(ctx, matrix, matrix_t, h):
        ctx.matrix_t = matrix_t
        return matrix @ h

    @staticmethod
    def backward(ctx, grad):
        return None, None, ctx.matrix_t @ grad


_ADJACENCY_CACHE: dict[int, tuple] = {}  # id(edge_index) -> (edge_index, sizes, matrix, transpose)
_CACHE_SIZE = 16


def normalised_adjacency(edge_index: torch.Tensor, n_src: int, n_dst: int):
    """(A, A^T): A (n_dst, n_src) sparse CSR with A[d, s] = 1 / sqrt(deg_src(s) deg_dst(d)) per edge.
    Cached per edge tensor (the entry holds the tensor, so its id cannot be reused meanwhile)."""
    key = id(edge_index)
    hit = _ADJACENCY_CACHE.get(key)
    if hit is not None and hit[0] is edge_index and hit[1] == (n_src, n_dst):
        return hit[2], hit[3]
    src, dst = edge_index
    deg_src = torch.bincount(src, minlength=n_src).clamp(min=1).float()
    deg_dst = torch.bincount(dst, minlength=n_dst).clamp(min=1).float()
    values = (deg_src[src] * deg_dst[dst]).rsqrt()
    # The indices are built here and in range, so torch's invariant check would only cost time.
    coo = torch.sparse_coo_tensor(torch.stack([dst, src]), values, (n_dst, n_src),
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we use only CSR @ dense
        warnings.simplefilter("ignore", UserWarning)
        matrix, transpose = coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr()
    if len(_ADJACENCY_CACHE) >= _CACHE_SIZE:
        _ADJACENCY_CACHE.pop(next(iter(_ADJACENCY_CACHE)))
    _ADJACENCY_CACHE[key] = (edge_index, (n_src, n_dst), matrix, transpose)
    return matrix, transpose


def gcn_propagate(h_src: torch.Tensor, edge_index: torch.Tensor, n_dst: int) -> torch.Tensor:
    """Sum over edges (src -> dst) of h_src[src] / sqrt(deg_src * deg_dst): (n_dst, dim)."""
    if edge_index.shape[1] == 0:
        return h_src.new_zeros(n_dst, h_src.shape[1])
    matrix, transpose = normalised_adjacency(edge_index, h_src.shape[0], n_dst)
    return _SparseProduct.apply(matrix, transpose, h_src)


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
