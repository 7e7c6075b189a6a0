"""The rule engine: alerts a hall manager can trust — once, on time, with the reason, across restarts.

Time is a parameter everywhere (hall time T0 + seconds); no sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import yaml

from devices.codec import DeviceMessage
from rules.engine import Act, AlertState, Notify, NotifyReason, RuleEngine, Silence
from rules.hall import HallProfile, HallSnapshot, HallState
from rules.language import parse_rules
from rules.metrics import Subject
from tests.unit.rules.feed import T0, Feed, issue, opened, win


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Hall:
    """A hall fed message by message, with an engine evaluating it at chosen times."""

    def __init__(self, rules_yaml: str) -> None:
        self.feed = Feed()
        self.state = HallState(HallProfile("h1"))
        self.engine = RuleEngine(parse_rules(yaml.safe_load(rules_yaml)))

    def apply(self, *messages: DeviceMessage) -> list[Notify | Act]:
        out: list[Notify | Act] = []
        for m in messages:
            self.state.apply(m)
            out += self.engine.on_message(m, m.at)
        return out

    def snapshot(self, t: float) -> HallSnapshot:
        return self.state.snapshot(at(t))

    def evaluate(self, t: float) -> list[Notify | Act]:
        return self.engine.evaluate(self.snapshot(t), at(t))

    def notes(self, t: float) -> list[tuple[str, str]]:
        return [(d.alert.rule_id, d.reason.value) for d in self.evaluate(t) if isinstance(d, Notify)]


WAIT = """
rules:
  - id: projected
    when: {metric: queue.projected_wait_min, op: ">=", value: 15}
    for: 2m
    keep_firing_for: 1m
    severity: major
    then: [{recommend: tidal.open}, {alert: {to: hall_manager}}]
"""


def busy_queue(h: Hall, t0: float = 0, n: int = 3) -> None:
    h.apply(opened(h.feed, t0, "W1"), *(issue(h.feed, t0 + 1 + i, f"a{i}") for i in range(n)))


def test_pending_until_for_elapses_then_fires_once_with_its_reason() -> None:
    h = Hall(WAIT)
    busy_queue(h)  # 3 × 10 min ÷ 1 window = 30 min projected
    assert h.notes(10) == []
    assert h.engine.alerts and next(iter(h.engine.alerts.values())).state is AlertState.PENDING
    assert h.engine.next_deadline() == at(10 + 120), "the gateway can wake up exactly when `for` elapses"
    out = h.evaluate(130)
    assert [(type(d).__name__, d.alert.rule_id) for d in out] == [("Act", "projected"), ("Notify", "projected")]
    note = out[1]
    assert isinstance(note, Notify) and note.roles == ("hall_manager",)
    assert note.alert.fired_at == at(130) and note.alert.labels == {"service": "tax"}
    assert "queue.projected_wait_min = 30.0" in note.alert.reason and "service=tax" in note.alert.reason
    assert note.alert.evidence == {"queue.projected_wait_min": 30.0}
    assert h.notes(140) == [] and h.notes(500) == [], "one alert, not one per evaluation"


def test_a_condition_that_clears_before_for_never_fires() -> None:
    h = Hall(WAIT)
    busy_queue(h)
    h.evaluate(10)
    h.apply(opened(h.feed, 20, "W2"), opened(h.feed, 21, "W3"), opened(h.feed, 22, "W4"))  # 30 ÷ 4 < 15
    assert h.notes(30) == [] and h.notes(200) == []
    assert h.engine.alerts == {}


def test_keep_firing_for_damps_flapping_then_resolves() -> None:
    h = Hall(WAIT)
    busy_queue(h)
    h.evaluate(0)
    assert ("projected", "firing") in h.notes(120)
    h.apply(opened(h.feed, 130, "W2"), opened(h.feed, 131, "W3"))  # 30 ÷ 3 = 10 < 15
    assert h.notes(140) == [], "still firing within keep_firing_for"
    h.apply(win(h.feed, 150, "W2", "window.closed"), win(h.feed, 151, "W3", "window.closed"))
    assert h.notes(160) == [], "true again: the same alert carries on"
    h.apply(opened(h.feed, 170, "W2"), opened(h.feed, 171, "W3"))
    assert h.notes(200) == []
    assert h.notes(240) == [("projected", "resolved")]


def test_the_true_start_of_a_duration_condition_survives_a_late_first_look() -> None:
    """A window idle since 09:00 is known to have been idle for 10 min at 09:10, even if nobody looked before."""
    h = Hall("""
