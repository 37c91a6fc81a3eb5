"""The ready scorer: a pair scorer shipped with the package, for platform pairs with too few labels.

It was trained on the schema-agnostic pair features of every labelled benchmark in ../shared/data/em
(train splits; threshold on the pooled valid splits; test splits never seen) by
`python -m bench.ready_scorer --write`, which rewrites READY_PATH reproducibly (fixed seed, one
thread). The file is a PairScorer JSON (LightGBM text model inside: loading parses text, nothing is
unpickled); its metrics say what it was trained on ("trained_on", "script", "version").
"""

from __future__ import annotations

import functools
from pathlib import Path

READY_PATH = Path(__file__).parent / "models" / "ready_scorer.json"
READY_METHOD = "shopgraph-ready"
# The ready scorer's trees are monotone (ScorerConfig.monotone, LightGBM's "intermediate" method):
# each feature may move its score only the way its definition says (features.FEATURE_DIRECTIONS), so
# what it learns on four catalogs cannot bend the wrong way on a fifth. Chosen on leave-one-dataset-out
# held-out valid F1, mean of the five datasets over 3 seeds: none 0.765, basic 0.802, intermediate
# 0.810, advanced 0.804 (docs/benchmarks.md). Fresh `match --train` scorers stay unconstrained
# (their valid F1 was no better constrained).
READY_MONOTONE = "intermediate"


@functools.lru_cache(maxsize=1)
def ready_scorer():
    """The shipped PairScorer (loaded once); ConfigError when the file is missing or unreadable."""
    from shopgraph.matching.scorer import PairScorer

    return PairScorer.load(READY_PATH)


def provenance(scorer) -> dict:
    """What a match's evidence says about the scorer that made it: {kind, version, trained_on}."""
    metrics = scorer.metrics
    return {"kind": metrics.get("kind", "trained"), "version": scorer.version,
            "trained_on": metrics.get("trained_on") or [f"{metrics.get('source')} -> {metrics.get('target')}"]}
