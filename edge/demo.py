"""What the one-command demo adds: a gateway configuration made from a simulator scenario.

The gateway would learn the hall from the messages alone; the scenario only lends it names and locations, as a
hall's real configuration file would. Nothing the simulator keeps to itself (true service times, incidents) is
passed on: the gateway has to find those out like it would in a real hall.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml

from devices.simulator import Scenario, ZoneKind, day_bounds
from devices.topics import DeviceType
from devices.units import WEEKDAYS
from edge.auth import hash_password
from edge.config import GatewayConfig

DEMO_PASSWORD = "hallops-demo"
# one user per role; the demo's password is printed on start, so keep the demo off networks you do not trust
DEMO_USERS = {"manager": ("manager", "王经理"), "tech": ("technician", "李工"), "admin": ("administrator", "管理员")}


def scenario_config(
    scenario: Scenario,
    broker_url: str,
    db: Path,
    http: tuple[str, int],
    speed: float,
    users: Mapping[str, tuple[str, str]] | None = None,
    password: str = DEMO_PASSWORD,
    max_lead_s: float | None = None,
) -> GatewayConfig:
    """The gateway configuration for a simulated hall; `users` (name → role, display name) all get `password`.
    `max_lead_s` lets the device clock run on through quiet periods (tests and benchmarks that wait)."""
    h = scenario.hall
    digest = hash_password(password) if users else ""  # one Argon2 hash serves every user of the demo
    devices: dict[str, dict[str, object]] = {}
    for kind, group in (
        (DeviceType.TICKET_MACHINE, scenario.ticket_machines),
        (DeviceType.WINDOW, scenario.windows),
        (DeviceType.CALL_SCREEN, scenario.call_screens),
        (DeviceType.KIOSK, scenario.kiosks),
        (DeviceType.EVALUATOR, scenario.evaluators),
        (DeviceType.CAMERA, scenario.cameras),
    ):
        for d in group:
            devices[d.id] = {"type": kind.value, "location": getattr(d, "location", None)}
    # what each rating pad rates and each camera sees is the scenario's: the gateway holds them to it (device scope)
    for ev in scenario.evaluators:
        devices[ev.id]["windows"] = list(ev.windows)
    for cam in scenario.cameras:
        devices[cam.id]["zones"] = [z.id for z in cam.zones]
        devices[cam.id]["seats"] = [z.windows[0] for z in cam.zones if z.kind is ZoneKind.STAFF_SEAT]
    return GatewayConfig.model_validate(
        {
            "hall": {"id": h.id, "name": h.name, "name_en": h.name_en, "timezone": h.timezone},
            "mqtt": {"url": broker_url, "client_id": f"hallops-demo-{h.id}"},
            "storage": {"path": str(db)},
            "http": {"host": http[0], "port": http[1]},
            "clock": {"mode": "device", "speed": speed, **({"max_lead_s": max_lead_s} if max_lead_s else {})},
            "services": {s.code: {"name": s.name, "name_en": s.name_en} for s in scenario.services},
            "windows": {w.id: {"name": w.name or None, "services": list(w.services)} for w in scenario.windows},
            "devices": devices,
            "users": {
                name: {"role": role, "name": display, "password_hash": digest}
                for name, (role, display) in (users or {}).items()
            },
        }
    )


def save(cfg: GatewayConfig, path: Path) -> Path:
    """Write a configuration as the YAML file `hallops gateway --config` reads."""
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True), allow_unicode=True), "utf-8")
    return path


def demo_day(scenario: Scenario, today: date) -> tuple[datetime, datetime]:
    """The day the demo plays: today if the hall opens today, else its next opening day (halls close at weekends)."""
    for ahead in range(7):
        day = today + timedelta(days=ahead)
        if WEEKDAYS[day.weekday()] in scenario.hall.open_weekdays:
            return day_bounds(scenario, day)
    return day_bounds(scenario, today)
