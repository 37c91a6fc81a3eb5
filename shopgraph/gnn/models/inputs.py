"""Node inputs of the heterogeneous GNNs: every node type mapped to the model width.

A type with features (products: fused vectors; brands, categories: encoded names and paths) goes
through its own linear map. A type in `learned` also gets a trainable id embedding added; rows are
looked up through `learned_rows` (node row -> row of the embedding table, -1 for a node the model has
never seen), so nodes ingested after training still get an input: their features, or zeros.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class NodeInputs(nn.Module):
    """in_dims: node type -> feature width (0 = no features); learned: node type -> rows of its id
    embedding (0 = none); dim: the model width. Every type needs features or learned rows."""

    def __init__(self, in_dims: dict[str, int], learned: dict[str, int], dim: int):
        super().__init__()
        self.dim = dim
        self.project = nn.ModuleDict({t: nn.Linear(d, dim) for t, d in in_dims.items() if d > 0})
        self.embed = nn.ModuleDict({t: nn.Embedding(n, dim) for t, n in learned.items() if n > 0})
        for table in self.embed.values():
            nn.init.normal_(table.weight, std=0.1)
        missing = [t for t in set(in_dims) | set(learned) if t not in self.project and t not in self.embed]
        if missing:
            raise ValueError(f"node types {sorted(missing)} have neither features nor learned rows")
        self.node_types = sorted(set(self.project) | set(self.embed))

    def forward(self, x_dict: dict[str, torch.Tensor], learned_rows: dict[str, torch.Tensor],
                num_nodes: dict[str, int]) -> dict[str, torch.Tensor]:
        """-> node type -> (num_nodes, dim)."""
        out = {}
        for t in self.node_types:
            h = self.project[t](x_dict[t]) if t in self.project else torch.zeros(num_nodes[t], self.dim)
            if t in self.embed:
                rows = learned_rows[t]
                seen = (rows >= 0).unsqueeze(-1)
                h = h + self.embed[t](rows.clamp(min=0)) * seen
            out[t] = h
        return out
