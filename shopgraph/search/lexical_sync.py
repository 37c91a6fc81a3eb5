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

Never trusted when in doubt: the rule shared by every mirror (shopgraph/graph/mirror_state.py)
rebuilds an index of another database, of a newer generation than the graph, or of a write epoch the
graph's history does not hold (a database restored from an older copy, whatever generation its new
writes reached), and an unreadable one, from the graph (`LexicalIndex.replace`, published atomically).

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
from shopgraph.graph.mirror_state import EPOCH, EPOCHS, GraphVersion, changed_products, fault, rebuild_note
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

    def version(self) -> GraphVersion:
        """The graph's version as its mirrors see it: source = the identity, joining the Meta database
        id and the schema version (None for a database without an id: the index is then kept in
        memory only), the write generation and the current write epoch (mirror_state)."""
        from shopgraph.graph.store import DATABASE_ID

        meta = self.store.get_metas(("generation", DATABASE_ID, "schema_version", EPOCH))  # one snapshot
        generation = int(meta["generation"] or 0)
        if meta[DATABASE_ID] is None:
            return GraphVersion(None, generation, meta[EPOCH])
        return GraphVersion(f"{meta[DATABASE_ID]}/schema-{meta['schema_version']}", generation, meta[EPOCH])

    def identity(self) -> tuple[str | None, int]:
        """(the identity, the write generation) of version()."""
        version = self.version()
        return version.source, version.generation

    def epochs(self) -> str | None:
        """The graph's list of write epochs (Meta, mirror_state.Epochs text)."""
        return self.store.get_meta(EPOCHS)

    def changed_since(self, revision: int) -> Iterator[tuple[list[str], list[dict], list[str]]]:
        """Batches of (ids, documents, ids gone or tombstoned) for products with rev > revision
        (every product when revision < 0, or when a write query the store did not stamp products
        for came after revision: it may have changed any of them). Many changes are read in pages the
        store scans (GraphStore.product_pages), few by key."""
        pages, rows = changed_products(self.store, revision, PAGE)
        if pages is not None:
            for where, params in pages:
                yield self._page(where, params)
            return
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


def sync(index: LexicalIndex, docs: GraphDocs, graph: GraphVersion) -> int:
    """Bring `index` (at its revision) to the graph at `graph` (its generation and write epoch);
    returns the changes applied. The revision is written only with the last commit, so an
    interrupted sync is redone."""
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
    index.set_revision(graph.generation, graph.epoch)
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
        # (identity, generation, epoch) of the last index() (None: no id): names the graph's contents
        self.synced: tuple[str, int, str | None] | None = None
        self._lock = threading.Lock()

    def index(self) -> LexicalIndex:
        """The index, synced to the graph's current version."""
        with self._lock:
            graph = self.docs.version()
            index = self._index
            why = None if index is None else self._fault(index, graph)
            if why is not None:
                # before reopening: the version afresh, not one a search pinned (store.pinned_meta)
                # before another thread synced this index forward
                with self.docs.store.unpinned():
                    graph = self.docs.version()
                why = self._fault(index, graph)
            if index is None or why is not None:
                index = self._index = self._open(graph)
            if not _at(index, graph):
                if index.read_only:  # a reader's disk copy fell behind: keep a private one in memory
                    index = self._index = self._memory(graph)
                else:
                    changes = sync(index, self.docs, graph)
                    log.debug("lexical index synced to generation %d: %d changes", graph.generation, changes)
            self.synced = None if graph.source is None else (graph.source, graph.generation, graph.epoch)
            return index

    def _fault(self, index: LexicalIndex, graph: GraphVersion) -> str | None:
        """Why `index` must be rebuilt rather than synced to `graph` (mirror_state.fault), or None. A
        new, empty index (no revision yet) of this database is synced from nothing."""
        meta = index.meta()
        if meta.get("revision") is None:
            return None if meta.get("database_id") == graph.source else "it mirrors another database"
        return fault(meta.get("database_id"), meta.get("revision"), meta.get("epoch"), graph, self.docs.epochs)

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
    def _open(self, graph: GraphVersion) -> LexicalIndex:
        identity = graph.source
        if self.directory is None or identity is None:
            return self._memory(graph)
        if self.read_only:
            try:
                index = LexicalIndex.open(self.directory, database_id=identity, config=self.config,
                                          create=False, read_only=True)
            except (LexicalIndexUnavailable, OSError) as e:
                log.info("lexical index %s not usable here (%s): indexing in memory", self.directory, e)
                return self._memory(graph)
            return index if self._fault(index, graph) is None else self._memory(graph)
        try:
            index = LexicalIndex.open(self.directory, database_id=identity, config=self.config)
            why = self._fault(index, graph)
            if why is None:
                return index
            rebuild_note("lexical", self.directory, why)
            index.close()
        except LexicalIndexUnavailable as e:
            log.warning("lexical index %s is not this graph's (%s): rebuilding it from the graph", self.directory, e)
        except LexicalIndexLocked as e:
            log.info("%s: indexing in memory", e)
            return self._memory(graph)
        return self._rebuild(graph)

    def _rebuild(self, graph: GraphVersion) -> LexicalIndex:
        def batches():
            for ids, batch, _ in self.docs.changed_since(-1):
                if ids:
                    yield ids, batch

        try:
            return LexicalIndex.replace(self.directory, database_id=graph.source, docs=batches(),
                                        revision=graph.generation, config=self.config, epoch=graph.epoch)
        except LexicalIndexLocked as e:
            log.info("%s: indexing in memory", e)
            return self._memory(graph)

    def _memory(self, graph: GraphVersion) -> LexicalIndex:
        index = LexicalIndex.memory(self.config, database_id=graph.source)
        sync(index, self.docs, graph)
        return index


def _at(index: LexicalIndex, graph: GraphVersion) -> bool:
    """Whether the index holds exactly the graph's generation of its current write epoch."""
    meta = index.meta()
    return (meta.get("revision"), meta.get("epoch")) == (graph.generation, graph.epoch)