rules:
  - id: idle
    when: {metric: window.idle_min, op: ">=", value: 10}
    for: 1m
    severity: warning
    then: [{alert: {to: hall_manager}}]
""")
    h.apply(opened(h.feed, 0, "W1"))
    assert h.engine.evaluate(h.snapshot(60), at(60)) == []
    assert h.engine.next_deadline() == at(600), "it will cross the threshold at idle-since + 10 min"
    out = [d for d in h.evaluate(1800) if isinstance(d, Notify)]  # first look long after: fired at 09:11
    assert out and out[0].alert.active_since == at(600) and out[0].alert.fired_at == at(660)


def test_state_survives_a_restart_mid_for_and_fires_at_the_right_time_never_twice() -> None:
    h = Hall(WAIT)
    busy_queue(h)
    h.evaluate(10)  # pending since 10 s
    saved = json.loads(json.dumps(h.engine.dump()))
    restarted = RuleEngine(h.engine.rules)
    restarted.load(saved)
    out = restarted.evaluate(h.snapshot(200), at(200))  # it was down across the moment `for` elapsed
    fired = [d for d in out if isinstance(d, Notify)]
    assert [d.reason for d in fired] == [NotifyReason.FIRING]
    assert fired[0].alert.fired_at == at(130), "fired with its true start time"
    again = RuleEngine(h.engine.rules)
    again.load(json.loads(json.dumps(restarted.dump())))
    assert [d for d in again.evaluate(h.snapshot(210), at(210)) if isinstance(d, Notify)] == [], "never twice"


TIERS = """
inhibit:
  - {source: wait-45, target: wait-30, equal: [service]}
rules:
  - id: wait-30
    when: {metric: queue.longest_wait_min, op: ">=", value: 30}
    severity: warning
    then: [{alert: {to: floor_guide}}]
  - id: wait-45
    when: {metric: queue.longest_wait_min, op: ">=", value: 45}
    severity: major
    then: [{alert: {to: hall_manager}}]
    escalate: [{after: 10m, to: director, severity: critical}]
    repeat_every: 30m
"""


def test_inhibition_escalation_and_repeat() -> None:
    h = Hall(TIERS)
    h.apply(issue(h.feed, 0, "a1"), issue(h.feed, 0, "b1", service="land"))
    assert sorted(h.notes(31 * 60)) == [("wait-30", "firing"), ("wait-30", "firing")]  # tax and land
    h.apply(opened(h.feed, 40 * 60, "W9", "land"), win(h.feed, 40 * 60, "W9", "ticket.called", ticket_id="b1"))
    notes = h.notes(46 * 60)
    # land's number was called; for tax wait-45 speaks and its wait-30 is inhibited
    assert sorted(notes) == [("wait-30", "resolved"), ("wait-45", "firing")]
    muted = [a for a in h.engine.alerts.values() if a.rule_id == "wait-30"]
    assert muted and muted[0].muted_by is not None and muted[0].muted_by.startswith("inhibited:")
    escalated = [d for d in h.evaluate(56 * 60) if isinstance(d, Notify)]
    assert [(d.reason, d.roles, d.alert.severity.value) for d in escalated] == [
        (NotifyReason.ESCALATED, ("director",), "critical")
    ]
    assert h.notes(80 * 60) == [], "the repeat interval counts from the last notification"
    assert h.notes(86 * 60) == [("wait-45", "repeat")]


def test_acknowledged_alerts_neither_repeat_nor_escalate_and_resolve_when_clear() -> None:
    h = Hall(TIERS)
    h.apply(issue(h.feed, 0, "a1"))
    h.evaluate(46 * 60)
    fp = next(a.fingerprint for a in h.engine.alerts.values() if a.rule_id == "wait-45")
    acked = h.engine.acknowledge(fp, "manager-li", at(47 * 60))
    assert [(d.reason, d.alert.acknowledged_by) for d in acked if isinstance(d, Notify)] == [
        (NotifyReason.ACKNOWLEDGED, "manager-li")
    ]
    assert h.engine.alerts[fp].state is AlertState.ACKNOWLEDGED
    assert h.notes(120 * 60) == []
    h.apply(opened(h.feed, 121 * 60, "W1"), win(h.feed, 121 * 60, "W1", "ticket.called", ticket_id="a1"))
    # wait-30 was inhibited from the start, so nobody was told of it: only wait-45's end is news
    assert h.notes(122 * 60) == [("wait-45", "resolved")]
    assert h.engine.alerts == {}


def test_silences_mute_matching_alerts_until_they_end() -> None:
    h = Hall(TIERS)
    h.engine.silence(Silence("s1", "wait-*", {"service": "tax"}, at(0), at(40 * 60), "admin", "drill"))
    h.apply(issue(h.feed, 0, "a1"))
    assert h.notes(31 * 60) == []
    assert h.notes(41 * 60) == [("wait-30", "firing")], "told once the silence is over"


SCHEDULED = """
schedules:
  open: {weekdays: [mon], hours: ["08:30-12:00", "13:30-17:30"]}
