"""Who may use the API and the web UI: users, sessions, API tokens, roles, sign-in throttling and the audit entries
of signing in and out.

Three roles (DESIGN.md): the hall manager (大厅负责人) watches the hall, acknowledges alerts and decides tidal
windows; the technician (运维) works fault tickets; the administrator may do everything, including rules and users.
Users live in the gateway's SQLite file (`hallops users add|list|remove --db`), or in the configuration's `users:`
(read-only; a name in both is the configuration's). Passwords are kept as Argon2id hashes (argon2-cffi). A signed-in
browser holds an opaque session token in an HttpOnly cookie; integrations send a bearer token from
`hallops tokens create`, which expires (TOKEN_DAYS by default, TOKEN_DAYS_MAX at most) and can be revoked by its
short id or its label; scripts may send HTTP Basic credentials. Of every token only its SHA-256 is stored, so
sessions and tokens survive a gateway restart and a copy of the file reveals none.

Passwords — their policy, Argon2id hashing and the gate that bounds the checks running and waiting — are in
edge.passwords; a password set here meets that policy (`password_problem`).

Guessing. Wrong passwords are counted per (user name, client address) and per client address, in a table of this
module's in the gateway's file, so a restart forgets nothing: after FAILURES_ALLOWED for one name from one address,
or CLIENT_FAILURES_ALLOWED from one address for any names, within FAILURE_WINDOW_S, signing in from there (a session
or HTTP Basic) is refused (Throttled: HTTP 429 with Retry-After) until the window has passed. There is no lock per
name alone, so nobody can lock a colleague out from another address. The table keeps the window's rows only, and
FAILURE_ROWS_MAX at most.

Memory. Every hash and check runs through the HashGate (edge.passwords): beyond its places a caller is refused at
once (Busy: HTTP 503 with Retry-After). An unknown name is checked against a stand-in hash of the same cost, so its
answer takes as long as a wrong password's (no user enumeration by timing). `Auth` takes another `PasswordHasher`
so that tests can hash cheaply.

Caches. A session ends when its user's password hash changes or the user goes. A verified Basic credential is
remembered (a script polling every second should not pay for Argon2 each time) together with the account's hash and
role at that moment, and is used only while both are still the account's: a new password, a removal or a new role
takes effect at the next request.

Audit. Signing in (`session.sign_in`), signing out (`session.sign_out`), a wrong password or unknown name
(`session.sign_in_failed`: the address and the name tried, never the password) and a refusal by the throttle
(`session.throttled`, once per address or name-and-address and window) are appended to the audit chain
(edge.store.audit) on this module's own connection, in the transaction of the session or failure they record.

Open mode. With no users at all `open` is true: edge/api/deps.py then lets a request in as the local administrator
only when it comes from loopback and its Host header names loopback (`loopback`), decided per request, so removing
the last user of a gateway that listens on the LAN closes it to the LAN instead of opening it.

This module owns checking; it does not know the routes (each router in edge/api/ declares its routes' roles).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher

from edge.audit import Entry
from edge.passwords import (
    HASHER,
    HashGate,
    matches,
    password_problem,
    stand_in_hash,
)
from edge.store.audit import AuditLog
from edge.store.connection import BUSY_WAIT_S, transaction
from edge.store.meta import Meta
from edge.store.schema import migrate

COOKIE = "hallops_session"
_BASIC_CACHE_MAX = 256
TOKEN_DAYS = 90
TOKEN_DAYS_MAX = 366
DAY_S = 86_400.0
TOKEN_TOUCH_S = 60.0  # `last used` of a token is written at most this often (a stream re-checks every few seconds)
NAME_MAX = 64  # a name tried is kept (throttle, audit) to this length: user names are no longer

T = TypeVar("T")


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


def loopback(client: str, host_header: str) -> bool:
    """A request from this machine to this machine: the connecting address is loopback and so is the name in its Host
    header (`localhost`, `127.0.0.1`, `[::1]`, with any port). A web page of another site can make a browser on the
    box call 127.0.0.1 by resolving its own name there (DNS rebinding), but its requests still name that site."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return _loopback_address(client) and (host == "localhost" or _loopback_address(host))


