"""The live stream for the web UI (server-sent events): every notification (alert, ticket, recommendation) as it
happens, and the hall snapshot once a second while anyone listens.

Each subscriber gets its own bounded queue; a client too slow to read is dropped (it reconnects and re-reads the
current state from the API) rather than slowing the gateway down. The first frame tells browsers to retry after
RETRY_MS, so a page reconnects by itself soon after the gateway restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

QUEUE = 256
KEEPALIVE_S = 15.0
RETRY_MS = 2000


_END = ""  # put on a subscriber's queue by close(): its response ends


class Broadcaster:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: object) -> None:
        self.publish_json(event, json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def publish_json(self, event: str, text: str) -> None:
        """`text` is one line of JSON already (no newlines: SSE would split it)."""
        frame = f"event: {event}\ndata: {text}\n\n"
        for q in list(self._subscribers):
            try:
                q.put_nowait(frame)
            except asyncio.QueueFull:
                self._subscribers.discard(q)
                log.warning("dropped a live-stream client that stopped reading")

    def close(self) -> None:
        """End every subscriber's stream (the gateway is stopping): open pages see their stream end and reconnect to
        the next gateway, and the HTTP server can shut down without cancelling responses that would never finish."""
        self._closed = True
        for q in list(self._subscribers):
            self._subscribers.discard(q)
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(_END)

    async def frames(self) -> AsyncIterator[str]:
        if self._closed:
            return
        q: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self._subscribers.add(q)
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            while q in self._subscribers:  # dropped for falling behind: end the response, the browser reconnects
                try:
                    frame = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    frame = ": keep-alive\n\n"
                if frame == _END:
                    break
                yield frame
        finally:
            self._subscribers.discard(q)
