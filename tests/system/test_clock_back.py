"""A gateway on the device clock that starts before any device has spoken runs on the box's date; the first device
message then takes its clock back to the hall's (older) day — as in every demo and test of a recorded day, and on a
box whose clock NTP steps back. The hall's day must then go exactly as if the clock had never been elsewhere: the
tidal recommender keeps its once-a-minute pace, and the day's KPIs count the day's tickets.

(Both once failed: the recommender waited for the clock to pass the minute after its run on the box's date, and the
KPI book stayed on the box's date, showing 0 tickets issued for the hall's day.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from edge.demo import scenario_config
from tests.hallday import HallDay

CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 23, 14, 30, tzinfo=CST)  # a Monday afternoon: the SB surge starts at 15:00
END = START + timedelta(minutes=60)
BOX_DATE = datetime(2026, 12, 5, 10, 0, tzinfo=CST)  # the box's wall clock, twelve days later
SPEED = 60


async def afternoon(tmp: Path, first_evaluation: datetime) -> tuple[list[tuple[str, str]], dict[str, object]]:
    """The county afternoon (the simulated staff approve nothing): the recommendations made, and the day's report."""
    scenario = load_scenario("county")
    cfg = scenario_config(scenario, "mqtt://127.0.0.1:1", tmp / "gateway.db", ("127.0.0.1", 0), SPEED)
    with HallDay(cfg, first_evaluation) as day:
        day.decider.evaluate()  # the live loop's first evaluation, within a second of the start
        day.jump(START)  # the first device message
        day.play(HallSimulation(scenario, 1, START, END, controller=lambda now: []))
        async with day.api() as http:
            recs = (await http.get("/api/recommendations?status=all")).json()
            report = (await http.get(f"/api/reports/{START.date()}")).json()
            today = (await http.get("/api/kpi/today")).json()  # the manager's KPI panel: the hall's day so far
    assert today["hall"]["issued"] == report["hall"]["issued"], (today["hall"], report["hall"])
    made = sorted((r["created_at"], ",".join(r["services"])) for r in recs)
    return made, report


async def test_a_clock_that_goes_back_to_the_halls_day_decides_as_if_it_had_always_been_there(tmp_path: Path) -> None:
    (tmp_path / "back").mkdir()
    (tmp_path / "there").mkdir()
    made_back, report_back = await afternoon(tmp_path / "back", BOX_DATE)
    made_there, report_there = await afternoon(tmp_path / "there", START)

    assert made_there, "the surge makes the recommender offer a tidal window"
    assert made_back == made_there
    hall = report_there["hall"]
    assert isinstance(hall, dict) and hall["issued"] > 20
    assert report_back["hall"] == hall
