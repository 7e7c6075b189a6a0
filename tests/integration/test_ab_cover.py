"""AB-post cover (AB岗互补, issue 20) end to end on a real mosquitto: the gateway of a small simulated hall, the
simulator obeying its commands. 民政服务窗 (W1, civil affairs) goes to lunch early while its people keep coming;
its person's AB partner sits at 交通运输窗 (W2), where nobody waits. The gateway proposes the partner to cover W1, the
manager approves, and the simulated queue system moves the partner: W1 opens with them, W2 pauses ("moved")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from edge.broker import MosquittoProcess
from tests.integration.conftest import PASSWORD, GatewayProcess, demo_gateway, wait_until

SPEED = 30  # hall seconds per second: a recommendation holds 10 hall minutes, 20 s here
START = datetime(2026, 11, 23, 10, 35, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday, within the opening hours

SCENARIO = """\
description: AB岗互补 — a civil affairs window at lunch early, its AB partner at a quiet transport window
hall:
  id: ab-01
  name: AB岗测试政务大厅
  name_en: AB post test hall
  timezone: Asia/Shanghai
  opens: "08:30"
  closes: "17:30"
arrival_profiles:
  default:
    time_of_day: {"08:30": 1.0}
services:
  - {code: MZ, name: 民政服务, name_en: Civil affairs, prefix: A, arrivals_per_hour: 30,
     service_time: {distribution: fixed, mean_min: 4}, no_show_per_call: 0}
  - {code: JT, name: 交通运输, name_en: Transport, prefix: B, arrivals_per_hour: 0,
     service_time: {distribution: fixed, mean_min: 3}, no_show_per_call: 0}
windows:
  - {id: W1, name: 民政服务窗, name_en: Civil affairs window, services: [MZ], staff_id: S01, staff_name: 张敏,
     staff_name_en: Zhang Min, partner: S02, lunch: {start: "10:40", end: "12:30"}}
  - {id: W2, name: 交通运输窗, name_en: Transport window, services: [JT], staff_id: S02, staff_name: 李娜,
     staff_name_en: Li Na, partner: S01, skills: [MZ], covers_lunch: true}
ticket_machines:
  - {id: TM1}
"""


def with_queue_system(cfg: dict[str, Any]) -> None:
    """The hall's queue system (Q1), which the gateway tells to assign a window (the simulator plays it)."""
    cfg["devices"]["Q1"] = {"type": "qms"}


def test_an_approved_ab_cover_moves_the_partner_to_the_paused_window(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "ab.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    gw = demo_gateway(
        gateway_factory, mosquitto.url, tmp_path, str(scenario), SPEED, edit=with_queue_system, max_lead_s=86_400
    )
    manager = httpx.Client(base_url=gw.url, auth=httpx.BasicAuth("wang", PASSWORD), timeout=10)
    simulate("120m", START, scenario=str(scenario), speed=SPEED)
    try:

        def covers() -> list[dict[str, Any]]:
            rows = manager.get("/api/recommendations", params={"status": "pending"}).json()
            return [r for r in rows if r["windows"] == ["W1"] and r["staff"] == ["S02"]]

        wait_until(covers, timeout=120, what="the AB-post cover of 民政服务窗 by 李娜")
        rec = covers()[0]
        assert rec["kind"] == "open" and rec["services"] == ["MZ"] and rec["serves"] == ["MZ"]
        assert rec["reason_code"] == "cover"  # the tidal page heads it "AB岗顶岗", not "open 1 window"
        assert rec["reason_zh"].startswith("民政服务窗暂停中（张敏不在岗），民政服务（MZ）")
        assert "请AB岗搭档李娜（交通运输窗）过来顶岗" in rec["reason_zh"]
        assert rec["reason_en"].startswith("Civil affairs window is paused (Zhang Min away)")
        assert "send the AB partner Li Na from Transport window to cover" in rec["reason_en"]

        r = manager.post(f"/api/recommendations/{rec['id']}/approve", json={"reason": ""})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved"

        def windows() -> dict[str, dict[str, Any]]:
            hall = manager.get("/api/hall").json()
            return {w["window_id"]: w for w in hall["windows"]}

        def moved() -> bool:
            w = windows()
            return (w["W1"]["status"], w["W1"]["staff_id"]) == ("open", "S02") and (
                w["W2"]["status"],
                w["W2"]["pause_reason"],
            ) == ("paused", "moved")

        wait_until(moved, timeout=60, what="李娜 at 民政服务窗 and 交通运输窗 paused (moved)")
        # in effect as a cover, not a tidal window: nothing proposes closing 张敏's own window
        in_effect = [(t["window_id"], t["cover"], t["staff_id"]) for t in manager.get("/api/tidal/windows").json()]
        assert in_effect == [("W1", True, "S02")], in_effect
        closes = [r for r in manager.get("/api/recommendations").json() if r["kind"] == "close"]
        assert all("W1" not in r["windows"] for r in closes), closes
    finally:
        manager.close()
