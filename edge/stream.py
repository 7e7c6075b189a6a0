"""The live stream for the web UI (server-sent events): every notification (alert, ticket, recommendation) as it
happens, and the hall snapshot once a second while anyone listens.

Each subscriber gets its own bounded queue; a client too slow to read is dropped (it reconnects and re-reads the
current state from the API) rather than slowing the gateway down. The first frame tells browsers to retry after
RETRY_MS, so a page reconnects by itself soon after the gateway restarts.

Streams are limited, so that open pages cannot use up the gateway's file descriptors: `subscribe` refuses
(`StreamsFull`, saying which limit) a holder (a user, or a client address) past its share, and anyone past the
total. A place is taken at `subscribe`, before any frame, and freed by `unsubscribe` — when the response ends for any
reason (the client left, the gateway stops) — or at once when the client is dropped for being slow.

Every `recheck_s` a stream asks whether its holder may still listen (the API checks the credentials again): when not
(signed out, user removed, password changed), the stream ends with a `signed_out` event, so the page shows its
sign-in form instead of reconnecting; when the check cannot tell now, the stream just ends, and the client reconnects
and is checked afresh. This module must not know about HTTP or credentials: the API passes the check in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

log = logging.getLogger(__name__)

QUEUE = 256
KEEPALIVE_S = 15.0
RETRY_MS = 2000
RECHECK_S = 2.0  # a signed-out page stops receiving within this
SIGNED_OUT = 'event: signed_out\ndata: {"sign_in":true}\n\n'  # the last frame of a stream whose holder may not listen

_END = ""  # put on a subscriber's queue by close(): its response ends


class Verdict(StrEnum):
    """What a re-check of a stream's holder found."""

    LISTEN = "listen"  # still signed in: the stream goes on
    SIGNED_OUT = "signed_out"  # the sign-in ended: a last `signed_out` frame, then the end
    UNSURE = "unsure"  # the check could not be made now (the gateway is busy): the end, without `signed_out`


class StreamsFull(Exception):
    """A new stream would pass a limit; the message says which (the API answers 429 with it)."""


@dataclass(eq=False, slots=True)
class Subscription:
    """One client's place on the stream, from `subscribe` until `unsubscribe`."""

    holder: str  # whose share it counts against: "user li", "address 127.0.0.1"
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE))


class Broadcaster:
    def __init__(self, *, recheck_s: float = RECHECK_S) -> None:
        self.recheck_s = recheck_s
        self._subscribers: set[Subscription] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, holder: str, *, per_holder: int, total: int) -> Subscription:
        """A place on the stream for `holder`. Raises StreamsFull when `holder` has `per_holder` streams open, or the
        gateway `total`. After close() the subscription is not kept: its frames end at once."""
        sub = Subscription(holder)
        if self._closed:
            return sub
        held = sum(1 for s in self._subscribers if s.holder == holder)
        if held >= per_holder:
            raise StreamsFull(
                f"{holder} has {held} live streams open, the most one may hold (http.streams_per_user): "
                "close another page of the hallops UI first"
            )
        if len(self._subscribers) >= total:
            raise StreamsFull(
                f"the gateway serves {total} live streams at most (http.max_streams) and all are taken: try again later"
            )
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Free the place (again is harmless)."""
        self._subscribers.discard(sub)

    def publish(self, event: str, data: object) -> None:
        self.publish_json(event, json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def publish_json(self, event: str, text: str) -> None:
        """`text` is one line of JSON already (no newlines: SSE would split it)."""
        frame = f"event: {event}\ndata: {text}\n\n"
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._subscribers.discard(sub)
                log.warning("dropped a live-stream client that stopped reading")

    def close(self) -> None:
        """End every subscriber's stream (the gateway is stopping): open pages see their stream end and reconnect to
        the next gateway, and the HTTP server can shut down without cancelling responses that would never finish."""
        self._closed = True
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(_END)

    async def frames(self, sub: Subscription, recheck: Callable[[], Awaitable[Verdict]]) -> AsyncIterator[str]:
        """The frames of `sub` until it is dropped, the gateway stops, or `recheck()` (awaited every `recheck_s`) says
        other than LISTEN (SIGNED_OUT: a last `signed_out` frame first). Frees the place when it ends."""
        if sub not in self._subscribers:
            return
        loop = asyncio.get_running_loop()
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            recheck_at = loop.time() + self.recheck_s
            quiet_since = loop.time()
            while sub in self._subscribers:  # dropped for falling behind: end the response, the browser reconnects
                if loop.time() >= recheck_at:
                    verdict = await recheck()
                    if verdict is Verdict.SIGNED_OUT:
                        yield SIGNED_OUT
                    if verdict is not Verdict.LISTEN:
                        break
                    recheck_at = loop.time() + self.recheck_s
                wait = min(recheck_at, quiet_since + KEEPALIVE_S) - loop.time()
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), max(wait, 0.0))
                except TimeoutError:
                    if loop.time() < quiet_since + KEEPALIVE_S:
                        continue  # time to check again, not yet to keep the connection alive
                    frame = ": keep-alive\n\n"
                if frame == _END:
                    break
                yield frame
                quiet_since = loop.time()
        finally:
            self.unsubscribe(sub)
