"""What the one-command demo adds: a gateway configuration made from a simulator scenario.

The gateway would learn the hall from the messages alone; the scenario only lends it names and locations, as a
hall's real configuration file would. Nothing the simulator keeps to itself (true service times, incidents) is
passed on: the gateway has to find those out like it would in a real hall.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml

from devices.simulator import Scenario, ScenarioWindow, ZoneKind, day_bounds
from devices.topics import DeviceType
from devices.units import WEEKDAYS
from edge.config import GatewayConfig
from edge.passwords import hash_password

# published in the README: it signs in only to a demo that this machine alone can reach (`demo_passwords`)
DEMO_PASSWORD = "hallops-demo"
DEMO_USERS = {"manager": ("manager", "王经理"), "tech": ("technician", "李工"), "admin": ("administrator", "管理员")}
HALL_SNAPSHOT_S = 300.0  # storage.snapshot_every_s's default: seconds of the hall's time between saves of its state
SNAPSHOT_MIN_S = 1.0


def loopback(host: str) -> bool:
    """Whether only this machine reaches an address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def demo_passwords(host: str) -> dict[str, str]:
    """Each demo user's password: the published one on loopback; on any other address, which the LAN reaches, a new
    random one per user, for the demo to print once."""
    if loopback(host):
        return dict.fromkeys(DEMO_USERS, DEMO_PASSWORD)
    return {name: secrets.token_urlsafe(12) for name in DEMO_USERS}


def scenario_config(
    scenario: Scenario,
    broker_url: str,
    db: Path,
    http: tuple[str, int],
    speed: float,
    users: Mapping[str, tuple[str, str]] | None = None,
    password: str | Mapping[str, str] = DEMO_PASSWORD,
    max_lead_s: float | None = None,
) -> GatewayConfig:
    """The gateway configuration for a simulated hall; `users` (name → role, display name) all get `password`, or
    each their own from a mapping (`demo_passwords`). The published DEMO_PASSWORD is refused (ValueError) on an
    address other than loopback. `max_lead_s` lets the device clock run on through quiet periods (tests and
    benchmarks that wait)."""
    h = scenario.hall
    passwords = {name: password if isinstance(password, str) else password[name] for name in users or {}}
    if DEMO_PASSWORD in passwords.values() and not loopback(http[0]):
        raise ValueError(f"the published demo password would open a gateway on {http[0]} to the LAN")
    digests = {pw: hash_password(pw) for pw in set(passwords.values())}  # one Argon2 hash per password, not per user
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
            # the hall state saved every 5 minutes of the hall's time, as a real hall's is: a sped-up hall saving on
            # the wall clock replayed days of its traffic at every restart (the soak: 28 s to recover at 300 ×)
            "storage": {"path": str(db), "snapshot_every_s": max(SNAPSHOT_MIN_S, HALL_SNAPSHOT_S / speed)},
            "http": {"host": http[0], "port": http[1]},
            "clock": {"mode": "device", "speed": speed, **({"max_lead_s": max_lead_s} if max_lead_s else {})},
            "services": {s.code: {"name": s.name, "name_en": s.name_en} for s in scenario.services},
            "windows": {
                w.id: {"name": w.name or None, "name_en": w.name_en or None, "services": list(w.services)}
                for w in scenario.windows
            },
            "devices": devices,
            "zones": _zones(scenario),
            "staff": _staff(scenario),
            "users": {
                name: {"role": role, "name": display, "password_hash": digests[passwords[name]]}
                for name, (role, display) in (users or {}).items()
            },
        }
    )


def _staff(scenario: Scenario) -> dict[str, dict[str, object]]:
    """The scenario's roster: each window's staff member with the window as their post, their cross-skills and AB
    partner; the staff without a window (back-office approvers, mobile posts) with their skills."""
    out: dict[str, dict[str, object]] = {}
    for w in scenario.windows:
        if not w.staff_name:
            continue
        person: dict[str, object] = {"name": w.staff_name, "name_en": w.staff_name_en or None, "post": w.id}
        if w.skills:
            person["skills"] = list(w.skills)
        if w.partner:
            person["partner"] = w.partner
        if w.reserve or len(w.services) > 2:  # a reserve window, or one for many services: 综合窗口 (as the bench)
            person["kind"] = "comprehensive"
        if not w.reserve and (minutes := _lunch_min(scenario, w)) is not None:
            person["lunch_min"] = minutes  # the gateway plans when (错峰午休)
        out[w.staff_id] = person
    for m in scenario.staff:
        out[m.id] = {"name": m.name or m.id, "name_en": m.name_en or None, "kind": m.kind, "skills": list(m.skills)}
    return out


def _lunch_min(scenario: Scenario, w: ScenarioWindow) -> int | None:
    """The length of the lunch the scenario gives a window's person, when they take one within the gateway's lunch
    period (tidal.lunch, 11:00–14:00 by default) and their shift spans it."""
    lunch = w.lunch or scenario.hall.lunch
    if w.covers_lunch or lunch is None:
        return None
    if w.shift is not None and (w.shift.end <= lunch.start or w.shift.start >= lunch.end):
        return None
    minutes = (lunch.end.hour * 60 + lunch.end.minute) - (lunch.start.hour * 60 + lunch.start.minute)
    return minutes if 15 <= minutes <= 180 else None


def _zones(scenario: Scenario) -> dict[str, dict[str, str | None]]:
    """The display names of the scenario's camera zones: as it names them; a staff seat after its window (社保1号窗座位
    / Seat of Social insurance window 1)."""
    windows = {w.id: w for w in scenario.windows}
    zones: dict[str, dict[str, str | None]] = {}
    for cam in scenario.cameras:
        for z in cam.zones:
            if z.name:
                zones[z.id] = {"name": z.name, "name_en": z.name_en or None}
            elif z.kind is ZoneKind.STAFF_SEAT and z.windows and z.windows[0] in windows:
                w = windows[z.windows[0]]
                zh, en = w.name or w.id, w.name_en or w.name or w.id
                zones[z.id] = {"name": f"{zh}座位", "name_en": f"Seat of {en}"}
    return zones


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
