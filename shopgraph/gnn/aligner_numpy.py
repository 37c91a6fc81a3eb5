"""The trained alignment model's inference in numpy, so a search (and an ingest) that only embeds
needs no torch: a CLI text search on a trained graph spent ~2.5 s of CPU importing torch to run two
small projection heads.

Training saves the inference weights beside the torch checkpoint, ``align-ID.pt`` -> ``align-ID.npz``
(numpy's own format, read with allow_pickle=False: opening it never runs code). ``load`` returns None
when that file is absent (a model trained before it existed) so the caller falls back to the torch
checkpoint. The forward pass is the one of ``alignment.build_alignment_model`` in eval mode (dropout
off); tests/gnn/test_aligner_numpy.py checks both give the same vectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from shopgraph.errors import ModelError
from shopgraph.gnn.alignment import embed_in_batches
from shopgraph.ingest.encoders.bert_numpy import gelu

_HEADS = ("text_head", "image_head")
_KEYS = tuple(f"{h}.{k}" for h in _HEADS for k in ("mlp.1.weight", "mlp.1.bias", "mlp.4.weight", "mlp.4.bias",
                                                       "shortcut.weight")) + ("gate.score.weight", "gate.score.bias")


def weights_file(checkpoint: Path) -> Path:
    """The inference weights beside a checkpoint file."""
    return Path(checkpoint).with_suffix(".npz")


def save_inference_weights(checkpoint: Path, state: dict, model_args: dict) -> Path:
    """Write the heads' and the gate's weights (float32) and model_args next to `checkpoint`,
    atomically. state: the module's state_dict (torch tensors or arrays)."""
    arrays = {key.replace(".", "__"): np.asarray(_numpy(state[key]), np.float32) for key in _KEYS}
    arrays["model_args"] = np.array(json.dumps(model_args, sort_keys=True))
    path = weights_file(checkpoint)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _unit(x: np.ndarray) -> np.ndarray:
    """torch.nn.functional.normalize: rows divided by max(norm, 1e-12)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class NumpyAligner:
    """Same interface as alignment.Aligner (embed, dim, model_args), numpy throughout."""

    def __init__(self, weights: dict[str, np.ndarray], model_args: dict):
        self.w = weights
        self.model_args = model_args

    @classmethod
    def load(cls, checkpoint: Path) -> "NumpyAligner | None":
        """The inference weights saved beside `checkpoint`; None when there are none. ModelError when
        the file is there but unreadable or incomplete."""
        path = weights_file(checkpoint)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = {key: np.asarray(data[key.replace(".", "__")], np.float32) for key in _KEYS}
                model_args = json.loads(str(data["model_args"]))
        except (OSError, ValueError, KeyError) as e:
            raise ModelError(f"cannot read alignment weights {path}: {e}") from None
        return cls(weights, model_args)

    @property
    def dim(self) -> int:
        return int(self.model_args["dim"])

    def _head(self, name: str, x: np.ndarray) -> np.ndarray:
        w = self.w
        hidden = gelu(x @ w[f"{name}.mlp.1.weight"].T + w[f"{name}.mlp.1.bias"])
        out = hidden @ w[f"{name}.mlp.4.weight"].T + w[f"{name}.mlp.4.bias"] + x @ w[f"{name}.shortcut.weight"].T
        return _unit(out)

    def embed(self, text: np.ndarray | None, image: np.ndarray | None, has_text: np.ndarray | None = None,
              has_image: np.ndarray | None = None, batch: int = 4096) -> dict[str, np.ndarray]:
        """text (n, Dt) and/or image (n, Di) frozen vectors -> {"text", "image", "fused"} (n, D) unit
        rows (zero rows for an absent modality) and "weights" (n, 2) gate weights (text, image)."""
        return embed_in_batches(self._forward, self.model_args, text, image, has_text, has_image, batch)

    def _forward(self, text, image, has_text, has_image) -> dict[str, np.ndarray]:
        t = self._head("text_head", text) * has_text[:, None]
        i = self._head("image_head", image) * has_image[:, None]
        present = np.stack([has_text, has_image], axis=-1)
        logits = np.concatenate([t, i], axis=-1) @ self.w["gate.score.weight"].T + self.w["gate.score.bias"]
        logits = np.where(present, logits, np.float32(-1e4))
        logits = np.exp(logits - logits.max(-1, keepdims=True))
        weights = (logits / logits.sum(-1, keepdims=True)) * present
        fused = _unit(weights[:, :1] * t + weights[:, 1:] * i)
        return {"text": t.astype(np.float32), "image": i.astype(np.float32), "fused": fused.astype(np.float32),
                "weights": weights.astype(np.float32)}
