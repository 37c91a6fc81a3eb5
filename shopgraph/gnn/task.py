"""GNNTask: a model, a TrainingGraph and objectives, as a TrainingTask for the Trainer.

Full-batch: each step embeds the whole graph (one forward pass), with validation targets and the
step's own training targets hidden from the message graph, and sums the objectives' losses on their
batches. An epoch is enough steps for the largest objective to see its training targets once.

Neighbour sampling (config gnn.sampling = "neighbor") needs pyg-lib or torch-sparse, which this
platform's registry lacks for torch 2.13; `check_sampling` says so in one line. The task only ever
asks the model for embeddings of a graph, so a sampled-subgraph variant would replace `_embed` and
`batches` and nothing else.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from shopgraph.errors import MissingDependencyError
from shopgraph.gnn.graph_data import TrainingGraph


def check_sampling(sampling: str) -> None:
    """Raise a one-line error unless the sampling mode can run here."""
    from shopgraph.errors import ConfigError

    if sampling == "full":
        return
    if sampling != "neighbor":
        raise ConfigError(f"gnn.sampling must be 'full' or 'neighbor', got {sampling!r}")
    try:
        import pyg_lib  # noqa: F401
    except ImportError:
        try:
            import torch_sparse  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "neighbour sampling needs pyg-lib or torch-sparse (not installable here for torch 2.13); "
                "use gnn.sampling=full") from None


def _merge(*drops: dict) -> dict:
    out: dict = {}
    for drop in drops:
        for edge_type, mask in drop.items():
            out[edge_type] = out[edge_type] | mask if edge_type in out else mask
    return out


class GNNTask:
    monitor = "score"

    def __init__(self, model: nn.Module, graph: TrainingGraph, objectives: list[nn.Module], batch_size: int,
                 generator: torch.Generator, steps_per_epoch: int | None = None):
        for objective in objectives:
            objective.setup(graph, generator)
        self.graph, self.objectives, self.batch_size = graph, objectives, batch_size
        self.module = nn.ModuleDict({"model": model, "objectives": nn.ModuleList(objectives)})
        self.held_out = _merge(*(o.held_out for o in objectives))
        largest = max(len(getattr(o, "train_cols", getattr(o, "train_rows", []))) for o in objectives)
        self.steps = steps_per_epoch or max(1, math.ceil(largest / batch_size))
        self.work = graph.work(model.inputs.dim)  # what decides the trainer's threads (gnn/threads.py)

    @property
    def model(self) -> nn.Module:
        return self.module["model"]

    def _embed(self, drop: dict | None) -> dict[str, torch.Tensor]:
        g = self.graph
        return self.model(g.x, g.message_edges(drop), g.learned_rows, g.num_nodes)

    def batches(self, generator):
        for _ in range(self.steps):
            yield [o.sample(generator, self.batch_size) for o in self.objectives]

    def loss(self, batch) -> torch.Tensor:
        drop = _merge(self.held_out, *(d for _, d in batch))
        emb = self._embed(drop)
        return sum(o.weight * o.loss(emb, b) for o, (b, _) in zip(self.objectives, batch))

    def validate(self) -> dict[str, float]:
        emb = self._embed(self.held_out)
        metrics: dict[str, float] = {}
        for objective in self.objectives:
            metrics.update(objective.validate(emb))
        metrics["score"] = sum(metrics[o.metric] for o in self.objectives) / len(self.objectives)
        return metrics

    @torch.no_grad()
    def embed(self) -> dict[str, torch.Tensor]:
        """Final embeddings with every known edge in the message graph (eval mode)."""
        self.module.eval()
        return self._embed(None)
