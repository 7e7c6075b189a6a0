"""Broker URLs: one reading for the gateway, a camera, the simulator and `rules push`, with TLS for all four.

No broker here: the parser, the TLS context it makes, and what each caller's configuration says about a bad URL.
The real TLS connection is tests/integration/test_broker_tls.py.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud_sync.delivery import Broker
from devices.broker_address import BrokerAddress
from edge.config import MqttSection
from vision.config import MqttConfig

CA = Path("/etc/hallops/ca.crt")  # never read by parse

GOOD = [
    # (url, CA file, host, port, TLS)
    ("mqtt://127.0.0.1:1883", None, "127.0.0.1", 1883, False),
    ("mqtt://broker.hall", None, "broker.hall", 1883, False),
    ("mqtt://broker.hall:", None, "broker.hall", 1883, False),
    ("mqtts://broker.hall", None, "broker.hall", 8883, True),  # TLS against the system's CAs
    ("mqtts://broker.hall:18883", None, "broker.hall", 18883, True),
    ("mqtts://broker.hall", CA, "broker.hall", 8883, True),
    ("mqtt://broker.hall", CA, "broker.hall", 8883, True),  # a CA file implies TLS
    ("mqtt://[::1]:1883", None, "::1", 1883, False),
    ("MQTT://Broker.Hall:1883", None, "broker.hall", 1883, False),
]


@pytest.mark.parametrize(("url", "ca", "host", "port", "tls"), GOOD)
def test_a_broker_url_gives_host_port_and_tls(url: str, ca: Path | None, host: str, port: int, tls: bool) -> None:
    assert BrokerAddress.parse(url, ca) == BrokerAddress(host, port, tls, ca)


BAD = [
    ("mqtt://", "must look like mqtt://HOST:PORT or mqtts://HOST:PORT"),
    ("", "must look like"),
    ("http://x", "must look like"),
    ("tcp://x:1883", "must look like"),
    ("ws://x:9001", "must look like"),
    ("x:1883", "must look like"),
    ("mqtt:/x", "must look like"),
    ("mqtt://h:0", "the port must be a number from 1 to 65535"),  # was taken as 1883 without a word
    ("mqtt://h:99999", "the port must be a number from 1 to 65535"),
    ("mqtt://h:-1", "the port must be a number from 1 to 65535"),
    ("mqtt://h:abc", "the port must be a number from 1 to 65535"),
]


@pytest.mark.parametrize(("url", "says"), BAD)
def test_a_bad_broker_url_is_refused_in_words_by_every_client(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        BrokerAddress.parse(url)
    assert repr(url) in str(caught.value), "the message names the URL"
    with pytest.raises(ValidationError, match=says):
        MqttSection(url=url)
    with pytest.raises(ValidationError, match=says):
        MqttConfig(url=url)
    with pytest.raises(ValueError, match=says):
        Broker.from_url(url)


def test_every_client_reads_the_same_address() -> None:
    url = "mqtts://broker.hall:18883"
    assert MqttSection(url=url).address == MqttConfig(url=url).address == Broker.from_url(url).address
    gateway = MqttSection(url=url)
    assert (gateway.host, gateway.port, gateway.tls) == ("broker.hall", 18883, True)
    assert MqttConfig(url="mqtt://broker.hall", tls_ca=CA).address == BrokerAddress("broker.hall", 8883, True, CA)


def test_tls_checks_the_brokers_certificate_and_name(tmp_path: Path) -> None:
    assert BrokerAddress.parse("mqtt://h").tls_context() is None
    context = BrokerAddress.parse("mqtts://h").tls_context()
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    missing = BrokerAddress.parse("mqtts://h", tmp_path / "nope.pem")
    with pytest.raises(ValueError, match="cannot use the CA file"):
        missing.tls_context()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot use the CA file"):
        BrokerAddress.parse("mqtts://h", garbage).tls_context()


def test_an_address_names_itself_as_host_and_port() -> None:
    assert str(BrokerAddress.parse("mqtts://broker.hall")) == "broker.hall:8883"
