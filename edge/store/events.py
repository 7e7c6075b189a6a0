"""The event log, the saved hall state, and the dead letters: what ingest writes, and every read of the log.

The log keeps each message as it was accepted (topic + JSON), so a replay decodes it with the same contract code that
accepted it. Writes come in batches — one transaction for many messages — because ingest is the hot path; the hall
state is saved in the same transaction as the events it includes, so on restart `state + events after it` is exact.
A rejected message is kept as a dead letter (the start of its payload) in the same transaction as the batch it came
in. This module must not decode a payload or know the hall model: rows in, rows out.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from edge.store.cloud import CloudOutbox, CloudRecord
from edge.store.connection import transaction

STATE_LEVEL = 1  # zlib's fastest: most of what level 9 saves on the hall state, at a fifth of the time
# the WHERE of the index events_demand_at (schema.py, version 4), word for word: a query that repeats it may use it
DEMAND_TYPES = "type IN ('ticket.issued', 'window.opened', 'window.resumed', 'window.paused', 'window.closed')"
# … and of events_booking_at (schema.py, version 6)
BOOKING_TYPES = "type IN ('appointment.booked', 'appointment.cancelled', 'appointment.checked_in')"
DEAD_LETTER_KEEP_BYTES = 4096  # a dead letter keeps the start of the payload, enough to see what was wrong
EVENT_COLUMNS = "received_at, at, device_type, device_id, channel, type, seq, topic, payload"


@dataclass(frozen=True, slots=True)
class EventRow:
    """A message as the log keeps it: when the gateway received it and when it happened (UNIX seconds), who sent it
    on which channel, its type and sequence number, and the topic and payload it came with."""

    received_at: float
    at: float
    device_type: str
    device_id: str
    channel: str
    type: str
    seq: int | None
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back to be decoded again (a restore): its id in the log and what decoding needs."""

    id: int
    received_at: float
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SavedState:
    """The hall state saved last, and the id of the last event it includes; with it, today's KPI book and the demand
    profile as they stood then (None: not saved, as by a release before)."""

    event_id: int
    body: bytes
    kpi: bytes | None = None
    demand: bytes | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message ingest refused, to be kept as a dead letter: why is its PayloadError's reason, path and detail.
    `size` is the whole payload's when `payload` holds only its start (EventBatch.reject)."""

    received_at: float
    topic: str
    reason: str
    path: str
    detail: str
    payload: bytes
    size: int | None = None


class EventBatch:
    """The messages handled since the last write — events accepted, messages rejected — for one transaction.

    The ingest hot path adds an event per message. Its rows are kept as the tuples `executemany` takes, not as an
    EventRow each: a frozen dataclass per message, built and then taken apart again, cost 5–7 µs per message in an
    A/B of this step alone (the gateway's whole work is 110–140 µs per message on the same busy 2-core box); `add`
    costs what the tuple did."""

    __slots__ = ("_rows", "cloud", "rejected")

    def __init__(self) -> None:
        self._rows: list[tuple[float, float, str, str, str, str, int | None, str, bytes]] = []
        self.rejected: list[Rejected] = []
        self.cloud: list[CloudRecord] = []  # what the cloud is told of these events (a rating), stored with them

    @classmethod
    def of(cls, events: Iterable[EventRow], rejected: Iterable[Rejected] = ()) -> EventBatch:
        """A batch of these rows (tools and tests that write a log)."""
        batch = cls()
        for e in events:
            batch.add(e.received_at, e.at, e.device_type, e.device_id, e.channel, e.type, e.seq, e.topic, e.payload)
        batch.rejected.extend(rejected)
        return batch

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[float, float, str, str, str, str, int | None, str, bytes]]) -> EventBatch:
        """A batch of rows as another batch's `rows()` gives them (a batch written again row by row)."""
        batch = cls()
        batch._rows.extend(rows)
        return batch

    def add(  # noqa: PLR0913 - an EventRow's fields: the hot path builds no object per message
        self,
        received_at: float,
        at: float,
        device_type: str,
        device_id: str,
        channel: str,
        type: str,
        seq: int | None,
        topic: str,
        payload: bytes,
    ) -> None:
        """One accepted message: the fields of its EventRow."""
        self._rows.append((received_at, at, device_type, device_id, channel, type, seq, topic, payload))

    def reject(self, rejected: Rejected) -> None:
        """Keep a refused message until the commit — only the start the dead letter keeps: a flood of refused
        900 KiB messages held whole until the next commit took 40–115 MB that the process never gave back."""
        if len(rejected.payload) > DEAD_LETTER_KEEP_BYTES:
            whole = len(rejected.payload)
            rejected = replace(rejected, payload=rejected.payload[:DEAD_LETTER_KEEP_BYTES], size=whole)
        self.rejected.append(rejected)

    @property
    def events(self) -> int:
        """Events in the batch (rejected messages not counted)."""
        return len(self._rows)

    def rows(self) -> list[tuple[float, float, str, str, str, str, int | None, str, bytes]]:
        """The events as written (EventLog.write)."""
        return self._rows

    def __bool__(self) -> bool:
        return bool(self._rows or self.rejected or self.cloud)

    def clear(self) -> None:
        self._rows.clear()
        self.rejected.clear()
        self.cloud.clear()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead letter as kept: `size` is the whole payload's, `payload` its first DEAD_LETTER_KEEP_BYTES."""

    id: int
    received_at: float
    topic: str
    reason: str
    path: str
    detail: str
    size: int
    payload: bytes


