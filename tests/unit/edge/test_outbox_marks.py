"""How much a crash sends again: the rows of a pass are marked delivered at its end, and every `MARK_EVERY_S` of a
long pass — a backlog after a restart, a broker slow to acknowledge — so a `kill -9` in the middle repeats only the
last half second of it. (Issue 22's reliability suite heard 7 notifications of 11 twice across 5 kills under load: a
pass marked its rows only at its end.)"""

from __future__ import annotations

from typing import cast

import httpx

from edge.mqtt import MqttLink
from edge.outbox import MARK_EVERY_S, OutboxSender
from edge.store import OutboxMessage, Store
from tests.unit.edge.conftest import Clock

PUBLISH_S = 0.2  # each acknowledgement takes this long: 10 rows are a 2-second pass


class SlowBroker:
    """A connected link whose every publish takes `PUBLISH_S` on the test's ticker; at each publish it notes how many
    rows the store already has marked delivered — what a crash at that moment would not send again."""

    def __init__(self, store: Store) -> None:
        self.connected = True
        self.store = store
        self.elapsed = 0.0
        self.marked_before: list[int] = []

    def tick(self) -> float:
        return self.elapsed

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.marked_before.append(self.store.outbox.counts()["sent"])
        self.elapsed += PUBLISH_S


def backlog(store: Store, clock: Clock, n: int) -> None:
    store.outbox.add(
        [OutboxMessage("mqtt", "hallops/h1/alerts", f'{{"id": "alert:a{i}:1:firing"}}'.encode()) for i in range(n)],
        clock.now,
    )


async def test_a_long_pass_marks_what_it_sent_every_half_second(store: Store, http: httpx.AsyncClient) -> None:
    clock = Clock()
    broker = SlowBroker(store)
    sender = OutboxSender(store, cast(MqttLink, broker), http, clock=clock, ticker=broker.tick)
    backlog(store, clock, 10)

    await sender.drain()

    assert store.outbox.counts() == {"sent": 10, "failed": 0, "pending": 0} and sender.sent == 10
    # at each publish, the rows sent more than MARK_EVERY_S before it are marked: a crash repeats at most that much
    unmarked = [i - marked for i, marked in enumerate(broker.marked_before)]
    assert max(unmarked) * PUBLISH_S <= MARK_EVERY_S, broker.marked_before
    assert broker.marked_before[-1] >= 10 - 1 - MARK_EVERY_S / PUBLISH_S


async def test_a_short_pass_marks_its_rows_in_one_write(store: Store, http: httpx.AsyncClient) -> None:
    """The flash's sake (bench/disk_writes.py): a pass that takes less than MARK_EVERY_S writes its marks once."""
    clock = Clock()
    broker = SlowBroker(store)
    sender = OutboxSender(store, cast(MqttLink, broker), http, clock=clock, ticker=lambda: 0.0)
    backlog(store, clock, 10)
    writes: list[int] = []
    mark = store.outbox.sent
    store.outbox.sent = lambda ids, now: (writes.append(len(ids)), mark(ids, now))[1]  # type: ignore[method-assign]

    await sender.drain()

    assert writes == [10] and broker.marked_before == [0] * 10
