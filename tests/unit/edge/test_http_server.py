"""The HTTP server's own limits (edge/server.py) that need no running server: the tally that keeps refusals from
flooding the log, the listening socket that drops a connection it has no file for, and the check of
http.max_connections against the open-file limit. Connections, head timeouts and proxies on a real server are in
tests/integration/test_http_limits.py."""

from __future__ import annotations

import logging
import os
import resource
import socket
from collections.abc import Iterator

import pytest

from devices.errors import ConfigError
from edge.config import HttpSection, load_config
from edge.server import Listener, Tally, check_connections


def test_a_tally_logs_the_first_at_once_then_at_most_once_per_interval_with_the_count() -> None:
    tally = Tally(every_s=10)
    at = [0.0, 0.1, 0.2, 9.9, 10.0, 10.5, 25.0]
    assert [tally.add(t) for t in at] == [1, 0, 0, 0, 4, 0, 2]


@pytest.fixture
def listener() -> Iterator[tuple[Listener, list[float]]]:
    """A listening socket on loopback, and the list whose first item is its clock's time."""
    now = [0.0]
    sock = Listener(socket.AF_INET, clock=lambda: now[0])
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock, now
    sock.close()


def test_a_connection_without_a_file_is_dropped_and_said_at_most_once_per_interval(
    listener: tuple[Listener, list[float]], caplog: pytest.LogCaptureFixture
) -> None:
    sock, now = listener
    address = sock.getsockname()[:2]
    clients = [socket.create_connection(address, timeout=5) for _ in range(5)]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    caplog.set_level(logging.ERROR, "edge.server")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # no new file from here on
        for _ in range(4):
            with pytest.raises(ConnectionAbortedError):  # asyncio takes it as "nothing more to accept now"
                sock.accept()
        now[0] = 10.0
        with pytest.raises(ConnectionAbortedError):
            sock.accept()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for c in clients:  # each was accepted and closed, not left queued
        assert c.recv(1) == b""
        c.close()
    said = "out of open files: {} HTTP connection(s) dropped in the last 10 s (raise LimitNOFILE= or lower "
    assert [r.getMessage() for r in caplog.records] == [
        said.format(1) + "http.max_connections)",
        said.format(4) + "http.max_connections)",
    ]
    with socket.create_connection(address, timeout=5):  # with files again, it accepts as before
        conn, _ = sock.accept()
        conn.close()


def test_max_connections_must_leave_half_of_the_open_files_to_the_rest_of_the_gateway() -> None:
    check_connections(HttpSection(max_connections=512), 1024)
    with pytest.raises(ConfigError, match=r"http.max_connections: 513 is more than half of the 1024 files"):
        check_connections(HttpSection(max_connections=513), 1024)


def test_a_trusted_proxy_must_be_an_address_or_a_network() -> None:
    hall = {"id": "h1"}
    assert load_config(None, {"hall": hall, "http": {"trusted_proxies": ["10.0.0.5", "10.1.0.0/16", "fd00::/8"]}})
    with pytest.raises(ConfigError, match=r"http.trusted_proxies: .*'proxy.lan' is not an IP address or network"):
        load_config(None, {"hall": hall, "http": {"trusted_proxies": ["10.0.0.5", "proxy.lan"]}})
