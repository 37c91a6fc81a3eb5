"""Typed results of the query API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Product:
    """A product node as the API returns it (no vectors). price is in `currency` units (ISO 4217).
    images: every image (file refs or URLs), images[0] the main one; source: the file it came from;
    gone: removed from its catalog, kept because matching decisions name it."""

    id: str
    platform: str
    source_id: str
    title: str
    description: str = ""
    price: float | None = None
    currency: str | None = None
    brand: str | None = None
    category: str | None = None
    image_ref: str | None = None
    image_missing: bool = False
    images: tuple[str, ...] = ()
    source: str | None = None
    gone: bool = False

    @classmethod
    def from_row(cls, row: dict) -> "Product":
        return cls(
            id=row["id"], platform=row.get("platform") or "", source_id=row.get("source_id") or "",
            title=row.get("title") or "", description=row.get("description") or "",
            price=row.get("price"), currency=row.get("currency"), brand=row.get("brand"),
            category=row.get("category"), image_ref=row.get("image_ref"),
            image_missing=bool(row.get("image_missing")), images=tuple(row.get("images") or ()),
            source=row.get("source"), gone=bool(row.get("gone")),
        )


@dataclass(frozen=True)
class SearchResult:
    """One hit. score: fused similarity (inner product of fused vectors, <= 1).

    channels: each channel's share of the score (they sum to score). Hybrid search (the default):
    score is the fused reciprocal-rank score and the channels are exact, bm25, vector, learned,
    image (shopgraph/search/hybrid.py); the vector modes: score is the vector similarity and the
    channels text, image, lexical.
    matched_by: the channels that carried the hit, strongest first.
    strength: how well it matches the query: "exact", "strong", "partial" or "weak"
    (shopgraph/search/confidence.py); relevance: that strength as a number 0..1 (not a probability).
    """

    product: Product
    score: float
    channels: dict[str, float] = field(default_factory=dict)
    matched_by: tuple[str, ...] = ()
    strength: str | None = None
    relevance: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def carried_by(channels: dict[str, float], share: float = 0.2) -> tuple[str, ...]:
    """Channels contributing at least `share` of the positive score, strongest first. With no positive
    share (score-aware fusion gives a candidate below a channel's mean a negative share, and one a
    channel cannot tell apart from the rest 0): the channels with the largest share, which still
    returned it."""
    positive = {c: v for c, v in channels.items() if v > 0}
    total = sum(positive.values())
    if total <= 0:
        top = max(channels.values(), default=None)
        return tuple(c for c, v in channels.items() if v == top) if top is not None else ()
    return tuple(c for c, v in sorted(positive.items(), key=lambda kv: -kv[1]) if v / total >= share)
