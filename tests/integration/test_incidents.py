"""The county scenario's incidents, played through a real mosquitto into the gateway with the built-in rules:
each one must raise its alert (and ticket or recommendation) within its rule's time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devices.simulator.scenario import PACKAGED
from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Listener
from tests.integration.test_simulated_hall import simulate

DAY = datetime(2026, 11, 23, tzinfo=CST)  # a Monday


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
WINDOWS = {"morning": ("08:30", "150m"), "afternoon": ("14:30", "60m")}


@pytest.mark.parametrize("part", ["morning", "afternoon"])
def test_each_incident_raises_its_alert_in_time(
    part: str,
    mosquitto: MosquittoProcess,
    listener: Listener,
    gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    start, duration = WINDOWS[part]
    gw = gateway_factory(mosquitto.url, "--clock", "device", "--speed", "120", hall="county-01").start()
    simulate(mosquitto, tmp_path, "--scenario", "county", "--seed", "1", "--speed", "120",
             "--start", at(start).isoformat(), "--duration", duration)  # fmt: skip
    fired = gw.get("/api/alerts?state=all&limit=1000")
    assert isinstance(fired, list)
    missing = []
    for rule, labels, start_at, slack in EXPECTED[part]:
        hits = [a for a in fired if a["rule"] == rule and all(a["labels"].get(k) == v for k, v in labels.items())]
        first = min((datetime.fromisoformat(a["fired_at"]) for a in hits if a["fired_at"]), default=None)
        if first is None or not start_at <= first <= start_at + slack:
            missing.append((rule, labels, str(start_at), str(first)))
    assert missing == [], f"alerts missing or late (rule, subject, due, fired): {missing}"
    if part == "morning":
        tickets = gw.get("/api/tickets?status=all")
        devices = {t["device"] for t in tickets}  # type: ignore[union-attr]
        assert {"TM02", "K03"} <= devices, "printer and offline kiosk each got a fault ticket"
    assert gw.health()["counters"]["rejected_total"] == 0  # type: ignore[index]


# Prompts that are part of a normal hour: a slow answer to a call, a missed number, someone asking for help.
OPERATIONAL_PROMPTS = {"call-unanswered", "missed-ticket", "kiosk-help-requested"}


def test_a_calm_hour_raises_nothing_but_operational_prompts(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
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
    gw = gateway_factory(mosquitto.url, "--clock", "device", "--speed", "120", hall="county-01").start()
    simulate(mosquitto, tmp_path, "--scenario", str(calm), "--seed", "2", "--speed", "120",
             "--start", at("10:00").isoformat(), "--duration", "120m")  # fmt: skip
    fired = gw.get("/api/alerts?state=all&limit=1000")
    assert isinstance(fired, list)
    in_hour = [a for a in fired if a["fired_at"] and at("11:00") <= datetime.fromisoformat(a["fired_at"]) < at("12:00")]
    noise = sorted({a["rule"] for a in in_hour} - OPERATIONAL_PROMPTS)
    assert noise == [], [(a["rule"], a["reason"]) for a in in_hour if a["rule"] in noise]
    assert gw.get("/api/tickets?status=all") == []
    assert gw.get("/api/recommendations?status=all") == []