class DeadLetters:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(self, rejected: Sequence[Rejected]) -> None:
        """Inside the ingest's transaction (EventLog.write)."""
        self._db.executemany(
            "INSERT INTO dead_letters (received_at, topic, reason, path, detail, size, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.received_at,
                    r.topic,
                    r.reason,
                    r.path,
                    r.detail,
                    len(r.payload) if r.size is None else r.size,
                    r.payload[:DEAD_LETTER_KEEP_BYTES],
                )
                for r in rejected
            ],
        )

    def newest(self, limit: int = 100, reason: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        sql = "SELECT id, received_at, topic, reason, path, detail, size, payload FROM dead_letters"
        args: tuple[object, ...] = ()
        if reason:
            sql += " WHERE reason = ?"
            args = (reason,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], int(r[6]), bytes(r[7])) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def prune(self, keep: int) -> int:
        """Keep only the newest `keep` dead letters."""
        top = self._db.execute("SELECT max(id) FROM dead_letters").fetchone()[0] or 0
        return int(self._db.execute("DELETE FROM dead_letters WHERE id <= ?", (top - keep,)).rowcount)


class EventLog:
    def __init__(self, db: sqlite3.Connection, dead_letters: DeadLetters, cloud: CloudOutbox | None = None) -> None:
        self._db = db
        self._dead_letters = dead_letters
        self._cloud = cloud
        self._count = int(db.execute("SELECT count(*) FROM events").fetchone()[0])

    def write(
        self,
        batch: EventBatch,
        state: bytes | None = None,
        state_saved_at: float = 0.0,
        kpi: bytes | None = None,
        demand: bytes | None = None,
    ) -> int:
        """Append a batch (and optionally the hall state that includes it, with today's KPI book and the demand
        profile) in one transaction.

        Returns the id of the last event in the log after the write."""
        rows = batch.rows()
        with transaction(self._db) as db:
            if rows:
                db.executemany(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if batch.rejected:
                self._dead_letters.add(batch.rejected)
            if batch.cloud and self._cloud is not None:
                self._cloud.add(batch.cloud)
            last = self.last_id()
            if state is not None:
                db.execute(
                    "INSERT OR REPLACE INTO hall_state (id, event_id, saved_at, body, kpi, demand)"
                    " VALUES (1, ?, ?, ?, ?, ?)",
                    (last, state_saved_at, _pack(state), _pack(kpi), _pack(demand)),
                )
        self._count += len(rows)
        return last

    def last_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def saved_state(self) -> SavedState | None:
        row = self._db.execute("SELECT event_id, body, kpi, demand FROM hall_state WHERE id = 1").fetchone()
        if row is None:
            return None
        body = bytes(row[1])
        try:  # a JSON document is saved by a release before compression (it starts with "{"); zlib's never does
            return SavedState(
                int(row[0]),
                body if body[:1] == b"{" else zlib.decompress(body),
                None if row[2] is None else zlib.decompress(bytes(row[2])),
                None if row[3] is None else zlib.decompress(bytes(row[3])),
            )
        except zlib.error as exc:
            raise ValueError(f"the saved hall state does not unpack: {exc}") from None

    def count(self) -> int:
        """Rows in the event log (kept as a counter: health checks call this often)."""
        return self._count

    def last_heard(self) -> float | None:
        """When the gateway last wrote what it heard (UNIX seconds, its own clock): the newest logged event's receive
        time or the last saved state, whichever is later. A restart was deaf from then on."""
        row = self._db.execute("SELECT received_at FROM events ORDER BY id DESC LIMIT 1").fetchone()
        saved = self._db.execute("SELECT saved_at FROM hall_state WHERE id = 1").fetchone()
        times = [float(r[0]) for r in (row, saved) if r is not None and r[0] is not None]
        return max(times) if times else None

    def newest_at(self) -> float | None:
        """The device time of the newest event (the events_at index answers it at once)."""
        row = self._db.execute("SELECT max(at) FROM events").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def oldest_at(self) -> float | None:
        """The device time of the oldest event (along the events_at index)."""
        row = self._db.execute("SELECT min(at) FROM events").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def count_since(self, since: float) -> int:
        """Events that happened since `since` (along the events_at index): a day's rate for the disk budget."""
        return int(self._db.execute("SELECT count(*) FROM events WHERE at >= ?", (since,)).fetchone()[0])

    def prune(self, before: float, limit: int | None = None, upto_id: int | None = None) -> int:
        """Retention: drop events that happened before `before` (epoch seconds) — all of them, or the `limit` oldest
        in one transaction (along the events_at index: a batch of edge/store/retention.py), none with an id above
        `upto_id`."""
        where, args = "at < ?", [before]
        if upto_id is not None:
            where, args = where + " AND id <= ?", [*args, upto_id]
        with transaction(self._db, immediate=True) as db:
            if limit is None:
                gone = int(db.execute(f"DELETE FROM events WHERE {where}", args).rowcount)
            else:
                gone = int(
                    db.execute(
                        f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE {where} ORDER BY at LIMIT ?)",
                        [*args, limit],
                    ).rowcount
                )
        self._count -= gone
        return gone

    # -- reading the log back ------------------------------------------------------------------------------

    def after(self, event_id: int, batch: int = 5000) -> Iterator[StoredEvent]:
        """The log after `event_id`, oldest first, read in pages so memory stays flat."""
        last = event_id
        while True:
            rows = self._db.execute(
                "SELECT id, received_at, topic, payload FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            for r in rows:
                yield StoredEvent(int(r[0]), float(r[1]), str(r[2]), bytes(r[3]))
            last = int(rows[-1][0])

    def rows_between(self, start: float, end: float) -> Iterator[EventRow]:
        """Events whose device time is in [start, end), in time order, as logged: one day's history for its KPI
        report (a heartbeat's row tells all it says: the report need not decode it). Streams from one cursor along
        the events_at index; consume it before writing to the store again."""
        cur = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE at >= ? AND at < ? ORDER BY at, id", (start, end)
        )
        for row in cur:
            yield EventRow(*row)

    def received_between(self, start: float, end: float) -> Iterator[EventRow]:
        """The events received in [start, end), in the order the gateway received them, as logged (what was
        accepted): a backtest's input."""
        cur = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id",
            (start, end),
        )
        for row in cur:
            yield EventRow(*row)

    def received_span(self, start: float, end: float) -> tuple[float, float] | None:
        """The first and the last receive time among the events received in [start, end), or None when none was:
        the part of a period a backtest can replay. Two look-ups along the events_received index."""
        where = "FROM events WHERE received_at >= ? AND received_at < ? ORDER BY received_at"
        first = self._db.execute(f"SELECT received_at {where} LIMIT 1", (start, end)).fetchone()
        if first is None:
            return None
        last = self._db.execute(f"SELECT received_at {where} DESC LIMIT 1", (start, end)).fetchone()
        return float(first[0]), float(last[0])

    def window_changes(self, since: float, until: float) -> Iterator[EventRow]:
        """Every window open/pause/resume/close in [since, until), in time order: the history the demand profile
        learns the windows' usual hours from."""
        cur = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {DEMAND_TYPES} AND at >= ? AND at < ? AND type IN "
            "('window.opened', 'window.resumed', 'window.paused', 'window.closed') ORDER BY at, id",
            (since, until),
        )
        for row in cur:
            yield EventRow(*row)

    def bookings(self, since: float, until: float) -> Iterator[EventRow]:
        """Every booking, cancellation and check-in that happened since `since` and was received before `until`, in
        the order received (the events_booking_at index), and the appointment tickets among the tickets issued then:
        what the hall's bookings are rebuilt from."""
        cur = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {BOOKING_TYPES} AND at >= ? AND +received_at < ? "
            f"UNION ALL SELECT {EVENT_COLUMNS} FROM events WHERE {DEMAND_TYPES} AND type = 'ticket.issued' "
            "AND at >= ? AND +received_at < ? AND instr(payload, '\"appointment\"') > 0",
            (since, until, since, until),
        )  # `+received_at`: read through the time indexes of those rows, not the whole log's by receipt
        rows = [EventRow(*row) for row in cur]
        rows.sort(key=lambda r: r.received_at)
        yield from rows

    def tickets_issued(self, since: float, until: float) -> Iterator[EventRow]:
        """Every ticket.issued in [since, until): the history the demand profile learns from."""
        cur = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE {DEMAND_TYPES} AND type = 'ticket.issued' "
            "AND at >= ? AND at < ?",
            (since, until),
        )
        for row in cur:
            yield EventRow(*row)

    def of_device(self, device_id: str, since: float, limit: int = 20, without: str = "hb") -> list[EventRow]:
        """One device's newest messages since `since`, newest first, other than `without` (the heartbeats, which say
        only "alive": last seen tells that) — a technician's view of its recent telemetry. Bounded by time so the
        events_at index keeps it quick without a per-device index on the ingest path."""
        rows = self._db.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE at >= ? AND device_id = ? AND type != ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (since, device_id, without, limit),
        ).fetchall()
        return [EventRow(*row) for row in rows]


def _pack(data: bytes | None) -> bytes | None:
    """A saved part, compressed: the city hall's state at 09:36, 93.6 KB of JSON, packs to 8.3 KB
    (bench/disk_writes.py)."""
    return None if data is None else zlib.compress(data, STATE_LEVEL)
