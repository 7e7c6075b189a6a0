"""The gateway's SQLite file: the append-only event log, the saved hall state, and the dead letters.

One file in WAL mode with `synchronous=NORMAL`: a process crash (even `kill -9`) loses nothing that was committed.
Writes come in batches — one transaction for many messages — because ingest is the hot path; the hall state is
saved in the same transaction as the events it includes, so on restart `state + events after it` is exact.
The event log keeps each message as it was accepted (topic + JSON), so a replay decodes it with the same contract
code that accepted it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.audit import GENESIS, Entry, Row, chain

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
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);  -- a backtest replays in the order received
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
CREATE TABLE IF NOT EXISTS decision_state (
    name TEXT PRIMARY KEY,          -- 'engine', 'tickets', 'tidal': each a JSON document of its clocks
    body TEXT NOT NULL,
    saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    body TEXT NOT NULL              -- the alert as JSON
);
CREATE INDEX IF NOT EXISTS alert_history_fp ON alert_history (fingerprint, id);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,             -- 'ticket' | 'recommendation': the permanent record, latest version
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    channel TEXT NOT NULL,          -- mqtt | webhook
    target TEXT NOT NULL,           -- topic or URL
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    sent_at REAL,
    failed_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sent_at, failed_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS rule_versions (
    number INTEGER PRIMARY KEY,     -- 1, 2, 3 …
    hash TEXT NOT NULL UNIQUE,      -- SHA-256 of the YAML: one version per content
    created_at REAL NOT NULL,
    author TEXT NOT NULL,
    comment TEXT NOT NULL,
    origin TEXT NOT NULL,           -- web | cli | config:<path> | bundle:<n>
    source TEXT NOT NULL            -- the YAML as written
);
CREATE TRIGGER IF NOT EXISTS rule_versions_no_update BEFORE UPDATE ON rule_versions
    BEGIN SELECT RAISE(ABORT, 'rule versions are immutable: add a new version'); END;
CREATE TRIGGER IF NOT EXISTS rule_versions_no_delete BEFORE DELETE ON rule_versions
    BEGIN SELECT RAISE(ABORT, 'rule versions are immutable: add a new version'); END;
CREATE TABLE IF NOT EXISTS rule_activations (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    number INTEGER NOT NULL,        -- the version put in force (or into shadow, or 0: shadow off)
    kind TEXT NOT NULL,             -- activate | rollback | promote | shadow | shadow_off
    by TEXT NOT NULL,
    comment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,         -- 1, 2, 3 … with no gaps: a gap is a deleted row
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,           -- JSON
    prev TEXT NOT NULL,             -- the hash of the row before (edge/audit.py)
    hash TEXT NOT NULL
);
"""

