"""The gateway's broker password file: one it cannot read stops the gateway at start with the field path (exit 2),
instead of an ingest task dying at every start under systemd's Restart=always. Loading the file alone does not read
it (`hallops setup` writes the password after checking the configuration; `hallops backup` works without it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.config import load_config, unreadable_secrets


def config(tmp_path: Path, password_file: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"hall: {{id: h1}}\nmqtt: {{username: gw, password_file: {password_file}}}\n", encoding="utf-8")
    return path


def test_a_missing_password_file_is_named_with_its_field(tmp_path: Path) -> None:
    [problem] = unreadable_secrets(load_config(config(tmp_path, tmp_path / "mqtt-password")))
    assert problem.path == "mqtt.password_file"
    assert "cannot read" in problem.message and "No such file" in problem.message


def test_a_folder_given_as_the_password_file_is_refused_too(tmp_path: Path) -> None:
    assert [p.path for p in unreadable_secrets(load_config(config(tmp_path, tmp_path)))] == ["mqtt.password_file"]


def test_a_readable_password_file_is_accepted(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret-for-the-broker\n", encoding="utf-8")
    assert unreadable_secrets(load_config(config(tmp_path, secret))) == []


def test_the_gateway_exits_2_naming_the_field_before_it_opens_anything(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "gateway",
            "--config",
            str(config(tmp_path, tmp_path / "nope")),
            "--db",
            str(db),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "mqtt.password_file: cannot read" in done.stderr
    assert not db.exists()
