"""Unsupervised domain adaptation for the product-matching pair classifier.

A matcher is trained on labelled pairs of a SOURCE dataset and applied to the unlabelled pairs of a
TARGET dataset whose feature distribution differs (other platforms, other catalogues). Inputs are
pair-feature matrices X of shape (m, F), float, NaN meaning "unknown"; labels y of shape (m,) in {0, 1}
(1 = same product). Outputs are match probabilities in [0, 1], shape (m,), float64.

Three methods, chosen by `AdaptConfig.method`:
- "none": supervised training on the source only (the baseline);
- "mmd": adds the squared Maximum Mean Discrepancy between the encoder outputs of a source batch and
  a target batch (Gaussian kernels, median-heuristic bandwidths), so the encoder maps both domains to
  similar distributions;
- "dann": domain-adversarial training (Ganin & Lempitsky 2015): a discriminator learns to tell the
  domains apart from the encoder output, and a gradient reversal layer makes the encoder work against
  it, with the adversarial weight ramped up by `dann_lambda`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from shopgraph.errors import BadArgumentError
from shopgraph.gnn.threads import torch_threads, training_threads

METHODS = ("none", "mmd", "dann")
_STD_FLOOR = 1e-6
_CHUNK = 8192  # rows per forward pass at inference: bounds memory on large candidate sets


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -lambda_ (no gradient for lambda_)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)  # a new view, so autograd records this node even though values are unchanged

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * -ctx.lambda_, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, lambda_)


class GradientReversalLayer(nn.Module):
    """Module form of `grad_reverse`; the training loop sets `lambda_` each step to follow the ramp."""

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """The DANN ramp 2 / (1 + exp(-gamma p)) - 1: 0 at the start, so the untrained discriminator's
    noisy gradients do not disturb the encoder early, approaching 1 as training progresses."""
    if not math.isfinite(progress):
        raise BadArgumentError(f"progress must be a finite number, got {progress}")
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidths=None) -> torch.Tensor:
    """Biased estimate of the squared MMD between samples x (n, d) and y (k, d), kernel = sum of
    Gaussians exp(-|a-b|^2 / (2 s^2)) over the bandwidths s. None: the median pairwise distance of the
    pooled sample times (0.5, 1, 2), detached so the encoder cannot shrink the loss by rescaling."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) == 0 or len(y) == 0:
        raise BadArgumentError(f"mmd2 needs two non-empty (n, d) samples of equal d, got "
                               f"{tuple(x.shape)} and {tuple(y.shape)}")
    z = torch.cat([x, y])
    sq = (z * z).sum(1)
    # Squared distances from the Gram matrix rather than cdist: no sqrt, so no NaN gradient at distance 0.
    d2 = (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
    if bandwidths is None:
        with torch.no_grad():
            off_diagonal = d2[~torch.eye(len(z), dtype=torch.bool, device=z.device)]
            median = off_diagonal.sqrt().median() if len(off_diagonal) else d2.new_tensor(1.0)
            median = median.clamp_min(1e-6)  # identical points: any bandwidth gives MMD 0
        bandwidths = [median * f for f in (0.5, 1.0, 2.0)]
    k = sum(torch.exp(-d2 / (2.0 * torch.as_tensor(s, dtype=d2.dtype) ** 2)) for s in bandwidths)
    n = len(x)
    value = k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()
    return value.clamp_min(0.0)  # exactly >= 0 for a positive definite kernel; only rounding goes below


def _as_matrix(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise BadArgumentError(f"{name} must be a numeric matrix: {e}") from None
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadArgumentError(f"{name} must be a non-empty 2-D matrix (m, F), got shape {a.shape}")
    if np.isinf(a).any():
        raise BadArgumentError(f"{name} contains infinite values (use NaN for unknown)")
    return a


class FeatureScaler:
    """Median imputation, "is missing" indicators and standardisation, all fitted on the source.

    Indicator columns are kept for every column with a NaN in the source or the target, so that both
    domains get the same width. Columns with (near) zero spread in the source, e.g. an indicator for
    a column that is missing only in the target, are centred but not divided by the 1e-6 floor: that
    would turn a target value of 1 into 1e6 and saturate the network."""

    def fit(self, x_source, x_target=None) -> FeatureScaler:
        xs = _as_matrix(x_source, "x_source")
        missing = np.isnan(xs).any(axis=0)
        if x_target is not None:
            xt = _as_matrix(x_target, "x_target")
            if xt.shape[1] != xs.shape[1]:
                raise BadArgumentError(f"x_target has {xt.shape[1]} columns, x_source has {xs.shape[1]}")
            missing |= np.isnan(xt).any(axis=0)
        with warnings.catch_warnings():  # all-NaN columns warn; they are imputed with 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(xs, axis=0)
        self.median_ = np.where(np.isnan(median), 0.0, median)
        self.indicator_columns_ = np.flatnonzero(missing)
        self.n_features_in_ = xs.shape[1]
        filled = self._impute(xs)
        std = filled.std(axis=0)
        self.mean_ = filled.mean(axis=0)
        self.scale_ = np.where(std < _STD_FLOOR, 1.0, std)
        return self

    def _impute(self, x: np.ndarray) -> np.ndarray:
        nan = np.isnan(x)
        filled = np.where(nan, self.median_, x)
        return np.hstack([filled, nan[:, self.indicator_columns_].astype(np.float64)])

    @property
    def n_features_out(self) -> int:
        return self.n_features_in_ + len(self.indicator_columns_)

    def transform(self, x) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise BadArgumentError("FeatureScaler.transform called before fit")
        a = _as_matrix(x, "x")
        if a.shape[1] != self.n_features_in_:
            raise BadArgumentError(f"x has {a.shape[1]} columns, the scaler was fitted on {self.n_features_in_}")
        return ((self._impute(a) - self.mean_) / self.scale_).astype(np.float32)


@dataclass(frozen=True)
class AdaptConfig:
    method: str = "none"  # "none" | "mmd" | "dann"
    hidden: int = 64
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    adapt_weight: float = 1.0  # multiplies the MMD loss, or the DANN lambda
    dropout: float = 0.1
    seed: int = 0
    pos_weight: float | None = None  # None: n_neg / n_pos of the source labels
    threads: int = 0  # torch threads while fitting; 0: chosen from the size of a step (gnn/threads.py)


def _check_config(c: AdaptConfig) -> None:
    if c.method not in METHODS:
        raise BadArgumentError(f"unknown adaptation method {c.method!r}; expected one of {', '.join(METHODS)}")
    for name in ("hidden", "epochs", "batch_size"):
        if int(getattr(c, name)) < 1:
            raise BadArgumentError(f"{name} must be >= 1, got {getattr(c, name)}")
    if not c.lr > 0 or not c.weight_decay >= 0 or not c.adapt_weight >= 0:
        raise BadArgumentError("lr must be > 0, weight_decay and adapt_weight >= 0")
    if not 0.0 <= c.dropout < 1.0:
        raise BadArgumentError(f"dropout must be in [0, 1), got {c.dropout}")
    if c.pos_weight is not None and not c.pos_weight > 0:
        raise BadArgumentError(f"pos_weight must be > 0 or None, got {c.pos_weight}")


class AdaptedMatcher:
    """Encoder MLP + classifier head (+ domain discriminator for "dann"), trained by `fit`."""

    def __init__(self, config: AdaptConfig = AdaptConfig()):
        _check_config(config)
        self.config = config
        self.history: list[dict] = []
        self.scaler: FeatureScaler | None = None

    def fit(self, x_source, y_source, x_target) -> AdaptedMatcher:
        c = self.config
        xs, xt = _as_matrix(x_source, "x_source"), _as_matrix(x_target, "x_target")
        if xs.shape[1] != xt.shape[1]:
            raise BadArgumentError(f"x_target has {xt.shape[1]} columns, x_source has {xs.shape[1]}")
        y = np.asarray(y_source)
        if y.ndim != 1 or len(y) != len(xs) or y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise BadArgumentError(f"y_source must be a 1-D array of {len(xs)} labels in {{0, 1}}")
        y = y.astype(np.float64)
        n_pos = int(y.sum())
        if n_pos in (0, len(y)):
            raise BadArgumentError("y_source must contain both classes (0 and 1)")
        pos_weight = c.pos_weight if c.pos_weight is not None else (len(y) - n_pos) / n_pos

        self.scaler = FeatureScaler().fit(xs, xt)
        s, t = torch.from_numpy(self.scaler.transform(xs)), torch.from_numpy(self.scaler.transform(xt))
        ys, pw = torch.from_numpy(y.astype(np.float32)), torch.tensor(pos_weight, dtype=torch.float32)
        rng = np.random.default_rng(c.seed)
        self.history = []
        # A private RNG stream: deterministic for the seed without resetting the caller's global state.
        # A step is a batch through a small MLP: one thread unless set (see gnn/threads.py)
        threads = training_threads(c.threads, c.batch_size * max(s.shape[1], c.hidden))
        with torch.random.fork_rng(devices=[]), torch_threads(threads):
            torch.manual_seed(c.seed)
            self.encoder = nn.Sequential(nn.Linear(s.shape[1], c.hidden), nn.ReLU(), nn.Dropout(c.dropout),
                                         nn.Linear(c.hidden, c.hidden), nn.ReLU())
            self.head = nn.Linear(c.hidden, 1)
            self.reversal = GradientReversalLayer(0.0)
            self.discriminator = (nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 1))
                                  if c.method == "dann" else None)
            modules = [m for m in (self.encoder, self.head, self.discriminator) if m is not None]
            params = [p for m in modules for p in m.parameters()]
            optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
            steps = math.ceil(len(s) / c.batch_size)
            for epoch in range(c.epochs):
                for m in modules:
                    m.train()
                order = rng.permutation(len(s))
                # Target rows with replacement, one per source row: every step sees both domains.
                target_rows = rng.integers(0, len(t), size=len(s))
                sums: dict[str, float] = {}
                for i in range(steps):
                    rows = slice(i * c.batch_size, (i + 1) * c.batch_size)
                    parts = self._step_losses(s[order[rows]], ys[order[rows]], t[target_rows[rows]], pw,
                                              progress=(epoch * steps + i) / (c.epochs * steps))
                    optimizer.zero_grad()
                    parts["loss"].backward()
                    optimizer.step()
                    for k, v in parts.items():
                        sums[k] = sums.get(k, 0.0) + v.item()
                self.history.append({"epoch": epoch, **{k: v / steps for k, v in sums.items()}})
        for m in modules:
            m.eval()
        return self

    def _step_losses(self, xs, ys, xt, pos_weight, progress: float) -> dict[str, torch.Tensor]:
        c = self.config
        hs = self.encoder(xs)
        classification = F.binary_cross_entropy_with_logits(self.head(hs).squeeze(1), ys, pos_weight=pos_weight)
        parts = {"loss": classification, "classification": classification.detach()}
        if c.method == "mmd":
            mmd = mmd2(hs, self.encoder(xt))
            parts["loss"] = classification + c.adapt_weight * mmd
            parts["mmd"] = mmd.detach()
        elif c.method == "dann":
            # The discriminator minimises the domain loss at full weight; only the gradient reaching
            # the encoder is reversed and scaled by the ramp.
            self.reversal.lambda_ = c.adapt_weight * dann_lambda(progress)
            logits = self.discriminator(self.reversal(torch.cat([hs, self.encoder(xt)]))).squeeze(1)
            domain = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))])
            domain_loss = F.binary_cross_entropy_with_logits(logits, domain)
            parts["loss"] = classification + domain_loss
            parts["domain"] = domain_loss.detach()
            parts["domain_accuracy"] = ((logits > 0).float() == domain).float().mean()
            parts["lambda"] = torch.tensor(self.reversal.lambda_)
        return parts

    def _forward(self, x, fn) -> np.ndarray:
        if self.scaler is None:
            raise BadArgumentError("AdaptedMatcher is not fitted: call fit first")
        z = torch.from_numpy(self.scaler.transform(x))
        with torch.no_grad():
            return np.concatenate([fn(z[i:i + _CHUNK]).numpy() for i in range(0, len(z), _CHUNK)])

    def encode(self, x) -> np.ndarray:
        """Encoder output, shape (m, hidden), float32."""
        return self._forward(x, self.encoder)

    def predict(self, x) -> np.ndarray:
        """Match probabilities, shape (m,), float64."""
        p = self._forward(x, lambda z: torch.sigmoid(self.head(self.encoder(z)).squeeze(1)))
        return p.astype(np.float64)
