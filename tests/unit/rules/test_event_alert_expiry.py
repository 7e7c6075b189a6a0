"""Event alerts end: a kiosk asked for help now and then through the day is not one alert from 09:11 still firing
at 17:30 (issue 19). Events gather into an open alert only within an event alert's span (EVENT_ALERT_LASTS) of its
start; past it the old alert ends and the new event begins a new one, with its own start time. Hall time T0 + seconds,
passed in; no sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta

import yaml

from rules.engine import EVENT_ALERT_LASTS, AlertState, Notify, NotifyReason, RuleEngine
from rules.hall import HallProfile, HallSnapshot, HallState
from rules.language import parse_rules
from tests.unit.rules.feed import T0, Feed

HELP = """
rules:
  - id: kiosk-help-requested
    on: {event: kiosk.help_requested}
    severity: warning
    then: [{alert: {to: floor_guide}}]
"""
MIN = 60


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_help_asked_every_forty_minutes_is_a_new_alert_each_hour_not_one_from_the_morning() -> None:
    feed, hall = Feed(), HallState(HallProfile("h1"))
    engine = RuleEngine(parse_rules(yaml.safe_load(HELP)))

    def ask(t: float) -> list[object]:
        msg = feed("kiosk", "K01", t, type="kiosk.help_requested")
        hall.apply(msg)
        return list(engine.on_message(msg, msg.at))

    def snapshot(t: float) -> HallSnapshot:
        return hall.snapshot(at(t))

    started: list[datetime] = []
    for t in range(0, 8 * 3600 + 1, 40 * MIN):  # 09:00, 09:40, 10:20 … 17:00: never an hour without a request
        ask(t)
        engine.evaluate(snapshot(t + 1), at(t + 1))
        [alert] = engine.alerts.values()
        assert alert.fired_at is not None and at(t) - alert.fired_at < EVENT_ALERT_LASTS, (
            f"at {at(t):%H:%M} the open alert began at {alert.fired_at:%H:%M}"
        )
        started.append(alert.fired_at)
    assert len(set(started)) >= 6, "a new alert at least every other request, not one alert all day"
    ended = [c for c in engine.take_changes() if c.state is AlertState.RESOLVED]
    assert ended and all(c.resolved_at is not None for c in ended)
    # an hour after the last request (17:00) nothing is firing
    engine.evaluate(snapshot(8 * 3600 + 3600), at(8 * 3600 + 3600))
    assert engine.alerts == {}


def test_requests_within_the_span_gather_into_one_alert_and_it_ends_an_hour_after_the_last() -> None:
    feed, hall = Feed(), HallState(HallProfile("h1"))
    engine = RuleEngine(parse_rules(yaml.safe_load(HELP)))
    for t in (0, 5 * MIN, 20 * MIN):  # someone pressing help three times
        msg = feed("kiosk", "K01", t, type="kiosk.help_requested")
        hall.apply(msg)
        engine.on_message(msg, msg.at)
    [alert] = engine.alerts.values()
    assert (alert.occurrences, alert.fired_at) == (3, T0)
    engine.evaluate(hall.snapshot(at(79 * MIN)), at(79 * MIN))
    assert list(engine.alerts.values()) == [alert], "an hour after the last request, not the first"
    out = engine.evaluate(hall.snapshot(at(80 * MIN)), at(80 * MIN))
    assert engine.alerts == {}
    assert [(d.alert.rule_id, d.reason) for d in out if isinstance(d, Notify)] == [
        ("kiosk-help-requested", NotifyReason.RESOLVED)
    ]
