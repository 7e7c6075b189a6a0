"""What a caller can do to the HTTP server before any route runs, tried at the socket on a real gateway (its own
process, under a low open-file limit as systemd gives a service) on a real mosquitto: connections per address and in
all, request heads that never end or never stop, request bodies larger than the limit, and proxy headers from
loopback. The rules themselves are in edge/server.py and edge/api/guard.py; tests/unit/edge/test_http_guard.py and
test_http_server.py test them without a server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from edge.broker import MosquittoProcess
from edge.config import HttpSection
from edge.passwords import hash_password
from edge.server import bind, http_server
from tests.integration.conftest import GatewayProcess, wait_until

SOFT, HARD = 256, 4096  # the gateway's open-file limit as it starts: 1,050 connections are more than SOFT
MAX_CONNECTIONS, PER_CLIENT, HEAD_S, BODY_S, MAX_BODY = 64, 8, 2.0, 3.0, 64 * 1024
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with one administrator (root) and small limits, started under `prlimit --nofile=SOFT:HARD`."""
    tmp = tmp_path_factory.mktemp("limits")
    root = hash_password(PASSWORD, PasswordHasher.from_parameters(profiles.CHEAPEST))
    config = tmp / "gateway.yaml"
    config.write_text(
        f"http: {{max_connections: {MAX_CONNECTIONS}, max_connections_per_client: {PER_CLIENT}, "
        f"header_timeout_s: {HEAD_S}, body_timeout_s: {BODY_S}, max_body_bytes: {MAX_BODY}}}\n"
        f'users: {{root: {{role: administrator, password_hash: "{root}"}}}}\n',
        encoding="utf-8",
    )
    with MosquittoProcess() as broker:
        gw = GatewayProcess(tmp, broker.url, "--config", str(config))
        gw.args = ["prlimit", f"--nofile={SOFT}:{HARD}", *gw.args]
        with gw:
            yield gw


