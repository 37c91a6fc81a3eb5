"""Hybrid search: every channel's ranked candidates, fused (fusion.FUSIONS: by weighted reciprocal rank,
or by the weighted sum of each channel's standardised scores) as the query's kind says.

Channels (shopgraph.search.fusion.CHANNELS), each a ranked list of product ids:
- exact: products carrying an identifier or model number of the query (the lexical index's lookup);
- bm25: the lexical index (title, brand, identifiers, attributes, description);
- vector: the products' fused vectors (text model + character n-grams + image) against the query's;
- learned: the trained image-text space (mm_vec, or txt_emb / img_emb), once an alignment is trained:
  training adds this channel and removes none; it joins a query's fusion only when its best candidate
  is among the top `search.learned_agreement` of another channel that ran (fusion.learned_agrees), so
  a trained space that disagrees with every untrained channel cannot push their answer down;
- image: photo queries, the products' photos (image_vec cosine).
The weights and the fusion depend on the query's kind (fusion.query_kind; config
`search.<kind>_weights`, `search.<kind>_fusion`): a query
that IS one identifier leans on exact lookup, and its listings come first whatever the fusion says;
a query in a script the English text model does not read leans on BM25 over character bigrams. A
channel weighted 0 is not run, so an identifier or a Chinese query loads no model at all. A photo
query whose catalogue photo is the same picture (image cosine >= search.duplicate_image) puts that
product first.

Filters and `where` restrict every channel: vector channels through the store's filtered search,
exact and BM25 to the filter's candidate ids (one Cypher read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from shopgraph.config import SearchConfig
from shopgraph.search.fusion import (FUSIONS, learned_agrees, parse_weights, query_kind, reciprocal_rank_fusion,
                                     zscore_fusion)


@dataclass
class Ranked:
    """One fused candidate: id, fused score, each channel's share of it (rrf: weight / (k + rank);
    zscore: weight * (rank_weight / (k + rank) + the standardised score above the floor); they sum
    to score), first: put first (the query's own identifier, or its own photo)."""

    id: str
    score: float
    contributions: dict[str, float]
    first: bool = False


@dataclass
class Outcome:
    """What a hybrid search found: the query kind, every fused candidate best first, the encoded query
    (None when no model was needed), the image cosine of photo candidates, the channels run, and
    each channel's own ranked ids and their scores in that channel (what the fusion took in:
    bench/search_shipped.py tunes the fusion on them; scores: exact = identifier keys matched, bm25 =
    BM25, vector / learned / image = cosine)."""

    kind: str
    hits: list[Ranked]
    query: dict | None = None
    image_scores: dict[str, float] = field(default_factory=dict)
    channels: tuple[str, ...] = ()  # the channels that ran
    rankings: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)  # each channel's own scores, as rankings
    version: tuple[str, int, str | None] | None = None  # (database identity, generation, write epoch) the search began at
    learned_held: bool = False  # the learned channel ran but disagreed with the others: not fused


def kind_weights(config: SearchConfig, kind: str) -> tuple[dict[str, float], float]:
    """(channel weights, rank offset) of a query kind from the configuration."""
    spec = getattr(config, f"{kind}_weights")
    return parse_weights(spec, f"search.{kind}_weights"), float(getattr(config, f"{kind}_rrf_k"))


def kind_fusion(config: SearchConfig, kind: str) -> str:
    """The fusion (one of fusion.FUSIONS) of a query kind; ConfigError naming the setting otherwise."""
    fusion = getattr(config, f"{kind}_fusion")
    if fusion not in FUSIONS:
        from shopgraph.errors import ConfigError

        raise ConfigError(f"search.{kind}_fusion: {fusion!r} is not one of {', '.join(FUSIONS)}")
    return fusion


def fuse(scored: Mapping[str, list[tuple[str, float]]], weights: Mapping[str, float], fusion: str, rrf_k: float,
         zscore_top: int = SearchConfig.zscore_top, zscore_rank_weight: float = SearchConfig.zscore_rank_weight):
    """The channels' scored lists fused as `fusion` says: [fusion.FusedHit], best first."""
    if fusion == "zscore":
        return zscore_fusion(scored, weights, top=zscore_top, rank_weight=zscore_rank_weight, k=rrf_k)
    return reciprocal_rank_fusion({c: [i for i, _ in hits] for c, hits in scored.items()}, weights, k=rrf_k)


