"""Start a server: open the graph once, warm the models, run uvicorn on host:port until stopped."""

from __future__ import annotations

import gc
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

from shopgraph.config import Config
from shopgraph.errors import MissingDependencyError, ShopGraphError
from shopgraph.serve.host import GraphHost, ServeSettings, new_api_key

log = logging.getLogger(__name__)


def _require_server_packages() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401  (uploads)
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"the server needs {e.name}: pip install -c constraints.txt -e .") from None


def limit_threads(n: int) -> None:
    """One model or BLAS call uses at most n threads, for the whole process: requests already run
    side by side, and pools that each spread over every core make them fight (see ServeSettings)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(max(1, n))
    threadpool_limits(max(1, n))  # numpy's OpenBLAS and OpenMP pools


def open_host(db: str | Path, settings: ServeSettings, config: Config | None = None) -> GraphHost:
    """The graph at db opened for the server (read-only when settings.read_only)."""
    from shopgraph.queries.api import ShopGraph

    # A file path must exist (opening a missing one would create an empty graph to serve); anything
    # else, such as a server URI, goes to ShopGraph.open untouched (Path() would fold its "//").
    if "://" not in str(db) and not Path(db).exists():
        raise ShopGraphError(f"no shopgraph database at {db} (run `shopgraph demo` or `shopgraph ingest` first, "
                             f"or pass --db)")
    return GraphHost(ShopGraph.open(db, config=config, read_only=settings.read_only), settings)


def uvicorn_config(app, host: str, port: int, settings: ServeSettings):
    """The uvicorn configuration the server runs with (the tests' live server uses it too): h11 with
    the header time limit (limits.header_timeout_protocol), and without uvicorn's access log, whose
    lines carry query strings (the app logs requests itself: access_log.py)."""
    import uvicorn

    from shopgraph.serve.limits import header_timeout_protocol

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          http=header_timeout_protocol(settings.header_timeout))


def serve(db: str | Path, *, host: str = "127.0.0.1", port: int = 8000, settings: ServeSettings | None = None,
          config: Config | None = None, say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> None:
    """Serve the graph at db until interrupted. Without an API key in settings a random one is made
    and printed: writes and Cypher always need a key."""
    _require_server_packages()
    import uvicorn

    from shopgraph.serve.access_log import log_to_stderr
    from shopgraph.serve.app import create_app

    settings = settings or ServeSettings()
    generated = settings.api_key is None
    if generated:
        settings = replace(settings, api_key=new_api_key())
    limit_threads(settings.torch_threads)
    log_to_stderr(settings.access_log)
    graph_host = open_host(db, settings, config)
    try:
        say(f"loading models for {db} ...")
        app = create_app(graph_host)
        # The models are loaded: move everything alive now out of the garbage collector's sight, so
        # a full collection scans request garbage only (it paused every request for ~300 ms).
        gc.collect()
        gc.freeze()
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        say(f"shopgraph serving {db} on http://{shown}:{port}/  (API docs: /docs, schema: /openapi.json)")
        if generated:
            say(f"API key for writes and Cypher (made for this run; set --api-key or $SHOPGRAPH_API_KEY to fix it): "
                f"{settings.api_key}")
            say(f"the page with the key: http://{shown}:{port}/#key={settings.api_key}")
        if host not in ("127.0.0.1", "localhost", "::1"):
            say(f"warning: listening on {host}, reachable from other machines")
        uvicorn.Server(uvicorn_config(app, host, port, settings)).run()
    finally:
        graph_host.close()
