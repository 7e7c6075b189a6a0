"""The gateway's broker password file: one it cannot read stops the gateway at start with the field path (exit 2),
instead of an ingest task dying at every start under systemd's Restart=always."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import load_config


def load(tmp_path: Path, password_file: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"hall: {{id: h1}}\nmqtt: {{username: gw, password_file: {password_file}}}\n", encoding="utf-8")
    load_config(path)


def test_a_missing_password_file_is_named_with_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, tmp_path / "mqtt-password")
    [problem] = caught.value.problems
    assert problem.path == "mqtt.password_file"
    assert "cannot read" in problem.message and "No such file" in problem.message


def test_a_folder_given_as_the_password_file_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, tmp_path)
    assert [p.path for p in caught.value.problems] == ["mqtt.password_file"]


def test_a_readable_password_file_is_accepted(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-for-the-broker\n", encoding="utf-8")
    load(tmp_path, secret)
