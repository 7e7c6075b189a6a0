"""What the decision layer keeps: its state (the clocks of the engine, tickets, tidal tracker and shadow), the alert
history, and the permanent records of tickets and recommendations — written with the outbox rows and audit entries of
the same evaluation in one transaction.

A crash cannot leave a decision taken but not sent, or sent twice by a re-decision. This module must not decide,
render or deliver anything: edge/decisions/ makes the rows, edge/outbox.py sends them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloud_sync.wire import Stream
from edge.audit import Entry
from edge.store.audit import AuditLog
from edge.store.cloud import CloudOutbox, CloudRecord
from edge.store.connection import transaction
from edge.store.outbox import Outbox, OutboxMessage

_CLOUD_STREAM = {"ticket": (Stream.TICKETS, "ticket"), "recommendation": (Stream.DECISIONS, "recommendation")}


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert's change of state as the history keeps it: when (UNIX seconds), which alert, and the alert as JSON."""

    at: float
    fingerprint: str
    rule_id: str
    state: str
    severity: str
    body: str


@dataclass(frozen=True, slots=True)
class Record:
    """The latest version of a ticket or recommendation (`kind`), as JSON."""

    kind: str  # ticket | recommendation
    id: str
    body: str


def _cloud_records(history: Sequence[AlertChange], records: Sequence[Record], now: float) -> list[CloudRecord]:
    """The alert changes and record versions as the cloud receives them (docs/sync.md); the bodies are the JSON
    already made, not parsed again."""
    out = [
        CloudRecord(
            Stream.ALERTS,
            c.at,
            "alert",
            f'{{"fingerprint":{json.dumps(c.fingerprint)},"rule":{json.dumps(c.rule_id)},'
            f'"state":{json.dumps(c.state)},"severity":{json.dumps(c.severity)},"alert":{c.body}}}',
        )
        for c in history
    ]
    for r in records:
        if r.kind in _CLOUD_STREAM:
            stream, kind = _CLOUD_STREAM[r.kind]
            out.append(CloudRecord(stream, now, kind, r.body))
    return out


class DecisionLog:
    def __init__(self, db: sqlite3.Connection, outbox: Outbox, audit: AuditLog, cloud: CloudOutbox) -> None:
        self._db = db
        self._outbox = outbox
        self._audit = audit
        self._cloud = cloud

    def write(
        self,
        states: Mapping[str, str],
        history: Sequence[AlertChange],
        outbox: Sequence[OutboxMessage],
        now: float,
        records: Sequence[Record] = (),
        audit: Sequence[Entry] = (),
        removed: Sequence[str] = (),
    ) -> None:
        """One transaction: the decision state that produced the notifications (the parts that changed, and the
        parts `removed`), their history, the records, the outbox rows that will deliver them, the audit entries
        of the people's changes that led to them, and what the city/province tier is told (the cloud outbox)."""
        with transaction(self._db) as db:
            db.executemany(
                "INSERT OR REPLACE INTO decision_state (name, body, saved_at) VALUES (?, ?, ?)",
                [(name, body, now) for name, body in states.items()],
            )
            db.executemany("DELETE FROM decision_state WHERE name = ?", [(name,) for name in removed])
            db.executemany(
                "INSERT INTO alert_history (at, fingerprint, rule_id, state, severity, body) VALUES (?, ?, ?, ?, ?, ?)",
                [(c.at, c.fingerprint, c.rule_id, c.state, c.severity, c.body) for c in history],
            )
            db.executemany(
                "INSERT OR REPLACE INTO records (kind, id, body, updated_at) VALUES (?, ?, ?, ?)",
                [(r.kind, r.id, r.body, now) for r in records],
            )
            self._outbox.add(outbox, now)
            self._audit.append(audit)
            if self._cloud.enabled:
                self._cloud.add(_cloud_records(history, records, now))

    def last_written(self) -> float | None:
        """When a decision was last written (UNIX seconds, wall clock): the gateway was listening then."""
        row = self._db.execute("SELECT max(saved_at) FROM decision_state").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def state(self, name: str) -> str | None:
        """A part of the decision state as saved last ('engine', 'tickets', 'tidal', 'shadow'), JSON."""
        row = self._db.execute("SELECT body FROM decision_state WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def states(self, prefix: str) -> dict[str, str]:
        """The parts of the decision state whose name starts with `prefix` (one row per alert: `engine.alert:`)."""
        rows = self._db.execute(
            "SELECT name, body FROM decision_state WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
        ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def alert_history(self, limit: int = 100, fingerprint: str | None = None) -> list[AlertChange]:
        """Changes of state, newest first (of one alert, with `fingerprint`)."""
        sql = "SELECT at, fingerprint, rule_id, state, severity, body FROM alert_history"
        args: tuple[object, ...] = ()
        if fingerprint:
            sql += " WHERE fingerprint = ?"
            args = (fingerprint,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [AlertChange(float(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows]

    def alert_changes(self, start: float, end: float) -> list[AlertChange]:
        """The alert history recorded in [start, end), oldest first."""
        rows = self._db.execute(
            "SELECT at, fingerprint, rule_id, state, severity, body FROM alert_history"
            " WHERE at >= ? AND at < ? ORDER BY id",
            (start, end),
        ).fetchall()
        return [AlertChange(float(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows]

    def records(self, kind: str, limit: int = 500) -> list[str]:
        """The latest version of each ticket or recommendation (JSON), most recently changed first."""
        rows = self._db.execute(
            "SELECT body FROM records WHERE kind = ? ORDER BY updated_at DESC LIMIT ?", (kind, limit)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def record(self, kind: str, rid: str) -> str | None:
        row = self._db.execute("SELECT body FROM records WHERE kind = ? AND id = ?", (kind, rid)).fetchone()
        return str(row[0]) if row else None