rules:
  - id: paused
    when: {metric: window.paused_min, op: ">=", value: 20}
    for: 5m
    severity: warning
    during: open
    then: [{alert: {to: hall_manager}}]
"""


def test_a_schedule_gates_rules_and_time_outside_it_does_not_count() -> None:
    h = Hall(SCHEDULED)
    lunch = 3 * 3600  # 12:00
    h.apply(opened(h.feed, 0, "W1"), win(h.feed, lunch, "W1", "window.paused", reason="lunch"))
    assert h.notes(lunch + 3600) == [], "lunch is outside the schedule"
    assert h.notes(lunch + 5400 + 60) == [], "13:31: the pause counts from 13:30, not from 12:00"
    assert h.notes(lunch + 5400 + 26 * 60) == [("paused", "firing")]


def test_event_rules_fire_at_once_deduplicate_and_end_when_taken() -> None:
    h = Hall("""
rules:
  - id: bad-rating
    on: {event: rating.submitted, where: {score: {"<=": 2}}}
    severity: major
    then: [{ticket: {kind: rectification}}, {alert: {to: hall_manager}}]
""")
    good = h.feed("evaluator", "EV1", 0, type="rating.submitted", window_id="W1", ticket_id="t1", score=5)
    bad = h.feed("evaluator", "EV1", 10, type="rating.submitted", window_id="W1", ticket_id="t2", score=1)
    assert h.apply(good) == []
    out = h.apply(bad)
    kinds = [(type(d).__name__, d.alert.labels.get("ticket")) for d in out]
    assert kinds == [("Act", "t2"), ("Notify", "t2")]
    act = out[0]
    assert isinstance(act, Act) and act.action.ticket is not None and act.action.ticket.kind == "rectification"
    assert "score=1" in out[1].alert.reason
    fp = out[1].alert.fingerprint
    assert (
        h.apply(h.feed("evaluator", "EV1", 20, type="rating.submitted", window_id="W1", ticket_id="t2", score=2)) == []
    ), "the same ticket's rating again is the same alert"
    assert h.engine.alerts[fp].occurrences == 2
    h.engine.acknowledge(fp, "manager", at(30))
    assert fp not in h.engine.alerts


def test_thresholds_by_label_per_device_class() -> None:
    h = Hall("""
rules:
  - id: offline
    when:
      metric: device.silent_s
      op: ">="
      value: {by: device_type, values: {kiosk: 120, camera: 60}, default: 90}
    severity: major
    then: [{alert: {to: technician}}]
