"""The gateway's SQLite file, as the commands that read or change it find it.

Owns the refusal of a missing database — every command that needs an existing one says the same sentence and exits
2, instead of creating an empty file — and of a database an older release wrote: only the gateway upgrades a file,
after its pre-upgrade backup (docs/backup.md); a command run first says to start the gateway (exit 3) instead of
migrating it without one. It must not decide what a command does with the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from edge.cli.terminal import say
from edge.store import StorageError, Store
from edge.store.schema import VERSION


def missing(db: Path, command: str) -> bool:
    """True, after saying so, if there is no database at `db`."""
    if db.exists():
        return False
    say(f"{command}: no such database: {db}")
    return True


def open_store(db: Path, command: str) -> Store | None:
    return None if missing(db, command) else store_of(db, command)


def store_of(db: Path, command: str) -> Store:
    """The file at `db` (created if missing); StorageError if an older release wrote it."""
    return Store(db, before_upgrade=not_upgraded(db, command))


def not_upgraded(db: Path, command: str) -> Callable[[sqlite3.Connection, int], None]:
    """The store's `before_upgrade` for a command: refuse, leaving the file as it is."""

    def refuse(_: sqlite3.Connection, found: int) -> None:
        raise StorageError(
            db,
            f"was written by an earlier release (schema version {found}; this one writes {VERSION}) and {command} "
            "does not upgrade it",
            "Start the gateway once (sudo systemctl start hallops-gateway): it writes a pre-upgrade backup, then "
            "upgrades the file. Then run the command again",
        )

    return refuse
