"""The broker as `deploy/` ships it (deploy/mosquitto/hallops.conf, with the password file and ACL that `hallops
devices add` writes and the certificates `hallops certs` makes; only its paths and ports changed for a test, and its
LAN listener bound to loopback): TLS for the hall LAN, plaintext only on 127.0.0.1, and a client's id tied to its
user — a device that presents the gateway's client id cannot throw the gateway off or wipe its session.

The field report (issue 17): TM credentials connecting with client id `hallops-<hall>` and a clean session took the
gateway's place; of 100 tickets the broker acknowledged, the gateway stored 15. And the shipped file listened on
0.0.0.0:1883 without TLS.

`deployed_broker(tmp_path, users)` starts that broker for any test: `with deployed_broker(...) as b:` gives its
ports, the hall CA's certificate (every client's `tls_ca`) and each user's password.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import re
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from devices.broker_address import BrokerAddress
from edge.broker import MosquittoProcess, free_port, wait_for_port
from edge.certificates import make_broker, make_ca, make_device
from edge.credentials import Registry
from tests.harness import GatewayProcess
from tests.integration.conftest import ROOT, wait_until

DEPLOYED = ROOT / "deploy" / "mosquitto" / "hallops.conf"
HOST = "127.0.0.1"
TICKETS = 100
GATEWAY = {"hallops-gateway": "gateway"}


@dataclass(frozen=True)
class DeployedBroker:
    """deploy/'s broker, running on loopback: its listeners' URLs, the hall CA and every user's password."""

    process: MosquittoProcess
    plain_port: int  # deploy's 1883 on 127.0.0.1: the gateway and vision on the box itself
    tls_port: int  # deploy's 8883: the hall LAN, over TLS, with passwords
    certificate_port: int | None  # deploy's 8884 (commented out there): client certificates; None unless asked for
    ca: Path  # the hall CA's certificate: what every client checks the broker against (tls_ca)
    ca_dir: Path  # the CA's folder, with its key: `make_device(ca_dir, …)` makes a device's certificate
    passwords: Mapping[str, str]  # user → password, as `hallops devices add` printed it

    @property
    def plain_url(self) -> str:
        return f"mqtt://{HOST}:{self.plain_port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://{HOST}:{self.tls_port}"

    @property
    def certificate_url(self) -> str:
        assert self.certificate_port is not None, "started without client_certificates=True"
        return f"mqtts://{HOST}:{self.certificate_port}"


@contextlib.contextmanager
def deployed_broker(
    tmp_path: Path, users: Mapping[str, str], *, hall: str = "h1", client_certificates: bool = False
) -> Iterator[DeployedBroker]:
    """Start deploy/'s mosquitto: `users` (id → device type, "gateway" for the gateway) get broker users as `hallops
    devices add` makes them, the hall's CA and the broker's certificate (for 127.0.0.1 and localhost) are made by
    `hallops certs`' own code and installed as docs/deploy.md says. With `client_certificates`, deploy's commented-out
    client-certificate listener is switched on too. Stopped, and its folder removed, at the end."""
    broker = MosquittoProcess()
    files = broker.dir  # readable by the mosquitto user the broker drops to
    registry = Registry(files / "registry.db", files / "passwd", files / "acl")
    try:
        passwords = {user: registry.add(user, kind, hall) for user, kind in users.items()}
        ca_dir = tmp_path / f"ca-{broker.port}"
        ca = make_ca(ca_dir, hall).certificate
        issued = make_broker(ca_dir, tmp_path / f"broker-{broker.port}", ["localhost"], [HOST])
        certs = files / "certs"
        certs.mkdir(mode=0o755)
        _install(ca, certs / "hallops-ca.crt", 0o644)
        _install(issued.certificate, certs / "hallops-broker.crt", 0o644)
        _install(issued.key, certs / "hallops-broker.key", 0o640)
        tls_port = free_port()
        certificate_port = free_port() if client_certificates else None
        broker.config.write_text(
            deployed_config(files, certs, broker.port, tls_port, certificate_port), encoding="utf-8"
        )
        broker.start()
        for port in (tls_port, certificate_port):
            if port is not None:
                wait_for_port(port)
        yield DeployedBroker(broker, broker.port, tls_port, certificate_port, ca, ca_dir, passwords)
    finally:
        registry.close()
        broker.__exit__()


