"""The gateway's own downtime does not count against the devices (issue 16): heartbeats it could not hear while it
was down, cut off from the broker or paused are not heartbeats the devices missed. Hall time is T0 + seconds; the
gateway tells the hall when it was deaf (`HallState.blind`); no sleeps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from rules.alerts import NotifyReason
from rules.engine import Notify, RuleEngine
from rules.hall import HallProfile, HallState
from rules.language import builtin_rules
from rules.metrics import METRICS
from tests.unit.rules.feed import T0, Feed

SILENT = METRICS["device.silent_s"]
TM_TIMEOUT_S = 90  # device-offline: a ticket machine silent this long


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def silent_s(state: HallState, device: str, now: float) -> float | None:
    snap = state.snapshot(at(now))
    view = next(d for d in snap.devices if d.device_id == device)
    value = SILENT.read(view, snap, at(now))
    assert value is None or isinstance(value, float)
    return value


def heard(*times: float, device: str = "tm1", feed: Feed | None = None, state: HallState | None = None) -> HallState:
    """A hall that heard the device's heartbeats at `times`."""
    state = state or HallState(HallProfile("h1"))
    f = feed or Feed()
    for t in times:
        state.apply(f("ticket_machine", device, t, on="hb"))
    return state


# (name, heartbeats, spans the gateway was deaf, now, the device's silence then)
CASES: list[tuple[str, tuple[float, ...], list[tuple[float, float]], float, float]] = [
    ("told nothing, the silence is the time since its last message", (0,), [], 620, 620),
    ("heard just before the gateway went down: its silence counts from the restart", (0,), [(10, 600)], 620, 30),
    ("silent before the gateway went down: as silent as it was, plus the time since", (-300,), [(10, 600)], 620, 330),
    ("heard after the gateway came back: nothing to take away", (0, 605), [(10, 600)], 620, 15),
    ("two outages both left out", (0,), [(10, 100), (200, 400)], 450, 450 - 90 - 200),
    ("overlapping reports of one outage count once", (0,), [(10, 100), (50, 200)], 250, 250 - 190),
    ("a span told again with a later end (a long outage) counts once", (0,), [(10, 100), (10, 300)], 320, 30),
    ("looked at during the outage: the silence stands still", (0,), [(10, 600)], 300, 10),
    ("a span before its last message changes nothing", (500,), [(10, 400)], 560, 60),
]


