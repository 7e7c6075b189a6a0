"""What every HTTP request passes through before a route sees it, and every answer on its way out.

- A request body larger than `http.max_body_bytes` is refused with 413 before it is read: at once when its
  Content-Length says so — before sign-in is checked, so a caller without credentials cannot make the gateway read
  100 MiB — and a chunked body is counted as it arrives and cut at the limit. The 413 closes the connection, so the
  rest of the body is not read either.
- Every answer carries the security headers (`HEADERS`): a Content-Security-Policy that lets the page load scripts,
  styles, images and connections from this origin only and be framed by nobody, no MIME sniffing, no referrer; API
  answers (and the OpenAPI document) are never stored by a cache (`Cache-Control: no-store`).
- A request forwarded by a proxy (`X-Forwarded-For`) while `http.trusted_proxies` is empty is logged (once every
  FORWARDED_LOG_S): the proxy is probably on the box, and without trusting it every caller looks like 127.0.0.1 to
  the sign-in throttle and the audit log (docs/deploy.md).
- A refused request (422) names each field at fault — its `loc`, `msg` and `type`, at most MAX_ERRORS of them —
  and never echoes what was sent (FastAPI's default answer copies every input, a 10 MB password included).

`create_app` installs `Guard` around the routes and `validation_error`, `server_error` as exception handlers (a 500
is answered outside the middleware, so it gets the headers from its handler). This module must not decide who is
calling (edge/api/deps.py) nor limit connections (edge/server.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

# The ASGI interface (as Starlette spells it; we do not import Starlette itself, FastAPI's core: pyproject.toml).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# No inline style or script at all: the page's scripts set styles through the CSSOM (`element.style`, which a CSP
# does not restrict; edge/web/ui.js `h(…, {vars})`), never through a style attribute or element.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = (
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
NO_STORE = (b"cache-control", b"no-store")
FORWARDED_LOG_S = 600.0
log = logging.getLogger(__name__)
MAX_ERRORS = 20  # of a 422: enough to fix a request by; a body with thousands of errors is not answered in full
MAX_TEXT = 200  # characters of a message or a location part: a validator's message or a mapping's key may be input


class Guard:
    """The ASGI middleware of the module docstring: the body limit and the security headers."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, trusts_proxies: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.trusts_proxies = trusts_proxies
        self._forwarded_logged_at = -FORWARDED_LOG_S

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        no_store = path.startswith("/api/") or path == "/openapi.json"

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_headers(message.get("headers", ()), no_store)}
            await send(message)

        headers = dict(scope["headers"])  # of a repeated name the last: all we look at is whether there is one
        if b"x-forwarded-for" in headers and not self.trusts_proxies:
            self._forwarded(scope)
        declared = headers.get(b"content-length")
        if declared is not None:  # the server's parser reads no more than it declares (and refuses one not a number)
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(send_guarded)
            else:
                await self.app(scope, receive, send_guarded)
        elif b"transfer-encoding" in headers:  # chunked: read before the routes, counting, so that it is cut at the end
            body = await self._read(receive)
            if body is None:
                await self._too_large(send_guarded)
            elif body:
                await self.app(scope, _replay(body[0], receive), send_guarded)
            # else: the caller went away while sending; there is no one to answer
        else:  # no body
            await self.app(scope, receive, send_guarded)

    def _forwarded(self, scope: Scope) -> None:
        now = time.monotonic()
        if now - self._forwarded_logged_at < FORWARDED_LOG_S:
            return
        self._forwarded_logged_at = now
        peer = scope.get("client") or ("?",)
        log.warning(
            "a request from %s carries X-Forwarded-For, but http.trusted_proxies is empty: the caller is taken to be "
            "%s. If a reverse proxy forwards to the gateway, list it in http.trusted_proxies (docs/deploy.md), or "
            "every caller counts as the proxy for the sign-in throttle and the audit log",
            peer[0],
            peer[0],
        )

    async def _read(self, receive: Receive) -> tuple[bytes] | tuple[()] | None:
        """The whole body (in a 1-tuple); `()` if the caller went away; None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return ()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return (b"".join(chunks),)

    async def _too_large(self, send: Send) -> None:
        """413 without reading the body, closing the connection: the server would otherwise read what is left of
        the body to reach the next request."""
        detail = f"the request body is larger than {self.max_body_bytes} bytes (http.max_body_bytes)"
        response = JSONResponse({"detail": detail}, status_code=413, headers={"connection": "close"})
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read already, in one piece, then the server's own (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _with_headers(raw: Any, no_store: bool) -> list[tuple[bytes, bytes]]:
    headers = [(bytes(n), bytes(v)) for n, v in raw]
    present = {n.lower() for n, _ in headers}
    headers += [h for h in HEADERS if h[0] not in present]  # a route that sets one of them knows better
    if no_store:  # … except for caching: nothing of the API may be kept (the live stream said no-cache)
        headers = [h for h in headers if h[0].lower() != NO_STORE[0]] + [NO_STORE]
    return headers


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 with each error's field path, message and kind; without `input` or `ctx`, which copy the request."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": [part if isinstance(part, int) else _short(str(part)) for part in error.get("loc", ())],
            "msg": _short(str(error.get("msg", ""))),
            "type": str(error.get("type", "")),
        }
        for error in list(exc.errors())[:MAX_ERRORS]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def server_error(request: Request, exc: Exception) -> Response:
    """The 500 of an exception no route handled (logged by the server), with the security headers."""
    headers = {n.decode(): v.decode() for n, v in (*HEADERS, NO_STORE)}
    return PlainTextResponse("Internal Server Error", status_code=500, headers=headers)


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


__all__ = ["HEADERS", "MAX_ERRORS", "POLICY", "Guard", "server_error", "validation_error"]
