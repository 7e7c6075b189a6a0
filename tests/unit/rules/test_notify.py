"""The notification policy on its own: which notification is due (a table, like Alertmanager's
TestDedupStageNeedsUpdate) and what mutes an alert (silences, inhibitions) — pure functions, time a parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml

from rules.alerts import Alert, AlertState, NotifyReason
from rules.language import Escalation, Role, Severity, parse_rules
from rules.notify import (
    Inhibitions,
    MutedBy,
    MuteKind,
    Muter,
    Silence,
    Silences,
    due_notification,
    escalated_severity,
    mute,
)
from tests.unit.rules.feed import T0

RULES = {
    r.id: r
    for r in parse_rules(
        yaml.safe_load("""
rules:
  - id: paged
    when: {metric: queue.waiting, op: ">=", value: 20}
    severity: major
    then: [{alert: {to: hall_manager}}]
    escalate: [{after: 10m, to: administrator}, {after: 20m, to: director, severity: critical}]
    repeat_every: 30m
  - id: once
    when: {metric: queue.waiting, op: ">=", value: 20}
    severity: warning
    then: [{alert: {to: hall_manager}}]
  - id: automatic
    when: {metric: queue.waiting, op: ">=", value: 20}
    severity: info
    then: [{command: {type: nudge}}]
  - id: escalated-only
    when: {metric: queue.waiting, op: ">=", value: 20}
    severity: info
    then: [{command: {type: nudge}}]
    escalate: [{after: 10m, to: director}]
""")
    ).rules
}


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def alert(
    rule: str = "paged",
    *,
    state: AlertState = AlertState.FIRING,
    notified: float | None = 0,
    level: int = 0,
    labels: dict[str, str] | None = None,
    fp: str = "fp-1",
) -> Alert:
    """An alert that fired at T0 (minute 0), last told at minute `notified` (None: never), `level` steps escalated."""
    return Alert(
        fp,
        rule,
        labels or {"service": "tax"},
        Severity.MAJOR,
        state,
        T0,
        T0,
        fired_at=T0,
        notified_at=None if notified is None else minutes(notified),
        escalation_level=level,
    )


@pytest.mark.parametrize(
    ("case", "rule", "a", "now", "due"),
    [
        ("never told: the first notification", "paged", alert(notified=None), 0, NotifyReason.FIRING),
        ("told, nothing due yet", "paged", alert(), 5, None),
        ("the first escalation step is due", "paged", alert(), 10, NotifyReason.ESCALATED),
        ("the next step is not due yet", "paged", alert(notified=10, level=1), 15, None),
        ("the second step is due", "paged", alert(notified=10, level=1), 20, NotifyReason.ESCALATED),
        (
            "every step done: repeat since the last notification",
            "paged",
            alert(notified=20, level=2),
            50,
            NotifyReason.REPEAT,
        ),
        ("every step done: not yet a repeat", "paged", alert(notified=20, level=2), 49, None),
        (
            "an escalation comes before a repeat due at the same time",
            "paged",
            alert(notified=0),
            40,
            NotifyReason.ESCALATED,
        ),
        ("acknowledged: no escalation", "paged", alert(state=AlertState.ACKNOWLEDGED), 10, None),
        ("acknowledged: no repeat", "paged", alert(state=AlertState.ACKNOWLEDGED, notified=20, level=2), 90, None),
        (
            "acknowledged before anybody was told (muted until then): told once",
            "paged",
            alert(state=AlertState.ACKNOWLEDGED, notified=None),
            30,
            NotifyReason.FIRING,
        ),
        ("no escalation and no repeat: told once", "once", alert(), 600, None),
        ("an automatic action pages nobody", "automatic", alert(notified=None), 0, None),
        ("a rule that only escalates is told first", "escalated-only", alert(notified=None), 0, NotifyReason.FIRING),
        ("a rule that only escalates escalates", "escalated-only", alert(), 10, NotifyReason.ESCALATED),
    ],
)
def test_the_notification_due(case: str, rule: str, a: Alert, now: float, due: NotifyReason | None) -> None:
    assert due_notification(a, RULES[rule], minutes(now)) is due, case


@pytest.mark.parametrize(
    ("severity", "step", "after"),
    [
        (Severity.MAJOR, None, Severity.MAJOR),
        (Severity.MAJOR, Severity.CRITICAL, Severity.CRITICAL),
        (Severity.MAJOR, Severity.WARNING, Severity.MAJOR),  # an escalation never lowers it
        (Severity.INFO, Severity.WARNING, Severity.WARNING),
    ],
)
def test_an_escalation_step_only_raises_the_severity(
    severity: Severity, step: Severity | None, after: Severity
) -> None:
    escalation = Escalation.model_validate({"after": "10m", "to": [Role.DIRECTOR], "severity": step})
    assert escalated_severity(severity, escalation) is after


def test_a_silence_mutes_the_alerts_it_matches_while_in_force() -> None:
    drill = Silence("s1", "pag*", {"service": "t?x"}, minutes(0), minutes(30), "admin", "drill")
    silences = Silences([drill])
    assert silences.mutes(alert(), minutes(10)) == MutedBy(MuteKind.SILENCE, "s1")
    assert silences.mutes(alert(), minutes(30)) is None, "its end is not in force"
    assert silences.mutes(alert(labels={"service": "land"}), minutes(10)) is None
    assert silences.mutes(alert("once"), minutes(10)) is None


INHIBIT = parse_rules(
    yaml.safe_load("""
