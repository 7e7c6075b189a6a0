"""Delivering what the decisions produced: alert messages and device commands over MQTT, webhooks over HTTP.

Rows are written to the SQLite outbox in the same transaction as the decision that made them (edge/decisions/);
the sender here delivers them, retries with exponential backoff, and gives up after `MAX_ATTEMPTS` (the row stays,
marked failed, and is counted in /api/health). So a crash or a broker outage delays a notification but never loses
it, and a restart does not decide — and send — the same thing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import httpx

from edge.mqtt import MqttLink
from edge.store import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300.0


class OutboxSender:
    def __init__(self, store: Store, link: MqttLink, http: httpx.AsyncClient | None = None) -> None:
        self._store = store
        self._link = link
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._own_http = http is None
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self.drain()
                now = datetime.now(UTC).timestamp()
                next_at = self._store.outbox.next_attempt()
                timeout = 1.0 if next_at is None else min(1.0, max(0.0, next_at - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
        finally:
            if self._own_http:
                await self._http.aclose()

    async def drain(self) -> None:
        """Send every due row once (in order); failures are rescheduled."""
        now = datetime.now(UTC).timestamp()
        for row in self._store.outbox.due(now):
            try:
                if row.channel == "mqtt":
                    await self._link.publish(row.target, row.payload, qos=1)
                else:
                    response = await self._http.post(
                        row.target, content=row.payload, headers={"content-type": "application/json"}
                    )
                    if response.status_code >= 300:
                        raise RuntimeError(f"HTTP {response.status_code}")
            except Exception as exc:
                give_up = row.attempts + 1 >= MAX_ATTEMPTS
                backoff = min(MAX_BACKOFF_S, 2.0**row.attempts)
                self._store.outbox.retry(row.id, now, now + backoff, f"{type(exc).__name__}: {exc}", give_up)
                if give_up:
                    self.failed += 1
                    log.error(
                        "gave up delivering channel=%s target=%s after %d attempts: %s",
                        row.channel,
                        row.target,
                        row.attempts + 1,
                        exc,
                    )
                else:
                    log.warning(
                        "delivery failed channel=%s target=%s attempt=%d: %s; retry in %.0f s",
                        row.channel,
                        row.target,
                        row.attempts + 1,
                        exc,
                        backoff,
                    )
                if row.channel == "mqtt":
                    return  # keep MQTT order: the rest waits for the broker
                continue
            self._store.outbox.sent(row.id, now)
            self.sent += 1
