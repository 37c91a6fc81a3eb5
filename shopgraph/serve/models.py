"""Request and response models of the HTTP API (they make the OpenAPI schema at /openapi.json).

Scores are the API's own (inner products of fused vectors, or of learned vectors once trained);
prices are in the product's currency; times are milliseconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    detail: str = Field(description="one line saying what was wrong")


class ProductOut(Model):
    id: str
    platform: str
    source_id: str
    title: str
    description: str = ""
    price: float | None = None
    currency: str | None = None
    brand: str | None = None
    category: str | None = None
    has_image: bool
    image_url: str | None = Field(None, description="a JPEG thumbnail served by this server")


class Hit(Model):
    product: ProductOut
    score: float
    channels: dict[str, float] = Field(default_factory=dict, description="each channel's share of the score")
    matched_by: list[str] = Field(default_factory=list, description="channels that carried the hit")
    strength: str | None = Field(None, description="how well it matches the query: exact, strong, partial or weak")
    relevance: float | None = Field(None, description="that strength as a number 0..1 (not a probability)")


class FacetValue(Model):
    value: str
    count: int


class Facets(Model):
    """Counts over every matching candidate (hybrid search; over the returned results for the vector
    modes); category counts every level of each result's path."""

    brand: list[FacetValue]
    category: list[FacetValue]
    platform: list[FacetValue]


class SearchResponse(Model):
    results: list[Hit]
    facets: Facets
    took_ms: float
    no_close_match: bool = Field(False, description="no result is an exact or strong match")
    total: int | None = Field(None, description="products matching at least partially (hybrid search)")
    offset: int = 0
    kind: str | None = Field(None, description="the query kind whose channel weights ranked it (hybrid search)")


class EvidenceItem(Model):
    group: str = Field(description="a feature group, e.g. model_number or context")
    effect: float = Field(description="the group's signed TreeSHAP contribution to the match log-odds "
                                      "(positive: argued for a match)")
    values: dict[str, Any] = Field(default_factory=dict)
    says: str | None = Field(default=None, description='the same in plain words, e.g. "for: same model number"')


class ListingOut(Model):
    product: ProductOut
    status: str = Field(description="label, matched, review, accepted, or different (DIFFERENT_FROM)")
    score: float | None = None
    method: str | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list)


class BrandOut(Model):
    name: str
    display_name: str | None = None


class Bought(Model):
    product: ProductOut
    weight: float | None = None


class ProductPage(Model):
    product: ProductOut
    brand: BrandOut | None
    category_path: list[str]
    same_as: list[ListingOut]
    different_from: list[ListingOut]
    also_bought: list[Bought]
    users: int
    similar: list[Hit]


class RankerOut(Model):
    kind: str = Field(description='"rerank" (the shipped rerank scorer), "ready" or "trained"')
    version: str
    trained_on: list[str] = Field(default_factory=list, description="data sets or platform pairs it learned from")


class ScorerOut(RankerOut):
    kind: str = Field(description='"ready" (shipped with shopgraph, trained on other catalogs) or "trained"')
    rerank: RankerOut | None = Field(None, description="the scorer that ordered the deeper candidate pool this "
                                                       "pair was kept from, when another one than this")


class MatchProposal(Model):
    src: str
    dst: str
    score: float
    status: str = Field(description="matched, review or no match")
    evidence: list[EvidenceItem]
    scorer: ScorerOut | None = Field(None, description="which pair scorer made this proposal")
    product: ProductOut | None = Field(None, description="the proposed listing (dst)")


class MatchResponse(Model):
    proposals: list[MatchProposal]


class ReviewItem(Model):
    src: str
    dst: str
    score: float | None
    src_title: str | None
    dst_title: str | None
    evidence: list[EvidenceItem]
    src_product: ProductOut | None = None
    dst_product: ProductOut | None = None


class ReviewQueue(Model):
    items: list[ReviewItem]
    waiting: int = Field(0, description="pairs waiting for review in all (items is the first `limit` of them)")


class ReviewDecision(Model):
    src: str = Field(min_length=1, max_length=1000)
    dst: str = Field(min_length=1, max_length=1000)
    decision: Literal["accept", "reject", "undo"] = Field(
        description="undo takes back this server's decisions on the pair since it started")


class ReviewResult(Model):
    src: str
    dst: str
    state: str = Field(description="accepted or rejected; after an undo, the status restored (review)")


class CypherRequest(Model):
    query: str = Field(min_length=1, description="read-only Cypher; values as $parameters")
    params: dict[str, Any] = Field(default_factory=dict)


class CypherResponse(Model):
    rows: list[dict[str, Any]]
    truncated: bool = Field(description="true when more rows matched than the server returns")
    took_ms: float


class IngestResponse(Model):
    """rows_read = products_written + products_unchanged + quarantined. products_replaced: written
    products that were already in the graph with other content. quarantine_files: names of this run's
    quarantine files in the database's quarantine folder. notes: kind -> how many values were kept
    but could not be read ("prices unreadable", "identifiers invalid" ...); warnings and brand_merges
    as in the CLI's summary."""

    rows_read: int
    products_written: int
    products_replaced: int = 0
    products_unchanged: int
    quarantined: int
    images_missing: int
    seconds: float
    quarantine_files: list[str] = []
    identifiers_written: int = 0
    attributes_written: int = 0
    notes: dict[str, int] = {}
    warnings: list[str] = []
    brand_merges: list[str] = []


class Health(Model):
    status: Literal["ok"]
    store: str
    read_only: bool
    writes_need_key: bool
    products: int
    aligned: bool = Field(False, description="a trained alignment model: search can rank by text or by image")
