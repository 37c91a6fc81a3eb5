"""Plain records passed from ingest to the graph: one validated row each.

Product ids are namespaced by platform (``"<platform>:<source_id>"``): the same SKU string on two
platforms is two products.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

INTERACTION_KINDS = ("view", "cart", "purchase", "rating")
CATEGORY_SEPARATOR = " > "

# What a kept product's notes count (the run summary shows each kind with its first examples).
NOTE_PRICE = "prices unreadable"
NOTE_CURRENCY = "currencies unknown"
NOTE_IDENTIFIER = "identifiers invalid"
NOTE_ESCAPED = "attribute values escaped"
NOTE_IMAGE_URL = "images not fetched (URL)"
NOTE_IMAGE_FETCH = "images not downloaded"


def product_id(platform: str, source_id: str) -> str:
    """The graph id of a product: platform namespace + the platform's own id."""
    return f"{platform}:{source_id}"


def user_id(namespace: str, source_id: str) -> str:
    """The graph id of a user; users are namespaced like products (by platform or dataset)."""
    return f"{namespace}:{source_id}"


@dataclass(frozen=True)
class ProductRecord:
    """One catalog row after validation.

    price is in `currency` units (ISO 4217; None when the catalog has no price or it was unreadable);
    category_path runs from the root to the leaf; image_path is the main image's absolute file path
    (a downloaded URL's cached file) or None, image_digest the SHA-256 (hex) of that file's bytes when
    validation read it. images: every image the row names, in order (absolute paths or http(s) URLs;
    images[0] is the main one). identifiers: shopgraph.ingest.identifiers.Identifier; attributes:
    shopgraph.ingest.attributes.Attribute. notes: (kind, detail) of what was kept but could not be
    read (kinds NOTE_*: an unreadable price kept as an attribute, an invalid GTIN, a URL image not
    downloaded); counted in the run summary.
    """

    platform: str
    source_id: str
    title: str
    description: str = ""
    price: float | None = None
    currency: str | None = None
    brand: str | None = None
    category_path: tuple[str, ...] = ()
    image_path: str | None = None
    image_digest: str | None = None
    source_file: str = ""
    source_line: int = 0
    images: tuple[str, ...] = ()
    identifiers: tuple = ()
    attributes: tuple = ()
    notes: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return product_id(self.platform, self.source_id)

    @property
    def text(self) -> str:
        """The text the text encoder sees: title, then description (may be truncated by the model)."""
        return f"{self.title}. {self.description}".strip() if self.description else self.title

    def content_hash(self) -> str:
        """Hash of every field that reaches the graph, and of the image file's bytes (a photo replaced
        at the same path is a change); equal hashes mean an unchanged product. (Without an image the
        hash is the one databases written before image digests hold, so they are not rewritten; the
        same for identifiers, attributes and extra images: a row without them hashes as before.)"""
        fields = [self.platform, self.source_id, self.title, self.description, self.price,
                  self.currency, self.brand, list(self.category_path), self.image_path]
        if self.image_digest is not None:
            fields.append(self.image_digest)
        if self.identifiers or self.attributes or len(self.images) > 1 or (self.images and not self.image_path):
            fields.append({"images": list(self.images),
                           "identifiers": [[i.scheme, i.value, i.raw] for i in self.identifiers],
                           "attributes": [[a.key, a.value] for a in self.attributes]})
        payload = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InteractionRecord:
    """A user's interaction with a product: kind is one of INTERACTION_KINDS.

    value is the rating for kind 'rating' and 1.0 otherwise; timestamp is seconds since the epoch, or
    the position in the user's sequence when the source has no clock.
    """

    user_id: str
    product_id: str
    kind: str = "view"
    value: float = 1.0
    timestamp: int = 0
    source_file: str = ""
    source_line: int = 0


@dataclass(frozen=True)
class QuarantinedRow:
    """A row that failed validation: kept with its source position and the reason."""

    source_file: str
    source_line: int
    reason: str
    row: dict = field(default_factory=dict)
