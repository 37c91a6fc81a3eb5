"""Transport-level safety: a cap on request bodies, JSON that never fails on NaN, security headers."""

from __future__ import annotations

import json
import math

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
            return json.dumps(_finite(content), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class BodyLimit:
    """ASGI middleware: a request whose body is larger than max_bytes gets 413 before any endpoint
    reads it (by Content-Length when sent; a chunked body is counted as it arrives)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return await _refuse(send, 400, "Content-Length is not a number")
            if size > self.max_bytes:
                return await _refuse(send, 413, f"the request body is {size:,} bytes; the limit is {self.max_bytes:,}")
            return await self.app(scope, receive, send)
        # No Content-Length (chunked): read the body here, up to the limit, then hand it on.
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            if total > self.max_bytes:
                return await _refuse(send, 413, f"the request body is over the limit of {self.max_bytes:,} bytes")
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
                              send)


def _replay(messages: list[dict], receive):
    """A receive() that hands out messages already read, then listens to the client again."""
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
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
