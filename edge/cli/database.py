"""The gateway's SQLite file, as the commands that read or change it find it.

Owns the refusal of a missing database — every command that needs an existing one says the same sentence and exits
2, instead of creating an empty file. It must not decide what a command does with the database.
"""

from __future__ import annotations

from pathlib import Path

from edge.cli.terminal import say
from edge.store import Store


def missing(db: Path, command: str) -> bool:
    """True, after saying so, if there is no database at `db`."""
    if db.exists():
        return False
    say(f"{command}: no such database: {db}")
    return True


def open_store(db: Path, command: str) -> Store | None:
    return None if missing(db, command) else Store(db)
