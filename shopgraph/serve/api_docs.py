"""Interactive API docs at /docs, served from this machine: Swagger UI 5's files (it reads the OpenAPI
3.1 schema FastAPI writes; Swagger UI 4 cannot) come from the fastapi-offline package, mounted at
/docs/assets, so the page works with no network, and it runs
under the page's Content-Security-Policy (script-src 'self'): FastAPI's own /docs page starts Swagger
UI with an inline script and loads it from a CDN (fastapi-offline's page keeps the inline script), so
both are switched off (docs_url=None) in favour of static/docs.html + static/docs.js; only the
package's asset files are used.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def add_api_docs(app: FastAPI) -> None:
    """GET /docs (Swagger UI over /openapi.json) and its assets under /docs/assets."""
    from importlib.resources import files

    assets = files("fastapi_offline") / "static"

    @app.get("/docs", include_in_schema=False)
    def docs():
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    app.mount("/docs/assets", StaticFiles(directory=str(assets)), name="docs-assets")
