"""The gateway's SQLite file: the append-only event log, the saved hall state, and the dead letters.

One file in WAL mode with `synchronous=NORMAL`: a process crash (even `kill -9`) loses nothing that was committed.
Writes come in batches — one transaction for many messages — because ingest is the hot path; the hall state is
saved in the same transaction as the events it includes, so on restart `state + events after it` is exact.
The event log keeps each message as it was accepted (topic + JSON), so a replay decodes it with the same contract
code that accepted it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    at REAL NOT NULL,
    device_type TEXT NOT NULL,
    device_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    type TEXT NOT NULL,
    seq INTEGER,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    path TEXT NOT NULL,
    detail TEXT NOT NULL,
    size INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason);
CREATE TABLE IF NOT EXISTS hall_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    event_id INTEGER NOT NULL,
    saved_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# (received_at, at, device_type, device_id, channel, type, seq, topic, payload)
EventRow = tuple[float, float, str, str, str, str, int | None, str, bytes]
DEAD_LETTER_KEEP_BYTES = 4096  # a dead letter keeps the start of the payload, enough to see what was wrong


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received_at: float
    topic: str
    reason: str
    path: str
    detail: str
    size: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    received_at: float
    topic: str
    payload: bytes


class Store:
    """The SQLite file. Not thread-safe: the gateway uses it from its event loop only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', '1')")
        self._event_count = int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def write(
        self,
        events: Sequence[EventRow],
        dead_letters: Sequence[tuple[float, str, str, str, str, bytes]] = (),
        state: bytes | None = None,
        state_saved_at: float = 0.0,
    ) -> int:
        """Append a batch (and optionally the hall state that includes it) in one transaction.

        Returns the id of the last event in the log after the write."""
        db = self._db
        db.execute("BEGIN")
        try:
            if events:
                db.executemany(
                    "INSERT INTO events (received_at, at, device_type, device_id, channel, type, seq, topic, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    events,
                )
            if dead_letters:
                db.executemany(
                    "INSERT INTO dead_letters (received_at, topic, reason, path, detail, size, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(r, t, why, p, d, len(b), b[:DEAD_LETTER_KEEP_BYTES]) for r, t, why, p, d, b in dead_letters],
                )
            last = self.last_event_id()
            if state is not None:
                db.execute(
                    "INSERT OR REPLACE INTO hall_state (id, event_id, saved_at, body) VALUES (1, ?, ?, ?)",
                    (last, state_saved_at, state),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._event_count += len(events)
        return last

    def last_event_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def saved_state(self) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT event_id, body FROM hall_state WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def events_after(self, event_id: int, batch: int = 5000) -> Iterator[StoredEvent]:
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

    def count_events(self) -> int:
        """Rows in the event log (kept as a counter: health checks call this often)."""
        return self._event_count

    def dead_letters(self, limit: int = 100, reason: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        sql = "SELECT id, received_at, topic, reason, path, detail, size, payload FROM dead_letters"
        args: tuple[object, ...] = ()
        if reason:
            sql += " WHERE reason = ?"
            args = (reason,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], int(r[6]), bytes(r[7])) for r in rows]

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def prune_events(self, before: float) -> int:
        """Retention: drop events that happened before `before` (epoch seconds)."""
        gone = int(self._db.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount)
        self._event_count -= gone
        return gone

    def prune_dead_letters(self, keep: int) -> int:
        """Keep only the newest `keep` dead letters."""
        top = self._db.execute("SELECT max(id) FROM dead_letters").fetchone()[0] or 0
        return int(self._db.execute("DELETE FROM dead_letters WHERE id <= ?", (top - keep,)).rowcount)
