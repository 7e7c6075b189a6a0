"""A gateway whose log the test writes, for the tests of what the API reads back from it (reports, KPI trends, past
days rebuilt, backtests): a real gateway (its SQLite file, its decision layer) on a manual clock, its API in-process
(`httpx.ASGITransport`), a client per user signing in with HTTP Basic (argon2's cheapest profile).

    async with open_hall(tmp_path, hasher, {"wang": Role.MANAGER}, Hall) as hall:
        hall.issue(T0, "A001", "tax")                         # heard at T0: the clock is moved there
        await hall.clients["wang"].get("/api/reports/…")

and `held_decode`, which makes rebuilding a past day from the log wait until the test lets it go.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

import edge.reports
from edge.api import ApiState, create_app
from edge.auth import Auth, Role
from edge.config import load_config
from edge.gateway import Gateway
from rules.clock import FixedClock

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday, in the hall's day
WAIT_S = 10.0  # how long a test waits for a step it released, at most (it takes milliseconds)


def password(name: str) -> str:
    return f"{name}'s hall passphrase, 2026"


class Hall:
    """A running gateway, its API's state, and a client per user."""

    def __init__(self, app: FastAPI, gateway: Gateway, clock: FixedClock, clients: dict[str, httpx.AsyncClient]):
        self.api: ApiState = app.state.api
        self.gateway, self.clock, self.clients = gateway, clock, clients
        self.seqs: dict[str, int] = {}

    def send(self, kind: str, device: str, channel: str, at: datetime, **fields: object) -> None:
        """A message from a device, heard at `at` (the clock is moved there)."""
        self.clock.set(at)
        seq = self.seqs[device] = self.seqs.get(device, 0) + 1
        body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
        self.gateway.handle(f"hall/h1/{kind}/{device}/{channel}", json.dumps(body).encode(), at)
        self.gateway.flush()

    def paper_out(self, device: str, at: datetime) -> str:
        """A ticket machine's printer runs out of paper and the gateway decides: a fault ticket opens. Its id."""
        self.send("ticket_machine", device, "state", at, online=True, printer="paper_out", paper_pct=0)
        decider = self.gateway.decider
        assert decider is not None
        decider.evaluate()
        (ticket,) = [t for t in decider.tickets.tickets if t.device == device]
        return ticket.id

    def issue(self, at: datetime, ticket: str, service: str) -> None:
        """Ticket machine TM1 issues `ticket` (its number too) for `service` at `at`."""
        self.send(
            "ticket_machine", "TM1", "evt", at, type="ticket.issued", ticket_id=ticket, number=ticket, service=service
        )


H = TypeVar("H", bound=Hall)


@asynccontextmanager
async def open_hall(
    tmp_path: Path, hasher: PasswordHasher, users: Mapping[str, Role], kind: type[H], **sections: dict[str, object]
) -> AsyncIterator[H]:
    """The gateway of hall h1 at T0 with the configuration's `sections`, and `users` signed in; `kind`: Hall, or a
    test's own kind of it."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}, **sections})
    clock = FixedClock(T0)
    gateway = Gateway(cfg, clock=clock)
    gateway.open()
    auth = Auth({}, cfg.storage.path, hasher=hasher)
    for name, role in users.items():
        auth.add_user(name, role, password(name))
    app = create_app(gateway, auth)
    transport = httpx.ASGITransport(app=app)
    clients = {
        name: httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", auth=(name, password(name)), timeout=60
        )
        for name in users
    }
    try:
        yield kind(app, gateway, clock, clients)
    finally:
        for client in clients.values():
            await client.aclose()
        auth.close()
        gateway.close()


def held_decode(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Rebuilding a day from the log decodes each message: the first decode waits until the test lets it go (the
    stand-in for a day of a busy hall). Returns (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    decode = edge.reports.decode

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(WAIT_S)
        return decode(*args, **kwargs)

    monkeypatch.setattr(edge.reports, "decode", held)
    return entered, release
