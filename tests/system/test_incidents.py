"""The county scenario's incidents, played into the gateway with the built-in rules as at 120× speed, in-process on
the hall's clock (tests/hallday.py): each one must raise its alert (and ticket or recommendation) within its rule's
time; a calm hour raises nothing but the prompts of a normal hour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from devices.simulator import HallSimulation, load_scenario
from devices.simulator.scenario import PACKAGED
from tests.hallday import HallDay, plain_config

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=CST)  # a Monday
SPEED = 120  # the live gateway's device clock: how often it decides, in hall time


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return DAY.replace(hour=int(h), minute=int(m))


# incident (from scenarios/county.yaml) → the alert it must raise, for which subject, and by when (hall time)
EXPECTED = {
    "morning": [
        ("printer-paper-low", {"device": "TM02"}, at("09:10"), timedelta(minutes=1)),
        ("printer-paper-out", {"device": "TM02"}, at("09:40"), timedelta(minutes=1)),
        ("empty-post", {"window": "W04"}, at("10:15") + timedelta(minutes=5), timedelta(minutes=1)),
        ("device-offline", {"device": "K03"}, at("10:50") + timedelta(seconds=30), timedelta(minutes=1)),
    ],
    "afternoon": [
        ("kiosk-error-burst", {"device": "K02"}, at("14:40"), timedelta(minutes=10)),  # 6 errors over 10 min, ≥ 5
        # a 15-min window against the 45 min before it: a 2.5× surge shows within about 20 min
        ("arrival-surge", {"service": "SB"}, at("15:00"), timedelta(minutes=25)),
        ("call-screen-blank", {"device": "CS-B"}, at("15:20") + timedelta(seconds=30), timedelta(minutes=1)),
    ],
}
WINDOWS = {"morning": ("08:30", 150), "afternoon": ("14:30", 60)}  # start, minutes


@pytest.mark.parametrize("part", ["morning", "afternoon"])
async def test_each_incident_raises_its_alert_in_time(part: str, tmp_path: Path) -> None:
    start, minutes = WINDOWS[part]
    with HallDay(plain_config(tmp_path / "gateway.db", "county-01", SPEED), at(start)) as day:
        day.play(HallSimulation(load_scenario("county"), 1, at(start), at(start) + timedelta(minutes=minutes)))
        async with day.api() as http:
            fired = (await http.get("/api/alerts?state=all&limit=1000")).json()
            tickets = (await http.get("/api/tickets?status=all")).json()
            counters = (await http.get("/api/health")).json()["counters"]
    assert isinstance(fired, list)
    missing = []
    for rule, labels, start_at, slack in EXPECTED[part]:
        hits = [a for a in fired if a["rule"] == rule and all(a["labels"].get(k) == v for k, v in labels.items())]
        first = min((datetime.fromisoformat(a["fired_at"]) for a in hits if a["fired_at"]), default=None)
        if first is None or not start_at <= first <= start_at + slack:
            missing.append((rule, labels, str(start_at), str(first)))
    assert missing == [], f"alerts missing or late (rule, subject, due, fired): {missing}"
    if part == "morning":
        devices = {t["device"] for t in tickets}
        assert {"TM02", "K03"} <= devices, "printer and offline kiosk each got a fault ticket"
    assert counters["rejected_total"] == 0


# Prompts that are part of a normal hour: a slow answer to a call, a missed number, someone asking for help.
OPERATIONAL_PROMPTS = {"call-unanswered", "missed-ticket", "kiosk-help-requested"}


async def test_a_calm_hour_raises_nothing_but_operational_prompts(tmp_path: Path) -> None:
    """The county hall on a calm day — no incidents, a moderate load, people who come when called, service times
    without freak outliers, content customers: between 11:00 and 12:00 no alarm, ticket or recommendation."""
    data = yaml.safe_load((PACKAGED / "county.yaml").read_text(encoding="utf-8"))
    data["incidents"] = []
    for ev in data["evaluators"]:
        ev["scores"] = {4: 0.3, 5: 0.7}
    for svc in data["services"]:
        svc["arrivals_per_hour"] *= 0.7
        svc["no_show_per_call"] = 0.03
        svc["service_time"]["cv"] = 0.3
    calm = tmp_path / "calm.yaml"
    calm.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with HallDay(plain_config(tmp_path / "gateway.db", "county-01", SPEED), at("10:00")) as day:
        day.play(HallSimulation(load_scenario(calm), 2, at("10:00"), at("12:00")))
        async with day.api() as http:
            fired = (await http.get("/api/alerts?state=all&limit=1000")).json()
            tickets = (await http.get("/api/tickets?status=all")).json()
            recommendations = (await http.get("/api/recommendations?status=all")).json()
    assert isinstance(fired, list)
    in_hour = [a for a in fired if a["fired_at"] and at("11:00") <= datetime.fromisoformat(a["fired_at"]) < at("12:00")]
    noise = sorted({a["rule"] for a in in_hour} - OPERATIONAL_PROMPTS)
    assert noise == [], [(a["rule"], a["reason"]) for a in in_hour if a["rule"] in noise]
    assert tickets == []
    assert recommendations == []
