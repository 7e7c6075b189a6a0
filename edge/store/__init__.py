"""The gateway's SQLite file: one connection, its schema, its transactions, and a repository per group of tables.

    store.events        the event log and the saved hall state (events.py)      ← ingest, restore, reports, backtest
    store.dead_letters  messages ingest refused (events.py)                     ← ingest, /api/health
    store.decisions     decision state, alert history, ticket and recommendation records (decisions.py) ← Decider
    store.outbox        what the decisions deliver (outbox.py)                  ← edge/outbox.py
    store.cloud         what the city/province tier is sent (cloud.py)          ← cloud_sync/uplink.py
    store.audit         the audit chain (audit.py)                              ← every change people make
    store.rule_versions rule versions and their activations (versions.py)       ← edge/versions.py
    store.meta          small named values (meta.py)
    store.retention     deleting what was kept long enough, in batches; space given back (retention.py) ← upkeep

One file in WAL mode with `synchronous=NORMAL`: a process crash (even `kill -9`) loses nothing that was committed.
Opening it checks it before anything is written — an empty, foreign, truncated, damaged or locked file is refused with
a `StorageError` that names the path, the finding and what to do (integrity.py) — and brings its schema up to date
(schema.py, `PRAGMA user_version`). A write that spans groups is one transaction (`transaction()`; a repository joins
the one open): the hall state with the events it includes, a decision with its outbox rows and audit entries, a rule
version with its audit row. The repositories are the only code that writes SQL against these tables; this module must
not know a table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from edge.store.audit import AuditLog
from edge.store.cloud import CloudOutbox, CloudRecord, HeldRecord, StreamState
from edge.store.connection import BUSY_WAIT_S, LOCK_WAIT_S, connect, transaction
from edge.store.decisions import AlertChange, DecisionLog, Record
from edge.store.events import (
    DEAD_LETTER_KEEP_BYTES,
    DeadLetter,
    DeadLetters,
    EventBatch,
    EventLog,
    EventRow,
    Rejected,
    SavedState,
    StoredEvent,
)
from edge.store.integrity import StorageError, unusable
from edge.store.meta import Meta
from edge.store.outbox import DueMessage, Outbox, OutboxMessage
from edge.store.retention import Pages, Retention
from edge.store.schema import VERSION, migrate, version_of
from edge.store.versions import Activation, RuleVersionLog, VersionRow

__all__ = [
    "DEAD_LETTER_KEEP_BYTES",
    "Activation",
    "AlertChange",
    "CloudOutbox",
    "CloudRecord",
    "DeadLetter",
    "DueMessage",
    "EventBatch",
    "EventRow",
    "HeldRecord",
    "OutboxMessage",
    "Pages",
    "Record",
    "Rejected",
    "Retention",
    "SavedState",
    "StorageError",
    "Store",
    "StoredEvent",
    "StreamState",
    "VersionRow",
    "transaction",
]


class Store:
    """The SQLite file. Not thread-safe: the gateway uses it from its event loop only."""

    def __init__(
        self,
        path: Path,
        *,
        lock_wait_s: float = LOCK_WAIT_S,
        busy_timeout_s: float = BUSY_WAIT_S,
        before_upgrade: Callable[[sqlite3.Connection, int], None] | None = None,
    ) -> None:
        """Open (or create) the file at `path`. StorageError if it cannot be used (connection.py says when; another
        connection may keep it locked for `lock_wait_s` s first), ConfigError if a newer release wrote it. Once open, a
        write waits up to `busy_timeout_s` s for another connection's lock. `before_upgrade(connection, version)` is
        called before an existing file of an older schema version is migrated (the gateway's pre-upgrade backup); if
        it raises, the file is not migrated and the error goes on."""
        self.path = path
        self._db = connect(path, lock_wait_s=lock_wait_s, busy_timeout_s=busy_timeout_s)
        try:
            found = version_of(self._db)
            if before_upgrade is not None and found < VERSION and _has_tables(self._db):
                before_upgrade(self._db, found)
            migrate(self._db, str(path))
        except sqlite3.Error as exc:  # (a lock taken between the check and the migration, a full disk …)
            self._db.close()
            error = unusable(path, exc)
            if error is None:
                raise
            raise error from exc
        except BaseException:
            self._db.close()
            raise
        self.meta = Meta(self._db)
        self.audit = AuditLog(self._db, self.meta)
        self.dead_letters = DeadLetters(self._db)
        self.cloud = CloudOutbox(self._db)  # enabled by the gateway when the hall has a cloud (edge/cloud.py)
        self.events = EventLog(self._db, self.dead_letters, self.cloud)
        self.outbox = Outbox(self._db)
        self.decisions = DecisionLog(self._db, self.outbox, self.audit, self.cloud)
        self.rule_versions = RuleVersionLog(self._db, self.meta, self.audit)
        self.retention = Retention(self._db, self.events)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction across repositories (each joins it): the write lock taken at once."""
        return transaction(self._db, immediate=True)

    def close(self) -> None:
        self._db.close()


def _has_tables(db: sqlite3.Connection) -> bool:
    """A file with something in it (a new file has nothing to back up before its first migration)."""
    return bool(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
