"""A burst of HTTP Basic guesses with made-up names against a running gateway, at the production Argon2 cost (64 MiB a
check): the gateway checks two at a time, refuses the excess at once with 503 and Retry-After, keeps answering
/api/health, its memory stays near two checks' worth, and the right password still signs in afterwards.

Before the fix each of 16 parallel requests ran its own 64 MiB hash in the 40-thread pool (about 1 GiB).
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from argon2 import PasswordHasher, profiles

from edge.auth import Auth, Role
from edge.broker import MosquittoProcess
from edge.config import HttpSection
from edge.passwords import HASHES_AT_ONCE, HASHES_WAITING
from tests.integration.conftest import GatewayProcess

PASSWORD = "correct horse battery"
# more than the gate's places (2 checking + 8 waiting), and fewer connections than one address may hold open
# together with the test's own client's (http.max_connections_per_client, 32): at 32 the 33rd was closed at once
BURST = 24
MIB = 1024 * 1024


def basic(name: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_a_burst_of_basic_guesses_is_bounded_in_memory_and_refused_beyond_the_queue(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    assert HASHES_AT_ONCE + HASHES_WAITING < BURST < HttpSection().max_connections_per_client - 1
    gw = gateway_factory(mosquitto.url)
    users = Auth({}, gw.db, hasher=PasswordHasher.from_parameters(profiles.CHEAPEST))
    users.add_user("root", Role.ADMINISTRATOR, PASSWORD)
    users.close()
    gw.start()
    assert gw.proc is not None
    process = psutil.Process(gw.proc.pid)
    assert gw.http.get("/api/session", headers=basic("root", PASSWORD)).status_code == 200  # imports and caches warm
    baseline = process.memory_info().rss
    peak = baseline
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampling.is_set():
            peak = max(peak, process.memory_info().rss)
            sampling.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()

    def guess(_: int) -> httpx.Response:
        with httpx.Client(base_url=gw.url, timeout=60) as http:
            return http.get("/api/session", headers=basic(secrets.token_hex(6), secrets.token_hex(8)))

    try:
        with ThreadPoolExecutor(BURST) as pool:
            answers = list(pool.map(guess, range(BURST)))
            assert gw.http.get("/api/health").status_code == 200
    finally:
        sampling.set()
        sampler.join()
    statuses = sorted(r.status_code for r in answers)
    # 429 once 20 guesses from this address have failed: refused without a check too
    assert set(statuses) <= {401, 429, 503}, statuses
    assert 503 in statuses, statuses  # the queue was full: refused at once, nothing hashed for them
    assert all(int(r.headers["retry-after"]) > 0 for r in answers if r.status_code == 503)
    grown = (peak - baseline) / MIB
    assert grown < 2 * 64 + 64, f"the gateway grew by {grown:.0f} MiB during the burst"
    assert gw.http.get("/api/session", headers=basic("root", PASSWORD)).json()["user"] == "root"
