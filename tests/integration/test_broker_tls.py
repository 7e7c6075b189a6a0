"""TLS to the hall's broker, end to end, as `deploy/mosquitto/hallops.conf` offers it where the LAN is not trusted.

A mosquitto with a TLS listener on 127.0.0.1, its certificate from a throwaway CA made here. The simulator
(`hallops simulate --broker mqtts://… --tls-ca ca.crt`) publishes a stretch of the county hall over it, and the
gateway, also over mqtts:// (its configuration's `mqtt.tls_ca` names the same CA), receives every message. Without
the CA the simulator is refused: the certificate really is checked. A camera
(`vision.service.MqttLink` with `mqtt.tls_ca`) reaches the same listener.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devices.broker_address import BrokerAddress
from devices.simulator import HallSimulation, load_scenario
from edge.broker import MosquittoProcess, free_port, wait_for_port
from tests.integration.conftest import CST, ROOT, GatewayProcess, wait_until
from vision.config import MqttConfig
from vision.service import MqttLink

START = dt.datetime(2026, 11, 23, 10, 40, tzinfo=CST)  # a Monday
MINUTES = 10


@dataclass(frozen=True)
class TlsBroker:
    broker: MosquittoProcess
    port: int
    ca: Path

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if issuer is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:  # the broker: valid for the address the clients dial
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o644)  # mosquitto started as root reads them as the mosquitto user
    return path


@pytest.fixture
def tls_broker() -> Iterator[TlsBroker]:
    """mosquitto with its plain listener and a TLS one, the certificates in a folder the broker can read."""
    folder = Path(tempfile.mkdtemp(prefix="hallops-tls-"))
    folder.chmod(0o755)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("hallops test CA", ca_key, None, ca_key)
    cert = _certificate("127.0.0.1", key, ca_cert, ca_key)
    ca = _pem(folder / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))
    _pem(folder / "broker.crt", cert.public_bytes(serialization.Encoding.PEM))
    _pem(
        folder / "broker.key",
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    port = free_port()
    listener = (
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {folder / 'broker.crt'}\n"
        f"keyfile {folder / 'broker.key'}\nrequire_certificate false\n"
    )
    try:
        with MosquittoProcess(extra_config=listener) as broker:
            wait_for_port(port)
            yield TlsBroker(broker, port, ca)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def simulate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "simulate",
            "--broker",
            url,
            "--scenario",
            "county",
            "--seed",
            "7",
            "--speed",
            "300",
            "--start",
            START.isoformat(),
            "--duration",
            f"{MINUTES}m",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )


def test_the_simulator_reaches_the_gateway_over_tls(
    tls_broker: TlsBroker, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """The county hall 10:40–10:50 at 300× (2 s), simulator → TLS listener → gateway: every message, once."""
    config = tmp_path / "gateway.yaml"
    config.write_text(f"mqtt:\n  tls_ca: {tls_broker.ca}\n", encoding="utf-8")
    gw = gateway_factory(
        tls_broker.url, "--config", str(config), "--clock", "device", "--speed", "300", hall="county-01"
    ).start()

    refused = simulate(tls_broker.url)
    assert refused.returncode == 1, refused.stderr[-3000:]
    assert "certificate verify failed" in refused.stderr, "without the CA the broker is not trusted"
    assert gw.accepted() == 0

    done = simulate(tls_broker.url, "--tls-ca", str(tls_broker.ca))
    assert done.returncode == 0, done.stderr[-3000:]
    timeline = HallSimulation(load_scenario("county"), 7, START, START + timedelta(minutes=MINUTES)).messages()
    sent = sum(1 for m in timeline if m.kind != "connect")  # what the devices published, and the will
    wait_until(lambda: gw.accepted() >= sent, what="every message to reach the gateway over TLS")
    counters = gw.health()["counters"]
    assert counters["rejected_total"] == 0, counters  # type: ignore[index]
    # and the devices' answers to the gateway's commands (no command is sent again within the run's 2 s: once each)
    commands = gw.get("/api/commands")
    assert isinstance(commands, list)
    answered = sum(1 for c in commands if c["status"] in ("acknowledged", "failed"))
    assert counters["accepted"] == sent + answered, (counters, commands)  # type: ignore[index]


def test_a_camera_publishes_over_tls_with_the_configured_ca(tls_broker: TlsBroker) -> None:
    heard: list[tuple[str, bytes]] = []
    arrived = threading.Event()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tls-listener")
    context = BrokerAddress.parse(tls_broker.url, tls_broker.ca).tls_context()
    assert context is not None
    subscriber.tls_set_context(context)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda c, u, m: (heard.append((m.topic, m.payload)), arrived.set())
    subscriber.connect("127.0.0.1", tls_broker.port)
    subscriber.subscribe("hall/county-01/camera/#", qos=1)
    subscriber.loop_start()
    link = MqttLink(MqttConfig(url=tls_broker.url, tls_ca=tls_broker.ca), "county-01", "CAM-1")
    try:
        assert subscribed.wait(10), "the TLS subscription"
        link.publish("hall/county-01/camera/CAM-1/state", b'{"v": 1, "online": true}', qos=1, retain=False)
        assert arrived.wait(10), "the camera's message over TLS"
    finally:
        link.close()
        subscriber.loop_stop()
        subscriber.disconnect()
    assert heard == [("hall/county-01/camera/CAM-1/state", b'{"v": 1, "online": true}')]
