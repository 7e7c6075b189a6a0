"""The rule_versions and rule_activations tables: every rule version as written, and every time one was put in force.

Versions are immutable (SQLite triggers refuse an update or a delete). A version is added, and an activation
recorded with the meta keys that say what is in force, each in one transaction with its audit row. This module must
not parse or compare rules: that is edge/versions.py's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from edge.audit import Entry
from edge.store.audit import AuditLog
from edge.store.connection import transaction
from edge.store.meta import Meta


@dataclass(frozen=True, slots=True)
class VersionRow:
    number: int  # 1, 2, 3 …
    hash: str  # SHA-256 of the YAML
    created_at: float
    author: str
    comment: str
    origin: str  # web | cli | config:<path> | bundle:<n>
    source: str  # the YAML as written


@dataclass(frozen=True, slots=True)
class Activation:
    id: int
    at: float
    number: int  # the version put in force (or into shadow, or 0: shadow off)
    kind: str  # activate | rollback | promote | shadow | shadow_off
    by: str
    comment: str


class RuleVersionLog:
    def __init__(self, db: sqlite3.Connection, meta: Meta, audit: AuditLog) -> None:
        self._db = db
        self._meta = meta
        self._audit = audit

    def rows(self, number: int | None = None, content_hash: str | None = None) -> list[VersionRow]:
        """Every version in order, or the one with this number, or with this content hash."""
        sql = "SELECT number, hash, created_at, author, comment, origin, source FROM rule_versions"
        if number is not None:
            rows = self._db.execute(sql + " WHERE number = ?", (number,)).fetchall()
        elif content_hash is not None:
            rows = self._db.execute(sql + " WHERE hash = ?", (content_hash,)).fetchall()
        else:
            rows = self._db.execute(sql + " ORDER BY number").fetchall()
        return [VersionRow(*row) for row in rows]

    def add(
        self, *, content_hash: str, created_at: float, author: str, comment: str, origin: str, source: str, entry: Entry
    ) -> int:
        """Insert a version with its audit row (`entry`, whose subject becomes the new number); returns the number."""
        with transaction(self._db, immediate=True) as db:
            cur = db.execute(
                "INSERT INTO rule_versions (hash, created_at, author, comment, origin, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (content_hash, created_at, author, comment, origin, source),
            )
            number = int(cur.lastrowid or 0)
            self._audit.append([Entry(entry.at, entry.actor, entry.action, str(number), entry.detail)])
        return number

    def activate(
        self, number: int, kind: str, by: str, comment: str, at: float, meta: Mapping[str, str], entry: Entry
    ) -> None:
        """Put a version in force (or shadow): the activation, the meta keys that say what is in force (an empty
        value deletes the key), the audit."""
        with transaction(self._db, immediate=True) as db:
            db.execute(
                "INSERT INTO rule_activations (at, number, kind, by, comment) VALUES (?, ?, ?, ?, ?)",
                (at, number, kind, by, comment),
            )
            for key, value in meta.items():
                if value:
                    self._meta.set(key, value)
                else:
                    self._meta.delete(key)
            self._audit.append([entry])

    def activations(self, limit: int = 100) -> list[Activation]:
        """Newest first."""
        rows = self._db.execute(
            "SELECT id, at, number, kind, by, comment FROM rule_activations ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [Activation(int(a), float(b), int(c), str(d), str(e), str(f)) for a, b, c, d, e, f in rows]
