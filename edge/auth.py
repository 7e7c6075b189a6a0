"""Who may use the API and the web UI: users from the configuration, password checks, sessions, roles.

Three roles (DESIGN.md): the hall manager (大厅负责人) watches the hall, acknowledges alerts and decides tidal
windows; the technician (运维) works fault tickets; the administrator may do everything, including rules and users.
Passwords are kept as Argon2id hashes (argon2-cffi; `hallops users hash` makes one); a signed-in browser holds an
opaque session token in an HttpOnly cookie, and only the token's SHA-256 is stored, in the gateway's SQLite file,
so sessions survive a gateway restart. Scripts may send HTTP Basic credentials instead.

With no users configured the API is open — everyone is an administrator — which the gateway allows only when it
listens on loopback (the demo, a technician's laptop); config validation refuses it otherwise.
This module owns checking; it does not know the routes (api.py declares each route's roles).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

COOKIE = "hallops_session"
_hasher = PasswordHasher()
# A verified Basic credential is remembered by its digest: Argon2 costs ~50 ms by design, a script polling every
# second should not pay it on every request.
_BASIC_CACHE_MAX = 256


class Role(StrEnum):
    MANAGER = "manager"
    TECHNICIAN = "technician"
    ADMINISTRATOR = "administrator"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    display: str | None = None

    def may(self, roles: frozenset[Role]) -> bool:
        """The administrator may do everything; the others what the route names them for."""
        return self.role is Role.ADMINISTRATOR or self.role in roles


OPEN_USER = User("local", Role.ADMINISTRATOR, "local (no users configured)")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def valid_hash(value: str) -> bool:
    """An Argon2 hash as `hash_password` makes them (its parameters can be read)."""
    try:
        extract_parameters(value)
    except InvalidHashError:
        return False
    return value.startswith("$argon2")


@dataclass(frozen=True, slots=True)
class Account:
    user: User
    password_hash: str


class Auth:
    """Checks credentials against the configured accounts and keeps sessions in SQLite (one table of its own)."""

    def __init__(self, accounts: Mapping[str, Account], db: Path, session_hours: float) -> None:
        self.accounts = dict(accounts)
        self.session_s = session_hours * 3600
        self._db = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sessions (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, "
            "created_at REAL NOT NULL, expires_at REAL NOT NULL, password TEXT NOT NULL)"
        )
        self._basic: dict[bytes, str] = {}
        self.failures = 0

    @property
    def open(self) -> bool:
        """No users configured: everyone is the local administrator."""
        return not self.accounts

    def close(self) -> None:
        self._db.close()

    def check_password(self, name: str, password: str) -> User | None:
        account = self.accounts.get(name)
        if account is None:
            _hasher.hash(password)  # about the same time as a wrong password: no user enumeration by timing
            self.failures += 1
            return None
        try:
            _hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self.failures += 1
            return None
        return account.user

    def login(self, name: str, password: str) -> tuple[User, str] | None:
        """A new session for good credentials: (user, token)."""
        user = self.check_password(name, password)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = time.time()
        self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_sha(token), user.name, now, now + self.session_s, _sha(self.accounts[user.name].password_hash)),
        )
        return user, token

    def logout(self, token: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_sha = ?", (_sha(token),))

    def session(self, token: str) -> User | None:
        row = self._db.execute(
            "SELECT user, expires_at, password FROM sessions WHERE token_sha = ?", (_sha(token),)
        ).fetchone()
        if row is None or float(row[1]) < time.time():
            return None
        account = self.accounts.get(str(row[0]))
        # a user removed from the config, or given a new password, loses the sessions opened before
        return account.user if account and _sha(account.password_hash) == row[2] else None

    def basic(self, header: str) -> User | None:
        """`Authorization: Basic …` for scripts and integrations."""
        try:
            name, _, password = base64.b64decode(header, validate=True).decode().partition(":")
        except ValueError:  # bad base64 (binascii.Error), non-ASCII text, or bytes that are not UTF-8
            return None
        digest = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        cached = self._basic.get(digest)
        if cached is not None and cached in self.accounts:
            return self.accounts[cached].user
        user = self.check_password(name, password)
        if user is not None:
            if len(self._basic) >= _BASIC_CACHE_MAX:
                self._basic.clear()
            self._basic[digest] = user.name
        return user


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
