"""The hall model: event sequences in, the snapshot a hall manager would see out. Time is injected; no sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage, decode
from devices.simulator import load_scenario
from rules.hall import (
    Applied,
    HallProfile,
    HallSnapshot,
    HallState,
    Health,
    ServiceProfile,
    WindowStatus,
)
from rules.metrics import METRICS, subjects
from tests.unit.rules.feed import DAY_CLOSES, T0, Feed, county_day, issue, opened, profile_of, win


def run(messages: list[DeviceMessage], now_s: float, profile: HallProfile | None = None) -> HallSnapshot:
    state = HallState(profile or HallProfile("h1"))
    for m in messages:
        state.apply(m)
    return state.snapshot(T0 + timedelta(seconds=now_s))


def svc(snap: HallSnapshot, code: str = "tax") -> object:
    return next(s for s in snap.services if s.code == code)


def window(snap: HallSnapshot, wid: str) -> object:
    return next(w for w in snap.windows if w.window_id == wid)


def device(snap: HallSnapshot, did: str) -> object:
    return next(d for d in snap.devices if d.device_id == did)


Case = tuple[str, Callable[[Feed], list[DeviceMessage]], float, dict[str, object]]

CASES: list[Case] = [
    (
        "a ticket issued is waiting, its wait grows with the clock",
        lambda f: [issue(f, 0, "a1")],
        600,
        {"tax.waiting": 1, "tax.longest_wait_s": 600.0, "tax.oldest_ticket": "A1", "totals.waiting": 1},
    ),
    (
        "a called ticket stops waiting and its window shows it",
        lambda f: [opened(f, 0, "W1"), issue(f, 10, "a1"), win(f, 130, "W1", "ticket.called", ticket_id="a1")],
        200,
        {"tax.waiting": 0, "W1.current_number": "A1", "tax.mean_wait_60m_s": 120.0, "W1.idle_since": None},
    ),
    (
        "a call that overtakes its issue does not leave a phantom in the queue",
        lambda f: [win(f, 5, "W1", "ticket.called", ticket_id="a1"), issue(f, 0, "a1")],
        60,
        {"tax.waiting": 0, "tax.issued_today": 1, "tax.mean_wait_60m_s": 5.0},
    ),
    (
        "projected wait = queue × default AHT ÷ open windows that serve the service",
        lambda f: [opened(f, 0, "W1"), issue(f, 1, "a1"), issue(f, 2, "a2"), issue(f, 3, "a3")],
        10,
        {"tax.projected_wait_s": 3 * 600.0, "tax.capable_windows": 1, "tax.aht_learned": False},
    ),
    (
        "a paused window is not capable; the other one carries the queue",
        lambda f: [
            opened(f, 0, "W1"),
            opened(f, 0, "W2"),
            win(f, 5, "W2", "window.paused", reason="meeting"),
            issue(f, 6, "a1"),
            issue(f, 7, "a2"),
        ],
        60,
        {
            "tax.capable_windows": 1,
            "tax.projected_wait_s": 1200.0,
            "W2.status": WindowStatus.PAUSED,
            "W2.pause_reason": "meeting",
            "totals.windows_paused": 1,
        },
    ),
    (
        "no open window for a waiting queue: projected wait is unknown, not zero",
        lambda f: [issue(f, 0, "a1")],
        10,
        {"tax.projected_wait_s": None, "tax.capable_windows": 0},
    ),
    (
        "mean service time is learned after five completions",
        lambda f: (
            [opened(f, 0, "W1")]
            + [
                m
                for i, d in enumerate([300, 400, 500, 600, 700])
                for m in (
                    issue(f, i * 1000 + 1, f"a{i}"),
                    win(f, i * 1000 + 2, "W1", "ticket.called", ticket_id=f"a{i}"),
                    win(f, i * 1000 + 3, "W1", "service.started", ticket_id=f"a{i}"),
                    win(f, i * 1000 + 3 + d, "W1", "service.completed", ticket_id=f"a{i}", duration_s=d),
                )
            ]
        ),
        5000,
        {"tax.mean_service_s": 500.0, "tax.aht_learned": True, "tax.completed_today": 5, "W1.served_today": 5},
    ),
    (
        "without duration_s the handling time is measured from service.started",
        lambda f: (
            [opened(f, 0, "W1")]
            + [
                m
                for i in range(5)
                for m in (
                    issue(f, i * 1000 + 1, f"a{i}"),
                    win(f, i * 1000 + 2, "W1", "service.started", ticket_id=f"a{i}"),
                    win(f, i * 1000 + 242, "W1", "service.completed", ticket_id=f"a{i}"),
                )
            ]
        ),
        5000,
        {"tax.mean_service_s": 240.0},
    ),
    (
        "a no-show frees the window and is counted",
        lambda f: [
            opened(f, 0, "W1"),
            issue(f, 1, "a1"),
            win(f, 10, "W1", "ticket.called", ticket_id="a1", attempt=3),
            win(f, 200, "W1", "ticket.no_show", ticket_id="a1", attempt=3),
        ],
        300,
        {"tax.no_shows_today": 1, "W1.current_ticket": None, "W1.idle_since": T0 + timedelta(seconds=200)},
    ),
    (
        "a missed ticket re-activated (green channel) waits again",
        lambda f: [
            issue(f, 0, "a1"),
            win(f, 10, "W1", "ticket.called", ticket_id="a1"),
            win(f, 100, "W1", "ticket.no_show", ticket_id="a1"),
            f("ticket_machine", "tm1", 400, type="ticket.reactivated", ticket_id="a1"),
        ],
        500,
        {"tax.waiting": 1, "tax.waiting_by_channel": {"green_channel": 1}},
    ),
    (
        "a transfer moves the ticket to the other service's queue",
        lambda f: [
            issue(f, 0, "a1"),
            win(f, 10, "W1", "ticket.called", ticket_id="a1"),
            win(f, 20, "W1", "ticket.transferred", ticket_id="a1", to_service="land"),
        ],
        30,
        {"tax.waiting": 0, "land.waiting": 1, "W1.current_ticket": None},
    ),
    (
        "a cancelled ticket leaves the queue",
        lambda f: [
            issue(f, 0, "a1"),
            issue(f, 1, "a2"),
            f("ticket_machine", "tm1", 5, type="ticket.cancelled", ticket_id="a1"),
        ],
        10,
        {"tax.waiting": 1, "tax.oldest_ticket": "A2"},
    ),
    (
        "a window terminal's last will shows the window offline",
        lambda f: [opened(f, 0, "W1"), f("window", "W1", 50, on="state", will=True)],
        60,
        {
            "W1.status": WindowStatus.OFFLINE,
            "W1.online": False,
            "dev:W1.health": Health.OFFLINE,
            "dev:W1.last_seen": T0,  # when the device last spoke, not when the broker announced its will
            "dev:W1.since": T0 + timedelta(seconds=50),
            "totals.windows_offline": 1,
            "tax.capable_windows": 0,
        },
    ),
    (
        "a ticket machine out of paper is faulty; paper low is degraded",
        lambda f: [
            f("ticket_machine", "tm1", 0, on="state", online=True, printer="paper_out", paper_pct=0),
            f("ticket_machine", "tm2", 0, on="state", online=True, printer="paper_low", paper_pct=8),
        ],
        10,
        {
            "dev:tm1.health": Health.FAULT,
            "dev:tm1.problems": ("printer.paper_out",),
            "dev:tm2.health": Health.DEGRADED,
            "totals.devices_faulty": 1,
        },
    ),
    (
        "a blank call screen is faulty until it reports its display ok",
        lambda f: [
            f("call_screen", "cs1", 0, on="state", online=True, display="ok"),
            f("call_screen", "cs1", 10, type="display.error", code="blank"),
        ],
        20,
        {"dev:cs1.health": Health.FAULT, "dev:cs1.problems": ("display.blank",)},
    ),
    (
        "…and recovers with a healthy state",
        lambda f: [
            f("call_screen", "cs1", 10, type="display.error", code="blank"),
            f("call_screen", "cs1", 60, on="state", online=True, display="ok"),
        ],
        70,
        {"dev:cs1.health": Health.OK, "dev:cs1.problems": ()},
    ),
    (
        "camera counts set zone occupancy and staff presence",
        lambda f: [
            opened(f, 0, "W1"),
            f("camera", "cam1", 5, type="occupancy", zones={"wait-A": 14, "kiosk": 3}, staff_present={"W1": False}),
        ],
        10,
        {"zone:wait-A": 14, "zone:kiosk": 3, "W1.staff_present": False, "totals.people_counted": 17},
    ),
    (
        "arrivals are counted over the last 15 and 60 minutes",
        lambda f: [issue(f, t, f"a{i}") for i, t in enumerate([0, 1000, 2000, 3000, 3300])],
        3601,
        {"tax.arrivals_15m": 2, "tax.arrivals_60m": 4},
    ),
    (
        "a new day expires yesterday's waiting tickets and restarts the day's counters",
        lambda f: [issue(f, 0, "a1"), issue(f, 24 * 3600, "b1", service="land")],
        24 * 3600 + 60,
        {"tax.waiting": 0, "tax.issued_today": 0, "land.waiting": 1, "totals.waiting": 1},
    ),
    (
        "a number cancelled at the ticket machine while a window calls it: the window no longer waits for it",
        lambda f: [
            opened(f, 0, "W1"),
            issue(f, 1, "a1"),
            win(f, 10, "W1", "ticket.called", ticket_id="a1"),
            f("ticket_machine", "tm1", 20, type="ticket.cancelled", ticket_id="a1"),
        ],
        30,
        {"W1.current_number": "A1", "W1.calling_since": None, "W1.last_call_at": T0 + timedelta(seconds=10)},
    ),
    (
        "a call that overtakes its issue shows the number once the issue arrives",
        lambda f: [opened(f, 0, "W1"), win(f, 5, "W1", "ticket.called", ticket_id="a1"), issue(f, 6, "a1")],
        10,
        {"W1.current_number": "A1", "W1.current_service": "tax", "tax.serving": 1},
    ),
    (
        "a transfer that overtakes its issue leaves the ticket in the queue it was sent to, with its issue time",
        lambda f: [
            opened(f, 0, "W1", "tax", "land"),
            win(f, 5, "W1", "ticket.transferred", ticket_id="a1", to_service="land"),
            issue(f, 1, "a1"),
        ],
        61,
        {
            "land.waiting": 1,
            "land.oldest_ticket": "A1",
            "land.longest_wait_s": 60.0,
            "tax.waiting": 0,
            "tax.issued_today": 1,
        },
    ),
    (
        "a new day restarts a window's count of people served",
        lambda f: [
            opened(f, 0, "W1"),
            issue(f, 1, "a1"),
            win(f, 2, "W1", "ticket.called", ticket_id="a1"),
            win(f, 3, "W1", "service.started", ticket_id="a1"),
            win(f, 4, "W1", "service.completed", ticket_id="a1"),
            issue(f, 24 * 3600, "b1", service="land"),
        ],
        24 * 3600 + 60,
        {"W1.served_today": 0, "W1.status": WindowStatus.OPEN},
    ),
    (
        "a kiosk error counts in the last 15 minutes",
        lambda f: [f("kiosk", "k1", t, type="kiosk.error", code="print_fail") for t in (0, 800, 1200)],
        1300,
        {"dev:k1.errors_15m": 2, "dev:k1.last_error": "print_fail"},
    ),
]


def _value(snap: HallSnapshot, key: str) -> object:
    if key.startswith("zone:"):
        return next(z.count for z in snap.zones if z.zone_id == key[5:])
    owner, _, attr = key.rpartition(".")
    if owner == "totals":
        return getattr(snap.totals, attr)
    if owner.startswith("dev:"):
        return getattr(device(snap, owner[4:]), attr)
    if owner.startswith("W"):
        return getattr(window(snap, owner), attr)
    return getattr(svc(snap, owner), attr)


@pytest.mark.parametrize(("name", "events", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_snapshot(
    name: str, events: Callable[[Feed], list[DeviceMessage]], now: float, expected: dict[str, object]
) -> None:
    snap = run(events(Feed()), now)
    got = {key: _value(snap, key) for key in expected}
    assert got == expected
    # looked at after every message (views kept between snapshots, rebuilt as they change): the same hall
    state, seen = HallState(HallProfile("h1")), T0
    for m in events(Feed()):
        state.apply(m)
        seen = max(seen, m.at)
        state.snapshot(seen)
    assert state.snapshot(T0 + timedelta(seconds=now)) == snap


def test_redelivered_message_is_applied_once() -> None:
    f = Feed()
    m = issue(f, 0, "a1")
    state = HallState(HallProfile("h1"))
    assert state.apply(m) is Applied.APPLIED
    assert state.apply(m) is Applied.DUPLICATE
    snap = state.snapshot(T0)
    assert svc(snap).issued_today == 1


def test_configured_names_and_default_service_time() -> None:
    profile = HallProfile("h1", services=(ServiceProfile("tax", "税务", "Tax", default_aht_s=300.0),))
    f = Feed()
    snap = run([opened(f, 0, "W1"), issue(f, 1, "a1"), issue(f, 2, "a2")], 10, profile)
    s = svc(snap)
    assert (s.name, s.name_en, s.mean_service_s, s.projected_wait_s) == ("税务", "Tax", 300.0, 600.0)


def test_times_are_in_the_hall_time_zone() -> None:
    f = Feed()
    snap = run([opened(f, 0, "W1")], 10, HallProfile("h1", timezone="Asia/Urumqi"))
    assert snap.at.utcoffset() == timedelta(hours=6)
    assert window(snap, "W1").idle_since.utcoffset() == timedelta(hours=6)


def test_state_survives_dump_and_load() -> None:
    """What the gateway saves is what it restores: the same snapshot, and duplicates still recognised."""
    f = Feed()
    msgs = [
        opened(f, 0, "W1"),
        issue(f, 1, "a1"),
        issue(f, 2, "a2"),
        win(f, 3, "W1", "ticket.called", ticket_id="a1"),
        win(f, 4, "W1", "service.started", ticket_id="a1"),
        f("camera", "cam1", 5, type="occupancy", zones={"wait-A": 4}, staff_present={"W1": True}),
        f("ticket_machine", "tm1", 6, on="state", online=True, printer="paper_low", paper_pct=9),
        f("kiosk", "k1", 7, type="kiosk.error", code="ui_freeze"),
    ]
    state = HallState(HallProfile("h1"))
    for m in msgs:
        state.apply(m)
    restored = HallState.load(HallProfile("h1"), state.dump())
    now = T0 + timedelta(seconds=30)
    assert restored.snapshot(now) == state.snapshot(now)
    assert restored.apply(msgs[-1]) is Applied.DUPLICATE


def _hb(device: str, seq: int, t: float) -> DeviceMessage:
    body = {"v": 1, "ts": (T0 + timedelta(seconds=t)).isoformat(), "seq": seq}
    msg = decode(f"hall/h1/kiosk/{device}/hb", json.dumps(body).encode(), T0 + timedelta(seconds=t))
    assert msg is not None
    return msg


@pytest.mark.parametrize(
    ("name", "sequence", "expected"),
    [
        (
            "a long redelivery after a broker restart is recognised in full",
            [(s, s) for s in range(1, 3001)] + [(s, s) for s in range(1, 3001)],
            3000,
        ),
        ("messages arriving out of order are all kept", [(s, s) for s in (5, 3, 4, 1, 2, 2, 5)], 5),
        (
            "a device that restarts its counter is heard again",
            [(s, s) for s in range(1, 101)] + [(s, 1000 + s) for s in range(1, 51)],
            150,
        ),
        (
            "gaps fill in and a repeat inside a gap's old range is still a duplicate",
            [(s, s) for s in range(1, 800, 2)] + [(s, s) for s in range(2, 801, 2)] + [(377, 377)],
            800,
        ),
    ],
)
def test_duplicates_by_sequence_number(name: str, sequence: list[tuple[int, float]], expected: int) -> None:
    state = HallState(HallProfile("h1"))
    applied = sum(state.apply(_hb("k1", seq, t)) is Applied.APPLIED for seq, t in sequence)
    assert applied == expected


def test_views_kept_between_snapshots_match_views_built_afresh() -> None:
    """The snapshot rebuilds only the windows, devices and services that changed since the previous one. Through a
    simulated county day with every kind of incident (paper out, staff leaving the seat, a kiosk offline, an error
    burst, a surge, a blank screen), a snapshot taken every few messages equals one built from nothing: a stale view
    would show a manager a window serving a number it finished long ago."""
    profile = profile_of(load_scenario("county"))
    state = HallState(profile)
    applied = compared = later = 0
    for m in county_day().messages:
        state.apply(m)
        applied += 1
        if applied % 7:
            continue
        kept = state.snapshot(m.at)
        if applied % 203 == 0:
            assert kept == HallState.load(profile, state.dump()).snapshot(m.at), m.at
            compared += 1
        if applied % 4004 == 0:  # an hour on, nothing new: the rolling counts and waits age alike
            hour = m.at + timedelta(hours=1)
            assert state.snapshot(hour) == HallState.load(profile, state.dump()).snapshot(hour), hour
            later += 1
    assert compared > 100 and later > 5
    final = state.snapshot(DAY_CLOSES)
    assert final == HallState.load(profile, state.dump()).snapshot(DAY_CLOSES)
    assert sum(w.served_today for w in final.windows) > 150


def test_a_window_left_naming_a_forgotten_ticket_shows_no_number() -> None:
    """A number cancelled while its window called it stays that window's current ticket until the window moves on;
    hours later the hall forgets finished tickets, and a window looked at all along shows what a fresh look shows."""
    f = Feed()
    state = HallState(HallProfile("h1"))
    for m in (
        opened(f, 0, "W1"),
        issue(f, 1, "a1"),
        win(f, 10, "W1", "ticket.called", ticket_id="a1"),
        f("ticket_machine", "tm1", 20, type="ticket.cancelled", ticket_id="a1"),
    ):
        state.apply(m)
    assert window(state.snapshot(T0 + timedelta(seconds=30)), "W1").current_number == "A1"
    t = 5 * 3600.0
    for seq in range(1, 2001):  # the hall tidies up every 2,000 messages
        state.apply(_hb("k1", seq, t + seq))
    now = T0 + timedelta(seconds=t + 2001)
    kept = state.snapshot(now)
    assert window(kept, "W1").current_ticket == "a1" and window(kept, "W1").current_number is None
    assert kept == HallState.load(HallProfile("h1"), state.dump()).snapshot(now)


def test_a_partial_snapshot_holds_what_each_metric_reads() -> None:
    """A backtest evaluating a few rules at their deadline builds only the parts of the hall they read (each metric
    declares what it reads beyond its own subject). Every metric, read from such a partial snapshot, gives what it
    gives from the whole hall, through a simulated county day: a metric reading an undeclared part would read an
    empty one and a backtest would miss its alerts."""
    profile = profile_of(load_scenario("county"))
    state = HallState(profile)
    looked = 0
    for i, m in enumerate(county_day().messages):
        state.apply(m)
        if i % 1500:
            continue
        whole = state.snapshot(m.at)
        for name, metric in METRICS.items():
            needs = metric.needs
            if needs is None:
                continue  # hall metrics read the totals: always the whole hall
            part = state.partial(m.at, {f"{kind.value}s" for kind in needs})
            for (labels, view), (_, partial_view) in zip(
                subjects(metric.subject, whole), subjects(metric.subject, part), strict=True
            ):
                assert metric.read(partial_view, part, m.at) == metric.read(view, whole, m.at), (name, labels, m.at)
                looked += 1
    assert looked > 10_000
