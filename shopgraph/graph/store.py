"""The GraphStore interface: the only way any module reaches a database.

Every store (embedded LadybugDB, Neo4j) implements it and passes tests/contract/. Ids are strings;
vectors are float32 numpy arrays; scores are cosine similarities in [-1, 1].
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from shopgraph.errors import BadArgumentError
from shopgraph.graph.schema import VectorDims


@dataclass(frozen=True)
class Filters:
    """Structured pre-filters for vector search; all given conditions must hold.

    brand: normalised brand name(s); category: a category path whose whole subtree matches;
    platform: platform name(s); price_min / price_max: inclusive bounds, finite numbers >= 0 (NaN or
    infinity is a BadArgumentError, as the HTTP API refuses them); currency: ISO 4217 code: only
    products priced in it. Prices of different currencies are never compared as equal: a price bound
    without a currency is refused by ShopGraph's searches when the candidates carry several currencies
    (queries/api.py: price_currency), and applies to the one currency they have otherwise.
    """

    brand: str | tuple[str, ...] | None = None
    category: str | None = None
    platform: str | tuple[str, ...] | None = None
    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.currency is not None:
            if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Za-z]{3}", self.currency.strip()):
                raise BadArgumentError(f"currency must be an ISO 4217 code such as EUR, got {self.currency!r}")
            object.__setattr__(self, "currency", self.currency.strip().upper())
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, Real)
                                      or not math.isfinite(value) or value < 0):
                raise BadArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise BadArgumentError("price_min is greater than price_max")

    def is_empty(self) -> bool:
        return all(v is None for v in (self.brand, self.category, self.platform,
                                       self.price_min, self.price_max, self.currency))


@dataclass
class GraphBatch:
    """Nodes and relationships written together, atomically (all or nothing).

    nodes: label -> rows of properties, upserted by the label's key.
    relationships: type -> rows {"src": id, "dst": id, **properties}, upserted by (src, dst, key props).
    replace_outgoing: type -> source ids whose existing outgoing relationships of that type are removed
    before the new ones are written (a product whose brand changed loses its old OF_BRAND edge).
    models: model name -> the model id whose vectors the rows carry (e.g. {"align": id} for an ingest's
    txt_emb / img_emb / mm_vec): the batch is written only if Meta still names that model, checked
    inside the write's transaction (ModelError, nothing written, when a retrain switched it meanwhile).
    fusion: the (text, image, lexical) fusion weights the Product rows' fused_vec were made with, or
    None: a store may record them once and keep no fused_vec it can derive from them exactly
    (graph/derived_fused.py); readers see the same vectors either way.
    """

    nodes: dict[str, list[dict]] = field(default_factory=dict)
    relationships: dict[str, list[dict]] = field(default_factory=dict)
    replace_outgoing: dict[str, list[str]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    fusion: tuple[float, float, float] | None = None

    def is_empty(self) -> bool:
        return not any(self.nodes.values()) and not any(self.relationships.values())


@dataclass(frozen=True)
class VectorWrite:
    """One vector property of some nodes: vectors is a (len(ids), width of prop) array."""

    label: str
    prop: str
    ids: Sequence[str]
    vectors: np.ndarray


DATABASE_ID = "database_id"  # Meta key: a store's own random identity (what its local vector index mirrors)
# Meta key: the generation of the last write query on a store that does not restamp its products after
# one (Neo4j: restamping a million products would be one huge transaction). Mirrors that follow
# products by `rev` (the lexical index) re-read every product when it is newer than what they hold.
ANY_PRODUCT_CHANGED = "any_product_changed"


def model_key(model: str) -> str:
    """The Meta key naming the trained model of a kind ("align", "gnn") whose vectors the graph holds."""
    return f"model.{model}"


class Rows(list):
    """The rows of a Cypher query (dicts); truncated: the query had more rows than max_rows."""

    truncated: bool = False


def take_rows(records, max_rows: int | None, as_dict) -> Rows:
    """Rows from an iterator of database records, converting at most max_rows (+1 to tell if more)."""
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0):
        raise BadArgumentError(f"max_rows must be a non-negative integer, got {max_rows!r}")
    rows = Rows()
    for record in records:
        if max_rows is not None and len(rows) >= max_rows:
            rows.truncated = True
            break
        rows.append(as_dict(record))
    return rows


class GraphStore(ABC):
    """Abstract graph store. Open with a factory (e.g. `EmbeddedStore.open(path)`), close when done."""

    dims: VectorDims

    # -- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "GraphStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------------
    @abstractmethod
    def write(self, batch: GraphBatch) -> None:
        """Upsert the batch atomically. Writing the same batch twice leaves the graph unchanged."""

    @contextmanager
    def grouped_writes(self) -> Iterator[None]:
        """Writes of this thread inside the block may share transactions, ended by commit_writes()
        (and by leaving the block; an error rolls back what is not committed yet). For a store whose
        commit costs more than its rows (the embedded store checkpoints at each commit of a COPY),
        a bulk writer commits every many rows, not every batch. Here: every write commits itself."""
        yield

    def commit_writes(self) -> None:
        """Inside grouped_writes(): commit the writes made since the last commit."""

    @abstractmethod
    def delete_nodes(self, label: str, ids: Sequence[str]) -> int:
        """Delete nodes and their relationships; returns how many existed."""

    @abstractmethod
    def retire_products(self, ids: Sequence[str]) -> tuple[int, int]:
        """Take products out of the catalog graph, in one transaction. A product that no SAME_AS /
        DIFFERENT_FROM names is deleted with all its relationships; one that a decision names becomes a
        tombstone: gone = true, content_hash and every vector null, every other relationship removed
        (owned edges, interactions, also-bought), so the decision still says which listing it was.
        Starts a new write generation (vector indexes drop them). Unknown ids are ignored. Returns
        (deleted, kept as tombstones)."""

    @abstractmethod
    def set_vectors(self, label: str, prop: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Write back one vector property (e.g. GNN embeddings): vectors has shape (len(ids), dim)."""

    @abstractmethod
    def write_model_vectors(self, model: str, model_id: str, writes: Sequence[VectorWrite], *,
                            switch: bool = True) -> None:
        """Write the vectors one trained model produced together with the Meta record naming it
        (`model_key(model)` = model_id), in one transaction: a reader sees the previous model's
        vectors and record, or all of the new ones, never a mix (the checkpoint named by model_id
        must be saved before, and the previous one removed only after).

        switch=False adds vectors of the model already recorded (new nodes embedded later) and
        raises ModelError, writing nothing, when Meta names another model by then."""

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def get_nodes(self, label: str, ids: Sequence[str], properties: Sequence[str] | None = None) -> list[dict]:
        """Nodes by key, in the order asked, unknown ids left out. properties None = all non-vector ones."""

    @abstractmethod
    def get_vectors(self, label: str, prop: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """(ids that have the vector, float32 array of shape (n, dim)) in the order asked."""

    @abstractmethod
    def product_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """content_hash of the given products that are stored completely (node and relationships)."""

    @abstractmethod
    def count_nodes(self, label: str) -> int: ...

    @abstractmethod
    def count_relationships(self, rel: str) -> int: ...

    def stats(self) -> dict[str, int]:
        """Counts of every node label and relationship type."""
        from shopgraph.graph.schema import DATA_LABELS, REL_TYPES

        out = {label: self.count_nodes(label) for label in DATA_LABELS}
        out.update({rel: self.count_relationships(rel) for rel in REL_TYPES})
        return out

    @abstractmethod
    def iter_nodes(self, label: str, properties: Sequence[str], batch_size: int = 10000) -> Iterator[list[dict]]:
        """All nodes of a label, in key order, in batches of rows."""

    def product_pages(self, revision: int, page_rows: int) -> list[tuple[str, dict]] | None:
        """How to read the products changed since `revision` (every product when revision < 0) by
        scanning: Cypher predicates over `p` with their parameters, each selecting at most page_rows
        products, together selecting each changed product once. None (the default): this store reads
        them best by key, a page of ids at a time."""
        return None

    @abstractmethod
    def relationship_pairs(self, rel: str, properties: Sequence[str] = ()) -> list[dict]:
        """All relationships of a type as rows {"src", "dst", **properties}."""

    # -- queries -------------------------------------------------------------------------------
    @abstractmethod
    def vector_search(self, prop: str, vector: np.ndarray, k: int, *, filters: Filters | None = None,
                      where: str | None = None, params: Mapping[str, Any] | None = None,
                      label: str = "Product") -> list[tuple[str, float]]:
        """Top-k (id, cosine) by the vector property, best first, exact scores.

        filters and/or where restrict the candidates first; `where` is a read-only Cypher pattern
        binding `p` to the product, e.g. "(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $brand".
        """

    def search_version(self) -> tuple[str | None, int, str | None] | None:
        """(database id, write generation, write epoch) whose vector index answered this thread's last
        vector_search: the graph version its hits come from, known without another statement (the
        result cards are used only at exactly that version, queries/cards.py). None (the default):
        the store does not say, and hits are hydrated from the graph."""
        return None

    @abstractmethod
    def cypher(self, query: str, params: Mapping[str, Any] | None = None, *,
               allow_write: bool = False, timeout: float | None = None, max_rows: int | None = None) -> Rows:
        """Run Cypher with parameters; rows as dicts. Refuses writes unless allow_write.

        timeout: seconds the database may spend on the query; past it the query is stopped and
        QueryTimeoutError raised (None = no limit). max_rows: read at most this many rows (one more is
        read to tell), and set the result's `truncated` when there were more (None = every row)."""

    # -- bookkeeping ---------------------------------------------------------------------------
    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    def get_metas(self, keys: Sequence[str]) -> dict[str, str | None]:
        """{key: value or None} for each key, read together (stores that can read them in one
        statement do: one snapshot, one round trip; a search reads its graph's version this way)."""
        return {key: self.get_meta(key) for key in keys}

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @contextmanager
    def pinned_meta(self) -> Iterator[None]:
        """A block whose Meta reads on this thread (get_meta, get_metas, the write generation) may be
        served from one read taken when it starts: a search reads its graph's version, database id and
        model records several times, and each read is a statement. Writes never use it. The default
        pins nothing; the embedded store pins (graph/embedded.py)."""
        yield

    @contextmanager
    def unpinned(self) -> Iterator[None]:
        """A block inside pinned_meta whose Meta reads are fresh: for a reader that found its copy
        (a vector or lexical index) ahead of the pinned version, which another thread synced since
        the pin, and must not rebuild it back. Outside a pin (and in stores that pin nothing) a no-op."""
        yield


def check_vector_write(dims: VectorDims, write: VectorWrite) -> np.ndarray:
    """The write's vectors as float32, after checking its label, property and shape (SchemaError)."""
    from shopgraph.errors import SchemaError
    from shopgraph.graph.schema import check_properties, check_vector_property

    check_vector_property(write.prop)
    check_properties(write.label, [write.prop])
    vectors = np.asarray(write.vectors, dtype=np.float32)
    if vectors.shape != (len(write.ids), dims.of(write.prop)):
        raise SchemaError(f"{write.prop} needs shape ({len(write.ids)}, {dims.of(write.prop)}), got {vectors.shape}")
    return vectors


def check_model_switch(recorded: str | None, model: str, model_id: str, switch: bool) -> None:
    """Inside write_model_vectors' (or a GraphBatch's) transaction: adding vectors (switch=False) needs
    the recorded model to be the one that made them."""
    from shopgraph.errors import ModelError

    if not switch and recorded != model_id:
        raise ModelError(f"the graph's {model} model is now {recorded or 'none'}, not {model_id} (trained again "
                         f"meanwhile); nothing was written, run the command again")


def checked_query_vector(dims: VectorDims, prop: str, vector, label: str) -> np.ndarray:
    """A vector_search query as a flat float32 array of the property's width; SchemaError when the
    property, the label or the width is wrong (every store checks the same way)."""
    from shopgraph.errors import SchemaError
    from shopgraph.graph.schema import check_vector_property

    check_vector_property(prop)
    if label != "Product":
        raise SchemaError("vector properties live on Product")
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if query.shape[0] != dims.of(prop):
        raise SchemaError(f"{prop} has width {dims.of(prop)}, the query vector {query.shape[0]}")
    return query
