"""The cloud outbox: what the city/province tier is sent (cloud_sync/wire.py), kept until the cloud confirms it.

Rows are added inside the transaction of what they report — a decision's alert changes and records
(DecisionLog.write), audit entries (AuditLog.append), the exporter's ratings, device changes, hours and samples — so a
crash cannot leave a decision made and not reported, or reported twice. Each stream numbers its rows from 1; the
number is kept in `cloud_streams` and never reused (a prune or the disk budget does not move it back). A confirmation
deletes what it covers; the disk budget deletes the oldest rows of the droppable streams (downsampled telemetry)
only, and counts them.

When the hall has no cloud configured, `enabled` is False and nothing is written: the table does not grow.
This module must not send anything or decide what a record says (cloud_sync/uplink.py sends, the writers decide).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cloud_sync.wire import DROPPABLE, PRIORITY, Stream
from edge.store.connection import transaction


@dataclass(frozen=True, slots=True)
class CloudRecord:
    """A row to add: its stream, when it happened (UNIX s), its kind and its body as JSON text."""

    stream: Stream
    at: float
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class HeldRecord:
    seq: int
    at: float
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class StreamState:
    stream: Stream
    last_seq: int  # the newest number given
    confirmed: int  # the cloud holds every record up to here
    confirmed_at: float | None  # when the cloud last confirmed something new (UNIX s)
    dropped: int  # rows the disk budget deleted unsent, since the file was made
    held: int  # rows waiting for confirmation
    held_bytes: int
    oldest_at: float | None  # when the oldest row waiting was added (UNIX s, this machine's clock)


@dataclass(frozen=True, slots=True)
class Renumbered:
    """The cloud confirmed past the newest number given here (the file was restored from an older backup, or made
    again): the rows waiting were moved above the cloud's number, so that they are not taken for records it has."""

    stream: Stream
    by: int


@dataclass(slots=True)
class Confirmed:
    """What a confirmation did: the rows deleted, the streams renumbered, the streams whose number was refused."""

    deleted: int = 0
    renumbered: list[Renumbered] = field(default_factory=list)
    refused: list[Stream] = field(default_factory=list)


RENUMBER_MAX = 2**40  # 35 years at 1,000 records a second: a confirmation above it is refused, never followed


