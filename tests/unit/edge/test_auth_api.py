"""Sign-in as a caller on the network meets it, through the app factory (no server): open mode decided per request,
password checks bounded in number and kept off the event loop, and HTTP Basic under the per-address throttle.

The caller's address is the ASGI client the transport reports, as uvicorn reports the connecting address.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI

from edge.api import create_app
from edge.auth import CLIENT_FAILURES_ALLOWED, Auth, Role
from edge.gateway import Gateway
from edge.passwords import HASHES_AT_ONCE, HASHES_WAITING
from tests.unit.edge.conftest import LAN, Clock

PASSWORD = "correct horse"
RULES = "rules: []\n"  # an empty rule set: every alert off


def make_app(gateway: Gateway, auth: Auth) -> FastAPI:
    return create_app(gateway, auth)


@pytest.fixture
def auth(gateway: Gateway, hasher: PasswordHasher) -> Iterator[Auth]:
    a = Auth({}, gateway.cfg.storage.path, hasher=hasher, now=Clock())
    yield a
    a.close()


def client(app: FastAPI, address: str, host: str = f"{LAN}:8080") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 51000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


def basic(name: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# --- open mode ---------------------------------------------------------------------------------------------------


async def test_removing_the_last_user_does_not_open_the_gateway_to_the_lan(gateway: Gateway, auth: Auth) -> None:
    auth.add_user("root", Role.ADMINISTRATOR, PASSWORD)
    auth.remove_user("root")  # `hallops users remove root` while the gateway runs on the LAN
    assert gateway.versions is not None
    before = [v.number for v in gateway.versions.all()]
    async with client(make_app(gateway, auth), "192.0.2.7") as lan:
        who = await lan.get("/api/session")
        assert who.status_code == 401
        assert "no users yet" in who.json()["detail"] and "hallops users add" in who.json()["detail"]
        assert (await lan.post("/api/session", json={"user": "local", "password": "x"})).status_code == 401
        stored = await lan.post("/api/rules/versions", json={"source": RULES, "comment": "all alerts off"})
        assert stored.status_code == 401
        assert (await lan.post("/api/rules/versions/1/activate")).status_code == 401
        assert (await lan.post("/api/rules/rollback")).status_code == 401
    assert gateway.versions is not None
    assert [v.number for v in gateway.versions.all()] == before  # nothing stored


async def test_with_no_users_a_loopback_caller_naming_loopback_is_the_local_administrator(
    gateway: Gateway, auth: Auth
) -> None:
    app = make_app(gateway, auth)
    for address, host in [("127.0.0.1", "127.0.0.1:8080"), ("127.0.0.1", "localhost"), ("::1", "[::1]:8080")]:
        async with client(app, address, host) as local:
            me = await local.get("/api/session")
            assert me.status_code == 200 and me.json()["user"] == "local" and me.json()["role"] == "administrator"
    async with client(app, "127.0.0.1", "127.0.0.1:8080") as local:
        stored = await local.post("/api/rules/versions", json={"source": RULES, "comment": "first rules"})
        assert stored.status_code == 201, stored.text


async def test_with_no_users_a_loopback_caller_naming_another_host_is_refused(gateway: Gateway, auth: Auth) -> None:
    app = make_app(gateway, auth)
    # a page of evil.example whose name now resolves to 127.0.0.1 (DNS rebinding), in a browser on the box
    for host in ["evil.example", "evil.example:8080", "192.0.2.1:8080", "127.0.0.1.evil.example", "localhost.evil"]:
        async with client(app, "127.0.0.1", host) as rebound:
            assert (await rebound.get("/api/session")).status_code == 401, host
            stored = await rebound.post("/api/rules/versions", json={"source": RULES, "comment": ""})
            assert stored.status_code == 401, host


# --- bounded password checks -------------------------------------------------------------------------------------


class SlowHasher(PasswordHasher):
    """Every check waits until released, counting how many run at once (as a 64 MiB Argon2 check holds memory)."""

    def __init__(self) -> None:
        cheap = profiles.CHEAPEST
        super().__init__(cheap.time_cost, cheap.memory_cost, cheap.parallelism, cheap.hash_len, cheap.salt_len)
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self.release.wait(timeout=5)  # a bound only for the old code, which ran the check on the event loop
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
async def slow(gateway: Gateway) -> AsyncIterator[tuple[SlowHasher, FastAPI]]:
    hasher = SlowHasher()
    a = Auth({}, gateway.cfg.storage.path, hasher=hasher, now=Clock())
    a.add_user("root", Role.ADMINISTRATOR, PASSWORD)
    yield hasher, make_app(gateway, a)
    hasher.release.set()
    a.close()


async def test_a_burst_of_sign_ins_runs_two_checks_at_once_refuses_the_excess_and_leaves_the_loop_free(
    slow: tuple[SlowHasher, FastAPI],
) -> None:
    hasher, app = slow
    async with client(app, "192.0.2.50") as http:
        attempts = [
            asyncio.create_task(
                http.post("/api/session", json={"user": secrets.token_hex(6), "password": secrets.token_hex(8)})
            )
            for _ in range(16)
        ]
        for _ in range(500):  # until the checks that may run are running (no timer: a condition)
            if hasher.running >= HASHES_AT_ONCE and sum(a.done() for a in attempts) >= 16 - HASHES_AT_ONCE - 8:
                break
            await asyncio.sleep(0.01)
        health = await asyncio.wait_for(http.get("/api/health"), 2)  # the event loop answers meanwhile
        assert health.status_code == 200
        refused = [a.result() for a in attempts if a.done()]
        assert len(refused) == 16 - HASHES_AT_ONCE - HASHES_WAITING
        assert {r.status_code for r in refused} == {503}
        assert all(int(r.headers["retry-after"]) > 0 for r in refused)
        hasher.release.set()
        answers = await asyncio.gather(*attempts)
    assert hasher.peak == HASHES_AT_ONCE
    assert sorted(r.status_code for r in answers) == [401] * (HASHES_AT_ONCE + HASHES_WAITING) + [503] * 6


# --- HTTP Basic and the per-address throttle ----------------------------------------------------------------------


async def test_basic_guesses_from_one_address_throttle_every_name_from_it_not_other_addresses(
    gateway: Gateway, auth: Auth
) -> None:
    auth.add_user("li", Role.TECHNICIAN, PASSWORD)
    app = make_app(gateway, auth)
    async with client(app, "192.0.2.66") as guesser:
        answers = [
            (await guesser.get("/api/session", headers=basic(f"user{i}", "guess"))).status_code for i in range(25)
        ]
        assert answers == [401] * CLIENT_FAILURES_ALLOWED + [429] * (25 - CLIENT_FAILURES_ALLOWED)
        throttled = await guesser.get("/api/session", headers=basic("li", PASSWORD))
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    async with client(app, "192.0.2.67") as colleague:
        me = await colleague.get("/api/session", headers=basic("li", PASSWORD))
        assert me.status_code == 200 and me.json()["user"] == "li"
