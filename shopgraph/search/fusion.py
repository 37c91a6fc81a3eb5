"""Fusion of search channels, and the query kinds whose weights differ.

Each channel (exact identifier lookup, BM25, text vectors, image, learned ...) returns its own ranked
list with its own scores. Two ways to fuse them (FUSIONS), chosen per query kind:
- "rrf", weighted reciprocal rank fusion: a product's fused score is sum over channels of
  weight / (k + rank), rank starting at 1 (Cormack et al., 2009, with a weight per channel). It uses
  ranks only, so every channel counts the same on every query whatever its scores say.
- "zscore", score-aware: reciprocal rank fusion plus each channel's standardised scores. Each
  channel's scores are standardised over its top `top` candidates ((score - mean) / standard
  deviation, over those top scores); a candidate's share from a channel is weight * (rank_weight /
  (k + rank) + z - the channel's floor), the floor being the lowest z of its top (a candidate below
  the top gets only its rank share; one the channel did not return, nothing). The score part adapts
  per query from the shape of each channel's scores: a channel whose best candidate stands far above
  the rest (BM25 on a rare term, a near-duplicate title) gives it a large share and leads; a channel
  whose scores fall off evenly adds about as much to each of its top and defers to a sharper one; a
  channel whose top scores are all equal (every exact hit matched one identifier) adds only ranks.
  The rank part keeps what RRF does well (agreement between channels). top = 20 and rank_weight = 20
  were chosen on dev queries (docs/benchmarks.md).
The learned channel (a trained image-text space) can be confidently wrong on a query the untrained
channels answer well: training must not make a search worse. `learned_agrees` is its guard: the learned
channel joins a query's fusion only when its best candidate is among the top few of a channel that
existed before training (exact, BM25, text vectors, image), i.e. when it confirms what the untrained
channels found rather than replacing it. On the dev queries (docs/benchmarks.md, "The learned
channel's guard") the gate turned the learned channel's after-training effect on category names
from 23 queries better and 13 worse to 15 better and 2 worse.
The weights depend on the kind of query (`query_kind`): a model-number-like query leans on exact
lookup and BM25, a query in a script the English model does not read on BM25 over character bigrams.
bench/search_shipped.py tunes them on development queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from shopgraph.search.analysis import model_numbers
from shopgraph.search.script import script_words, unread_word_share

QUERY_KINDS = ("identifier", "model_number", "other_script", "short_text", "text", "image")
CHANNELS = ("exact", "bm25", "vector", "learned", "image")
FUSIONS = ("rrf", "zscore")


@dataclass(frozen=True)
class FusedHit:
    """One fused result: id, fused score (larger is better), the 1-based rank each channel that
    returned it gave it, and each channel's share of the score (they sum to score; a zscore share
    is negative for a candidate below that channel's mean)."""

    id: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)


def query_kind(query: str, *, identifier: bool = False, short_words: int = 0) -> str:
    """The kind of a text query, from the query alone:
    - "identifier": the caller found the whole query to be one identifier (`identifier`);
    - "model_number": it holds a model-number-like token (letters and digits: "WM-330S");
    - "other_script": at least half of its words are in a script the English text model does not
      read ("连衣裙", "nike 短裤": the text vectors would judge it on the Latin half alone);
    - "short_text": at most `short_words` words (script_words; 0 turns the kind off): descriptive
      queries such as category names ("wireless mouse"), which need the vectors' sense of meaning
      more than BM25's term matches;
    - else "text" (longer descriptions and known-item titles, where terms matter)."""
    if identifier:
        return "identifier"
    if model_numbers(query):
        return "model_number"
    if unread_word_share(query) >= 0.5:
        return "other_script"
    if short_words > 0 and len(script_words(query)) <= short_words:
        return "short_text"
    return "text"