# (received_at, at, device_type, device_id, channel, type, seq, topic, payload)
EventRow = tuple[float, float, str, str, str, str, int | None, str, bytes]
LogRow = tuple[float, float, str, str, str, int | None, str, bytes]  # as `log_between` reads them back
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

    def newest_event_at(self) -> float | None:
        """The device time of the newest event (the events_at index answers it at once)."""
        row = self._db.execute("SELECT max(at) FROM events").fetchone()
        return float(row[0]) if row and row[0] is not None else None

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

    # -- decisions: engine state, alert history and the outbox, written together ---------------------------

    def write_decisions(
        self,
        states: dict[str, str],
        history: Sequence[tuple[float, str, str, str, str, str]],
        outbox: Sequence[tuple[str, str, bytes]],
        now: float,
        records: Sequence[tuple[str, str, str]] = (),
        audit: Sequence[Entry] = (),
    ) -> None:
        """One transaction: the decision state that produced the notifications, their history and the outbox rows
        that will deliver them. A crash cannot leave a decision taken but not sent, or sent twice by a re-decision."""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO decision_state (name, body, saved_at) VALUES (?, ?, ?)",
                [(name, body, now) for name, body in states.items()],
            )
            db.executemany(
                "INSERT INTO alert_history (at, fingerprint, rule_id, state, severity, body) VALUES (?, ?, ?, ?, ?, ?)",
                history,
            )
            db.executemany(
                "INSERT OR REPLACE INTO records (kind, id, body, updated_at) VALUES (?, ?, ?, ?)",
                [(kind, rid, body, now) for kind, rid, body in records],
            )
            db.executemany(
                "INSERT INTO outbox (created_at, channel, target, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
                [(now, channel, target, payload, now) for channel, target, payload in outbox],
            )
            self._append_audit(audit)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- the audit log (edge/audit.py) -------------------------------------------------------------------

    def append_audit(self, entries: Sequence[Entry]) -> None:
        """Append changes made outside a decision (users, devices from the CLI) in their own transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._append_audit(entries)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _append_audit(self, entries: Sequence[Entry]) -> None:
        """Inside a transaction: chain the entries after the recorded head and move the head with them."""
        if not entries:
            return
        count, prev = self.audit_head() or (0, GENESIS)
        rows = chain(prev, count + 1, entries)
        self._db.executemany(
            "INSERT INTO audit (id, at, actor, action, subject, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.id, r.entry.at, r.entry.actor, r.entry.action, r.entry.subject,
                 json.dumps(r.entry.detail, ensure_ascii=False, sort_keys=True, default=str), r.prev, r.hash)
                for r in rows
            ],
        )  # fmt: skip
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("audit_count", str(rows[-1].id)), ("audit_head", rows[-1].hash)],
        )

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def audit_head(self) -> tuple[int, str] | None:
        """(rows appended, the last row's hash) as recorded with the last append; None before the first."""
        got = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head')"))
        if "audit_count" not in got:
            return None
        return int(got["audit_count"]), str(got.get("audit_head", ""))

    def audit_rows(self, newest: int | None = None) -> list[Row]:
        """The whole chain in order, or its `newest` rows (newest first)."""
        sql = "SELECT id, at, actor, action, subject, detail, prev, hash FROM audit ORDER BY id"
        if newest is not None:
            sql = sql.replace("ORDER BY id", f"ORDER BY id DESC LIMIT {int(newest)}")
        out = []
        for row_id, at, actor, action, subject, detail, prev, h in self._db.execute(sql):
            try:
                parsed = json.loads(detail)
            except ValueError:
                parsed = {"unreadable": detail}  # an edited row still shows (and fails verification)
            out.append(Row(int(row_id), Entry(float(at), str(actor), str(action), str(subject), parsed), str(prev),
                           str(h)))  # fmt: skip
        return out

    # -- rule versions (edge/versions.py) ----------------------------------------------------------------

    def rule_version_rows(self, number: int | None = None, content_hash: str | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT number, hash, created_at, author, comment, origin, source FROM rule_versions"
        if number is not None:
            return self._db.execute(sql + " WHERE number = ?", (number,)).fetchall()
        if content_hash is not None:
            return self._db.execute(sql + " WHERE hash = ?", (content_hash,)).fetchall()
        return self._db.execute(sql + " ORDER BY number").fetchall()

    def add_rule_version(self, row: tuple[str, float, str, str, str, str], entry: Entry) -> int:
        """Insert (hash, created_at, author, comment, origin, source) with its audit row; returns the number."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                "INSERT INTO rule_versions (hash, created_at, author, comment, origin, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            number = int(cur.lastrowid or 0)
            self._append_audit([Entry(entry.at, entry.actor, entry.action, str(number), entry.detail)])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return number

    def record_activation(self, number: int, kind: str, by: str, comment: str, at: float, meta: dict[str, str],
                          entry: Entry) -> None:  # fmt: skip
        """Put a version in force (or shadow): the activation, the meta keys that say what is in force, the audit."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO rule_activations (at, number, kind, by, comment) VALUES (?, ?, ?, ?, ?)",
                (at, number, kind, by, comment),
            )
            for key, value in meta.items():
                if value:
                    self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
                else:
                    self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
            self._append_audit([entry])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def rule_activations(self, limit: int = 100) -> list[tuple[int, float, int, str, str, str]]:
        """(id, at, number, kind, by, comment), newest first."""
        rows = self._db.execute(
            "SELECT id, at, number, kind, by, comment FROM rule_activations ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(int(a), float(b), int(c), str(d), str(e), str(f)) for a, b, c, d, e, f in rows]

    def decision_state(self, name: str) -> str | None:
        row = self._db.execute("SELECT body FROM decision_state WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def alert_history(self, limit: int = 100, fingerprint: str | None = None) -> list[tuple[float, str]]:
        """(time, alert JSON) of state changes, newest first."""
        sql = "SELECT at, body FROM alert_history"
        args: tuple[object, ...] = ()
        if fingerprint:
            sql += " WHERE fingerprint = ?"
            args = (fingerprint,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [(float(r[0]), str(r[1])) for r in rows]

    def due_outbox(self, now: float, limit: int = 100) -> list[tuple[int, str, str, bytes, int]]:
        """Unsent, not given-up rows whose next attempt is due: (id, channel, target, payload, attempts)."""
        rows = self._db.execute(
            "SELECT id, channel, target, payload, attempts FROM outbox"
            " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4])) for r in rows]

    def next_outbox_attempt(self) -> float | None:
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def outbox_sent(self, row_id: int, now: float) -> None:
        self._db.execute("UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", (now, row_id))

    def outbox_retry(self, row_id: int, now: float, next_at: float, error: str, give_up: bool) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, failed_at = ?"
            " WHERE id = ?",
            (next_at, error[:500], now if give_up else None, row_id),
        )

    def outbox_counts(self) -> dict[str, int]:
        row = self._db.execute(
            "SELECT sum(sent_at IS NOT NULL), sum(failed_at IS NOT NULL), sum(sent_at IS NULL AND failed_at IS NULL)"
            " FROM outbox"
        ).fetchone()
        return {"sent": int(row[0] or 0), "failed": int(row[1] or 0), "pending": int(row[2] or 0)}

    def alert_changes_between(self, start: float, end: float) -> list[tuple[str, str, str, str, str]]:
        """(fingerprint, rule, state, severity, body) of the alert history recorded in [start, end), oldest first."""
        rows = self._db.execute(
            "SELECT fingerprint, rule_id, state, severity, body FROM alert_history"
            " WHERE at >= ? AND at < ? ORDER BY id",
            (start, end),
        ).fetchall()
        return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]

    def records(self, kind: str, limit: int = 500) -> list[str]:
        """The latest version of each ticket or recommendation, most recently changed first."""
        rows = self._db.execute(
            "SELECT body FROM records WHERE kind = ? ORDER BY updated_at DESC LIMIT ?", (kind, limit)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def record(self, kind: str, rid: str) -> str | None:
        row = self._db.execute("SELECT body FROM records WHERE kind = ? AND id = ?", (kind, rid)).fetchone()
        return str(row[0]) if row else None

    def window_changes_since(self, since: float, until: float) -> Iterator[tuple[float, str, str, bytes]]:
        """(event time, type, device id, payload) of every window open/pause/resume/close in [since, until), in time
        order: the history the demand profile learns the windows' usual hours from."""
        cur = self._db.execute(
            "SELECT at, type, device_id, payload FROM events WHERE at >= ? AND at < ? AND type IN "
            "('window.opened', 'window.resumed', 'window.paused', 'window.closed') ORDER BY at, id",
            (since, until),
        )
        for at, kind, device_id, payload in cur:
            yield float(at), str(kind), str(device_id), bytes(payload)

    def issued_since(self, since: float, until: float) -> Iterator[tuple[float, bytes]]:
        """(event time, payload) of every ticket.issued in [since, until): the history the demand profile learns
        from."""
        cur = self._db.execute(
            "SELECT at, payload FROM events WHERE type = 'ticket.issued' AND at >= ? AND at < ?", (since, until)
        )
        for at, payload in cur:
            yield float(at), bytes(payload)

    def device_events(
        self, device_id: str, since: float, limit: int = 20, without: str = "hb"
    ) -> list[tuple[float, str, bytes]]:
        """(event time, type, payload) of one device's newest messages since `since`, other than `without` (the
        heartbeats, which say only "alive": last seen tells that) — a technician's view of its recent telemetry.
        Bounded by time so the events_at index keeps it quick without a per-device index on the ingest path."""
        rows = self._db.execute(
            "SELECT at, type, payload FROM events WHERE at >= ? AND device_id = ? AND type != ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (since, device_id, without, limit),
        ).fetchall()
        return [(float(at), str(kind), bytes(payload)) for at, kind, payload in rows]

    def log_between(self, start: float, end: float) -> Iterator[LogRow]:
        """(received at, event time, channel, device type, device id, seq, topic, payload) of the events received in
        [start, end), in the order the gateway received them, as logged (what was accepted): a backtest's input."""
        return self._db.execute(
            "SELECT received_at, at, channel, device_type, device_id, seq, topic, payload FROM events"
            " WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id",
            (start, end),
        )

    def events_between(self, start: float, end: float) -> Iterator[StoredEvent]:
        """Events whose device time is in [start, end), in time order: one day's history for its KPI report.
        Streams from one cursor along the events_at index; consume it before writing to the store again."""
        cur = self._db.execute(
            "SELECT id, received_at, topic, payload FROM events WHERE at >= ? AND at < ? ORDER BY at, id", (start, end)
        )
        for row_id, received_at, topic, payload in cur:
            yield StoredEvent(int(row_id), float(received_at), str(topic), bytes(payload))
