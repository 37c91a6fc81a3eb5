"""Image-text alignment (CLIP-style symmetric InfoNCE) and gated fusion over the frozen encoders.

No image-text model with weights can be installed here, so the shared space is learned on the
catalog itself: a product's image and its text are a positive pair, every other product in the batch
a negative.

    text vectors  (n, Dt) --text head-->  (n, D) unit rows  (txt_emb)
    image vectors (n, Di) --image head--> (n, D) unit rows  (img_emb)
    gate(txt_emb, img_emb, which are present) --> (n, D) unit rows (mm_vec)

D is VectorDims.aligned. The gate weighs the two modalities per product and gives an absent one
weight 0, so a product without an image (or a query without text) still lands in the same space.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from shopgraph.errors import ModelError

log = logging.getLogger(__name__)

MODALITIES = ("text", "image")
MIN_VALIDATION_PAIRS = 50  # fewer held-out pairs: a validation metric moves by 2+ points per product


def _torch():
    import torch

    return torch


def info_nce(a, b, logit_scale, groups=None):
    """Symmetric InfoNCE between row-aligned unit vectors a (n, D) and b (n, D): row i of a should
    pick row i of b among all rows of b, and the other way round. logit_scale is log(1/temperature).
    groups (n,) long: rows of one group (several photos of one product) are not each other's
    negatives."""
    torch = _torch()
    import torch.nn.functional as F

    logits = (a @ b.T) * logit_scale.exp().clamp(max=100.0)
    labels = torch.arange(a.shape[0], device=a.device)
    if groups is not None:
        same = (groups[:, None] == groups[None, :]) & ~torch.eye(len(groups), dtype=torch.bool)
        logits = logits.masked_fill(same, -1e4)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def build_alignment_model(text_dim: int, image_dim: int, dim: int, hidden: int, dropout: float,
                          temperature: float, n_classes: int = 0):
    """An AlignmentModel (a torch.nn.Module); see its docstring."""
    torch = _torch()
    import torch.nn as nn
    import torch.nn.functional as F

    class ProjectionHead(nn.Module):
        """x (n, in_dim) -> unit rows (n, out_dim): a two-layer MLP plus a linear shortcut, so the
        head starts as good as a linear map and the MLP learns what a linear map cannot."""

        def __init__(self, in_dim: int, out_dim: int):
            super().__init__()
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(),
                                     nn.Dropout(dropout), nn.Linear(hidden, out_dim))
            self.shortcut = nn.Linear(in_dim, out_dim, bias=False)

        def forward(self, x):
            return F.normalize(self.mlp(x) + self.shortcut(x), dim=-1)

    class GatedFusion(nn.Module):
        """Softmax weights over the present modalities, from both embeddings; output unit rows."""

        def __init__(self):
            super().__init__()
            self.score = nn.Linear(2 * dim, len(MODALITIES))

        def forward(self, text, image, has_text, has_image):
            present = torch.stack([has_text, has_image], dim=-1)
            text, image = text * has_text[:, None], image * has_image[:, None]
            logits = self.score(torch.cat([text, image], dim=-1)).masked_fill(~present, -1e4)
            weights = torch.softmax(logits, dim=-1) * present  # no modality at all: zero weights
            fused = weights[:, :1] * text + weights[:, 1:] * image
            return F.normalize(fused, dim=-1), weights

    class AlignmentModel(nn.Module):
        """Text and image heads into one D-wide space, the gate, a learnable temperature and, when
        n_classes > 0, a linear category head on the fused vector (an auxiliary training signal)."""

        def __init__(self):
            super().__init__()
            self.text_head = ProjectionHead(text_dim, dim)
            self.image_head = ProjectionHead(image_dim, dim)
            self.gate = GatedFusion()
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
            self.classifier = nn.Linear(dim, n_classes) if n_classes > 0 else None

        def forward(self, text, image, has_text, has_image):
            """dict text/image/fused (n, D) unit rows (zero rows where absent), weights (n, 2)."""
            t = self.text_head(text) * has_text[:, None]
            i = self.image_head(image) * has_image[:, None]
            fused, weights = self.gate(t, i, has_text, has_image)
            return {"text": t, "image": i, "fused": fused, "weights": weights}

    return AlignmentModel()


def text_features(text: np.ndarray, lexical: np.ndarray) -> np.ndarray:
    """The text head's input: the sentence vector and the character n-gram vector side by side,
    (n, Dt + Dl). The n-grams carry what a sentence model smooths away (model numbers, rare brand
    and product words), and both exist for every product and every text query."""
    return np.concatenate([np.asarray(text, np.float32), np.asarray(lexical, np.float32)], axis=1)


@dataclass
class AlignmentData:
    """Frozen features of n products: text (n, Dt) and image (n, Di) float32, has_text and has_image
    (n,) bool, labels (n,) int64 category index or -1 (for the auxiliary head). text_alt (n, Dt):
    a second text view (e.g. the bare title, like a search query), used for half of the training
    pairs so the text head learns both long product texts and short queries."""

    text: np.ndarray
    image: np.ndarray
    has_text: np.ndarray
    has_image: np.ndarray
    labels: np.ndarray | None = None
    text_alt: np.ndarray | None = None
    groups: np.ndarray | None = None  # (n,) int: rows showing the same product (see info_nce)

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def subset(self, rows: np.ndarray) -> "AlignmentData":
        return AlignmentData(self.text[rows], self.image[rows], self.has_text[rows], self.has_image[rows],
                             None if self.labels is None else self.labels[rows],
                             None if self.text_alt is None else self.text_alt[rows],
                             None if self.groups is None else self.groups[rows])


def recall_at(query, gallery, ks=(1, 5, 10)) -> dict[int, float]:
    """Row i of query should retrieve row i of gallery: recall@k for each k (unit-row arrays or tensors)."""
    q = np.asarray(query, dtype=np.float32)
    g = np.asarray(gallery, dtype=np.float32)
    scores = q @ g.T
    rank = (scores > scores[np.arange(len(q)), np.arange(len(q))][:, None]).sum(axis=1)
    return {k: float((rank < k).mean()) for k in ks}


class AlignmentTask:
    """TrainingTask for the alignment model.

    Loss per batch of products with both modalities: InfoNCE(text, image) + 0.5 * (InfoNCE(fused,
    text) + InfoNCE(fused, image)) with a random modality hidden from the fused side (so the gate
    learns to cope with one missing), + category_weight * cross-entropy of the category head.
    Validation on held-out products: "pair_loglik", the mean log-probability the model gives each
    product's own image among the held-out images and the other way round (minus the symmetric
    InfoNCE loss), which early stopping follows: unlike recall@10 it cannot saturate (on a small
    catalog recall@10 is 1.000 after one epoch and stopped training there); recall@10 and @1 are
    reported beside it.
    """

    monitor = "pair_loglik"

    def __init__(self, module, train: AlignmentData, val: AlignmentData, batch_size: int, category_weight: float):
        torch = _torch()
        self.module = module
        self.batch_size = batch_size
        self.category_weight = category_weight if module.classifier is not None else 0.0
        self.train = _tensors(train)
        both = train.has_text & train.has_image
        self.pair_rows = torch.from_numpy(np.flatnonzero(both))
        self.val = _tensors(val.subset(np.flatnonzero(val.has_text & val.has_image)))
        # A step's typical operation: a batch through the heads, small whatever the catalog's size.
        self.work = batch_size * (train.text.shape[1] + train.image.shape[1])

    def batches(self, generator):
        torch = _torch()
        order = self.pair_rows[torch.randperm(len(self.pair_rows), generator=generator)]
        # Drop a last batch too small to hold useful negatives (InfoNCE needs several rows).
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            if len(rows) >= 4:
                yield rows, torch.rand(len(rows), generator=generator)

    def loss(self, batch):
        torch = _torch()
        import torch.nn.functional as F

        rows, coin = batch
        t, i = self.train["text"][rows], self.train["image"][rows]
        if "text_alt" in self.train:  # the other text view for a random half of the pairs
            use_alt = (coin * 6) % 1 < 0.5  # independent of the thirds used below
            t = torch.where(use_alt[:, None], self.train["text_alt"][rows], t)
        ones = torch.ones(len(rows), dtype=torch.bool)
        out = self.module(t, i, ones, ones)
        scale = self.module.logit_scale
        groups = self.train["groups"][rows] if "groups" in self.train else None
        loss = info_nce(out["text"], out["image"], scale, groups)
        # Fused side with a modality hidden a third of the time each: the gate learns absent inputs.
        keep_text, keep_image = coin >= 1 / 3, coin < 2 / 3
        fused, _ = self.module.gate(out["text"], out["image"], keep_text, keep_image)
        loss = loss + 0.5 * (info_nce(fused, out["text"], scale, groups) + info_nce(fused, out["image"], scale, groups))
        if self.category_weight > 0:
            labels = self.train["labels"][rows]
            known = labels >= 0
            if bool(known.any()):  # each modality on its own, and fused, should know the category
                ce = sum(F.cross_entropy(self.module.classifier(out[m][known]), labels[known])
                         for m in ("text", "image", "fused")) / 3
                loss = loss + self.category_weight * ce
        return loss

    def validate(self) -> dict[str, float]:
        if len(self.val["text"]) == 0:
            return {"pair_loglik": float("-inf"), "recall@10": 0.0}
        ones = _torch().ones(len(self.val["text"]), dtype=_torch().bool)
        out = self.module(self.val["text"], self.val["image"], ones, ones)
        loglik = -float(info_nce(out["text"], out["image"], self.module.logit_scale))
        t2i = recall_at(out["text"].numpy(), out["image"].numpy())
        i2t = recall_at(out["image"].numpy(), out["text"].numpy())
        return {"pair_loglik": loglik, "recall@10": 0.5 * (t2i[10] + i2t[10]), "t2i@1": t2i[1], "i2t@1": i2t[1]}


def _tensors(data: AlignmentData) -> dict:
    torch = _torch()
    labels = data.labels if data.labels is not None else np.full(len(data), -1)
    extra = {} if data.text_alt is None else {
        "text_alt": torch.from_numpy(np.ascontiguousarray(data.text_alt, dtype=np.float32))}
    if data.groups is not None:
        extra["groups"] = torch.from_numpy(data.groups.astype(np.int64))
    return {**extra, "text": torch.from_numpy(np.ascontiguousarray(data.text, dtype=np.float32)),
            "image": torch.from_numpy(np.ascontiguousarray(data.image, dtype=np.float32)),
            "has_text": torch.from_numpy(data.has_text.astype(bool)),
            "has_image": torch.from_numpy(data.has_image.astype(bool)),
            "labels": torch.from_numpy(labels.astype(np.int64))}


class Aligner:
    """A trained alignment model ready to embed: wraps the module with numpy in, numpy out."""

    def __init__(self, module, model_args: dict):
        self.module = module.eval()
        self.model_args = model_args

    @property
    def dim(self) -> int:
        return int(self.model_args["dim"])

    def embed(self, text: np.ndarray | None, image: np.ndarray | None, has_text: np.ndarray | None = None,
              has_image: np.ndarray | None = None, batch: int = 4096) -> dict[str, np.ndarray]:
        """text (n, Dt) and/or image (n, Di) frozen vectors -> {"text", "image", "fused"} (n, D) unit
        rows (zero rows for an absent modality) and "weights" (n, 2) gate weights (text, image)."""
        torch = _torch()

        def forward(t, i, ht, hi):
            with torch.no_grad():
                out = self.module(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (t, i, ht, hi)))
            return {key: value.numpy() for key, value in out.items()}

        return embed_in_batches(forward, self.model_args, text, image, has_text, has_image, batch)


def embed_in_batches(forward, model_args: dict, text: np.ndarray | None, image: np.ndarray | None,
                     has_text: np.ndarray | None, has_image: np.ndarray | None, batch: int) -> dict[str, np.ndarray]:
    """Aligner.embed's contract for any forward pass (torch or numpy): absent modalities as zero rows
    with their flags off, widths checked, rows run `batch` at a time. forward(text (b, Dt) float32,
    image (b, Di) float32, has_text (b,) bool, has_image (b,) bool) -> dict of arrays."""
    n = len(text) if text is not None else len(image)
    if text is None:
        text, has_text = np.zeros((n, model_args["text_dim"]), np.float32), np.zeros(n, bool)
    if image is None:
        image, has_image = np.zeros((n, model_args["image_dim"]), np.float32), np.zeros(n, bool)
    has_text = np.ones(n, bool) if has_text is None else np.asarray(has_text, bool)
    has_image = np.ones(n, bool) if has_image is None else np.asarray(has_image, bool)
    if text.shape[1] != model_args["text_dim"] or image.shape[1] != model_args["image_dim"]:
        raise ModelError(f"the alignment model expects text width {model_args['text_dim']} and image "
                         f"width {model_args['image_dim']}, got {text.shape[1]} and {image.shape[1]}")
    parts: dict[str, list] = {"text": [], "image": [], "fused": [], "weights": []}
    for s in range(0, n, batch):
        out = forward(np.asarray(text[s:s + batch], np.float32), np.asarray(image[s:s + batch], np.float32),
                      has_text[s:s + batch], has_image[s:s + batch])
        for key in parts:
            parts[key].append(out[key])
    dim = int(model_args["dim"])
    return {k: (np.concatenate(v) if v else np.zeros((0, dim if k != "weights" else 2), np.float32))
            for k, v in parts.items()}


def train_alignment(data: AlignmentData, config, dim: int, *, progress: bool = False, val_rows=None,
                    on_epoch=None):
    """Train on `data` (products with both modalities are the pairs); returns (Aligner, History).

    config: an AlignConfig. val_rows: the rows to validate on (default: a seeded random
    config.val_fraction of the pairs). Raises ModelError when there are too few pairs.
    """
    from shopgraph.gnn.trainer import Trainer, seed_everything

    pairs = np.flatnonzero(data.has_text & data.has_image)
    if len(pairs) < config.min_pairs:
        raise ModelError(f"alignment needs at least {config.min_pairs} products with both text and an image, "
                         f"the graph has {len(pairs)}")
    rng = np.random.default_rng(config.seed)
    if val_rows is None:
        n_val = max(2, int(round(len(pairs) * config.val_fraction)))
        val_rows = rng.permutation(pairs)[:n_val]
    val_rows = np.asarray(val_rows)
    if len(val_rows) < MIN_VALIDATION_PAIRS:
        log.warning("alignment validation holds only %d products with text and an image (fewer than %d): "
                    "its metrics and the epoch chosen are noisy; more products with photos make them reliable",
                    len(val_rows), MIN_VALIDATION_PAIRS)
    train_rows = np.setdiff1d(np.arange(len(data)), val_rows)
    labels = data.labels
    n_classes = int(labels.max()) + 1 if labels is not None and len(labels) and labels.max() >= 0 else 0
    seed_everything(config.seed)
    model_args = {"text_dim": int(data.text.shape[1]), "image_dim": int(data.image.shape[1]), "dim": int(dim),
                  "hidden": int(config.hidden), "dropout": float(config.dropout),
                  "temperature": float(config.temperature), "n_classes": n_classes}
    module = build_alignment_model(**model_args)
    task = AlignmentTask(module, data.subset(train_rows), data.subset(val_rows), config.batch_size,
                         config.category_weight)
    trainer = Trainer(max_epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                      patience=config.patience, seed=config.seed, progress=progress, description="align",
                      on_epoch=on_epoch, threads=config.threads)
    history = trainer.fit(task)
    return Aligner(module, model_args), history


def aligner_from_checkpoint(payload: dict) -> Aligner:
    module = build_alignment_model(**payload["model_args"])
    module.load_state_dict(payload["state"])
    return Aligner(module, payload["model_args"])
