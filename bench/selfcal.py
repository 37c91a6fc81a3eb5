"""Per-catalog channel calibration from the catalog itself, without labels (issue 17; tried, not kept:
docs/benchmarks.md, "Per-catalog self-calibration"; bench/search_selfcal.py judges it).

A fixed weight per channel cannot serve every catalog: MiniLM tells computer titles apart badly (the
vector channel alone is far behind BM25 on wdc_computers) and category names well (Flipkart), and
nothing in one query's scores says which catalog it is on (docs/benchmarks.md, "The learned
channel's guard"). A catalog's own titles can: each of a fixed sample of products is turned into a
pseudo-query, written as a second shop might write that product (`perturb`: words dropped, the
order shuffled a little), and every channel searches for it; a channel's mean reciprocal rank of
the source product (its self-retrieval) says how well it tells this catalog's products apart.
`channel_factors` turns those figures into a multiplier of each channel's fusion weight.

Deterministic: a fixed seed chooses the sample (by product id order) and the perturbations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

CALIBRATED = ("bm25", "vector", "learned")  # the channels whose weights calibration may lower


@dataclass(frozen=True)
class PseudoQuery:
    """A query written from one product's title, and that product's id."""

    text: str
    source: str


def perturb(title: str, rng: random.Random, drop: float = 0.3, swaps: int = 1, max_words: int = 0) -> str:
    """A title as another shop might write it: each word dropped with probability `drop` (at least one
    word always dropped from titles of 3+ words, at least one kept), then `swaps` random swaps of
    neighbouring words, then (max_words > 0) cut to the first max_words words. rng: the caller's
    seeded generator (the result depends only on it and the arguments)."""
    words = title.split()
    if len(words) >= 3:
        kept = [w for w in words if rng.random() >= drop]
        if len(kept) == len(words):
            del kept[rng.randrange(len(kept))]
        words = kept or [words[rng.randrange(len(words))]]
    for _ in range(swaps if len(words) > 1 else 0):
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    if max_words > 0:
        words = words[:max_words]
    return " ".join(words)


def pseudo_queries(titles: Sequence[tuple[str, str]], n: int = 200, seed: int = 17, drop: float = 0.3,
                   swaps: int = 1, max_words: int = 0) -> list[PseudoQuery]:
    """n pseudo-queries from (id, title) pairs: a sample of n products with a title of 2+ words
    (chosen from the pairs sorted by id, so the sample does not depend on the order they were read
    in), each title perturbed (`perturb`)."""
    rng = random.Random(seed)
    usable = sorted((i, t) for i, t in titles if t and len(t.split()) >= 2)
    sample = rng.sample(usable, min(n, len(usable)))
    out = []
    for pid, title in sample:
        text = perturb(title, rng, drop, swaps, max_words)
        if text.strip():
            out.append(PseudoQuery(text, pid))
    return out


def reciprocal_rank(ids: Sequence[str], source: str) -> float:
    """1 / the 1-based rank of source in ids (0 when absent)."""
    for rank, item in enumerate(ids, start=1):
        if item == source:
            return 1.0 / rank
    return 0.0


def channel_factors(mrr: Mapping[str, float], threshold: float = 0.8, power: float = 1.0,
                    channels: Sequence[str] = CALIBRATED) -> dict[str, float]:
    """Weight multipliers from self-retrieval MRR (channel -> MRR, those that ran): a channel whose MRR
    is below `threshold` times the best calibrated channel's is scaled by (its MRR / threshold x best)
    ** power; the others keep 1. A channel not in `mrr` (did not run, e.g. learned before training)
    keeps 1. threshold 0 or power 0: every factor is 1 (calibration off)."""
    known = {c: float(v) for c, v in mrr.items() if c in channels}
    best = max(known.values(), default=0.0)
    out = {c: 1.0 for c in channels}
    if best <= 0 or threshold <= 0 or power == 0:
        return out
    for c, v in known.items():
        ratio = v / (threshold * best)
        if ratio < 1:
            out[c] = max(ratio, 0.0) ** power
    return out


def scaled_weights(weights: Mapping[str, float], factors: Mapping[str, float]) -> dict[str, float]:
    """A kind's weights with each calibrated channel's multiplied by its factor."""
    return {c: w * float(factors.get(c, 1.0)) for c, w in weights.items()}


def encode_queries(encoder, texts: Sequence[str]) -> list[dict]:
    """The query vectors of texts as encoder.encode_query gives them ({"text", "lexical", "image",
    "fused"}), the text models run once over the whole batch."""
    from shopgraph.ingest.encoders.fusion import fuse_query

    text = encoder.text_encoder.encode(list(texts))
    lexical = encoder.lexical_encoder.encode(list(texts))
    return [{"text": t, "lexical": lx, "image": None,
             "fused": fuse_query(encoder.dims, encoder.config.fusion, text=t, image=None, lexical=lx)}
            for t, lx in zip(text, lexical)]


def self_retrieval(graph, queries: Sequence[PseudoQuery], depth: int = 100) -> dict[str, float]:
    """Each channel's mean reciprocal rank of the pseudo-queries' source products on `graph` (a
    ShopGraph): bm25 (the lexical index), vector (the products' fused vectors), learned (the trained
    space's mm_vec, once an alignment is trained). depth: candidates per channel."""
    if not queries:
        return {}
    from shopgraph.search.hybrid import _learned_channel

    lexical = graph.lexical.index()
    rr: dict[str, list[float]] = {"bm25": [], "vector": []}
    encoded = encode_queries(graph.encoder, [q.text for q in queries])
    aligner = graph.aligner
    if aligner is not None:
        rr["learned"] = []
    for q, query in zip(queries, encoded):
        rr["bm25"].append(reciprocal_rank([i for i, _ in lexical.search(q.text, depth)], q.source))
        hits = graph.store.vector_search("fused_vec", query["fused"], depth)
        rr["vector"].append(reciprocal_rank([i for i, _ in hits], q.source))
        if aligner is not None:
            hits = _learned_channel(graph.store, aligner, query, "hybrid", depth,
                                    {"filters": None, "where": None, "params": None})
            rr["learned"].append(reciprocal_rank([i for i, _ in hits], q.source))
    return {c: float(np.mean(v)) for c, v in rr.items()}
