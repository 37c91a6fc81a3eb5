"""Result cards: the fields a search result shows, mirrored outside the database for hydration.

A search's k hits are turned into `Product`s by reading their shown fields (hydrate.PRODUCT_FIELDS).
Read from LadybugDB, a hit never read before in the process costs its primary-key lookup and a page
per column (~1 ms for 10 hits at 100k, most of an API call whose store call takes ~1 ms:
docs/benchmarks.md, "At 100k the store outran the API bar"). The cards keep those fields, one JSON
list per product, in a SQLite table keyed by product id (`<db>.index/cards.sqlite`): 10 ids cost one
B-tree lookup each in a small file.

The card file follows the graph like the lexical index (shopgraph/search/lexical_sync.py):
- identity: the database id and schema version, and the revision (write generation) whose products
  the rows hold with its write epoch (shopgraph/graph/mirror_state.py), written in the same SQLite
  transaction as the rows. A sync that needs several transactions marks the file `pending` in its
  first and clears it in its last, so a reader never
  takes rows of a half-done sync for a revision (a process killed mid-sync leaves it pending; the
  next sync resumes from the revision, upserts being idempotent).
- sync: every write that touches products stamps them with `rev` (a Cypher write restamps all), so a
  sync re-reads the products with rev > revision (pages when dense, by key otherwise, like
  GraphDocs.changed_since), upserts their cards (tombstoned products too: `get_nodes` returns them),
  drops the cards of products no longer in the graph (when the counts differ) and sets the revision.
- who writes: the read-write process (before a search when the change is small, and when the graph
  closes). A read-only process only reads, and only a file of this database at exactly the
  generation its search's hits come from; anything else (no file, another database, stale, pending,
  unreadable, an id without a card) is read from the graph, as before the cards.
- a writer rebuilds a file the rule shared by every mirror (mirror_state.fault) refuses: of another
  database, of a generation newer than the graph, of a write epoch the graph's history does not hold
  (a database restored from an older copy, whatever generation its new writes reached); or unreadable.

Card values are what `get_nodes` gives (str, float, bool, list or None), so a card and a graph read
make the same Product. JSON keeps float prices as floats (NaN and infinities included).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from dataclasses import fields
from pathlib import Path
from typing import Iterator, Sequence

from shopgraph.graph.mirror_state import EPOCHS, GraphVersion, changed_products, fault, rebuild_note, resync_point
from shopgraph.queries.results import Product

log = logging.getLogger(__name__)

FILE = "cards.sqlite"  # inside <db>.index/
# the card layout: a JSON list of the shown fields' values in order; named by those fields, so a card
# file written before a field was added, removed or moved is another format (rebuilt, never misread)
FORMAT = "1:" + ",".join(f.name for f in fields(Product))
BATCH = 2000  # products read by key per batch
PAGE = 20_000  # products per page when the store reads them by scanning (product_pages)
# a writer syncs before a search only when at most this many products changed: read by key, each costs
# up to ~2 ms at 1M products (docs/benchmarks.md, the lexical sync), all inside that search
CHEAP = 500


def card_path(store_path: str | Path | None) -> Path | None:
    """Where the card file of the graph at store_path lives (None: an in-memory graph)."""
    return None if store_path is None else Path(f"{store_path}.index") / FILE


def _fields() -> tuple[str, ...]:
    from shopgraph.queries.hydrate import PRODUCT_FIELDS

    return PRODUCT_FIELDS


def encode(row: dict) -> str:
    """A get_nodes row (the shown fields) -> its card text."""
    return json.dumps([row.get(f) for f in _fields()], ensure_ascii=False, separators=(",", ":"))


def decode(card: str) -> dict:
    return dict(zip(_fields(), json.loads(card)))


class CardFile:
    """The SQLite card file: table meta(key, value) and cards(id, card) WITHOUT ROWID.

    meta keys: format, identity (database id / schema version), revision (int), epoch (its write
    epoch, "" for none), pending ("1" while a sync spanning several transactions runs). Readers use
    one connection per thread (sqlite3 connections are not shared across threads); the writer one of
    its own."""

    def __init__(self, path: Path, read_only: bool):
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        # every live thread's connection, closed together by close(); held weakly through its _Held, so
        # a thread that ends (a server's idle worker) takes its connection with it instead of leaking it
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit). A reader whose file
        was replaced since it connected (a writer rebuilt it: another inode) connects again, so it
        reads the new file rather than the deleted one."""
        held = getattr(self._local, "held", None)
        conn = None if held is None else held.conn
        if conn is not None and self.read_only and held.inode != _inode(self.path):
            self.close_mine()
            conn = None
        if conn is None:
            if self.read_only:
                # a URI needs an absolute path (a database opened by a relative one, as the CLI does)
                # timeout 0: a card read never waits for the writer (it reads the graph instead)
                conn = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=0)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
                conn.execute("PRAGMA synchronous=NORMAL")  # a commit is atomic against a killed process
                conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID")
                conn.execute("CREATE TABLE IF NOT EXISTS cards(id TEXT PRIMARY KEY, card TEXT NOT NULL) WITHOUT ROWID")
            held = _Held(conn, _inode(self.path))
            self._local.held = held
            with self._all_lock:
                self._all.add(held)
        return conn

    def close(self) -> None:
        """Close every thread's connection. The writer's last act puts the file back in rollback
        mode (checkpointing and removing the -wal and -shm files): a read-only connection to a WAL
        file creates those files and cannot remove them, so readers of a closed writer's file would
        otherwise leave them beside the database. The writer's next connection turns WAL on again
        (if a reader holds the file then, it stays in rollback mode for that writer: a commit then
        waits for the readers' short reads, and readers, never waiting, read the graph meanwhile)."""
        with self._all_lock:
            conns, self._all = [h.conn for h in self._all if h.conn is not None], weakref.WeakSet()
        held = getattr(self._local, "held", None)
        mine = None if held is None else held.conn
        for conn in conns:
            if conn is not mine:
                conn.close()
        if mine is not None:
            if not self.read_only:
                try:
                    mine.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass  # a reader holds it: the WAL files stay until a later close
            mine.close()
        self._local = threading.local()

    def close_mine(self) -> None:
        """Close this thread's connection (after an error on it)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            with self._all_lock:
                self._all.discard(held)
            held.close()
            self._local.held = None

    def meta(self, conn: sqlite3.Connection) -> dict[str, str]:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())

    def read(self, ids: Sequence[str], identity: str | None, database_id: str | None,
             generation: int, epoch: str | None) -> dict[str, dict] | None:
        """{id: row} of the ids that have a card, when the file holds exactly this database (by its
        identity, or by database id when identity is None) at `generation` of write epoch `epoch`,
        read in one transaction with the revision; else None."""
        conn = self.connect()
        conn.execute("BEGIN")
        try:
            meta = self.meta(conn)
            if not _describes(meta, identity, database_id, generation, epoch):
                return None
            unique = list(dict.fromkeys(ids))
            marks = ",".join("?" * len(unique))
            rows = conn.execute(f"SELECT id, card FROM cards WHERE id IN ({marks})", unique).fetchall()
        finally:
            conn.execute("COMMIT")
        return {i: decode(card) for i, card in rows}


class _Held:
    """One thread's connection and the inode of the file it opened. Kept by the thread (its
    threading.local) and weakly by CardFile._all: when the thread ends, this goes and closes it."""

    __slots__ = ("conn", "inode", "__weakref__")

    def __init__(self, conn: sqlite3.Connection, inode: int | None):
        self.conn, self.inode = conn, inode

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown or a connection already gone
            pass


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _describes(meta: dict, identity: str | None, database_id: str | None, generation: int,
               epoch: str | None) -> bool:
    if meta.get("format") != FORMAT or meta.get("pending") == "1" or meta.get("revision") != str(generation):
        return False
    if (meta.get("epoch") or None) != epoch:
        return False
    if identity is not None:
        return meta.get("identity") == identity
    return database_id is not None and meta.get("database_id") == database_id


class CardMirror:
    """The card file of one graph: read for hydration, synced by a read-write process.

    store: the GraphStore (only stores that report their search's version, `search_version`, use
    cards); path: the card file; read_only: this process must not write it."""

    def __init__(self, store, path: Path, read_only: bool):
        self.store = store
        self.file = CardFile(path, read_only)
        self.read_only = read_only
        self._lock = threading.Lock()  # one sync at a time
        self._not_now: tuple | None = None  # a (generation, epoch) whose change a writer left for its close
        self._broken: tuple | None = None  # ((generation, epoch), file signature) at which a reader found it unreadable

    # -- reading ----------------------------------------------------------------------------------
    def products(self, ids: Sequence[str], version: tuple | None) -> dict[str, Product] | None:
        """{id: Product} of the ids from the cards when they hold the version the hits come from
        (version: (identity or None, database id or None, generation, write epoch)), else None; ids
        without a card are left out (the caller reads them from the graph). A writer first syncs a
        small change."""
        if version is None or self.read_only and not self.file.path.exists():
            return None
        if self._broken is not None and self._broken == (version[2:], self._signature()):
            return None  # unreadable: tried again at another generation, or once a writer rebuilt it
        rows = self._read(ids, version)
        if rows is None and not self.read_only and self._catch_up(version):
            rows = self._read(ids, version)
        if rows is None:
            return None
        return {i: Product.from_row(row) for i, row in rows.items()}

    def _read(self, ids, version) -> dict[str, dict] | None:
        identity, database_id, generation, epoch = version
        try:
            return self.file.read(ids, identity, database_id, generation, epoch)
        except (sqlite3.Error, OSError, ValueError, TypeError) as e:  # ValueError: a card's text is not JSON
            if self.read_only:
                log.info("card file %s not usable (%s): results read from the graph", self.file.path, e)
                self._broken = ((generation, epoch), self._signature())
            self.file.close_mine()
            return None

    def _signature(self) -> tuple | None:
        try:
            st = os.stat(self.file.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _catch_up(self, version) -> bool:
        """A writer whose cards are behind the search's generation syncs them when few products
        changed (the rest waits for close: judged once per generation, a count being a scan); True
        if it synced."""
        if self._not_now == version[2:]:
            return False
        try:
            with self.store.unpinned():
                graph = _version(self.store)
                if (graph.generation, graph.epoch) != version[2:]:
                    return False  # the graph moved on since the search: read its hits from the graph
                revision = self._resume_from(self._meta_or_none() or {}, graph, quiet=True)
                if _changed(self.store, revision) > CHEAP:
                    self._not_now = version[2:]
                    return False
                self.sync()
            return True
        except Exception as e:  # noqa: BLE001 - a search must not fail on its mirror: read from the graph
            log.warning("could not update the card file %s: %s", self.file.path, e)
            return False

    def _meta_or_none(self) -> dict | None:
        try:
            return self.file.meta(self.file.connect())
        except sqlite3.Error:
            return None

    # -- writing ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Sync now (a read-write graph closing); errors are logged, never raised."""
        if self.read_only:
            return
        try:
            with self.store.unpinned():
                self.sync()
        except Exception as e:  # noqa: BLE001 - closing a graph must not fail on its mirror; rebuilt later
            log.warning("could not update the card file %s: %s", self.file.path, e)

    def sync(self) -> int:
        """Bring the card file to the graph's current generation; returns the cards written or removed."""
        if self.read_only:
            raise RuntimeError("a read-only process does not write the card file")
        with self._lock:
            graph = _version(self.store)
            try:
                return self._sync(graph)
            except sqlite3.OperationalError:
                raise  # busy or locked (a reader's long read): not damage; the caller logs it, a later sync redoes it
            except sqlite3.DatabaseError as e:
                log.warning("card file %s unreadable (%s): rebuilding it from the graph", self.file.path, e)
                self._remove()
                return self._sync(graph)

    def _resume_from(self, meta: dict, graph: GraphVersion, quiet: bool = False) -> int:
        """The revision a sync of the file (its meta) to `graph` starts from: the file's own, or -1
        (rebuild) for a file of another format or one the mirror rule refuses (logged unless quiet)."""
        if meta.get("format") != FORMAT or meta.get("revision") is None:
            return -1
        try:
            revision = int(meta["revision"])
        except ValueError:
            return -1
        why = fault(meta.get("identity"), revision, meta.get("epoch") or None, graph, self._epochs)
        if why is not None:
            if not quiet:
                rebuild_note("card", self.file.path, why)
            return -1
        return revision

    def _epochs(self) -> str | None:
        return self.store.get_meta(EPOCHS)

    def _sync(self, graph: GraphVersion) -> int:
        identity, generation = graph.source, graph.generation
        if identity is None:
            return 0  # a database without an id (an old one opened read-only): nothing to name the file by
        conn = self.file.connect()
        meta = self.file.meta(conn)
        revision = self._resume_from(meta, graph)
        if revision == generation and (meta.get("epoch") or None) == graph.epoch and meta.get("pending") != "1":
            return 0
        stamp = [("format", FORMAT), ("identity", identity), ("database_id", identity.split("/schema-")[0])]
        # the resume point's epoch (a rebuild resumes from nothing): what a killed sync leaves recorded
        resumed_epoch = (meta.get("epoch") or "") if revision >= 0 else ""
        changed = 0
        first = True
        batches = _changed_rows(self.store, revision)
        if revision < 0:  # rebuild: the old rows go in the first transaction
            batches = _chain([("clear", None)], batches)
        for kind, rows in _lookahead(batches):
            last = kind[1]
            conn.execute("BEGIN IMMEDIATE")
            try:
                if kind[0] == "clear":
                    conn.execute("DELETE FROM cards")
                elif rows:
                    conn.executemany("INSERT OR REPLACE INTO cards(id, card) VALUES (?, ?)",
                                     [(r["id"], encode(r)) for r in rows])
                    changed += len(rows)
                if first and not last:
                    # the resume point of a sync killed before its last transaction: these rows are
                    # newer than `revision`, and readers skip a pending file
                    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     stamp + [("revision", str(revision)), ("epoch", resumed_epoch), ("pending", "1")])
                if last:
                    changed += self._drop_deleted(conn)
                    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                     stamp + [("revision", str(generation)), ("epoch", graph.epoch or ""),
                                              ("pending", "0")])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            first = False
        return changed

    def _drop_deleted(self, conn: sqlite3.Connection) -> int:
        """Inside the last transaction: remove the cards of products no longer in the graph (checked
        only when the counts differ: deleting nodes stamps nothing)."""
        total = int(self.store.cypher("MATCH (p:Product) RETURN count(p) AS n")[0]["n"])
        if conn.execute("SELECT count(*) FROM cards").fetchone()[0] == total:
            return 0
        live = {r["id"] for r in self.store.cypher("MATCH (p:Product) RETURN p.id AS id")}
        gone = [(i,) for (i,) in conn.execute("SELECT id FROM cards").fetchall() if i not in live]
        conn.executemany("DELETE FROM cards WHERE id = ?", gone)
        return len(gone)

    def _remove(self) -> None:
        self.file.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(f"{self.file.path}{suffix}")
            except FileNotFoundError:
                pass

    def close(self) -> None:
        self.file.close()