""")
    h.apply(*(h.feed(kind, dev, 0, on="hb") for kind, dev in (("kiosk", "k1"), ("camera", "c1"), ("window", "W1"))))
    assert h.notes(59) == []
    assert h.notes(61) == [("offline", "firing")]  # the camera
    assert h.notes(100) == [("offline", "firing")]  # the window terminal, at its default
    assert h.notes(121) == [("offline", "firing")]  # the kiosk
    fired = {a.labels["device"]: a.fired_at for a in h.engine.alerts.values()}
    assert fired == {"c1": at(60), "W1": at(90), "k1": at(120)}


@pytest.mark.parametrize(
    ("cond", "fires"),
    [
        ("{all: [{metric: queue.waiting, op: '>=', value: 2}, {metric: hall.windows_open, op: '==', value: 0}]}", True),
        ("{all: [{metric: queue.waiting, op: '>', value: 2}, {metric: hall.windows_open, op: '==', value: 0}]}", False),
        ("{any: [{metric: queue.waiting, op: '>=', value: 9}, {metric: queue.waiting, op: '==', value: 2}]}", True),
        ("{not: {metric: queue.waiting, op: '>=', value: 1}}", False),
        ("{metric: queue.waiting, op: '>=', value: 1, where: {service: 'la*'}}", False),
        ("{metric: queue.waiting, op: '>=', value: 1, where: {service: 't?x'}}", True),
    ],
)
def test_combinators_and_label_filters(cond: str, fires: bool) -> None:
    h = Hall(f"rules: [{{id: r, when: {cond}, severity: info, then: [{{alert: {{to: hall_manager}}}}]}}]")
    h.apply(issue(h.feed, 0, "a1"), issue(h.feed, 1, "a2"))
    assert (h.notes(10) == [("r", "firing")]) is fires


def test_an_automatic_action_pages_nobody_but_is_recorded() -> None:
    h = Hall("""
rules:
  - id: recall
    when: {metric: queue.waiting, op: ">=", value: 1}
    severity: info
    then: [{command: {type: nudge}}]
""")
    h.apply(issue(h.feed, 0, "a1"))
    out = h.evaluate(1)
    assert [type(d).__name__ for d in out] == ["Act"], "the command goes out, no notification"
    assert [a.rule_id for a in h.engine.take_changes()] == ["recall"], "it is in the history"


def test_a_rule_needs_the_kinds_of_subject_its_condition_reads() -> None:
    """What a backtest's partial snapshot must hold for a few rules: their own kind of subject, what their metrics
    read beyond it (an idle window with people waiting for its services reads the queues), or the whole hall."""
    engine = RuleEngine(
        parse_rules(
            yaml.safe_load("""
rules:
  - id: call
    when: {metric: window.call_unanswered_s, op: ">=", value: 60}
    severity: info
    then: [{alert: {to: hall_manager}}]
  - id: idle
    when: {all: [{metric: window.idle, op: "==", value: true}, {metric: window.capable_waiting, op: ">=", value: 1}]}
    severity: info
    then: [{alert: {to: hall_manager}}]
  - id: paper
    when: {metric: device.printer, op: "==", value: paper_out}
    severity: info
    then: [{alert: {to: technician}}]
  - id: busy
    when: {any: [{metric: hall.waiting, op: ">=", value: 50}, {metric: zone.count, op: ">=", value: 40}]}
    severity: info
    then: [{alert: {to: hall_manager}}]
""")
        )
    )
    assert engine.needs({"call"}) == {Subject.WINDOW}
    assert engine.needs({"idle"}) == {Subject.WINDOW, Subject.SERVICE}
    assert engine.needs({"call", "paper"}) == {Subject.WINDOW, Subject.DEVICE}
    assert engine.needs({"paper", "busy"}) is None  # a hall metric reads the totals: the whole hall
    assert engine.needs(set()) == frozenset()


def test_an_event_alert_raised_between_evaluations_is_resolved_on_time_by_a_partial_one() -> None:
    """A backtest evaluates only the rules whose deadline it is; an event alert raised in between (a missed number,
    kept firing 30 min) must still have its own deadline, or it would end whenever every rule is next evaluated."""
    h = Hall("""
rules:
  - id: missed
    on: {event: ticket.no_show}
    keep_firing_for: 30m
    severity: warning
    then: [{alert: {to: hall_manager}}]
  - id: queue
    when: {metric: queue.waiting, op: ">=", value: 50}
    severity: info
    then: [{alert: {to: hall_manager}}]
""")
    h.evaluate(0)
    h.apply(win(h.feed, 10, "W1", "ticket.no_show", ticket_id="a1", attempt=3))
    h.engine.evaluate(h.snapshot(20), at(20), only={"queue"})
    assert h.engine.deadlines()["missed"] == at(10 + 30 * 60)
    [note] = [
        d
        for d in h.engine.evaluate(h.snapshot(10 + 30 * 60), at(10 + 30 * 60), only={"missed"})
        if isinstance(d, Notify)
    ]
    assert (note.alert.rule_id, note.reason) == ("missed", NotifyReason.RESOLVED)
