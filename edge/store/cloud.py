"""The cloud outbox: what the city/province tier is sent (cloud_sync/wire.py), kept until the cloud confirms it.

Rows are added inside the transaction of what they report — a decision's alert changes and records
(DecisionLog.write), audit entries (AuditLog.append), the exporter's ratings, device changes, hours and samples — so a
crash cannot leave a decision made and not reported, or reported twice. Each stream numbers its rows from 1; the
number is kept in `cloud_streams` and never reused (a prune or the disk budget does not move it back). A confirmation
deletes what it covers; the disk budget deletes the oldest rows of the droppable streams (downsampled telemetry)
only, and counts them.

When the hall has no cloud configured, `enabled` is False and nothing is written: the table does not grow.
This module must not send anything or decide what a record says (cloud_sync/uplink.py sends, the writers decide).

A file restored from a backup (edge/backup.py) numbers each stream from where the backup stood, below what the cloud
may already hold. `mark_restored` notes each stream's last number at the restore (meta `cloud.restored`); while the
mark is there the uplink sends nothing, and the cloud's first confirmation is applied by `reconcile`: rows numbered at
or before the restore that the cloud confirmed are deleted (it has them, from before the restore), rows numbered after
the restore move above the cloud's number (they are new to it), numbering goes on from there, and the mark goes.
`restore_steps` is that plan, pure and table-tested.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cloud_sync.wire import DROPPABLE, PRIORITY, Stream
from edge.store.connection import transaction
from edge.store.meta import Meta

RESTORED = "cloud.restored"  # meta: {"at": UNIX s, "last_seq": {stream: n}} while a restored file awaits the cloud


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


@dataclass(frozen=True, slots=True)
class RestoreStep:
    """What `reconcile` does to one stream of a restored file: delete the rows numbered up to `delete_upto` (the
    cloud has them), move the rows numbered after `mark` up by `shift`, and set the stream's last number and the
    cloud's confirmation."""

    stream: str
    mark: int  # the stream's last number when the file was restored
    cloud: int  # the cloud's confirmation
    delete_upto: int
    shift: int
    last_seq: int
    confirmed: int


def restore_steps(marks: Mapping[str, int], last: Mapping[str, int], cloud: Mapping[str, int]) -> list[RestoreStep]:
    """The plan for a restored file: `marks` each stream's last number at the restore, `last` now (rows added since
    are numbered above the mark), `cloud` the cloud's confirmation per stream (a stream it does not name: 0).

    Rows numbered at or before the restore were numbered the same before the backup was taken, so they are the
    records the cloud has under those numbers: those up to its confirmation are deleted, the rest are sent again
    (the cloud keeps a record once). Rows numbered after the restore are new: the cloud may hold other records under
    their numbers (the ones the box sent before it was restored), so they move to just above the confirmation."""
    steps = []
    for stream in sorted(set(marks) | set(last) | set(cloud)):
        mark = marks.get(stream, 0)
        now = max(last.get(stream, 0), mark)
        confirmed = cloud.get(stream, 0)
        shift = max(0, confirmed - mark)
        steps.append(RestoreStep(stream, mark, confirmed, min(confirmed, mark), shift, now + shift, confirmed))
    return steps


def has_cloud_streams(db: sqlite3.Connection) -> bool:
    """The file open on `db` (of any schema version) has numbered records for the cloud."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cloud_streams'").fetchone():
        return False
    return bool(db.execute("SELECT count(*) FROM cloud_streams WHERE last_seq > 0").fetchone()[0])


def mark_restored(db: sqlite3.Connection, now: float | None = None) -> dict[str, int]:
    """Mark the file open on `db` (of any schema version) restored: each stream's last number now. Returns them."""
    has_streams = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cloud_streams'").fetchone()
    marks = {str(s): int(n) for s, n in db.execute("SELECT stream, last_seq FROM cloud_streams")} if has_streams else {}
    with transaction(db, immediate=True):
        at = time.time() if now is None else now
        Meta(db).set(RESTORED, json.dumps({"at": at, "last_seq": marks}, sort_keys=True))
    return marks


def restore_mark(db: sqlite3.Connection) -> dict[str, int] | None:
    """The restore mark of the file open on `db` (stream → last number at the restore), or None."""
    raw = Meta(db).get(RESTORED)
    if raw is None:
        return None
    try:
        found = json.loads(raw)["last_seq"]
        return {str(k): int(v) for k, v in found.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}  # a mark that cannot be read: treat every stream as restored from nothing (renumber all new rows)


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

    def restored(self) -> dict[Stream, int] | None:
        """While the file awaits the cloud's confirmation after a restore: each stream's last number at the restore
        (a stream not there: 0); else None."""
        marks = restore_mark(self._db)
        if marks is None:
            return None
        return {Stream(s): n for s, n in marks.items() if s in Stream._value2member_map_}

    def reconcile(self, cloud: Mapping[Stream, int], now: float | None = None) -> list[RestoreStep]:
        """Apply the cloud's confirmation to a restored file (`restore_steps`) and clear the mark, in one
        transaction. Nothing (an empty list) if the file is not marked. A stream whose confirmation is above
        `RENUMBER_MAX` is left as it is (nobody can have earned it)."""
        now = time.time() if now is None else now
        with transaction(self._db, immediate=True) as db:
            marks = restore_mark(db)
            if marks is None:
                return []
            last = {str(s): int(n) for s, n in db.execute("SELECT stream, last_seq FROM cloud_streams")}
            known = {s.value: n for s, n in cloud.items() if n <= RENUMBER_MAX}
            steps = [
                st
                for st in restore_steps(marks, last, known)
                if st.stream in Stream._value2member_map_ and (st.stream in known or st.stream in last)
            ]
            for st in steps:
                db.execute("INSERT OR IGNORE INTO cloud_streams (stream) VALUES (?)", (st.stream,))
                db.execute("DELETE FROM cloud_outbox WHERE stream = ? AND seq <= ?", (st.stream, st.delete_upto))
                if st.shift:  # through negative numbers: a row moved up must not meet one not yet moved
                    db.execute(
                        "UPDATE cloud_outbox SET seq = -(seq + ?) WHERE stream = ? AND seq > ?",
                        (st.shift, st.stream, st.mark),
                    )
                    db.execute("UPDATE cloud_outbox SET seq = -seq WHERE stream = ? AND seq < 0", (st.stream,))
                db.execute(
                    "UPDATE cloud_streams SET last_seq = ?, confirmed = ?, confirmed_at = ?, held_bytes = ("
                    "SELECT coalesce(sum(length(CAST(body AS BLOB)) + length(kind) + 40), 0) FROM cloud_outbox"
                    " WHERE stream = ?) WHERE stream = ?",
                    (st.last_seq, st.confirmed, now, st.stream, st.stream),
                )
            Meta(db).delete(RESTORED)
        return steps

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
