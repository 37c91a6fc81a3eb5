"""The HTTP API and web page (`shopgraph serve`): a FastAPI app over one ShopGraph.

    from shopgraph.serve import serve
    from shopgraph.serve.host import ServeSettings
    serve("shopgraph.db", host="127.0.0.1", port=8000, settings=ServeSettings(api_key="..."))

Modules: host (how the graph is held; write lock), app (routes), models (request/response types),
views (results -> models, facets), uploads (content checks, thumbnails), limits (body cap, headers),
run (start-up with uvicorn), static/ (the page: plain HTML, CSS and JavaScript, no build step).
FastAPI and uvicorn are imported only when a server is built.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("create_app",):
        from shopgraph.serve.app import create_app

        return create_app
    if name in ("serve", "open_host"):
        from shopgraph.serve import run

        return getattr(run, name)
    raise AttributeError(name)
