"""Keep one ANN index per vector property in step with the vectors stored on the nodes.

The graph is the source of truth. Every write that touches products bumps the store's write
generation and stamps those products with it (`rev`). Before each search the index's revision is
compared with the generation; when they differ, products with a newer rev are re-read and upserted,
and if the index then holds more ids than the graph, ids gone from the graph are removed. So a search
never returns a deleted product or scores a changed one with its old vector.

Identity: an index mirrors one database (its random Meta database_id, the index's `source`) at one
generation (its `revision`) of one write epoch (its `epoch`). The rule shared by every mirror
(shopgraph/graph/mirror_state.py) says whether it may be synced forward: an index of another database
(one deleted and made anew at the same path), of a newer generation than the graph, of a lineage the
graph's history does not hold (a database restored from an older copy, whatever generation its new
writes reached), or without a source is never synced from: it is rebuilt from the graph.

Saving: the caller syncs inside one consistent read of the graph (index()) and saves after that read
(persist()), so a save never holds up the writer of another process. Before an index is saved its
ids and count are checked against the graph in that same read: the saved index equals the graph at
the generation it claims. A save is due when the copy on disk lags by a tenth of the index (or was
never written): smaller changes are cheap to re-read at the next load, and a large index costs
seconds to write. Two processes never save one index at once (a lock file beside it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from shopgraph.config import IndexConfig
from shopgraph.errors import StoreError
from shopgraph.graph import mirror_state
from shopgraph.graph.mirror_state import Epochs, GraphVersion, fault, rebuild_note
from shopgraph.graph.vector_index import (FORMAT_VERSION, AnnIndex, IndexUnavailable, forget_read_ahead,
                                         read_ahead)

log = logging.getLogger(__name__)

# Ranked by plain inner product, not cosine: a fused vector's norm is part of its meaning (how many
# channels it has), and a GNN vector's norm carries popularity, which recommendation wants.
INNER_PRODUCT_PROPERTIES = frozenset({"fused_vec", "gnn_vec"})
SAVE_LAG = 0.1  # save once the copy on disk lags by this fraction of the index's vectors


def _aging(index: AnnIndex, graph: GraphVersion, epochs: Callable[[], str | None]) -> bool:
    """Whether a saved index just loaded (and judged of this lineage) names an epoch so many writing
    opens old that it must be saved now: a catalog that changes little per open never reaches
    SAVE_LAG, and once its epoch falls off the graph's capped list the next load would rebuild the whole
    index (25 minutes at 1M) where a save costs seconds. Reads the epoch list only when the index is not
    at the current epoch (fault() read it for the same reason)."""
    if index.epoch == graph.epoch or graph.epoch is None:
        return False
    try:
        return Epochs.parse(epochs()).age(index.epoch) >= max(1, mirror_state.KEEP_EPOCHS // 2)
    except (ValueError, TypeError, KeyError):
        return False  # fault() found it readable a moment ago; a save can wait for the next load


class VectorSource(Protocol):
    """What the sync needs from a store (all reads, inside the caller's consistent read)."""

    def vectors_changed_since(self, prop: str, revision: int) -> Iterable[tuple[list[str], np.ndarray, list[str]]]:
        """Batches of (ids with the vector, their vectors (n, dim), ids whose vector is now null)."""

    def count_with_vector(self, prop: str) -> int: ...

    def ids_with_vector(self, prop: str) -> set[str]: ...


class IndexedVectors:
    """The per-property ANN indexes of one store, persisted under `directory` (None: memory only)."""

    def __init__(self, source: VectorSource, dims: Callable[[str], int], directory: Path | None,
                 config: IndexConfig):
        self._source = source
        self._dims = dims
        self._directory = directory
        self._config = config
        self._indexes: dict[str, AnnIndex] = {}
        self._unsaved: dict[str, int] = {}  # prop -> changes since the copy on disk (or since built)
        self._verified: dict[str, tuple] = {}  # prop -> (source, revision) checked against the graph
        self._distrusted: set[str] = set()  # props whose saved files read back damaged (drop_damaged)
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def locked(self, prop: str) -> Iterator[None]:
        """Hold the property's index for a sync, a search and a save (one thread at a time)."""
        with self._guard:
            lock = self._locks.setdefault(prop, threading.RLock())
        with lock:
            yield

    def index(self, prop: str, graph: GraphVersion, epochs: Callable[[], str | None]) -> AnnIndex:
        """The index of prop synced to the graph at `graph` (its database id as source, None: an
        unidentified database, whose index lives in memory only; its generation and write epoch).
        epochs(): the graph's list of write epochs (mirror_state.fault), read only when the index's
        epoch is not the current one. Call holding locked(prop), inside one consistent read."""
        index = self._indexes.get(prop)
        if index is None:
            index = self._load(prop, graph, epochs)
        else:
            why = fault(index.source, index.revision, index.epoch, graph, epochs)
            if why is not None:
                rebuild_note("vector", f"{prop} in {self._directory}", why)
                index = self._fresh(prop, graph.source)
        self._indexes[prop] = index
        if (index.revision, index.epoch) != (graph.generation, graph.epoch):
            self._sync(prop, index, graph)
        if self._save_due(prop, index) and self._verified.get(prop) != _version(graph):
            self._verify(prop, index, graph)
        return self._indexes[prop]

    def current(self, prop: str, graph: GraphVersion) -> AnnIndex | None:
        """The in-memory index of prop when it is already synced to exactly `graph` (database id,
        generation, write epoch) and owes no check before a save (what index() would return without
        reading the graph), else None. Call holding locked(prop)."""
        index = self._indexes.get(prop)
        if index is None or (index.source, index.revision, index.epoch) != _version(graph):
            return None
        if self._save_due(prop, index) and self._verified.get(prop) != _version(graph):
            return None
        return index

    def drop_damaged(self, prop: str) -> None:
        """Forget the in-memory index of prop, found damaged (IndexDamaged) while searching, and build the
        next one from the graph instead of loading the saved files again; its save (due at once) replaces
        them. Call holding locked(prop)."""
        log.warning("the %s vector index in %s read back damaged vectors: rebuilding it from the graph",
                    prop, self._path(prop))
        self._indexes.pop(prop, None)
        self._distrusted.add(prop)

    def loaded(self, prop: str) -> bool:
        """Whether the index of prop is in memory (a search has used it)."""
        return prop in self._indexes

    def forget(self) -> None:
        """Drop the in-memory indexes (the files stay; they are re-validated on next use)."""
        with self._guard:
            self._indexes.clear()
            self._unsaved.clear()
            self._verified.clear()

    def persist(self, prop: str) -> None:
        """Save the index of prop when due and checked against the graph (see the module docstring).
        Call holding locked(prop), outside any read of the graph."""
        index, path = self._indexes.get(prop), self._path(prop)
        if index is None or path is None or index.source is None or not self._save_due(prop, index):
            return
        if self._verified.get(prop) != (index.source, index.revision, index.epoch):
            return
        try:
            with _save_lock(path) as mine:
                if not mine:
                    return  # another process is saving this index now
                index.save(path)
            self._unsaved[prop] = 0
            self._distrusted.discard(prop)  # its files are the ones just written
        except (OSError, StoreError) as e:  # a read-only folder must not break search
            log.warning("could not save vector index %s: %s", path, e)

    def _path(self, prop: str) -> Path | None:
        return None if self._directory is None else self._directory / prop

    def _fresh(self, prop: str, source: str | None) -> AnnIndex:
        index = AnnIndex.from_config(self._dims(prop), self._config, normalize=self._normalize(prop))
        index.revision, index.source, index.epoch = -1, source, None
        self._unsaved[prop] = 0
        self._verified.pop(prop, None)
        return index

    def _load(self, prop: str, graph: GraphVersion, epochs: Callable[[], str | None]) -> AnnIndex:
        path, source = self._path(prop), graph.source
        if path is None or source is None or not (path / "manifest.json").exists() or prop in self._distrusted:
            return self._fresh(prop, source)
        for attempt in (1, 2):  # a save by another process may replace the files being read: retry once
            try:
                index = AnnIndex.load(path, config=self._config)
                break
            except IndexUnavailable as e:
                if attempt == 2:
                    log.warning("vector index %s unusable (%s): rebuilding from the graph", path, e)
                    return self._fresh(prop, source)
        if index.dim != self._dims(prop) or index.normalize != self._normalize(prop):
            log.warning("vector index %s does not match the graph's %s: rebuilding", path, prop)
            return self._fresh(prop, source)
        why = fault(index.source, index.revision, index.epoch, graph, epochs)
        if why is not None:
            rebuild_note("vector", path, why)
            return self._fresh(prop, source)
        # a copy on disk in an older format is due for a save in today's: a format-3 index (float32
        # vectors walked through a mapped file) stays seconds a query on a cold page cache until it is
        # written as format 4, and a save by changes alone may never come to a catalog that changes little
        self._unsaved[prop] = len(index) if index.saved_format < FORMAT_VERSION or _aging(index, graph, epochs) else 0
        self._verified.pop(prop, None)
        return index

    @staticmethod
    def _normalize(prop: str) -> bool:
        return prop not in INNER_PRODUCT_PROPERTIES

    def _save_due(self, prop: str, index: AnnIndex) -> bool:
        unsaved = self._unsaved.get(prop, 0)
        return unsaved > 0 and unsaved >= SAVE_LAG * len(index)

    def _sync(self, prop: str, index: AnnIndex, graph: GraphVersion) -> None:
        since = index.revision if isinstance(index.revision, int) else -1
        changed = 0
        if len(index) == 0:  # a build: size the mirror once for every vector the graph holds
            index.reserve(self._source.count_with_vector(prop))
        for ids, vectors, nulled in self._source.vectors_changed_since(prop, since):
            if ids:
                index.upsert(ids, vectors)
            if nulled:
                index.remove(nulled)
            changed += len(ids) + len(nulled)
        if len(index) != self._source.count_with_vector(prop):
            live = self._source.ids_with_vector(prop)
            gone = [i for i in index.ids() if i not in live]
            index.remove(gone)
            changed += len(gone)
        index.revision, index.epoch = graph.generation, graph.epoch
        self._unsaved[prop] = self._unsaved.get(prop, 0) + changed
        log.debug("synced %s index: %d changes, %d vectors", prop, changed, len(index))

    def _verify(self, prop: str, index: AnnIndex, graph: GraphVersion) -> None:
        """Before a save: the index's ids must be exactly the graph's products with the vector (same
        read as the sync). A mismatch (it should not happen) is logged and the index rebuilt."""
        live = self._source.ids_with_vector(prop)
        if len(index) != len(live) or set(index.ids()) != live:
            log.error("the %s index (%d vectors) differs from the graph (%d) at generation %d: rebuilding it",
                      prop, len(index), len(live), graph.generation)
            index = self._indexes[prop] = self._fresh(prop, graph.source)
            self._sync(prop, index, graph)
            if set(index.ids()) != live:
                raise StoreError(f"the {prop} vector index cannot be made to match the graph")
        self._verified[prop] = (index.source, index.revision, index.epoch)


def _version(graph: GraphVersion) -> tuple:
    """(source, revision, epoch) an index synced to `graph` records."""
    return graph.source, graph.generation, graph.epoch


def read_ahead_indexes(directory: Path) -> int:
    """Start reading ahead (vector_index.read_ahead) every saved vector index under a database's index
    folder; returns how many were started (0 for a missing folder or none saved in format 4)."""
    try:
        folders = [p for p in Path(directory).iterdir() if p.is_dir()]
    except OSError:
        return 0
    return sum(read_ahead(folder) is not None for folder in sorted(folders))


@contextmanager
def _save_lock(path: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on `<path>.lock`; yields whether this process got it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
