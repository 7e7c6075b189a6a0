"""Routes of the `live` tag: the server-sent event stream the web UI follows the hall and the decisions with.

Each stream takes a place for its holder (the signed-in user by name, or the client address when no users are
configured) within `http.streams_per_user` and `http.max_streams`: past either, 429 before any frame. Every
`Broadcaster.recheck_s` the request's credentials are checked again (deps.signed_in, off the event loop): a stream
whose sign-in ended (logout, user removed, new password: 401) ends with a `signed_out` event; one whose check is
refused for now (429, 503) just ends, and the client reconnects through the usual checks.

Must not frame or fan out events itself: edge.stream's `Broadcaster` does, with a bounded queue per client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from edge.api.deps import ALL, State, client, needs, signed_in
from edge.auth import OPEN_USER, User
from edge.stream import Broadcaster, StreamsFull, Subscription, Verdict

router = APIRouter(tags=["live"])


@router.get("/api/stream", response_class=StreamingResponse, **needs(*ALL))
async def stream(request: Request, state: State) -> StreamingResponse:
    """Server-sent events: `alert`, `ticket`, `recommendation` for every notification; `hall` (the snapshot) and
    `liveness` (the broker connection, the newest device message's age: as in /api/health) once a second; `changed`
    with the parts of the decision state that moved (engine, tickets, tidal); `signed_out` last, when the sign-in
    ended. 429 past `http.streams_per_user` streams for one user, or `http.max_streams` in all."""
    user: User = request.state.user
    holder = f"address {client(request)}" if user is OPEN_USER else f"user {user.name}"
    limits = state.config.http
    broadcaster = state.stream
    try:
        sub = broadcaster.subscribe(holder, per_holder=limits.streams_per_user, total=limits.max_streams)
    except StreamsFull as exc:
        raise HTTPException(429, str(exc)) from None

    async def recheck() -> Verdict:
        try:
            now = await asyncio.to_thread(signed_in, request, state)
        except HTTPException as exc:
            return Verdict.SIGNED_OUT if exc.status_code == 401 else Verdict.UNSURE
        # someone else now is signed out too: a removed user's name given again, the open mode after the last user
        return Verdict.LISTEN if now.name == user.name else Verdict.SIGNED_OUT

    return _Stream(broadcaster, sub, broadcaster.frames(sub, recheck))


class _Stream(StreamingResponse):
    """Frees the stream's place however the response ends, even before its first frame (a client gone at once)."""

    def __init__(self, broadcaster: Broadcaster, sub: Subscription, frames: AsyncIterator[str]) -> None:
        super().__init__(frames, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        self._broadcaster = broadcaster
        self._sub = sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._broadcaster.unsubscribe(self._sub)