def _loopback_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class UserError(ValueError):
    """A user or token change that cannot be made (the message says why; `reason`, when given, is a stable code for
    the web UI: name, password, exists, missing, configured, self, last_administrator)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class Throttled(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many wrong passwords: try again in {math.ceil(retry_after_s / 60)} min")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Account:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class Token:
    """An API token as `hallops tokens list` shows it: never the token itself."""

    id: str  # public: the first 8 hex digits of the stored SHA-256
    user: str
    label: str
    created_at: float
    expires_at: float
    last_used_at: float | None


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, password TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, display TEXT,
    password_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, label TEXT NOT NULL,
    created_at REAL NOT NULL, last_used_at REAL, expires_at REAL);
CREATE TABLE IF NOT EXISTS sign_in_failures (client TEXT NOT NULL, name TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sign_in_failures_key ON sign_in_failures (client, name, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_at ON sign_in_failures (at);
"""
FAILURES_ALLOWED = 5  # per user name from one address
CLIENT_FAILURES_ALLOWED = 20  # per address: a hall's staff often share one (NAT, a proxy)
FAILURE_WINDOW_S = 15 * 60
FAILURE_ROWS_MAX = 10_000  # made-up names from many addresses must not grow the file without end
_THROTTLE_NOTES_MAX = 10_000


