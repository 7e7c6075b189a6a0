"""Who may use the API and the web UI: users, password checks, sessions, API tokens, roles, sign-in throttling.

Three roles (DESIGN.md): the hall manager (大厅负责人) watches the hall, acknowledges alerts and decides tidal
windows; the technician (运维) works fault tickets; the administrator may do everything, including rules and users.
Users live in the gateway's SQLite file (`hallops users add|list|remove --db`), or in the configuration's `users:`
(read-only; a name in both is the configuration's). Passwords are kept as Argon2id hashes (argon2-cffi). A signed-in
browser holds an opaque session token in an HttpOnly cookie; integrations send a bearer token from
`hallops tokens create`; scripts may send HTTP Basic credentials. Of every token only its SHA-256 is stored, so
sessions and tokens survive a gateway restart and a copy of the file reveals none. After FAILURES_ALLOWED wrong
passwords for a user name (CLIENT_FAILURES_ALLOWED from one address) within FAILURE_WINDOW_S, sign-in is refused
for that name or address until the window has passed (HTTP 429 with Retry-After).

New hashes cost what argon2-cffi's defaults cost (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes).
`hash_password` and `Auth` take another `PasswordHasher` so that tests can hash cheaply; a hash carries its own
parameters, so it verifies whichever hasher made it.

With no users at all the API is open — everyone is an administrator — which the gateway allows only when it
listens on loopback (a first start, a technician's laptop); it refuses to start otherwise.
This module owns checking; it does not know the routes (each router in edge/api/ declares its routes' roles).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.store import transaction

COOKIE = "hallops_session"
_HASHER = PasswordHasher()  # the production cost (module docstring); tests pass a cheap one
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


def hash_password(password: str, hasher: PasswordHasher = _HASHER) -> str:
    return hasher.hash(password)


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


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, password TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, display TEXT,
    password_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, label TEXT NOT NULL,
    created_at REAL NOT NULL, last_used_at REAL);
"""
FAILURES_ALLOWED = 5  # per user name
CLIENT_FAILURES_ALLOWED = 20  # per address: a hall's staff often share one (NAT, a proxy)
FAILURE_WINDOW_S = 15 * 60
FAILURE_KEYS_MAX = 10_000


class UserError(ValueError):
    """A user or token change that cannot be made (the message says why)."""


