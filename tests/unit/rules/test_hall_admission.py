"""What a hall takes in (issue 16): windows, services and devices come from the configuration where it lists them,
and are otherwise learned under caps; zones are learned under a cap. A message naming anything else is refused
whole with a reason and the field path, and the hall a manager sees is as if it had never come."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.codec import DeviceMessage, decode
from devices.simulator import HallSimulation, load_scenario
from devices.topics import DeviceType
from edge.demo import scenario_config
from rules.hall import (
    DeviceProfile,
    EntityCaps,
    HallProfile,
    HallState,
    ServiceProfile,
    WindowProfile,
)
from tests.unit.rules.feed import T0, Feed, county_day, ingest, issue, opened, win

CONFIGURED = HallProfile(
    "h1",
    services=(ServiceProfile("tax"), ServiceProfile("id")),
    windows=(WindowProfile("W1", services=("tax",)), WindowProfile("W2", services=("id",))),
    devices=(
        DeviceProfile("tm1", DeviceType.TICKET_MACHINE),
        DeviceProfile("W1", DeviceType.WINDOW),
        DeviceProfile("W2", DeviceType.WINDOW),
    ),
)
WINDOWS_ONLY = HallProfile("h1", windows=(WindowProfile("W1"), WindowProfile("W2")))


def booking(f: Feed, t: float, service: str) -> DeviceMessage:
    slot = (T0 + timedelta(hours=1)).isoformat()
    return f("ticket_machine", "tm1", t, type="appointment.booked", appointment_id=f"b{t}", service=service, slot=slot)


SMALL = HallProfile("h1", caps=EntityCaps(windows=3, services=2, zones=2, devices=4))

Make = Callable[[Feed], DeviceMessage]


def cam(f: Feed, zones: dict[str, int] | None = None, staff: dict[str, bool] | None = None) -> DeviceMessage:
    return f("camera", "cam1", 5, type="occupancy", zones=zones or {}, staff_present=staff or {})


def opens(window: str) -> Make:
    return lambda f: opened(f, 1, window)


def hb(device: str, kind: str = "kiosk") -> Make:
    return lambda f: f(kind, device, 1, on="hb")


Case = tuple[str, HallProfile, list[Make], Make, tuple[str, str] | None]

CASES: list[Case] = [
    # (case, profile, messages before, the message, (reason, path) or None when it is taken in)
    # -- a configured hall: its lists are closed
    ("a ticket for a configured service", CONFIGURED, [], lambda f: issue(f, 1, "a1"), None),
    (
        "a ticket for a service the hall does not offer",
        CONFIGURED,
        [],
        lambda f: issue(f, 1, "a1", service="land"),
        ("unknown_service", "service"),
    ),
    (
        "a window logging in for an unknown service",
        CONFIGURED,
        [],
        lambda f: opened(f, 1, "W1", "tax", "land"),
        ("unknown_service", "services[1]"),
    ),
    (
        "a transfer to an unknown service",
        CONFIGURED,
        [],
        lambda f: win(f, 1, "W1", "ticket.transferred", ticket_id="a1", to_service="land"),
        ("unknown_service", "to_service"),
    ),
    (
        "a missed number put back into an unknown service",
        CONFIGURED,
        [],
        lambda f: f("ticket_machine", "tm1", 1, type="ticket.reactivated", ticket_id="a1", service="land"),
        ("unknown_service", "service"),
    ),
    (
        "an appointment for an unknown service",
        CONFIGURED,
        [],
        lambda f: f("ticket_machine", "tm1", 1, type="appointment.checked_in", appointment_id="ap1", service="land"),
        ("unknown_service", "service"),
    ),
    (
        "a kiosk session of an unknown service (kiosks themselves are learned)",
        CONFIGURED,
        [],
        lambda f: f("kiosk", "k1", 1, type="kiosk.session", service="land", outcome="success", duration_s=60),
        ("unknown_service", "service"),
    ),
    ("a kiosk, a type the configuration lists none of", CONFIGURED, [], hb("k1"), None),
    (
        "a second ticket machine where the configuration lists one",
        CONFIGURED,
        [],
        hb("tm2", "ticket_machine"),
        ("unknown_device", ""),
    ),
    (
        "a window terminal the configuration does not list",
        CONFIGURED,
        [],
        lambda f: opened(f, 1, "W9"),
        ("unknown_device", ""),
    ),
    (
        "a window terminal of a window the configuration does not list",
        WINDOWS_ONLY,
        [],
        lambda f: opened(f, 1, "W9"),
        ("unknown_window", ""),
    ),
    (
        "a qms naming a window the configuration does not list",
        WINDOWS_ONLY,
        [],
        lambda f: f("qms", "q1", 1, type="window.closed", window_id="W9"),
        ("unknown_window", "window_id"),
    ),
    (
        "a rating for a window the configuration does not list",
        CONFIGURED,
        [],
        lambda f: f("evaluator", "e1", 1, type="rating.submitted", window_id="W9", score=5),
        ("unknown_window", "window_id"),
    ),
    (
        "a camera watching the seat of a window the configuration does not list",
        CONFIGURED,
        [],
        lambda f: cam(f, {"wait": 3}, {"W1": True, "W9": False}),
        ("unknown_window", "staff_present.W9"),
    ),
    ("a camera watching the configured seats", CONFIGURED, [], lambda f: cam(f, {"wait": 3}, {"W1": True}), None),
    # -- a hall that learns: every kind up to its cap, and what it knows is never refused
    (
        "a camera naming one zone more than the cap",
        SMALL,
        [],
        lambda f: cam(f, {"z1": 1, "z2": 2, "z3": 3}),
        ("entity_cap", "zones.z3"),
    ),
    (
        "a camera reporting the zones it reported before, at the cap",
        SMALL,
        [lambda f: cam(f, {"z1": 1, "z2": 2})],
        lambda f: cam(f, {"z2": 0, "z1": 4}),
        None,
    ),
    (
        "a camera naming one seat more than the window cap",
        SMALL,
        [],
        lambda f: cam(f, staff={"W1": True, "W2": True, "W3": True, "W4": False}),
        ("entity_cap", "staff_present.W4"),
    ),
    (
        "a third service where two are the cap",
        SMALL,
        [lambda f: issue(f, 1, "a1", "tax"), lambda f: issue(f, 2, "a2", "id")],
        lambda f: issue(f, 3, "a3", "land"),
        ("entity_cap", "service"),
    ),
    (
        "a booking for a third service where two bookings named the cap",
        SMALL,
        [lambda f: booking(f, 1, "tax"), lambda f: booking(f, 2, "id")],
        lambda f: booking(f, 3, "land"),
        ("entity_cap", "service"),
    ),
    (
        "a window opening for the same new service twice learns it once",
        SMALL,
        [lambda f: issue(f, 1, "a1", "tax")],
        lambda f: opened(f, 2, "W1", "id", "id"),
        None,
    ),
    (
        "a window opening for more services than the cap",
        SMALL,
        [],
        lambda f: opened(f, 2, "W1", "tax", "id", "land"),
        ("entity_cap", "services[2]"),
    ),
    (
        "a rating naming a fourth window",
        SMALL,
        [opens("W1"), opens("W2"), opens("W3")],
        lambda f: f("evaluator", "e1", 5, type="rating.skipped", window_id="W4"),
        ("entity_cap", "window_id"),
    ),
    (
        "a fifth device where four are the cap",
        SMALL,
        [hb(d) for d in ("k1", "k2", "k3", "k4")],
        hb("k5"),
        ("entity_cap", ""),
    ),
    ("a known device at the cap", SMALL, [hb(d) for d in ("k1", "k2", "k3", "k4")], hb("k2"), None),
]


@pytest.mark.parametrize(("name", "profile", "before", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_message_naming_what_the_hall_does_not_admit_is_refused_whole(
    name: str, profile: HallProfile, before: list[Make], make: Make, expected: tuple[str, str] | None
) -> None:
    f = Feed()
    state = HallState(profile)
    for m in before:
        assert ingest(state, m(f)) is None
    now = T0 + timedelta(minutes=5)
    seen = state.snapshot(now)
    refused = ingest(state, make(f))
    assert refused == expected
    if refused is not None:
        assert state.snapshot(now) == seen, "nothing of a refused message reaches the hall"


def test_forty_camera_messages_of_a_flood_leave_the_hall_as_it_was() -> None:
    """The issue's flood: each 64 KiB camera message names thousands of windows and zones. None is taken in, and
    the hall keeps the windows it knows and a bounded answer."""
    f = Feed()
    state = HallState(HallProfile("h1"))
    assert ingest(state, opened(f, 0, "W1")) is None
    reasons: Counter[str] = Counter()
    for i in range(40):
        seats = {f"W{i}-{n}": True for n in range(2250)}
        zones = {f"z{i}-{n}": 1 for n in range(50)}
        refused = ingest(state, cam(f, zones, seats))
        assert refused is not None
        reasons[refused[0]] += 1
    snap = state.snapshot(T0 + timedelta(minutes=5))
    assert reasons == {"entity_cap": 40}
    assert [w.window_id for w in snap.windows] == ["W1"] and snap.zones == ()


def test_a_saved_state_is_cut_to_what_the_configuration_admits() -> None:
    """A box saved under a learning configuration, restarted with windows and services listed (or with lower caps):
    what is not admitted any more is gone, the latest learned first, and does not come back with a late event."""
    f = Feed()
    learned = HallState(HallProfile("h1"))
    for m in (
        opened(f, 0, "W1", "tax"),
        opened(f, 1, "W2", "id"),
        opened(f, 2, "W3", "land"),
        issue(f, 3, "a1", "tax"),
        issue(f, 4, "l1", "land"),
        cam(f, {"z1": 1, "z2": 2, "z3": 3}),
        hb("k1")(f),
        hb("k2")(f),
    ):
        learned.apply(m)
    saved = learned.dump()
    now = T0 + timedelta(minutes=5)

    listed = HallState.load(CONFIGURED, saved)
    snap = listed.snapshot(now)
    assert [w.window_id for w in snap.windows] == ["W1", "W2"]
    assert sorted(s.code for s in snap.services) == ["id", "tax"]
    assert {d.device_id for d in snap.devices} >= {"k1", "k2"}  # kiosks: a type the configuration lists none of
    listed.apply(win(f, 10, "W1", "ticket.called", ticket_id="l1"))  # a call of the dropped service's ticket
    assert sorted(s.code for s in listed.snapshot(now).services) == ["id", "tax"]

    capped = HallState.load(HallProfile("h1", caps=EntityCaps(windows=2, services=2, zones=2, devices=3)), saved)
    snap = capped.snapshot(now)
    assert [w.window_id for w in snap.windows] == ["W1", "W2"]
    assert [z.zone_id for z in snap.zones] == ["z1", "z2"]
    assert len(snap.devices) == 3
    assert sorted(s.code for s in snap.services) == ["id", "tax"]


def test_a_saved_state_within_its_configuration_restores_as_it_was() -> None:
    f = Feed()
    state = HallState(CONFIGURED)
    for m in (opened(f, 0, "W1"), issue(f, 1, "a1"), cam(f, {"wait": 2}, {"W1": True}), hb("k1")(f)):
        assert ingest(state, m) is None
    now = T0 + timedelta(minutes=5)
    assert HallState.load(CONFIGURED, state.dump()).snapshot(now) == state.snapshot(now)


def _demo_profile(scenario: str) -> HallProfile:
    cfg = scenario_config(load_scenario(scenario), "mqtt://127.0.0.1:1", Path("unused.db"), ("127.0.0.1", 0), 1.0)
    return cfg.profile()


def test_the_demo_configuration_admits_every_message_of_the_county_day() -> None:
    """The one-command demo configures the scenario's services, windows and devices: a simulated day with every
    incident stays inside those lists (and its zones inside the cap)."""
    state = HallState(_demo_profile("county"))
    refused = Counter(r for m in county_day().messages if (r := ingest(state, m)) is not None)
    assert refused == Counter()


def test_the_demo_configuration_admits_the_city_hall_opening() -> None:
    """The city hall's first hour: every device connects, every window opens, every camera reports its zones."""
    tz = ZoneInfo("Asia/Shanghai")
    state = HallState(_demo_profile("city"))
    simulation = HallSimulation(
        load_scenario("city"), 1, datetime(2026, 11, 23, 8, 0, tzinfo=tz), datetime(2026, 11, 23, 9, 0, tzinfo=tz)
    )
    refused: Counter[tuple[str, str]] = Counter()
    for m in simulation.messages():
        msg = decode(m.topic, m.payload, m.at) if m.kind != "connect" else None
        if msg is not None and (r := ingest(state, msg)) is not None:
            refused[r] += 1
    snap = state.snapshot(datetime(2026, 11, 23, 9, 0, tzinfo=tz))
    assert refused == Counter()
    assert len(snap.windows) == 60 and len(snap.zones) == 73
