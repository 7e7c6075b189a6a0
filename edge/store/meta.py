"""The meta table: small named values of the file (the rule versions in force, the audit head, the bundle applied).

Each value is written by the module that owns its meaning (edge/versions.py, the audit log, the gateway); this module
must not interpret one.
"""

from __future__ import annotations

import sqlite3


class Meta:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
