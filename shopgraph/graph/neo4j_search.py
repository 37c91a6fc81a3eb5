"""Vector and full-text search for the Neo4j store.

    search = VectorSearch(store)
    search.top_k("text_vec", query, 10, allowed=None)          # [(id, cosine)], best first

Which properties use a Neo4j vector index: Neo4j's vector indexes rank by cosine or euclidean
distance only, so the inner-product properties (fused_vec, gnn_vec: their length means something)
have no index and are always scored exactly. Exact scoring runs in the server (one Cypher query over
the candidates, neo4j_cypher.exact_top_k): only k + EXACT_MARGIN ids and scores come back, and those
rows' vectors are read and re-scored here so the scores equal the embedded store's. A property wider
than MAX_INDEX_DIMS has no index either (the vector-2.0 index provider, Neo4j 5.18+, takes at most
4096 dimensions).

Cosine properties with an index: up to config.exact_max candidates are scored exactly; more ask the
index for k * overfetch node ids and scores (growing 4x until k pass the filter), and only the final
k vectors are read back to score them exactly, so scores equal the embedded store's.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np

from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph.rows import chunks
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.vector_sync import INNER_PRODUCT_PROPERTIES

if TYPE_CHECKING:
    from shopgraph.graph.neo4j_store import Neo4jStore

log = logging.getLogger(__name__)

MAX_INDEX_DIMS = 4096  # the vector-2.0 index provider's limit (Neo4j 5.18+)
READ_CHUNK = 2000  # ids per `IN $ids` read of vectors
FILTER_CHUNK = 50000  # candidate ids per exact-search query (a filter's candidates)
EXACT_MARGIN = 10  # rows beyond k an exact search takes from the server, re-scored here


def has_index(prop: str, dims: VectorDims) -> bool:
    """Whether the store keeps (and searches) a Neo4j vector index for this Product property."""
    return prop not in INNER_PRODUCT_PROPERTIES and dims.of(prop) <= MAX_INDEX_DIMS


class VectorSearch:
    """Top-k search over one store's Product vectors (see the module doc for the strategy)."""

    def __init__(self, store: "Neo4jStore"):
        self.store = store

    def top_k(self, prop: str, query: np.ndarray, k: int, allowed: set[str] | None,
              exact: bool = False) -> list[tuple[str, float]]:
        """[(id, score)] best first. allowed: the filter's candidate ids (None: every product);
        exact=True never asks the index."""
        store = self.store
        size = store.count_with_vector(prop) if allowed is None else len(allowed)
        if exact or not has_index(prop, store.dims) or size <= store.config.exact_max:
            return self.exact(prop, query, k, None if allowed is None else sorted(allowed))
        total = size if allowed is None else store.count_with_vector(prop)
        return self._ann(prop, query, k, allowed, total)

    def exact(self, prop: str, query: np.ndarray, k: int, ids: list[str] | None) -> list[tuple[str, float]]:
        """Exact top-k over the given ids (None: every product with the vector). The server ranks
        (neo4j_cypher.exact_top_k: no vectors over the wire) and returns k + EXACT_MARGIN rows; their
        vectors are then read and scored here in float64, as the embedded store scores, so near-ties
        the server's float32 arithmetic may have swapped are ordered right."""
        qq = float(query.astype(np.float64) @ query.astype(np.float64))
        if qq == 0.0 and prop not in INNER_PRODUCT_PROPERTIES:
            ids = sorted(self.store.ids_with_vector(prop) if ids is None else ids)
            return [(i, 0.0) for i in ids[:k]]  # cosine with a zero query is 0 for all (numpy's answer)
        params = {"k": int(k) + EXACT_MARGIN, "vector": query.astype(np.float64).tolist(),
                  "zero": [0.0] * len(query), "qq": qq}
        if ids is None:
            rows = self.store._read(Q.exact_top_k(prop, False), params)
        else:
            rows = [r for chunk in chunks(ids, FILTER_CHUNK)
                    for r in self.store._read(Q.exact_top_k(prop, True), {**params, "ids": list(chunk)})]
        return self.rescore(prop, query, k, [r["id"] for r in rows])

    def rescore(self, prop: str, query: np.ndarray, k: int, ids: list[str]) -> list[tuple[str, float]]:
        """The best k of ids, scored exactly here from their vectors (read READ_CHUNK at a time)."""
        best: list[tuple[str, float]] = []
        for chunk in chunks(ids, READ_CHUNK):
            got, vectors = self.store.get_vectors("Product", prop, chunk)
            best = top_k(best + list(zip(got, scores(prop, vectors, query))), k)
        return best

    def _ann(self, prop: str, query: np.ndarray, k: int, allowed: set[str] | None, total: int) -> list[tuple[str, float]]:
        """The vector index with over-fetch: ask for k * overfetch, keep hits that pass the filter,
        grow 4x until k pass or the index has been asked for every vector; then, if still short (an
        index still populating), score the candidates exactly."""
        config = self.store.config
        fetch = max(k * config.overfetch, k + 10)
        while True:
            fetch = min(fetch, max(total, k))
            hits = self._index_query(prop, query, fetch)
            kept = [(i, s) for i, s in hits if allowed is None or i in allowed]
            if len(kept) >= k or fetch >= total:
                break
            fetch *= 4
        if len(kept) < min(k, total if allowed is None else len(allowed)):
            log.info("vector index %s returned %d of %d wanted; scoring exactly", prop, len(kept), k)
            return self.exact(prop, query, k, None if allowed is None else sorted(allowed))
        # The index's cosine ranks the hits; only the final k vectors are read, for exact scores.
        return self.rescore(prop, query, k, [i for i, _ in top_k(kept, k)])

    def _index_query(self, prop: str, query: np.ndarray, fetch: int) -> list[tuple[str, float]]:
        """(id, cosine) of the index's top `fetch` nodes (no vectors travel)."""
        params = {"k": int(fetch), "vector": query.astype(np.float64).tolist()}
        if self.store.config.use_search_clause and self.store.has_search_clause:
            rows = self.store._read(Q.search_vector_index("Product", prop), params)
        else:
            rows = self.store._read(Q.query_vector_index("Product", prop),
                                    {"index": Q.vector_index_name("Product", prop), **params})
        return [(r["id"], cosine_from_index_score(r["score"])) for r in rows]

    def fulltext(self, text: str, k: int) -> list[tuple[str, float]]:
        """Products whose title, description or brand match any word of `text` (Lucene relevance,
        best first)."""
        if k <= 0 or not text.strip():
            return []
        rows = self.store._read(Q.fulltext_search(),
                                {"index": Q.FULLTEXT_INDEX, "query": lucene_terms(text), "k": int(k)})
        return [(r["id"], float(r["score"])) for r in rows]


