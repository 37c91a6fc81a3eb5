"""Checkpoints: weights plus everything needed to trust and reuse them.

A checkpoint is one torch file holding only tensors and plain Python values (loaded with
weights_only=True, so opening a checkpoint never runs code): the model kind and its constructor
arguments, the resolved configuration section, a fingerprint of the graph it was trained on, the
validation metrics, the training history and any extra tables (e.g. the ids behind learned rows).
Training curves go beside it as a PNG.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from shopgraph.errors import ModelError

FORMAT_VERSION = 1


def graph_fingerprint(data) -> str:
    """sha1 over a HeteroData's node counts, edge types and edge indices (hex, 16 characters)."""
    digest = hashlib.sha1()
    for node_type in sorted(data.node_types):
        digest.update(f"{node_type}:{data[node_type].num_nodes};".encode())
    for edge_type in sorted(data.edge_types):
        edge_index = data[edge_type].edge_index
        digest.update(f"{edge_type}:{edge_index.shape[1]};".encode())
        digest.update(edge_index.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def save_checkpoint(path: str | Path, *, kind: str, state: dict, model_args: dict[str, Any],
                    config: dict[str, Any], fingerprint: str, metrics: dict[str, float],
                    history: dict | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write atomically (temporary file, then rename) and return the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "kind": kind, "state": state, "model_args": model_args,
               "config": config, "fingerprint": fingerprint, "metrics": metrics,
               "history": history or {}, "extra": extra or {}, "saved_at": time.time()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint; ModelError (one line) if it is missing, unreadable or of another kind."""
    import torch

    path = Path(path)
    if not path.exists():
        raise ModelError(f"no trained model at {path}; run `shopgraph train` first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise ModelError(f"{path} is not a shopgraph checkpoint (format {FORMAT_VERSION})")
    if kind is not None and payload.get("kind") != kind:
        raise ModelError(f"{path} holds a {payload.get('kind')!r} model, not {kind!r}")
    return payload


def save_curves(history: dict, path: str | Path, monitor: str, title: str = "") -> Path:
    """Training loss and the monitored validation metric per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history.get("epochs", [])]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [r["loss"] for r in history.get("epochs", [])], color="tab:blue")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.plot(epochs, [r.get(monitor, float("nan")) for r in history.get("epochs", [])], color="tab:green")
    if history.get("best_epoch"):
        right.axvline(history["best_epoch"], color="grey", linestyle="--", linewidth=1)
    right.set_xlabel("epoch")
    right.set_ylabel(f"validation {monitor}")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
