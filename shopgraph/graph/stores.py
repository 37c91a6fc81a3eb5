"""Open a store from what a user typed: a database path (embedded LadybugDB) or a Neo4j URI.

    store, stem = open_store("shopgraph.db", config=config)            # EmbeddedStore, stem shopgraph.db
    store, stem = open_store("neo4j://db:7687", config=config)        # Neo4jStore, stem shopgraph-neo4j/db-7687-neo4j
    store, stem = open_store("neo4j", config=config)                  # Neo4jStore at $NEO4J_URI

The stem is where shopgraph keeps its files for that graph on this machine: `<stem>.models/`,
`<stem>.cache.sqlite`, `<stem>.quarantine/` (for the embedded store it is the database path itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from shopgraph.config import Config
from shopgraph.errors import StoreError
from shopgraph.graph.neo4j_connect import is_neo4j_target, safe_uri
from shopgraph.graph.schema import VectorDims
from shopgraph.graph.store import GraphStore


def describe(target: str | Path) -> str:
    """The target for messages: a path as given, a URI without credentials."""
    return safe_uri(str(target)) if is_neo4j_target(str(target)) and str(target) != "neo4j" else str(target)


def exists(target: str | Path) -> bool:
    """Whether an embedded database file exists; a Neo4j target is checked when it is opened."""
    return is_neo4j_target(str(target)) or Path(target).exists()


def open_store(target: str | Path, *, config: Config | None = None, dims: VectorDims | None = None,
               read_only: bool = False, trace: Callable[[str, Mapping], None] | None = None,
               driver=None) -> tuple[GraphStore, Path]:
    """(store, local stem) for a path or a Neo4j URI. driver: an existing neo4j driver (Neo4j only)."""
    config = config or Config()
    if is_neo4j_target(str(target)):
        from shopgraph.graph.neo4j_store import Neo4jStore

        store = Neo4jStore.open(str(target), dims=dims, read_only=read_only, config=config.neo4j, driver=driver,
                                trace=trace)
        # The directory is made by whatever first writes there (a model, the cache), not here: a
        # read-only open leaves the working directory as it was.
        return store, store.local_stem()
    from shopgraph.graph.embedded import EmbeddedStore

    if driver is not None:
        raise StoreError("a neo4j driver was given with a database path; pass a Neo4j URI (or 'neo4j')")
    path = Path(target)
    if str(target).startswith(("neo4j:", "bolt:", "neo4j+", "bolt+")):
        raise StoreError(f"not a valid Neo4j URI: {describe(target)!r} (use neo4j://host:7687)")
    store = EmbeddedStore.open(path, dims=dims, read_only=read_only, index_config=config.index,
                               store_config=config.store, trace=trace)
    return store, path
