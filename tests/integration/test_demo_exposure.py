"""A demo the LAN can reach never opens with the published demo password: `hallops demo --http 0.0.0.0:PORT` gives each
user a random password, prints it once, and the README's `hallops-demo` signs nobody in."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from devices.simulator import load_scenario
from edge.broker import free_port
from edge.demo import DEMO_PASSWORD, DEMO_USERS, demo_passwords, scenario_config
from tests.harness import HallopsProcess
from tests.integration.conftest import wait_until

PRINTED = re.compile(r"hallops demo:\s+(\w+) \((\w+)\): (\S+)$", re.MULTILINE)


def _signs_in(hash_: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(hash_, password)
    except VerifyMismatchError:
        return False


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "hall-box.local"])
def test_a_demo_config_off_loopback_has_random_passwords_and_refuses_the_published_one(
    tmp_path: Path, host: str
) -> None:
    scenario = load_scenario("county")
    passwords = demo_passwords(host)
    assert DEMO_PASSWORD not in passwords.values() and len(set(passwords.values())) == len(DEMO_USERS)
    assert passwords != demo_passwords(host)  # new ones at each start
    cfg = scenario_config(scenario, "mqtt://127.0.0.1:1", tmp_path / "g.db", (host, 0), 1.0, DEMO_USERS, passwords)
    for name, user in cfg.users.items():
        assert _signs_in(user.password_hash, passwords[name]) and not _signs_in(user.password_hash, DEMO_PASSWORD)
    with pytest.raises(ValueError, match="published demo password"):
        scenario_config(scenario, "mqtt://127.0.0.1:1", tmp_path / "g.db", (host, 0), 1.0, DEMO_USERS)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_demo_on_loopback_keeps_the_published_password(tmp_path: Path, host: str) -> None:
    assert demo_passwords(host) == dict.fromkeys(DEMO_USERS, DEMO_PASSWORD)


def test_hallops_demo_on_every_interface_prints_random_passwords_and_refuses_the_published_one(tmp_path: Path) -> None:
    port = free_port()
    demo = HallopsProcess(
        tmp_path / "demo.log", "demo", "--http", f"0.0.0.0:{port}", "--db", str(tmp_path / "demo.db"), "--speed", "1"
    )
    with demo, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        assert demo.proc is not None
        proc = demo.proc

        def printed() -> bool:
            assert proc.poll() is None, demo.output()
            return len(PRINTED.findall(demo.output())) == len(DEMO_USERS)

        wait_until(printed, timeout=120, what="the demo's passwords")
        text = demo.output()
        assert "the demo is reachable from the LAN" in text
        passwords = {name: password for name, _, password in PRINTED.findall(text)}
        assert set(passwords) == set(DEMO_USERS) and DEMO_PASSWORD not in passwords.values()
        assert f"password: {DEMO_PASSWORD}" not in text

        refused = http.post("/api/session", json={"user": "manager", "password": DEMO_PASSWORD})
        assert refused.status_code == 401, refused.text
        for name, (role, _) in DEMO_USERS.items():
            signed_in = http.post("/api/session", json={"user": name, "password": passwords[name]})
            assert signed_in.status_code == 200, signed_in.text
            assert signed_in.json()["role"] == role
    assert "hallops demo: stopped" in demo.output()
