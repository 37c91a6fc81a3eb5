"""The graph schema, the same for every store.

    (:User)-[:INTERACTED {kind, value, timestamp}]->(:Product)
    (:Product)-[:LISTED_ON]->(:Platform)
    (:Product)-[:OF_BRAND]->(:Brand)
    (:Product)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF]->(:Category)
    (:Product)-[:ALSO_BOUGHT {weight}]->(:Product)
    (:Product)-[:SAME_AS {score, method, model_version, status, evidence}]->(:Product)
    (:Product)-[:DIFFERENT_FROM {method, model_version}]->(:Product)
    (:Product)-[:HAS_IDENTIFIER {raw, source_column}]->(:Identifier {key, scheme, value})
    (:Product)-[:HAS_ATTRIBUTE {value, norm, number, unit, base_number, base_unit}]->(:Attribute {key})

Identifiers (schema version 4): key = "<scheme>:<normalised value>" (gtin as 14 digits, mpn
case-folded without separators, sku scoped by platform: shopgraph.ingest.identifiers), so listings
sharing a GTIN or an MPN are one hop from the same node. Attributes: one node per normalised key;
each product's value on the edge as written (value), normalised (norm), and parsed (number, unit;
base_number in base_unit when the unit is known, so "1 TB" and "500 GB" compare:
shopgraph.ingest.attributes). A product may hold several values of one key (one edge each).
Product.images lists every image (file refs or URLs; images[0] is the main one, image_ref its local
file); source names the file the product was read from; gone = true marks a listing removed from its
catalog that is kept only because SAME_AS / DIFFERENT_FROM decisions name it (no vectors, no other
relationships, never a search result).

SAME_AS status: "matched" (the matcher is sure), "review" (between the review thresholds, waiting
for a person), "accepted" (a person said yes), "label" (a known pair, e.g. a benchmark's training
labels). evidence is JSON text: the features that decided the score. A person's "no" to a match, and
known non-matching pairs, are DIFFERENT_FROM edges: the next training run reads both kinds as labels.

Product vectors: text_vec, image_vec, lex_vec (frozen encoders) and fused_vec (their weighted
concatenation) from ingest; txt_emb, img_emb (text and image projected into one aligned space) and
mm_vec (their learned gated fusion) once an alignment model is trained; gnn_vec (the graph neural
network's relation-aware embedding) once a GNN is trained. Users carry gnn_vec too (recommendation).

Labels and property names reaching a query are checked here first: only values travel as parameters,
so a name is the one thing that could carry text into Cypher, and it must be a known one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shopgraph.errors import SchemaError

STRING, DOUBLE, INT64, BOOL, VECTOR = "STRING", "DOUBLE", "INT64", "BOOL", "VECTOR"
STRING_LIST = "STRING_LIST"


@dataclass(frozen=True)
class VectorDims:
    """Widths of the vector properties on Product (float32 each)."""

    text: int = 384
    image: int = 1280
    lexical: int = 512
    aligned: int = 256  # txt_emb, img_emb, mm_vec
    gnn: int = 128  # gnn_vec

    @property
    def fused(self) -> int:
        return self.text + self.image + self.lexical

    def of(self, prop: str) -> int:
        return {"text_vec": self.text, "image_vec": self.image, "lex_vec": self.lexical,
                "fused_vec": self.fused, "txt_emb": self.aligned, "img_emb": self.aligned,
                "mm_vec": self.aligned, "gnn_vec": self.gnn}[prop]


ENCODER_VECTORS = ("text_vec", "image_vec", "lex_vec", "fused_vec")
ALIGNED_VECTORS = ("txt_emb", "img_emb", "mm_vec")
VECTOR_PROPERTIES = ENCODER_VECTORS + ALIGNED_VECTORS + ("gnn_vec",)


@dataclass(frozen=True)
class NodeType:
    label: str
    key: str
    properties: dict[str, str]


@dataclass(frozen=True)
class RelType:
    name: str
    src: str
    dst: str
    properties: dict[str, str] = field(default_factory=dict)
    # Properties that, with (src, dst), identify one relationship; upserts merge on them.
    key: tuple[str, ...] = ()
    # False: the embedded store keeps only the forward (src -> dst) adjacency. For relationships into
    # a handful of hub nodes whose edges carry properties: every product's HAS_ATTRIBUTE edges land
    # on the few Attribute {key} nodes, so LadybugDB's backward adjacency of those nodes held every
    # attribute edge of the graph in one region, and each commit's checkpoint rewrote that region
    # in memory: commits grew with the graph and a 1M-product ingest died with "buffer pool is
    # full" (docs/benchmarks.md, Scale: "The 1M run"). Queries from the hub side still work (a scan).
    stored_backward: bool = True


NODE_TYPES: dict[str, NodeType] = {
    "Product": NodeType("Product", "id", {
        "id": STRING, "platform": STRING, "source_id": STRING, "title": STRING,
        "description": STRING, "price": DOUBLE, "currency": STRING, "brand": STRING,
        "category": STRING, "image_ref": STRING, "image_missing": BOOL, "content_hash": STRING,
        "rev": INT64, "images": STRING_LIST, "source": STRING, "gone": BOOL, "text_vec": VECTOR, "image_vec": VECTOR, "lex_vec": VECTOR, "fused_vec": VECTOR,
        "txt_emb": VECTOR, "img_emb": VECTOR, "mm_vec": VECTOR, "gnn_vec": VECTOR,
    }),
    "Brand": NodeType("Brand", "name", {"name": STRING, "display_name": STRING}),
    "Category": NodeType("Category", "path", {"path": STRING, "name": STRING, "depth": INT64}),
    "Platform": NodeType("Platform", "name", {"name": STRING}),
    "User": NodeType("User", "id", {"id": STRING, "gnn_vec": VECTOR}),
    "Identifier": NodeType("Identifier", "key", {"key": STRING, "scheme": STRING, "value": STRING}),
    "Attribute": NodeType("Attribute", "key", {"key": STRING}),
    # Store bookkeeping (vector widths, model names, write generation); not part of the data model.
    "Meta": NodeType("Meta", "key", {"key": STRING, "value": STRING}),
}

REL_TYPES: dict[str, RelType] = {
    "LISTED_ON": RelType("LISTED_ON", "Product", "Platform"),
    "OF_BRAND": RelType("OF_BRAND", "Product", "Brand"),
    "IN_CATEGORY": RelType("IN_CATEGORY", "Product", "Category"),
    "SUBCATEGORY_OF": RelType("SUBCATEGORY_OF", "Category", "Category"),
    "INTERACTED": RelType("INTERACTED", "User", "Product",
                          {"kind": STRING, "value": DOUBLE, "timestamp": INT64},
                          key=("kind", "timestamp")),
    "ALSO_BOUGHT": RelType("ALSO_BOUGHT", "Product", "Product", {"weight": DOUBLE}),
    "SAME_AS": RelType("SAME_AS", "Product", "Product",
                       {"score": DOUBLE, "method": STRING, "model_version": STRING, "status": STRING,
                        "evidence": STRING}),
    "DIFFERENT_FROM": RelType("DIFFERENT_FROM", "Product", "Product", {"method": STRING, "model_version": STRING}),
    "HAS_IDENTIFIER": RelType("HAS_IDENTIFIER", "Product", "Identifier", {"raw": STRING, "source_column": STRING}),
    "HAS_ATTRIBUTE": RelType("HAS_ATTRIBUTE", "Product", "Attribute",
                             {"value": STRING, "norm": STRING, "number": DOUBLE, "unit": STRING,
                              "base_number": DOUBLE, "base_unit": STRING}, key=("value",),
                             stored_backward=False),
}

# Relationships a product owns (rewritten whole when the product changes, removed with it).
PRODUCT_OWNED = ("LISTED_ON", "OF_BRAND", "IN_CATEGORY", "HAS_IDENTIFIER", "HAS_ATTRIBUTE")
# Decisions about a product that outlive its listing (a removed product with one becomes a tombstone).
DECISIONS = ("SAME_AS", "DIFFERENT_FROM")

SAME_AS_STATUSES = ("matched", "review", "accepted", "label")

DATA_LABELS = tuple(label for label in NODE_TYPES if label != "Meta")


def node_type(label: str) -> NodeType:
    try:
        return NODE_TYPES[label]
    except KeyError:
        raise SchemaError(f"unknown node label {label!r}; known: {', '.join(DATA_LABELS)}") from None


def rel_type(name: str) -> RelType:
    try:
        return REL_TYPES[name]
    except KeyError:
        raise SchemaError(f"unknown relationship type {name!r}; known: {', '.join(REL_TYPES)}") from None


def check_properties(label: str, names) -> None:
    """Raise SchemaError unless every name is a property of the node label."""
    known = node_type(label).properties
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SchemaError(f"unknown {label} properties {unknown}; known: {', '.join(known)}")


def check_rel_properties(name: str, names) -> None:
    known = rel_type(name).properties
    unknown = [n for n in names if n not in known and n not in ("src", "dst")]
    if unknown:
        raise SchemaError(f"unknown {name} properties {unknown}; known: {', '.join(known) or 'none'}")


def check_rel_row(name: str, row) -> None:
    """Raise SchemaError unless a relationship row names known properties and carries its src, dst
    and every key property (a row without one would match, and overwrite, too many relationships)."""
    check_rel_properties(name, row.keys())
    missing = [k for k in ("src", "dst", *rel_type(name).key) if row.get(k) is None]
    if missing:
        raise SchemaError(f"{name} row {row.get('src')!r} -> {row.get('dst')!r} has no {', '.join(missing)}; "
                          f"{name} rows need src, dst{''.join(', ' + k for k in rel_type(name).key)}")


def check_vector_property(prop: str) -> None:
    if prop not in VECTOR_PROPERTIES:
        raise SchemaError(f"unknown vector property {prop!r}; known: {', '.join(VECTOR_PROPERTIES)}")
