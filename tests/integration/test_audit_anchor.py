"""The audit chain's anchor from a real gateway: on a short interval it signs the head and publishes it to its anchor
file and, retained, to the broker (for the bridge to carry to the cloud) — again when the chain grows — and
`hallops audit verify --anchor` checks the database against those lines with the exported public key."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edge.broker import MosquittoProcess
from rules.language import BUILTIN
from tests.integration.conftest import ROOT, GatewayProcess, Listener, wait_until

TOPIC = "cloud/halls/h1/audit/head"
STRICTER = BUILTIN.read_text(encoding="utf-8").replace(
    'metric: queue.longest_wait_min, op: ">=", value: 30', 'metric: queue.longest_wait_min, op: ">=", value: 25'
)


def hallops(*args: str) -> subprocess.CompletedProcess[str]:
    """A `hallops` command as an operator runs it, beside the running gateway."""
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_gateway_publishes_its_signed_head_to_the_file_and_the_broker_and_verify_checks_against_it(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    config = tmp_path / "gateway.yaml"
    config.write_text(f"audit:\n  anchor_every_s: 0.5\n  anchor_file: {anchors}\n", encoding="utf-8")
    heads = Listener(mosquitto.port, TOPIC)
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    try:

        def counts() -> list[int]:
            if not anchors.exists():
                return []
            return [int(json.loads(line)["count"]) for line in anchors.read_text(encoding="utf-8").splitlines()]

        def heard() -> list[int]:
            return [int(str(m["count"])) for _, m in heads.messages]

        # the start audits the rule version it put in force: that head, to both destinations
        wait_until(lambda: counts() and heard(), timeout=15, what="the first signed head")
        first = counts()[-1]
        assert heard()[-1] == first

        # the chain grows (a rule version added from the command line): a new head follows within the interval
        rules = tmp_path / "stricter.yaml"
        rules.write_text(STRICTER, encoding="utf-8")
        added = hallops("rules", "add", str(rules), "--db", str(gw.db), "-m", "stricter waits")
        assert added.returncode == 0, added.stderr
        wait_until(lambda: counts()[-1] > first and heard()[-1] > first, timeout=15, what="the grown head")
        assert counts() == sorted(set(counts()))  # one line per head: none for an unmoved chain

        # retained: whoever subscribes later (the bridge after an outage) gets the newest head at once
        late = Listener(mosquitto.port, TOPIC)
        try:
            wait_until(lambda: late.messages, timeout=10, what="the retained head")
            newest = json.loads(anchors.read_text(encoding="utf-8").splitlines()[-1])
            assert late.messages[-1] == (TOPIC, newest)
        finally:
            late.close()
    finally:
        heads.close()
        gw.stop()

    key = tmp_path / "gateway-audit.key"  # made at the first start, beside the database
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    exported = hallops("audit", "pubkey", "--key", str(key))
    assert exported.returncode == 0, exported.stderr
    pubkey = tmp_path / "audit.pub"
    pubkey.write_text(exported.stdout, encoding="ascii")
    verified = hallops("audit", "verify", "--db", str(gw.db), "--anchor", str(anchors), "--pubkey", str(pubkey))
    assert verified.returncode == 0, verified.stderr
    assert f"{len(counts())} anchor(s) match" in verified.stderr
