"""The SQLite connection of the gateway's file, and `transaction()`: the one place BEGIN … COMMIT/ROLLBACK is written.

Owns how the file is opened — checked before anything is written (integrity.py: not empty, a SQLite database, not
truncated, `quick_check` ok, its write lock obtainable within `lock_wait_s`), then (a new file)
`auto_vacuum=INCREMENTAL`, WAL, `synchronous=NORMAL`, autocommit so that transactions are explicit — and how a
transaction is run. It must not know any table: the schema is schema.py's, the rows the repositories'.

The file holds the audit trail, password hashes, sessions and tokens, so it is its owner's only (0600), and so are
its -wal and -shm files: SQLite gives those the database file's mode, which is why the file is made 0600 before
SQLite opens it, and why an existing file that group or others may read is tightened (and the log says so). A file
root makes in another user's folder (`sudo hallops devices add --db /var/lib/hallops/hallops.db` before the gateway's
first start) is given to that folder's owner, the service user, as SQLite gives a -wal and -shm root makes to the
database file's owner.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.store.integrity import PERMISSIONS, StorageError, check_pages, inspect_file, unusable

log = logging.getLogger(__name__)

LOCK_WAIT_S = 3.0  # at start: how long another connection may keep the file locked before the error says who
BUSY_WAIT_S = 5.0  # once running: how long a write waits for another connection's (a backtest's, a CLI command's)
PRIVATE = 0o600  # the database and its -wal and -shm: read and written by the service user only
SIDE_FILES = ("-wal", "-shm")


def connect(path: Path, *, lock_wait_s: float = LOCK_WAIT_S, busy_timeout_s: float = BUSY_WAIT_S) -> sqlite3.Connection:
    """The file at `path` (created with its folder if missing) in WAL mode with `synchronous=NORMAL`: a process crash
    (even `kill -9`) loses nothing that was committed. Autocommit: every transaction is a `transaction()` block.

    StorageError, before anything is written, for an existing file that is empty, not a SQLite database, truncated,
    damaged (`PRAGMA quick_check`) or unreadable, and for one whose write lock another connection keeps longer than
    `lock_wait_s` seconds (naming the process that holds it where it can). Once open, a statement waits up to
    `busy_timeout_s` seconds for another connection's lock before it fails with "database is locked".

    A new file is made 0600; an existing one (and its -wal and -shm) that group or others may use is set to 0600."""
    inspect_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _make_private(path)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=lock_wait_s)
    except sqlite3.Error as exc:
        error = unusable(path, exc)
        if error is None:
            raise
        raise error from exc
    try:
        check_pages(db, path)
        if int(db.execute("PRAGMA page_count").fetchone()[0]) == 0:
            # a new file: free pages (retention's deletes) are given back to the disk step by step
            # (store/retention.py). Only before the first table; a file made without it needs a VACUUM
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
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


def _make_private(path: Path) -> None:
    """Create the file 0600 if it is missing (SQLite then creates -wal and -shm with the same mode and owner), and
    take group and others' permissions off an existing one and its -wal and -shm, saying so."""
    try:
        # only a missing file is opened here: closing a descriptor of a file drops every POSIX lock this process holds
        # on it, and another connection of this process (the gateway's, beside a backtest's) may hold the file's
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StorageError(path, f"cannot be opened ({exc.strerror or exc})", PERMISSIONS) from exc
    else:
        try:
            folder = path.parent.stat()
            if os.geteuid() == 0 and folder.st_uid != 0:
                os.fchown(fd, folder.st_uid, folder.st_gid)
        finally:
            os.close(fd)
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES)):
        try:
            mode = file.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077 == 0:
            continue
        try:
            file.chmod(mode & 0o700)
        except OSError as exc:  # not the file's owner: it stays readable, and the operator is told
            log.warning("storage: %s is readable by others (mode %04o) and cannot be tightened: %s", file, mode, exc)
        else:
            log.warning("storage: %s was mode %04o; now %04o (its owner only)", file, mode, mode & 0o700)


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
