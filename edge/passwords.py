"""Passwords: the policy a new password must meet, Argon2id hashing and checking, and the gate that bounds how many
checks run and wait at once.

Policy. A password set through hallops or hashed by `hallops users hash` has MIN_PASSWORD_CHARS characters or more,
MIN_DISTINCT_CHARS different ones, is not the user name, and is not one of the 30,000 most common passwords of
zxcvbn's list, nor such a word with digits or signs around it (`password_problem`; `password_fault` is its stable
code, which the web UI says in its own words). Hashes already in the configuration are not judged: their passwords
are not known.

Memory. An Argon2 check at the production cost (RFC 9106's low-memory profile, argon2-cffi's default: 64 MiB, 3
passes, 4 lanes) holds 64 MiB while it runs. At most HASHES_AT_ONCE checks or hashes run at once (`HashGate`), at
most HASHES_WAITING more wait for their turn, and a caller beyond those is refused at once (Busy: HTTP 503 with
Retry-After), having cost nothing. `stand_in_hash` makes a hash of the same cost for an unknown name, so its answer
takes as long as a wrong password's. `hash_password` and `matches` take another `PasswordHasher` so that tests can
hash cheaply; a hash carries its own parameters, so it verifies whichever hasher made it.

Plain functions and one gate: must not know users, sessions or the database (edge.auth).
"""

from __future__ import annotations

import base64
import contextvars
import functools
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()  # the production cost (the module docstring); tests pass a cheap one
HASHES_AT_ONCE = 2  # 2 × 64 MiB: well inside the service's memory cap (deploy/systemd) with the hall's own use
HASHES_WAITING = 8
HASH_WAIT_S = 10.0  # a check waiting longer for its turn gives up (Busy)
BUSY_RETRY_S = 2
MIN_PASSWORD_CHARS = 10
MIN_DISTINCT_CHARS = 5  # `aaaaaaaaaa`, `1212121212`

T = TypeVar("T")


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def valid_hash(value: str) -> bool:
    """An Argon2 hash as `hash_password` makes them (its parameters can be read)."""
    try:
        extract_parameters(value)
    except InvalidHashError:
        return False
    return value.startswith("$argon2")


PASSWORD_PROBLEMS = {  # why a password may not be set, by a stable code: the web UI says it in its own words
    "too_short": f"the password must have at least {MIN_PASSWORD_CHARS} characters",
    "too_few_distinct": f"the password must have at least {MIN_DISTINCT_CHARS} different characters",
    "user_name": "the password must not be the user name",
    "common": "the password is one of the most common passwords (or one with digits or signs added): choose another",
}


def password_problem(password: str, name: str = "") -> str | None:
    """Why `password` may not be set for the user `name`, or None when it may (the module docstring's policy)."""
    fault = password_fault(password, name)
    return None if fault is None else PASSWORD_PROBLEMS[fault]


def password_fault(password: str, name: str = "") -> str | None:
    """`password_problem` as its code in PASSWORD_PROBLEMS."""
    if len(password) < MIN_PASSWORD_CHARS:
        return "too_short"
    if len(set(password)) < MIN_DISTINCT_CHARS:
        return "too_few_distinct"
    lower = password.lower()
    word = lower.strip(string.digits + string.punctuation + string.whitespace)  # `Password1!` → `password`
    if name and name.lower() in (lower, word):
        return "user_name"
    if lower in _common_passwords() or word in _common_passwords():
        return "common"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415 - 30,000 words: loaded when a password is set

    return frozenset(FREQUENCY_LISTS["passwords"])


def stand_in_hash(hasher: PasswordHasher) -> str:
    """A hash with `hasher`'s parameters that stands for an unknown user: checking a password against it costs what
    checking one against a real hash of that cost does. Made without hashing (a random salt, a digest of zeros)."""
    salt = base64.b64encode(secrets.token_bytes(hasher.salt_len)).decode().rstrip("=")
    digest = base64.b64encode(bytes(hasher.hash_len)).decode().rstrip("=")
    params = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"$argon2{hasher.type.name.lower()}$v=19${params}${salt}${digest}"


class Busy(Exception):
    """Too many password checks run and wait already: the caller is to try again shortly (HTTP 503)."""

    def __init__(self, retry_after_s: float = BUSY_RETRY_S) -> None:
        super().__init__("too many sign-ins at once: try again in a few seconds")
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Place:
    """A place in a HashGate, held by the contexts that share it; free again when the last lets go."""

    gate: HashGate
    holders: int = 1


_PLACE: contextvars.ContextVar[_Place | None] = contextvars.ContextVar("hallops_hash_place", default=None)


class HashGate:
    """At most `at_once` Argon2 hashes or checks run at once, at most `waiting` more wait for their turn (up to
    `wait_s`), and a caller beyond those is refused at once (Busy) instead of being queued: the memory they take and
    the time they wait stay bounded whatever arrives."""

    def __init__(
        self, at_once: int = HASHES_AT_ONCE, waiting: int = HASHES_WAITING, wait_s: float = HASH_WAIT_S
    ) -> None:
        self._running = threading.BoundedSemaphore(at_once)
        self._places = at_once + waiting
        self._taken = 0
        self._lock = threading.Lock()
        self._wait_s = wait_s

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold a place for the block, or raise Busy when none is free. The checks made inside it — in this thread
        or in one the block hands its context to, as `asyncio.to_thread` does — share this place, so an event-loop
        route can take its place before its work waits in a thread pool's queue, where nothing bounds it. A shared
        place is held until the last block holding it ends: a route cancelled (its caller gone) while its check
        runs in a thread does not free the place of that check."""
        with self._lock:
            shared = _PLACE.get()
            if shared is not None and shared.gate is self and shared.holders > 0:
                shared.holders += 1
                place = shared
            elif self._taken >= self._places:
                raise Busy()
            else:
                self._taken += 1
                place = _Place(self)
        held = _PLACE.set(place)
        try:
            yield
        finally:
            _PLACE.reset(held)
            with self._lock:
                place.holders -= 1
                if place.holders == 0:
                    self._taken -= 1

    def run(self, work: Callable[[], T]) -> T:
        """`work` (one hash or check) in its turn; Busy when no place is free or the turn does not come in time."""
        with self.place():
            if not self._running.acquire(timeout=self._wait_s):
                raise Busy()
            try:
                return work()
            finally:
                self._running.release()


def matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from (False for a hash that cannot be read)."""
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


__all__ = [
    "BUSY_RETRY_S",
    "HASHER",
    "HASHES_AT_ONCE",
    "HASHES_WAITING",
    "HASH_WAIT_S",
    "MIN_DISTINCT_CHARS",
    "MIN_PASSWORD_CHARS",
    "PASSWORD_PROBLEMS",
    "Busy",
    "HashGate",
    "hash_password",
    "matches",
    "password_fault",
    "password_problem",
    "stand_in_hash",
    "valid_hash",
]
