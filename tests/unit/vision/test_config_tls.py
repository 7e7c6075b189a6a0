"""A camera behind the broker's TLS listener: the vision config takes mqtts:// and a CA file, or says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.broker_address import BrokerAddress
from devices.errors import ConfigError
from tests.unit.vision.test_config import change, good, write
from vision.config import load_config


def test_a_camera_can_reach_the_broker_over_tls(tmp_path: Path) -> None:
    doc = change(good(tmp_path), "mqtt", {"url": "mqtts://10.0.0.2:8883"})
    assert load_config(write(tmp_path, doc)).mqtt.address == BrokerAddress("10.0.0.2", 8883, True)


@pytest.mark.parametrize(
    ("content", "says"), [(None, "no such file"), ("not a certificate\n", "cannot use the CA file")]
)
def test_a_ca_file_that_cannot_be_used_is_named_at_its_path(tmp_path: Path, content: str | None, says: str) -> None:
    ca = tmp_path / "ca.crt"
    if content is not None:
        ca.write_text(content, encoding="utf-8")
    doc = change(good(tmp_path), "mqtt", {"url": "mqtts://10.0.0.2:8883", "tls_ca": str(ca)})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, doc))
    assert [(p.path, says in p.message) for p in caught.value.problems] == [("mqtt.tls_ca", True)]
