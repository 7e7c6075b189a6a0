"""Device credentials on a real mosquitto running the password file and ACL that `hallops devices add` writes: a
device speaks only under its own topics and hears only its own commands; a revoked device cannot connect."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoProcess
from edge.credentials import Registry
from tests.integration.conftest import wait_until


class Client:
    """A paho client that remembers how its connection went and what it received."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.received: list[str] = []
        self.connected = threading.Event()
        self.reason: str | None = None
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}")
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, m: self.received.append(m.topic)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, _c: object, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        self.reason = str(reason)
        self.connected.set()

    def accepted(self) -> bool:
        assert self.connected.wait(10), "no CONNACK"
        return self.reason == "Success"

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, Registry, dict[str, str]]]:
    broker = MosquittoProcess()
    files = broker.dir  # readable by the mosquitto user, which the broker drops to
    registry = Registry(tmp_path / "gateway.db", files / "passwd", files / "acl")
    passwords = {
        "hallops-gateway": registry.add("hallops-gateway", "gateway", "h1"),
        "TM01": registry.add("TM01", "ticket_machine", "h1"),
        "TM02": registry.add("TM02", "ticket_machine", "h1"),
    }
    broker.config.write_text(
        broker.config.read_text().replace("allow_anonymous true\n", "allow_anonymous false\n")
        + f"password_file {files / 'passwd'}\nacl_file {files / 'acl'}\n"
    )
    broker.start()
    yield broker, registry, passwords
    registry.close()
    broker.stop()


def test_a_device_publishes_and_hears_only_under_its_own_topics(
    secured: tuple[MosquittoProcess, Registry, dict[str, str]],
) -> None:
    broker, _, passwords = secured
    gateway = Client(broker.port, "hallops-gateway", passwords["hallops-gateway"])
    tm01 = Client(broker.port, "TM01", passwords["TM01"])
    try:
        assert gateway.accepted() and tm01.accepted()
        gateway.c.subscribe("hall/h1/#", qos=1)
        tm01.c.subscribe("hall/h1/ticket_machine/+/cmd", qos=1)  # asks for every machine's commands
        time.sleep(0.3)  # both SUBACKs (a broker round trip on loopback)
        tm01.c.publish("hall/h1/ticket_machine/TM02/evt", b"{}", qos=1).wait_for_publish(5)  # posing as TM02
        tm01.c.publish("hall/h1/ticket_machine/TM01/evt", b"{}", qos=1).wait_for_publish(5)
        gateway.c.publish("hall/h1/ticket_machine/TM02/cmd", b"{}", qos=1).wait_for_publish(5)
        gateway.c.publish("hall/h1/ticket_machine/TM01/cmd", b"{}", qos=1).wait_for_publish(5)
        wait_until(lambda: "hall/h1/ticket_machine/TM01/cmd" in tm01.received, what="TM01's own command")
        wait_until(lambda: "hall/h1/ticket_machine/TM01/evt" in gateway.received, what="TM01's own event")
        assert "hall/h1/ticket_machine/TM02/evt" not in gateway.received  # the forged event never arrived
        assert tm01.received == ["hall/h1/ticket_machine/TM01/cmd"]  # TM02's command was not delivered to TM01
    finally:
        gateway.close()
        tm01.close()


def test_anonymous_wrong_and_revoked_devices_cannot_connect(
    secured: tuple[MosquittoProcess, Registry, dict[str, str]],
) -> None:
    broker, registry, passwords = secured
    attempts = {
        "anonymous": Client(broker.port, None, None),
        "wrong password": Client(broker.port, "TM01", "guessed"),
        "TM02 before": Client(broker.port, "TM02", passwords["TM02"]),
    }
    try:
        assert {k: c.accepted() for k, c in attempts.items()} == {
            "anonymous": False,
            "wrong password": False,
            "TM02 before": True,
        }
        registry.revoke("TM02")
        broker.reload()
        time.sleep(0.5)  # mosquitto re-reads its files on SIGHUP
        after = Client(broker.port, "TM02", passwords["TM02"])
        attempts["TM02 after"] = after
        assert not after.accepted()
        assert [c.device_id for c in registry.list() if c.revoked_at is not None] == ["TM02"]
        assert "TM02" not in (broker.dir / "acl").read_text()
    finally:
        for c in attempts.values():
            c.close()


def test_users_mosquitto_passwd_wrote_keep_signing_in_beside_the_devices_hallops_adds(tmp_path: Path) -> None:
    """A broker set up before hallops wrote its password file itself (an operator's user from `mosquitto_passwd`)."""
    broker = MosquittoProcess()
    files = broker.dir
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(files / "passwd"), "operator", "operator-pw"], check=True, timeout=10
    )
    registry = Registry(tmp_path / "gateway.db", files / "passwd", files / "acl")
    tm01 = registry.add("TM01", "ticket_machine", "h1")
    broker.config.write_text(
        broker.config.read_text().replace("allow_anonymous true\n", "allow_anonymous false\n")
        + f"password_file {files / 'passwd'}\nacl_file {files / 'acl'}\n"
    )
    broker.start()
    attempts = {
        "operator": Client(broker.port, "operator", "operator-pw"),
        "TM01": Client(broker.port, "TM01", tm01),
        "TM01 wrong": Client(broker.port, "TM01", tm01[:-1]),
    }
    try:
        assert {k: c.accepted() for k, c in attempts.items()} == {"operator": True, "TM01": True, "TM01 wrong": False}
    finally:
        for c in attempts.values():
            c.close()
        registry.close()
        broker.stop()
