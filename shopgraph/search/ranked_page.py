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
                sort: str, cache: ProductCache | None = None) -> SearchResults:
    """Results offset..offset+k of the outcome, in relevance (fused) order or by price
    ("price_asc" / "price_desc": products without a price last). cache: hydrated products kept
    for the graph version the search began at (outcome.version)."""
    ids = [h.id for h in outcome.hits]
    found = products(store, ids) if cache is None else cache.products(store, ids, outcome.version)
    cosines = text_cosines(store, outcome.query, ids)
    judged = []
    wanted = term_set(text) if text else frozenset()
    for hit in outcome.hits:
        product = found.get(hit.id)
        if product is None or product.gone:  # deleted between the search and this read
            continue
        share = coverage(wanted, product.title, product.brand) if text else 0.0
        label, relevance = strength(config, exact=hit.first, coverage=share, text=cosines.get(hit.id),
                                    image=outcome.image_scores.get(hit.id))
        contributions = {c: round(v, 6) for c, v in hit.contributions.items()}
        judged.append(SearchResult(product, hit.score, contributions, carried_by(contributions), label, relevance))
    matching = [r for r in judged if r.strength != "weak"]
    pool = matching or judged
    order = judged
    if sort != "relevance":
        order = sorted(pool, key=lambda r: _price_key(r.product.price, sort == "price_desc"))
    return SearchResults(order[offset:offset + k], no_close_match=not close_match(r.strength for r in judged),
                         kind=outcome.kind, total=len(matching), offset=offset,
                         facets=facet_counts(r.product for r in pool))


def _price_key(price, descending: bool) -> tuple:
    if price is None or not math.isfinite(price):
        return (1, 0.0)
    return (0, -price if descending else price)