def learned_agrees(rankings: Mapping[str, Sequence[str]], top: int) -> bool:
    """Whether the learned channel's best candidate is among the first `top` of any other channel in
    `rankings` (channel -> ids, best first): the guard of the module docstring. top 0: no guard (always
    True); no learned candidates: True (nothing to guard); no other channel ran: True (nothing to check
    it against, e.g. a query only the learned space can read)."""
    learned = rankings.get("learned") or []
    others = [ids for channel, ids in rankings.items() if channel != "learned" and ids]
    if top <= 0 or not learned or not others:
        return True
    return any(learned[0] in ids[:top] for ids in others)


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float] | None = None,
                           k: float = 60.0, limit: int | None = None) -> list[FusedHit]:
    """Fuse ranked id lists (channel -> ids, best first) by weighted reciprocal rank.

    weights: channel -> weight (a missing channel weighs 1.0; weight 0 drops the channel).
    k: the rank offset (larger flattens the difference between top ranks).
    Ties are broken by the best single rank, then by id, so the order is deterministic."""
    if k <= 0:
        raise ValueError(f"rank fusion k must be positive, got {k}")
    shares: dict[str, dict[str, float]] = {}
    ranks: dict[str, dict[str, int]] = {}
    for channel, ids in rankings.items():
        weight = 1.0 if weights is None else float(weights.get(channel, 1.0))
        if weight <= 0:
            continue
        seen = set()
        for rank, item in enumerate(ids, start=1):
            if item in seen:
                continue
            seen.add(item)
            shares.setdefault(item, {})[channel] = weight / (k + rank)
            ranks.setdefault(item, {})[channel] = rank
    return _ordered(shares, ranks, limit)


def zscore_fusion(scored: Mapping[str, Sequence[tuple[str, float]]], weights: Mapping[str, float] | None = None,
                  top: int = 20, rank_weight: float = 20.0, k: float = 20.0,
                  limit: int | None = None) -> list[FusedHit]:
    """Fuse scored lists (channel -> [(id, score)], best first, larger better): each candidate's share
    from a channel is weight * (rank_weight / (k + rank) + its standardised score above the channel's
    floor) (module docstring). top: the candidates per channel whose scores are standardised (the
    rest are at the floor); rank_weight 0: scores only. weights: as reciprocal_rank_fusion. Ties are
    broken by the best single rank, then by id."""
    if top <= 1:
        raise ValueError(f"zscore fusion top must be at least 2, got {top}")
    if k <= 0 or rank_weight < 0:
        raise ValueError(f"zscore fusion needs k > 0 and rank_weight >= 0, got {k}, {rank_weight}")
    shares: dict[str, dict[str, float]] = {}
    ranks: dict[str, dict[str, int]] = {}
    for channel, hits in scored.items():
        weight = 1.0 if weights is None else float(weights.get(channel, 1.0))
        if weight <= 0 or not hits:
            continue
        first: dict[str, float] = {}
        for item, score in hits:
            first.setdefault(item, float(score))  # a repeated id keeps its best (first) score
        head = list(first.values())[:top]
        mean = sum(head) / len(head)
        spread = (sum((v - mean) ** 2 for v in head) / len(head)) ** 0.5
        floor = min(head)
        for rank, (item, score) in enumerate(first.items(), start=1):
            above = (max(score, floor) - floor) / spread if spread > 0 else 0.0  # z - the floor's z
            shares.setdefault(item, {})[channel] = weight * (rank_weight / (k + rank) + above)
            ranks.setdefault(item, {})[channel] = rank
    return _ordered(shares, ranks, limit)


def _ordered(shares: dict[str, dict[str, float]], ranks: dict[str, dict[str, int]],
             limit: int | None) -> list[FusedHit]:
    scores = {i: sum(parts.values()) for i, parts in shares.items()}
    order = sorted(scores, key=lambda i: (-scores[i], min(ranks[i].values()), i))
    if limit is not None:
        order = order[:limit]
    return [FusedHit(i, scores[i], ranks[i], shares[i]) for i in order]


def parse_weights(spec: str, name: str = "weights") -> dict[str, float]:
    """"exact=4 bm25=1" -> {"exact": 4.0, "bm25": 1.0}; channels from CHANNELS, weights >= 0.
    Raises ConfigError naming `name` (the setting) on anything else."""
    from shopgraph.errors import ConfigError

    weights: dict[str, float] = {}
    for part in spec.replace(",", " ").split():
        channel, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or channel not in CHANNELS or not weight >= 0:
            raise ConfigError(f"{name}: {part!r} is not channel=weight with a channel of "
                              f"{', '.join(CHANNELS)} and a weight >= 0")
        weights[channel] = weight
    return weights