def connect(port: int, source: str) -> socket.socket:
    """A TCP connection to the gateway from `source` (any 127.x.y.z is loopback) that sends nothing."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def closed(sock: socket.socket) -> bool:
    """Whether the gateway has closed this connection, on which it sent nothing."""
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def answer(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the gateway sends until it closes the connection (fails after `timeout` s)."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_one_address_cannot_hold_more_than_its_share_of_connections(gateway: GatewayProcess) -> None:
    mine = [connect(gateway.port, "127.0.0.2") for _ in range(PER_CLIENT)]
    one_more = connect(gateway.port, "127.0.0.2")
    someone_else = connect(gateway.port, "127.0.0.3")
    try:
        wait_until(lambda: closed(one_more), HEAD_S / 2, "the connection over the share to be closed")
        assert not any(closed(s) for s in [*mine, someone_else]), "closed before http.header_timeout_s"
        assert "127.0.0.2 has http.max_connections_per_client (8) open" in gateway.output()
    finally:
        for s in [*mine, one_more, someone_else]:
            s.close()


def test_a_flood_of_idle_connections_leaves_the_api_answering_and_the_log_quiet(gateway: GatewayProcess) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))  # the test's own 1,050
    logged = len(gateway.output().splitlines())
    # 1,050 connections that never send a request, 7 from each of 150 addresses: under the share of each,
    # 16 times the limit in all
    flood = [connect(gateway.port, f"127.1.{i // 7 // 250}.{i // 7 % 250 + 1}") for i in range(1050)]
    try:
        started = time.monotonic()
        health = httpx.get(f"{gateway.url}/api/health", timeout=5)  # a fresh connection: it replaces an idle one
        assert health.status_code == 200 and time.monotonic() - started < HEAD_S
        wait_until(lambda: sum(not closed(s) for s in flood) <= MAX_CONNECTIONS, HEAD_S / 2, "the total limit")
        wait_until(lambda: all(closed(s) for s in flood), HEAD_S + 5, "the idle connections to be closed")
        assert gateway.http.get("/api/health").status_code == 200
    finally:
        for s in flood:
            s.close()
    added = gateway.output().splitlines()[logged:]
    assert len(added) <= 5, "\n".join(added[:20])
    assert gateway.proc is not None
    limits = Path(f"/proc/{gateway.proc.pid}/limits").read_text()
    assert f"Max open files            {HARD}                 {HARD}" in limits, "the soft limit raised to the hard"


def test_a_request_head_must_come_whole_in_time_and_not_too_large(gateway: GatewayProcess) -> None:
    slow = connect(gateway.port, "127.0.0.4")
    started = time.monotonic()
    trickle = [b"GET /api/health HTTP/1.1\r\n", *(f"x-pad-{i}: y\r\n".encode() for i in range(100))]
    while not closed(slow) and trickle and time.monotonic() - started < HEAD_S + 3:  # one line every 0.1 s
        with contextlib.suppress(OSError):  # closed meanwhile
            slow.send(trickle.pop(0))
        time.sleep(0.1)
    assert closed(slow), "a head sent a line at a time was still being read"
    assert HEAD_S - 0.5 < time.monotonic() - started < HEAD_S + 2
    slow.close()
    large = connect(gateway.port, "127.0.0.4")
    large.setblocking(True)
    large.sendall(b"GET /api/health HTTP/1.1\r\nhost: x\r\nx-pad: " + b"y" * 70_000)  # and it goes on
    assert answer(large).startswith(b"HTTP/1.1 431 ")
    large.close()


def test_bodies_sent_a_byte_at_a_time_neither_hold_the_api_nor_their_connections(gateway: GatewayProcess) -> None:
    """The review's attack: from 8 addresses, every place taken by a sign-in whose body never comes (the body is read
    before sign-in, so no credentials are needed). A caller still gets in, and the slow ones are closed (408)."""
    head = b"POST /api/session HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"
    with contextlib.ExitStack() as sockets:
        slow = []
        for a in range(MAX_CONNECTIONS // PER_CLIENT):
            for _ in range(PER_CLIENT):
                sock = sockets.enter_context(connect(gateway.port, f"127.0.3.{a + 1}"))
                sock.setblocking(True)
                sock.sendall(head)
                slow.append(sock)
        started = time.monotonic()
        # a new caller (a fresh connection: an idle kept-alive one may itself be closed to make room, by design)
        health = httpx.get(f"{gateway.url}/api/health", timeout=10)
        assert health.status_code == 200, "every place held by bodies that never come"
        ends = {answer(s, timeout=BODY_S + 5)[:12] for s in slow}  # each ends: 408, or closed to make room
        assert ends <= {b"HTTP/1.1 408", b""} and b"HTTP/1.1 408" in ends
        assert time.monotonic() - started < BODY_S + 5
        last = sockets.enter_context(connect(gateway.port, "127.0.3.99"))
        last.setblocking(True)
        last.sendall(head)
        assert answer(last, timeout=BODY_S + 5).startswith(b"HTTP/1.1 408 ")


def test_a_body_over_the_limit_is_refused_before_it_is_read(gateway: GatewayProcess) -> None:
    declared = connect(gateway.port, "127.0.0.5")
    declared.setblocking(True)
    started = time.monotonic()  # 100 MiB declared, a few bytes sent, no credentials, a route that needs them
    declared.sendall(
        b"POST /api/silences HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 104857600\r\n\r\n" + b'{"rule": '
    )
    response = answer(declared)  # the gateway closes the connection: it does not wait for the other 100 MiB
    assert response.startswith(b"HTTP/1.1 413 ") and time.monotonic() - started < 2
    assert b"65536 bytes (http.max_body_bytes)" in response
    declared.close()
    chunked = connect(gateway.port, "127.0.0.5")
    chunked.setblocking(True)
    chunk = b"x" * 8192
    chunked.sendall(
        b"POST /api/silences HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 9  # 72 KiB, and no end
    )
    assert answer(chunked).startswith(b"HTTP/1.1 413 ")
    chunked.close()
    within = httpx.post(f"{gateway.url}/api/silences", content=b"x" * MAX_BODY, auth=("root", PASSWORD), timeout=10)
    assert within.status_code == 422  # read, and refused for what it says


async def tell_client(scope: dict[str, object], receive: object, send: object) -> None:
    """An ASGI app that answers with the caller's address and scheme as the routes see them."""
    client = scope["client"]
    assert isinstance(client, tuple) and callable(send)
    body = json.dumps({"client": client[0], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving(http: HttpSection) -> AsyncIterator[int]:
    """edge.server's uvicorn with the limits of `http`, in this process, serving `tell_client`; yields its port."""
    sock = bind("127.0.0.1", 0)
    server = http_server(tell_client, http)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def clients_seen(trusted_proxies: list[str]) -> dict[str, str]:
    """Who the routes see calling from loopback with proxy headers that say otherwise."""
    headers = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
    async with (
        serving(HttpSection(trusted_proxies=trusted_proxies)) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        seen: dict[str, str] = (await http.get("/", headers=headers)).json()
    return seen


async def test_proxy_headers_are_believed_only_from_the_trusted_proxies() -> None:
    assert await clients_seen([]) == {"client": "127.0.0.1", "scheme": "http"}
    assert await clients_seen(["10.0.0.0/8"]) == {"client": "127.0.0.1", "scheme": "http"}
    assert await clients_seen(["127.0.0.1/32"]) == {"client": "203.0.113.9", "scheme": "https"}


async def test_a_trusted_proxy_is_not_held_to_one_address_share() -> None:
    """Everyone comes through the proxy: its connections count towards max_connections only."""
    for trusted, kept in (([], 2), (["127.0.0.1"], 5)):
        async with serving(HttpSection(trusted_proxies=trusted, max_connections_per_client=2)) as port:
            flood = [connect(port, "127.0.0.1") for _ in range(5)]
            try:
                await asyncio.sleep(0.5)  # the server accepts (and refuses) on this event loop
                assert sum(not closed(s) for s in flood) == kept, trusted
            finally:
                for s in flood:
                    s.close()