def matrix(vectors: list, dim: int) -> np.ndarray:
    """(n, dim) float32 from lists of numbers."""
    if not vectors:
        return np.zeros((0, dim), dtype=np.float32)
    return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), dim)


def scores(prop: str, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Exact scores: inner product for fused_vec / gnn_vec (their length means something), cosine
    for the others (a zero vector scores 0)."""
    raw = vectors.astype(np.float64) @ query.astype(np.float64)
    if prop in INNER_PRODUCT_PROPERTIES:
        return raw
    norms = np.linalg.norm(vectors, axis=1) * float(np.linalg.norm(query))
    return np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)


def cosine_from_index_score(score: float) -> float:
    """Neo4j's cosine vector index reports (1 + cos) / 2 in [0, 1]; this is cos in [-1, 1]."""
    return 2.0 * float(score) - 1.0


def top_k(scored: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """Best first; ties by id, like the embedded store's ORDER BY score DESC, id."""
    return sorted(((i, float(s)) for i, s in scored), key=lambda t: (-t[1], t[0]))[:k]


_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/&|])')


def lucene_terms(text: str) -> str:
    """User words as a Lucene query that matches any of them: special characters escaped, and the
    operators AND / OR / NOT lower-cased (Lucene only reads them upper-case)."""
    words = (w.lower() if w in ("AND", "OR", "NOT") else w for w in text.split())
    return " ".join(_LUCENE_SPECIAL.sub(r"\\\1", w) for w in words)
