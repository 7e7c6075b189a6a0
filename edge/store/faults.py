"""Which errors of a write are the store's fault, and which the data's.

A storage fault — the disk is full, another process holds the lock, an I/O error, a read-only or damaged file — is
not the fault of the message or decision being written: the writer keeps what it had, does not acknowledge it, and
tries again later. Anything else a write raises (an integer SQLite cannot hold, a value it cannot bind) is about that
data: the writer sets that row aside and goes on. This module must not write or retry anything.
"""

from __future__ import annotations

import sqlite3

_DATA_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, sqlite3.ProgrammingError)


def is_storage_fault(exc: BaseException) -> bool:
    """True for a fault of the file or the disk (retry later), False for a fault of the data (set it aside)."""
    if isinstance(exc, _DATA_ERRORS):
        return False
    return isinstance(exc, sqlite3.Error | OSError | MemoryError)


def describe(exc: BaseException) -> str:
    """The cause in one line, for health and the log: `OperationalError: database or disk is full`."""
    return f"{type(exc).__name__}: {exc}"
