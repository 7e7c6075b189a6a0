"""The `cloud:` section of the gateway configuration: off unless a URL is given, every mistake named by its field path
before the gateway starts, the password never in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import GatewayConfig, load_config


def load(tmp_path: Path, yaml_text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text("hall: {id: h1}\n" + yaml_text, encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, yaml_text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml_text)
    return {p.path: p.message for p in caught.value.problems}


def test_without_a_url_the_hall_has_no_cloud(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert not cfg.cloud.enabled and cfg.cloud.addresses() == []


def test_the_nodes_of_the_cluster_are_tried_in_the_order_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLOPS_CLOUD_PASSWORD", "s3cret")
    cfg = load(tmp_path, "cloud: {url: 'mqtt://10.0.0.1:1883', urls: ['mqtt://10.0.0.2:1883', 'mqtts://n3:8883']}\n")
    assert [(a.host, a.port, a.tls) for a in cfg.cloud.addresses()] == [
        ("10.0.0.1", 1883, False),
        ("10.0.0.2", 1883, False),
        ("n3", 8883, True),
    ]
    assert cfg.cloud.password() == "s3cret"


@pytest.mark.parametrize(
    ("section", "path", "words"),
    [
        ("{url: 'http://cloud:80'}", "cloud.url", "mqtt://HOST:PORT"),
        ("{url: 'mqtt://cloud:0'}", "cloud.url", "port"),
        ("{urls: ['mqtt://n2:1883']}", "cloud", "set `url` to the first"),
        ("{url: 'mqtt://n1:1883', urls: ['nats://n2:4222']}", "cloud.urls", "mqtt://HOST:PORT"),
        ("{url: 'mqtt://n1:1883', budget_mb: 0}", "cloud.budget_mb", "greater than 0"),
        ("{url: 'mqtt://n1:1883', batch_records: 100000}", "cloud.batch_records", "less than or equal to 5000"),
        ("{url: 'mqtt://n1:1883', telemetry_every_s: 1}", "cloud.telemetry_every_s", "greater than or equal to 5"),
        ("{url: 'mqtt://n1:1883', password: 'in the file'}", "cloud.password", "unknown key"),
        ("{url: 'mqtts://n1:8883', tls_ca: /nonexistent/ca.pem}", "cloud", "ca.pem"),
    ],
)
def test_a_mistake_names_its_field(tmp_path: Path, section: str, path: str, words: str) -> None:
    found = problems(tmp_path, f"cloud: {section}\n")
    assert path in found, found
    assert words in found[path], found
