"""What a `hallops` command says to and asks of the person at the terminal.

Owns the messages on stderr (`say`), the password prompt (`read_password`) and the name the person goes by in the
audit log (`cli_user`). It must not parse flags, open the gateway's files or decide an exit code: the command
modules do that.
"""

from __future__ import annotations

import getpass
import sys


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def read_password(command: str) -> str | None:
    """Twice on a terminal; one line on a pipe (scripts). None (and a message) if unusable."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            say(f"{command}: the two passwords differ")
            return None
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:  # the password policy (edge.auth) says what else a password needs
        say(f"{command}: no password given")
        return None
    return password


def cli_user() -> str:
    """Who made a change from the command line, as the audit log records it: the operating-system user."""
    return f"cli:{getpass.getuser()}"
