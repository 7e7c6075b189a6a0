"""Backtests against a real recorded day: the county hall simulated from opening to closing (08:00–18:30, every
incident of the scenario) into the gateway with its decision loop as it runs live at 60× (tests/hallday.py,
in-process on the hall's clock), then its event log replayed. The replay of the rules in force must give the alerts
the live gateway gave, alert for alert; a candidate with a changed threshold must differ exactly where the change
bites. Through the HTTP API and the CLI. (About a minute on two cores: the day's 3,300 live evaluations, then six
replays of it.)"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from devices.simulator import HallSimulation, load_scenario
from edge.demo import save, scenario_config
from rules.language import BUILTIN
from tests.hallday import HallDay
from tests.integration.conftest import PASSWORD, USERS

ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, 8, 0, tzinfo=CST)  # a Monday, from before opening time to after closing
MINUTES = 630
RULE = "call-unanswered"  # the rule whose threshold the candidate changes
SPEED = 60  # the live gateway's device clock: how often it decides, in hall time


def stricter(tmp_path: Path) -> tuple[Path, int]:
    """The built-in pack re-calling an unanswered number after 30 s instead of 60 s; the file and the value."""
    pack = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    rule = next(r for r in pack["rules"] if r["id"] == RULE)
    assert rule["when"]["value"] == 60
    rule["when"]["value"] = 30
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, 30


@pytest.mark.timeout(600)
async def test_a_replay_of_a_recorded_day_gives_the_live_alerts_and_a_threshold_change_its_difference(
    tmp_path: Path,
) -> None:
    scenario = load_scenario("county")
    # the county hall's gateway with users, as the web UI and API tests configure it (no broker is reached)
    cfg = scenario_config(
        scenario,
        "mqtt://127.0.0.1:1883",
        tmp_path / "gateway.db",
        ("127.0.0.1", 0),
        SPEED,
        users=USERS,
        password=PASSWORD,
    )
    save(cfg, tmp_path / "gateway.yaml")
    end = DAY + timedelta(minutes=MINUTES)
    with HallDay(cfg, DAY) as day:
        day.play(HallSimulation(scenario, 3, DAY, end))
        candidate, lowered = stricter(tmp_path)
        # 3. (below) the same from the command line, on the running gateway's database: it runs on the box's other
        # core while the API replays
        begin, until = (t.strftime("%Y-%m-%dT%H:%M") for t in (DAY, end))
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edge.cli",
            "rules",
            "backtest",
            str(candidate),
            "--from",
            begin,
            "--to",
            until,
            "--config",
            str(tmp_path / "gateway.yaml"),
            "--json",
            str(tmp_path / "bt.json"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output = asyncio.create_task(cli.communicate())
        try:
            async with day.api(httpx.BasicAuth("root", PASSWORD)) as http:
                versions = (await http.get("/api/rules/versions")).json()
                assert isinstance(versions, dict)
                active = versions["active"]
                period = {"from": DAY.isoformat(), "to": end.isoformat()}

                # 1. the rules in force, replayed: the same alerts as the live gateway raised (rule, subject,
                # time ± 2 min)
                r = await http.post("/api/rules/backtest", json={**period, "version": active})
                assert r.status_code == 200, r.text
                same = r.json()
                live = same["recorded"]["alerts_per_rule"]
                assert sum(live.values()) >= 100 and len(live) >= 15, live  # a real day: most kinds of alert
                fidelity = same["replay_vs_recorded"]
                differing = [
                    (a["rule"], a["labels"], a["fired_at"], side)
                    for side in ("only_active", "only_candidate")
                    for a in fidelity[side]
                ]
                assert differing == []
                assert same["active"]["alerts_per_rule"] == live
                assert same["diff"]["same"] and same["events"] > 1000

                # 2. a number re-called after 30 s instead of 60 s: every live re-call still happens (sooner), plus
                # one for each number that came between 30 and 60 s; every other rule unchanged
                added = await http.post(
                    "/api/rules/versions",
                    json={"source": candidate.read_text(encoding="utf-8"), "comment": "re-call after 30 s"},
                )
                assert added.status_code == 201, added.text
                r = await http.post("/api/rules/backtest", json={**period, "version": added.json()["number"]})
                assert r.status_code == 200, r.text
            stdout, stderr = (b.decode() for b in await asyncio.wait_for(output, 300))
        finally:
            if cli.returncode is None:
                cli.kill()
                await output
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

    # 3. the command line's answer (against the version in force: the candidate added above is not in force)
    assert cli.returncode == 0, stderr
    row = next(line.split() for line in stdout.splitlines() if line.startswith(RULE + " "))
    assert int(row[2]) == changed["candidate"]["alerts_per_rule"][RULE]
    assert int(row[5]) == len(diff["only_candidate"])
    assert json.loads((tmp_path / "bt.json").read_text(encoding="utf-8"))["diff"]["per_rule"] == per_rule
    assert "replaying" in stderr and "events/s" in stdout
