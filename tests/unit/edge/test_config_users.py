"""The `users:` section of the gateway configuration: hashes only, known roles, and no open API off loopback.

A mistake here must stop the gateway before it starts, naming the field path the administrator has to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from devices.errors import ConfigError
from edge.config import GatewayConfig, exposure, load_config
from edge.passwords import hash_password


@pytest.fixture(scope="module")
def argon2_hash(hasher: PasswordHasher) -> str:
    return hash_password("tidal:2025", hasher)  # cheap; test_auth shows a production-cost hash is accepted too


def load(tmp_path: Path, yaml_text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text("hall: {id: h1}\n" + yaml_text, encoding="utf-8")
    return load_config(path)


def problem_paths(tmp_path: Path, yaml_text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml_text)
    return [p.path for p in caught.value.problems]


def test_a_valid_user_loads_with_its_role_and_display_name(tmp_path: Path, argon2_hash: str) -> None:
    cfg = load(
        tmp_path,
        f"""\
http: {{host: 0.0.0.0}}
users:
  wang:
    role: manager
    name: 王主任
    password_hash: '{argon2_hash}'
""",
    )
    assert cfg.users["wang"].role == "manager"
    assert cfg.users["wang"].name == "王主任"
    assert cfg.users["wang"].password_hash == argon2_hash


def test_a_plain_password_instead_of_a_hash_is_refused_at_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "users:\n  wang: {role: manager, password_hash: tidal-2025}\n")
    assert [p.path for p in caught.value.problems] == ["users.wang.password_hash"]
    assert "hallops users hash" in caught.value.problems[0].message
    assert "tidal-2025" not in str(caught.value)  # the password is not echoed into logs


def test_an_unknown_role_is_refused_at_its_path(tmp_path: Path, argon2_hash: str) -> None:
    paths = problem_paths(tmp_path, f"users:\n  li: {{role: operator, password_hash: '{argon2_hash}'}}\n")
    assert paths == ["users.li.role"]


def test_every_bad_user_is_reported_at_once(tmp_path: Path, argon2_hash: str) -> None:
    paths = problem_paths(
        tmp_path,
        f"""\
users:
  wang: {{role: manager, password_hash: secret}}
  li: {{role: admin, password_hash: '{argon2_hash}'}}
  zhao: {{role: technician, password_hash: '{argon2_hash}', pasword: oops}}
""",
    )
    assert sorted(paths) == ["users.li.role", "users.wang.password_hash", "users.zhao.pasword"]


def test_a_user_without_a_role_or_hash_is_refused(tmp_path: Path) -> None:
    assert sorted(problem_paths(tmp_path, "users:\n  wang: {name: 王主任}\n")) == [
        "users.wang.password_hash",
        "users.wang.role",
    ]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_no_users_while_listening_beyond_loopback_is_refused(tmp_path: Path, host: str) -> None:
    cfg = load(tmp_path, f"http: {{host: '{host}'}}\n")
    problems = exposure(cfg, has_users=False)
    assert [p.path for p in problems] == ["users"]
    assert host in problems[0].message and "hallops users add" in problems[0].message  # says how to fix it
    assert exposure(cfg, has_users=True) == []  # users in the database (hallops users add) are enough


@pytest.mark.parametrize("http", ["", "http: {host: 127.0.0.1}\n", "http: {host: localhost}\n", "users: {}\n"])
def test_no_users_on_loopback_is_fine(tmp_path: Path, http: str) -> None:
    cfg = load(tmp_path, http)
    assert cfg.users == {}
    assert exposure(cfg, has_users=False) == []
