"""A hybrid search's candidates -> one page of SearchResults: match strength of every candidate, the
"no close match" signal, facet counts and the total over the candidates, sort by price, offset/limit.

Every fused candidate is judged (shopgraph.search.confidence): its title and brand against the
query's terms, its text vector against the query's. The candidates that match at least partially
are the result set: `total` counts them, facets count them and a price sort orders them (when
none does, total is 0 and facets and price order take every candidate; the search then reports no
close match either). Relevance order pages through every
candidate, fused order, so weak ones still follow the good ones.
"""

from __future__ import annotations

import math

from shopgraph.config import SearchConfig
from shopgraph.queries.facets import facet_counts
from shopgraph.queries.frames import SearchResults
from shopgraph.queries.hydrate import ProductCache, products
from shopgraph.queries.results import SearchResult, carried_by
from shopgraph.search.confidence import close_match, coverage, strength, term_set
from shopgraph.search.hybrid import Outcome, text_cosines


def ranked_page(store, config: SearchConfig, outcome: Outcome, text: str | None, k: int, offset: int,
                sort: str, cache: ProductCache | None = None, cards=None) -> SearchResults:
    """Results offset..offset+k of the outcome, in relevance (fused) order or by price
    ("price_asc" / "price_desc": products without a price last). cache: hydrated products kept
    for the graph version the search began at (outcome.version); cards: the graph's result cards
    (queries/cards.py), used only at exactly that version."""
    ids = [h.id for h in outcome.hits]
    found = products(store, ids) if cache is None else cache.products(store, ids, outcome.version, cards)
    cosines = text_cosines(store, outcome.query, ids)
    judged = []  # (hit, product, strength label, relevance) of every candidate still in the graph
    wanted = term_set(text) if text else frozenset()
    for hit in outcome.hits:
        product = found.get(hit.id)
        if product is None or product.gone:  # deleted between the search and this read
            continue
        share = coverage(wanted, product.title, product.brand) if text else 0.0
        label, relevance = strength(config, exact=hit.first, coverage=share, text=cosines.get(hit.id),
                                    image=outcome.image_scores.get(hit.id))
        judged.append((hit, product, label, relevance))
    matching = [j for j in judged if j[2] != "weak"]
    pool = matching or judged
    order = judged
    if sort != "relevance":
        order = sorted(pool, key=lambda j: _price_key(j[1].price, sort == "price_desc"))
    # every candidate is judged (total, facets), but only the page's become SearchResults
    page = [_result(hit, product, label, relevance) for hit, product, label, relevance in order[offset:offset + k]]
    return SearchResults(page, no_close_match=not close_match(j[2] for j in judged),
                         kind=outcome.kind, total=len(matching), offset=offset,
                         facets=facet_counts(j[1] for j in pool))


def _result(hit, product, label: str, relevance: float) -> SearchResult:
    contributions = {c: round(v, 6) for c, v in hit.contributions.items()}
    return SearchResult(product, hit.score, contributions, carried_by(contributions), label, relevance)

def _price_key(price, descending: bool) -> tuple:
    if price is None or not math.isfinite(price):
        return (1, 0.0)
    return (0, -price if descending else price)
