"""Rule bundles from the cloud, end to end: `hallops rules push` to a "cloud" mosquitto, the hall's mosquitto bridging
`cloud/halls/#` in and the reports out (as deploy/mosquitto/bridge.conf.example), and a real gateway on the hall's
broker that verifies, applies, reports — and refuses what it must, changing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud_sync.bundle import new_key, sign
from edge.broker import MosquittoProcess
from rules.language import BUILTIN
from tests.integration.conftest import ROOT, GatewayProcess, Listener, wait_until

HALL = "h1"
RULES = BUILTIN.read_text(encoding="utf-8")
STRICTER = RULES.replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 25'
)
STRICTEST = RULES.replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 20'
)


@pytest.fixture
def cloud() -> Iterator[MosquittoProcess]:
    """The city/province MQTT cluster."""
    with MosquittoProcess() as broker:
        yield broker


@pytest.fixture
def local(cloud: MosquittoProcess) -> Iterator[MosquittoProcess]:
    """The hall's mosquitto, bridged to the cloud: bundles (and anything under cloud/halls/) in, reports out."""
    bridge = (
        "connection cloud\n"
        f"address 127.0.0.1:{cloud.port}\n"
        f"remote_clientid hallops-bridge-{HALL}\n"
        "cleansession false\n"
        "topic cloud/halls/# in 1\n"
        f"topic cloud/halls/{HALL}/rules/applied out 1\n"
    )
    with MosquittoProcess(extra_config=bridge, persistent=True) as broker:
        yield broker


@pytest.fixture
def signed(tmp_path: Path) -> Callable[..., Path]:
    """Writes bundle files as `hallops rules sign` does; the gateway trusts tmp_path/bundle.pub."""
    private, public = new_key()
    (tmp_path / "bundle.pub").write_text(public + "\n", encoding="ascii")

    def make(version: int, rules: str, hall: str = HALL, tamper: bool = False) -> Path:
        raw = sign(rules, version, private, hall=hall)
        if tamper:  # the rules changed after signing
            body = json.loads(raw)
            body["rules"] = body["rules"].replace("value: 30", "value: 300")
            raw = json.dumps(body).encode()
        path = tmp_path / f"bundle-v{version}{'-tampered' if tamper else ''}-{hall.replace('*', 'all')}.json"
        path.write_bytes(raw)
        return path

    return make


def push(bundle: Path, broker: MosquittoProcess) -> str:
    """`hallops rules push` as an operator runs it; returns what it said."""
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "rules", "push", str(bundle), "--broker", broker.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_pushed_bundle_is_applied_through_the_bridge_and_refused_ones_change_nothing(
    cloud: MosquittoProcess,
    local: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    signed: Callable[..., Path],
    tmp_path: Path,
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"rules:\n  bundle_public_key: {tmp_path / 'bundle.pub'}\n", encoding="utf-8")
    reports = Listener(cloud.port, f"cloud/halls/{HALL}/rules/applied")
    gw = gateway_factory(local.url, "--config", str(config), hall=HALL).start()
    try:
        first = gw.get("/api/rules/versions")
        assert isinstance(first, dict)
        configured = first["active"]

        def versions() -> dict[str, object]:
            body = gw.get("/api/rules/versions")
            assert isinstance(body, dict)
            return body

        def reported(**expected: object) -> list[dict[str, object]]:
            return [m for _, m in reports.messages if expected.items() <= m.items()]

        # a newer bundle for this hall: a new version, in force at once, reported to the cloud
        said = push(signed(2, STRICTER), cloud)
        assert f"cloud/halls/{HALL}/rules/bundle" in said
        wait_until(lambda: versions()["active"] != configured, timeout=10, what="the bundle's rules in force")
        active = versions()["active"]
        version = gw.get(f"/api/rules/versions/{active}")
        assert isinstance(version, dict)
        assert version["source"] == STRICTER and version["origin"] == "bundle:2"
        wait_until(lambda: reported(status="applied", bundle_version=2), timeout=10, what="the applied report")
        assert reported(bundle_version=2)[0] | {"at": None} == {
            "hall": HALL,
            "bundle_version": 2,
            "rule_version": active,
            "applied_version": 2,
            "status": "applied",
            "reason": "",
            "at": None,
        }
        health = gw.health()
        assert health["counters"]["received"] == 0 and health["events_logged"] == 0  # type: ignore[index]
        assert health["dead_letters"] == {}  # a bundle is not a device message: not ingested, not a dead letter
        activations = len(versions()["activations"])  # type: ignore[arg-type]

        # a restart: the retained bundle comes again and is recognised as the one applied
        assert gw.stop() == 0
        gw.start()
        wait_until(lambda: reported(reason="already applied"), timeout=10, what="the restarted gateway's report")
        assert versions()["active"] == active and len(versions()["activations"]) == activations  # type: ignore[arg-type]

        # an older bundle and a tampered one: refused and reported, nothing changes
        push(signed(1, RULES), cloud)
        wait_until(lambda: reported(status="refused", bundle_version=1), timeout=10, what="the downgrade's refusal")
        push(signed(3, STRICTEST, tamper=True), cloud)
        wait_until(lambda: reported(status="refused", bundle_version=3), timeout=10, what="the forgery's refusal")
        downgrade, forgery = reported(status="refused")
        assert "not newer than the applied version 2" in str(downgrade["reason"])
        assert "signature does not match" in str(forgery["reason"])
        assert downgrade["rule_version"] == forgery["rule_version"] == active
        assert versions()["active"] == active and len(versions()["activations"]) == activations  # type: ignore[arg-type]

        # a bundle for every hall, on cloud/halls/all/rules/bundle
        assert "cloud/halls/all/rules/bundle" in push(signed(3, STRICTEST, hall="*"), cloud)
        wait_until(lambda: reported(status="applied", bundle_version=3), timeout=10, what="the all-halls bundle")
        latest = versions()
        source = gw.get(f"/api/rules/versions/{latest['active']}")
        assert isinstance(source, dict) and source["source"] == STRICTEST

        statuses = [(m["status"], m["bundle_version"]) for _, m in reports.messages]
        assert statuses == [("applied", 2), ("applied", 2), ("refused", 1), ("refused", 3), ("applied", 3)]
        assert gw.output().count("refused:") == 2  # one warning per refusal, no spam
    finally:
        reports.close()


