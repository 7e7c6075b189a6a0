"""The tables of the gateway's file and their migrations, numbered by SQLite's `PRAGMA user_version`.

`MIGRATIONS[n - 1]` takes a file from version n - 1 to n; `migrate()` runs the ones a file lacks, in one
transaction, so a file is at one version or the next, never between. Version 1 is the schema as the first releases
made it: they created it with `CREATE TABLE IF NOT EXISTS` on every start and left `user_version` at 0, so migration
1 is written the same way and takes such a file (every table there already) to version 1 without touching its rows.
A change of the schema is a new migration at the end of the list; a written one is never edited. Version 2 adds the
index `events_type_at` that start-up's scans of one event type over a time range use (replaced by version 4's
`events_demand_at`); version 3 the saved KPI book, version 5 the saved demand profile, version 6 the index of the
bookings' events (`events_booking_at`), version 7 the cloud outbox (`cloud_outbox`, `cloud_streams`), version 8 the
index of the records by time of change that retention deletes along (`records_updated`).

The users, sessions and tokens of edge/auth.py and the device credentials of edge/credentials.py keep their own
tables, which those modules create; this module must not know them, nor read or write any row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

from devices.errors import ConfigError, Problem
from edge.store.connection import transaction

V1 = """
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
INSERT OR IGNORE INTO meta VALUES ('schema', '1');  -- as the first releases wrote it (user_version says it now)
"""

# The demand profile's scans at start (EventLog.tickets_issued, EventLog.window_changes: one type or a few, over a
# time range) read only their rows instead of every event of the range: start-up no longer grows with the log.
# Partial: heartbeats (seven in ten rows) stay out of it, so a commit of a few seconds' messages touches one or two
# of its pages, not one per type (each touched page is a whole page written to the WAL); the queries say
# `type != 'hb'` too, which is how SQLite knows it may use it.
# IF NOT EXISTS: a file salvaged with the sqlite3 shell's `.dump` (docs/deploy.md) has the index but version 0.
V2 = """
CREATE INDEX IF NOT EXISTS events_type_at ON events (type, at) WHERE type != 'hb';
"""

# Today's KPI book, saved with the hall state it matches (the same event id): a start replays the events after it
# instead of the whole day since midnight (issue 16: start-up time independent of the log). NULL: none saved yet.
V3 = """
ALTER TABLE hall_state ADD COLUMN kpi BLOB;
"""

# The demand profile's scans read through an index on time alone, of only the rows they want (tickets issued and the
# windows' open/pause/resume/close, about one row in twenty): it grows at its end as the log does, so a commit touches
# one of its pages, where (type, at) touched one per type — a page each, written to the WAL and again to the file
# (issue 16: bytes written per event). The queries repeat its WHERE word for word (`DEMAND_TYPES` in events.py),
# which is how SQLite knows it may use it.
V4 = """
DROP INDEX IF EXISTS events_type_at;
CREATE INDEX IF NOT EXISTS events_demand_at ON events (at)
    WHERE type IN ('ticket.issued', 'window.opened', 'window.resumed', 'window.paused', 'window.closed');
"""

# The demand profile (35 days of arrivals and window hours), saved with the hall state: a start learns only the events
# logged after it instead of scanning five weeks of the log (issue 16: start-up time independent of the log).
V5 = """
ALTER TABLE hall_state ADD COLUMN demand BLOB;
"""

# The hall's bookings (issue 20: appointment.booked / .cancelled / .checked_in), read back over four weeks on start: an
# index of those rows only (a few hundred a day), by time; the query repeats its WHERE word for word (`BOOKING_TYPES`).
V6 = """
CREATE INDEX IF NOT EXISTS events_booking_at ON events (at)
    WHERE type IN ('appointment.booked', 'appointment.cancelled', 'appointment.checked_in');
"""

# The cloud outbox (issue 21, cloud_sync/wire.py): what the city/province tier is sent, numbered per stream, kept until
# the cloud confirms it; `cloud_streams` keeps each stream's last number (never reused after a prune), what the cloud
# confirmed, what the disk budget dropped and the bytes held. Without rowid: the rows are read and deleted by their key.
V7 = """
CREATE TABLE IF NOT EXISTS cloud_outbox (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,               -- when it happened at the hall (hall time)
    created REAL NOT NULL,          -- when it was added (this machine's clock): how long it has waited
    kind TEXT NOT NULL,
    body TEXT NOT NULL,             -- JSON
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cloud_streams (
    stream TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL DEFAULT 0,
    confirmed INTEGER NOT NULL DEFAULT 0,
    confirmed_at REAL,
    dropped INTEGER NOT NULL DEFAULT 0,
    held_bytes INTEGER NOT NULL DEFAULT 0
);
"""

# Retention of the ticket and recommendation records (issue 22, edge/store/retention.py): the closed ones last changed
# before the horizon are found along their time of change, not by reading every record; the alert history and the
# outbox are deleted in rowid order (written in time order) and need no index.
V8 = """
CREATE INDEX IF NOT EXISTS records_updated ON records (updated_at);
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7, V8)
VERSION = len(MIGRATIONS)  # the version this release writes


def version_of(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, name: str = "the store") -> int:
    """Bring the file up to `VERSION`; returns the version it was at. ConfigError for a file a newer release wrote
    (this one does not know its tables)."""
    if version_of(db) == VERSION:
        return VERSION
    with transaction(db, immediate=True):  # read again under the write lock: another process may have migrated it
        found = version_of(db)
        if found > VERSION:
            raise ConfigError(
                name,
                [
                    Problem(
                        "",
                        f"written by a newer release of hallops (schema version {found}; "
                        f"this release knows up to {VERSION}): upgrade hallops",
                    )
                ],
            )
        for number in range(found + 1, VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                if not _column_there(db, statement):
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
    return found


def _column_there(db: sqlite3.Connection, statement: str) -> bool:
    """An `ALTER TABLE t ADD COLUMN c` whose column is there already: a file salvaged with `.dump` has every column
    at version 0, and SQLite has no `ADD COLUMN IF NOT EXISTS`."""
    found = re.match(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", statement, re.IGNORECASE)
    if found is None:
        return False
    table, column = found.groups()
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _statements(script: str) -> Iterator[str]:
    """The statements of `script` one by one (`executescript` would commit the migration's transaction first)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {pending.strip()[:80]!r}")
