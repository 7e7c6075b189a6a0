"""The gateway's hall must agree with what the simulator knows is true: the county hall's morning (08:30–11:00:
the morning peak, paper out, staff away, a kiosk offline at the end) played into the gateway as at 300× speed,
in-process on the hall's clock (tests/hallday.py). The path over a real mosquitto into a gateway process is
tests/integration/test_simulated_hall.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from tests.hallday import HallDay, disagreements, plain_config

CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 23, 8, 30, tzinfo=CST)  # a Monday


async def test_gateway_agrees_with_the_simulated_county_hall(tmp_path: Path) -> None:
    with HallDay(plain_config(tmp_path / "gateway.db", "county-01", 300), START) as day:
        simulation = HallSimulation(load_scenario("county"), 7, START, START + timedelta(minutes=150))
        truth = json.loads(day.play(simulation).to_json())
        async with day.api() as http:
            counters = (await http.get("/api/health")).json()["counters"]
            hall = (await http.get("/api/hall")).json()
    assert counters["rejected_total"] == 0, counters
    assert disagreements(hall, truth) == {}
    assert sum(truth["waiting"].values()) > 0, "the morning peak should leave people waiting"
    assert hall["totals"]["windows_open"] >= 6
    assert truth["devices_online"]["K03"] is False, "the kiosk unplugged at 10:50 is still offline at 11:00"
    k03 = next(d for d in hall["devices"] if d["device_id"] == "K03")
    assert k03["health"] == "offline"
