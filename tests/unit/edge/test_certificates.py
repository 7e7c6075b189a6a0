"""`hallops certs`: the hall's CA, the broker's certificate and devices' client certificates, and the clients that
present one (the gateway's `mqtt.tls_cert`, vision's `mqtt.cert_dir`).

Each certificate is checked the way a TLS peer checks it: an in-memory handshake between a client context made by
`BrokerAddress` and a broker context, both verifying strictly (X509_STRICT, as Python 3.13 does by default). The real
broker on these files is tests/integration/test_deployed_broker.py.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from devices.broker_address import BrokerAddress
from devices.errors import ConfigError
from edge.certificates import CertificateError, Pair, hall_of, make_broker, make_ca, make_device
from edge.cli import main
from edge.config import MqttSection
from tests.unit.vision.test_config import change, good, write
from vision.config import load_config


@pytest.fixture
def hall(tmp_path: Path) -> tuple[Path, Pair, Pair]:
    """county-01's CA (its folder), the broker's certificate for hall-box.lan and 10.0.0.2, and TM01's."""
    ca = tmp_path / "ca"
    make_ca(ca, "county-01")
    broker = make_broker(ca, tmp_path / "broker", ["hall-box.lan"], ["10.0.0.2"])
    device = make_device(ca, tmp_path / "devices", "ticket_machine", "TM01")
    return ca, broker, device


