"""The live stream for the web UI (server-sent events): every alert notification as it happens.

Each subscriber gets its own bounded queue; a client too slow to read is dropped (it reconnects and re-reads the
current state from the API) rather than slowing the gateway down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

QUEUE = 256
KEEPALIVE_S = 15.0


class Broadcaster:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: object) -> None:
        frame = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"
        for q in list(self._subscribers):
            try:
                q.put_nowait(frame)
            except asyncio.QueueFull:
                self._subscribers.discard(q)
                log.warning("dropped a live-stream client that stopped reading")

    async def frames(self) -> AsyncIterator[str]:
        q: asyncio.Queue[str] = asyncio.Queue(QUEUE)
        self._subscribers.add(q)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._subscribers.discard(q)
