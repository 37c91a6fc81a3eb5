"""The Neo4j store: the same GraphStore on a Neo4j 5 (or 2025+/2026+) server, for a shared server,
a cluster or Aura.

    store = Neo4jStore.open(Neo4jSettings.resolve("neo4j://localhost:7687"))   # password: $NEO4J_PASSWORD
    store = Neo4jStore.open(settings, driver=my_driver)                        # or the caller's driver

Schema: a uniqueness constraint per label key, a cosine vector index per cosine-ranked Product vector
property (not fused_vec / gnn_vec, which rank by inner product), a range index on Product.platform, a
full-text index on title/description/brand. Writes: one transaction per GraphBatch, rows grouped by
the properties they carry and sent as UNWIND ... MERGE parameter lists. Vector search: candidates by
Cypher, then shopgraph.graph.neo4j_search (exact numpy scoring, or the vector index with over-fetch).
All Cypher lives in shopgraph.graph.neo4j_cypher.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from shopgraph.config import Neo4jConfig
from shopgraph.errors import BadArgumentError, QueryTimeoutError, ReadOnlyError, SchemaError, StoreError
from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph import schema as S
from shopgraph.graph.cypher_guard import ensure_read_only
from shopgraph.graph.filters import candidate_query
from shopgraph.graph.neo4j_connect import Neo4jSettings, TransactionRunner, safe_uri
from shopgraph.graph.neo4j_search import READ_CHUNK, VectorSearch, has_index, matrix
from shopgraph.graph.rows import chunks, plain
from shopgraph.graph.store import (ANY_PRODUCT_CHANGED, Filters, GraphBatch, GraphStore, Rows, VectorWrite,
                                   check_model_switch, check_vector_write, checked_query_vector, model_key,
                                   take_rows)

log = logging.getLogger(__name__)

SCHEMA_VERSION = "4"  # the same graph as the embedded store's version 4
MIN_VERSION = (5, 18)  # the vector-2.0 index provider (up to 4096 dimensions)
SEARCH_CLAUSE_VERSION = (2026, 1)
NODE_WRITE_ORDER = ("Platform", "Brand", "Category", "Identifier", "Attribute", "User", "Product", "Meta")
INDEX_WAIT_SECONDS = 300


def _vector_width(index: Mapping) -> int | None:
    """vector.dimensions of a SHOW INDEXES row (None when it has none)."""
    config = (index.get("options") or {}).get("indexConfig") or {}
    width = config.get("vector.dimensions")
    return int(width) if width is not None else None


class Neo4jStore(GraphStore):
    """GraphStore on Neo4j through the official driver. Use `Neo4jStore.open(...)`."""

    def __init__(self, driver, settings: Neo4jSettings, config: Neo4jConfig, dims: S.VectorDims, read_only: bool,
                 trace: Callable[[str, Mapping], None] | None, owns_driver: bool,
                 sleep: Callable[[float], None] | None = None):
        self._driver = driver
        self.settings = settings
        self.config = config
        self.dims = dims
        self.read_only = read_only
        self.trace = trace
        self._owns_driver = owns_driver
        self._runner = TransactionRunner(driver, settings, config, **({"sleep": sleep} if sleep else {}))
        self.server_version: tuple[int, ...] = ()
        self.edition = ""
        self._search = VectorSearch(self)

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Neo4jSettings | str | None = None, *, dims: S.VectorDims | None = None,
             read_only: bool = False, config: Neo4jConfig | None = None, driver=None,
             trace: Callable[[str, Mapping], None] | None = None,
             sleep: Callable[[float], None] | None = None) -> "Neo4jStore":
        """Connect, check the server, and create the schema unless read_only.

        settings: Neo4jSettings, a URI, or None ($NEO4J_URI). driver: an existing neo4j driver to use
        (not closed by close()). dims: the vector widths the caller will write (checked against the
        graph's; None takes the graph's own, or the defaults for an empty database)."""
        config = config or Neo4jConfig()
        if not isinstance(settings, Neo4jSettings):
            settings = Neo4jSettings.resolve(settings, config)
        owns = driver is None
        driver = driver or settings.driver(config)
        store = cls(driver, settings, config, dims or S.VectorDims(), read_only, trace, owns, sleep)
        try:
            store._runner.verify()
            store._detect_server()
            store._ensure_schema(dims)
        except BaseException:
            store.close()
            raise
        log.info("opened Neo4j %s %s at %s", store.edition, ".".join(map(str, store.server_version)),
                 settings.display)
        return store

    def close(self) -> None:
        if self._driver is not None and self._owns_driver:
            self._driver.close()
        self._driver = None

    @property
    def location(self) -> str:
        return self.settings.display

    def local_stem(self) -> Path:
        """Where shopgraph keeps files for this database on this machine (models, vector cache,
        quarantine): <local_dir>/<host>-<port>-<database>, used like the embedded store's db path."""
        place = safe_uri(self.settings.uri).split("://", 1)[1].replace(":", "-")
        return Path(self.config.local_dir) / re.sub(r"[^A-Za-z0-9_.-]", "_", f"{place}-{self.settings.database}")

    def _detect_server(self) -> None:
        rows = self._read(Q.server_components(), {})
        kernel = next((r for r in rows if "kernel" in str(r.get("name", "")).lower()), rows[0] if rows else {})
        versions = kernel.get("versions") or ["0"]
        self.server_version = tuple(int(part) for part in re.findall(r"\d+", str(versions[0]))[:3])
        self.edition = str(kernel.get("edition", ""))
        if self.server_version < MIN_VERSION:
            raise StoreError(f"Neo4j at {safe_uri(self.settings.uri)} is version "
                             f"{'.'.join(map(str, self.server_version))}; shopgraph needs 5.18 or newer (vector indexes)")

    @property
    def has_search_clause(self) -> bool:
        return self.server_version >= SEARCH_CLAUSE_VERSION

    def _ensure_schema(self, wanted: S.VectorDims | None) -> None:
        version = self.get_meta("schema_version")
        if version is None:
            if self.read_only:
                raise StoreError(f"Neo4j {self.settings.display} holds no shopgraph graph (open it read-write once)")
            self._create_schema()
            return
        stored = self._stored_dims()
        if wanted is not None and (wanted.text, wanted.image, wanted.lexical) != (stored.text, stored.image, stored.lexical):
            raise SchemaError(
                f"Neo4j {self.settings.display} was created with vector widths {stored}, the configured encoders "
                f"give {wanted}; use another database or the encoders it was built with")
        self.dims = stored
        if not version.isdigit() or int(version) > int(SCHEMA_VERSION):
            raise SchemaError(f"Neo4j {self.settings.display} holds a shopgraph graph of schema version {version}; "
                              f"this shopgraph reads version {SCHEMA_VERSION} and older: upgrade shopgraph")
        if version != SCHEMA_VERSION and not self.read_only:
            # Neo4j needs no DDL for new properties or relationship types; new indexes come from
            # _create_indexes (IF NOT EXISTS), so an older graph is brought up to date here.
            self._create_indexes()
            self.set_meta("schema_version", SCHEMA_VERSION)

    def _stored_dims(self) -> S.VectorDims:
        meta = dict(self._meta_rows())
        defaults = S.VectorDims()
        return S.VectorDims(text=int(meta["dim_text"]), image=int(meta["dim_image"]),
                            lexical=int(meta["dim_lexical"]),
                            aligned=int(meta.get("dim_aligned") or defaults.aligned),
                            gnn=int(meta.get("dim_gnn") or defaults.gnn))

    def _create_schema(self) -> None:
        self._create_indexes()
        meta = {"schema_version": SCHEMA_VERSION, "generation": "0", "dim_text": str(self.dims.text),
                "dim_image": str(self.dims.image), "dim_lexical": str(self.dims.lexical),
                "dim_aligned": str(self.dims.aligned), "dim_gnn": str(self.dims.gnn)}
        self._write_tx(lambda tx: [self._run(tx, Q.set_meta(), {"key": k, "value": v}) for k, v in meta.items()])

    def _create_indexes(self) -> None:
        """Create the constraints and indexes that are missing, each statement in its own transaction
        (Neo4j does not mix schema and data writes). Deleting a graph node by node leaves Neo4j's
        indexes behind, so a shopgraph vector index of another width than this graph's (or one this
        graph has no use for) is dropped first: the old one would skip every new vector and make an
        index search fail."""
        existing = {r["name"]: r for r in self._read(Q.show_indexes(), {})}
        statements = [Q.create_constraint(label) for label in S.NODE_TYPES
                      if Q.constraint_name(label) not in existing]
        statements += [Q.create_range_index(label, prop) for label, prop in Q.RANGE_INDEXES
                       if Q.range_index_name(label, prop) not in existing]
        # Only what search uses: cosine-ranked Product vectors of at most 4096 dimensions.
        wanted = {Q.vector_index_name("Product", prop): prop for prop in S.VECTOR_PROPERTIES if has_index(prop, self.dims)}
        for name in Q.vector_index_names():
            have = existing.get(name)
            if have is not None and (name not in wanted or _vector_width(have) != self.dims.of(wanted[name])):
                log.info("dropping vector index %s (width %s, this graph's is %s)", name, _vector_width(have),
                         self.dims.of(wanted[name]) if name in wanted else "none")
                statements.append(Q.drop_index(name))
                have = None
            if have is None and name in wanted:
                statements.append(Q.create_vector_index("Product", wanted[name], self.dims.of(wanted[name])))
        if Q.FULLTEXT_INDEX not in existing:
            statements.append(Q.create_fulltext_index())
        for text in statements:
            self._write_tx(lambda tx, text=text: self._run(tx, text, {}))
        if statements:
            self._write_tx(lambda tx: self._run(tx, Q.await_indexes(), {"seconds": INDEX_WAIT_SECONDS}))

    def clear(self, *, drop_schema: bool = False, batch: int = 10000) -> None:
        """Delete every shopgraph node (and relationship) in the database; with drop_schema also the
        indexes and constraints this store made. For tests and for starting over: irreversible."""
        self._check_writable()
        for label in S.NODE_TYPES:
            while self._write_tx(lambda tx, label=label: self._run(tx, Q.delete_label_batch(label), {"batch": batch}))[0]["deleted"]:
                pass
        if drop_schema:
            for name in Q.own_index_names():
                self._write_tx(lambda tx, name=name: self._run(tx, Q.drop_index(name), {}))
            for name in Q.own_constraint_names():
                self._write_tx(lambda tx, name=name: self._run(tx, Q.drop_constraint(name), {}))

    # -- running queries -----------------------------------------------------------------------
    def _run(self, tx, query: str, params: Mapping[str, Any]) -> list[dict]:
        """Rows of one of the store's own queries (plain values: ids, numbers, lists). Not
        Result.data(): that walks every value of every row in Python to convert graph objects, and
        took over half the time of reading vectors."""
        if self.trace is not None:
            self.trace(query, params)
        result = tx.run(query, dict(params))
        keys = result.keys()
        return [dict(zip(keys, record.values())) for record in result]

    def _run_rows(self, tx, query: str, params: Mapping[str, Any], max_rows: int | None) -> Rows:
        """Like _run, but records are read one at a time and reading stops after max_rows (+1)."""
        if self.trace is not None:
            self.trace(query, params)
        return take_rows(iter(tx.run(query, dict(params))), max_rows, lambda record: record.data())

    def _read(self, query: str, params: Mapping[str, Any], timeout: float | None = None) -> list[dict]:
        self._check_open()
        return self._runner.run(lambda tx: self._run(tx, query, params), write=False, timeout=timeout)

    def _write_tx(self, work: Callable[[Any], Any], timeout: float | None = None) -> Any:
        self._check_writable()
        return self._runner.run(work, write=True, timeout=timeout)

    def _check_open(self) -> None:
        if self._driver is None:
            raise StoreError(f"Neo4j store {self.settings.display} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyError(f"Neo4j {self.settings.display} is open read-only")

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._read(Q.get_meta(), {"key": key})
        return rows[0]["value"] if rows else None

    def get_metas(self, keys: Sequence[str]) -> dict[str, str | None]:
        found = {r["key"]: r["value"] for r in self._read(Q.get_metas(), {"keys": list(keys)})}
        return {key: found.get(key) for key in keys}

    def set_meta(self, key: str, value: str) -> None:
        self._write_tx(lambda tx: self._run(tx, Q.set_meta(), {"key": key, "value": str(value)}))

    def _meta_rows(self) -> list[tuple[str, str]]:
        return [(r["key"], r["value"]) for r in self._read(Q.all_meta(), {})]

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _bump_generation(self, tx) -> int:
        return int(self._run(tx, Q.bump_generation(), {"key": "generation"})[0]["generation"])

    # -- writes --------------------------------------------------------------------------------
    def write(self, batch: GraphBatch) -> None:
        for label in batch.nodes:
            S.node_type(label)
        for rel in list(batch.relationships) + list(batch.replace_outgoing):
            S.rel_type(rel)
        if batch.is_empty() and not any(batch.replace_outgoing.values()):
            return
        # Everything is checked and grouped before the transaction, so a schema error sends nothing.
        node_statements = [(label, self._node_groups(label, batch.nodes[label]))
                           for label in sorted(batch.nodes, key=NODE_WRITE_ORDER.index)]
        rel_statements = [(rel, self._rel_groups(rel, rows)) for rel, rows in batch.relationships.items()]

        def work(tx):
            for model, model_id in batch.models.items():
                recorded = self._run(tx, Q.get_meta(), {"key": model_key(model)})
                check_model_switch(recorded[0]["value"] if recorded else None, model, model_id, switch=False)
            generation = self._bump_generation(tx) if batch.nodes.get("Product") else None
            for label, groups in node_statements:
                for text, rows in groups:
                    if label == "Product":
                        rows = [{**r, "rev": generation} for r in rows]
                    self._unwind(tx, text, rows, label)
            for rel, src_ids in batch.replace_outgoing.items():
                for chunk in chunks(list(src_ids), 5000):
                    self._run(tx, Q.delete_outgoing(rel), {"ids": list(chunk)})
            for rel, groups in rel_statements:
                for text, rows in groups:
                    written = self._unwind(tx, text, rows, None)
                    if written != len(rows):
                        spec = S.rel_type(rel)
                        raise StoreError(f"{len(rows) - written} {rel} rows name a {spec.src} or {spec.dst} "
                                         f"that is not in the graph; nothing was written")

        self._write_tx(work)

    def _node_groups(self, label: str, rows: Sequence[Mapping]) -> list[tuple[str, list[dict]]]:
        """De-duplicate by key (later rows win, merged over earlier ones) and group by column set."""
        node = S.node_type(label)
        by_key: dict[str, dict] = {}
        for row in rows:
            if row.get(node.key) in (None, ""):
                raise SchemaError(f"{label} row without its key {node.key!r}")
            key = str(row[node.key])
            by_key[key] = {**by_key.get(key, {}), **plain(row)}
        groups: dict[tuple[str, ...], list[dict]] = {}
        for row in by_key.values():
            columns = tuple(sorted(set(row) | ({"rev"} if label == "Product" else set())))
            groups.setdefault(columns, []).append(row)
        for columns in groups:
            S.check_properties(label, columns)
        return [(Q.upsert_nodes(label, columns), group) for columns, group in groups.items()]

    def _rel_groups(self, rel: str, rows: Sequence[Mapping]) -> list[tuple[str, list[dict]]]:
        """De-duplicate by (src, dst, key properties) and group rows by the other properties they
        carry (an update sets only those). Rows without a key property are refused (MERGE cannot
        match on null, and merging on fewer keys would overwrite every relationship of that kind)."""
        spec = S.rel_type(rel)
        unique: dict[tuple, dict] = {}
        for row in rows:
            S.check_rel_row(rel, row)
            unique[(row["src"], row["dst"], *(row[k] for k in spec.key))] = plain(row)
        groups: dict[tuple, list[dict]] = {}
        for row in unique.values():
            groups.setdefault(tuple(p for p in spec.properties if p not in spec.key and p in row), []).append(row)
        return [(Q.upsert_relationships(rel, spec.key, settable), group) for settable, group in groups.items()]

    def _unwind(self, tx, text: str, rows: list[dict], label: str | None) -> int:
        """Send rows in statements of config.write_rows (a quarter of that for rows with vectors)."""
        size = self.config.write_rows
        if label is not None and any(isinstance(v, list) for v in rows[0].values()):
            size = max(1, size // 4)
        written = 0
        for chunk in chunks(rows, size):
            result = self._run(tx, text, {"rows": list(chunk)})
            written += int(result[0]["written"]) if result else 0
        return written

    def delete_nodes(self, label: str, ids: Sequence[str]) -> int:
        S.node_type(label)
        ids = list(ids)

        def work(tx):
            count = int(self._run(tx, Q.count_existing(label), {"ids": ids})[0]["n"])
            if count:
                self._run(tx, Q.delete_nodes(label), {"ids": ids})
                if label == "Product":
                    self._bump_generation(tx)
            return count

        return self._write_tx(work)

    def retire_products(self, ids: Sequence[str]) -> tuple[int, int]:
        ids = list(ids)

        def work(tx):
            found = self._run(tx, Q.decided_products(), {"ids": ids})
            drop = [r["id"] for r in found if not r["decided"]]
            keep = [r["id"] for r in found if r["decided"]]
            if not found:
                return 0, 0
            generation = self._bump_generation(tx)
            if drop:
                self._run(tx, Q.delete_nodes("Product"), {"ids": drop})
            if keep:
                self._run(tx, Q.retire_tombstones(), {"ids": keep, "generation": generation})
            return len(drop), len(keep)

        return self._write_tx(work)

    def set_vectors(self, label: str, prop: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Write back one vector property in batches of config.write_rows // 4 rows, each batch its
        own transaction (a million GNN vectors would not fit one server transaction's memory); a
        failed write-back can simply be run again."""
        S.check_vector_property(prop)
        S.check_properties(label, [prop])
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dims.of(prop)):
            raise SchemaError(f"{prop} needs shape ({len(ids)}, {self.dims.of(prop)}), got {vectors.shape}")
        self._check_writable()
        text = Q.set_vectors(label, prop)
        size = max(1, self.config.write_rows // 4)
        ids = list(ids)
        for start in range(0, len(ids), size):
            rows = [{"id": i, "v": v.tolist()} for i, v in zip(ids[start:start + size], vectors[start:start + size])]

            def work(tx, rows=rows):
                generation = self._bump_generation(tx)
                self._run(tx, text, {"rows": rows, "generation": generation})

            self._write_tx(work)

    def write_model_vectors(self, model: str, model_id: str, writes: Sequence[VectorWrite], *,
                            switch: bool = True) -> None:
        """See GraphStore.write_model_vectors: one server transaction (its statements chunked as
        set_vectors' are), so its memory on the server grows with the model's vectors: a graph whose
        learned vectors exceed the server's transaction memory fails here, rolled back, with the
        previous model left in place."""
        checked = [(w, check_vector_write(self.dims, w)) for w in writes]
        self._check_writable()
        size = max(1, self.config.write_rows // 4)

        def work(tx):
            recorded = self._run(tx, Q.get_meta(), {"key": model_key(model)})
            check_model_switch(recorded[0]["value"] if recorded else None, model, model_id, switch)
            generation = self._bump_generation(tx)
            for write, vectors in checked:
                text, ids = Q.set_vectors(write.label, write.prop), list(write.ids)
                for start in range(0, len(ids), size):
                    rows = [{"id": i, "v": v.tolist()} for i, v in zip(ids[start:start + size], vectors[start:start + size])]
                    self._run(tx, text, {"rows": rows, "generation": generation})
            self._run(tx, Q.set_meta(), {"key": model_key(model), "value": model_id})

        self._write_tx(work)

    # -- reads ---------------------------------------------------------------------------------
    def get_nodes(self, label: str, ids: Sequence[str], properties: Sequence[str] | None = None) -> list[dict]:
        node = S.node_type(label)
        if properties is None:
            properties = [p for p, t in node.properties.items() if t != S.VECTOR]
        text = Q.get_nodes(label, properties)
        found = {}
        for chunk in chunks(list(ids), READ_CHUNK):
            for row in self._read(text, {"ids": list(chunk)}):
                found[row.pop("_key")] = row
        return [found[i] for i in ids if i in found]

    def get_vectors(self, label: str, prop: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        text = Q.get_vectors(label, prop)
        dim = self.dims.of(prop)
        found: dict[str, list] = {}
        for chunk in chunks(list(ids), READ_CHUNK):
            for row in self._read(text, {"ids": list(chunk)}):
                found[row["id"]] = row["v"]
        got = [i for i in ids if i in found]
        return got, matrix([found[i] for i in got], dim)

    def product_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out = {}
        for chunk in chunks(list(ids), READ_CHUNK):
            out.update({r["id"]: r["hash"] for r in self._read(Q.product_hashes(), {"ids": list(chunk)})})
        return out

    def count_nodes(self, label: str) -> int:
        return int(self._read(Q.count_nodes(label), {})[0]["n"])

    def count_relationships(self, rel: str) -> int:
        return int(self._read(Q.count_relationships(rel), {})[0]["n"])

    def iter_nodes(self, label: str, properties: Sequence[str], batch_size: int = 10000) -> Iterator[list[dict]]:
        """Keyset paging in key order: each page is one short read, so a large graph streams."""
        first, after = True, None
        while True:
            params = {"n": int(batch_size)} if first else {"n": int(batch_size), "after": after}
            rows = self._read(Q.node_page(label, properties, first), params)
            if not rows:
                return
            after = rows[-1]["_key"]
            first = False
            for row in rows:
                row.pop("_key")
            yield rows
            if len(rows) < batch_size:
                return

    def relationship_pairs(self, rel: str, properties: Sequence[str] = ()) -> list[dict]:
        return self._read(Q.relationship_pairs(rel, list(properties)), {})

    # -- vector extras (the embedded store has the same) ------------------------------------------
    def count_with_vector(self, prop: str) -> int:
        return int(self._read(Q.count_with_vector(prop), {})[0]["n"])

    def ids_with_vector(self, prop: str) -> set[str]:
        return {r["id"] for r in self._read(Q.ids_with_vector(prop), {})}

    # -- queries -------------------------------------------------------------------------------
    def vector_search(self, prop: str, vector: np.ndarray, k: int, *, filters: Filters | None = None,
                      where: str | None = None, params: Mapping[str, Any] | None = None,
                      label: str = "Product", exact: bool = False) -> list[tuple[str, float]]:
        """See GraphStore.vector_search. exact=True scores every candidate instead of asking the index."""
        query = checked_query_vector(self.dims, prop, vector, label)
        if k <= 0:
            return []
        allowed = None
        if where is not None or (filters is not None and not filters.is_empty()):
            text, bound = candidate_query(filters, where, params)
            allowed = {r["id"] for r in self._read(text, bound)}
            if not allowed:
                return []
        return self._search.top_k(prop, query, k, allowed, exact=exact)

    def fulltext_search(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """Products whose title, description or brand match the words of `text` (Lucene relevance,
        best first), from the full-text index. The words are escaped: no Lucene syntax passes through.
        Neo4j only: ShopGraph.search ranks by the same vectors on every store."""
        return self._search.fulltext(text, k)

    def cypher(self, query: str, params: Mapping[str, Any] | None = None, *, allow_write: bool = False,
               timeout: float | None = None, max_rows: int | None = None) -> Rows:
        """See GraphStore.cypher. timeout: seconds the server gives the query's transaction; past it
        the server stops it and QueryTimeoutError is raised (None: the server's own limit)."""
        if not allow_write:
            ensure_read_only(query)
        if timeout is not None and not timeout > 0:
            raise BadArgumentError(f"timeout must be a positive number of seconds, got {timeout!r}")
        try:
            if not allow_write:
                self._check_open()
                return self._runner.run(lambda tx: self._run_rows(tx, query, params or {}, max_rows),
                                        write=False, timeout=timeout)

            def work(tx):
                rows = self._run_rows(tx, query, params or {}, max_rows)
                # A write query starts a new generation. Products are not restamped as in the embedded
                # store (Neo4j's vector indexes follow writes themselves); the generation is recorded
                # instead, so the lexical index, which follows products by rev, re-reads them all.
                generation = self._bump_generation(tx)
                self._run(tx, Q.set_meta(), {"key": ANY_PRODUCT_CHANGED, "value": str(generation)})
                return rows

            return self._write_tx(work, timeout=timeout)
        except QueryTimeoutError:
            if timeout is None:
                raise  # the server's own db.transaction.timeout
            raise QueryTimeoutError(f"query stopped at its time limit of {timeout:g} s") from None
