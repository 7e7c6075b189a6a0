"""`hallops users list --db`: everyone who can sign in — the config file's users as well as the database's.

The demo's three users live in its generated config, not in its database; the list used to say "no users" there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

from edge.auth import Auth, Role
from edge.cli import main
from edge.config import load_config
from edge.gateway import Gateway

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # a valid Argon2id hash, made in microseconds


def config(db: Path, users: dict[str, tuple[str, str]]) -> dict[str, object]:
    return {
        "hall": {"id": "h1"},
        "storage": {"path": str(db)},
        "users": {
            name: {"role": role, "name": display, "password_hash": CHEAP.hash("pw")}
            for name, (role, display) in users.items()
        },
    }


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    assert main(["users", "list", *args]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_the_config_files_users_are_listed_as_the_gateway_last_started_with_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    gateway = Gateway(load_config(None, config(db, {"wang": ("manager", "王经理"), "root": ("administrator", "")})))
    gateway.open()
    gateway.close()
    auth = Auth({}, db, hasher=CHEAP)
    auth.add_user("li", Role.TECHNICIAN, "a long enough password", "李工")
    auth.close()

    rows = listed(capsys, "--db", str(db))
    assert [r[:3] for r in rows] == [
        ["li", "technician", "李工"],
        ["root", "administrator", ""],
        ["wang", "manager", "王经理"],
    ]
    assert rows[0][3] == "database" and rows[2][3].startswith("config")

    # the next start with another config replaces what was recorded
    gateway = Gateway(load_config(None, config(db, {"zhao": ("manager", "赵主任")})))
    gateway.open()
    gateway.close()
    assert [r[0] for r in listed(capsys, "--db", str(db))] == ["li", "zhao"]


def test_with_config_the_file_is_read_and_a_database_user_it_hides_is_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "g.db"
    auth = Auth({}, db, hasher=CHEAP)
    auth.add_user("wang", Role.TECHNICIAN, "a long enough password")
    auth.close()
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config(db, {"wang": ("manager", "王经理")}), allow_unicode=True), encoding="utf-8")

    rows = listed(capsys, "--db", str(db), "--config", str(path))
    assert [r[:2] for r in rows] == [["wang", "manager"], ["wang", "technician"]]
    assert rows[0][3] == f"config {path}"
    assert "not used" in rows[1][3]


def test_an_empty_database_says_how_to_add_the_first_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "g.db"
    Auth({}, db).close()
    assert main(["users", "list", "--db", str(db)]) == 0
    said = capsys.readouterr()
    assert said.out == "" and "hallops users add NAME --role administrator" in said.err
