"""The broker of deploy/compose/compose.yaml run for real: its configuration (deploy/compose/mosquitto/hallops.conf,
only the container paths moved to a test's folders and the listeners to loopback ports) loads in mosquitto with the
password and ACL files `hallops devices add` writes and the certificates `hallops certs` makes; the gateway's user
signs in on the plaintext port and an anonymous client is refused; and the compose file's healthchecks — the broker's
and the gateway's — say healthy while the broker runs and unhealthy once it is gone (what `depends_on:
service_healthy` waits for, what `docker compose ps` shows)."""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoProcess, free_port, wait_for_port
from edge.certificates import make_broker, make_ca
from edge.credentials import Registry
from tests.integration.conftest import ROOT, GatewayProcess, wait_until

COMPOSE = ROOT / "deploy" / "compose"
HOST = "127.0.0.1"


def _readable_by_broker(path: Path, mode: int) -> None:
    """As the site folder's README says: the key for the broker's group (640), the rest 644."""
    path.chmod(mode)
    if mode == 0o640:
        try:
            os.chown(path, -1, grp.getgrnam("mosquitto").gr_gid)
        except (KeyError, PermissionError):  # not root: mosquitto stays our user and reads it as the owner
            path.chmod(0o600)


def _container_config(broker: MosquittoProcess, auth: Path, certs: Path, tls_port: int) -> str:
    text = (COMPOSE / "mosquitto" / "hallops.conf").read_text(encoding="utf-8")
    data = broker.dir / "data"
    data.mkdir(mode=0o777)
    data.chmod(0o777)  # the mosquitto user, which the broker drops to, saves its sessions here
    text = text.replace("persistence_location /mosquitto/data/", f"persistence_location {data}/")
    text = text.replace("/mosquitto/certs/", f"{certs}/").replace("/mosquitto/auth/", f"{auth}/")
    text, n = re.subn(r"^listener 1883$", f"listener {broker.port} {HOST}", text, flags=re.MULTILINE)
    assert n == 1, "the container's plaintext listener moved: update this test"
    text, n = re.subn(r"^listener 8883$", f"listener {tls_port} {HOST}", text, flags=re.MULTILINE)
    assert n == 1, "the container's TLS listener moved: update this test"
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in settings if " /mosquitto/" in line], "a container path this test does not move"
    return text


def _service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))[
        "services"
    ]
    return services[name]


def _healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The compose file's healthcheck of the broker, run as the container would, against `port`."""
    kind, command = _service("mosquitto")["healthcheck"]["test"]
    assert kind == "CMD-SHELL" and " -p 1883 " in command
    return subprocess.run(
        ["sh", "-c", command.replace(" -p 1883 ", f" -p {port} ")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _gateway_healthy(port: int) -> bool:
    """The compose file's healthcheck of the gateway (python on /api/health), against `port`."""
    kind, program, flag, code = _service("gateway")["healthcheck"]["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c") and "127.0.0.1:8080/" in code
    done = subprocess.run(
        [sys.executable, "-c", code.replace("127.0.0.1:8080/", f"127.0.0.1:{port}/")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def _connect(port: int, user: str | None, password: str | None) -> str:
    answers: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user or "", reconnect_on_failure=False)
    if user is not None:
        client.username_pw_set(user, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(str(reason))
    client.connect(HOST, port)
    client.loop_start()
    try:
        wait_until(lambda: bool(answers), timeout=15)
    finally:
        client.disconnect()
        client.loop_stop()
    return answers[0]


def test_the_compose_broker_runs_signs_in_the_gateway_and_reports_its_health(tmp_path: Path) -> None:
    broker = MosquittoProcess()
    auth, certs = broker.dir / "auth", broker.dir / "certs"
    auth.mkdir(mode=0o755)
    certs.mkdir(mode=0o755)
    registry = Registry(broker.dir / "registry.db", auth / "hallops.passwd", auth / "hallops.acl")
    try:
        password = registry.add("hallops-gateway", "gateway", "county-01")
        ca = make_ca(tmp_path / "ca", "county-01")
        issued = make_broker(tmp_path / "ca", tmp_path / "broker", ["localhost"], [HOST])
        for source, name, mode in (
            (ca.certificate, "hallops-ca.crt", 0o644),
            (issued.certificate, "hallops-broker.crt", 0o644),
        ):
            shutil.copyfile(source, certs / name)
            _readable_by_broker(certs / name, mode)
        shutil.copyfile(issued.key, certs / "hallops-broker.key")
        _readable_by_broker(certs / "hallops-broker.key", 0o640)
        tls_port = free_port()
        broker.config.write_text(_container_config(broker, auth, certs, tls_port), encoding="utf-8")
        broker.start()
        wait_for_port(tls_port)

        assert _connect(broker.port, "hallops-gateway", password) == "Success"
        assert _connect(broker.port, None, None) == "Not authorized"
        healthy = _healthcheck(broker.port)
        assert healthy.returncode == 0, healthy

        # the gateway as site.example configures it (its broker user and password file), on this broker
        secret = tmp_path / "mqtt-password"
        secret.write_text(password + "\n", encoding="utf-8")
        secret.chmod(0o600)
        config = tmp_path / "gateway.yaml"
        site = (COMPOSE / "site.example" / "gateway.yaml").read_text(encoding="utf-8")
        config.write_text(site.replace("/etc/hallops/mqtt-password", str(secret)), encoding="utf-8")
        with GatewayProcess(
            tmp_path, broker.url, "--config", str(config), hall="county-01"
        ) as gateway:  # started: its broker connected
            wait_until(lambda: _gateway_healthy(gateway.port), 60, "the gateway's healthcheck to pass")

            broker.stop()
            unhealthy = _healthcheck(broker.port)
            assert unhealthy.returncode != 0, unhealthy
            wait_until(lambda: not _gateway_healthy(gateway.port), 60, "the gateway's healthcheck to fail")
            assert "not connected to the broker" in gateway.health()["problems"]  # type: ignore[operator]
    finally:
        registry.close()
        broker.__exit__()
