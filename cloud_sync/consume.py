"""`hallops cloud consume`: the halls' batches from the JetStream stream into PostgreSQL and the time series.

    provision (stream HALLOPS_UP, durable pull consumer "ingest"; retried while the cluster elects leaders)
    loop: fetch up to `batch` messages ─▶ sort out (decode, the subject's hall = the payload's hall; bad → dead letter)
          ─▶ one PostgreSQL transaction (cloud_sync/ledger.py) ─▶ hand lines to the time-series writer
          ─▶ ack (a dead letter: term) ─▶ publish each hall's confirmation once per group

Any number of instances share the durable consumer; a message is acknowledged only after its commit, so an instance
killed with messages in hand loses nothing (JetStream redelivers after `ack_wait`), and the ledger's idempotence
makes the redelivery change nothing. Nothing a hall sends can stop the loop: a bad message is counted by reason,
kept in `dead_letters` with its field path and terminated.

It must not decide anything about a hall; it stores and confirms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api as js_api
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from psycopg import errors as pg_errors

from cloud_sync import wire
from cloud_sync.ledger import DeadLetter, Ledger, Rows, add_batch
from cloud_sync.series import SeriesWriter, lines_of
from cloud_sync.settings import CloudSettings
from devices.errors import PayloadError

log = logging.getLogger(__name__)

_UP_PREFIX = wire.subject(wire.ROOT).split(".")  # ["cloud", "halls"]
_GRACE = 10.0  # s: what a fetch may overrun its timeout by, and what acks and confirmations may take


# -- counters --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Counters:
    """What one instance has done since it started (the fleet view and the log show them)."""

    messages: int = 0
    batches: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    statuses: int = 0
    groups: int = 0
    redelivered: int = 0
    confirmations: int = 0
    commit_failures: int = 0
    commit_s: float = 0.0
    dead_letters: Counter[str] = field(default_factory=Counter)

    def snapshot(self, series: SeriesWriter | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "messages": self.messages,
            "batches": self.batches,
            "records": self.records,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "statuses": self.statuses,
            "groups": self.groups,
            "redelivered": self.redelivered,
            "confirmations": self.confirmations,
            "commit_failures": self.commit_failures,
            "commit_s": round(self.commit_s, 3),
            "dead_letters": dict(self.dead_letters),
        }
        if series is not None:
            out["series"] = series.counters()
        return out


# -- sorting a fetched group out (pure) ------------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """A fetched group, decoded: the batches and statuses to commit, the rows, the lines per batch, and which
    messages are dead letters as a whole (terminated rather than acknowledged)."""

    batches: list[wire.Batch] = field(default_factory=list)
    statuses: list[wire.Status] = field(default_factory=list)
    rows: Rows = field(default_factory=Rows)
    lines: list[list[str]] = field(default_factory=list)  # per batch
    refused: set[int] = field(default_factory=set)  # indexes of the messages refused whole


def _route(subject: str) -> tuple[str, str, str | None]:
    """('up', hall, stream) or ('status', hall, None); PayloadError('bad_subject') for anything else."""
    parts = subject.split(".")
    if parts[:2] == _UP_PREFIX and len(parts) == 5 and parts[3] == "up":
        return "up", parts[2], parts[4]
    if parts[:2] == _UP_PREFIX and len(parts) == 4 and parts[3] == "status":
        return "status", parts[2], None
    raise PayloadError("bad_subject", f"{subject!r} is not a hall's up or status subject", "subject")


def _take(group: Group, subject: str, raw: bytes) -> None:
    where, hall, stream = _route(subject)
    if where == "status":
        status = wire.decode_status(raw)
        if status.hall != hall:
            raise PayloadError("wrong_hall", f"{status.hall!r} published on {hall!r}'s subject", "hall")
        group.statuses.append(status)
        return
    batch = wire.decode_batch(raw)
    if batch.hall != hall:
        raise PayloadError("wrong_hall", f"{batch.hall!r} published on {hall!r}'s subject", "hall")
    if batch.stream.value != stream:
        raise PayloadError("wrong_stream", f"{batch.stream.value!r} published on the subject of {stream!r}", "stream")
    add_batch(group.rows, batch, subject, raw)
    lines, problems = lines_of(batch)
    for p in problems:
        group.rows.dead.append(DeadLetter(p.reason, p.path, p.detail, subject, hall, raw))
    group.batches.append(batch)
    group.lines.append(lines)


def sort_out(messages: Sequence[tuple[str, bytes]]) -> Group:
    """Decode a fetched group. A message that breaks the wire is refused whole (dead letter with the reason and
    field path); a record whose body is wrong is a dead letter of its own and its batch is kept."""
    group = Group()
    for i, (subject, raw) in enumerate(messages):
        try:
            _take(group, subject, raw)
        except PayloadError as exc:
            hall = subject.split(".")[2] if subject.count(".") >= 2 else None
            group.rows.dead.append(DeadLetter(exc.reason, exc.path, exc.detail, subject, hall, raw))
            group.refused.add(i)
        except Exception as exc:  # never crash on input: whatever a library raises on it is a dead letter too
            log.exception("message on %s refused", subject)
            group.rows.dead.append(DeadLetter("unreadable", "", repr(exc)[:200], subject, None, raw))
            group.refused.add(i)
    return group


def confirmation(hall: str, confirmed: dict[str, int], now: float) -> bytes:
    return wire.encode(
        {"format": wire.ACK_FORMAT, "hall": hall, "confirmed": dict(sorted(confirmed.items())), "at": now}
    )


# -- the engine ------------------------------------------------------------------------------------------------------


async def connect_nats(cfg: CloudSettings, name: str) -> NatsClient:
    n = cfg.nats
    kwargs: dict[str, Any] = {
        "servers": n.servers,
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 5,
        "allow_reconnect": True,
    }
    if n.user:
        kwargs["user"] = n.user
        kwargs["password"] = n.password() or ""
    if n.credentials:
        kwargs["user_credentials"] = str(n.credentials)
    tls = n.tls_context()
    if tls is not None:
        kwargs["tls"] = tls

    async def on_error(exc: Exception) -> None:
        log.info("nats: %s", exc)

    async def on_disconnect() -> None:
        log.info("nats: disconnected, reconnecting")

    async def on_reconnect() -> None:
        log.info("nats: reconnected")

    kwargs.update(error_cb=on_error, disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
    return await nats.connect(**kwargs)


def stream_config(cfg: CloudSettings) -> js_api.StreamConfig:
    s = cfg.stream
    return js_api.StreamConfig(
        name=s.name,
        subjects=[wire.UP_SUBJECTS, wire.STATUS_SUBJECTS],
        storage=js_api.StorageType.FILE,
        retention=js_api.RetentionPolicy.INTEREST if s.retention == "interest" else js_api.RetentionPolicy.LIMITS,
        discard=js_api.DiscardPolicy.OLD,
        num_replicas=s.replicas,
        duplicate_window=s.duplicate_window_s,
        max_age=s.max_age_days * 86400,
        max_bytes=s.max_bytes,
    )


def consumer_config(cfg: CloudSettings) -> js_api.ConsumerConfig:
    c = cfg.consumer
    return js_api.ConsumerConfig(
        durable_name=c.durable,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        deliver_policy=js_api.DeliverPolicy.ALL,
        ack_wait=c.ack_wait_s,
        max_ack_pending=c.max_ack_pending,
        max_waiting=512,
    )


async def provision(js: JetStreamContext, cfg: CloudSettings, stop: asyncio.Event | None = None) -> None:
    """Create (or bring up to date) the stream and the durable consumer; idempotent. Retries while the cluster is
    electing a leader or not yet formed, until `consumer.provision_timeout_s`."""
    deadline = time.monotonic() + cfg.consumer.provision_timeout_s
    delay = 0.25
    while True:
        try:
            await _provision_once(js, cfg)
            return
        except Exception as exc:
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                raise
            log.info("provisioning %s/%s: %s; retrying", cfg.stream.name, cfg.consumer.durable, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _provision_once(js: JetStreamContext, cfg: CloudSettings) -> None:
    wanted = stream_config(cfg)
    try:
        info = await js.stream_info(cfg.stream.name)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("stream %s created (R%d)", cfg.stream.name, cfg.stream.replicas)
    else:
        have = info.config
        if have.retention != wanted.retention:  # JetStream cannot change it on a stream that exists
            log.warning(
                "stream %s keeps its retention %s (the configuration says %s; a stream made again takes it)",
                cfg.stream.name,
                have.retention,
                wanted.retention,
            )
            wanted.retention = have.retention
        if sorted(have.subjects or []) != sorted(wanted.subjects or []) or have.max_age != wanted.max_age:
            await js.update_stream(wanted)
            log.info("stream %s updated", cfg.stream.name)
    await js.add_consumer(cfg.stream.name, consumer_config(cfg))  # the same config again is accepted as is


class Consumer:
    """One `hallops cloud consume` instance: `await Consumer(cfg).run(stop)` until `stop` is set."""

    def __init__(self, cfg: CloudSettings, clock: Any = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.counters = Counters()
        self.series: SeriesWriter | None = None
        self.ledger: Ledger | None = None
        self.nc: NatsClient | None = None

    def snapshot(self) -> dict[str, Any]:
        return self.counters.snapshot(self.series)

    async def _ledger(self) -> Ledger:
        if self.ledger is None or self.ledger.conn.closed:
            pg = self.cfg.postgres
            self.ledger = await Ledger.connect(pg.dsn, pg.password(), pg.dead_letters_kept)
        return self.ledger

    async def run(self, stop: asyncio.Event) -> None:
        self.nc = await connect_nats(self.cfg, f"hallops-consume-{self.name}")
        try:
            js = self.nc.jetstream(timeout=10)
            await self._ledger()
            await provision(js, self.cfg, stop)
            if self.cfg.series is not None:
                self.series = SeriesWriter(self.cfg.series)
            sub = await js.pull_subscribe_bind(self.cfg.consumer.durable, self.cfg.stream.name)
            log.info("consuming %s/%s as %s", self.cfg.stream.name, self.cfg.consumer.durable, self.name)
            await self._loop(js, sub, stop)
        finally:
            await self._close()

    async def _loop(self, js: JetStreamContext, sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        c = self.cfg.consumer
        next_log = time.monotonic() + c.counters_log_s
        failures = 0
        committing: asyncio.Task[None] | None = None
        while not stop.is_set():
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + c.counters_log_s
                log.info("counters %s", json.dumps(self.snapshot(), sort_keys=True))
            try:
                # (bounded twice: a fetch must never outlive its own timeout, whatever a reconnect does inside)
                msgs = await asyncio.wait_for(sub.fetch(c.batch, timeout=c.fetch_timeout_s), c.fetch_timeout_s + _GRACE)
            except nats.errors.TimeoutError:
                continue
            except Exception as exc:  # a node gone, a leader moving: wait a moment and fetch again
                failures += 1
                log.info("fetch failed (%s): %s", type(exc).__name__, exc)
                await asyncio.sleep(min(0.2 * failures, 2.0))
                if failures % 10 == 0:
                    sub = await self._rebind(js, sub)
                continue
            failures = 0
            if msgs:
                # two stages: this group is decoded while the one before is being committed (the database's time
                # is then not the consumer's); commits stay one at a time, each acknowledged after its own
                group = self.prepare(msgs)
                if committing is not None:
                    await committing
                committing = asyncio.create_task(self.finish(msgs, group))
        if committing is not None:
            await committing
        log.info("counters %s", json.dumps(self.snapshot(), sort_keys=True))

    async def _rebind(
        self, js: JetStreamContext, sub: JetStreamContext.PullSubscription
    ) -> JetStreamContext.PullSubscription:
        try:
            await provision(js, self.cfg)
            await sub.unsubscribe()
            return await js.pull_subscribe_bind(self.cfg.consumer.durable, self.cfg.stream.name)
        except Exception as exc:
            log.info("re-binding the consumer failed: %s", exc)
            return sub

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Commit a fetched group, write its series, acknowledge it and confirm to its halls."""
        await self.finish(msgs, self.prepare(msgs))

    def prepare(self, msgs: Sequence[Msg]) -> Group:
        k = self.counters
        k.groups += 1
        k.messages += len(msgs)
        k.redelivered += sum(1 for m in msgs if m.metadata.num_delivered > 1)
        return sort_out([(m.subject, m.data) for m in msgs])

    async def finish(self, msgs: Sequence[Msg], group: Group) -> None:
        try:
            await self._finish(msgs, group)
        except Exception:  # never crash the loop: what was not acknowledged comes back after ack_wait
            log.exception("a group of %d messages failed; they come back after ack_wait", len(msgs))

    async def _finish(self, msgs: Sequence[Msg], group: Group) -> None:
        k = self.counters
        started = time.perf_counter()
        try:
            ledger = await self._ledger()
            outcome = await ledger.commit(group.batches, group.rows, group.statuses, self.clock())
        except (pg_errors.DataError, pg_errors.IntegrityError) as exc:
            # a value the database refuses (not the database away): one message of the group; find it by committing
            # them one by one, so that it becomes a dead letter and every other hall's data goes on
            k.commit_failures += 1
            log.warning(
                "commit refused (%s: %s); committing the %d messages one by one", type(exc).__name__, exc, len(msgs)
            )
            if len(msgs) > 1:
                for m in msgs:
                    await self._finish([m], self.prepare([m]))
                return
            await self._refuse(msgs[0], group, exc)
            return
        except Exception as exc:  # the database away: nothing acknowledged, it all comes back
            k.commit_failures += 1
            log.warning("commit failed (%s): %s; %d messages back to the stream", type(exc).__name__, exc, len(msgs))
            await self._drop_ledger()
            await asyncio.gather(*(m.nak(delay=1.0) for m in msgs), return_exceptions=True)
            await asyncio.sleep(1.0)
            return
        k.commit_s += time.perf_counter() - started
        k.batches += len(group.batches)
        k.records += sum(len(b.records) for b in group.batches)
        k.statuses += len(group.statuses)
        k.stored += outcome.stored
        k.duplicates += outcome.duplicates
        for d in group.rows.dead:
            k.dead_letters[d.reason] += 1
            log.warning("dead letter %s on %s: %s: %s", d.reason, d.subject, d.path, d.detail)
        if self.series is not None:
            for i in outcome.fresh:
                self.series.write(group.lines[i])
        acks = asyncio.gather(
            *((m.term() if i in group.refused else m.ack()) for i, m in enumerate(msgs)), return_exceptions=True
        )
        try:  # an ack lost is a redelivery after ack_wait, which the ledger makes harmless
            await asyncio.wait_for(acks, _GRACE)
        except TimeoutError:
            log.info("acknowledging %d messages timed out; they come back after ack_wait", len(msgs))
        try:
            await asyncio.wait_for(self._confirm(outcome.confirmations), _GRACE)
        except TimeoutError:
            log.info("confirmations timed out; the next commit of each hall confirms again")

    async def _refuse(self, msg: Msg, group: Group, exc: Exception) -> None:
        """A message whose values the database refuses: a dead letter (in a transaction of its own), terminated."""
        hall = group.batches[0].hall if group.batches else None
        dead = DeadLetter("refused_by_database", "", f"{type(exc).__name__}: {exc}"[:512], msg.subject, hall, msg.data)
        try:
            ledger = await self._ledger()
            await ledger.commit([], Rows(dead=[dead]), [], self.clock())
        except Exception as again:  # the dead letter is a courtesy: the message is still taken off the stream
            log.warning("dead letter not stored: %s", again)
        self.counters.dead_letters[dead.reason] += 1
        log.warning("dead letter %s on %s: %s", dead.reason, dead.subject, dead.detail)
        with contextlib.suppress(Exception):
            await msg.term()

    async def _confirm(self, confirmations: dict[str, dict[str, int]]) -> None:
        assert self.nc is not None
        now = self.clock()
        for hall, confirmed in sorted(confirmations.items()):
            try:
                await self.nc.publish(wire.subject(wire.ack_topic(hall)), confirmation(hall, confirmed, now))
                self.counters.confirmations += 1
            except Exception as exc:  # the next commit confirms again; the edge re-sends what stays unconfirmed
                log.info("confirmation to %s not published: %s", hall, exc)

    async def _drop_ledger(self) -> None:
        if self.ledger is not None:
            with contextlib.suppress(Exception):
                await self.ledger.close()
            self.ledger = None

    async def _close(self) -> None:
        if self.series is not None:
            await asyncio.to_thread(self.series.close)
        await self._drop_ledger()
        if self.nc is not None and not self.nc.is_closed:
            try:  # (not drain(): a pull subscription's drain waits out its timeout) acks and confirmations are out
                await self.nc.flush(timeout=2)
            except Exception as exc:
                log.info("nats: %s while closing", exc)
            await self.nc.close()


__all__ = ["Consumer", "Counters", "Group", "confirmation", "consumer_config", "provision", "sort_out", "stream_config"]