class Auth:
    """Checks credentials against the accounts (the configuration's and the database's) and keeps sessions, API
    tokens and the sign-in failures in SQLite (tables of its own in the gateway's file), on a connection of its own
    that the API's worker threads share (one lock). `hasher` makes new password hashes and sets the cost of the
    stand-in hash for an unknown name; verifying uses the parameters stored in each hash. `now` is the wall clock."""

    def __init__(
        self,
        accounts: Mapping[str, Account],
        db: Path,
        session_hours: float = 12,
        *,
        hasher: PasswordHasher = HASHER,
        now: Callable[[], float] = time.time,
        hashing: HashGate | None = None,
    ) -> None:
        self.configured = dict(accounts)
        self.session_s = session_hours * 3600
        self.hashing = hashing or HashGate()
        self._hasher = hasher
        self._now = now
        self._stand_in = stand_in_hash(hasher)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=BUSY_WAIT_S)
        try:
            self._db.execute(f"PRAGMA busy_timeout = {round(BUSY_WAIT_S * 1000)}")  # the gateway writes the file too
            self._db.execute("PRAGMA journal_mode=WAL")
            migrate(self._db, str(db))  # the audit chain's tables, on a file the gateway has not opened yet
            self._db.executescript(SCHEMA)
            self._add_token_expiry()
            self._forget_departed()
        except BaseException:
            self._db.close()
            raise
        self._audit = AuditLog(self._db, Meta(self._db))
        self._basic_key = secrets.token_bytes(32)  # the Basic cache's keys mean nothing outside this process
        self._basic: dict[bytes, Account] = {}
        self._throttle_noted: dict[tuple[str, str, str], float] = {}
        self.failures = 0

    def _forget_departed(self) -> None:
        """Tokens and sessions of names that are no account any more (a `users:` entry left the configuration): gone,
        so that an account given that name later does not inherit them — a token stands for the account it was made
        for, not for a name."""
        names = sorted(self.configured)
        marks = ",".join("?" * len(names))
        outside = f"user NOT IN (SELECT name FROM users){f' AND user NOT IN ({marks})' if names else ''}"
        with transaction(self._db, immediate=True):
            for table in ("tokens", "sessions"):
                self._db.execute(f"DELETE FROM {table} WHERE {outside}", names)

    def _add_token_expiry(self) -> None:
        """Tokens made before they expired get TOKEN_DAYS from their creation."""
        with transaction(self._db, immediate=True):
            if not any(row[1] == "expires_at" for row in self._db.execute("PRAGMA table_info(tokens)")):
                self._db.execute("ALTER TABLE tokens ADD COLUMN expires_at REAL")
            self._db.execute(
                "UPDATE tokens SET expires_at = created_at + ? WHERE expires_at IS NULL", (TOKEN_DAYS * DAY_S,)
            )

    @property
    def open(self) -> bool:
        """No users at all: the local administrator may use the API from this machine (module docstring)."""
        if self.configured:
            return False
        with self._lock:
            return self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def account(self, name: str) -> Account | None:
        """The user `name`: the configuration's entry, else the database's."""
        if name in self.configured:
            return self.configured[name]
        with self._lock:
            row = self._db.execute("SELECT role, display, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return Account(User(name, Role(row[0]), row[1]), str(row[2])) if row else None

    def accounts(self) -> list[tuple[Account, str]]:
        """Every user with where it comes from ("config" or "database"), by name."""
        out = {name: (a, "config") for name, a in self.configured.items()}
        with self._lock:
            rows = self._db.execute("SELECT name, role, display, password_hash FROM users").fetchall()
        for name, role, display, password_hash in rows:
            out.setdefault(name, (Account(User(name, Role(role), display), password_hash), "database"))
        return [out[k] for k in sorted(out)]

    # -- managing users and tokens (the CLI; users also the web UI) ----------------------------------------
    # `by`: the administrator making the change in the web UI (edge/api/users.py). Their change is audited under
    # their name in its own transaction (the CLI audits its own), and one that would leave the hall without an
    # administrator is refused there: nobody removes or demotes themselves, and the last administrator stays (two
    # administrators demoting each other at once: the second is refused).

    def add_user(
        self, name: str, role: Role, password: str, display: str | None = None, *, by: str | None = None
    ) -> User:
        if not _NAME.fullmatch(name):
            raise UserError(
                f"user name {name!r}: letters, digits, . _ - (up to 64), starting with a letter or digit", "name"
            )
        if (problem := password_problem(password, name)) is not None:
            raise UserError(problem, "password")
        if self.account(name) is not None:
            raise UserError(f"user {name!r} exists already", "exists")
        password_hash = self.hashing.run(lambda: self._hasher.hash(password))
        with self._lock, transaction(self._db, immediate=True):
            for table in ("tokens", "sessions"):  # of an earlier account of this name: not this one's
                self._db.execute(f"DELETE FROM {table} WHERE user = ?", (name,))
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?)", (name, role.value, display, password_hash, self._now())
            )
            self._audited(by, "user.add", name, {"role": role.value, "name": display})
        return User(name, role, display)

    def remove_user(self, name: str, *, by: str | None = None) -> None:
        """Remove a database user with its sessions and tokens."""
        if name in self.configured:
            raise UserError(f"user {name!r} comes from the configuration file: remove it there", "configured")
        # one transaction: no moment with the user gone but a token still valid, or the reverse
        with self._lock, transaction(self._db, immediate=True):
            account = self.account(name)
            if by is not None and account is not None:
                self._keep_administrators(account.user, by)
            if self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise UserError(f"no user {name!r}", "missing")
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self._db.execute("DELETE FROM tokens WHERE user = ?", (name,))
            self._audited(by, "user.remove", name, {"role": account.user.role.value if account else None})

    def set_password(self, name: str, password: str, *, by: str | None = None) -> None:
        """A database user's new password; its sessions end with the old one (API tokens stay: they are not the
        password)."""
        if name in self.configured:
            raise UserError(f"user {name!r} comes from the configuration file: put a new hash there", "configured")
        if (problem := password_problem(password, name)) is not None:
            raise UserError(problem, "password")
        if self.account(name) is None:
            raise UserError(f"no user {name!r}", "missing")
        password_hash = self.hashing.run(lambda: self._hasher.hash(password))
        with self._lock, transaction(self._db, immediate=True):
            changed = self._db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
            if changed.rowcount == 0:
                raise UserError(f"no user {name!r}", "missing")
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self._audited(by, "user.password", name, {})

    def change_user(self, name: str, by: str, role: Role | None = None, display: str | None = None) -> User:
        """A database user's new role and/or display name ("": none), set by the administrator `by`. A new role
        takes effect at the user's next request; the sessions stay."""
        if name in self.configured:
            raise UserError(f"user {name!r} comes from the configuration file: change it there", "configured")
        with self._lock, transaction(self._db, immediate=True):
            account = self.account(name)
            if account is None:
                raise UserError(f"no user {name!r}", "missing")
            user = account.user
            if role is not None and role is not user.role:
                if user.role is Role.ADMINISTRATOR:
                    self._keep_administrators(user, by)
                self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role.value, name))
                self._audited(by, "user.role", name, {"role": role.value, "was": user.role.value})
                user = User(name, role, user.display)
            if display is not None and (display or None) != user.display:
                self._db.execute("UPDATE users SET display = ? WHERE name = ?", (display or None, name))
                self._audited(by, "user.display", name, {"name": display or None, "was": user.display})
                user = User(name, user.role, display or None)
        return user

    def _keep_administrators(self, user: User, by: str) -> None:
        """Refuse removing or demoting `user` when `by` is that user, or when it is the last administrator."""
        if user.name == by:
            raise UserError("you cannot remove yourself or change your own role: ask another administrator", "self")
        administrators = [a.user.name for a, _ in self.accounts() if a.user.role is Role.ADMINISTRATOR]
        if administrators == [user.name]:
            raise UserError(
                f"{user.name} is the last administrator: make another user administrator first", "last_administrator"
            )

    def _audited(self, by: str | None, action: str, subject: str, detail: dict[str, object]) -> None:
        """A change made in the web UI, appended to the audit chain in the transaction open (none for the CLI's)."""
        if by is not None:
            self._audit.append([Entry(self._now(), by, action, subject, detail)])

    def create_token(self, name: str, label: str = "", days: float = TOKEN_DAYS) -> str:
        """A new API token for `name`, valid for `days` (shown once; only its hash is kept; `token_id` names it)."""
        if not 0 < days <= TOKEN_DAYS_MAX:
            raise UserError(f"a token lasts 1 to {TOKEN_DAYS_MAX} days, not {days:g}")
        if self.account(name) is None:
            raise UserError(f"no user {name!r}")
        token = "hot_" + secrets.token_urlsafe(32)
        now = self._now()
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (token_sha, user, label, created_at, last_used_at, expires_at)"
                " VALUES (?, ?, ?, ?, NULL, ?)",
                (_sha(token), name, label, now, now + days * DAY_S),
            )
        return token

    def tokens(self) -> list[Token]:
        """Every API token (expired ones too, until revoked), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT token_sha, user, label, created_at, expires_at, last_used_at FROM tokens ORDER BY created_at"
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, key: str) -> Token:
        """Revoke the token whose id or label is `key`: it stops working at once."""
        with self._lock, transaction(self._db, immediate=True):
            rows = self._db.execute(
                "SELECT token_sha, user, label, created_at, expires_at, last_used_at FROM tokens"
                " WHERE substr(token_sha, 1, 8) = ? OR label = ?",
                (key.lower(), key),
            ).fetchall()
            if not rows:
                raise UserError(f"no token with the id or label {key!r} (hallops tokens list shows them)")
            if len(rows) > 1:
                raise UserError(f"{len(rows)} tokens match {key!r}: revoke one by its id (hallops tokens list)")
            self._db.execute("DELETE FROM tokens WHERE token_sha = ?", (rows[0][0],))
        return _token(rows[0])

    def bearer(self, token: str) -> User | None:
        """The user of a valid (issued, not expired, not revoked) API token."""
        now = self._now()
        with self._lock:
            row = self._db.execute(
                "SELECT user, expires_at, last_used_at FROM tokens WHERE token_sha = ?", (_sha(token),)
            ).fetchone()
            if row is None or float(row[1]) <= now:
                return None
            account = self.account(str(row[0]))
            if account is None:
                return None
            if row[2] is None or float(row[2]) < now - TOKEN_TOUCH_S:
                self._db.execute("UPDATE tokens SET last_used_at = ? WHERE token_sha = ?", (now, _sha(token)))
        return account.user

    # -- checking ------------------------------------------------------------------------------------------

    def check_password(self, name: str, password: str, client: str = "", method: str = "password") -> User | None:
        """The user for a good password. Raises Throttled (before checking) while this name from this client
        address, or this address, has failed too often lately, and Busy when too many checks run and wait already.
        A failure counts against both and is audited."""
        account = self._check(name, password, client, method)
        return account.user if account else None

    def _check(self, name: str, password: str, client: str, method: str) -> Account | None:
        """The account whose current hash `password` matched (check_password)."""
        self._throttle(name, client)
        account = self.account(name)
        if account is None:
            # the stand-in's cost: about the same time as a wrong password, no user enumeration by timing
            self.hashing.run(lambda: matches(self._hasher, self._stand_in, password))
        elif self.hashing.run(lambda: matches(self._hasher, account.password_hash, password)):
            return account
        self._note_failure(name, client, method)
        return None

    def _throttle(self, name: str, client: str) -> None:
        now = self._now()
        name = name[:NAME_MAX]
        since = now - FAILURE_WINDOW_S
        with self._lock:
            for scope, where, args, allowed in (
                ("address", "client = ?", (client,), CLIENT_FAILURES_ALLOWED),
                ("name and address", "client = ? AND name = ?", (client, name), FAILURES_ALLOWED),
            ):
                newest = self._db.execute(
                    f"SELECT at FROM sign_in_failures WHERE {where} AND at >= ? ORDER BY at DESC LIMIT ?",
                    (*args, since, allowed),
                ).fetchall()
                if len(newest) < allowed:
                    continue
                retry_after_s = float(newest[-1][0]) + FAILURE_WINDOW_S - now
                key = (scope, client, name if scope != "address" else "")
                if self._throttle_noted.get(key, 0.0) <= now:  # one audit entry per key and window
                    if len(self._throttle_noted) >= _THROTTLE_NOTES_MAX:
                        self._throttle_noted = {k: t for k, t in self._throttle_noted.items() if t > now}
                    self._throttle_noted[key] = now + retry_after_s
                    detail = {"client": client, "scope": scope, "retry_after_s": math.ceil(retry_after_s)}
                    self._audit.append([Entry(now, "anonymous", "session.throttled", name, detail)])
                raise Throttled(retry_after_s)

    def _note_failure(self, name: str, client: str, method: str) -> None:
        now = self._now()
        name = name[:NAME_MAX]
        with self._lock, transaction(self._db, immediate=True):
            self.failures += 1
            self._db.execute("INSERT INTO sign_in_failures (client, name, at) VALUES (?, ?, ?)", (client, name, now))
            self._db.execute("DELETE FROM sign_in_failures WHERE at < ?", (now - FAILURE_WINDOW_S,))
            (rows,) = self._db.execute("SELECT count(*) FROM sign_in_failures").fetchone()
            if rows > FAILURE_ROWS_MAX:
                self._db.execute(
                    "DELETE FROM sign_in_failures WHERE rowid IN"
                    " (SELECT rowid FROM sign_in_failures ORDER BY at LIMIT ?)",
                    (rows - FAILURE_ROWS_MAX,),
                )
            detail = {"client": client, "method": method}
            self._audit.append([Entry(now, "anonymous", "session.sign_in_failed", name, detail)])

    def login(self, name: str, password: str, client: str = "") -> tuple[User, str] | None:
        """A new session for good credentials: (user, token). Raises Throttled and Busy (see check_password)."""
        account = self._check(name, password, client, "password")
        if account is None:
            return None
        token = secrets.token_urlsafe(32)
        now = self._now()
        with self._lock, transaction(self._db, immediate=True):
            self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            # the hash the password matched: a new password set meanwhile ends this session too
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_sha(token), account.user.name, now, now + self.session_s, _sha(account.password_hash)),
            )
            detail = {"client": client, "method": "password"}
            self._audit.append([Entry(now, account.user.name, "session.sign_in", account.user.name, detail)])
        return account.user, token

    def logout(self, token: str, client: str = "") -> None:
        now = self._now()
        with self._lock, transaction(self._db, immediate=True):
            row = self._db.execute("SELECT user FROM sessions WHERE token_sha = ?", (_sha(token),)).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM sessions WHERE token_sha = ?", (_sha(token),))
            self._audit.append([Entry(now, str(row[0]), "session.sign_out", str(row[0]), {"client": client})])

    def session(self, token: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT user, expires_at, password FROM sessions WHERE token_sha = ?", (_sha(token),)
            ).fetchone()
        if row is None or float(row[1]) < self._now():
            return None
        account = self.account(str(row[0]))
        # a user removed from the config, or given a new password, loses the sessions opened before
        return account.user if account and _sha(account.password_hash) == row[2] else None

    def basic(self, header: str, client: str = "") -> User | None:
        """`Authorization: Basic …` for scripts and integrations. Raises Throttled and Busy (see check_password);
        a first good check from a client is audited as a sign-in, the cached ones after it are not."""
        try:
            name, _, password = base64.b64decode(header, validate=True).decode().partition(":")
        except ValueError:  # bad base64 (binascii.Error), non-ASCII text, or bytes that are not UTF-8
            return None
        key = hmac.digest(self._basic_key, f"{name}\0{password}".encode(), "sha256")
        cached = self._basic.get(key)
        if cached is not None:
            if self.account(name) == cached:  # the same hash and role as when it was checked
                return cached.user
            self._basic.pop(key, None)
        account = self._check(name, password, client, "basic")
        if account is None:
            return None
        if len(self._basic) >= _BASIC_CACHE_MAX:
            self._basic.clear()
        self._basic[key] = account
        now = self._now()
        with self._lock:
            detail = {"client": client, "method": "basic"}
            self._audit.append([Entry(now, account.user.name, "session.sign_in", account.user.name, detail)])
        return account.user


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """The short public id of a token (`hallops tokens list`, `revoke`)."""
    return _sha(token)[:8]


def _token(row: tuple[Any, ...]) -> Token:
    sha, user, label, created_at, expires_at, last_used_at = row
    used = float(last_used_at) if last_used_at is not None else None
    return Token(str(sha)[:8], str(user), str(label), float(created_at), float(expires_at), used)
