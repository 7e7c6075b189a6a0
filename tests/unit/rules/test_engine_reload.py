"""A new rule version in force mid-day: the rules that did not change keep their clocks; the changed ones start
again on their new condition; a promoted shadow brings its clocks along. Hall time is a parameter; no sleeps."""

from __future__ import annotations

import yaml

from rules.engine import AlertState, Notify, NotifyReason, RuleEngine
from rules.firings import Firings, compare
from rules.language import parse_rules
from tests.unit.rules.feed import issue
from tests.unit.rules.test_engine import Hall, at

V1 = """
rules:
  - id: queue-long
    when: {metric: queue.waiting, op: ">=", value: 3}
    for: 5m
    severity: major
    then: [{alert: {to: hall_manager}}]
  - id: queue-any
    when: {metric: queue.waiting, op: ">=", value: 1}
    for: 10m
    severity: warning
    then: [{alert: {to: hall_manager}}]
"""
V2 = V1.replace("value: 3", "value: 2")  # queue-long changed; queue-any as it was
V3 = V1.split("  - id: queue-any", maxsplit=1)[0]  # queue-any removed


def rules(text: str):  # type: ignore[no-untyped-def]
    return parse_rules(yaml.safe_load(text))


def fired(notes: list[object]) -> set[str]:
    return {n.alert.rule_id for n in notes if isinstance(n, Notify) and n.reason is NotifyReason.FIRING}


def three_waiting() -> Hall:
    hall = Hall(V1)
    hall.apply(*(issue(hall.feed, i, f"t{i}") for i in range(3)))
    assert hall.evaluate(60) == []  # both pending since 60 s
    return hall


def test_an_unchanged_rule_keeps_its_timer_and_a_changed_one_starts_again() -> None:
    hall = three_waiting()
    assert hall.engine.reload(rules(V2)) == ["queue-long"]
    assert hall.evaluate(130) == []
    pending = {a.rule_id: a.active_since for a in hall.engine.alerts.values()}
    assert pending == {"queue-any": at(60), "queue-long": at(130)}
    assert fired(hall.evaluate(430)) == {"queue-long"}  # 130 + 5 min on the new condition, not 60 + 5 min
    assert fired(hall.evaluate(660)) == {"queue-any"}  # 60 + 10 min: the reload did not reset it
    assert {a.rule_id: a.fired_at for a in hall.engine.alerts.values()} == {"queue-long": at(430), "queue-any": at(660)}


def test_a_firing_alert_of_a_changed_rule_stays_while_the_new_condition_holds_and_a_removed_rule_ends() -> None:
    hall = three_waiting()
    assert fired(hall.evaluate(700)) == {"queue-long", "queue-any"}
    hall.engine.reload(rules(V2))  # 3 waiting still meets "≥ 2": no second page
    assert not fired(hall.evaluate(710))
    assert hall.engine.alerts[next(iter(hall.engine.alerts))].state is AlertState.FIRING
    hall.engine.reload(rules(V3))
    notes = hall.evaluate(720)
    assert [(n.alert.rule_id, n.reason) for n in notes if isinstance(n, Notify)] == [
        ("queue-any", NotifyReason.RESOLVED)
    ]
    assert {a.rule_id for a in hall.engine.alerts.values()} == {"queue-long"}


def test_promoting_a_shadow_keeps_the_time_its_condition_has_held() -> None:
    hall = three_waiting()
    shadow = RuleEngine(rules(V2))
    shadow.evaluate(hall.snapshot(60), at(60))  # the shadow has seen the queue since 60 s
    hall.engine.reload(rules(V2), adopt=shadow)
    assert fired(hall.evaluate(360)) == {"queue-long"}  # 60 + 5 min, as the shadow would have fired
    assert hall.engine.alerts[
        next(a.fingerprint for a in hall.engine.alerts.values() if a.rule_id == "queue-long")
    ].fired_at == at(360)


def test_firings_are_matched_within_the_tolerance_and_the_rest_is_the_difference() -> None:
    a, b = Hall(V1), Hall(V2)
    for h in (a, b):
        h.apply(*(issue(h.feed, i, f"t{i}") for i in range(2)))  # 2 waiting: only V2's queue-long holds
    log_a, log_b = Firings(at(0), at(3600)), Firings(at(0), at(3600))
    for t in range(0, 1200, 30):
        for h, log in ((a, log_a), (b, log_b)):
            h.evaluate(t)
            for change in h.engine.take_changes():
                log.observe(change)
    d = compare(log_a.alerts, log_b.alerts, tolerance_s=1)
    assert [(x.rule, y.rule) for x, y in d.both] == [("queue-any", "queue-any")]
    assert [c.rule for c in d.only_candidate] == ["queue-long"] and d.only_active == []
    assert d.only_candidate[0].fired_at == at(300) and not d.same
    assert d.per_rule() == {
        "queue-any": {"both": 1, "only_active": 0, "only_candidate": 0},
        "queue-long": {"both": 0, "only_active": 0, "only_candidate": 1},
    }
    late = [type(f)(f.fingerprint, f.rule, f.labels, f.severity, f.fired_at.replace(second=59)) for f in log_a.alerts]
    assert compare(log_a.alerts, late, tolerance_s=1).only_active  # 59 s apart is not "the same" within 1 s
    assert compare(log_a.alerts, late, tolerance_s=120).same
    log_b.forget(1)  # a long shadow keeps only its newest firings: the compared period starts after the dropped
    assert [f.rule for f in log_b.alerts] == ["queue-any"] and log_b.start == at(600)
