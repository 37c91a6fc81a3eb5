"""Keep the lexical (BM25) index of a graph in step with its products, like the vector indexes.

The graph is the source of truth; the index (shopgraph.search.lexical_index) is a mirror in
``<db>.index/lexical/``, beside the vector indexes. Identity: the index records the database's Meta
database id (with the schema version, so a migrated database is re-indexed) and the write generation
it reflects (its revision). Every write that touches products bumps the generation and stamps them
with it (`rev`), so syncing re-reads the products with rev > revision, upserts them, removes the ones
now gone, and, when the index then holds another number of documents than the graph has live
products, removes ids no longer in the graph. The new revision is committed with the last batch:
a process killed at any point leaves an index whose revision is at most what it holds, and the next
sync re-reads the rest (upserts are idempotent).

Never trusted when in doubt: an index of another database, of a newer generation than the graph
(a database restored from a copy), or unreadable is rebuilt from the graph (`LexicalIndex.replace`,
published atomically).

Who writes: the process holding the graph read-write syncs the index on disk (before its searches
and when it closes the graph, so ingest, delete, train, migrate and write queries leave it current).
A read-only process uses the disk index only when it is current; otherwise (a writer that was killed
before it synced, or is writing now) it keeps a private in-memory index synced from the graph, so it
never answers from stale contents.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterator

from shopgraph.config import LexicalIndexConfig
from shopgraph.search.lexical_index import LexicalIndex, LexicalIndexLocked, LexicalIndexUnavailable

log = logging.getLogger(__name__)

FOLDER = "lexical"  # inside <db>.index/
BATCH = 2000  # products read and committed per batch when they are read by key
PAGE = 20_000  # products read and committed per batch when the store reads them by scanning (product_pages)
_LIVE = "(p.gone IS NULL OR p.gone = false)"


def index_folder(store_path: str | Path | None) -> Path | None:
    """Where the lexical index of the graph at store_path lives (None: an in-memory graph)."""
    return None if store_path is None else Path(f"{store_path}.index") / FOLDER


class GraphDocs:
    """Reads products as lexical documents (title, brand, identifiers, attributes, description) from a
    GraphStore through parameterised read-only Cypher, so it works on every store."""

    def __init__(self, store):
        self.store = store

    def identity(self) -> tuple[str | None, int]:
        """(the database's identity for the index, its write generation). The identity joins the Meta
        database id and the schema version; None for a database without an id (then the index is
        kept in memory only)."""
        from shopgraph.graph.store import DATABASE_ID

        meta = self.store.get_metas(("generation", DATABASE_ID, "schema_version"))  # one snapshot
        generation = int(meta["generation"] or 0)
        if meta[DATABASE_ID] is None:
            return None, generation
        return f"{meta[DATABASE_ID]}/schema-{meta['schema_version']}", generation

    def changed_since(self, revision: int) -> Iterator[tuple[list[str], list[dict], list[str]]]:
        """Batches of (ids, documents, ids gone or tombstoned) for products with rev > revision
        (every product when revision < 0, or when a write query the store did not stamp products
        for came after revision: it may have changed any of them). Many changes are read in pages the
        store scans (GraphStore.product_pages), few by key."""
        from shopgraph.graph.store import ANY_PRODUCT_CHANGED

        unstamped = self.store.get_meta(ANY_PRODUCT_CHANGED)
        if unstamped is not None and int(unstamped) > revision:
            revision = -1
        pages = self.store.product_pages(revision, PAGE)
        if pages is not None:
            for where, params in pages:
                yield self._page(where, params)
            return
        where = "" if revision < 0 else "WHERE p.rev > $rev"
        rows = self.store.cypher(f"MATCH (p:Product) {where} RETURN p.id AS id, p.gone AS gone ORDER BY id",
                                 {"rev": revision} if where else None)
        live = [r["id"] for r in rows if not r["gone"]]
        gone = [r["id"] for r in rows if r["gone"]]
        if gone:
            yield [], [], gone
        for start in range(0, len(live), BATCH):
            ids = live[start:start + BATCH]
            yield ids, self.documents(ids), []

    def documents(self, ids: list[str]) -> list[dict]:
        """The lexical document of each id (in order); a product deleted meanwhile gives an empty one.
        Products are found by key (UNWIND + {id: ...}): LadybugDB answers `p.id IN $ids` with a scan
        of the whole table, which would make a full sync quadratic in the catalog's size."""
        docs: dict[str, dict] = {i: {"identifiers": [], "attributes": []} for i in ids}
        for r in self.store.cypher("UNWIND $ids AS pid MATCH (p:Product {id: pid}) RETURN p.id AS id, p.title AS title, "
                                   "p.brand AS brand, p.description AS description", {"ids": ids}):
            docs[r["id"]].update(title=r["title"], brand=r["brand"], description=r["description"])
        self._add_links(docs, lambda path: f"UNWIND $ids AS pid MATCH (p:Product {{id: pid}}){path}", {"ids": ids})
        return [docs[i] for i in ids]

    def _page(self, where: str, params: dict) -> tuple[list[str], list[dict], list[str]]:
        """(live ids, their documents, gone ids) of the products a page predicate selects: three
        scans of the page, no lookup by key. A product the second or third read sees but the first
        did not (written meanwhile) is left out: its rev is past this sync's generation, so the next
        sync reads it."""
        docs: dict[str, dict] = {}
        gone: list[str] = []
        for r in self.store.cypher(f"MATCH (p:Product) WHERE {where} RETURN p.id AS id, p.gone AS gone, "
                                   "p.title AS title, p.brand AS brand, p.description AS description", params):
            if r["gone"]:
                gone.append(r["id"])
            else:
                docs[r["id"]] = {"title": r["title"], "brand": r["brand"], "description": r["description"],
                                 "identifiers": [], "attributes": []}
        if docs:
            self._add_links(docs, lambda path: f"MATCH (p:Product){path} WHERE {where}", params)
        return list(docs), list(docs.values()), gone

    def _add_links(self, docs: dict[str, dict], match, params: dict) -> None:
        """Add each document's identifiers and attributes (docs: id -> document, its lists to fill;
        rows of other products are ignored). match(path): the MATCH clause (with its WHERE) that
        selects the products as `p`, extended by the relationship pattern path."""
        for r in self.store.cypher(f"{match('-[r:HAS_IDENTIFIER]->(i:Identifier)')} "
                                   "RETURN p.id AS id, r.raw AS raw, i.value AS value", params):
            if r["id"] in docs:
                docs[r["id"]]["identifiers"].extend(v for v in (r["raw"], r["value"]) if v)
        for r in self.store.cypher(f"{match('-[r:HAS_ATTRIBUTE]->(a:Attribute)')} "
                                   "RETURN p.id AS id, a.key AS key, r.value AS value", params):
            if r["id"] in docs:
                docs[r["id"]]["attributes"].append(f"{r['key']} {r['value']}")

    def live_count(self) -> int:
        return int(self.store.cypher(f"MATCH (p:Product) WHERE {_LIVE} RETURN count(p) AS n")[0]["n"])

    def live_ids(self) -> set[str]:
        return {r["id"] for r in self.store.cypher(f"MATCH (p:Product) WHERE {_LIVE} RETURN p.id AS id")}


def sync(index: LexicalIndex, docs: GraphDocs, generation: int) -> int:
    """Bring `index` (at its revision) to the graph at `generation`; returns the changes applied.
    The revision is written only with the last commit, so an interrupted sync is redone."""
    since = index.revision
    since = since if isinstance(since, int) and not isinstance(since, bool) else -1
    changed = 0
    for ids, batch, gone in docs.changed_since(since):
        if gone:
            changed += index.remove(gone)
        if ids:
            index.upsert(ids, batch)
            changed += len(ids)
    if len(index) != docs.live_count():
        live = docs.live_ids()
        changed += index.remove([i for i in index.ids() if i not in live])
    index.set_revision(generation)
    return changed


class LexicalMirror:
    """The lexical index of one graph, synced before use. Thread-safe (one sync at a time).

    store: a GraphStore; directory: the index folder (None: memory only); read_only: this process
    must not write the folder (a read-only graph)."""

    def __init__(self, store, directory: Path | None, config: LexicalIndexConfig = LexicalIndexConfig(),
                 read_only: bool = False):
        self.docs = GraphDocs(store)
        self.directory = directory
        self.config = config
        self.read_only = read_only
        self._index: LexicalIndex | None = None
        self._identity: str | None = None
        self.synced: tuple[str, int] | None = None  # (identity, generation) of the last index() (None: no id)
        self._lock = threading.Lock()

    def index(self) -> LexicalIndex:
        """The index, synced to the graph's current generation."""
        with self._lock:
            identity, generation = self.docs.identity()
            index = self._index
            if index is not None and (self._identity != identity or not _usable(index, generation)):
                # before reopening: the version afresh, not one a search pinned (store.pinned_meta)
                # before another thread synced this index forward
                with self.docs.store.unpinned():
                    identity, generation = self.docs.identity()
            if index is None or self._identity != identity or not _usable(index, generation):
                index = self._index = self._open(identity, generation)
                self._identity = identity
            if index.revision != generation:
                if index.read_only:  # a reader's disk copy fell behind: keep a private one in memory
                    index = self._index = self._memory(identity, generation)
                else:
                    changes = sync(index, self.docs, generation)
                    log.debug("lexical index synced to generation %d: %d changes", generation, changes)
            self.synced = None if identity is None else (identity, generation)
            return index

    def refresh(self) -> None:
        """Sync now if this process writes the folder (called when a read-write graph closes); errors
        are logged, never raised: a later search rebuilds what is missing."""
        if self.read_only or self.directory is None:
            return
        try:
            self.index()
        except Exception as e:  # noqa: BLE001 - closing a graph must not fail on its mirror; logged, rebuilt later
            log.warning("could not update the lexical index in %s: %s", self.directory, e)

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    # -- opening ---------------------------------------------------------------------------------
    def _open(self, identity: str | None, generation: int) -> LexicalIndex:
        if self.directory is None or identity is None:
            return self._memory(identity, generation)
        if self.read_only:
            try:
                index = LexicalIndex.open(self.directory, database_id=identity, config=self.config,
                                          create=False, read_only=True)
            except (LexicalIndexUnavailable, OSError) as e:
                log.info("lexical index %s not usable here (%s): indexing in memory", self.directory, e)
                return self._memory(identity, generation)
            return index if _usable(index, generation) else self._memory(identity, generation)
        try:
            index = LexicalIndex.open(self.directory, database_id=identity, config=self.config)
            if _usable(index, generation):
                return index
            log.warning("lexical index %s claims generation %r, the graph is at %d: rebuilding",
                        self.directory, index.revision, generation)
            index.close()
        except LexicalIndexUnavailable as e:
            log.warning("lexical index %s is not this graph's (%s): rebuilding it from the graph", self.directory, e)
        except LexicalIndexLocked as e:
            log.info("%s: indexing in memory", e)
            return self._memory(identity, generation)
        return self._rebuild(identity, generation)

    def _rebuild(self, identity: str, generation: int) -> LexicalIndex:
        def batches():
            for ids, batch, _ in self.docs.changed_since(-1):
                if ids:
                    yield ids, batch

        try:
            return LexicalIndex.replace(self.directory, database_id=identity, docs=batches(), revision=generation,
                                        config=self.config)
        except LexicalIndexLocked as e:
            log.info("%s: indexing in memory", e)
            return self._memory(identity, generation)

    def _memory(self, identity: str | None, generation: int) -> LexicalIndex:
        index = LexicalIndex.memory(self.config, database_id=identity)
        sync(index, self.docs, generation)
        return index


def _usable(index: LexicalIndex, generation: int) -> bool:
    """An index whose revision is a generation the graph has reached (older: synced forward)."""
    revision = index.revision
    return revision is None or (isinstance(revision, int) and not isinstance(revision, bool) and revision <= generation)
