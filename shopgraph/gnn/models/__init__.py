"""Heterogeneous GNN models, one per file; `build_model(kind, **args)` picks one by name."""

from __future__ import annotations

MODEL_KINDS = ("gat", "rgcn")


def build_model(kind: str, **args):
    """kind "gat" -> RelationalGAT, "rgcn" -> RelationalGCN; args go to the constructor."""
    from shopgraph.errors import ConfigError

    if kind == "gat":
        from shopgraph.gnn.models.gat import RelationalGAT

        return RelationalGAT(**args)
    if kind == "rgcn":
        from shopgraph.gnn.models.rgcn import RelationalGCN

        return RelationalGCN(**args)
    raise ConfigError(f"unknown GNN model {kind!r}; known: {', '.join(MODEL_KINDS)}")
