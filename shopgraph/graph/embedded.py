"""The embedded graph store: LadybugDB on disk (default ./shopgraph.db), no server needed.

Files: `<path>` is the database; `<path>.index/` holds the ANN mirrors of the vector properties;
`<path>.access.lock` and `<path>.gate.lock` are the reader/writer protocol (access_lock.py).
Writes: one transaction per GraphBatch; new nodes and relationships by COPY from Arrow, existing ones by
parameterised UNWIND ... SET. Two LadybugDB habits shape this module:
- COPY of a primary key that already exists (or twice in one table) kills the process, so every batch
  is de-duplicated and split into new and existing keys first;
- COPY matches Arrow columns by position, so tables are built in schema order.
Concurrency: every read borrows its own connection and runs in a read-only transaction (one snapshot
for all its queries), so reads run side by side with each other and with the writer's transaction
(sessions.py). Another process's writer is kept out by the access lock: a read-only store reads under
it, and opens the database afresh after each of the writer's commits.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa

from shopgraph.config import IndexConfig, StoreConfig
from shopgraph.errors import (BadArgumentError, ConfigError, QueryTimeoutError, ReadOnlyError, SchemaError,
                              StoreError)
from shopgraph.graph import derived_fused as F
from shopgraph.graph import native_memory
from shopgraph.graph import schema as S
from shopgraph.graph.access_lock import AccessLock
from shopgraph.graph.cypher_guard import ensure_read_only
from shopgraph.graph.filters import candidate_query
from shopgraph.graph.mirror_state import EPOCH, EPOCHS, Epochs, GraphVersion
from shopgraph.graph.rows import chunks, one_line, plain
from shopgraph.graph.sessions import Session, Sessions, connect, open_database
from shopgraph.graph.store import (DATABASE_ID, Filters, GraphBatch, GraphStore, Rows, VectorWrite,
                                   check_model_switch, check_vector_write, checked_query_vector, model_key,
                                   take_rows)
from shopgraph.graph.vector_index import IndexDamaged
from shopgraph.graph.vector_sync import (INNER_PRODUCT_PROPERTIES, IndexedVectors, forget_read_ahead,
                                         read_ahead_indexes)

log = logging.getLogger(__name__)

# pinned_meta's one statement: every Meta row but the list of write epochs (up to ~8 KB, read only when
# a mirror's lineage is checked, mirror_state); the current epoch's token is a short row of its own.
# (query, parameters); bench/mirror_state.py times it against the statement before epochs.
PIN_META = ("MATCH (m:Meta) WHERE m.key <> $skip RETURN m.key, m.value", {"skip": EPOCHS})

SCHEMA_VERSION = "4"
# Version 2 added the learned vectors (aligned text/image/fused, GNN): (label, property) to add.
_ADDED_IN_2 = (("Product", "txt_emb"), ("Product", "img_emb"), ("Product", "mm_vec"),
               ("Product", "gnn_vec"), ("User", "gnn_vec"))
# get_as_arrow's default chunk (10M values / column count) overflows on wide vector columns.
ARROW_CHUNK_ROWS = 20000
# product_pages: pages pay when more than this share of the table changed (a page at 1M cost ~1.8 s,
# a product read by key 2.24 ms: 50 pages cost what ~40,000 keys do), and a full read has at most
# _MAX_PAGES pages (each scans the table)
_PAGES_PAY = 0.04
_MAX_PAGES = 50
FILTER_CACHE_SIZE = 64  # prepared candidate filters kept per store
# a read of vectors larger than this fraction of store.scan_pool_mb goes through a database of its own
SCAN_APART_FRACTION = 1.0
# A sync of at most this many changed products reads their ids first, then their vectors by key: asked
# for the vectors of `p.rev > $rev` at once, LadybugDB reads the whole vector column to return them
# (100k products, one changed: 520 ms and +168 MB of pool for one row; ids then by key: 23 ms, +4 MB).
# A key lookup costs a few random page reads, so many changes are still read by a scan.
_KEYED_CHANGES_MAX = 2048
# get_vectors of many ids outside a read (a matching run loading two platforms) reads apart past this
# many bytes of vectors: every page a read touches stays in the store's pool (up to buffer_pool_mb)
# after it, and a matching at 100k x 100k reads ~0.7 GB of them once, at its start.
GET_APART_BYTES = 32 * 1024 * 1024
NODE_WRITE_ORDER = ("Platform", "Brand", "Category", "Identifier", "Attribute", "User", "Product", "Meta")
_DDL_TYPES = {S.STRING: "STRING", S.DOUBLE: "DOUBLE", S.INT64: "INT64", S.BOOL: "BOOLEAN", S.STRING_LIST: "STRING[]"}
_ARROW_TYPES = {S.STRING: pa.string(), S.DOUBLE: pa.float64(), S.INT64: pa.int64(), S.BOOL: pa.bool_(),
                S.STRING_LIST: pa.list_(pa.string())}
# Version 4 (issue 15) added identifiers, attributes, several images, the source file and tombstones.
_ADDED_IN_4 = (("Product", "images"), ("Product", "source"), ("Product", "gone"))


def _check_store_config(config: StoreConfig) -> None:
    if isinstance(config.read_connections, bool) or not isinstance(config.read_connections, int) \
            or config.read_connections < 1:
        raise ConfigError(f"store.read_connections must be an integer >= 1, got {config.read_connections!r}")
    if isinstance(config.buffer_pool_mb, bool) or not isinstance(config.buffer_pool_mb, int) \
            or not (config.buffer_pool_mb == 0 or config.buffer_pool_mb >= 64):
        raise ConfigError(f"store.buffer_pool_mb must be 0 (LadybugDB's default) or an integer >= 64, "
                          f"got {config.buffer_pool_mb!r}")
    if isinstance(config.scan_pool_mb, bool) or not isinstance(config.scan_pool_mb, int) \
            or not (config.scan_pool_mb == 0 or config.scan_pool_mb >= 64):
        raise ConfigError(f"store.scan_pool_mb must be 0 (scan through the store's own pool) or an integer >= 64, "
                          f"got {config.scan_pool_mb!r}")
    if isinstance(config.release_memory_rows, bool) or not isinstance(config.release_memory_rows, int) \
            or config.release_memory_rows < 0:
        raise ConfigError(f"store.release_memory_rows must be an integer >= 0 (0: never), "
                          f"got {config.release_memory_rows!r}")
    for name in ("read_wait", "write_wait", "checkpoint_mb"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"store.{name} must be a positive number, got {value!r}")


class EmbeddedStore(GraphStore):
    """GraphStore on LadybugDB. Use `EmbeddedStore.open(path)`; thread-safe: reads run side by side,
    writes one at a time."""

    def __init__(self, path: Path, dims: S.VectorDims, read_only: bool, index_config: IndexConfig,
                 store_config: StoreConfig, trace: Callable[[str, Mapping], None] | None):
        self.path = path
        self.dims = dims
        self.read_only = read_only
        self.trace = trace
        self.index_config = index_config
        self.store_config = store_config
        self._access = AccessLock(path, read_wait=store_config.read_wait, write_wait=store_config.write_wait)
        self._sessions = Sessions(store_config.read_connections)
        self._write_conn = None  # the writer's own connection (read-write stores)
        self._write_lock = threading.RLock()
        self._local = threading.local()  # conn: the connection this thread's current read/write uses; meta: pinned_meta's rows; writes: its write count; group: grouped_writes state
        self._closed = False
        self._epoch: str | None = None  # the write epoch this open began (mirror_state), at its first write
        self._rows_unreleased = 0  # rows written since the C heap's freed memory was last released
        self._vectors = IndexedVectors(self, self._dim_of, Path(f"{path}.index"), index_config)
        if read_only and index_config.read_ahead:
            # beside the database's own open (first search: ~0.5 s less on a cold cache at 1M); read-only
            # opens are the searching ones (a server, a CLI search), a writer (ingest, delete) seldom is
            read_ahead_indexes(Path(f"{path}.index"))
        self._filter_cache: OrderedDict = OrderedDict()  # see _candidates
        self._filter_key: tuple = ()
        self._filter_lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path = "shopgraph.db", *, dims: S.VectorDims | None = None,
             read_only: bool = False, index_config: IndexConfig | None = None,
             store_config: StoreConfig | None = None,
             trace: Callable[[str, Mapping], None] | None = None) -> "EmbeddedStore":
        """Open (creating it unless read_only) the database at path.

        dims: the vector widths the caller will write; checked against those the database was
        created with (None: take the database's own, or the defaults for a new one).
        """
        path = Path(path)
        store_config = store_config or StoreConfig()
        _check_store_config(store_config)
        if read_only and not path.exists():
            raise StoreError(f"no shopgraph database at {path}")
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a shopgraph database file")
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, dims or S.VectorDims(), read_only, index_config or IndexConfig(), store_config, trace)
        if read_only:
            try:
                store._ensure_schema(dims)  # its first read opens the database, under the access lock
            except BaseException:
                store._close_quietly()
                raise
            return store
        # Opening replays the log and may checkpoint, and closing after a failed open checkpoints:
        # files change, so other processes' readers are kept out.
        try:
            with store._access.writing():
                try:
                    database = store._open_database()
                    store._sessions.start(database)
                    store._write_conn = connect(database)
                    store._ensure_schema(dims)
                except BaseException:
                    store._close_quietly()
                    raise
        except BaseException:
            store._access.close()
            raise
        return store

    def _open_database(self):
        return open_database(self.path, read_only=self.read_only,
                             checkpoint_bytes=max(1, int(self.store_config.checkpoint_mb * 1024 * 1024)),
                             buffer_pool_bytes=self.store_config.buffer_pool_mb * 1024 * 1024,
                             connections=self.store_config.read_connections)

    def close(self) -> None:
        group = getattr(self._local, "group", None)
        if group is not None and group.open:
            raise StoreError("internal: close() inside grouped writes with uncommitted writes; leave the block first")
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            forget_read_ahead(Path(f"{self.path}.index"))  # a mapped graph no search took
            if self.read_only:
                self._sessions.close()
                return
            with self._access.writing():  # closing checkpoints: readers are kept out
                self._write_conn.close()
                self._sessions.close()
            self._access.close()

    def _close_quietly(self) -> None:
        """Close after a failed open (inside the writer's hold for a read-write store)."""
        try:
            if self._write_conn is not None:
                self._write_conn.close()
            self._sessions.close()
        except Exception as e:  # already failing: keep the first error
            log.debug("closing after a failed open: %s", e)
        forget_read_ahead(Path(f"{self.path}.index"))
        self._closed = True

    def _ensure_schema(self, wanted: S.VectorDims | None) -> None:
        tables = {row[1] for row in self._rows_raw("CALL show_tables() RETURN *")}
        if "Meta" not in tables:
            if self.read_only:
                raise StoreError(f"{self.path} is not a shopgraph database (no schema)")
            if tables:
                raise StoreError(f"{self.path} is a LadybugDB database but not a shopgraph one")
            self._create_schema()
            self._sessions.current().database_id = self.get_meta(DATABASE_ID)
            return
        if self.get_meta("schema_version") == "1":
            self._migrate_to_2()
        if self.get_meta("schema_version") == "2":
            self._migrate_to_3(tables)
        if self.get_meta("schema_version") == "3":
            self._migrate_to_4(tables)
        stored = self._stored_dims(self._meta())
        if wanted is not None and (wanted.text, wanted.image, wanted.lexical) != (stored.text, stored.image, stored.lexical):
            raise SchemaError(
                f"{self.path} was created with vector widths {stored}, the configured encoders give "
                f"{wanted}; use another database path or the encoders it was built with")
        self.dims = stored
        if not self.read_only:
            self._sessions.current().database_id = self._ensure_database_id()

    @staticmethod
    def _stored_dims(meta: Mapping[str, str]) -> S.VectorDims:
        defaults = S.VectorDims()
        return S.VectorDims(text=int(meta["dim_text"]), image=int(meta["dim_image"]),
                            lexical=int(meta["dim_lexical"]),
                            aligned=int(meta.get("dim_aligned") or defaults.aligned),
                            gnn=int(meta.get("dim_gnn") or defaults.gnn))

    def _meta(self) -> dict[str, str]:
        return {k: v for k, v in self._rows_raw("MATCH (m:Meta) RETURN m.key, m.value")}

    def _ensure_database_id(self) -> str:
        """The database's identity (Meta database_id), given to databases made before it existed."""
        existing = self.get_meta(DATABASE_ID)
        if existing:
            return existing
        new = uuid.uuid4().hex
        self.set_meta(DATABASE_ID, new)
        return new

    def _create_schema(self) -> None:
        with self._transaction():
            for label in S.NODE_TYPES:
                self._create_node_table(label)
            for name in S.REL_TYPES:
                self._create_rel_table(name)
            meta = {"schema_version": SCHEMA_VERSION, "generation": "0", "dim_text": str(self.dims.text),
                    "dim_image": str(self.dims.image), "dim_lexical": str(self.dims.lexical),
                    "dim_aligned": str(self.dims.aligned), "dim_gnn": str(self.dims.gnn),
                    DATABASE_ID: uuid.uuid4().hex}
            self._copy_nodes("Meta", [{"key": k, "value": v} for k, v in meta.items()])

    def _migrate_to_2(self) -> None:
        """Add the learned-vector columns to a version 1 database (they start null)."""
        if self.read_only:
            raise StoreError(f"{self.path} uses schema version 1; open it once read-write to upgrade it")
        self.dims = S.VectorDims(text=int(self.get_meta("dim_text")), image=int(self.get_meta("dim_image")),
                                 lexical=int(self.get_meta("dim_lexical")))
        with self._transaction():
            for label, prop in _ADDED_IN_2:
                self._run(f"ALTER TABLE {label} ADD {prop} {self._ddl_type(prop, S.VECTOR)}")
            for key, value in (("dim_aligned", self.dims.aligned), ("dim_gnn", self.dims.gnn),
                               ("schema_version", "2")):
                self._upsert_nodes("Meta", [{"key": key, "value": str(value)}])
        log.info("upgraded %s to schema version 2", self.path)

    def _migrate_to_3(self, tables: set[str]) -> None:
        """Add SAME_AS status/evidence and the DIFFERENT_FROM table (matching review, issue 4)."""
        if self.read_only:
            raise StoreError(f"{self.path} uses schema version 2; open it once read-write to upgrade it")
        have = {row[1] for row in self._rows_raw("CALL table_info('SAME_AS') RETURN *")}
        with self._transaction():
            for prop in ("status", "evidence"):
                if prop not in have:
                    self._run(f"ALTER TABLE SAME_AS ADD {prop} STRING")
            if "DIFFERENT_FROM" not in tables:
                rel = S.REL_TYPES["DIFFERENT_FROM"]
                props = "".join(f", {p} {_DDL_TYPES[t]}" for p, t in rel.properties.items())
                self._run(f"CREATE REL TABLE DIFFERENT_FROM(FROM {rel.src} TO {rel.dst}{props})")
            self._upsert_nodes("Meta", [{"key": "schema_version", "value": "3"}])
        log.info("upgraded %s to schema version 3", self.path)

    def _migrate_to_4(self, tables: set[str]) -> None:
        """Add Product.images/source/gone and the Identifier and Attribute tables with their
        relationships (issue 15), in one transaction: a migration killed half-way leaves version 3."""
        if self.read_only:
            raise StoreError(f"{self.path} uses schema version 3; open it once read-write to upgrade it")
        have = {row[1] for row in self._rows_raw("CALL table_info('Product') RETURN *")}
        with self._transaction():
            for label, prop in _ADDED_IN_4:
                if prop not in have:
                    kind = S.node_type(label).properties[prop]
                    self._run(f"ALTER TABLE {label} ADD {prop} {self._ddl_type(prop, kind)}")
            for label in ("Identifier", "Attribute"):
                if label not in tables:
                    self._create_node_table(label)
            for rel in ("HAS_IDENTIFIER", "HAS_ATTRIBUTE"):
                if rel not in tables:
                    self._create_rel_table(rel)
            self._upsert_nodes("Meta", [{"key": "schema_version", "value": "4"}])
        log.info("upgraded %s to schema version 4", self.path)

    def _create_node_table(self, label: str) -> None:
        node = S.node_type(label)
        columns = ", ".join(f"{name} {self._ddl_type(name, kind)}" for name, kind in node.properties.items())
        self._run(f"CREATE NODE TABLE {label}({columns}, PRIMARY KEY ({node.key}))")

    def _create_rel_table(self, name: str) -> None:
        rel = S.rel_type(name)
        props = "".join(f", {p} {_DDL_TYPES[t]}" for p, t in rel.properties.items())
        # A database created before stored_backward keeps both directions: same answers, the old costs.
        storage = "" if rel.stored_backward else " WITH (storage_direction = 'fwd')"
        self._run(f"CREATE REL TABLE {name}(FROM {rel.src} TO {rel.dst}{props}){storage}")

    def _ddl_type(self, name: str, kind: str) -> str:
        return f"FLOAT[{self.dims.of(name)}]" if kind == S.VECTOR else _DDL_TYPES[kind]

    def _dim_of(self, prop: str) -> int:
        return self.dims.of(prop)

    # -- running queries -----------------------------------------------------------------------
    def _run(self, query: str, params: Mapping[str, Any] | None = None):
        """Run one statement on this thread's current connection (inside _reading or _transaction)."""
        connection = getattr(self._local, "conn", None)
        if connection is None:
            raise StoreError(f"{self.path} is closed" if self._closed else "internal: a query outside a read or write")
        if self.trace is not None:
            self.trace(query, params or {})
        try:
            return connection.execute(query, dict(params or {}))
        except RuntimeError as e:
            raise StoreError(f"query failed: {one_line(e)}") from e

    def _rows_raw(self, query: str, params: Mapping[str, Any] | None = None, *, single: bool = False) -> list[list]:
        """All rows of one read query. single: the query is the whole read, so it runs as its own
        statement (one snapshot already) without BEGIN/COMMIT around it: two round trips fewer, which
        is a fifth of a search's cost beyond the store (hydration)."""
        with self._reading(transaction=not single):
            return self._run(query, params).get_all()

    def _arrow(self, query: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._reading():
            return self._run(query, params).get_as_arrow(ARROW_CHUNK_ROWS)

    @contextmanager
    def _reading(self, transaction: bool = True) -> Iterator[None]:
        """One consistent read: a borrowed connection in a read-only transaction (one snapshot for all
        the queries of the block). Re-entrant: inside a read or a write the thread's connection is
        reused. A read-only store also holds the access lock, and opens the database afresh when the
        writer process has committed since it last did."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        if self._closed:
            raise StoreError(f"{self.path} is closed")
        if not self.read_only:
            yield from self._read_on(self._sessions.current(), transaction)
            return
        with self._access.reading() as marker:
            session = self._sessions.enter(marker, self._open_database)
            try:
                yield from self._read_on(session, transaction)
            finally:
                self._sessions.leave(session)

    def _read_on(self, session: Session, transaction: bool = True) -> Iterator[None]:
        connection = session.borrow()
        self._local.conn, self._local.session = connection, session
        try:
            if not transaction:  # one statement: LadybugDB runs it in a transaction of its own
                yield
                return
            self._run("BEGIN TRANSACTION READ ONLY")
            try:
                yield
            finally:
                try:
                    self._run("COMMIT")
                except StoreError as e:  # a failed statement already ended the transaction
                    if "No active transaction" not in str(e):
                        raise
        finally:
            self._local.conn = self._local.session = None
            session.give_back(connection)

    def _session(self) -> Session:
        """The session of the running read (the writer's own session inside a write)."""
        return getattr(self._local, "session", None) or self._sessions.current()

    @contextmanager
    def _transaction(self):
        """One write transaction on the writer's connection. Statements before COMMIT touch no file
        (LadybugDB keeps an open transaction in memory), so other processes' reads are kept out only
        while COMMIT (and any checkpoint it runs) writes. Inside grouped_writes() the write joins the
        group's open transaction (opening one when none is)."""
        if self.read_only:
            raise ReadOnlyError(f"{self.path} is open read-only")
        group = getattr(self._local, "group", None)
        if group is not None:
            self._open_group(group)
            self._drop_pin()
            try:
                yield
            except BaseException:
                group.failed = True  # its uncommitted writes are gone: the group must not carry on
                self._end_group(group, commit=False)
                raise
            # a batch's Arrow tables and statement buffers are freed by now, its rows stay in the
            # open transaction: what was freed goes back before the next batch allocates anew
            self._release_memory(self._rows_unreleased)
            return
        with self._write_lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            if getattr(self._local, "conn", None) is not None:
                raise StoreError("internal: a write inside a read or another write")
            self._local.conn = self._write_conn
            self._drop_pin()
            try:
                self._run("BEGIN TRANSACTION")
                try:
                    yield
                except BaseException:
                    try:
                        self._run("ROLLBACK")
                    except StoreError as e:
                        # A failed statement already ends LadybugDB's transaction; anything else is worth a log line.
                        if "No active transaction" not in str(e):
                            log.warning("rollback failed: %s", e)
                    raise
                with self._access.writing():
                    self._run("COMMIT")
            finally:
                self._local.conn = None
                self._renew_write_connection()
                self._release_memory(self._rows_unreleased)

    @contextmanager
    def grouped_writes(self) -> Iterator[None]:
        """Writes of this thread inside the block share one transaction until commit_writes(): an
        ingest commits every many rows instead of every batch, because LadybugDB checkpoints at each
        commit of a COPY and a checkpoint's cost grows with the database (docs/benchmarks.md Scale
        round 6). While the group's transaction is open, this thread's reads see its writes (they run
        on the writer's connection), other threads and processes see the last commit, and the writer
        lock is held; between commits it is free. Leaving the block commits; an error rolls back the
        open transaction (what the group committed before stays)."""
        if getattr(self._local, "group", None) is not None or getattr(self._local, "conn", None) is not None:
            raise StoreError("internal: grouped writes inside a read, a write or other grouped writes")
        group = _Group()
        self._local.group = group
        try:
            yield
            if group.failed:
                raise StoreError("a write of these grouped writes failed and its transaction was rolled "
                                 "back: the writes since the group's last commit are not in the graph")
            if group.open:
                self._end_group(group, commit=True)
        except BaseException:
            if group.open:
                self._end_group(group, commit=False)
            raise
        finally:
            self._local.group = None

    def commit_writes(self) -> None:
        group = getattr(self._local, "group", None)
        if group is None:
            raise StoreError("internal: commit_writes() outside grouped_writes()")
        if group.failed:
            raise StoreError("internal: commit_writes() after a failed write of the group (rolled back)")
        if group.open:
            self._end_group(group, commit=True)

    def _open_group(self, group: "_Group") -> None:
        """Begin the group's transaction on the writer's connection unless it is open (taking the
        writer lock until _end_group)."""
        if group.open:
            return
        if group.failed:
            raise StoreError("internal: a write after a failed write of the same grouped writes (rolled back)")
        if getattr(self._local, "conn", None) is not None:
            raise StoreError("internal: a write inside a read or another write")
        self._write_lock.acquire()
        try:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            self._local.conn = self._write_conn
            self._run("BEGIN TRANSACTION")
        except BaseException:
            self._local.conn = None
            self._write_lock.release()
            raise
        group.open = True

    def _end_group(self, group: "_Group", *, commit: bool) -> None:
        """Commit (other processes' reads kept out meanwhile) or roll back the group's transaction,
        then free the writer's connection and lock, as _transaction does after each write."""
        try:
            if commit:
                with self._access.writing():
                    self._run("COMMIT")
            else:
                try:
                    self._run("ROLLBACK")
                except StoreError as e:
                    if "No active transaction" not in str(e):
                        log.warning("rollback failed: %s", e)
        finally:
            group.open = False
            self._local.conn = None
            try:
                self._renew_write_connection()
                # the transaction's rows, freed at COMMIT and by the old connection's close
                rows, group.rows = group.rows, 0
                self._release_memory(max(rows, self._rows_unreleased))
            finally:
                self._write_lock.release()

    def _renew_write_connection(self) -> None:
        """Replace the writer's connection (holding _write_lock, after a transaction). LadybugDB 0.22
        keeps about 12 MB per `COPY ... FROM $arrow` on the connection that ran it until that
        connection closes, whatever the batch's size (an ingest of 256-row batches grew ~180 KB per
        product); a new connection costs ~0.03 ms, so the writer takes one after each transaction."""
        old, self._write_conn = self._write_conn, connect(self._sessions.current().database)
        old.close()

    def _wrote(self, rows: int) -> None:
        """Inside a write: it writes this many rows (nodes, relationships or vectors), toward the
        next release of freed memory (_release_memory)."""
        self._rows_unreleased += rows
        group = getattr(self._local, "group", None)
        if group is not None:
            group.rows += rows

    def _release_memory(self, rows: int) -> None:
        """After a write or a commit (holding _write_lock): when it covers at least
        store.release_memory_rows rows, return the C heap's freed pages to the operating system.
        LadybugDB mallocs a transaction's rows and buffers and frees them at COMMIT; glibc keeps
        freed memory resident, and over a large ingest that, not the capped page cache, was most
        of the process (docs/benchmarks.md Scale round 7; graph/native_memory.py)."""
        threshold = self.store_config.release_memory_rows
        if threshold and rows >= threshold:
            native_memory.release()
            self._rows_unreleased = 0

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        pinned = self._pinned()
        if pinned is not None and key != EPOCHS:  # the epoch list is not pinned: see pinned_meta
            return pinned.get(key)
        # single: one statement is its own snapshot; BEGIN/COMMIT around it would triple the round
        # trips, and a search reads its graph's version several times
        rows = self._rows_raw("MATCH (m:Meta {key: $key}) RETURN m.value", {"key": key}, single=True)
        return rows[0][0] if rows else None

    def get_metas(self, keys: Sequence[str]) -> dict[str, str | None]:
        pinned = self._pinned()
        if pinned is not None and EPOCHS not in keys:
            return {key: pinned.get(key) for key in keys}
        # by key ({key: ...} per key): LadybugDB answers `m.key IN $keys` with a scan, which took a
        # search's version read (generation and epoch) from 0.16 to 0.28 ms; by key it is 0.19
        # (docs/benchmarks.md, write epochs). Not begun with UNWIND: tests and benches tell a
        # hydration's read by that
        found = dict(self._rows_raw("WITH $keys AS ks UNWIND ks AS k MATCH (m:Meta {key: k}) RETURN m.key, m.value",
                                    {"keys": list(dict.fromkeys(keys))}, single=True))
        return {key: found.get(key) for key in keys}

    @contextmanager
    def pinned_meta(self) -> Iterator[None]:
        """See GraphStore.pinned_meta: every Meta row (a handful of short strings) read in one
        statement, served to this thread's Meta reads until the block ends or this thread writes. A
        search's 12 statements become 2, and with its vector indexes current it reads nothing else
        (_synced_index). Nested blocks keep the outer pin."""
        if getattr(self._local, "meta", None) is not None:
            yield
            return
        self._local.meta = dict(self._rows_raw(*PIN_META, single=True))
        try:
            yield
        finally:
            self._local.meta = None

    @contextmanager
    def unpinned(self) -> Iterator[None]:
        pinned, self._local.meta = getattr(self._local, "meta", None), None
        writes = getattr(self._local, "writes", 0)
        try:
            yield
        finally:
            if getattr(self._local, "writes", 0) == writes:  # a write inside drops the pin for good
                self._local.meta = pinned

    def _pinned(self) -> dict[str, str] | None:
        """This thread's pinned Meta, or None: outside pinned_meta, and inside any read or write (a
        read block is one snapshot, e.g. the fusion weights and the vectors they derive; a write's
        generation must be the graph's)."""
        if getattr(self._local, "conn", None) is not None:
            return None
        return getattr(self._local, "meta", None)

    def _drop_pin(self) -> None:
        """This thread writes: its later reads must see what it wrote, not the pinned Meta."""
        self._local.meta = None
        self._local.writes = getattr(self._local, "writes", 0) + 1

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction():
            self._upsert_nodes("Meta", [{"key": key, "value": value}])

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _bump_generation(self) -> int:
        """Inside a transaction: the next write generation, recorded in Meta. The first of this open
        (or the first after a rolled-back one) also begins a write epoch (mirror_state): the lineage a
        mirror checks, so a database restored from an older copy never passes for its later self."""
        meta = self.get_metas(("generation", EPOCH))
        generation = int(meta["generation"] or 0) + 1
        self._run("MATCH (m:Meta {key: 'generation'}) SET m.value = $v", {"v": str(generation)})
        if self._epoch is None or meta[EPOCH] != self._epoch:
            self._begin_epoch(generation)
        return generation

    def _begin_epoch(self, first: int) -> None:
        """Inside the transaction of this open's first write: a new epoch whose first generation is
        `first`, in the list and as the current token (both rolled back with the write)."""
        token = uuid.uuid4().hex[:16]
        try:
            epochs = Epochs.parse(self.get_meta(EPOCHS))
        except (ValueError, TypeError, KeyError) as e:  # damaged: start a list no older mirror can pass
            log.warning("%s: the list of write epochs is unreadable (%s): starting a new one", self.path, e)
            epochs = Epochs(dropped=1)
        epochs = epochs.begun(first, token)
        # through _upsert_nodes, as every other Meta write: after a MERGE made these rows inside the
        # open transaction, LadybugDB's key lookup of an absent key (Meta fusion_weights, read next in
        # the same write) returned the epoch list's row
        self._upsert_nodes("Meta", [{"key": EPOCHS, "value": epochs.dump()}, {"key": EPOCH, "value": token}])
        self._epoch = token

    # -- writes --------------------------------------------------------------------------------
    def write(self, batch: GraphBatch) -> None:
        for label in batch.nodes:
            S.node_type(label)
        for rel in list(batch.relationships) + list(batch.replace_outgoing):
            S.rel_type(rel)
        for rel, rows in batch.relationships.items():
            for row in rows:
                S.check_rel_row(rel, row)
        if batch.is_empty() and not any(batch.replace_outgoing.values()):
            return
        with self._transaction():
            self._wrote(sum(map(len, batch.nodes.values())) + sum(map(len, batch.relationships.values())))
            for model, model_id in batch.models.items():
                check_model_switch(self.get_meta(model_key(model)), model, model_id, switch=False)
            if batch.nodes.get("Product"):
                generation = self._bump_generation()
                rows = self._leave_out_derived(batch.nodes["Product"], batch.fusion)
                batch.nodes["Product"] = [{**row, "rev": generation} for row in rows]
            created: dict[str, set[str]] = {}
            for label in sorted(batch.nodes, key=NODE_WRITE_ORDER.index):
                created[label] = self._upsert_nodes(label, batch.nodes[label])
            for rel, src_ids in batch.replace_outgoing.items():
                self._delete_outgoing(rel, src_ids)
            for rel, rows in batch.relationships.items():
                spec = S.rel_type(rel)
                fresh = created.get(spec.src, set()) | set(batch.replace_outgoing.get(rel, ()))
                self._upsert_relationships(rel, rows, fresh)

    def _leave_out_derived(self, rows: Sequence[Mapping], fusion) -> list[dict]:
        """Inside a write: Product rows with fused_vec set to null where it is derivable exactly from
        the row's text_vec and lex_vec under the database's fusion weights (recorded from `fusion`,
        the batch's, when the database has none yet): see derived_fused.py.

        A row that changes text_vec or lex_vec without carrying fused_vec first gets the fused vector
        the product has now, so a derived one is not silently replaced by one of the new channels."""
        rows = [dict(row) for row in rows]
        weights = F.parse_weights(self.get_meta(F.FUSION_META))
        if weights is None and fusion is not None:
            weights = tuple(float(w) for w in fusion)
            self._upsert_nodes("Meta", [{"key": F.FUSION_META, "value": F.weights_text(weights)}])
        if weights is None:
            return rows
        pin = [r["id"] for r in rows if F.PROPERTY not in r and any(p in r for p in F.SOURCES)]
        if pin:
            got, vectors = self.get_vectors("Product", F.PROPERTY, pin)
            current = dict(zip(got, vectors))
            for r in rows:
                if r["id"] in current and F.PROPERTY not in r:
                    r[F.PROPERTY] = current[r["id"]]
        for r, derived in zip(rows, F.derivable(rows, weights, self.dims)):
            if derived:
                r[F.PROPERTY] = None
        return rows

    def _upsert_nodes(self, label: str, rows: Sequence[Mapping]) -> set[str]:
        """Upsert rows by key; returns the keys that were created. Inside a transaction."""
        node = S.node_type(label)
        by_key: dict[str, dict] = {}
        for row in rows:
            if row.get(node.key) in (None, ""):
                raise SchemaError(f"{label} row without its key {node.key!r}")
            by_key[str(row[node.key])] = {**by_key.get(str(row[node.key]), {}), **row}
        if not by_key:
            return set()
        columns = set().union(*(r.keys() for r in by_key.values()))
        S.check_properties(label, columns)
        existing = {r[0] for r in self._rows_raw(
            f"{_by_key(label, 'n')} RETURN n.{node.key}", {"ids": list(by_key)})}
        new_rows = [r for k, r in by_key.items() if k not in existing]
        if new_rows:
            self._copy_nodes(label, new_rows)
        old_rows = [r for k, r in by_key.items() if k in existing]
        for columns_key, group in _group_by_columns(old_rows).items():
            settable = [c for c in columns_key if c != node.key]
            if not settable:
                continue
            assignments = ", ".join(f"n.{c} = {self._cast(f'r.{c}', node.properties[c], c)}" for c in settable)
            for chunk in chunks(group, 500):
                self._run(f"UNWIND $rows AS r MATCH (n:{label} {{{node.key}: r.{node.key}}}) SET {assignments}",
                          {"rows": [plain(r) for r in chunk]})
        return {k for k in by_key if k not in existing}

    def _cast(self, expression: str, kind: str, name: str) -> str:
        """Explicit cast for UNWIND parameters: a column that is null in every row arrives untyped."""
        if kind == S.VECTOR:
            return f"CAST({expression} AS FLOAT[{self.dims.of(name)}])"
        return expression if kind == S.STRING else f"CAST({expression} AS {_DDL_TYPES[kind]})"

    def _copy_nodes(self, label: str, rows: Sequence[Mapping]) -> None:
        node = S.node_type(label)
        arrays = [self._column(name, kind, [r.get(name) for r in rows]) for name, kind in node.properties.items()]
        table = pa.table(arrays, names=list(node.properties))
        self._run(f"COPY {label} FROM $arrow_rows", {"arrow_rows": table})

    def _column(self, name: str, kind: str, values: list) -> pa.Array:
        if kind != S.VECTOR:
            return pa.array(values, type=_ARROW_TYPES[kind])
        dim = self.dims.of(name)
        present = np.array([v is not None for v in values])
        flat = np.zeros((len(values), dim), dtype=np.float32)
        for i, v in enumerate(values):
            if v is not None:
                flat[i] = np.asarray(v, dtype=np.float32).reshape(dim)
        mask = pa.array(~present) if not present.all() else None
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), dim, mask=mask)

    def _delete_outgoing(self, rel: str, src_ids: Sequence[str]) -> None:
        spec = S.rel_type(rel)
        key = S.node_type(spec.src).key
        for chunk in chunks(list(src_ids), 5000):
            self._run(f"{_by_key(spec.src, 'a')}-[r:{rel}]->(:{spec.dst}) DELETE r", {"ids": chunk})

    def _upsert_relationships(self, rel: str, rows: Sequence[Mapping], fresh_sources: set[str]) -> None:
        """Upsert by (src, dst, key properties); fresh_sources have no relationship of this type yet."""
        spec = S.rel_type(rel)
        src_key, dst_key = S.node_type(spec.src).key, S.node_type(spec.dst).key
        unique: dict[tuple, dict] = {}
        for row in rows:  # checked by write(): every row has src, dst and its key properties
            unique[(row["src"], row["dst"], *(row[k] for k in spec.key))] = dict(row)
        if not unique:
            return
        maybe_existing = [r for r in unique.values() if r["src"] not in fresh_sources]
        existing: set[tuple] = set()
        key_match = "".join(f" AND e.{k} = r.{k}" for k in spec.key)
        if not spec.key:
            # Unkeyed (a pair has one edge): the sources' edges are read by the sources' keys alone
            # and the pairs compared here. Matching the target by key inside the query as well
            # (`(b {key: r.dst})`) cost time per row that grew with the graph (0.09 ms at 20k
            # products, 0.45 ms at 200k: most of the 90 s of writing 80k SAME_AS edges at 100k x
            # 100k); by sources alone ~0.15 s per 10,000 (docs/benchmarks.md, Round 6).
            wanted = {(r["src"], r["dst"]) for r in maybe_existing}
            sources = sorted({r["src"] for r in maybe_existing})
            for chunk in chunks(sources, 10_000):
                found = self._rows_raw(
                    f"UNWIND $sources AS s MATCH (a:{spec.src} {{{src_key}: s}})-[e:{rel}]->(b:{spec.dst}) "
                    f"RETURN DISTINCT a.{src_key}, b.{dst_key}", {"sources": chunk})
                existing.update(pair for pair in map(tuple, found) if pair in wanted)
            maybe_existing = []
        for chunk in chunks(maybe_existing, 2000):
            found = self._rows_raw(
                f"UNWIND $rows AS r MATCH (a:{spec.src} {{{src_key}: r.src}})-[e:{rel}]->(b:{spec.dst} {{{dst_key}: r.dst}}) "
                f"WHERE true{key_match} RETURN DISTINCT r.src, r.dst" + "".join(f", r.{k}" for k in spec.key),
                # Only the matched fields: rows carrying different properties (an attribute with a
                # number beside one without) must not meet in one list parameter (LadybugDB infers
                # one struct type for a list and fails on mixed shapes).
                {"rows": [plain({p: r[p] for p in ("src", "dst", *spec.key)}) for r in chunk]})
            existing.update(tuple(f) for f in found)
        new_rows = [r for k, r in unique.items() if k not in existing]
        if new_rows:
            arrays = [pa.array([r["src"] for r in new_rows], pa.string()),
                      pa.array([r["dst"] for r in new_rows], pa.string())]
            arrays += [pa.array([r.get(p) for r in new_rows], _ARROW_TYPES[t]) for p, t in spec.properties.items()]
            table = pa.table(arrays, names=["from", "to", *spec.properties])
            self._run(f"COPY {rel} FROM $arrow_rows", {"arrow_rows": table})
        # An update sets only the properties its row carries (a review decision changes status and
        # keeps the score), so rows are grouped by which properties they have.
        groups: dict[tuple[str, ...], list[dict]] = {}
        for k, r in unique.items():
            if k in existing:
                groups.setdefault(tuple(p for p in spec.properties if p not in spec.key and p in r), []).append(r)
        for settable, updates in groups.items():
            if not settable:
                continue
            assignments = ", ".join(f"e.{p} = {self._cast(f'r.{p}', spec.properties[p], p)}" for p in settable)
            for chunk in chunks(updates, 500):
                self._run(
                    f"UNWIND $rows AS r MATCH (a:{spec.src} {{{src_key}: r.src}})-[e:{rel}]->(b:{spec.dst} {{{dst_key}: r.dst}}) "
                    f"WHERE true{key_match} SET {assignments}", {"rows": [plain(r) for r in chunk]})

    def delete_nodes(self, label: str, ids: Sequence[str]) -> int:
        node = S.node_type(label)
        with self._transaction():
            count = self._rows_raw(f"MATCH (n:{label}) WHERE n.{node.key} IN $ids RETURN count(n)", {"ids": list(ids)})[0][0]
            if count:
                self._run(f"MATCH (n:{label}) WHERE n.{node.key} IN $ids DETACH DELETE n", {"ids": list(ids)})
                if label == "Product":
                    self._bump_generation()
        return int(count)

    def retire_products(self, ids: Sequence[str]) -> tuple[int, int]:
        ids = list(ids)
        with self._transaction():
            found = self._rows_raw(
                "MATCH (p:Product) WHERE p.id IN $ids "
                "RETURN p.id, EXISTS { MATCH (p)-[:SAME_AS|DIFFERENT_FROM]-(:Product) }", {"ids": ids})
            drop = [i for i, decided in found if not decided]
            keep = [i for i, decided in found if decided]
            if not found:
                return 0, 0
            generation = self._bump_generation()
            if drop:
                self._run("MATCH (p:Product) WHERE p.id IN $ids DETACH DELETE p", {"ids": drop})
            if keep:
                for rel in S.PRODUCT_OWNED + ("ALSO_BOUGHT",):
                    self._delete_outgoing(rel, keep)
                self._run("MATCH (:Product)-[r:ALSO_BOUGHT]->(p:Product) WHERE p.id IN $ids DELETE r", {"ids": keep})
                self._run("MATCH (:User)-[r:INTERACTED]->(p:Product) WHERE p.id IN $ids DELETE r", {"ids": keep})
                nulls = ", ".join(f"p.{prop} = NULL" for prop in S.VECTOR_PROPERTIES)
                self._run(f"MATCH (p:Product) WHERE p.id IN $ids SET p.gone = true, p.content_hash = NULL, "
                          f"p.rev = $g, {nulls}", {"ids": keep, "g": generation})
        return len(drop), len(keep)

    def set_vectors(self, label: str, prop: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = check_vector_write(self.dims, VectorWrite(label, prop, ids, vectors))
        with self._transaction():
            self._wrote(len(ids))
            self._set_vectors(label, prop, ids, vectors, self._bump_generation())

    def write_model_vectors(self, model: str, model_id: str, writes: Sequence[VectorWrite], *,
                            switch: bool = True) -> None:
        checked = [(w, check_vector_write(self.dims, w)) for w in writes]
        with self._transaction():
            self._wrote(sum(len(w.ids) for w, _ in checked))
            check_model_switch(self.get_meta(model_key(model)), model, model_id, switch)
            generation = self._bump_generation()
            for write, vectors in checked:
                self._set_vectors(write.label, write.prop, write.ids, vectors, generation)
            self._upsert_nodes("Meta", [{"key": model_key(model), "value": model_id}])

    def _set_vectors(self, label: str, prop: str, ids: Sequence[str], vectors: np.ndarray, generation: int) -> None:
        """Inside a transaction: set one vector property of the given nodes (checked by the caller)."""
        key = S.node_type(label).key
        if label == "Product" and prop in F.SOURCES:
            # A derived fused_vec would follow the new channel: the products keep the one they have.
            pinned = self._leave_out_derived([{"id": i, prop: v} for i, v in zip(ids, vectors)], None)
            pinned = [r for r in pinned if r.get(F.PROPERTY) is not None]
            if pinned:
                self._set_vectors(label, F.PROPERTY, [r["id"] for r in pinned],
                                  np.stack([np.asarray(r[F.PROPERTY], dtype=np.float32) for r in pinned]), generation)
        # Products carry the revision the vector index syncs on; other labels are not indexed.
        stamp = ", n.rev = $g" if label == "Product" else ""
        ids = list(ids)
        for start in range(0, len(ids), 500):
            rows = [{"id": i, "v": v.tolist()} for i, v in zip(ids[start:start + 500], vectors[start:start + 500])]
            self._run(f"UNWIND $rows AS r MATCH (n:{label} {{{key}: r.id}}) "
                      f"SET n.{prop} = {self._cast('r.v', S.VECTOR, prop)}{stamp}",
                      {"rows": rows, "g": generation})

    # -- reads ---------------------------------------------------------------------------------
    def get_nodes(self, label: str, ids: Sequence[str], properties: Sequence[str] | None = None) -> list[dict]:
        node = S.node_type(label)
        if properties is None:
            properties = [p for p, t in node.properties.items() if t != S.VECTOR]
        S.check_properties(label, properties)
        returns = ", ".join(f"n.{p} AS {p}" for p in properties)
        rows = self._rows_raw(f"{_by_key(label, 'n')} RETURN n.{node.key} AS _key, {returns}",
                              {"ids": list(dict.fromkeys(ids))}, single=True)
        # plain rows, not Arrow: a search hydrates ~10 rows, where building a table costs more than the read
        found = {row[0]: dict(zip(properties, row[1:])) for row in rows}
        self._fill_derived(label, properties, found)
        return [found[i] for i in ids if i in found]

    def _fill_derived(self, label: str, properties: Sequence[str], rows: Mapping[str, dict]) -> None:
        """Rows (by key) read with their properties: a fused_vec that is null there because the
        store derives it (derived_fused.py) gets its value, as a list like a stored one."""
        if label != "Product" or F.PROPERTY not in properties:
            return
        missing = [key for key, row in rows.items() if row.get(F.PROPERTY) is None]
        if missing:
            got, vectors = self.get_vectors("Product", F.PROPERTY, missing)
            for key, vector in zip(got, vectors):
                rows[key][F.PROPERTY] = vector.tolist()

    def get_vectors(self, label: str, prop: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
        S.check_vector_property(prop)
        S.check_properties(label, [prop])
        if (label == "Product" and prop in INNER_PRODUCT_PROPERTIES and self._vectors.loaded(prop)
                and getattr(self._local, "conn", None) is None):
            # Reading wide list columns costs ~0.4 ms per product (a search's 20 results: ~8 ms); the
            # index mirror of these properties holds the exact stored vectors, synced to the current
            # write generation first.
            with self._synced_index(prop) as (index, _):
                return index.vectors(list(ids))
        node = S.node_type(label)
        unique = list(dict.fromkeys(ids))
        if label == "Product" and prop == F.PROPERTY:
            with self._reading():  # the fusion weights and the vectors from one snapshot
                has, extra, weights = self._vector_columns(label, prop, "n")
                query = f"{_by_key(label, 'n')} WHERE {has} RETURN n.{node.key} AS id, n.{prop} AS v{extra}"
                if len(unique) <= _PLAIN_ROWS_MAX:  # plain rows: see below
                    got_ids, matrix = self._plain_fused(self._rows_raw(query, {"ids": unique}), weights)
                else:
                    got_ids, matrix, _ = self._vectors_of(self._arrow(query, {"ids": unique}), prop, weights)
        else:
            query = f"{_by_key(label, 'n')} WHERE n.{prop} IS NOT NULL RETURN n.{node.key} AS id, n.{prop} AS v"
            if len(unique) <= _PLAIN_ROWS_MAX:
                # A search judges a few hundred candidates: plain rows read them 3x faster than building
                # an Arrow table, and a one-off CLI process skips 0.3 s of pyarrow.compute/pandas imports.
                rows = self._rows_raw(query, {"ids": unique}, single=True)
                got_ids = [row[0] for row in rows]
                matrix = np.asarray([row[1] for row in rows], dtype=np.float32).reshape(len(rows), self.dims.of(prop))
            else:
                got_ids, matrix = self._many_vectors(query, unique, self.dims.of(prop))
        position = {i: n for n, i in enumerate(got_ids)}
        order = [position[i] for i in ids if i in position]
        return [got_ids[n] for n in order], matrix[order]

    def _many_vectors(self, query: str, ids: list[str], dim: int) -> tuple[list[str], np.ndarray]:
        """(ids found, (n, dim) float32) of a get_vectors query over many ids. Outside a read or a write,
        past GET_APART_BYTES of vectors, through the scan's database of its own (_vector_reads, a pool
        of store.scan_pool_mb, closed at the end) in pages of ids each at most an eighth of that pool:
        read in the store's own pool, the pages stayed resident after the read (a matching run's two
        platforms at 10k listings a side: ~170 MB; the pool holds up to buffer_pool_mb). Inside a read
        or a write, or when the scan cannot open: the caller's snapshot, on its connection, as before."""
        row_bytes = 4 * dim + 64
        if getattr(self._local, "conn", None) is not None or len(ids) * row_bytes <= GET_APART_BYTES \
                or not self.store_config.scan_pool_mb:
            return _ids_and_matrix(self._arrow(query, {"ids": ids}), dim)
        parts = []
        with self._reading(), self._vector_reads():
            read, budget = self._vector_reader(len(ids) * row_bytes, apart_from=0)
            page = min(ARROW_CHUNK_ROWS, max(1000, budget // (8 * row_bytes))) if budget else len(ids)
            for lo in range(0, len(ids), page):
                parts.append(_ids_and_matrix(read(query, {"ids": ids[lo:lo + page]}), dim))
        return [i for got, _ in parts for i in got], np.concatenate([matrix for _, matrix in parts])

    def _vector_columns(self, label: str, prop: str, var: str) -> tuple[str, str, tuple | None]:
        """Inside a read: (the condition that `var` has prop, the extra RETURN columns, the fusion
        weights) for reading prop; weights is None unless prop is a fused_vec this database may derive,
        whose readers then also return text_vec AS t and lex_vec AS l (derived_fused.py)."""
        weights = None
        if label == "Product" and prop == F.PROPERTY:
            weights = F.parse_weights(self.get_meta(F.FUSION_META))
        if weights is None:
            return f"{var}.{prop} IS NOT NULL", "", None
        return (f"({var}.{prop} IS NOT NULL OR ({var}.text_vec IS NOT NULL AND {var}.lex_vec IS NOT NULL))",
                f", {var}.text_vec AS t, {var}.lex_vec AS l", weights)

    def _plain_fused(self, rows: list[list], weights) -> tuple[list[str], np.ndarray]:
        """(ids, (n, dims.fused) float32) from plain rows [id, v] or [id, v, t, l] (see _vector_columns)."""
        matrix = np.zeros((len(rows), self.dims.fused), dtype=np.float32)
        derive = [n for n, row in enumerate(rows) if row[1] is None]
        for n, row in enumerate(rows):
            if row[1] is not None:
                matrix[n] = row[1]
        if derive:
            matrix[derive] = F.derive(np.asarray([rows[n][2] for n in derive], dtype=np.float32),
                                      np.asarray([rows[n][3] for n in derive], dtype=np.float32), weights, self.dims)
        return [row[0] for row in rows], matrix

    def _vectors_of(self, table: pa.Table, prop: str, weights) -> tuple[list[str], np.ndarray, list[str]]:
        """(ids, (n, width) float32 vectors, ids without one) of a table of id, v[, t, l] columns: the
        stored vectors, then the derived ones (fused_vec rows with v null, t and l set, when weights)."""
        import pyarrow.compute as pc  # here, not at import: a CLI search never needs it (0.1 s)

        has = table.column("v").is_valid()
        ids, matrix = _ids_and_matrix(table.filter(has), self.dims.of(prop))
        rest = table.filter(pc.invert(has))
        if weights is None or rest.num_rows == 0:
            return ids, matrix, rest.column("id").to_pylist()
        can = pc.and_(rest.column("t").is_valid(), rest.column("l").is_valid())
        nulled = rest.filter(pc.invert(can)).column("id").to_pylist()
        rest = rest.filter(can)
        derived_ids, text = _ids_and_matrix(rest.select(["id", "t"]).rename_columns(["id", "v"]), self.dims.text)
        _, lexical = _ids_and_matrix(rest.select(["id", "l"]).rename_columns(["id", "v"]), self.dims.lexical)
        if not derived_ids:
            return ids, matrix, nulled
        derived = F.derive(text, lexical, weights, self.dims)
        return ids + derived_ids, np.concatenate([matrix, derived]), nulled

    def product_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        rows = self._rows_raw(f"{_by_key('Product', 'p')} RETURN p.id, p.content_hash", {"ids": list(ids)})
        return {i: h for i, h in rows if h is not None}

    def count_nodes(self, label: str) -> int:
        S.node_type(label)
        return int(self._rows_raw(f"MATCH (n:{label}) RETURN count(n)")[0][0])

    def count_relationships(self, rel: str) -> int:
        spec = S.rel_type(rel)
        return int(self._rows_raw(f"MATCH (:{spec.src})-[r:{rel}]->(:{spec.dst}) RETURN count(r)")[0][0])

    def iter_nodes(self, label: str, properties: Sequence[str], batch_size: int = 10000) -> Iterator[list[dict]]:
        node = S.node_type(label)
        S.check_properties(label, properties)
        returns = "".join(f", n.{p} AS {p}" for p in properties)
        table = self._arrow(f"MATCH (n:{label}) RETURN n.{node.key} AS _key{returns} ORDER BY n.{node.key}")
        for batch in table.to_batches(max_chunksize=batch_size):
            rows = batch.to_pylist()
            keys = [row.pop("_key") for row in rows]
            self._fill_derived(label, properties, dict(zip(keys, rows)))
            yield rows

    def relationship_pairs(self, rel: str, properties: Sequence[str] = ()) -> list[dict]:
        spec = S.rel_type(rel)
        S.check_rel_properties(rel, properties)
        src_key, dst_key = S.node_type(spec.src).key, S.node_type(spec.dst).key
        extra = "".join(f", r.{p} AS {p}" for p in properties)
        return self._arrow(f"MATCH (a:{spec.src})-[r:{rel}]->(b:{spec.dst}) "
                           f"RETURN a.{src_key} AS src, b.{dst_key} AS dst{extra}").to_pylist()

    # -- vector source (for IndexedVectors) -------------------------------------------------
    def vectors_changed_since(self, prop: str, revision: int) -> Iterable[tuple[list[str], np.ndarray, list[str]]]:
        """Batches of the changed products, each page read by its own query (one snapshot: the
        caller's read): LadybugDB materialises a whole result before its first row is read, so one
        query over a million 2176-d fused vectors would hold 8.7 GB at once. Few changes (an
        incremental sync) are read in one query; many (a build) page through node offsets, inside an
        index sync through a database of their own with a small pool (_vector_reader)."""
        changed = self._rows_raw("MATCH (p:Product) WHERE p.rev > $rev RETURN count(p), max(offset(id(p)))",
                                 {"rev": revision})[0]
        if not changed[0]:
            return
        weights = self._vector_columns("Product", prop, "p")[2]
        select = f"RETURN p.id AS id, p.{prop} AS v" + (", p.text_vec AS t, p.lex_vec AS l" if weights else "")
        row_bytes = self._vector_row_bytes(prop, weights)
        read, budget = self._vector_reader(int(changed[0]) * row_bytes)
        # in a small pool a page's result (materialised there) takes at most an eighth of it
        page_rows = min(ARROW_CHUNK_ROWS, max(1000, budget // (8 * row_bytes))) if budget else ARROW_CHUNK_ROWS
        if revision >= 0 and changed[0] <= _KEYED_CHANGES_MAX:
            # few changes since a sync (not a build): their ids (no vector column read), then their
            # rows by key, in this snapshot
            keys = read("MATCH (p:Product) WHERE p.rev > $rev RETURN p.id AS id", {"rev": revision})
            pages = [(f"{_by_key('Product', 'p')} {select}", {"ids": keys.column("id").to_pylist()})]
        elif changed[0] <= page_rows:
            pages = [(f"MATCH (p:Product) WHERE p.rev > $rev {select}", {"rev": revision})]
        else:
            pages = ((f"MATCH (p:Product) WHERE {where} {select}", params)
                     for where, params in _offset_pages(int(changed[1]), page_rows, " AND p.rev > $rev",
                                                        {"rev": revision}))
        for query, params in pages:
            part = read(query, params)
            if part.num_rows == 0:
                continue
            ids, matrix, nulled = self._vectors_of(part, prop, weights)
            del part  # the page's Arrow copy goes before the next page is read
            yield ids, matrix, nulled

    def product_pages(self, revision: int, page_rows: int) -> list[tuple[str, dict]] | None:
        """Node-offset ranges when many products changed. LadybugDB finds a product by key with an
        index lookup and random page reads: a full lexical sync at 1M products read its documents at
        2.24 ms a product that way, and 0.09 in offset pages of 20,000 (bench.lexical_sync). A page
        is not a range read: LadybugDB scans the whole table and filters the offsets, so a page costs
        about a scan, and pages pay only when the changes are dense: more than one page of them and
        more than _PAGES_PAY of the table (where the two costs measured at 1M cross). The pages are
        at least page_rows long and at most _MAX_PAGES of them (longer pages on larger tables), so a
        full read scans the table a bounded number of times, not once per 20,000 products."""
        rev = "" if revision < 0 else " AND p.rev > $rev"
        count, top = self._rows_raw(f"MATCH (p:Product) WHERE true{rev} RETURN count(p), max(offset(id(p)))",
                                    {"rev": revision} if rev else None)[0]
        if not count or count <= page_rows:
            return None
        table = int(self._rows_raw("MATCH (p:Product) RETURN max(offset(id(p)))")[0][0]) + 1  # offsets to scan
        if count < _PAGES_PAY * table:
            return None
        return _offset_pages(int(top), max(page_rows, -(-table // _MAX_PAGES)), rev,
                             {"rev": revision} if rev else {})

    def count_with_vector(self, prop: str) -> int:
        """Products with prop: all of them less those without it. Every sync asks (products deleted by
        any Cypher show only here); LadybugDB answers `IS NOT NULL` on a vector column by reading the
        column (100k: +183 MB of pool, 456 ms) and `IS NULL` from its null marks (+3 MB, 48 ms)."""
        with self._reading():
            lacks = self._lacks_vector(prop, "p")
            return self._products() - int(self._rows_raw(f"MATCH (p:Product) WHERE {lacks} RETURN count(p)")[0][0])

    def ids_with_vector(self, prop: str) -> set[str]:
        """Ids of the products with prop: every id less those without it (see count_with_vector)."""
        with self._reading():
            lacks = self._lacks_vector(prop, "p")
            every = set(self._arrow("MATCH (p:Product) RETURN p.id AS id", {}).column("id").to_pylist())
            return every - set(self._arrow(f"MATCH (p:Product) WHERE {lacks} RETURN p.id AS id", {})
                               .column("id").to_pylist())

    def _lacks_vector(self, prop: str, var: str) -> str:
        """Inside a read: the condition that `var` has no prop (the negation of _vector_columns' condition),
        written with IS NULL only: LadybugDB reads a vector column's values to test IS NOT NULL (or NOT of
        it), not to test IS NULL."""
        if self._vector_columns("Product", prop, var)[2] is None:
            return f"{var}.{prop} IS NULL"
        return f"({var}.{prop} IS NULL AND ({var}.text_vec IS NULL OR {var}.lex_vec IS NULL))"

    def _products(self) -> int:
        return int(self._rows_raw("MATCH (p:Product) RETURN count(p)")[0][0])

    def _vector_row_bytes(self, prop: str, weights) -> int:
        """Bytes one product's row of prop takes when read: its vectors (float32; a derivable fused_vec
        also reads text and lexical) and an id."""
        return 4 * (self.dims.of(prop) + (self.dims.text + self.dims.lexical if weights else 0)) + 64

    # -- reading many vectors apart from the store's pool -------------------------------------------
    @contextmanager
    def _vector_reads(self) -> Iterator[None]:
        """Inside a read, for the block: large reads of vector columns by this thread (an index
        build's scan, and the counts and ids a sync checks: LadybugDB reads a vector column's pages
        even to test it for null) go through one read-only database with a pool of
        `store.scan_pool_mb`, opened at the first such read and closed (its pool freed) at the end.

        Why: every page LadybugDB reads stays in the database's buffer pool until the pool is full,
        and a build reads every vector: at 1M products it filled the store's 2 GB pool beside the
        1.5 GB index being built (4.2 GB, docs/benchmarks.md "The 1M run")."""
        state = {"reader": None}
        self._local.vector_reads = state
        try:
            yield
        finally:
            self._local.vector_reads = None
            if state.get("close"):
                state["close"]()

    def _vector_reader(self, nbytes: int, apart_from: int | None = None) -> tuple[Callable[[str, Mapping], pa.Table], int]:
        """Inside a read: (a function running one read query to Arrow, the pool in bytes it reads
        through, 0 for the store's own) for reading about `nbytes` of vectors (see _vector_reads): apart
        past `apart_from` bytes (default: SCAN_APART_FRACTION of store.scan_pool_mb).

        The scan's database must see the caller's snapshot: it is opened under the access lock (no
        commit runs while it opens) and used only when its write generation and database id are the
        caller's; otherwise (a commit came between the caller's read and this open) the store's own
        connection reads, as small reads and reads outside _vector_reads always do."""
        own = (lambda query, params: self._arrow(query, params)), 0
        state = getattr(self._local, "vector_reads", None)
        pool_mb = self.store_config.scan_pool_mb
        if apart_from is None:
            apart_from = pool_mb * 1024 * 1024 * SCAN_APART_FRACTION
        if state is None or not pool_mb or nbytes <= apart_from:
            return own
        if state["reader"] is None:
            state["reader"] = self._open_scan(pool_mb, state) or own
        return state["reader"]

    def _open_scan(self, pool_mb: int, state: dict):
        meta = self.get_metas(("generation", EPOCH))
        expected = (meta["generation"] or "0", self._identity(), meta[EPOCH])
        # A read-only store's read holds the access lock already (this thread); the writer's own
        # reads do not, and its commits on other threads must wait while the database opens.
        hold = nullcontext() if self.read_only else self._access.reading()
        database = connection = None
        try:
            with hold:
                database = open_database(self.path, read_only=True, checkpoint_bytes=1 << 30, connections=1,
                                         buffer_pool_bytes=pool_mb * 1024 * 1024)
            connection = connect(database)
            meta = dict(connection.execute("MATCH (m:Meta) WHERE m.key IN ['generation', $id, $epoch] "
                                           "RETURN m.key, m.value", {"id": DATABASE_ID, "epoch": EPOCH}).get_all())
            seen = (meta.get("generation") or "0", meta.get(DATABASE_ID), meta.get(EPOCH))
        except (StoreError, RuntimeError) as e:  # e.g. a second open refused: read as before
            log.info("reading vectors through the store's own pool: %s", one_line(e))
            seen = None
        if seen != expected:
            if seen is not None:
                log.info("the graph changed before its vectors could be read apart: reading them in the snapshot")
            _close_scan(connection, database)
            return None

        def read(query: str, params: Mapping) -> pa.Table:
            if self.trace is not None:
                self.trace(query, params)
            try:
                return connection.execute(query, dict(params)).get_as_arrow(ARROW_CHUNK_ROWS)
            except RuntimeError as e:
                raise StoreError(f"query failed: {one_line(e)}") from e

        def close() -> None:
            _close_scan(connection, database)
            native_memory.release()  # the closed database's result pages go back to the system

        state["close"] = close
        return read, pool_mb * 1024 * 1024

    # -- queries -------------------------------------------------------------------------------
    def vector_search(self, prop: str, vector: np.ndarray, k: int, *, filters: Filters | None = None,
                      where: str | None = None, params: Mapping[str, Any] | None = None,
                      label: str = "Product", exact: bool = False) -> list[tuple[str, float]]:
        """See GraphStore.vector_search. exact=True scores every candidate with Cypher's
        array_cosine_similarity on the stored vectors instead of the index mirror."""
        self._local.searched = None  # set again by the index this search uses (search_version)
        query_vector = checked_query_vector(self.dims, prop, vector, label)
        if k <= 0:
            return []
        filtered = where is not None or (filters is not None and not filters.is_empty())
        if exact:
            return self._exact_search(prop, query_vector, k, filters, where, params)
        filter_args = (filters, where, params) if filtered else None
        for attempt in (1, 2):
            try:
                with self._synced_index(prop, filter_args) as (index, allowed):
                    if allowed is not None and len(allowed) == 0:
                        return []
                    return index.search(query_vector, k, allowed=allowed)
            except IndexDamaged:
                if attempt == 2:
                    raise
                with self._vectors.locked(prop):
                    self._vectors.drop_damaged(prop)  # the next try builds it from the graph

    @contextmanager
    def vector_index(self, prop: str):
        """The ANN index of a Product vector property, synced to the graph, held for the block (for
        checks and tools; searches go through vector_search)."""
        with self._synced_index(prop) as (index, _):
            yield index

    @contextmanager
    def _synced_index(self, prop: str, filter_args: tuple | None = None):
        """(the index of prop synced to the graph, the prepared candidate filter or None), held for the
        block. Syncing and the candidate query are one consistent read; the block (the search itself,
        and saving the index when due) runs after that read has ended, so a long index build or save
        never keeps the writer of another process waiting. The per-property lock is taken before the
        read, never inside one: a thread waiting for it holds no access lock."""
        if getattr(self._local, "conn", None) is not None:
            raise StoreError("internal: the vector index is used inside a read or write")
        with self._vectors.locked(prop):
            pinned = self._pinned()
            if pinned is not None and filter_args is None:
                # Inside pinned_meta: an index already current at the pinned version needs no read.
                version = GraphVersion(pinned.get(DATABASE_ID), int(pinned.get("generation") or 0), pinned.get(EPOCH))
                index = self._vectors.current(prop, version)
                if index is not None:
                    self._local.searched = (version.source, version.generation, version.epoch)
                    yield index, None
                    return
            # the graph's version read afresh: a pin older than an index another thread synced since
            # must not make this one rebuild it back
            with self.unpinned(), self._reading(), self._vector_reads():
                version = GraphVersion(self._identity(), *self._generation_and_epoch())
                index = self._vectors.index(prop, version, lambda: self.get_meta(EPOCHS))
                searched = (version.source, version.generation, version.epoch)
                allowed = None if filter_args is None else self._candidates(prop, index, searched, *filter_args)
            self._local.searched = searched
            yield index, allowed
            self._vectors.persist(prop)

    def _generation_and_epoch(self) -> tuple[int, str | None]:
        """Inside a read: (write generation, current write epoch), one statement (a search's version
        read when no pin serves it; bench/mirror_state.py times it against the read before epochs)."""
        meta = self.get_metas(("generation", EPOCH))
        return int(meta["generation"] or 0), meta[EPOCH]

    def search_version(self) -> tuple[str | None, int, str | None] | None:
        """See GraphStore.search_version: set by _synced_index (the index it yields is synced to exactly
        that version, and a filter's candidates are read in the same read)."""
        return getattr(self._local, "searched", None)

    def _identity(self) -> str | None:
        """Inside a read: the database's id (Meta database_id; None for a database made before ids
        existed and opened read-only since). Read once per session; a read-only store also checks
        there that a database re-made at the same path kept the vector widths."""
        session = self._session()
        if session.database_id is Session.UNREAD:
            meta = self._meta()
            stored = self._stored_dims(meta)
            if stored != self.dims:
                raise SchemaError(f"{self.path} was replaced by a database with other vector widths "
                                  f"({stored}); open it again")
            session.database_id = meta.get(DATABASE_ID)
            if session.database_id is None:
                log.info("%s has no database id yet (made by an older shopgraph): its vector index is "
                         "kept in memory only until the database is opened read-write once", self.path)
        return session.database_id

    def _candidates(self, prop: str, index, version: tuple, filters, where, params):
        """The filter's candidate ids, prepared for the index (an IdFilter).

        Filters repeat (facets: a brand, a category), and for a broad one the Cypher query and turning
        thousands of string ids into index rows cost far more than the search, so prepared filters are
        kept per (property, query, parameters) and dropped when the graph (its id and write generation:
        `version`) changes.
        """
        query, bound = candidate_query(filters, where, params)
        try:
            key = (prop, query, repr(sorted(bound.items())))
            hash(key)
        except TypeError:
            key = None
        with self._filter_lock:
            if version != self._filter_key:
                self._filter_cache.clear()
                self._filter_key = version
            if key is not None and key in self._filter_cache:
                self._filter_cache.move_to_end(key)
                return self._filter_cache[key]
        prepared = index.id_filter(self._arrow(query, bound).column("id").to_pylist())
        with self._filter_lock:
            if key is not None and version == self._filter_key:
                self._filter_cache[key] = prepared
                while len(self._filter_cache) > FILTER_CACHE_SIZE:
                    self._filter_cache.popitem(last=False)
        return prepared

    def _exact_search(self, prop, query_vector, k, filters, where, params) -> list[tuple[str, float]]:
        query, bound = candidate_query(filters, where, params)
        if prop == F.PROPERTY:
            with self._reading():
                if self._vector_columns("Product", prop, "p")[2] is not None:
                    return self._exact_derived(prop, query_vector, k, query, bound, filters, where)
        # Same scoring as the index: inner product for fused vectors, cosine for the others.
        score = "array_inner_product" if prop in INNER_PRODUCT_PROPERTIES else "array_cosine_similarity"
        query = query.replace("RETURN DISTINCT p.id AS id",
                              f"WITH DISTINCT p WHERE p.{prop} IS NOT NULL "
                              f"RETURN p.id AS id, {score}(p.{prop}, $_q) AS score "
                              f"ORDER BY score DESC, id LIMIT $_k")
        bound.update({"_q": query_vector.tolist(), "_k": int(k)})
        return [(i, float(s)) for i, s in self._rows_raw(query, bound)]

    def _exact_derived(self, prop, query_vector, k, query, bound, filters, where) -> list[tuple[str, float]]:
        """Inside a read: exact inner-product search of a fused_vec that may be derived (Cypher sees a
        derived vector as null, so the vectors are read page by page and scored here; at most
        ARROW_CHUNK_ROWS of them are held at once). Same order as the Cypher path: score, then id."""
        filtered = where is not None or (filters is not None and not filters.is_empty())
        allowed = set(self._arrow(query, bound).column("id").to_pylist()) if filtered else None
        best: list[tuple[float, str]] = []
        for ids, matrix, _ in self.vectors_changed_since(prop, -(2 ** 62)):
            if allowed is not None:
                keep = [n for n, i in enumerate(ids) if i in allowed]
                ids, matrix = [ids[n] for n in keep], matrix[keep]
            if not ids:
                continue
            scores = matrix @ query_vector
            top = range(len(ids))
            if len(ids) > k:  # the k best and every tie of the k-th, so the id order decides among them
                top = np.nonzero(scores >= np.partition(scores, len(ids) - k)[len(ids) - k])[0]
            best = sorted(best + [(-float(scores[n]), ids[n]) for n in top])[:k]
        return [(i, -s) for s, i in best]

    def cypher(self, query: str, params: Mapping[str, Any] | None = None, *, allow_write: bool = False,
               timeout: float | None = None, max_rows: int | None = None) -> Rows:
        if not allow_write:
            ensure_read_only(query)
        elif self.read_only:
            raise ReadOnlyError(f"{self.path} is open read-only")
        if timeout is not None and not timeout > 0:
            raise BadArgumentError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if allow_write:
            with self._writing_statement():
                rows = self._cypher_rows(query, params, timeout, max_rows)
            self._after_cypher_write()
            return rows
        with self._reading():  # its own connection: other reads go on beside it
            return self._cypher_rows(query, params, timeout, max_rows)

    def _cypher_rows(self, query, params, timeout: float | None, max_rows: int | None) -> Rows:
        connection = self._local.conn
        if timeout is not None:
            # LadybugDB checks the limit between units of work, so a query stops shortly after it.
            connection.set_query_timeout(max(1, int(timeout * 1000)))
        try:
            result = self._run(query, params)
            if isinstance(result, list):
                raise StoreError("send one statement per call")
            # Rows become dicts one at a time: stop after max_rows (+1 to tell).
            return take_rows(result.rows_as_dict(), max_rows, dict)
        except StoreError as e:
            if timeout is not None and "Interrupted" in str(e):
                raise QueryTimeoutError(f"query stopped at its time limit of {timeout:g} s") from None
            raise
        finally:
            if timeout is not None:
                connection.set_query_timeout(0)  # 0: no limit for the store's own queries

    @contextmanager
    def _writing_statement(self):
        """A statement that commits by itself (a write query from cypher()) on the writer's connection,
        with other processes' reads kept out while it runs."""
        if getattr(self._local, "group", None) is not None:
            raise StoreError("internal: a write query inside grouped writes")
        with self._write_lock:
            if self._closed:
                raise StoreError(f"{self.path} is closed")
            self._local.conn = self._write_conn
            self._drop_pin()
            try:
                with self._access.writing():
                    yield
            finally:
                self._local.conn = None
                self._renew_write_connection()
                self._release_memory(self._rows_unreleased)

    def _after_cypher_write(self) -> None:
        """A write query may have changed any product: stamp them all with a new generation, so every
        reader (in this process or another) re-syncs its indexes and drops its prepared filters.
        Unchanged vectors keep their index slots, so this costs a read of the vectors, not a rebuild."""
        with self._transaction():
            generation = self._bump_generation()
            self._run("MATCH (p:Product) SET p.rev = $g", {"g": generation})


class _Group:
    """grouped_writes() state of one thread: open = its transaction is open."""

    __slots__ = ("open", "failed", "rows")

    def __init__(self):
        self.open = False
        self.failed = False  # a write failed and rolled the open transaction back
        self.rows = 0  # rows written in its open transaction (see EmbeddedStore._release_memory)


_PLAIN_ROWS_MAX = 1024  # get_vectors: up to this many ids are read as plain rows, more through Arrow


def _offset_pages(top: int, page_rows: int, extra: str, params: Mapping) -> list[tuple[str, dict]]:
    """Predicates over `p` (with their parameters) splitting the node offsets 0..top into ranges of
    page_rows, each ANDed with `extra` (whose parameters are in params). Not range reads: LadybugDB
    scans the table and filters the offsets, so each costs about a scan."""
    return [(f"offset(id(p)) >= $lo AND offset(id(p)) < $hi{extra}", {**params, "lo": lo, "hi": lo + page_rows})
            for lo in range(0, top + 1, page_rows)]


def _close_scan(connection, database) -> None:
    """Close a scan's connection and database (either may be None), logging failures: the vectors
    were read, and closing a read-only database writes nothing."""
    for thing in (connection, database):
        if thing is not None:
            try:
                thing.close()
            except Exception as e:
                log.debug("closing the vector scan's database: %s", e)


def _by_key(label: str, var: str) -> str:
    """`UNWIND $ids ... MATCH (var:label {key: ...})`: nodes by primary key, one index lookup per id.
    LadybugDB answers `WHERE n.key IN $ids` by scanning the whole table (64 ms for 2 ids among 100k
    products, 0.6 ms this way), which made every search's hydration and every ingest batch's
    existence check grow with the graph."""
    return f"UNWIND $ids AS _key_value MATCH ({var}:{label} {{{S.node_type(label).key}: _key_value}})"


def _ids_and_matrix(table: pa.Table, dim: int) -> tuple[list[str], np.ndarray]:
    ids = table.column("id").to_pylist()
    if not ids:
        return [], np.zeros((0, dim), dtype=np.float32)
    values = table.column("v").combine_chunks()
    matrix = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(ids), dim)
    return ids, matrix


def _group_by_columns(rows: Sequence[Mapping]) -> dict[tuple[str, ...], list[Mapping]]:
    groups: dict[tuple[str, ...], list[Mapping]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups

