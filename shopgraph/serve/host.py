"""How the server holds the graph: one ShopGraph per process, shared by every request.

Reads (search, product pages, Cypher) run in the ASGI threadpool, side by side, and in the store too:
each read borrows its own database connection, so a long Cypher query holds one connection, not the
graph (shopgraph/graph/sessions.py). Writes
(ingest, review decisions) run one at a time under `write_lock`; a write that cannot get it within
`write_wait` seconds is refused with 409 instead of queueing behind a long ingest. An ingest writes
batch by batch, so searches keep being answered while it runs.
"""

from __future__ import annotations

import logging
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from shopgraph.errors import ShopGraphError

log = logging.getLogger(__name__)


class WriteBusyError(ShopGraphError):
    """Another write (an ingest) is running; the caller may retry later."""


class WritesDisabledError(ShopGraphError):
    """The server holds the graph read-only."""


@dataclass(frozen=True)
class ServeSettings:
    """Limits and keys of one server. Sizes are bytes, times seconds.

    api_key: required (header X-API-Key) for ingest, review decisions and Cypher; None = those
    endpoints are refused. max_k: most results one call returns. max_body: the largest ingest upload;
    max_json: the largest body of the other routes (a photo search may be max_image + 64 KB);
    max_image: the largest query image, max_image_pixels its most pixels.
    image_root: the folder an uploaded catalog's image values are resolved in (they must stay inside
    it); None = uploads cannot name images. /api/image serves files under it and under the database's
    own folder only (image_roots()).
    cypher_timeout: the database stops a Cypher query after this; cypher_max_rows: rows returned at most.
    Slow clients: a connection whose request headers are not complete header_timeout seconds after
    it opened (or after its last response) is closed; a request body whose next part takes more than
    body_idle_timeout, or which is not complete after body_timeout, gets 408 and the connection closes.
    torch_threads: threads each model or BLAS call may use (set for the whole process by `serve`):
    requests already run side by side, and a query encoder that also spreads over every core makes
    them fight for the cores (measured: 8 ms per query with 1 thread, 300+ ms with 2 on a busy 2-core
    machine).
    access_log: `serve` prints a line per request on stderr (access_log.py: never a query string,
    header or body).
    """

    api_key: str | None = None
    read_only: bool = False
    max_k: int = 100
    max_text: int = 500
    max_body: int = 64 * 1024 * 1024
    max_json: int = 64 * 1024
    max_image: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    cypher_timeout: float = 5.0
    cypher_max_rows: int = 1000
    cypher_max_chars: int = 20_000
    write_wait: float = 2.0
    header_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    body_timeout: float = 300.0
    thumbnail_cache: int = 512
    image_root: Path | None = None
    torch_threads: int = 1
    access_log: bool = True


def new_api_key() -> str:
    """A random key for a server started without one (printed once at start-up)."""
    return secrets.token_urlsafe(24)


class GraphHost:
    """The one ShopGraph of a server process, with the write lock and models loaded up front."""

    def __init__(self, graph, settings: ServeSettings):
        self.graph = graph
        self.settings = settings
        self.write_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the encoders before the first request, so concurrent first searches do not each load
        a model, and the first user does not wait for it; batch concurrent query encodings
        (batching.py)."""
        from PIL import Image

        from shopgraph.serve.batching import BatchingTextEncoder

        encoder = self.graph.encoder
        if not isinstance(encoder.text_encoder, BatchingTextEncoder):
            encoder.text_encoder = BatchingTextEncoder(encoder.text_encoder)
        # The torch model, not the numpy pass a one-off CLI search uses: the batcher's calls can hold
        # up to 32 texts, and loading torch then would stall every queued search for seconds.
        load = getattr(encoder.text_encoder.wrapped, "load", None)
        if load is not None:
            load()
        encoder.text_encoder.encode(["warm up"])
        encoder.image_encoder.encode_images([Image.new("RGB", (32, 32), "white")])
        _ = self.graph.aligner

    def image_roots(self) -> list[Path]:
        """The folders /api/image may read from, resolved: --image-root, the declared ingest.image_root
        (config) and the folder holding an on-disk database (where `shopgraph demo` puts its photos). A
        Neo4j store adds none of its own."""
        roots = [Path(self.settings.image_root)] if self.settings.image_root is not None else []
        if self.graph.config.ingest.image_root:
            roots.append(Path(self.graph.config.ingest.image_root))
        db = getattr(self.graph.store, "path", None)
        if isinstance(db, (str, Path)) and "://" not in str(db):
            roots.append(Path(db).parent)
        return [r.expanduser().resolve() for r in roots]

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock for one write request (WriteBusyError if another write keeps it)."""
        if self.settings.read_only or getattr(self.graph.store, "read_only", False):
            raise WritesDisabledError("this server holds the graph read-only (started with --read-only)")
        if not self.write_lock.acquire(timeout=self.settings.write_wait):
            raise WriteBusyError("another write (an ingest or a review decision) is running; retry shortly")
        try:
            yield
        finally:
            self.write_lock.release()

    def close(self) -> None:
        from shopgraph.serve.batching import BatchingTextEncoder

        encoder = getattr(self.graph, "_encoder", None)  # None: no model was ever loaded
        if encoder is not None and isinstance(encoder.text_encoder, BatchingTextEncoder):
            encoder.text_encoder.close()
        self.graph.close()