inhibit:
  - {source: paged, target: once, equal: [service]}
rules:
  - id: paged
    when: {metric: queue.waiting, op: ">=", value: 30}
    severity: major
    then: [{alert: {to: hall_manager}}]
  - id: once
    when: {metric: queue.waiting, op: ">=", value: 20}
    severity: warning
    then: [{alert: {to: floor_guide}}]
""")
)


def test_a_firing_source_alert_inhibits_the_target_alerts_with_the_same_labels() -> None:
    source = alert("paged", fp="src")
    tax, land = alert("once", fp="tax"), alert("once", fp="land", labels={"service": "land"})
    inhibitions = Inhibitions(INHIBIT.inhibit, [source, tax, land])
    assert inhibitions.mutes(tax, T0) == MutedBy(MuteKind.INHIBITION, "src")
    assert inhibitions.mutes(land, T0) is None, "another service"
    assert inhibitions.mutes(source, T0) is None, "the source is not a target"


def test_one_muting_stage_records_the_first_answer_in_the_form_the_api_shows() -> None:
    source = alert("paged", fp="src")
    tax, land = alert("once", fp="tax"), alert("once", fp="land", labels={"service": "land"})
    land.muted_by = "silence:old"
    muters: list[Muter] = [
        Silences([Silence("s1", "*", {"service": "tax"}, T0, minutes(30), "admin", "")]),
        Inhibitions(INHIBIT.inhibit, [source, tax, land]),
    ]
    mute([source, tax, land], muters, minutes(1))
    assert [a.muted_by for a in (source, tax, land)] == ["silence:s1", "silence:s1", None]
    mute([source, tax, land], muters, minutes(31))  # the silence is over: the source speaks, and inhibits tax
    assert [a.muted_by for a in (source, tax, land)] == [None, "inhibited:src", None]
    mute([source, tax, land], [], minutes(31))
    assert [a.muted_by for a in (source, tax, land)] == [None, None, None], "nothing mutes: nothing is recorded"


def test_a_muted_source_inhibits_nothing() -> None:
    source, tax = alert("paged", fp="src"), alert("once", fp="tax")
    source.muted_by = str(MutedBy(MuteKind.SILENCE, "s1"))
    assert Inhibitions(INHIBIT.inhibit, [source, tax]).mutes(tax, T0) is None
