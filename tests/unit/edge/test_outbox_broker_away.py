"""A broker away for longer than the outbox's retries last (about two minutes of backoff): the MQTT notifications and
commands queued meanwhile wait for it, uncounted, and go out once it is back — and the webhooks behind them are not
held up. (Issue 22's soak found every MQTT notification of a four-minute broker outage given up after 8 attempts.)"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import httpx

from edge.config import Webhook
from edge.mqtt import MqttLink
from edge.outbox import MAX_ATTEMPTS, MAX_BACKOFF_S, OutboxSender
from edge.store import OutboxMessage, Store
from tests.receiver import Receiver
from tests.unit.edge.conftest import Clock


class Link:
    """The broker link as the outbox sees it: `connected`, and `publish` that records (or fails while away)."""

    def __init__(self) -> None:
        self.connected = False
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if not self.connected:
            raise ConnectionError("not connected to the broker")
        self.published.append((topic, payload))


def hooked_sender(
    store: Store, http: httpx.AsyncClient, receiver: Receiver
) -> tuple[Clock, Link, Webhook, OutboxSender]:
    """A sender on a manual clock, its broker link away (`Link`), with one webhook to `receiver`."""
    clock = Clock()
    link = Link()
    hook = Webhook(url=receiver.url + "/hook")
    return clock, link, hook, OutboxSender(store, cast(MqttLink, link), http, webhooks=[hook], clock=clock)


async def test_notifications_wait_for_a_broker_that_is_away_for_longer_than_the_retries(
    store: Store, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    clock, link, hook, sender = hooked_sender(store, http, receiver)
    store.outbox.add(
        [
            OutboxMessage("mqtt", "hallops/h1/alerts", b'{"id": "alert:a:1:firing"}'),
            OutboxMessage("webhook", hook.url or "", b'{"id": "alert:a:1:firing"}'),
        ],
        clock.now,
    )

    for _ in range(MAX_ATTEMPTS * 3):  # far longer than the retries of a failing row would last
        await sender.drain()
        clock.now += MAX_BACKOFF_S
    assert [r.json()["id"] for r in receiver.received] == ["alert:a:1:firing"], "the webhook was not held up"
    assert sender.failed == 0 and store.outbox.counts()["failed"] == 0

    link.connected = True
    await sender.drain()
    assert link.published == [("hallops/h1/alerts", b'{"id": "alert:a:1:firing"}')]
    assert store.outbox.counts()["failed"] == 0


async def test_while_the_broker_is_away_the_sender_waits_instead_of_spinning(
    store: Store, http: httpx.AsyncClient
) -> None:
    """Rows due and the broker away: the sender looks again about once a second. (A sender that went round at once
    kept the event loop busy and the gateway's reconnect timed out again and again.)"""
    clock = Clock()
    link = Link()
    sender = OutboxSender(store, cast(MqttLink, link), http, clock=clock)
    store.outbox.add([OutboxMessage("mqtt", "hallops/h1/alerts", b'{"id": "alert:a:1:firing"}')], clock.now)
    passes = 0
    drain = sender.drain

    async def counted() -> None:
        nonlocal passes
        passes += 1
        await drain()

    sender.drain = counted  # type: ignore[method-assign]
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(0.5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert 1 <= passes <= 2
