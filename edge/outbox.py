"""Delivering what the decisions produced: alert messages and device commands over MQTT, webhooks over HTTP.

Rows are written to the SQLite outbox in the same transaction as the decision that made them (edge/decisions/);
the sender here delivers them, retries with exponential backoff, and gives up after `MAX_ATTEMPTS` (the row stays,
marked failed, and is counted in /api/health). So a crash or a broker outage delays a notification but never loses
it, and a restart does not decide — and send — the same thing again.

A webhook with a secret (`notify.webhooks[].secret_file`) is signed at each attempt: `X-Hallops-Timestamp` (UNIX
seconds) and `X-Hallops-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the receiver's check is in
docs/deploy.md. The secret is found by the row's URL when the row is sent and read from its file then: it is never in
the outbox rows nor in a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from edge.config import Webhook, read_secret
from edge.mqtt import MqttLink
from edge.store import Store
from edge.store.faults import describe, is_storage_fault
from edge.supervisor import Worker

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300.0
STORAGE_RETRY_S = 2.0  # while the store refuses writes
TIMESTAMP_HEADER = "X-Hallops-Timestamp"
SIGNATURE_HEADER = "X-Hallops-Signature"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`, the pattern of Stripe's and GitHub's webhooks. The
    timestamp is inside what is signed, so a receiver that refuses old timestamps refuses replays too."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class OutboxSender:
    def __init__(
        self,
        store: Store,
        link: MqttLink,
        http: httpx.AsyncClient | None = None,
        *,
        webhooks: Sequence[Webhook] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._link = link
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._own_http = http is None
        self._clock = clock  # UNIX seconds: when rows are due, and the signatures' timestamps
        self._secret_files: dict[str, Path] = {}
        for hook in webhooks:
            if hook.secret_file is None:
                log.warning(
                    "webhook %s is unsigned: its receiver cannot tell the gateway's POSTs from anyone's; give it a "
                    "secret_file (docs/deploy.md, Webhooks)",
                    hook.url,
                )
            else:
                self._secret_files[hook.url] = hook.secret_file
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self.worker: Worker | None = None  # the supervisor's account of the sender (edge/supervisor.py), when it runs

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                if self.worker is not None:
                    self.worker.beat()
                try:
                    await self.drain()
                    next_at = self._store.outbox.next_attempt()
                except Exception as exc:
                    if not is_storage_fault(exc):
                        raise
                    self._storage_failed(exc)
                    await asyncio.sleep(STORAGE_RETRY_S)
                    continue
                if self.worker is not None and self.worker.paused:
                    log.warning("outbox: the store takes writes again; delivering")
                    self.worker.resume()
                now = self._clock()
                timeout = 1.0 if next_at is None else min(1.0, max(0.0, next_at - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
        finally:
            if self._own_http:
                await self._http.aclose()

    def _storage_failed(self, exc: BaseException) -> None:
        """The store refused to mark a row (a full disk, a lock): the row stays due and is delivered again when the
        store recovers — a receiver drops the repeat by its notification id (docs/api.md)."""
        if self.worker is None or not self.worker.paused:
            log.error("outbox: the store refuses writes (%s); delivery waits for it", describe(exc))
        if self.worker is not None:
            self.worker.pause("storage_error", describe(exc))

    async def drain(self) -> None:
        """Send every due row once (in order); failures are rescheduled. The rows sent are marked together at the end
        of the pass: a crash before that sends them again, and a receiver drops the repeat by its id (docs/api.md)."""
        now = self._clock()
        sent: list[int] = []
        try:
            await self._send_due(now, sent)
        finally:
            self._store.outbox.sent(sent, now)
            self.sent += len(sent)

    async def _send_due(self, now: float, sent: list[int]) -> None:
        for row in self._store.outbox.due(now):
            try:
                if row.channel == "mqtt":
                    await self._link.publish(row.target, row.payload, qos=1)
                else:
                    response = await self._http.post(
                        row.target, content=row.payload, headers=self._webhook_headers(row.target, row.payload)
                    )
                    if response.status_code >= 300:
                        raise RuntimeError(f"HTTP {response.status_code}")
            except Exception as exc:
                give_up = row.attempts + 1 >= MAX_ATTEMPTS
                backoff = min(MAX_BACKOFF_S, 2.0**row.attempts)
                self._store.outbox.retry(row.id, now, now + backoff, describe(exc), give_up)
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
            sent.append(row.id)

    def _webhook_headers(self, url: str, body: bytes) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        secret_file = self._secret_files.get(url)
        if secret_file is not None:
            # signed now, so that a retry carries a fresh timestamp; the file is read now, so that a new secret written
            # into it is used from the next POST on (a ValueError — the file made readable to others — fails the
            # attempt like a refused POST, and is retried)
            timestamp = int(self._clock())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = signature(read_secret(secret_file), timestamp, body)
        return headers