def _version(store) -> GraphVersion:
    from shopgraph.search.lexical_sync import GraphDocs

    return GraphDocs(store).version()


def _changed(store, revision: int) -> int:
    """How many products a sync from revision would read (every one after an unstamped write query)."""
    revision = resync_point(store, revision)
    where = "" if revision < 0 else "WHERE p.rev > $rev"
    return int(store.cypher(f"MATCH (p:Product) {where} RETURN count(p) AS n", {"rev": revision} if where else None)[0]["n"])


def _changed_rows(store, revision: int) -> Iterator[tuple[str, list[dict]]]:
    """("rows", rows of the shown fields) batches of the products with rev > revision (all when
    revision < 0 or after a write query the store did not stamp products for), gone ones included:
    in pages the store scans, or by key (mirror_state.changed_products says which)."""
    fields = _fields()
    pages, rows = changed_products(store, revision, PAGE)
    if pages is not None:
        returns = ", ".join(f"p.{f} AS {f}" for f in fields)
        for where, params in pages:
            yield "rows", list(store.cypher(f"MATCH (p:Product) WHERE {where} RETURN {returns}", params))
        return
    ids = [r["id"] for r in rows]
    if not ids:
        yield "rows", []
    for start in range(0, len(ids), BATCH):
        yield "rows", store.get_nodes("Product", ids[start:start + BATCH], fields)


def _chain(first, rest):
    yield from first
    yield from rest


def _lookahead(items) -> Iterator[tuple[tuple[str, bool], object]]:
    """((kind, is_last), payload) for each (kind, payload) item."""
    items = iter(items)
    try:
        previous = next(items)
    except StopIteration:
        yield ("rows", True), []
        return
    for item in items:
        yield (previous[0], False), previous[1]
        previous = item
    yield (previous[0], True), previous[1]
