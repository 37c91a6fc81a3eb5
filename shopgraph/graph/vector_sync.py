"""Keep one ANN index per vector property in step with the vectors stored on the nodes.

The graph is the source of truth. Every write that touches products bumps the store's write
generation and stamps those products with it (`rev`). Before each search the index's revision is
compared with the generation; when they differ, products with a newer rev are re-read and upserted,
and if the index then holds more ids than the graph, ids gone from the graph are removed. So a search
never returns a deleted product or scores a changed one with its old vector.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np

from shopgraph.config import IndexConfig
from shopgraph.graph.vector_index import AnnIndex, IndexUnavailable

log = logging.getLogger(__name__)

# Ranked by plain inner product, not cosine: a fused vector's norm is part of its meaning (how many
# channels it has), and a GNN vector's norm carries popularity, which recommendation wants.
INNER_PRODUCT_PROPERTIES = frozenset({"fused_vec", "gnn_vec"})


class VectorSource(Protocol):
    """What the sync needs from a store (all reads)."""

    def generation(self) -> int: ...

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
        self._lock = threading.RLock()

    def index(self, prop: str, generation: int | None = None) -> AnnIndex:
        """The up-to-date index of one vector property (loaded, built or synced as needed).

        generation: the store's write generation if the caller has just read it (saves a read)."""
        with self._lock:
            if generation is None:
                generation = self._source.generation()
            index = self._indexes.get(prop)
            if index is None:
                index = self._load(prop)
                self._indexes[prop] = index
            if index.revision != generation:
                self._sync(prop, index, generation)
            return index

    def loaded(self, prop: str) -> bool:
        """Whether the index of prop is in memory (a search has used it)."""
        return prop in self._indexes

    def forget(self) -> None:
        """Drop the in-memory indexes (the files stay; they are re-validated on next use)."""
        with self._lock:
            self._indexes.clear()

    def _path(self, prop: str) -> Path | None:
        return None if self._directory is None else self._directory / prop

    def _load(self, prop: str) -> AnnIndex:
        path = self._path(prop)
        if path is not None and path.exists():
            try:
                index = AnnIndex.load(path, config=self._config)
                if index.dim == self._dims(prop) and index.normalize == self._normalize(prop):
                    return index
                log.warning("vector index %s does not match the graph's %s: rebuilding", path, prop)
            except IndexUnavailable as e:
                log.warning("vector index %s unusable (%s): rebuilding from the graph", path, e)
        index = AnnIndex.from_config(self._dims(prop), self._config, normalize=self._normalize(prop))
        index.revision = -1
        return index

    @staticmethod
    def _normalize(prop: str) -> bool:
        return prop not in INNER_PRODUCT_PROPERTIES

    def _sync(self, prop: str, index: AnnIndex, generation: int) -> None:
        since = index.revision if isinstance(index.revision, int) else -1
        changed = 0
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
        index.revision = generation
        log.debug("synced %s index: %d changes, %d vectors", prop, changed, len(index))
        path = self._path(prop)
        if path is not None:
            try:
                index.save(path)
            except OSError as e:  # a read-only directory must not break search
                log.warning("could not save vector index %s: %s", path, e)