TAKEOVER = (
    RULES
    + """
  - id: everyone-restart
    when: {metric: device.online, op: "==", value: true}
    severity: info
    then:
      - command: {type: restart}
      - command: {type: message.show, target: call_screens, message: "本大厅暂停服务 / the hall is closed"}
"""
)


def test_a_bundle_that_restarts_devices_waits_until_the_halls_administrator_activates_it(
    cloud: MosquittoProcess,
    local: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    signed: Callable[..., Path],
    tmp_path: Path,
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"rules:\n  bundle_public_key: {tmp_path / 'bundle.pub'}\n", encoding="utf-8")
    reports = Listener(cloud.port, f"cloud/halls/{HALL}/rules/applied")
    gw = gateway_factory(local.url, "--config", str(config), hall=HALL).start()
    try:

        def versions() -> dict[str, object]:
            body = gw.get("/api/rules/versions")
            assert isinstance(body, dict)
            return body

        def reported(**expected: object) -> list[dict[str, object]]:
            return [m for _, m in reports.messages if expected.items() <= m.items()]

        configured = versions()["active"]
        push(signed(2, TAKEOVER, hall="*"), cloud)  # for every hall
        wait_until(lambda: reported(status="pending_approval"), timeout=10, what="the report: waiting for approval")
        [waiting] = reported(status="pending_approval")
        assert waiting["bundle_version"] == 2 and waiting["rule_version"] == configured
        assert "restart to subject" in str(waiting["reason"]) and "message.show to call_screens" in str(
            waiting["reason"]
        )
        held = max(int(v["number"]) for v in versions()["versions"])  # type: ignore[attr-defined]
        assert versions()["active"] == configured  # nothing reached a device or a screen
        stored = gw.get(f"/api/rules/versions/{held}")
        assert isinstance(stored, dict) and stored["source"] == TAKEOVER and stored["origin"] == "bundle:2"

        # the hall's administrator reads it and activates it (audited as theirs)
        activate = [sys.executable, "-m", "edge.cli", "rules", "activate", str(held), "--db", str(gw.db)]
        result = subprocess.run(activate, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        wait_until(lambda: reported(status="applied"), timeout=10, what="the report: approved at the hall")
        [approved] = reported(status="applied")
        assert approved["reason"] == "approved at the hall" and approved["rule_version"] == held
        assert versions()["active"] == held
    finally:
        reports.close()
