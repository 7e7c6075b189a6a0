"""The outbox schedules rows on the box's wall clock, which NTP may step back. A notice queued just before a step back
must not wait out the step while the ones after it go first: issue 22's clock-step test heard an alert fire again
(a new episode) before the first episode's `resolved`, which had been queued moments before the clock went back five
minutes and was held for those five minutes."""

from __future__ import annotations

import json
from typing import cast

import httpx

from edge.mqtt import MqttLink
from edge.outbox import MAX_BACKOFF_S, OutboxSender
from edge.store import OutboxMessage, Store
from tests.receiver import Receiver
from tests.unit.edge.conftest import Clock
from tests.unit.edge.test_outbox_broker_away import Link, hooked_sender

TOPIC = "hallops/h1/alerts"


def note(nid: str) -> bytes:
    return json.dumps({"id": nid}).encode()


async def test_a_notice_queued_before_the_clock_steps_back_goes_out_first_and_at_once(store: Store) -> None:
    clock = Clock()
    link = Link()
    link.connected = True
    sender = OutboxSender(store, cast(MqttLink, link), clock=clock)
    await sender.drain()  # the sender's pass before the step
    store.outbox.add([OutboxMessage("mqtt", TOPIC, note("alert:a:1:resolved"))], clock.now + 0.5)  # the rules' now
    clock.now -= 300.0  # NTP steps the clock back five minutes before the sender's next pass
    store.outbox.add([OutboxMessage("mqtt", TOPIC, note("alert:a:2:firing"))], clock.now)
    await sender.drain()
    assert [json.loads(p)["id"] for _, p in link.published] == ["alert:a:1:resolved", "alert:a:2:firing"]


async def test_a_retry_keeps_the_rest_of_its_backoff_across_a_step_back(
    store: Store, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    clock, _, hook, sender = hooked_sender(store, http, receiver)
    receiver.answers.append((503, {}))
    store.outbox.add([OutboxMessage("webhook", hook.url or "", note("alert:a:1:firing"))], clock.now)
    await sender.drain()  # refused: retry in 1 s (backoff 2^0), on the clock before the step
    assert len(receiver.received) == 1
    clock.now -= 3600.0  # back an hour
    await sender.drain()
    assert len(receiver.received) == 1, "the retry came before the rest of its backoff"
    clock.now += 1.0
    await sender.drain()
    assert len(receiver.received) == 2, "the retry was held for the hour the clock went back"


async def test_rows_scheduled_on_a_clock_that_was_ahead_before_a_restart_are_due_at_once(store: Store) -> None:
    """The gateway stopped while the clock was a year ahead (a box booted without time) and started after NTP set
    it: what it had queued then goes out at its first pass, not in a year."""
    clock = Clock()
    store.outbox.add([OutboxMessage("mqtt", TOPIC, note("alert:a:1:firing"))], clock.now + 365 * 86400.0)
    store.outbox.add([OutboxMessage("mqtt", TOPIC, note("alert:a:1:resolved"))], clock.now + MAX_BACKOFF_S / 2)
    link = Link()
    link.connected = True
    await OutboxSender(store, cast(MqttLink, link), clock=clock).drain()
    assert [json.loads(p)["id"] for _, p in link.published] == ["alert:a:1:firing"]  # the other waits its 150 s
