"""Delivering what the decisions produced: alert messages and device commands over MQTT, webhooks over HTTP.

Rows are written to the SQLite outbox in the same transaction as the decision that made them (edge/decisions/);
the sender here delivers them, retries with exponential backoff, and gives up after `MAX_ATTEMPTS` (the row stays,
marked failed, and is counted in /api/health). So a crash or a broker outage delays a notification but never loses
it, and a restart does not decide — and send — the same thing again.

A webhook row names its endpoint (`notify.webhooks[]`: its URL, or the file holding it); the endpoint's settings are
found by that name when the row is sent, and its files read then — the address, the secret, the phone numbers are
never in the outbox rows nor in a log line. The endpoint's `format` makes the attempt (edge/webhooks.py: the JSON as
it is, signed with `X-Hallops-Signature` when it has a secret; a WeCom, DingTalk or Feishu group robot's message; an
SMS gateway's request) and says whether the answer is a refusal, which fails the attempt like a 5xx. A row whose
notification is not for the endpoint (its `roles`, `severity`) is closed without a POST. A group robot takes no
idempotency key, so the sender keeps the notification ids it posted to each robot: a row delivered again — its mark
lost to a store that refused the write — is closed without a second message in the group (a JSON receiver and an
SMS gateway drop a repeat by its id themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import httpx

from edge.config import ROBOTS, Webhook
from edge.mqtt import MqttLink
from edge.store import Store
from edge.store.faults import describe, is_storage_fault
from edge.store.outbox import DueMessage
from edge.supervisor import Worker
from edge.webhooks import check_answer, request, wanted
from edge.wording.notify import notification_id
from rules.hall import HallProfile

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300.0
STORAGE_RETRY_S = 2.0  # while the store refuses writes
CLOCK_BACK_S = 1.0  # the clock read less than this before the last pass: a step back (a slewing clock never does)
DELIVERED_KEPT = 4096  # (robot, notification id) pairs remembered, to post none twice
MARK_EVERY_S = 0.5  # a long pass marks what it sent this often: a crash sends again at most this much


class OutboxSender:
    def __init__(
        self,
        store: Store,
        link: MqttLink,
        http: httpx.AsyncClient | None = None,
        *,
        webhooks: Sequence[Webhook] = (),
        clock: Callable[[], float] = time.time,
        hall: HallProfile | None = None,
        ticker: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._link = link
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._own_http = http is None
        self._clock = clock  # UNIX seconds: when rows are due, and the signatures' timestamps
        self._ticker = ticker  # seconds, for how long a pass has run
        self._hall = hall  # display names for the robots' and the SMS text
        _hide_queries(logging.getLogger("httpx"))
        self._hooks = {hook.target: hook for hook in webhooks}
        self._delivered: OrderedDict[tuple[str, str], None] = OrderedDict()
        for hook in webhooks:
            if hook.secret_file is None and hook.format != "wecom":
                log.warning(
                    "webhook %s is unsigned: its receiver cannot tell the gateway's POSTs from anyone's; give it a "
                    "secret_file (docs/deploy.md, Webhooks)",
                    _shown(hook.target),
                )
            if hook.format in ROBOTS and hook.url is not None:
                log.warning(
                    "webhook %s: a %s robot's address is its key, and it is in the configuration; keep it in a "
                    "url_file (docs/deploy.md, Phones and group robots)",
                    _shown(hook.target),
                    hook.format,
                )
        self._wake = asyncio.Event()
        self.sent = 0
        self.skipped = 0  # webhook rows closed without a POST: not for the endpoint, or posted already
        self.failed = 0
        self.worker: Worker | None = None  # the supervisor's account of the sender (edge/supervisor.py), when it runs
        self._last_pass: float | None = None  # the clock at the last pass: a step back moves the schedule with it

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
                # the broker away, MQTT rows stay due: wait a second for it, not a busy loop that starves the reconnect
                away = not self._link.connected
                timeout = 1.0 if next_at is None or away else min(1.0, max(0.0, next_at - now))
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
        of the pass, and every `MARK_EVERY_S` of a long one (a backlog after a restart, a slow webhook): a crash sends
        again what was sent since the last mark, and a receiver drops the repeat by its id (docs/api.md)."""
        now = self._clock()
        self._follow_clock(now)
        sent: list[int] = []
        skipped: list[int] = []
        try:
            await self._send_due(now, sent, skipped)
        finally:
            self._mark(sent, skipped, now)

    def _mark(self, sent: list[int], skipped: list[int], now: float) -> None:
        self._store.outbox.sent([*sent, *skipped], now)
        self.sent += len(sent)
        self.skipped += len(skipped)
        sent.clear()
        skipped.clear()

    def _follow_clock(self, now: float) -> None:
        """Rows are due by the box's wall clock, which NTP may step back: the schedule steps back with it, so that
        nothing queued before the step waits out the step (edge/store/outbox.py `clock_went_back`)."""
        last = self._last_pass
        if last is None:
            moved = self._store.outbox.clock_was_ahead(now, MAX_BACKOFF_S)
            if moved:
                log.warning("outbox: %d rows were scheduled on a clock that was ahead; due now", moved)
        elif now < last - CLOCK_BACK_S:
            moved = self._store.outbox.clock_went_back(last - now, now)
            log.warning(
                "outbox: the box's clock went back %.0f s; %d waiting rows are due that much sooner", last - now, moved
            )
        self._last_pass = now  # only once the schedule moved: a store that refused it is asked again next pass

    async def _send_due(self, now: float, sent: list[int], skipped: list[int]) -> None:
        marked = self._ticker()
        for row in self._store.outbox.due(now):
            if self._ticker() - marked >= MARK_EVERY_S:
                self._mark(sent, skipped, now)
                marked = self._ticker()
            if row.channel == "mqtt" and not self._link.connected:
                continue  # the broker is away: the row waits, uncounted (an outage delays a notice, never loses it)
            try:
                if row.channel == "mqtt":
                    await self._link.publish(row.target, row.payload, qos=1)
                elif not await self._post(row):
                    skipped.append(row.id)
                    continue
            except Exception as exc:
                give_up = row.attempts + 1 >= MAX_ATTEMPTS
                backoff = min(MAX_BACKOFF_S, 2.0**row.attempts)
                self._store.outbox.retry(row.id, now, now + backoff, describe(exc), give_up)
                if give_up:
                    self.failed += 1
                    log.error(
                        "gave up delivering channel=%s target=%s after %d attempts: %s",
                        row.channel,
                        _shown(row.target),
                        row.attempts + 1,
                        describe(exc),  # with its type: a time-out's text is empty
                    )
                else:
                    log.warning(
                        "delivery failed channel=%s target=%s attempt=%d: %s; retry in %.0f s",
                        row.channel,
                        _shown(row.target),
                        row.attempts + 1,
                        describe(exc),  # with its type: a time-out's text is empty
                        backoff,
                    )
                if row.channel == "mqtt":
                    return  # keep MQTT order: the rest waits for the broker
                continue
            sent.append(row.id)

    async def _post(self, row: DueMessage) -> bool:
        """POST a webhook row in its endpoint's format; False, without a POST, when its notification is not for the
        endpoint or was posted to it already. Raises when the attempt failed (refused, timed out, a file unusable)."""
        hook = self._hooks.get(row.target)
        if hook is None:  # queued for an endpoint since removed from the configuration: as it was queued
            hook = Webhook(url=row.target)
        notice = json.loads(row.payload)
        key = (row.target, notification_id(notice))
        if not wanted(hook, notice):
            log.debug("webhook %s: %s is not for it", _shown(row.target), key[1])
            return False
        robot = hook.format in ROBOTS  # a robot takes no idempotency key: a repeat would be a second message
        if robot and key in self._delivered:
            log.info("webhook %s: %s was posted already; not again", _shown(row.target), key[1])
            return False
        # made now: a retry carries a fresh timestamp and signature, and files changed since are used
        attempt = request(hook, notice, row.payload, self._clock(), self._hall)
        response = await self._http.post(attempt.url, content=attempt.body, headers=attempt.headers)
        check_answer(hook, response)
        if robot:
            self._delivered[key] = None
            if len(self._delivered) > DELIVERED_KEPT:
                self._delivered.popitem(last=False)
        return True


def _shown(target: str) -> str:
    """A row's target as the log shows it: without a query string, where robots keep their keys."""
    return target.split("?", 1)[0]


class _QueryHidden(logging.Filter):
    """httpx logs every request's URL at INFO; a robot's URL holds its key (WeCom's `key=`, DingTalk's
    `access_token=`), so the query is cut from those lines before any handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_shown(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _hide_queries(logger: logging.Logger) -> None:
    if not any(isinstance(f, _QueryHidden) for f in logger.filters):
        logger.addFilter(_QueryHidden())
