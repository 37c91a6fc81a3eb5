"""How well a search result matches its query: a match-strength label, and the "no close match" signal.

Fused reciprocal-rank scores say how results rank against each other, not whether any is good: a
nonsense query still has a best result. So each result is judged on its own evidence:
- coverage: the share of the query's distinct index terms (shopgraph.search.analysis.terms, so CJK
  bigrams and compact model numbers count) found in the product's title, brand and description;
- text: the cosine of the query and the product under the text model (when the query was encoded);
- image: the cosine of a query photo and the product's photo (photo queries);
- exact: the query is the product's identifier, or the query photo is the product's photo.
Labels: "exact"; "strong" (coverage >= search.strong_coverage, text >= search.strong_text or
image >= search.strong_image);
"partial" (the partial_* bounds); else "weak". A search none of whose results is "exact" or "strong"
reports no close match. relevance (0..1) is the larger of coverage and the text cosine (1.0 for
exact): a match strength to sort or threshold on, not a probability.
"""

from __future__ import annotations

import functools

from shopgraph.config import SearchConfig
from shopgraph.search.analysis import terms

STRENGTHS = ("exact", "strong", "partial", "weak")
CLOSE = frozenset({"exact", "strong"})


def coverage(query: str | frozenset[str] | None, *texts: str | None) -> float:
    """Share (0..1) of the query's distinct terms present among the texts' terms (0.0 for no query
    terms). query: the text, or its `term_set` when many results are judged against one query."""
    wanted = query if isinstance(query, frozenset) else term_set(query)
    if not wanted:
        return 0.0
    have: set[str] = set()
    for text in texts:
        have |= term_set(text)
    return len(wanted & have) / len(wanted)


@functools.lru_cache(maxsize=65_536)
def term_set(text: str | None) -> frozenset[str]:
    """The distinct index terms of a text. Cached (bounded): a search judges every candidate's title
    and brand, and the same titles come back search after search (a third of a demo search's time
    went to re-reading them)."""
    return frozenset(terms(text)) if text else frozenset()


def strength(config: SearchConfig, *, exact: bool, coverage: float, text: float | None,
             image: float | None = None) -> tuple[str, float]:
    """(label from STRENGTHS, relevance 0..1) of one result. text / image: cosines (None: not measured)."""
    if exact:
        return "exact", 1.0
    cosine = -1.0 if text is None else float(text)
    picture = -1.0 if image is None else float(image)
    relevance = round(max(0.0, min(1.0, max(coverage, cosine, picture))), 4)
    if (coverage >= config.strong_coverage or cosine >= config.strong_text
            or picture >= config.strong_image):
        return "strong", relevance
    if (coverage >= config.partial_coverage or cosine >= config.partial_text
            or picture >= config.partial_image):
        return "partial", relevance
    return "weak", relevance


def close_match(labels) -> bool:
    """Whether any result is a close match (exact or strong)."""
    return any(label in CLOSE for label in labels)