class CloudOutbox:
    def __init__(self, db: sqlite3.Connection, enabled: bool = False) -> None:
        self._db = db
        self.enabled = enabled

    # -- writing (inside the caller's transaction) -------------------------------------------------------------

    def add(self, records: Sequence[CloudRecord], now: float | None = None) -> None:
        """Number the records and keep them, in the transaction open (or one of their own). Nothing when disabled."""
        if not self.enabled or not records:
            return
        created = time.time() if now is None else now
        with transaction(self._db) as db:
            by_stream: dict[Stream, list[CloudRecord]] = {}
            for r in records:
                by_stream.setdefault(r.stream, []).append(r)
            for stream, rows in by_stream.items():
                db.execute("INSERT OR IGNORE INTO cloud_streams (stream) VALUES (?)", (stream.value,))
                last = int(
                    db.execute("SELECT last_seq FROM cloud_streams WHERE stream = ?", (stream.value,)).fetchone()[0]
                )
                db.executemany(
                    "INSERT INTO cloud_outbox (stream, seq, at, created, kind, body) VALUES (?, ?, ?, ?, ?, ?)",
                    [(stream.value, last + i, r.at, created, r.kind, r.body) for i, r in enumerate(rows, 1)],
                )
                db.execute(
                    "UPDATE cloud_streams SET last_seq = ?, held_bytes = held_bytes + ? WHERE stream = ?",
                    (last + len(rows), sum(len(r.body.encode()) + len(r.kind) + 40 for r in rows), stream.value),
                )

    # -- the uplink's side -------------------------------------------------------------------------------------

    def pending(self, stream: Stream, after: int, limit: int, max_bytes: int) -> list[HeldRecord]:
        """The rows waiting in `stream` numbered above `after`, oldest first: at most `limit`, and no more than
        `max_bytes` of bodies (at least one)."""
        out: list[HeldRecord] = []
        size = 0
        for seq, at, kind, body in self._db.execute(
            "SELECT seq, at, kind, body FROM cloud_outbox WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
            (stream.value, after, limit),
        ):
            size += len(body.encode()) + 64  # bytes on the wire (a Chinese character is three)
            if out and size > max_bytes:
                break
            out.append(HeldRecord(int(seq), float(at), str(kind), str(body)))
        return out

    def confirm(self, confirmed: Mapping[Stream, int], now: float | None = None) -> Confirmed:
        """The cloud holds every record up to these numbers: delete them."""
        now = time.time() if now is None else now
        result = Confirmed()
        with transaction(self._db, immediate=True) as db:
            for stream, upto in confirmed.items():
                row = db.execute(
                    "SELECT last_seq, confirmed FROM cloud_streams WHERE stream = ?", (stream.value,)
                ).fetchone()
                last, before = (int(row[0]), int(row[1])) if row else (0, 0)
                if upto <= before:
                    continue
                if upto > last:
                    if upto > RENUMBER_MAX:  # not a restored file: a confirmation nobody can have earned
                        result.refused.append(stream)
                        continue
                    # numbers the cloud has and this file never gave: ours began again below them. The rows waiting
                    # move above the cloud's number, and numbering goes on from there
                    shift = upto - before
                    db.execute("INSERT OR IGNORE INTO cloud_streams (stream) VALUES (?)", (stream.value,))
                    db.execute(
                        "UPDATE cloud_outbox SET seq = seq + ? WHERE stream = ? AND seq > ?",
                        (shift, stream.value, before),
                    )
                    db.execute(
                        "UPDATE cloud_streams SET last_seq = last_seq + ?, confirmed = ?, confirmed_at = ?"
                        " WHERE stream = ?",
                        (shift, upto, now, stream.value),
                    )
                    result.renumbered.append(Renumbered(stream, shift))
                    continue
                size = db.execute(
                    "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB)) + length(kind) + 40), 0)"
                    " FROM cloud_outbox WHERE stream = ? AND seq <= ?",
                    (stream.value, upto),
                ).fetchone()
                db.execute("DELETE FROM cloud_outbox WHERE stream = ? AND seq <= ?", (stream.value, upto))
                db.execute(
                    "UPDATE cloud_streams SET confirmed = ?, confirmed_at = ?, held_bytes = max(0, held_bytes - ?)"
                    " WHERE stream = ?",
                    (upto, now, int(size[1]), stream.value),
                )
                result.deleted += int(size[0])
        return result

    def confirmed(self) -> dict[Stream, int]:
        rows = self._db.execute("SELECT stream, confirmed FROM cloud_streams").fetchall()
        return {Stream(s): int(c) for s, c in rows if s in Stream._value2member_map_}

    def held_bytes(self) -> int:
        row = self._db.execute("SELECT coalesce(sum(held_bytes), 0) FROM cloud_streams").fetchone()
        return int(row[0])

    def trim(self, budget_bytes: int) -> int:
        """Keep the outbox within `budget_bytes`: delete the oldest rows of the droppable streams (downsampled
        telemetry) until it is a tenth under, never another stream's. Returns the rows dropped (counted per stream)."""
        held = self.held_bytes()
        if held <= budget_bytes:
            return 0
        need = held - budget_bytes * 9 // 10
        dropped = 0
        with transaction(self._db, immediate=True) as db:
            for stream in sorted(DROPPABLE, key=lambda s: -PRIORITY[s]):
                while need > 0:
                    rows = db.execute(
                        "SELECT seq, length(CAST(body AS BLOB)) + length(kind) + 40 FROM cloud_outbox WHERE stream = ?"
                        " ORDER BY seq LIMIT 1000",
                        (stream.value,),
                    ).fetchall()
                    if not rows:
                        break
                    freed = n = upto = 0
                    for seq, size in rows:
                        upto, freed, n = int(seq), freed + int(size), n + 1
                        if freed >= need:
                            break
                    db.execute("DELETE FROM cloud_outbox WHERE stream = ? AND seq <= ?", (stream.value, upto))
                    db.execute(
                        "UPDATE cloud_streams SET dropped = dropped + ?, held_bytes = max(0, held_bytes - ?)"
                        " WHERE stream = ?",
                        (n, freed, stream.value),
                    )
                    need -= freed
                    dropped += n
        return dropped

    def states(self) -> list[StreamState]:
        """Each stream as it stands, in priority order (streams never written are left out)."""
        found = {
            str(s): (int(last), int(conf), at, int(drop), int(size))
            for s, last, conf, at, drop, size in self._db.execute(
                "SELECT stream, last_seq, confirmed, confirmed_at, dropped, held_bytes FROM cloud_streams"
            )
        }
        held = {
            str(s): (int(n), oldest)
            for s, n, oldest in self._db.execute(
                "SELECT stream, count(*), min(created) FROM cloud_outbox GROUP BY stream"
            )
        }
        out = []
        for stream in sorted(Stream, key=lambda s: (PRIORITY[s], list(Stream).index(s))):
            if stream.value not in found:
                continue
            last, conf, at, drop, size = found[stream.value]
            n, oldest = held.get(stream.value, (0, None))
            out.append(
                StreamState(
                    stream,
                    last,
                    conf,
                    float(at) if at is not None else None,
                    drop,
                    n,
                    size,
                    float(oldest) if oldest is not None else None,
                )
            )
        return out
