"""Transport-level safety: the API key and body caps checked before a body is read, time limits for
slow clients (headers: `header_timeout_protocol`; bodies: RequestGate), JSON that never fails on NaN,
security headers."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Callable

from starlette.responses import JSONResponse

# The page loads only its own script, style and images; nothing else may run in it.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SafeJSONResponse(JSONResponse):
    """JSON response whose non-finite floats become null (plain JSON has no NaN), instead of a 500."""

    def render(self, content) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except ValueError:
            from shopgraph.serve.views import jsonable  # NaN and infinities -> null, as for Cypher rows

            return json.dumps(jsonable(content), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")


def key_problem(sent: str | None, api_key: str | None) -> tuple[int, str] | None:
    """(status, reason) when a keyed request must be refused, None when its key is right."""
    if api_key is None:
        return 403, "this server was started without an API key, so writes and Cypher are off"
    if not sent or not hmac.compare_digest(sent.encode("utf-8"), api_key.encode("utf-8")):
        return 401, "missing or wrong API key (send it in the X-API-Key header)"
    return None


log = logging.getLogger(__name__)


class _TooLarge(Exception):
    """The body being read went over its route's limit."""


class _TooSlow(Exception):
    """The body being read did not arrive within its time limits."""


class RequestGate:
    """ASGI middleware in front of every route, before any endpoint reads a body:

    - a keyed route (`keyed`: set of (method, path)) without the right X-API-Key gets 401 (403 when
      the server has no key) without its body being read;
    - a body larger than its route's limit (`limit_for(method, path)`, bytes) gets 413: by
      Content-Length when sent, otherwise counted as the body streams in (nothing is buffered here;
      the endpoint's own parser spools uploads to disk);
    - a body whose next part does not arrive within `body_idle` seconds, or that is not complete
      `body_total` seconds after the request began, gets 408 and the connection is closed (a client
      trickling a body byte by byte would otherwise hold a connection and a worker for ever).
    """

    def __init__(self, app, limit_for: Callable[[str, str], int], keyed: set[tuple[str, str]],
                 api_key: str | None, body_idle: float = 30.0, body_total: float = 300.0):
        self.app = app
        self.limit_for = limit_for
        self.keyed = keyed
        self.api_key = api_key
        self.body_idle = body_idle
        self.body_total = body_total

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        headers = dict(scope.get("headers") or ())
        if (method, path) in self.keyed:
            sent = headers.get(b"x-api-key")
            problem = key_problem(sent.decode("latin-1") if sent is not None else None, self.api_key)
            if problem is not None:
                extra = [(b"www-authenticate", b"X-API-Key")] if problem[0] == 401 else []
                return await _refuse(send, problem[0], problem[1], extra)
        limit = self.limit_for(method, path)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return await _refuse(send, 400, "Content-Length is not a number")
            if size > limit:
                return await _refuse(send, 413, f"the request body is {size:,} bytes; the limit for {path} is {limit:,}")
        state = {"read": 0, "over": False, "slow": False, "started": False, "body_done": False}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_total

        async def next_body_part():
            # Only while the body is still coming: afterwards the app may wait for a disconnect.
            if state["body_done"]:
                return await receive()
            wait = min(self.body_idle, deadline - loop.time())
            try:
                if wait <= 0:
                    raise asyncio.TimeoutError()
                return await asyncio.wait_for(receive(), wait)
            except asyncio.TimeoutError:
                state["slow"] = True
                raise _TooSlow() from None

        async def counted_receive():
            message = await next_body_part()
            if message["type"] == "http.request":
                state["body_done"] = not message.get("more_body", False)
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            if state["over"] or state["slow"]:
                return  # whatever the app answers after the overflow, the client gets the 413 / 408
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except (_TooLarge, _TooSlow):
            pass
        if state["over"] and not state["started"]:
            await _refuse(send, 413, f"the request body is over the limit for {path} of {limit:,} bytes")
        elif state["slow"] and not state["started"]:
            log.info("%s %s: the request body came too slowly; closing the connection", method, path)
            await _refuse(send, 408, f"the request body did not arrive in time (at most {self.body_idle:g} s "
                                     f"between parts, {self.body_total:g} s in all)")


async def _refuse(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"content-security-policy", CSP.encode()),
                    (b"referrer-policy", b"no-referrer")]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response that does not set them itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in SECURITY_HEADERS if h[0] not in present)]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def header_timeout_protocol(seconds: float):
    """A uvicorn HTTP protocol class (h11) that closes a connection whose request headers are not
    complete `seconds` after it opened, or after its previous response ended. uvicorn itself only
    limits idle keep-alive connections, and any byte resets that limit, so a client sending its headers
    a byte at a time would hold the connection for ever. A request being answered is never cut."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow, self.scope)

        def _headers_too_slow(self, scope_when_armed) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self.scope is scope_when_armed and not self.transport.is_closing():
                log.info("a client sent no complete request headers within %g s; closing the connection", seconds)
                self.transport.close()

    return HeaderTimeoutProtocol
