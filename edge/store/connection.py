"""The SQLite connection of the gateway's file, and `transaction()`: the one place BEGIN … COMMIT/ROLLBACK is written.

Owns how the file is opened (WAL, `synchronous=NORMAL`, autocommit so that transactions are explicit) and how a
transaction is run. It must not know any table: the schema is schema.py's, the rows the repositories'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """The file at `path` (created with its folder if missing) in WAL mode with `synchronous=NORMAL`: a process crash
    (even `kill -9`) loses nothing that was committed. Autocommit: every transaction is a `transaction()` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
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
