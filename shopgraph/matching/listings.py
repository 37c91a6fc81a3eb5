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
    attributes: per listing, key -> raw text of every other thing the catalog says about it (all its
    columns but the id, identifiers included), in the catalog's column order; pair features type the
    values themselves (record_values.py), so no key's name matters.
    unit_vectors: the vectors are already unit_rows_in_place's rows (listings_from_store scales them
    so), and the featurizer uses them as they are instead of keeping a normalised copy of each
    (at 100k listings a side the copies were ~0.7 GB).
    """

    platform: str
    ids: list[str]
    titles: list[str]
    texts: list[str]
    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    prices: np.ndarray | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: list[dict[str, str]] = field(default_factory=list)
    unit_vectors: bool = False

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.attributes = list(self.attributes) or [{} for _ in range(n)]
        self.brands = list(self.brands) or [""] * n
        self.categories = list(self.categories) or [""] * n
        self.prices = np.full(n, np.nan) if self.prices is None else np.asarray(self.prices, dtype=np.float64)
        for name, column in (("titles", self.titles), ("texts", self.texts), ("brands", self.brands),
                             ("categories", self.categories), ("prices", self.prices),
                             ("attributes", self.attributes)):
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
        vectors=vectors or {}, attributes=[record_attributes(r) for r in records])


def _price_text(price, currency) -> str:
    if price is None or price != price:
        return ""
    return f"{price:g} {currency}" if currency else f"{price:g}"


def field_attributes(title: str, description: str, brand: str, category: str, price, currency) -> dict[str, str]:
    """A product's graph fields as attributes (key -> raw text, blanks left out): the fields are
    shopgraph's own names, so every catalog's listings share them."""
    out = {"title": title or "", "description": description or "", "brand": brand or "",
           "category": category or "", "price": _price_text(price, currency)}
    return {k: v for k, v in out.items() if v}


def record_attributes(record) -> dict[str, str]:
    """A ProductRecord's fields, identifiers (raw, under their scheme) and attributes as key -> text.
    A key given twice (a list attribute) keeps its values joined by "; "."""
    out = field_attributes(record.title, record.description or "", record.brand or "",
                           " > ".join(record.category_path), record.price, record.currency)
    for ident in getattr(record, "identifiers", ()):
        out[ident.scheme] = f"{out[ident.scheme]}; {ident.raw}" if ident.scheme in out else ident.raw
    for attr in getattr(record, "attributes", ()):
        out[attr.key] = f"{out[attr.key]}; {attr.value}" if attr.key in out else attr.value
    return out


def listings_from_store(store, platform: str, channels=("text", "lexical", "image", "gnn")) -> Listings:
    """Every product of one platform in the store (not the gone ones), with the vectors of the
    requested channels and its fields, identifiers and attributes as `attributes`.

    A channel whose property no product of the platform has is left out; a product missing a vector
    that others have gets a zero row (features then read it as unknown).
    """
    # A listing removed from its catalog (gone: a tombstone kept for the decisions about it) is not
    # matched again.
    rows = store.cypher(
        "MATCH (p:Product) WHERE p.platform = $platform AND (p.gone IS NULL OR p.gone = false) "
        "RETURN p.id AS id, p.title AS title, "
        "p.description AS description, p.brand AS brand, p.category AS category, p.price AS price, "
        "p.currency AS currency "
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
        del matrix
        vectors[channel] = unit_rows_in_place(full)
    return Listings(platform, ids, titles, texts, [r["brand"] or "" for r in rows],
                    [r["category"] or "" for r in rows],
                    np.array([np.nan if r["price"] is None else r["price"] for r in rows], dtype=np.float64),
                    vectors,
                    _store_attributes(store, platform, rows), unit_vectors=True)


UNIT_CHUNK = 8192   # rows scaled at once by unit_rows_in_place


def unit_rows_in_place(matrix: np.ndarray) -> np.ndarray:
    """A float32 (n, d) matrix's rows scaled to unit L2 norm in place, all-zero (or NaN) rows set to
    zero, UNIT_CHUNK rows at a time; returns the matrix. Each row is the same float32 row
    encoders.text.l2_normalize gives (the norm is per row), without a second (n, d) matrix."""
    from shopgraph.ingest.encoders.text import l2_normalize

    if matrix.dtype != np.float32 or not matrix.flags.writeable:
        raise BadArgumentError("unit_rows_in_place needs a writeable float32 matrix")
    for start in range(0, len(matrix), UNIT_CHUNK):
        matrix[start:start + UNIT_CHUNK] = l2_normalize(matrix[start:start + UNIT_CHUNK])
    return matrix


def _store_attributes(store, platform: str, rows: list[dict]) -> list[dict[str, str]]:
    """Per product row: its fields, identifiers (raw, under their scheme) and attributes (raw value,
    under their normalised key; several values of one key joined by "; "), as key -> text."""
    out = {r["id"]: field_attributes(r["title"], r["description"], r["brand"], r["category"], r["price"],
                                     r["currency"]) for r in rows}
    queries = (
        "MATCH (p:Product)-[e:HAS_IDENTIFIER]->(i:Identifier) WHERE p.platform = $platform "
        "RETURN p.id AS id, i.scheme AS key, e.raw AS value ORDER BY id, key, value",
        "MATCH (p:Product)-[e:HAS_ATTRIBUTE]->(a:Attribute) WHERE p.platform = $platform "
        "RETURN p.id AS id, a.key AS key, e.value AS value ORDER BY id, key, value",
    )
    for query in queries:
        for r in store.cypher(query, {"platform": platform}):
            record = out.get(r["id"])
            if record is None or not r["value"]:
                continue
            key = r["key"]
            record[key] = f"{record[key]}; {r['value']}" if key in record else r["value"]
    return [out[r["id"]] for r in rows]
