"""The ready scorer: a pair scorer shipped with the package, for platform pairs with too few labels.

It was trained on the schema-agnostic pair features of every labelled benchmark in ../shared/data/em
(train splits; threshold on the pooled valid splits; test splits never seen) by
`python -m bench.ready_scorer --write`, which rewrites READY_PATH reproducibly (fixed seed, one
thread). The file is a PairScorer JSON (LightGBM text model inside: loading parses text, nothing is
unpickled); its metrics say what it was trained on ("trained_on", "script", "version").

Two jobs, two models. The ready scorer (READY_PATH, monotone trees) makes every decision: scores,
threshold, review band, evidence. `match --rerank` only needs an ORDER over a listing's deep pool, and
there the unconstrained recipe ranks near-identical offers (WDC's) better: completeness over every
labelled WDC match with a rerank of 120 + look-alikes 0.980 unconstrained against 0.972 monotone
(docs/benchmarks.md). So a second file (RERANK_PATH), trained by the same `--write` on the same data
with no monotone constraints, orders the rerank pool (and scores the look-alikes' lenders, which the
rerank ranks by) when the decision scorer is the ready one; its own version is in its file and in the
provenance of reranked matches ("rerank").
"""

from __future__ import annotations

import functools
from pathlib import Path

READY_PATH = Path(__file__).parent / "models" / "ready_scorer.json"
RERANK_PATH = Path(__file__).parent / "models" / "rerank_scorer.json"
READY_METHOD = "shopgraph-ready"
# The ready scorer's trees are monotone (ScorerConfig.monotone, LightGBM's "intermediate" method):
# each feature may move its score only the way its definition says (features.FEATURE_DIRECTIONS), so
# what it learns on four catalogs cannot bend the wrong way on a fifth. Chosen on leave-one-dataset-out
# held-out valid F1, mean of the five datasets over 3 seeds: none 0.765, basic 0.802, intermediate
# 0.810, advanced 0.804 (docs/benchmarks.md). Fresh `match --train` scorers stay unconstrained
# (their valid F1 was no better constrained).
READY_MONOTONE = "intermediate"
# The rerank scorer's recipe: the pre-monotone one (no constraints), for ordering only.
RERANK_MONOTONE = "none"
# metrics["kind"] of each shipped file: a file put in the other's place is refused on loading.
READY_KIND, RERANK_KIND = "ready", "rerank"


@functools.lru_cache(maxsize=1)
def ready_scorer():
    """The shipped PairScorer (loaded once); ConfigError when the file is missing or unreadable."""
    return _load(READY_PATH, READY_KIND)


@functools.lru_cache(maxsize=1)
def rerank_scorer():
    """The shipped rerank scorer (loaded once): orders `match --rerank`'s pool, never decides;
    ConfigError when the file is missing, unreadable or not the rerank scorer."""
    return _load(RERANK_PATH, RERANK_KIND)


def _load(path: Path, kind: str):
    from shopgraph.errors import ConfigError
    from shopgraph.matching.scorer import PairScorer

    scorer = PairScorer.load(path)
    if scorer.metrics.get("kind") != kind:
        raise ConfigError(f"{path} is not the shipped {kind} scorer (its kind is {scorer.metrics.get('kind')!r}); "
                          f"rewrite both with `python -m bench.ready_scorer --write`")
    return scorer


def ranker_for(scorer):
    """The scorer that orders a rerank pool for `scorer`: the rerank scorer when scorer is the ready
    one (kind "ready"), else scorer itself (a scorer trained on a platform pair's own labels is not
    constrained and ranks for itself)."""
    return rerank_scorer() if scorer.metrics.get("kind") == READY_KIND else scorer


def provenance(scorer, ranker=None) -> dict:
    """What a match's evidence says about the scorer that made it: {kind, version, trained_on}, and
    when another scorer (ranker) ordered its rerank pool, "rerank": that one's {kind, version,
    trained_on}."""
    metrics = scorer.metrics
    out = {"kind": metrics.get("kind", "trained"), "version": scorer.version,
           "trained_on": metrics.get("trained_on") or [f"{metrics.get('source')} -> {metrics.get('target')}"]}
    if ranker is not None and ranker is not scorer:
        out["rerank"] = provenance(ranker)
    return out
