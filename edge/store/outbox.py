"""The outbox table: messages the decisions produced, kept until they are delivered (edge/outbox.py sends them).

Rows are added inside the transaction of the decision that made them (DecisionLog.write), so a crash cannot leave a
decision taken but not sent, or sent twice by a re-decision. This module must not deliver anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from edge.store.connection import transaction


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """What to deliver: `channel` mqtt (to the topic `target`) or webhook (to the URL `target`)."""

    channel: str
    target: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DueMessage:
    """An undelivered row whose next attempt is due, with the attempts made so far."""

    id: int
    channel: str
    target: str
    payload: bytes
    attempts: int


class Outbox:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def add(self, messages: Sequence[OutboxMessage], now: float) -> None:
        """Inside the decision's transaction: each message due at once."""
        self._db.executemany(
            "INSERT INTO outbox (created_at, channel, target, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
            [(now, m.channel, m.target, m.payload, now) for m in messages],
        )

    def due(self, now: float, limit: int = 100) -> list[DueMessage]:
        """Unsent, not given-up rows whose next attempt is due, oldest first."""
        rows = self._db.execute(
            "SELECT id, channel, target, payload, attempts FROM outbox"
            " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [DueMessage(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4])) for r in rows]

    def clock_went_back(self, by_s: float, now: float) -> int:
        """The box's clock stepped back `by_s` seconds (NTP correcting a clock that ran ahead): the rows not yet sent
        were scheduled on the clock before the step: a row not yet tried is due at once (in its place, before the
        rows queued after the step), a retry after the rest of its backoff. Otherwise a step back of five minutes (or
        of a year, after a boot with a wrong date) would hold every notice queued just before it for as long, while the
        ones after it went out first. Returns how many rows moved."""
        with transaction(self._db) as db:
            cur = db.execute(
                "UPDATE outbox SET next_attempt_at = CASE WHEN attempts = 0 THEN ? ELSE next_attempt_at - ? END"
                " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at > ?",
                (now, by_s, now),
            )
        return cur.rowcount

    def clock_was_ahead(self, now: float, longest_s: float) -> int:
        """Rows scheduled later than the longest backoff allows can only have been scheduled on a clock that was
        ahead and has since stepped back while the gateway was stopped: due now. Returns how many."""
        with transaction(self._db) as db:
            cur = db.execute(
                "UPDATE outbox SET next_attempt_at = ?"
                " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at > ?",
                (now, now + longest_s),
            )
        return cur.rowcount

    def next_attempt(self) -> float | None:
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def sent(self, row_ids: Sequence[int], now: float) -> None:
        """Mark rows delivered, all in one transaction: a transaction writes whole pages (the row's and the due
        index's), so marking a pass's rows together costs the flash what marking one did."""
        if not row_ids:
            return
        with transaction(self._db) as db:
            db.executemany(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", [(now, i) for i in row_ids]
            )

    def retry(self, row_id: int, now: float, next_at: float, error: str, give_up: bool) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, failed_at = ?"
            " WHERE id = ?",
            (next_at, error[:500], now if give_up else None, row_id),
        )

    def counts(self) -> dict[str, int]:
        row = self._db.execute(
            "SELECT sum(sent_at IS NOT NULL), sum(failed_at IS NOT NULL), sum(sent_at IS NULL AND failed_at IS NULL)"
            " FROM outbox"
        ).fetchone()
        return {"sent": int(row[0] or 0), "failed": int(row[1] or 0), "pending": int(row[2] or 0)}
