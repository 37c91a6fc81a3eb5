"""Turn validated, encoded products into the nodes and relationships of one GraphBatch."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from shopgraph.graph.schema import PRODUCT_OWNED
from shopgraph.graph.store import GraphBatch
from shopgraph.ingest.image_refs import to_ref
from shopgraph.ingest.normalise import category_key, normalise_brand
from shopgraph.records import InteractionRecord, ProductRecord

__all__ = ["PRODUCT_OWNED", "product_batch", "interaction_batch", "same_as_batch", "different_from_batch"]


def _image_refs(record: ProductRecord, image_root: Path | None) -> list[str]:
    """Every image of a record as stored: URLs as they are, files as image refs; the main image's
    downloaded copy (image_path) stands first when images[0] is a URL that was fetched."""
    return [image if "://" in image else to_ref(image, image_root) for image in record.images]


def product_batch(records: Sequence[ProductRecord], vectors, image_ok: np.ndarray,
                  image_root: Path | None = None, brand_of=None) -> GraphBatch:
    """One batch for new or changed products, with their identifiers and attributes.

    vectors: an EncodedProducts (text, image, lexical, fused arrays of shape (n, d)); image_ok: (n,)
    bool, False where the image was missing or not decodable (image_vec stays null, flag set).
    image_root: image paths inside it are stored relative to it (image_refs.py). brand_of: brand key
    -> the key it is merged into (brands.BrandMerger.resolve); None keeps normalise_brand's key.
    """
    batch = GraphBatch(fusion=getattr(vectors, "fusion", None))
    platforms = {r.platform for r in records}
    brands: dict[str, str] = {}
    categories: dict[str, dict] = {}
    subcategory_edges: dict[tuple[str, str], dict] = {}
    products, listed, branded, categorised = [], [], [], []
    identifiers: dict[str, dict] = {}
    attribute_keys: set[str] = set()
    has_identifier, has_attribute = [], []
    for i, record in enumerate(records):
        brand_key = normalise_brand(record.brand)
        if brand_key and brand_of is not None:
            brand_key = brand_of(brand_key)
        if brand_key:
            brands.setdefault(brand_key, record.brand.strip())
            branded.append({"src": record.id, "dst": brand_key})
        leaf = _add_category_path(record.category_path, categories, subcategory_edges)
        if leaf:
            categorised.append({"src": record.id, "dst": leaf})
        listed.append({"src": record.id, "dst": record.platform})
        has_image = bool(image_ok[i])
        products.append({
            "id": record.id, "platform": record.platform, "source_id": record.source_id,
            "title": record.title, "description": record.description, "price": record.price,
            "currency": record.currency, "brand": record.brand, "category": leaf,
            "image_ref": to_ref(record.image_path, image_root), "image_missing": not has_image,
            "content_hash": record.content_hash(), "images": _image_refs(record, image_root) or None,
            "source": record.source_file or None, "gone": False,
            "text_vec": vectors.text[i], "image_vec": vectors.image[i] if has_image else None,
            "lex_vec": vectors.lexical[i], "fused_vec": vectors.fused[i],
        })
        for ident in record.identifiers:
            identifiers.setdefault(ident.key, {"key": ident.key, "scheme": ident.scheme, "value": ident.value})
            has_identifier.append({"src": record.id, "dst": ident.key, "raw": ident.raw, "source_column": ident.column})
        for attribute in record.attributes:
            attribute_keys.add(attribute.key)
            has_attribute.append({"src": record.id, "dst": attribute.key, **attribute.edge()})
        if getattr(vectors, "aligned", None) is not None:
            products[-1].update({"txt_emb": vectors.aligned["text"][i], "mm_vec": vectors.aligned["fused"][i],
                                 "img_emb": vectors.aligned["image"][i] if has_image else None})
    batch.nodes = {
        "Platform": [{"name": p} for p in sorted(platforms)],
        "Brand": [{"name": k, "display_name": v} for k, v in brands.items()],
        "Category": list(categories.values()),
        "Identifier": list(identifiers.values()),
        "Attribute": [{"key": k} for k in sorted(attribute_keys)],
        "Product": products,
    }
    batch.relationships = {"LISTED_ON": listed, "OF_BRAND": branded, "IN_CATEGORY": categorised,
                           "SUBCATEGORY_OF": list(subcategory_edges.values()),
                           "HAS_IDENTIFIER": has_identifier, "HAS_ATTRIBUTE": has_attribute}
    ids = [r.id for r in records]
    batch.replace_outgoing = {rel: ids for rel in PRODUCT_OWNED}
    if getattr(vectors, "aligned_model", None):  # the aligned vectors are written only beside their model
        batch.models = {"align": vectors.aligned_model}
    return batch


def _add_category_path(path: Sequence[str], categories: dict, edges: dict) -> str | None:
    """Add every level of path as a Category node (keyed by its full path); returns the leaf key."""
    parent = None
    for depth in range(1, len(path) + 1):
        key = category_key(path[:depth])
        categories.setdefault(key, {"path": key, "name": path[depth - 1], "depth": depth})
        if parent is not None:
            edges.setdefault((key, parent), {"src": key, "dst": parent})
        parent = key
    return parent


def interaction_batch(records: Sequence[InteractionRecord]) -> GraphBatch:
    """Users and their INTERACTED edges; the products must already be in the graph."""
    users = sorted({r.user_id for r in records})
    edges = [{"src": r.user_id, "dst": r.product_id, "kind": r.kind, "value": float(r.value),
              "timestamp": int(r.timestamp)} for r in records]
    return GraphBatch(nodes={"User": [{"id": u} for u in users]}, relationships={"INTERACTED": edges})


def same_as_batch(pairs: Sequence[tuple[str, str]], method: str, model_version: str, score: float = 1.0,
                  status: str = "label") -> GraphBatch:
    """SAME_AS edges for known matching pairs (e.g. a benchmark's labelled training pairs)."""
    edges = [{"src": a, "dst": b, "score": score, "method": method, "model_version": model_version,
              "status": status} for a, b in pairs]
    return GraphBatch(relationships={"SAME_AS": edges})


def different_from_batch(pairs: Sequence[tuple[str, str]], method: str, model_version: str) -> GraphBatch:
    """DIFFERENT_FROM edges for known non-matching pairs (labelled negatives, rejected matches)."""
    edges = [{"src": a, "dst": b, "method": method, "model_version": model_version} for a, b in pairs]
    return GraphBatch(relationships={"DIFFERENT_FROM": edges})