class Throttled(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many wrong passwords: try again in {math.ceil(retry_after_s / 60)} min")
        self.retry_after_s = retry_after_s


class Auth:
    """Checks credentials against the accounts (the configuration's and the database's) and keeps sessions and API
    tokens in SQLite (tables of its own in the gateway's file). `hasher` makes new password hashes and the stand-in
    hash for an unknown name; verifying uses the parameters stored in each hash."""

    def __init__(
        self,
        accounts: Mapping[str, Account],
        db: Path,
        session_hours: float = 12,
        *,
        hasher: PasswordHasher = _HASHER,
    ) -> None:
        self.configured = dict(accounts)
        self.session_s = session_hours * 3600
        self._hasher = hasher
        self._db = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._basic: dict[bytes, str] = {}
        self._failed: dict[str, deque[float]] = {}
        self.failures = 0

    @property
    def open(self) -> bool:
        """No users at all: everyone is the local administrator."""
        return not self.configured and self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None

    def close(self) -> None:
        self._db.close()

    def account(self, name: str) -> Account | None:
        """The user `name`: the configuration's entry, else the database's."""
        if name in self.configured:
            return self.configured[name]
        row = self._db.execute("SELECT role, display, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return Account(User(name, Role(row[0]), row[1]), str(row[2])) if row else None

    def accounts(self) -> list[tuple[Account, str]]:
        """Every user with where it comes from ("config" or "database"), by name."""
        out = {name: (a, "config") for name, a in self.configured.items()}
        for name, role, display, password_hash in self._db.execute(
            "SELECT name, role, display, password_hash FROM users"
        ):
            out.setdefault(name, (Account(User(name, Role(role), display), password_hash), "database"))
        return [out[k] for k in sorted(out)]

    # -- managing users and tokens (the CLI) --------------------------------------------------------------

    def add_user(self, name: str, role: Role, password: str, display: str | None = None) -> User:
        if not _NAME.fullmatch(name):
            raise UserError(f"user name {name!r}: letters, digits, . _ - (up to 64), starting with a letter or digit")
        if len(password) < 8:
            raise UserError("the password must have at least 8 characters")
        if self.account(name) is not None:
            raise UserError(f"user {name!r} exists already")
        self._db.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
            (name, role.value, display, hash_password(password, self._hasher), time.time()),
        )
        return User(name, role, display)

    def remove_user(self, name: str) -> None:
        """Remove a database user with its sessions and tokens."""
        if name in self.configured:
            raise UserError(f"user {name!r} comes from the configuration file: remove it there")
        # one transaction: no moment with the user gone but a token still valid, or the reverse
        with transaction(self._db, immediate=True):
            if self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise UserError(f"no user {name!r}")
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self._db.execute("DELETE FROM tokens WHERE user = ?", (name,))

    def set_password(self, name: str, password: str) -> None:
        """A database user's new password; its sessions end with the old one (API tokens stay: they are not the
        password)."""
        if name in self.configured:
            raise UserError(f"user {name!r} comes from the configuration file: put a new hash there")
        if len(password) < 8:
            raise UserError("the password must have at least 8 characters")
        with transaction(self._db, immediate=True):
            changed = self._db.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (hash_password(password, self._hasher), name)
            )
            if changed.rowcount == 0:
                raise UserError(f"no user {name!r}")
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def create_token(self, name: str, label: str = "") -> str:
        """A new API token for `name` (shown once; only its hash is kept)."""
        if self.account(name) is None:
            raise UserError(f"no user {name!r}")
        token = "hot_" + secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, NULL)", (_sha(token), name, label, time.time()))
        return token

    def bearer(self, token: str) -> User | None:
        row = self._db.execute("SELECT user FROM tokens WHERE token_sha = ?", (_sha(token),)).fetchone()
        account = self.account(str(row[0])) if row else None
        if account is None:
            return None
        self._db.execute("UPDATE tokens SET last_used_at = ? WHERE token_sha = ?", (time.time(), _sha(token)))
        return account.user

    # -- checking ------------------------------------------------------------------------------------------

    def throttle(self, *keys: str) -> None:
        """Raise Throttled while any key (a user name, a client address) has had too many wrong passwords."""
        now = time.time()
        for key in keys:
            failed = self._failed.get(key)
            while failed and failed[0] < now - FAILURE_WINDOW_S:
                failed.popleft()
            allowed = CLIENT_FAILURES_ALLOWED if key.startswith("client:") else FAILURES_ALLOWED
            if failed and len(failed) >= allowed:
                raise Throttled(failed[0] + FAILURE_WINDOW_S - now)

    def _note_failure(self, *keys: str) -> None:
        now = time.time()
        if len(self._failed) > FAILURE_KEYS_MAX:  # made-up names must not grow the memory without end
            self._failed = {k: d for k, d in self._failed.items() if d and d[-1] >= now - FAILURE_WINDOW_S}
        for key in keys:
            self._failed.setdefault(key, deque(maxlen=CLIENT_FAILURES_ALLOWED)).append(now)

    def check_password(self, name: str, password: str, client: str = "") -> User | None:
        """The user for a good password. Raises Throttled (before checking) for a name or client address that has
        failed too often lately; a failure counts against both."""
        keys = (f"user:{name}", f"client:{client}") if client else (f"user:{name}",)
        self.throttle(*keys)
        user = self._verify(name, password)
        if user is None:
            self._note_failure(*keys)
        return user

    def _verify(self, name: str, password: str) -> User | None:
        account = self.account(name)
        if account is None:
            self._hasher.hash(password)  # about the same time as a wrong password: no user enumeration by timing
            self.failures += 1
            return None
        try:
            self._hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self.failures += 1
            return None
        return account.user

    def login(self, name: str, password: str, client: str = "") -> tuple[User, str] | None:
        """A new session for good credentials: (user, token). Raises Throttled (see check_password)."""
        user = self.check_password(name, password, client)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = time.time()
        self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self._db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_sha(token), user.name, now, now + self.session_s, _sha(self._hash_of(user.name))),
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
        account = self.account(str(row[0]))
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
        if cached is not None and (known := self.account(cached)) is not None:
            return known.user
        try:
            user = self.check_password(name, password)
        except Throttled:
            return None
        if user is not None:
            if len(self._basic) >= _BASIC_CACHE_MAX:
                self._basic.clear()
            self._basic[digest] = user.name
        return user

    def _hash_of(self, name: str) -> str:
        account = self.account(name)
        return account.password_hash if account else ""


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