def deployed_config(files: Path, certs: Path, plain: int, tls: int, certificate: int | None) -> str:
    """deploy/'s file with a test's paths and ports, its LAN listener on loopback, errors to stderr. Each listener
    keeps the rest of its lines — the plaintext one its address (127.0.0.1)."""
    text = DEPLOYED.read_text(encoding="utf-8")
    data = files / "data"
    data.mkdir(mode=0o777, exist_ok=True)
    data.chmod(0o777)  # the mosquitto user, which the broker drops to, saves its sessions here
    text = text.replace("persistence_location /var/lib/hallops-mosquitto/", f"persistence_location {data}/")
    text = text.replace("password_file /etc/mosquitto/hallops.passwd", f"password_file {files / 'passwd'}")
    text = text.replace("acl_file /etc/mosquitto/hallops.acl", f"acl_file {files / 'acl'}")
    text = text.replace("/etc/mosquitto/certs/", f"{certs}/")
    text, n = re.subn(r"^listener 1883 (\S+)$", rf"listener {plain} \1", text, flags=re.MULTILINE)
    assert n == 1, "deploy's plaintext listener moved: update this test"
    # deploy binds the LAN listener to every interface; a test stays on loopback
    text, n = re.subn(r"^listener 8883$", f"listener {tls} {HOST}", text, flags=re.MULTILINE)
    assert n == 1, "deploy's TLS listener moved: update this test"
    if certificate is not None:
        block = re.search(r"^# listener 8884\n(?:# .*\n)+", text, flags=re.MULTILINE)
        assert block is not None, "deploy's client-certificate listener moved: update this test"
        lines = block.group().replace("# listener 8884", f"# listener {certificate} {HOST}")
        text = text.replace(block.group(), re.sub(r"^# ", "", lines, flags=re.MULTILINE))
    return text + "log_dest stderr\nlog_type error\nlog_type warning\n"


def _install(source: Path, target: Path, mode: int) -> None:
    """As docs/deploy.md installs the broker's files: a key root:mosquitto 640, the rest 644."""
    shutil.copyfile(source, target)
    target.chmod(mode)
    if mode == 0o640:
        try:
            os.chown(target, -1, grp.getgrnam("mosquitto").gr_gid)
        except (KeyError, PermissionError):  # not root, so mosquitto stays our user and reads it as the owner
            target.chmod(0o600)


