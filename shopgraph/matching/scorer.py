"""The pair scorer: gradient-boosted trees over pair features, a threshold chosen on validation, and
per-pair evidence a person can read.

Evidence is measured, not guessed: for each feature group (FEATURE_GROUPS) the group's features are
set to their training medians (a typical pair) and the change in the score is that group's effect.
The groups that moved the score most, with their values, are the evidence of a match.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.matching.evidence_text import describe
from shopgraph.matching.features import FEATURE_GROUPS, FEATURE_NAMES

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ScorerConfig:
    """Hyper-parameters of the boosted trees (sklearn HistGradientBoostingClassifier names) and the
    review band: a pair scoring in [review_low, threshold) waits for a person."""

    learning_rate: float = 0.05
    max_iter: int = 600
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 10
    l2_regularization: float = 1.0
    early_stopping: bool = True
    review_margin: float = 0.25   # review_low = threshold * (1 - review_margin)
    seed: int = 0


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The threshold t maximising F1 of (scores >= t) against 0/1 labels -> (t, F1). Ties keep the
    higher threshold (fewer false matches). Midpoints between neighbouring scores, so a threshold
    chosen on validation does not sit exactly on one validation pair."""
    labels = np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        raise BadArgumentError("no positive pairs to choose a threshold on")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    predicted = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (predicted + labels.sum())
    # only cut between distinct scores
    last_of_value = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(last_of_value, f1, -1)
    k = int(np.argmax(f1))
    t = (s[k] + s[k + 1]) / 2 if k + 1 < len(s) else s[k] - 1e-6
    return float(t), float(f1[k])


def prf(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean predictions against 0/1 labels."""
    predicted, labels = np.asarray(predicted).astype(bool), np.asarray(labels).astype(bool)
    tp = int((predicted & labels).sum())
    p = tp / max(int(predicted.sum()), 1)
    r = tp / max(int(labels.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


@dataclass
class PairScorer:
    """Scores (m, F) feature rows with columns FEATURE_NAMES; probabilities in [0, 1]."""

    config: ScorerConfig = field(default_factory=ScorerConfig)
    threshold: float = 0.5
    model: HistGradientBoostingClassifier | None = None
    medians: np.ndarray | None = None
    # Columns the trees see: a feature unknown for every training pair (no images, no prices) is
    # left out, since it cannot be learned from (and sklearn cannot bin an all-NaN column).
    columns: np.ndarray | None = None
    feature_names: tuple[str, ...] = FEATURE_NAMES
    metrics: dict = field(default_factory=dict)

    @property
    def review_low(self) -> float:
        return self.threshold * (1 - self.config.review_margin)

    @property
    def version(self) -> str:
        """A short fingerprint of the fitted model, fixed at fit time (names SAME_AS edges' model_version)."""
        return self.metrics.get("version", "unfitted")

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray) -> "PairScorer":
        """Fit on train, choose the F1-best threshold on valid; metrics keeps the validation figures."""
        self._check(x_train)
        if len(np.unique(y_train)) < 2:
            raise BadArgumentError("training pairs need both matches and non-matches")
        c = self.config
        self.model = HistGradientBoostingClassifier(
            learning_rate=c.learning_rate, max_iter=c.max_iter, max_leaf_nodes=c.max_leaf_nodes,
            min_samples_leaf=c.min_samples_leaf, l2_regularization=c.l2_regularization,
            early_stopping=c.early_stopping, validation_fraction=0.15 if c.early_stopping else None,
            n_iter_no_change=30, random_state=c.seed)
        self.columns = np.where(np.isfinite(x_train).any(axis=0))[0]
        self.model.fit(x_train[:, self.columns], y_train)
        with warnings.catch_warnings():  # an all-NaN column has no median; it stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            self.medians = np.nanmedian(x_train, axis=0)
        self.threshold, f1 = best_f1_threshold(self.predict(x_valid), y_valid)
        self.metrics = {"valid_f1": f1, "threshold": self.threshold, "train_pairs": int(len(y_train)),
                        "iterations": int(self.model.n_iter_),
                        "version": "gbt-" + hashlib.sha1(pickle.dumps(self.model)).hexdigest()[:10]}
        return self

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise BadArgumentError(f"pair features must be (m, {len(self.feature_names)}), got {x.shape}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Match probability per row, (m,) float64."""
        if self.model is None:
            raise ConfigError("the pair scorer is not trained")
        self._check(x)
        if not len(x):
            return np.zeros(0)
        return self.model.predict_proba(x[:, self.columns])[:, 1]

    def evidence(self, x: np.ndarray, top: int = 3) -> list[list[dict]]:
        """Per row, the `top` feature groups that moved the score most: [{group, effect, values, says}],
        effect = score - score with the group set to typical values (positive: argued for a match),
        says = the same in plain words (e.g. "for: same model number")."""
        base = self.predict(x)
        effects = {}
        for group, names in FEATURE_GROUPS.items():
            cols = [self.feature_names.index(n) for n in names]
            typical = x.copy()
            typical[:, cols] = self.medians[cols]
            effects[group] = base - self.predict(typical)
        out = []
        for r in range(len(x)):
            ranked = sorted(effects, key=lambda g: -abs(effects[g][r]))[:top]
            items = []
            for g in ranked:
                values = {n: _rounded(x[r, self.feature_names.index(n)]) for n in FEATURE_GROUPS[g]
                          if np.isfinite(x[r, self.feature_names.index(n)])}
                effect = round(float(effects[g][r]), 3)
                items.append({"group": g, "effect": effect, "values": values, "says": describe(g, values, effect)})
            out.append(items)
        return out

    # -- persistence --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT_VERSION, "config": self.config.__dict__, "threshold": self.threshold,
                   "model": self.model, "medians": self.medians, "columns": self.columns, "feature_names": self.feature_names,
                   "metrics": self.metrics}
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(payload, f)
        tmp.replace(path)
        path.with_suffix(".json").write_text(json.dumps(
            {"version": self.version, "threshold": self.threshold, "review_low": self.review_low,
             "metrics": self.metrics, "config": self.config.__dict__}, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PairScorer":
        path = Path(path)
        try:
            with open(path, "rb") as f:
                payload = pickle.load(f)
        except FileNotFoundError:
            raise ConfigError(f"no pair scorer at {path}; train one with `shopgraph match --train`") from None
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
            raise ConfigError(f"{path} is not a pair scorer: {e}") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ConfigError(f"{path} is not a pair scorer of format {FORMAT_VERSION}")
        if tuple(payload["feature_names"]) != FEATURE_NAMES:
            raise ConfigError(f"{path} was trained on other pair features; retrain it")
        return cls(ScorerConfig(**payload["config"]), payload["threshold"], payload["model"], payload["medians"],
                   payload["columns"], tuple(payload["feature_names"]), payload["metrics"])


def _rounded(value: float) -> float:
    return round(float(value), 3)
