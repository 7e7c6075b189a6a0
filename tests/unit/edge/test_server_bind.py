"""The gateway binds its HTTP port before it restores the hall (a busy port is a clear start-up error) and listens only
once it serves: while it restores — seconds, longer behind a long log to replay — a caller (a browser, a monitoring
probe, systemd's start check) is refused at once instead of left on a connection nobody answers (the 7-day soak's
health call waited 12 s, then timed out)."""

from __future__ import annotations

import socket

import pytest

from edge.config import ConfigError
from edge.server import bind


def test_a_port_another_server_listens_on_is_a_clear_error() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ConfigError) as err:
            bind("127.0.0.1", port)
    assert f"cannot listen on 127.0.0.1:{port}" in str(err.value)


def test_until_the_gateway_serves_a_caller_is_refused_at_once() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with socket.socket() as other, pytest.raises(OSError):  # and the port stays the gateway's meanwhile
            other.bind(("127.0.0.1", port))
    finally:
        sock.close()
