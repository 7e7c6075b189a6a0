"""The audit table: the hash chain of edge/audit.py as rows, and its head (count and last hash) in meta.

Entries are chained after the recorded head and the head moves with them in the same transaction — the decision's
(DecisionLog.write), a rule version's, or their own. This module must not compute a hash or judge the chain: that
is edge/audit.py's (`chain`, `verify`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from edge.audit import GENESIS, Entry, Row, chain
from edge.store.connection import transaction
from edge.store.meta import Meta

COUNT, HEAD = "audit_count", "audit_head"  # meta keys


class AuditLog:
    def __init__(self, db: sqlite3.Connection, meta: Meta) -> None:
        self._db = db
        self._meta = meta

    def append(self, entries: Sequence[Entry]) -> None:
        """Chain the entries after the recorded head and move the head with them: in the transaction open (a
        decision's, a rule version's), or in one of their own (changes made outside a decision: users, devices from
        the CLI)."""
        if not entries:
            return
        with transaction(self._db, immediate=True) as db:
            count, prev = self.head() or (0, GENESIS)
            rows = chain(prev, count + 1, entries)
            db.executemany(
                "INSERT INTO audit (id, at, actor, action, subject, detail, prev, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.id,
                        r.entry.at,
                        r.entry.actor,
                        r.entry.action,
                        r.entry.subject,
                        json.dumps(r.entry.detail, ensure_ascii=False, sort_keys=True, default=str),
                        r.prev,
                        r.hash,
                    )
                    for r in rows
                ],
            )
            self._meta.set(COUNT, str(rows[-1].id))
            self._meta.set(HEAD, rows[-1].hash)

    def head(self) -> tuple[int, str] | None:
        """(rows appended, the last row's hash) as recorded with the last append; None before the first."""
        got = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (COUNT, HEAD)))
        if COUNT not in got:
            return None
        return int(got[COUNT]), str(got.get(HEAD, ""))

    def after(self, row_id: int, limit: int) -> list[Row]:
        """The rows after `row_id`, oldest first, at most `limit`."""
        return self._read(
            "SELECT id, at, actor, action, subject, detail, prev, hash FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            (row_id, limit),
        )

    def rows(self, newest: int | None = None) -> list[Row]:
        """The whole chain in order, or its `newest` rows (newest first)."""
        sql = "SELECT id, at, actor, action, subject, detail, prev, hash FROM audit ORDER BY id"
        if newest is not None:
            sql = sql.replace("ORDER BY id", f"ORDER BY id DESC LIMIT {int(newest)}")
        return self._read(sql, ())

    def _read(self, sql: str, args: tuple[object, ...]) -> list[Row]:
        out = []
        for row_id, at, actor, action, subject, detail, prev, h in self._db.execute(sql, args):
            try:
                parsed = json.loads(detail)
            except ValueError:
                parsed = {"unreadable": detail}  # an edited row still shows (and fails verification)
            out.append(
                Row(int(row_id), Entry(float(at), str(actor), str(action), str(subject), parsed), str(prev), str(h))
            )
        return out
