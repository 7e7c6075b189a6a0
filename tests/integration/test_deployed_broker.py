"""The broker as `deploy/` ships it (deploy/mosquitto/hallops.conf, with the password file and ACL that `hallops
devices add` writes; only its paths and port changed for a test): a device that presents the gateway's client id
cannot throw the gateway off the broker or wipe its session — every ticket a machine sends while it tries is stored.

The field report (issue 17): TM credentials connecting with client id `hallops-<hall>` and a clean session took the
gateway's place; of 100 tickets the broker acknowledged, the gateway stored 15.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoProcess
from edge.credentials import Registry
from tests.harness import GatewayProcess
from tests.integration.conftest import ROOT, wait_until

DEPLOYED = ROOT / "deploy" / "mosquitto" / "hallops.conf"
TICKETS = 100


def deployed_config(broker: MosquittoProcess, files: Path) -> str:
    """deploy/'s file with a test's paths and port: loopback, the broker's own folders, errors to stderr."""
    text = DEPLOYED.read_text(encoding="utf-8")
    data = files / "data"
    data.mkdir(mode=0o777, exist_ok=True)
    data.chmod(0o777)  # the mosquitto user, which the broker drops to, saves its sessions here
    text = text.replace("persistence_location /var/lib/mosquitto/", f"persistence_location {data}/")
    text = text.replace("password_file /etc/mosquitto/hallops.passwd", f"password_file {files / 'passwd'}")
    text = text.replace("acl_file /etc/mosquitto/hallops.acl", f"acl_file {files / 'acl'}")
    text, n = re.subn(r"^listener 1883 0\.0\.0\.0$", f"listener {broker.port} 127.0.0.1", text, flags=re.MULTILINE)
    assert n == 1, "deploy's plaintext listener moved: update this test"
    return text + "log_dest stderr\nlog_type error\nlog_type warning\n"


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, dict[str, str]]]:
    broker = MosquittoProcess()
    files = broker.dir
    registry = Registry(tmp_path / "registry.db", files / "passwd", files / "acl")
    passwords = {
        "hallops-gateway": registry.add("hallops-gateway", "gateway", "h1"),
        "TM01": registry.add("TM01", "ticket_machine", "h1"),
        "TM02": registry.add("TM02", "ticket_machine", "h1"),
    }
    broker.config.write_text(deployed_config(broker, files))
    broker.start()
    yield broker, passwords
    registry.close()
    broker.stop()


def client(port: int, user: str, password: str, client_id: str, *, clean: bool) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    c.username_pw_set(user, password)
    connected: list[str] = []
    c.on_connect = lambda _c, _u, _f, reason, _p: connected.append(str(reason))
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_until(lambda: bool(connected), what=f"{user}'s CONNACK")
    assert connected == ["Success"], connected
    return c


def test_a_device_presenting_the_gateways_client_id_cannot_take_its_place(
    deployed: tuple[MosquittoProcess, dict[str, str]], tmp_path: Path
) -> None:
    broker, passwords = deployed
    secret = tmp_path / "gateway.password"
    secret.write_text(passwords["hallops-gateway"] + "\n", encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump({"mqtt": {"username": "hallops-gateway", "password_file": str(secret)}}), encoding="utf-8"
    )
    gw = GatewayProcess(tmp_path, broker.url, "--config", str(config), name="gw").start()
    machine = client(broker.port, "TM01", passwords["TM01"], "TM01", clean=False)
    intruders: list[mqtt.Client] = []
    try:
        connects = gw.health()["broker_connects"]
        for i in range(TICKETS):
            if i % 20 == 10:  # TM02's credentials, the gateway's client id, a clean session: five times
                intruders.append(client(broker.port, "TM02", passwords["TM02"], "hallops-h1", clean=True))
            body = {
                "v": 1,
                "ts": datetime.now(UTC).isoformat(),
                "seq": i + 1,
                "type": "ticket.issued",
                "ticket_id": f"t{i:03d}",
                "number": f"A{i:03d}",
                "service": "SB",
            }
            machine.publish("hall/h1/ticket_machine/TM01/evt", json.dumps(body), qos=1).wait_for_publish(5)
            time.sleep(0.01)
        wait_until(lambda: gw.accepted() >= TICKETS, timeout=60, what=f"{TICKETS} tickets stored")
        health = gw.health()
        assert gw.accepted() == TICKETS  # every one, none twice
        assert health["broker_connected"] is True
        assert health["broker_connects"] == connects  # never thrown off
        assert health["broker_sessions_lost"] == 0
    finally:
        for c in (machine, *intruders):
            c.loop_stop()
            c.disconnect()
        gw.close()
