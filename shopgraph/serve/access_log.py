"""The server's access log: one line per request, `<client> <METHOD> <path> <status> <ms> ms`, on the
logger "shopgraph.access".

Written here rather than by uvicorn's access log because uvicorn's line carries the query string,
and a query string holds what users searched for and may hold a key pasted into a URL. This line
never has the query string, a header (so never X-API-Key) or a body. The time runs from the request
to the end of the response body; a request the app failed without answering logs status 500.
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER = "shopgraph.access"
log = logging.getLogger(LOGGER)


class AccessLog:
    """ASGI middleware: the outermost layer, so refusals of the other layers (413, 408, 401) are logged
    with the status the client got."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        state = {"status": None, "logged": False}

        def done(status: int) -> None:
            if not state["logged"]:
                state["logged"] = True
                _log_request(scope, status, (time.perf_counter() - started) * 1000)

        async def logged_send(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done(state["status"] or 500)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            done(state["status"] or 500)  # no (complete) response: the client saw an error or nothing


def _log_request(scope, status: int, ms: float) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    # scope["path"] is the decoded path without the query string; control characters are escaped so a
    # crafted path cannot forge a log line.
    path = scope.get("path", "").encode("unicode_escape").decode("ascii")
    log.info("%s %s %s %d %.1f ms", client[0] if client else "-", scope.get("method", "-"), path, status, ms)


def log_to_stderr(enabled: bool = True) -> None:
    """Print the access log on stderr (the server's console), whatever the root logger's level.
    enabled=False silences it."""
    if not enabled:
        log.setLevel(logging.WARNING)
        return
    log.setLevel(logging.INFO)
    if not any(getattr(h, "_shopgraph_access", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler._shopgraph_access = True
        log.addHandler(handler)
    log.propagate = False
