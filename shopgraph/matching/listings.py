"""One platform's side of a matching run: the listings and what the pair features need of them.

A `Listings` holds n products as parallel columns plus unit-row vectors per channel. It is built
from the store (`from_store`) or, for benchmarks and tests, from plain columns; the matching code
never reads the store itself, so it can be tested on hand-made listings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shopgraph.errors import BadArgumentError

# Vector channels a pair can be compared on; each maps to a Product vector property.
CHANNEL_PROPERTIES = {"text": "text_vec", "lexical": "lex_vec", "image": "image_vec", "gnn": "gnn_vec"}


@dataclass
class Listings:
    """n listings of one platform.

    ids: product ids (str); titles, texts (title plus description, the long form), brands and
    categories: str, "" when unknown; prices: float64 (n,), NaN when unknown; vectors: channel name
    -> (n, d) float32 rows, unit length or all zero when the listing lacks that modality.
    """

    platform: str
    ids: list[str]
    titles: list[str]
    texts: list[str]
    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    prices: np.ndarray | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.brands = list(self.brands) or [""] * n
        self.categories = list(self.categories) or [""] * n
        self.prices = np.full(n, np.nan) if self.prices is None else np.asarray(self.prices, dtype=np.float64)
        for name, column in (("titles", self.titles), ("texts", self.texts), ("brands", self.brands),
                             ("categories", self.categories), ("prices", self.prices)):
            if len(column) != n:
                raise BadArgumentError(f"Listings.{name} has {len(column)} rows, ids has {n}")
        for channel, matrix in self.vectors.items():
            if channel not in CHANNEL_PROPERTIES:
                raise BadArgumentError(f"unknown vector channel {channel!r}; known: {', '.join(CHANNEL_PROPERTIES)}")
            if matrix.ndim != 2 or len(matrix) != n:
                raise BadArgumentError(f"Listings.vectors[{channel!r}] must be ({n}, d), got {matrix.shape}")

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.ids)}


def listings_from_records(platform: str, records, vectors: dict[str, np.ndarray] | None = None) -> Listings:
    """Listings from ProductRecords (ingest's validated rows), in the given order."""
    records = list(records)
    return Listings(
        platform=platform, ids=[r.id for r in records], titles=[r.title for r in records],
        texts=[r.text for r in records], brands=[r.brand or "" for r in records],
        categories=[" > ".join(r.category_path) for r in records],
        prices=np.array([np.nan if r.price is None else r.price for r in records], dtype=np.float64),
        vectors=vectors or {})


def listings_from_store(store, platform: str, channels=("text", "lexical", "image", "gnn")) -> Listings:
    """Every product of one platform in the store, with the vectors of the requested channels.

    A channel whose property no product of the platform has is left out; a product missing a vector
    that others have gets a zero row (features then read it as unknown).
    """
    rows = store.cypher(
        "MATCH (p:Product) WHERE p.platform = $platform RETURN p.id AS id, p.title AS title, "
        "p.description AS description, p.brand AS brand, p.category AS category, p.price AS price "
        "ORDER BY p.id", {"platform": platform})
    ids = [r["id"] for r in rows]
    titles = [r["title"] or "" for r in rows]
    texts = [" ".join(t for t in (r["title"], r["description"]) if t) for r in rows]
    vectors = {}
    for channel in channels:
        prop = CHANNEL_PROPERTIES[channel]
        got, matrix = store.get_vectors("Product", prop, ids)
        if not got:
            continue
        full = np.zeros((len(ids), matrix.shape[1]), dtype=np.float32)
        position = {pid: n for n, pid in enumerate(ids)}
        full[[position[g] for g in got]] = matrix
        vectors[channel] = full
    return Listings(platform, ids, titles, texts, [r["brand"] or "" for r in rows],
                    [r["category"] or "" for r in rows],
                    np.array([np.nan if r["price"] is None else r["price"] for r in rows], dtype=np.float64),
                    vectors)