@pytest.mark.parametrize(("name", "times", "spans", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_silence_leaves_out_the_gateways_deaf_time(
    name: str, times: tuple[float, ...], spans: list[tuple[float, float]], now: float, expected: float
) -> None:
    state = heard(*times)
    for start, end in spans:
        state.blind(at(start).timestamp(), at(end).timestamp())
    assert silent_s(state, "tm1", now) == pytest.approx(expected)
    # the same from a state restored by the next start (what the next restart's overlap is measured against)
    assert silent_s(HallState.load(HallProfile("h1"), state.dump()), "tm1", now) == pytest.approx(expected)


def test_a_span_told_after_the_hall_was_looked_at_moves_the_silence_at_once() -> None:
    """The views kept between snapshots: the gateway says it was deaf after a snapshot already showed the device
    silent for ten minutes; the next snapshot shows the silence without the outage, and the true last message."""
    state = heard(0)
    assert silent_s(state, "tm1", 620) == 620
    state.blind(at(10).timestamp(), at(600).timestamp())
    assert silent_s(state, "tm1", 621) == 31
    view = next(d for d in state.snapshot(at(621)).devices if d.device_id == "tm1")
    assert view.last_seen == at(0), "the last seen people read stays when it was really heard"
    assert view.silent_since == at(590)


def test_looked_at_inside_an_outage_then_after_it() -> None:
    """A view made while the gateway was still deaf is not kept once the outage is over: the silence grows again."""
    state = heard(0)
    state.blind(at(10).timestamp(), at(600).timestamp())
    assert [silent_s(state, "tm1", t) for t in (5, 300, 599, 600, 650)] == [5, 10, 10, 10, 60]


def _offline_alerts(told: bool) -> dict[str, int]:
    """Two hours of a hall with three ticket machines beating every 30 s, the gateway killed ten times for two
    minutes each (hearing and evaluating nothing meanwhile), tm3 dead for good after an hour. Firing notifications
    of `device-offline` per device."""
    state, f, engine = HallState(HallProfile("h1")), Feed(), RuleEngine(builtin_rules())
    down = [(600.0 * k + 100, 600.0 * k + 220) for k in range(1, 11)]
    fired: dict[str, int] = {}
    for t in range(0, 7200, 5):
        if any(start <= t < end for start, end in down):
            continue
        for device in ("tm1", "tm2", "tm3"):
            if t % 30 == 0 and (device != "tm3" or t < 3600):
                state.apply(f("ticket_machine", device, t, on="hb"))
        for start, end in down:
            if t == end and told:  # the gateway, starting, says since when it heard nothing
                state.blind(at(start).timestamp(), at(end).timestamp())
        for d in engine.evaluate(state.snapshot(at(t)), at(t)):
            if isinstance(d, Notify) and d.alert.rule_id == "device-offline" and d.reason is NotifyReason.FIRING:
                fired[d.alert.labels["device"]] = fired.get(d.alert.labels["device"], 0) + 1
    return fired


@pytest.mark.parametrize(
    ("told", "expected"),
    [
        (True, {"tm3": 1}),  # only the machine that really died, once
        (False, {"tm1": 10, "tm2": 10, "tm3": 6}),  # without it, every restart takes every device offline
    ],
    ids=["the gateway tells its downtime", "told nothing (before issue 16)"],
)
def test_ten_restarts_take_no_device_offline(told: bool, expected: dict[str, int]) -> None:
    assert _offline_alerts(told) == expected


def test_a_device_already_offline_before_the_restart_is_not_fired_again() -> None:
    """Its alert went off before the gateway went down and stays the one alert, from the same moment."""
    state, f, engine = HallState(HallProfile("h1")), Feed(), RuleEngine(builtin_rules())
    state.apply(f("ticket_machine", "tm1", -300, on="hb"))
    firings = []
    for t in (-300, -200, -100, 0, 5):
        firings += engine.evaluate(state.snapshot(at(t)), at(t))
    state.blind(at(10).timestamp(), at(600).timestamp())
    for t in (600, 620, 700):
        firings += engine.evaluate(state.snapshot(at(t)), at(t))
    fired = [
        d
        for d in firings
        if isinstance(d, Notify)
        and d.alert.rule_id == "device-offline"
        and d.reason in (NotifyReason.FIRING, NotifyReason.RESOLVED)
    ]
    assert [d.reason for d in fired] == [NotifyReason.FIRING], "fired once, never resolved in between"
    assert fired[0].alert.fired_at == at(-300 + TM_TIMEOUT_S)
    assert silent_s(state, "tm1", 620) == pytest.approx(330)


def test_the_deaf_spans_kept_stay_few() -> None:
    """A gateway restarted every minute for two days keeps (and saves) only the spans that can still matter: none
    from before the oldest last message of any device, none from more than a day ago."""
    state = HallState(HallProfile("h1"))
    f = Feed()
    for k in range(2 * 24 * 60):
        t = 60.0 * k
        state.apply(f("ticket_machine", "tm1", t, on="hb"))
        if k == 100:
            state.apply(f("kiosk", "k1", t, on="hb"))  # heard once, then never again: its silence still matters
        state.blind(at(t + 20).timestamp(), at(t + 30).timestamp())
    spans = json.loads(state.dump())["blind"]
    assert 0 < len(spans) <= 256
    assert spans[0][0] >= at(2 * 86400 - 86400 - 60).timestamp()
    assert silent_s(state, "tm1", 2 * 86400) == pytest.approx(60 - 10)
