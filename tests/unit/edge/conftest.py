"""Fixtures shared by the gateway's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from edge.config import load_config
from edge.gateway import Gateway
from edge.store import Store
from tests.receiver import Receiver

LAN = "192.0.2.1"  # the gateway's address on the hall's LAN


class Wall:
    """The box's monotonic clock (seconds), moved only by the test: for a DeviceClock's `monotonic`."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Clock:
    """A clock in UNIX seconds that moves only when the test moves `now`."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """argon2-cffi's cheapest profile (its own test profile): a real Argon2id hash in microseconds, not the production
    ~0.1–0.5 s. Whoever hashes or verifies in a test is handed this one; a hash made with production parameters still
    verifies with it, as each hash carries its own parameters."""
    return PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of hall h1 on its own database, serving the hall's LAN address, not started (no broker)."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "gw.db")}, "http": {"host": LAN}})
    gw = Gateway(cfg)
    gw.open()
    yield gw
    gw.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint on 127.0.0.1 recording each POST (tests/receiver.py)."""
    with Receiver() as r:
        yield r


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "g.db")
    yield store
    store.close()


def database_bytes(store: Store) -> bytes:
    """The database file and its write-ahead log, byte for byte: to show a secret is in no row."""
    return b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
