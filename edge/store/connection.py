"""The SQLite connection of the gateway's file, and `transaction()`: the one place BEGIN … COMMIT/ROLLBACK is written.

Owns how the file is opened — checked before anything is written (integrity.py: not empty, a SQLite database, not
truncated, `quick_check` ok, its write lock obtainable within `lock_wait_s`), then WAL, `synchronous=NORMAL`, autocommit
so that transactions are explicit — and how a transaction is run. It must not know any table: the schema is
schema.py's, the rows the repositories'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.store.integrity import check_pages, inspect_file, unusable

LOCK_WAIT_S = 3.0  # at start: how long another connection may keep the file locked before the error says who
BUSY_WAIT_S = 5.0  # once running: how long a write waits for another connection's (a backtest's, a CLI command's)


def connect(path: Path, *, lock_wait_s: float = LOCK_WAIT_S, busy_timeout_s: float = BUSY_WAIT_S) -> sqlite3.Connection:
    """The file at `path` (created with its folder if missing) in WAL mode with `synchronous=NORMAL`: a process crash
    (even `kill -9`) loses nothing that was committed. Autocommit: every transaction is a `transaction()` block.

    StorageError, before anything is written, for an existing file that is empty, not a SQLite database, truncated,
    damaged (`PRAGMA quick_check`) or unreadable, and for one whose write lock another connection keeps longer than
    `lock_wait_s` seconds (naming the process that holds it where it can). Once open, a statement waits up to
    `busy_timeout_s` seconds for another connection's lock before it fails with "database is locked"."""
    inspect_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=lock_wait_s)
    except sqlite3.Error as exc:
        error = unusable(path, exc)
        if error is None:
            raise
        raise error from exc
    try:
        check_pages(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")  # the write lock, taken and given back: a locked file is said now, not later
        db.execute("ROLLBACK")
        db.execute(f"PRAGMA busy_timeout = {round(busy_timeout_s * 1000)}")
    except sqlite3.Error as exc:
        db.close()
        error = unusable(path, exc)
        if error is None:
            raise
        raise error from exc
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def transaction(db: sqlite3.Connection, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
    """Run the block in one transaction: committed if it ends, rolled back if it raises (anything, a
    KeyboardInterrupt or a cancellation included). `immediate` takes the write lock at once (BEGIN IMMEDIATE), for a
    read-then-write that another process must not interleave; otherwise the first write takes it.

    Inside a transaction already open on `db` the block joins it: the outer block commits or rolls back the whole
    (an audit append inside a decision's write is part of that write)."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # (an error SQLite rolled back itself leaves none to roll back)
            db.execute("ROLLBACK")
        raise
