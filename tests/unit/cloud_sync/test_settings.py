"""The cloud tier's configuration: every mistake reported with its field path before anything connects; secrets
from files or the environment; the example in deploy/cloud is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cloud_sync.settings import GRADES, load_settings
from devices.errors import ConfigError
from edge.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _problems(tmp_path: Path, data: object) -> list[str]:
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"nats": {"serverz": []}}, "nats.serverz: unknown key"),
        ({"nats": {"servers": ["nats://a:4222", "http://b:80"]}}, "nats.servers[1]: Value error, 'http://b:80'"),
        ({"nats": {"servers": []}}, "nats.servers: List should have at least 1 item"),
        ({"nats": {"password_file": "/nonexistent/pw"}}, "nats.password_file: Value error, no such file"),
        ({"stream": {"name": "HALLOPS.UP"}}, "stream.name: String should match pattern"),
        ({"stream": {"replicas": 7}}, "stream.replicas: Input should be less than or equal to 5"),
        ({"consumer": {"batch": 0}}, "consumer.batch: Input should be greater than or equal to 1"),
        ({"consumer": {"ack_wait_s": -1}}, "consumer.ack_wait_s: Input should be greater than 0"),
        ({"postgres": {"dsn": "host=db password=secret"}}, "postgres.dsn: Value error, put the password in"),
        ({"postgres": {"dsn": "postgresql://u:pw@db/hallops"}}, "postgres.dsn: Value error, put the password in"),
        ({"series": {"org": "x"}}, "series.url: Field required"),
        ({"series": {"url": "victoria:8428"}}, "series.url: Value error, 'victoria:8428' is not http(s)"),
        ({"ratings_export": {"zj": {"grades": {5: "好"}}}}, "ratings_export.zj.grades: Value error, every score"),
        ({"ratings_export": {"zj": {"grades": {6: "x", **GRADES}}}}, "ratings_export.zj.grades[6].[key]: Input"),
        ({"ratings_export": {"zj": {"timezone": "Mars/Base"}}}, "ratings_export.zj.timezone: Value error, unknown"),
        ({"ratings_export": {"zj": {"colour": 1}}}, "ratings_export.zj.colour: unknown key"),
    ],
)
def test_every_mistake_is_reported_with_its_field_path(tmp_path: Path, data: object, expected: str) -> None:
    problems = _problems(tmp_path, data)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_mistakes_are_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"consumer": {"batch": 0, "durable": "a b"}, "postgres": {"dsn": ""}})
    assert sorted(p.split(":")[0] for p in problems) == ["consumer.batch", "consumer.durable", "postgres.dsn"]


def test_secrets_come_from_their_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pg").write_text("s3cret\n")
    path = tmp_path / "cloud.yaml"
    path.write_text(
        yaml.safe_dump({"postgres": {"password_file": str(tmp_path / "pg")}, "series": {"url": "http://v:1"}})
    )
    monkeypatch.setenv("HALLOPS_SERIES_TOKEN", "tok")
    cfg = load_settings(path)
    assert cfg.postgres.password() == "s3cret"
    assert cfg.series is not None and cfg.series.token() == "tok"
    assert load_settings(tmp_path / "cloud.yaml").nats.password() is None


def test_without_a_series_section_there_is_no_time_series(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text("consumer: {batch: 64}\n")
    cfg = load_settings(path)
    assert cfg.series is None and cfg.consumer.batch == 64 and cfg.stream.name == "HALLOPS_UP"


def test_the_deployed_example_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "cloud" / "cloud.example.yaml").read_text()
    for name in ("nats-password", "ca.pem", "pg-password", "fleet-pg-password"):  # the files it names, made here
        (tmp_path / name).write_text("x")
        text = text.replace(f"/etc/hallops/cloud/{name}", str(tmp_path / name))
    path = tmp_path / "cloud.yaml"
    path.write_text(text)
    cfg = load_settings(path)
    assert cfg.stream.replicas == 3 and cfg.ratings_export["zhejiang"].service_items["A"] == "330100000000-001"
    assert cfg.fleet.port == 8090 and cfg.fleet.stale_after_s == 90


def test_the_command_reports_the_problems_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text("consumer:\n  batch: 0\n")
    assert main(["cloud", "consume", "--config", str(path)]) == 2
    assert "consumer.batch: Input should be greater than or equal to 1" in capsys.readouterr().err