def hybrid_search(graph, text: str | None, image, *, filters, where: str | None,
                  params: Mapping[str, Any] | None, rank_by: str, depth: int) -> Outcome:
    """Run the channels the query's kind weighs and fuse them. graph: a ShopGraph (its store,
    lexical index, encoder and aligner); filters already checked for one currency; depth:
    candidates per channel."""
    config: SearchConfig = graph.config.search
    store = graph.store
    lexical = graph.lexical.index() if text else None
    version = graph.lexical.synced if text else None  # read before any channel: see ProductCache
    allowed = _allowed_ids(store, filters, where, params) if text else None
    whole = [i for i in lexical.lookup_whole(text, depth) if allowed is None or i in allowed] if text else []
    if image is not None and not text:
        kind = "image"
    else:
        kind = query_kind(text, identifier=bool(whole), short_words=config.short_text_words)
    weights, rrf_k = kind_weights(config, kind)
    fusion = kind_fusion(config, kind)
    if image is not None and kind != "image":  # text and photo: the photo's channels join the text's
        image_weights, _ = kind_weights(config, "image")
        weights = {**image_weights, **{c: w for c, w in weights.items() if w > 0}}
    if image is not None:
        weights.setdefault("image", 1.0)
    scored: dict[str, list[tuple[str, float]]] = {}  # channel -> [(id, the channel's score)], best first
    if text and weights.get("exact", 0) > 0:
        scored["exact"] = ([(i, 1.0) for i in whole] if whole else
                           [(i, float(n)) for i, n in lexical.lookup(text, depth) if allowed is None or i in allowed])
    if text and weights.get("bm25", 0) > 0:
        scored["bm25"] = lexical.search(text, depth, allowed=allowed)
    query = None
    image_scores: dict[str, float] = {}
    vector_args = {"filters": filters, "where": where, "params": params}
    if weights.get("vector", 0) > 0 or (image is not None and weights.get("image", 0) > 0):
        query = graph.encoder.encode_query(text=text, image=image)
    if query is not None and weights.get("vector", 0) > 0:
        scored["vector"] = store.vector_search("fused_vec", query["fused"], depth, **vector_args)
    if query is not None and query["image"] is not None and weights.get("image", 0) > 0:
        scored["image"] = store.vector_search("image_vec", query["image"], depth, **vector_args)
        image_scores = {i: float(s) for i, s in scored["image"]}
    aligner = graph.aligner if weights.get("learned", 0) > 0 else None
    if aligner is not None:
        if query is None:
            query = graph.encoder.encode_query(text=text, image=image)
        scored["learned"] = _learned_channel(store, aligner, query, rank_by, depth, vector_args)
    rankings = {c: [i for i, _ in hits] for c, hits in scored.items()}
    scores = {c: [float(s) for _, s in hits] for c, hits in scored.items()}
    held = "learned" in scored and not learned_agrees(rankings, config.learned_agreement)
    if held:
        weights = {**weights, "learned": 0.0}
    fused = fuse(scored, weights, fusion, rrf_k, config.zscore_top, config.zscore_rank_weight)
    first = set(whole) if kind == "identifier" else {i for i, s in image_scores.items() if s >= config.duplicate_image}
    ranked = [Ranked(h.id, h.score, h.contributions, h.id in first) for h in fused]
    ranked.sort(key=lambda r: not r.first)  # stable: fused order within each group
    return Outcome(kind, ranked, query, image_scores, tuple(rankings), rankings, scores, version, held)


def _learned_channel(store, aligner, query: dict, rank_by: str, depth: int,
                     vector_args: dict) -> list[tuple[str, float]]:
    from shopgraph.gnn.alignment import text_features

    text = None if query["text"] is None else text_features(query["text"][None], query["lexical"][None])
    aligned = aligner.embed(text, query["image"][None] if query["image"] is not None else None)
    prop = {"text": "txt_emb", "image": "img_emb"}.get(rank_by, "mm_vec")
    return store.vector_search(prop, aligned["fused"][0], depth, **vector_args)


def _allowed_ids(store, filters, where, params) -> set[str] | None:
    """The ids passing the filters and `where` (None: no restriction)."""
    if where is None and (filters is None or filters.is_empty()):
        return None
    from shopgraph.graph.filters import candidate_query

    query, bound = candidate_query(filters, where, params)
    return {r["id"] for r in store.cypher(query, bound)}


def text_cosines(store, query: dict | None, ids: list[str]) -> dict[str, float]:
    """Cosine of the query's text vector (unit) and each product's (text model), when the query was
    encoded. Taken from the fused vector, whose first block is the product's unit text vector times a
    constant (ingest/encoders/fusion.py): the embedded store serves fused_vec from its in-memory index
    mirror (~4 ms per 100 products on the shared machine), where text_vec is a database column read
    (~30 ms per 100), and a search judges every candidate."""
    if query is None or query.get("text") is None or not ids:
        return {}
    got, vectors = store.get_vectors("Product", "fused_vec", ids)
    if not got:
        return {}
    block = np.asarray(vectors, np.float32)[:, :store.dims.text]
    norms = np.linalg.norm(block, axis=1)
    cosines = (block @ query["text"]) / np.where(norms > 0, norms, 1.0)
    return {i: float(s) for i, s, n in zip(got, cosines, norms) if n > 0}
