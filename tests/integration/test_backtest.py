"""Backtests against a real recorded day: the county hall simulated over a real mosquitto into a running gateway
from opening to closing (08:00–18:30, every incident of the scenario), then its event log replayed. The replay of
the rules in force must give the alerts the live gateway gave, alert for alert; a candidate with a changed threshold
must differ exactly where the change bites. Through the API and the CLI. (About 11 minutes: the day at 60×.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from edge.broker import MosquittoProcess
from rules.language import BUILTIN
from tests.integration.conftest import CST, HALL_SPEED, ROOT, GatewayProcess, wait_until

DAY = datetime(2026, 11, 23, 8, 0, tzinfo=CST)  # a Monday, from before opening time to after closing
MINUTES = 630
RULE = "call-unanswered"  # the rule whose threshold the candidate changes


def record_day(mosquitto: MosquittoProcess, hall: GatewayProcess, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "edge.cli", "simulate", "--broker", mosquitto.url, "--scenario", "county", "--seed",
         "3", "--speed", str(HALL_SPEED), "--start", DAY.isoformat(), "--duration", f"{MINUTES}m"],
        check=True, cwd=ROOT, capture_output=True, timeout=MINUTES * 60 / HALL_SPEED + 120,
    )  # fmt: skip
    sent = hall.accepted()
    wait_until(lambda: hall.accepted() >= sent and hall.accepted() > 1000, what="the day is logged")


def stricter(tmp_path: Path) -> tuple[Path, int]:
    """The built-in pack re-calling an unanswered number after 30 s instead of 60 s; the file and the value."""
    pack = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    rule = next(r for r in pack["rules"] if r["id"] == RULE)
    assert rule["when"]["value"] == 60
    rule["when"]["value"] = 30
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, 30


@pytest.mark.timeout(MINUTES * 60 / HALL_SPEED + 900)
def test_a_replay_of_a_recorded_day_gives_the_live_alerts_and_a_threshold_change_its_difference(
    mosquitto: MosquittoProcess, hall: GatewayProcess, tmp_path: Path
) -> None:
    record_day(mosquitto, hall, tmp_path)
    versions = hall.get("/api/rules/versions")
    assert isinstance(versions, dict)
    active = versions["active"]
    period = {"from": DAY.isoformat(), "to": (DAY + timedelta(minutes=MINUTES)).isoformat()}

    # 1. the rules in force, replayed: the same alerts as the live gateway raised (rule, subject, time ± 2 min)
    r = hall.http.post("/api/rules/backtest", json={**period, "version": active}, timeout=300)
    assert r.status_code == 200, r.text
    same = r.json()
    live = same["recorded"]["alerts_per_rule"]
    assert sum(live.values()) >= 100 and len(live) >= 15, live  # a real day: most kinds of alert, re-calls by the score
    fidelity = same["replay_vs_recorded"]
    differing = [(a["rule"], a["labels"], a["fired_at"], side) for side in ("only_active", "only_candidate")
                 for a in fidelity[side]]  # fmt: skip
    assert differing == []
    assert same["active"]["alerts_per_rule"] == live
    assert same["diff"]["same"] and same["events"] > 1000

    # 2. a number re-called after 30 s instead of 60 s: every live re-call still happens (sooner), plus one for
    # each number that came between 30 and 60 s; every other rule unchanged
    candidate, lowered = stricter(tmp_path)
    added = hall.http.post("/api/rules/versions", json={"source": candidate.read_text(encoding="utf-8"),
                                                        "comment": "re-call after 30 s"})  # fmt: skip
    assert added.status_code == 201, added.text
    r = hall.http.post("/api/rules/backtest", json={**period, "version": added.json()["number"]}, timeout=300)
    assert r.status_code == 200, r.text
    changed = r.json()
    diff = changed["diff"]
    assert diff["only_active"] == []
    assert diff["only_candidate"], "the lower threshold must fire somewhere in a busy day"
    assert {a["rule"] for a in diff["only_candidate"]} == {RULE}
    for a in diff["only_candidate"]:  # nobody had come for between 30 and 60 s
        waited = float(re.search(r"window.call_unanswered_s = ([0-9.]+)", a["reason"]).group(1))  # type: ignore[union-attr]
        assert lowered <= waited < 60, a
    per_rule = diff["per_rule"]
    assert all(v["only_candidate"] == 0 and v["only_active"] == 0 for k, v in per_rule.items() if k != RULE)
    assert per_rule[RULE]["both"] == live[RULE]  # each live re-call has its earlier twin
    assert changed["candidate"]["alerts_per_rule"][RULE] == live[RULE] + len(diff["only_candidate"])

    # 3. the same from the command line, on the running gateway's database
    begin, end = (t.strftime("%Y-%m-%dT%H:%M") for t in (DAY, DAY + timedelta(minutes=MINUTES)))
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "rules", "backtest", str(candidate), "--from", begin,
         "--to", end, "--config", str(tmp_path / "gateway.yaml"), "--json", str(tmp_path / "bt.json")],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    row = next(line.split() for line in out.stdout.splitlines() if line.startswith(RULE + " "))
    assert int(row[2]) == changed["candidate"]["alerts_per_rule"][RULE]
    assert int(row[5]) == len(diff["only_candidate"])
    assert json.loads((tmp_path / "bt.json").read_text(encoding="utf-8"))["diff"]["per_rule"] == per_rule
    assert "replaying" in out.stderr and "events/s" in out.stdout