class Client:
    """A paho client on the deployed broker, over TLS when its address says so: what the broker answered (the
    CONNACK, a refusal, a disconnection — in order, in `answers`) and the topics it heard. It does not reconnect:
    two clients of one user (one client id) would otherwise take the connection from each other in turn."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        user: str | None = None,
        password: str | None = None,
        *,
        clean: bool = True,
    ) -> None:
        self.answers: list[str] = []
        self.heard: list[str] = []
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, reconnect_on_failure=False
        )
        if user is not None:
            self.paho.username_pw_set(user, password)
        if (tls := address.tls_context()) is not None:
            self.paho.tls_set_context(tls)
        self.paho.on_connect = lambda _c, _u, _f, reason, _p: self.answers.append(str(reason))
        self.paho.on_disconnect = lambda _c, _u, _f, reason, _p: self.answers.append(f"disconnected: {reason}")
        self.paho.on_message = lambda _c, _u, m: self.heard.append(m.topic)
        self._subscribed = threading.Event()
        self.paho.on_subscribe = lambda *_: self._subscribed.set()
        self.paho.connect(address.host, address.port)
        self.paho.loop_start()
        wait_until(lambda: bool(self.answers), what=f"the broker's answer to {user or client_id}")

    def subscribe(self, topic: str) -> None:
        self.paho.subscribe(topic, qos=1)
        assert self._subscribed.wait(10), f"no SUBACK for {topic}"

    def publish(self, topic: str, body: dict[str, object]) -> None:
        self.paho.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.paho.loop_stop()
        self.paho.disconnect()


def connect(
    address: BrokerAddress, client_id: str, user: str | None = None, password: str | None = None, *, clean: bool = True
) -> Client:
    c = Client(address, client_id, user, password, clean=clean)
    assert c.answers == ["Success"], c.answers
    return c


def refused(address: BrokerAddress, client_id: str, user: str | None = None, password: str | None = None) -> str:
    """What the broker said to a client it did not let in ("" if it let it in)."""
    c = Client(address, client_id, user, password)
    c.close()
    return "" if c.answers[0] == "Success" else c.answers[0]


def handshake(address: BrokerAddress) -> None:
    """A TLS handshake with the broker, checking it as a client with `address`'s CA would (paho leaves the socket of
    a failed handshake open)."""
    context = address.tls_context()
    assert context is not None
    with socket.create_connection((address.host, address.port), timeout=5) as raw:
        context.wrap_socket(raw, server_hostname=address.host).close()


def ticket(i: int) -> dict[str, object]:
    return {
        "v": 1,
        "ts": datetime.now(UTC).isoformat(),
        "seq": i + 1,
        "type": "ticket.issued",
        "ticket_id": f"t{i:03d}",
        "number": f"A{i:03d}",
        "service": "SB",
    }


def test_a_device_presenting_the_gateways_client_id_cannot_take_its_place(tmp_path: Path) -> None:
    """Everyone over TLS, as on the hall LAN: the gateway with the hall CA, the devices with their passwords."""
    users = {**GATEWAY, "TM01": "ticket_machine", "TM02": "ticket_machine"}
    with deployed_broker(tmp_path, users) as b:
        secret = tmp_path / "gateway.password"
        secret.write_text(b.passwords["hallops-gateway"] + "\n", encoding="utf-8")
        config = tmp_path / "gateway.yaml"
        mqtt_section = {"username": "hallops-gateway", "password_file": str(secret), "tls_ca": str(b.ca)}
        config.write_text(yaml.safe_dump({"mqtt": mqtt_section}), encoding="utf-8")
        gw = GatewayProcess(tmp_path, b.tls_url, "--config", str(config), name="gw").start()
        lan = BrokerAddress.parse(b.tls_url, b.ca)
        machine = connect(lan, "TM01", "TM01", b.passwords["TM01"], clean=False)
        intruders: list[Client] = []
        try:
            connects = gw.health()["broker_connects"]
            for i in range(TICKETS):
                if i % 20 == 10:  # TM02's credentials, the gateway's client id, a clean session: five times
                    intruders.append(connect(lan, "hallops-h1", "TM02", b.passwords["TM02"]))
                machine.publish("hall/h1/ticket_machine/TM01/evt", ticket(i))
                time.sleep(0.01)
            wait_until(lambda: gw.accepted() >= TICKETS, timeout=60, what=f"{TICKETS} tickets stored")
            health = gw.health()
            assert gw.accepted() == TICKETS  # every one, none twice
            assert health["broker_connected"] is True
            assert health["broker_connects"] == connects  # never thrown off
            assert health["broker_sessions_lost"] == 0
        finally:
            for c in (machine, *intruders):
                c.close()
            gw.close()


def test_plaintext_is_served_on_127_0_0_1_alone(tmp_path: Path) -> None:
    """The whole of 127/8 is loopback: a broker bound to every address would answer on 127.0.0.2 too."""
    with deployed_broker(tmp_path, {"TM01": "ticket_machine"}) as b:
        connect(BrokerAddress.parse(b.plain_url), "TM01", "TM01", b.passwords["TM01"]).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", b.plain_port), timeout=5).close()


def test_the_tls_listener_lets_in_only_clients_that_trust_the_hall_ca_and_speak_tls(tmp_path: Path) -> None:
    with deployed_broker(tmp_path, {"TM01": "ticket_machine"}) as b:
        password = b.passwords["TM01"]
        connect(BrokerAddress.parse(b.tls_url, b.ca), "TM01", "TM01", password).close()
        handshake(BrokerAddress.parse(b.tls_url, b.ca))
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's CAs do not know the hall's
            handshake(BrokerAddress.parse(b.tls_url))
        # MQTT in clear on the TLS port: the broker closes the connection without a CONNACK
        assert refused(BrokerAddress(HOST, b.tls_port), "TM01", "TM01", password).startswith("disconnected")


def test_a_device_with_a_client_certificate_is_the_user_its_certificate_names(tmp_path: Path) -> None:
    """On the client-certificate listener a device needs no password; the certificate's common name is its user,
    for the ACL and for its client id: presenting the gateway's (at the broker, the gateway's user name) takes
    nothing from the gateway."""
    users = {**GATEWAY, "TM01": "ticket_machine", "TM03": "ticket_machine"}
    with deployed_broker(tmp_path, users, client_certificates=True) as b:
        issued = make_device(b.ca_dir, tmp_path / "devices", "ticket_machine", "TM03")
        gateway = connect(
            BrokerAddress.parse(b.plain_url), "hallops-h1", "hallops-gateway", b.passwords["hallops-gateway"]
        )
        gateway.subscribe("hall/h1/#")
        with_certificate = BrokerAddress.parse(b.certificate_url, b.ca, issued.certificate, issued.key)
        device = connect(with_certificate, "hallops-gateway")
        try:
            device.publish("hall/h1/ticket_machine/TM01/evt", ticket(0))  # another machine's topic: the ACL drops it
            device.publish("hall/h1/ticket_machine/TM03/evt", ticket(1))
            wait_until(lambda: bool(gateway.heard), what="TM03's ticket")
            assert gateway.heard == ["hall/h1/ticket_machine/TM03/evt"]
            assert gateway.answers == ["Success"]  # never thrown off
        finally:
            device.close()
            gateway.close()
        # the same listener without a certificate: TM03's password would not do
        assert refused(BrokerAddress.parse(b.certificate_url, b.ca), "TM03", "TM03", b.passwords["TM03"])


IN_FLIGHT = 10_000  # deploy's max_inflight_messages
BACKLOG = 25_000


def test_a_gateway_back_to_a_long_backlog_is_sent_it_a_bounded_slice_at_a_time(tmp_path: Path) -> None:
    """The gateway acknowledges a QoS 1 message only once it has committed it. After a long absence (an upgrade, a
    night stopped) the deployed broker sends it at most max_inflight_messages it has not acknowledged, and the rest as
    it acknowledges — so the backlog waits in the broker, not whole in the gateway's memory (with no limit, day 7 of the
    soak ended at 215 MB against 145 MB on days that kept up) — and all of it arrives."""
    with deployed_broker(tmp_path, {**GATEWAY, "TM01": "ticket_machine"}) as b:
        local = BrokerAddress.parse(b.plain_url)
        gateway = connect(local, "hallops-gateway", "hallops-gateway", b.passwords["hallops-gateway"], clean=False)
        gateway.subscribe("hall/h1/#")
        gateway.close()  # away: the broker keeps its session and queues for it
        machine = connect(local, "TM01", "TM01", b.passwords["TM01"])
        sent = [
            machine.paho.publish("hall/h1/ticket_machine/TM01/evt", json.dumps(ticket(i)), qos=1)
            for i in range(BACKLOG)
        ]
        sent[-1].wait_for_publish(60)
        assert all(s.is_published() for s in sent)
        machine.close()

        mids: list[int] = []
        back = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hallops-gateway", clean_session=False)
        back.username_pw_set("hallops-gateway", b.passwords["hallops-gateway"])
        back.manual_ack_set(True)  # as the gateway: acknowledged only once committed
        back.on_message = lambda _c, _u, m: mids.append(m.mid)
        back.connect(local.host, local.port)
        back.loop_start()
        try:
            wait_until(lambda: len(mids) >= IN_FLIGHT, timeout=60, what=f"{IN_FLIGHT} messages sent to the gateway")
            time.sleep(2.0)  # time for the broker to send more, which it must not
            assert len(mids) == IN_FLIGHT, f"{len(mids)} messages sent before the gateway acknowledged any"
            for mid in list(mids):  # the gateway commits and acknowledges
                back.ack(mid, 1)
            wait_until(lambda: len(mids) >= BACKLOG, timeout=60, what="the rest of the backlog")
            time.sleep(0.5)
            assert len(mids) == BACKLOG  # all of it, none twice
        finally:
            back.loop_stop()
            back.disconnect()
