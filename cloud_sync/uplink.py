"""The uplink: the hall's cloud outbox sent to the city/province engine over MQTT, and the cloud's confirmations back.

    Backlog (the gateway's SQLite outbox) ─▶ Batch per stream, priority first, paced ─▶ cloud/halls/<hall>/up/<stream>
    cloud/halls/<hall>/ack ─▶ Confirmation ─▶ Backlog.confirm (prune)       (QoS 1; MQTT 3.1.1 is enough)
    every status_every_s ─▶ cloud/halls/<hall>/status; the connection's will says the hall went away

One connection of its own to the engine (not the hall's broker: a bridge keeps its queue in memory and drops past its
limit), with the hall's own credentials, TLS and a client id of its own. Nothing is trusted to the connection: a batch
is resent until a confirmation covers it — after every reconnect, and when the cloud has confirmed nothing new for
`resend_after_s` since it was sent. The engine's PUBACK only means it holds the message; the confirmation means a
consumer committed it. Sending is paced (`max_records_per_s`, `in_flight` messages unanswered) so that a backlog
drains quickly but the box and the link keep room for what happens now; the highest-priority stream always goes
first, so alerts and tickets overtake an hour of telemetry.

A file restored from a backup (its backlog says `restored()`) may number records below what the cloud already holds:
on such a file the uplink sends no batch until the cloud has said what it holds. The status sent at connect is that
question — a consumer answers every status with the hall's confirmations — and the first confirmation is handed to
`Backlog.reconcile` (edge/store/cloud.py: what the cloud has is deleted, what is new is renumbered above it) before
anything is sent.

Owns the connection, the batches' boundaries, the pace and the counters. It must not store or decide anything:
the gateway hands it the `Backlog` and a function that says the hall's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiomqtt

from cloud_sync.wire import (
    BATCH_FORMAT,
    MAX_BATCH_BYTES,
    PRIORITY,
    STATUS_FORMAT,
    Stream,
    ack_topic,
    decode_confirmation,
    encode,
    status_topic,
    up_topic,
)
from devices.broker_address import BrokerAddress
from devices.errors import PayloadError

log = logging.getLogger(__name__)

ORDER = sorted(Stream, key=lambda s: (PRIORITY[s], list(Stream).index(s)))
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
IDLE_S = 1.0  # with nothing to send, look again this often (new rows also wake it: `wake`)


class Held(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def body(self) -> str: ...  # JSON


class ConfirmResult(Protocol):
    @property
    def deleted(self) -> int: ...
    @property
    def renumbered(self) -> Sequence[object]: ...
    @property
    def refused(self) -> Sequence[Stream]: ...


class Backlog(Protocol):
    """What waits for the cloud (edge/store/cloud.py `CloudOutbox`)."""

    def pending(self, stream: Stream, after: int, limit: int, max_bytes: int) -> Sequence[Held]: ...

    def confirm(self, confirmed: Mapping[Stream, int], now: float | None = None) -> ConfirmResult: ...

    def confirmed(self) -> dict[Stream, int]: ...

    def restored(self) -> Mapping[Stream, int] | None: ...

    def reconcile(self, cloud: Mapping[Stream, int], now: float | None = None) -> Sequence[object]: ...


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    addresses: tuple[BrokerAddress, ...]
    client_id: str
    username: str | None = None
    password: str | None = None
    batch_records: int = 200
    max_records_per_s: float = 2000.0
    in_flight: int = 8
    resend_after_s: float = 60.0
    status_every_s: float = 30.0
    keepalive_s: int = 30


@dataclass(slots=True)
class UplinkCounters:
    connects: int = 0
    batches: int = 0
    records: int = 0
    resent: int = 0  # batches sent again (after a reconnect or the resend timeout)
    confirmations: int = 0
    confirmed_records: int = 0  # rows the confirmations let go
    reconciled: int = 0  # restored files brought in line with the cloud's confirmation
    statuses: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # confirmations not taken, by reason


class Uplink:
    def __init__(
        self,
        hall: str,
        settings: UplinkSettings,
        backlog: Backlog,
        status: Callable[[], dict[str, object]],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not settings.addresses:
            raise ValueError("the uplink needs at least one address of the cloud engine")
        self.hall = hall
        self.settings = settings
        self._backlog = backlog
        self._status = status
        self._wall = wall
        self.counters = UplinkCounters()
        self.connected = False
        self.endpoint: str | None = None  # host:port of the node connected to (or last tried)
        self.connected_since: float | None = None  # UNIX s
        self.last_error: str | None = None
        self.last_confirmation_at: float | None = None
        self._wake = asyncio.Event()
        self._sent: dict[Stream, int] = {}  # per stream: the highest number sent on this connection
        self._progress: dict[Stream, float] = {}  # per stream: when the cloud last confirmed more (or we sent first)
        self._confirmed: dict[Stream, int] = {}
        self._next_send = 0.0  # monotonic: the pace
        self.awaiting_cloud = False  # a restored file: nothing is sent until the cloud's confirmation is applied
        self.session = ""  # this connection's id, in every status and in its will

    def wake(self) -> None:
        """New rows were added: send without waiting for the next look."""
        self._wake.set()

    async def run(self) -> None:
        """Connect (each address in turn), send, take confirmations, until cancelled; reconnect with backoff."""
        delay = RECONNECT_MIN_S
        turn = 0
        while True:
            address = self.settings.addresses[turn % len(self.settings.addresses)]
            turn += 1
            self.endpoint = f"{address.host}:{address.port}"
            try:
                await self._session(address)
                delay = RECONNECT_MIN_S
            except (aiomqtt.MqttError, OSError) as exc:  # (a refused or reset socket, a TLS handshake that failed)
                self.last_error = str(exc) or type(exc).__name__
                if self.connected:
                    log.warning("cloud uplink lost (%s): %s; reconnecting", self.endpoint, self.last_error)
                else:
                    log.info("cloud engine unreachable at %s: %s; retrying in %.0f s", self.endpoint, exc, delay)
            finally:
                self.connected = False
                self.connected_since = None
            # randomised: 3,500 halls that lost the cluster together must not all come back in the same second
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _session(self, address: BrokerAddress) -> None:
        s = self.settings
        self.session = secrets.token_hex(8)  # the will names it: a consumer applies it to this connection's statuses
        will = aiomqtt.Will(status_topic(self.hall), self._status_payload(online=False), qos=1)
        client = aiomqtt.Client(
            address.host,
            address.port,
            identifier=s.client_id,
            username=s.username,
            password=s.password,
            keepalive=s.keepalive_s,
            clean_session=True,  # confirmations are watermarks, sent again with every commit: no session to keep
            protocol=aiomqtt.ProtocolVersion.V311,
            tls_context=address.tls_context(),
            will=will,
        )
        async with client:
            await client.subscribe(ack_topic(self.hall), qos=1)
            self.awaiting_cloud = self._backlog.restored() is not None
            if self.awaiting_cloud:
                log.warning(
                    "cloud outbox: this database was restored from a backup; nothing is sent until the cloud confirms "
                    "what it holds (its answer to this connection's status)"
                )
            self._confirmed = self._backlog.confirmed()
            self._sent = dict(self._confirmed)  # everything not confirmed goes again
            now = time.monotonic()
            self._progress = dict.fromkeys(Stream, now)
            self.connected, self.connected_since, self.last_error = True, self._wall(), None
            self.counters.connects += 1
            log.info("cloud uplink connected to %s as %s", self.endpoint, s.client_id)
            await _first_failure(self._receive(client), self._send(client), self._report(client))

    # -- confirmations -----------------------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
            self.take_confirmation(payload)

    def take_confirmation(self, payload: bytes) -> None:
        """A confirmation from the cloud: prune what it covers. Anything wrong with it is counted and logged, never
        raised (it only ever lets rows go; a bad one changes nothing)."""
        try:
            c = decode_confirmation(payload)
        except PayloadError as exc:
            self._refuse("bad_confirmation", str(exc))
            return
        if c.hall != self.hall:
            self._refuse("wrong_hall", f"a confirmation for hall {c.hall!r}")
            return
        if self.awaiting_cloud:
            self._reconcile(c.confirmed)
            return
        news = {s: n for s, n in c.confirmed.items() if n > self._confirmed.get(s, 0)}
        if not news:
            return
        try:
            result = self._backlog.confirm(news, self._wall())
        except Exception as exc:  # a storage fault: the next confirmation says it again
            self._refuse("not_stored", f"{type(exc).__name__}: {exc}")
            return
        for stream in result.refused:
            self._refuse("implausible", f"{stream.value} confirmed up to {news[stream]}, never sent")
            news.pop(stream, None)
        now = time.monotonic()
        for stream, n in news.items():
            self._confirmed[stream] = n
            self._sent[stream] = max(self._sent.get(stream, 0), n)
            self._progress[stream] = now
        for moved in result.renumbered:
            log.warning("cloud outbox renumbered (the cloud had more than this file gave): %s", moved)
            self._sent = self._backlog.confirmed()  # the rows waiting have new numbers: send them all
        self.counters.confirmations += 1
        self.counters.confirmed_records += result.deleted
        self.last_confirmation_at = self._wall()

    def _reconcile(self, cloud: Mapping[Stream, int]) -> None:
        """The cloud's confirmation on a restored file: everything it names, and 0 for a stream it does not."""
        try:
            steps = self._backlog.reconcile(cloud, self._wall())
        except Exception as exc:  # a storage fault: the answer to the next status tries again
            self._refuse("not_stored", f"{type(exc).__name__}: {exc}")
            return
        for step in steps:
            log.warning("cloud outbox reconciled after a restore: %s", step)
        self.awaiting_cloud = False
        self._confirmed = self._backlog.confirmed()
        self._sent = dict(self._confirmed)
        self._progress = dict.fromkeys(Stream, time.monotonic())
        self.counters.reconciled += 1
        self.counters.confirmations += 1
        self.last_confirmation_at = self._wall()
        self.wake()

    def _refuse(self, reason: str, detail: str) -> None:
        if self.counters.refused[reason] == 0:
            log.warning("cloud confirmation not taken (%s): %s", reason, detail)
        self.counters.refused[reason] += 1

    # -- sending -----------------------------------------------------------------------------------------------

    async def _send(self, client: aiomqtt.Client) -> None:
        slots = asyncio.Semaphore(self.settings.in_flight)
        failed: list[BaseException] = []

        async def publish(topic: str, payload: bytes) -> None:
            try:
                await client.publish(topic, payload, qos=1)
            except aiomqtt.MqttError as exc:
                failed.append(exc)
            finally:
                slots.release()

        pending: set[asyncio.Task[None]] = set()
        while True:
            if failed:
                raise failed[0]
            self._resend_due()
            batch = None if self.awaiting_cloud else self.next_batch()
            if batch is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_S)
                continue
            stream, hi, count, payload = batch
            await self._pace(count)
            await slots.acquire()
            task = asyncio.create_task(publish(up_topic(self.hall, stream), payload))
            pending.add(task)
            task.add_done_callback(pending.discard)
            if self._sent.get(stream, 0) <= self._confirmed.get(stream, 0):
                self._progress[stream] = time.monotonic()  # the resend clock starts with the first unconfirmed send
            self._sent[stream] = hi
            self.counters.batches += 1
            self.counters.records += count

    def next_batch(self) -> tuple[Stream, int, int, bytes] | None:
        """The next message to send: the first stream in priority order with rows above what was sent."""
        limit = self.settings.batch_records
        for stream in ORDER:
            after = self._sent.get(stream, 0)
            rows = self._backlog.pending(stream, after, limit, MAX_BATCH_BYTES - 1024)
            if rows:
                return stream, rows[-1].seq, len(rows), self.batch(stream, after, rows)
        return None

    def batch(self, stream: Stream, lo: int, rows: Sequence[Held]) -> bytes:
        """The batch for `rows` (every row held in (lo, last]); bodies are stored JSON, not parsed again."""
        records = ",".join(f'{{"seq":{r.seq},"at":{r.at!r},"kind":{json.dumps(r.kind)},"body":{r.body}}}' for r in rows)
        return (
            f'{{"format":"{BATCH_FORMAT}","hall":{json.dumps(self.hall)},"stream":"{stream.value}",'
            f'"lo":{lo},"hi":{rows[-1].seq},"sent_at":{self._wall():.3f},"records":[{records}]}}'
        ).encode()

    def _resend_due(self) -> None:
        """What was sent and has not been confirmed for `resend_after_s` goes again."""
        now = time.monotonic()
        for stream, sent in self._sent.items():
            confirmed = self._confirmed.get(stream, 0)
            if sent > confirmed and now - self._progress.get(stream, now) >= self.settings.resend_after_s:
                log.info(
                    "cloud has not confirmed %s above %d for %.0f s: sending it again",
                    stream,
                    confirmed,
                    now - self._progress[stream],
                )
                self._sent[stream] = confirmed
                self._progress[stream] = now
                self.counters.resent += 1

    async def _pace(self, records: int) -> None:
        now = time.monotonic()
        if self._next_send > now:
            await asyncio.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + records / self.settings.max_records_per_s

        # -- status ------------------------------------------------------------------------------------------------

    async def _report(self, client: aiomqtt.Client) -> None:
        while True:
            await client.publish(status_topic(self.hall), self._status_payload(online=True), qos=1)
            self.counters.statuses += 1
            await asyncio.sleep(self.settings.status_every_s)

    def _status_payload(self, online: bool) -> bytes:
        body: dict[str, object] = {}
        if online:
            try:
                body = self._status()
            except Exception as exc:  # the status is a courtesy: never the reason the link drops
                log.warning("hall status for the cloud not made: %s", exc)
        body = {**body, "session": self.session}
        return encode({"format": STATUS_FORMAT, "hall": self.hall, "at": self._wall(), "online": online, "body": body})


async def _first_failure(*work: Coroutine[Any, Any, None]) -> None:
    """Run the parts of a connection together until one of them fails: cancel the others and raise its exception
    as it is (a TaskGroup would wrap an MqttError in an ExceptionGroup)."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        exc = t.exception()
        if exc is not None:
            raise exc
