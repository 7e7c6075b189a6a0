"""`hallops cloud serve` reads its `fleet:` section from the cloud tier's YAML (edge/fleet/serve.py): every problem of
the file is reported with its field path before anything starts, the consumers' sections included."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.fleet.serve import dsn, load


def test_the_fleet_section_and_the_consumers_are_read_from_one_file(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    secret = tmp_path / "reader"
    secret.write_text("s3cret\n")
    path.write_text(
        "postgres: {dsn: 'host=db dbname=hallops user=hallops'}\n"
        f"fleet: {{port: 0, stale_after_s: 120, dsn: 'host=db dbname=hallops user=reader', password_file: {secret}}}\n"
    )
    cloud, fleet = load(path)
    assert fleet.stale_after_s == 120 and fleet.port == 0
    assert "user=reader" in dsn(cloud, fleet) and "password=s3cret" in dsn(cloud, fleet)


def test_every_problem_is_reported_with_its_field_path(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text(
        "fleet:\n  poll_s: 0\n  users: {li: {role: technician, password_hash: plain}}\n  colour: red\n"
        "consumer: {batch: 0}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load(path)
    paths = {p.path for p in exc.value.problems}
    assert {"fleet.poll_s", "fleet.users.li.role", "fleet.users.li.password_hash", "fleet.colour"} <= paths
    assert "consumer.batch" in paths
