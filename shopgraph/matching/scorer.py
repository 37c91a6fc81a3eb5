"""The pair scorer: gradient-boosted trees (LightGBM) over pair features, a threshold chosen on
validation, and per-pair evidence from a signed attribution of the actual prediction.

Symmetric: a pair's score is the mean of the model's scores for both orders (features that belong to
one side, e.g. models_left / models_right, ctx_*_row_* / ctx_*_col_*, swapped), so the same two
listings get the same score whichever platform asks.

Evidence is exact TreeSHAP (LightGBM pred_contrib): each feature's signed contribution to the pair's
log-odds, averaged over both orders and summed per feature group (FEATURE_GROUPS). The groups that
moved the score most, worded from their values (evidence_text), are the evidence; a group whose
wording would contradict its sign ("for: different model numbers") is not shown.

`averaged(scorers, x_valid, y_valid)` joins fitted scorers into one whose log-odds are the mean of
theirs (`match --train` joins the fresh scorer and the one fine-tuned from the ready scorer): its
TreeSHAP contributions are the mean of the members' contributions, so evidence stays exact.

Saved as one JSON file: the model(s) in LightGBM's text format plus threshold, feature names and
provenance. Loading parses text; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.matching.evidence_text import describe, polarity
from shopgraph.matching.features import FEATURE_DIRECTIONS, FEATURE_GROUPS, FEATURE_NAMES, swapped_columns
from shopgraph.matching.treeshap import tree_contributions

FORMAT_VERSION = 2
PREDICT_CHUNK = 65_536   # pair rows scored at once (PairScorer.predict)
TREESHAP_MIN_ROWS = 1024  # rows (both orders) from which contributions go through treeshap.tree_contributions
MONOTONE_METHODS = ("basic", "intermediate", "advanced")


@dataclass(frozen=True)
class ScorerConfig:
    """Hyper-parameters of the boosted trees and the review band: a pair scoring in
    [review_low, threshold) waits for a person. (Names as sklearn's gradient boosting spells them;
    LightGBM: max_iter = rounds, max_leaf_nodes = num_leaves, min_samples_leaf = min_data_in_leaf,
    l2_regularization = lambda_l2; early stopping holds out 15% of the training pairs.)"""

    learning_rate: float = 0.05
    max_iter: int = 600
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 10
    l2_regularization: float = 1.0
    early_stopping: bool = True
    review_margin: float = 0.25   # review_low = threshold * (1 - review_margin)
    seed: int = 0
    # Monotone trees: "" none, else LightGBM's monotone_constraints_method ("basic", "intermediate",
    # "advanced"), each feature held to its direction in features.FEATURE_DIRECTIONS (a similarity
    # can only raise the score, a conflict only lower it); monotone_penalty > 0 keeps constrained
    # features out of the trees' first levels (LightGBM's monotone_penalty).
    monotone: str = ""
    monotone_penalty: float = 0.0
    # Early stopping by k-fold cross-validation (stop_folds >= 2): the number of rounds is where the
    # folds' mean validation log-loss stops falling, then one model is fitted on ALL the train pairs
    # with that many rounds. 0: the 15% hold-out (whose rounds and data both hang on which few
    # positives the seed holds out: the seed spread of small label sets, docs/benchmarks.md).
    stop_folds: int = 0


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


def _stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray | None:
    """(m,) fold in [0, k') of each of m pairs, label-stratified and seeded (k' = k, or fewer when a
    class has fewer than k pairs); None when a class has fewer than 2 pairs (no folds to stop on)."""
    labels = np.asarray(labels)
    k = min(k, int((labels == 1).sum()), int((labels == 0).sum()))
    if k < 2:
        return None
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    for value in (0, 1):
        rows = np.flatnonzero(labels == value)
        rng.shuffle(rows)
        folds[rows] = np.arange(len(rows)) % k
    return folds


def prf(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean predictions against 0/1 labels."""
    predicted, labels = np.asarray(predicted).astype(bool), np.asarray(labels).astype(bool)
    tp = int((predicted & labels).sum())
    p = tp / max(int(predicted.sum()), 1)
    r = tp / max(int(labels.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


class MeanLogOdds:
    """Boosters whose log-odds are averaged: predicts like one lightgbm.Booster (probabilities, or
    pred_contrib's per-feature log-odds contributions, which average exactly)."""

    def __init__(self, boosters):
        self.boosters = list(boosters)

    def predict(self, x, pred_contrib: bool = False, **params):
        if pred_contrib:
            return np.mean([b.predict(x, pred_contrib=True, **params) for b in self.boosters], axis=0)
        raw = np.mean([b.predict(x, raw_score=True, **params) for b in self.boosters], axis=0)
        return 1.0 / (1.0 + np.exp(-raw))

    def model_to_string(self) -> str:
        return "\n".join(b.model_to_string() for b in self.boosters)

    def current_iteration(self) -> int:
        return sum(b.current_iteration() for b in self.boosters)


@dataclass
class PairScorer:
    """Scores (m, F) feature rows with columns FEATURE_NAMES; probabilities in [0, 1].

    metrics: validation figures and provenance ({"version", "valid_f1", "trained_on", ...});
    the version is a fingerprint of the model text, fixed at fit time."""

    config: ScorerConfig = field(default_factory=ScorerConfig)
    threshold: float = 0.5
    model: object | None = None   # lightgbm.Booster
    feature_names: tuple[str, ...] = FEATURE_NAMES
    metrics: dict = field(default_factory=dict)

    @property
    def review_low(self) -> float:
        return self.threshold * (1 - self.config.review_margin)

    @property
    def version(self) -> str:
        """A short fingerprint of the fitted model, fixed at fit time (names SAME_AS edges' model_version)."""
        return self.metrics.get("version", "unfitted")

    def _params(self) -> dict:
        c = self.config
        return {"objective": "binary", "learning_rate": c.learning_rate, "num_leaves": c.max_leaf_nodes,
                "min_data_in_leaf": c.min_samples_leaf, "lambda_l2": c.l2_regularization, "seed": c.seed,
                "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1,
                "min_data_in_bin": 1, "feature_pre_filter": False, **self._monotone_params()}

    def _monotone_params(self) -> dict:
        """LightGBM's monotone options for config.monotone (none when it is "")."""
        method = self.config.monotone
        if not method:
            return {}
        if method not in MONOTONE_METHODS:
            raise BadArgumentError(f"monotone must be one of {', '.join(MONOTONE_METHODS)} or empty, got {method!r}")
        return {"monotone_constraints": [FEATURE_DIRECTIONS.get(n, 0) for n in self.feature_names],
                "monotone_constraints_method": method, "monotone_penalty": self.config.monotone_penalty}

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
            init: "PairScorer | None" = None) -> "PairScorer":
        """Fit on train (both orders of every pair), choose the F1-best threshold on valid; metrics
        keeps the validation figures. init: a fitted scorer to continue from (fine-tuning: its trees
        stay, new ones are added on these labels)."""
        import lightgbm as lgb

        self._check(x_train)
        if len(np.unique(y_train)) < 2:
            raise BadArgumentError("training pairs need both matches and non-matches")
        c = self.config
        x2, y2 = self._both_orders(x_train), np.r_[y_train, y_train]
        rounds, callbacks, valid_sets = c.max_iter, [], []
        if init is not None and isinstance(init.model, MeanLogOdds):
            raise BadArgumentError("an averaged pair scorer cannot be fine-tuned; start from one of its parts")
        init_model = init.model if init is not None else None
        folds = _stratified_folds(y_train, c.stop_folds, c.seed) if c.early_stopping and c.stop_folds >= 2 else None
        if folds is not None:
            rounds = self._cv_rounds(x2, y2, folds, init_model)
        elif c.early_stopping:
            # hold out 15% of the pairs (both orders of a pair on the same side), deterministic
            held = np.random.default_rng(c.seed).random(len(y_train)) < 0.15
            if y_train[held].sum() and (1 - y_train[held]).sum() and y_train[~held].sum():
                held2 = np.r_[held, held]
                train_set = lgb.Dataset(x2[~held2], y2[~held2], free_raw_data=False)
                valid_sets = [lgb.Dataset(x2[held2], y2[held2], reference=train_set)]
                callbacks = [lgb.early_stopping(30, verbose=False)]
        if not valid_sets:
            train_set = lgb.Dataset(x2, y2, free_raw_data=False)
        self.model = lgb.train(self._params(), train_set, num_boost_round=rounds, valid_sets=valid_sets,
                               callbacks=callbacks, init_model=init_model)
        self.threshold, f1 = best_f1_threshold(self.predict(x_valid), y_valid)
        text = self.model.model_to_string()
        self.metrics = {"valid_f1": f1, "threshold": self.threshold, "train_pairs": int(len(y_train)),
                        "iterations": int(self.model.current_iteration()),
                        "fine_tuned_from": init.version if init is not None else None,
                        "early_stopping": (f"{int(folds.max()) + 1}-fold cv, refit on all" if folds is not None
                                           else "15% hold-out" if valid_sets else "off"),
                        "version": "lgbm-" + hashlib.sha1(text.encode()).hexdigest()[:10]}
        return self

    def _cv_rounds(self, x2: np.ndarray, y2: np.ndarray, folds: np.ndarray, init_model) -> int:
        """Rounds for a model on (x2, y2) (both orders of the m pairs, (2m, F)): LightGBM's
        cross-validation over the pairs' folds (folds: (m,) fold of each pair; a pair's two orders stay
        in one fold), stopped 30 rounds after the folds' mean log-loss last fell -> the best round count."""
        import lightgbm as lgb

        fold2 = np.r_[folds, folds]
        splits = [(np.flatnonzero(fold2 != f), np.flatnonzero(fold2 == f)) for f in range(int(folds.max()) + 1)]
        result = lgb.cv(self._params(), lgb.Dataset(x2, y2, free_raw_data=False),
                        num_boost_round=self.config.max_iter, folds=splits, init_model=init_model,
                        callbacks=[lgb.early_stopping(30, verbose=False)])
        # early stopping cuts the history at the best round
        return len(next(v for k, v in result.items() if k.endswith("-mean")))

    @classmethod
    def averaged(cls, scorers: "list[PairScorer]", x_valid: np.ndarray, y_valid: np.ndarray) -> "PairScorer":
        """One scorer whose log-odds are the mean of the fitted `scorers`' (same features and config),
        its threshold the F1-best on (x_valid, y_valid); metrics say which scorers it joins."""
        first = scorers[0]
        boosters = [b for sc in scorers for b in (sc.model.boosters if isinstance(sc.model, MeanLogOdds) else [sc.model])]
        joined = cls(first.config, feature_names=first.feature_names, model=MeanLogOdds(boosters))
        joined.threshold, f1 = best_f1_threshold(joined.predict(x_valid), y_valid)
        text = joined.model.model_to_string()
        joined.metrics = {"valid_f1": f1, "threshold": joined.threshold, "train_pairs": first.metrics.get("train_pairs"),
                          "iterations": int(joined.model.current_iteration()),
                          "averaged": [sc.version for sc in scorers],
                          "fine_tuned_from": next((sc.metrics["fine_tuned_from"] for sc in scorers
                                                   if sc.metrics.get("fine_tuned_from")), None),
                          "version": "lgbm-" + hashlib.sha1(text.encode()).hexdigest()[:10]}
        return joined

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise BadArgumentError(f"pair features must be (m, {len(self.feature_names)}), got {x.shape}")

    def _both_orders(self, x: np.ndarray) -> np.ndarray:
        """x stacked over x with the two sides' columns swapped, (2m, F)."""
        return np.vstack([x, x[:, swapped_columns(self.feature_names)]])

    def predict(self, x: np.ndarray, workers: int = 1) -> np.ndarray:
        """Match probability per row, (m,) float64: the mean of both orders' probabilities.
        workers > 1: LightGBM's own threads split each chunk's rows (its num_threads; each row's
        score is its own, so the numbers do not depend on it). Not Python threads over chunks: a
        LightGBM booster's predictions share its state (tree_contributions' per-tree calls from two
        threads gave other numbers), so one booster is asked by one thread at a time."""
        if self.model is None:
            raise ConfigError("the pair scorer is not trained")
        self._check(x)
        if not len(x):
            return np.zeros(0)
        threads = {"num_threads": int(workers)} if workers > 1 else {}
        # PREDICT_CHUNK rows at a time (each row's score is its own): the float64 copy of both
        # orders of every row was 2 x 8 x F bytes a row, ~2.5 GB at 2M pairs (100k x 100k).
        out = np.empty(len(x))
        for start in range(0, len(x), PREDICT_CHUNK):
            part = np.asarray(x[start:start + PREDICT_CHUNK], dtype=np.float64)
            both = self.model.predict(self._both_orders(part), **threads)
            out[start:start + len(part)] = (both[:len(part)] + both[len(part):]) / 2
        return out

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions to the log-odds, (m, F + 1) (last column: the base value),
        averaged over both orders (a swapped column's contribution credited to its own feature)."""
        if self.model is None:
            raise ConfigError("the pair scorer is not trained")
        self._check(x)
        m = len(x)
        both = self._both_orders(np.asarray(x, dtype=np.float64))
        if len(both) < TREESHAP_MIN_ROWS:
            raw = self.model.predict(both, pred_contrib=True)
        else:   # many rows: each tree asked once per decision pattern (treeshap.py; ~1e-15 from the above)
            boosters = self.model.boosters if isinstance(self.model, MeanLogOdds) else [self.model]
            raw = np.mean([tree_contributions(b, both) for b in boosters], axis=0)
        swap = swapped_columns(self.feature_names)
        back = np.empty_like(raw[m:])
        back[:, swap] = raw[m:, :-1]   # column k of the swapped row holds feature swap[k]
        back[:, -1] = raw[m:, -1]
        return (raw[:m] + back) / 2

    def evidence(self, x: np.ndarray, top: int = 3, details: list[dict] | None = None) -> list[list[dict]]:
        """Per row, the `top` feature groups that moved the score most: [{group, effect, values, says}],
        effect = the group's summed TreeSHAP contribution to the log-odds (positive: argued for a
        match), says = what the group saw, in plain words with the side it argued for. A group that
        knew nothing about the pair (every feature unknown) is not evidence. details: per row, group ->
        what disagreed in words (PairFeaturizer.conflicts), added to an "against" phrase."""
        contrib = self.contributions(x) if len(x) else np.zeros((0, len(self.feature_names) + 1))
        index = {n: k for k, n in enumerate(self.feature_names)}
        groups = [(group, [index[n] for n in names]) for group, names in FEATURE_GROUPS.items()]
        # The group sums and the filters that need no words, for every row at once (at 100k x 100k the
        # per-row, per-group loop with numpy scalar reads cost ~1.5 ms a pair). The sums add the
        # columns one by one in the group's order, as Python's sum() did, so each effect is the same
        # float to the last bit (np.sum's pairwise order is not).
        finite = np.isfinite(x)
        candidate = np.zeros((len(x), len(groups)), dtype=bool)
        effects = np.zeros((len(x), len(groups)))
        for g, (_, cols) in enumerate(groups):
            effect = contrib[:, cols[0]].copy()
            for col in cols[1:]:
                effect += contrib[:, col]
            effects[:, g] = effect
            candidate[:, g] = (np.abs(effect) >= 1e-3) & finite[:, cols].any(axis=1)
        out = []
        for r in range(len(x)):
            items = []
            row = x[r].tolist()   # Python floats, as float(x[r, k]) gives
            for g in np.flatnonzero(candidate[r]).tolist():
                group, cols = groups[g]
                effect = float(effects[r, g])
                values = {self.feature_names[k]: _rounded(row[k]) for k in cols if finite[r, k]}
                sign = polarity(group, values)
                # A phrase that says the opposite of what the group did is no explanation.
                if sign and np.sign(effect) != sign:
                    continue
                says = describe(group, values, effect)
                what = (details[r].get(group) if details else None) or []
                if effect < 0 and what:
                    says += " (" + "; ".join(what) + ")"
                items.append({"group": group, "effect": round(effect, 3), "values": values, "says": says})
            items.sort(key=lambda item: -abs(item["effect"]))
            out.append(items[:top])
        return out

    # -- persistence --------------------------------------------------------------------------------

    def to_json(self) -> dict:
        if self.model is None:
            raise ConfigError("the pair scorer is not trained")
        boosters = self.model.boosters if isinstance(self.model, MeanLogOdds) else [self.model]
        return {"format": FORMAT_VERSION, "kind": "shopgraph pair scorer", "config": self.config.__dict__,
                "threshold": self.threshold, "review_low": self.review_low, "feature_names": list(self.feature_names),
                "metrics": self.metrics, "model": boosters[0].model_to_string(),
                **({"averaged_with": [b.model_to_string() for b in boosters[1:]]} if len(boosters) > 1 else {})}

    def save(self, path: str | Path) -> Path:
        """One JSON file (see the module docstring), written whole or not at all."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PairScorer":
        """A scorer saved by save(); ConfigError naming the file when it is missing or not one."""
        import lightgbm as lgb

        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no pair scorer at {path}; train one with `shopgraph match --train`") from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"{path} is not a pair scorer: {str(e).splitlines()[0] if str(e) else e}") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION or "model" not in payload:
            raise ConfigError(f"{path} is not a pair scorer of format {FORMAT_VERSION}")
        if tuple(payload.get("feature_names", ())) != FEATURE_NAMES:
            raise ConfigError(f"{path} was trained on other pair features; retrain it")
        try:
            config = ScorerConfig(**payload["config"])
            model = lgb.Booster(model_str=payload["model"])
            others = payload.get("averaged_with", [])
            if not isinstance(others, list) or not all(isinstance(t, str) for t in others):
                raise ValueError("averaged_with must be a list of model texts")
            if others:
                model = MeanLogOdds([model, *(lgb.Booster(model_str=t) for t in others)])
        except (TypeError, ValueError, lgb.basic.LightGBMError) as e:
            raise ConfigError(f"{path} is not a pair scorer: {str(e).splitlines()[0] if str(e) else e}") from None
        return cls(config, float(payload["threshold"]), model, FEATURE_NAMES, dict(payload.get("metrics", {})))


def _rounded(value: float) -> float:
    return round(float(value), 3)