def broker_context(ca: Path, broker: Pair) -> ssl.SSLContext:
    """mosquitto with `require_certificate true`: its own certificate, and clients' checked against the hall CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(broker.certificate, broker.key)
    context.load_verify_locations(ca / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def handshake(client: BrokerAddress, server: ssl.SSLContext) -> dict[str, str]:
    """A TLS handshake in memory; returns the subject of the client's certificate as the broker saw it (empty
    without one). SSLError if either side refuses the other."""
    context = client.tls_context()
    assert context is not None
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    bios = [ssl.MemoryBIO() for _ in range(4)]
    sides = [
        context.wrap_bio(bios[0], bios[1], server_hostname=client.host),
        server.wrap_bio(bios[2], bios[3], server_side=True),
    ]
    done: set[int] = set()
    for _ in range(10):
        for i, side in enumerate(sides):
            if i not in done:
                try:
                    side.do_handshake()
                    done.add(i)
                except ssl.SSLWantReadError:
                    pass
        bios[2].write(bios[1].read())
        bios[0].write(bios[3].read())
        if len(done) == 2:
            peer = sides[1].getpeercert() or {}
            subject = cast("tuple[tuple[tuple[str, str]], ...]", peer.get("subject", ()))  # one name per RDN
            return dict(rdn[0] for rdn in subject)
    raise AssertionError("the handshake did not finish")


def common_name(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_the_broker_is_trusted_under_each_of_its_names_and_the_device_is_its_user(
    hall: tuple[Path, Pair, Pair],
) -> None:
    ca, broker, device = hall
    server = broker_context(ca, broker)
    for name in ("hall-box.lan", "10.0.0.2"):
        seen = handshake(BrokerAddress.parse(f"mqtts://{name}", ca / "ca.crt", device.certificate, device.key), server)
        assert seen == {
            "organizationName": "hallops",
            "organizationalUnitName": "county-01",
            "commonName": "TM01",  # what use_identity_as_username makes the user name: as `hallops devices add TM01`
        }
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        handshake(BrokerAddress.parse("mqtts://10.0.0.3", ca / "ca.crt", device.certificate, device.key), server)
    sans = x509.load_pem_x509_certificate(broker.certificate.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert [str(n.value) for n in sans.value] == ["hall-box.lan", "10.0.0.2"]
    assert hall_of(ca) == "county-01"


def test_a_certificate_from_another_halls_ca_is_refused_both_ways(
    hall: tuple[Path, Pair, Pair], tmp_path: Path
) -> None:
    ca, broker, _ = hall
    make_ca(tmp_path / "other", "city-02")
    stranger = make_device(tmp_path / "other", tmp_path / "other-devices", "ticket_machine", "TM01")
    with pytest.raises(ssl.SSLError):  # the broker does not take the other hall's TM01
        handshake(
            BrokerAddress.parse("mqtts://hall-box.lan", ca / "ca.crt", stranger.certificate, stranger.key),
            broker_context(ca, broker),
        )
    with pytest.raises(ssl.SSLCertVerificationError):  # nor does a client of the other hall trust this broker
        handshake(
            BrokerAddress.parse("mqtts://hall-box.lan", tmp_path / "other" / "ca.crt"), broker_context(ca, broker)
        )


def test_keys_are_private_and_nothing_is_overwritten_unless_asked(
    hall: tuple[Path, Pair, Pair], tmp_path: Path
) -> None:
    ca, broker, device = hall
    for pair in (Pair(ca / "ca.crt", ca / "ca.key"), broker, device):
        assert (pair.key.stat().st_mode & 0o777, pair.certificate.stat().st_mode & 0o777) == (0o600, 0o644)
    before = device.certificate.read_bytes(), device.key.read_bytes()
    with pytest.raises(CertificateError, match="already exist: kept \\(--force replaces them"):
        make_device(ca, tmp_path / "devices", "ticket_machine", "TM01")
    assert (device.certificate.read_bytes(), device.key.read_bytes()) == before
    with pytest.raises(CertificateError, match="already exist"):
        make_ca(ca, "county-01")
    again = make_device(ca, tmp_path / "devices", "ticket_machine", "TM01", force=True)
    assert again.key.read_bytes() != before[1] and again.key.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda ca, out: make_broker(ca, out, [], []), "name at least one --host or --ip"),
        (lambda ca, out: make_broker(ca, out, [], ["10.0.0.x"]), "--ip '10.0.0.x' is not an IP address"),
        (
            lambda ca, out: make_broker(ca, out, ["10.0.0.2"], []),
            "--host '10.0.0.2' is an IP address: give it with --ip",
        ),
        (lambda ca, out: make_device(ca, out, "printer", "P1"), "device type 'printer' is not one of ticket_machine"),
        (lambda ca, out: make_device(ca, out, "camera", "CAM/A"), "device id 'CAM/A' is not a valid id"),
        (lambda ca, out: make_device(ca.parent / "nope", out, "camera", "C"), "no CA in .*nope .*hallops certs ca"),
        (lambda ca, out: make_device(ca, out, "camera", "C", days=0), "--days 0: .* at least a day"),
        (lambda ca, out: make_ca(out, "county 01"), "hall 'county 01' is not a valid id"),
    ],
)
def test_bad_input_is_refused_in_words_and_writes_nothing(
    hall: tuple[Path, Pair, Pair], tmp_path: Path, make: Callable[[Path, Path], Pair], says: str
) -> None:
    ca, _, _ = hall
    out = tmp_path / "out"
    with pytest.raises(CertificateError, match=says):
        make(ca, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_the_command_says_what_it_wrote_and_where_it_goes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca, out = tmp_path / "ca", tmp_path / "out"
    assert main(["certs", "ca", "--out", str(ca), "--hall", "county-01"]) == 0
    assert main(["certs", "broker", "--ca", str(ca), "--out", str(out), "--host", "box.lan", "--ip", "10.0.0.2"]) == 0
    assert main(["certs", "device", "--ca", str(ca), "--out", str(out), "window", "W01"]) == 0
    said = capsys.readouterr().err
    assert f"wrote {ca / 'ca.key'} (private: mode 600)" in said
    assert f"sudo install -m 640 -g mosquitto {out / 'broker.key'} /etc/mosquitto/certs/hallops-broker.key" in said
    assert "(mqtts://box.lan:8883)" in said
    assert "hallops devices add W01 --type window --hall county-01" in said
    assert common_name(out / "W01.crt") == "W01"
    assert main(["certs", "device", "--ca", str(ca), "--out", str(out), "window", "W01"]) == 1
    assert "hallops certs device: " in capsys.readouterr().err


def test_the_gateway_presents_its_certificate_when_configured_and_names_a_bad_pair(
    hall: tuple[Path, Pair, Pair], tmp_path: Path
) -> None:
    ca, _, device = hall
    section = MqttSection(
        url="mqtts://hall-box.lan", tls_ca=ca / "ca.crt", tls_cert=device.certificate, tls_key=device.key
    )
    assert section.address == BrokerAddress("hall-box.lan", 8883, True, ca / "ca.crt", device.certificate, device.key)
    other = make_device(ca, tmp_path / "other", "gateway", "hallops-gateway")
    with pytest.raises(ValidationError, match="cannot use the client certificate"):  # a key of another certificate
        MqttSection(url="mqtts://hall-box.lan", tls_cert=device.certificate, tls_key=other.key)
    with pytest.raises(ValidationError, match="needs its certificate"):
        MqttSection(url="mqtts://hall-box.lan", tls_key=device.key)


def test_each_camera_presents_its_own_certificate_from_the_cert_dir(
    hall: tuple[Path, Pair, Pair], tmp_path: Path
) -> None:
    ca, broker, _ = hall
    certs = tmp_path / "cameras"
    make_device(ca, certs, "camera", "CAM-A")
    mqtt = {"url": "mqtts://hall-box.lan", "tls_ca": str(ca / "ca.crt"), "cert_dir": str(certs)}
    doc = change(good(tmp_path), "mqtt", mqtt)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, doc))
    assert [
        (p.path, "camera CAM-B: cannot use the client certificate" in p.message) for p in caught.value.problems
    ] == [("mqtt.cert_dir", True)]
    make_device(ca, certs, "camera", "CAM-B")
    cfg = load_config(write(tmp_path, doc))
    assert handshake(cfg.mqtt.address_of("CAM-B"), broker_context(ca, broker))["commonName"] == "CAM-B"
