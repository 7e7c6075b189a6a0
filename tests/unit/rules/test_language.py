"""Rule files: what an administrator gets told when a rule is wrong, and that the built-in pack is sound."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from devices.errors import ConfigError
from rules.language import builtin_rules, parse_duration, parse_rules, summarise

GOOD = """
schedules:
  opening_hours: {weekdays: [mon, tue, wed, thu, fri], hours: ["08:30-12:00", "13:30-17:30"]}
rules:
  - id: long-wait
    when: {metric: queue.projected_wait_min, op: ">=", value: 15, where: {service: "S*"}}
    for: 2m
    keep_firing_for: 5m
    severity: warning
    during: opening_hours
    then:
      - recommend: tidal.open
      - alert: {to: hall_manager}
    escalate: [{after: 10m, to: director}]
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_rules(yaml.safe_load(text))
    return [str(p) for p in err.value.problems]


def test_a_good_rule_file_parses() -> None:
    rules = parse_rules(yaml.safe_load(GOOD))
    rule = rules.rules[0]
    assert (rule.id, rule.for_, rule.keep_firing_for) == ("long-wait", timedelta(minutes=2), timedelta(minutes=5))
    assert rule.then[0].recommend == "tidal.open"


BAD = [
    (
        "unknown key",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, severity: warning, "
        "then: [{alert: {to: hall_manager}}], threshold: 3}]",
        "rules[0].threshold: unknown key",
    ),
    (
        "unknown metric",
        "rules: [{id: a, when: {metric: queue.lenght, op: '>', value: 1}, severity: warning, "
        "then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.metric: unknown metric 'queue.lenght'",
    ),
    (
        "text compared with a number",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: many}, "
        "severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.value: queue.waiting is a number",
    ),
    (
        "bad enum value",
        "rules: [{id: a, when: {metric: window.status, op: '==', value: opened}, "
        "severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.value: 'opened' is not one of",
    ),
    (
        "ordering a bool",
        "rules: [{id: a, when: {metric: device.online, op: '>', value: true}, "
        "severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.op: device.online is true/false",
    ),
    (
        "label the subject has not",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1, "
        "where: {window: W1}}, severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.where.window: service subjects have no label 'window'",
    ),
    (
        "mixing subjects",
        "rules: [{id: a, when: {all: [{metric: queue.waiting, op: '>', value: 1}, "
        "{metric: window.idle_min, op: '>', value: 1}]}, severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.all: combines metrics of different subjects",
    ),
    (
        "nested path",
        "rules: [{id: a, when: {any: [{metric: queue.waiting, op: '>', value: 1}, "
        "{metric: queue.nope, op: '>', value: 1}]}, severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].when.any[1].metric: unknown metric 'queue.nope'",
    ),
    (
        "unknown schedule",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, severity: warning, "
        "during: weekends, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].during: unknown schedule 'weekends'",
    ),
    (
        "unknown role",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, severity: warning, "
        "then: [{alert: {to: janitor}}]}]",
        "rules[0].then[0].alert.to[0]",
    ),
    (
        "two actions in one",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, severity: warning, "
        "then: [{alert: {to: hall_manager}, recommend: tidal.open}]}]",
        "rules[0].then[0]: Value error, an action is",
    ),
    (
        "bad duration",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, for: soon, "
        "severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].for: Value error, 'soon' is not a duration",
    ),
    (
        "duplicate id",
        "rules: [{id: a, when: {metric: queue.waiting, op: '>', value: 1}, severity: warning, "
        "then: [{alert: {to: hall_manager}}]}, {id: a, when: {metric: queue.waiting, op: '>', value: 2}, "
        "severity: major, then: [{alert: {to: hall_manager}}]}]",
        "rules[1].id: duplicate rule id 'a'",
    ),
    (
        "inhibit names a missing rule",
        "inhibit: [{source: a, target: b}]\nrules: [{id: a, when: {metric: "
        "queue.waiting, op: '>', value: 1}, severity: warning, then: [{alert: {to: hall_manager}}]}]",
        "inhibit[0].target: unknown rule 'b'",
    ),
    (
        "unknown event",
        "rules: [{id: a, on: {event: ticket.printed}, severity: info, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].on.event: unknown event type 'ticket.printed'",
    ),
    (
        "event field that does not exist",
        "rules: [{id: a, on: {event: rating.submitted, where: {stars: 1}}, "
        "severity: info, then: [{alert: {to: hall_manager}}]}]",
        "rules[0].on.where.stars: rating.submitted has no field",
    ),
    (
        "for on an event rule",
        "rules: [{id: a, on: {event: kiosk.help_requested}, for: 1m, severity: info, "
        "then: [{alert: {to: hall_manager}}]}]",
        "an event rule fires at once",
    ),
    (
        "threshold by a missing label",
        "rules: [{id: a, when: {metric: device.silent_s, op: '>=', value: {by: kind, "
        "values: {kiosk: 120}}}, severity: major, then: [{alert: {to: technician}}]}]",
        "rules[0].when.value.by: device subjects have no label 'kind'",
    ),
    (
        "bad opening hours",
        "schedules: {open: {hours: ['17:00-08:00']}}\nrules: []",
        "schedules.open: Value error, hours '17:00-08:00' must be HH:MM-HH:MM",
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_every_mistake_is_named_with_its_path(name: str, text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def test_several_mistakes_are_reported_together() -> None:
    problems = _problems(
        "rules: [{id: a, when: {metric: queue.nope, op: '>', value: 1}, severity: warning, during: never, "
        "then: [{alert: {to: hall_manager}}]}]"
    )
    assert len(problems) == 2


def test_yaml_on_key_is_the_event_trigger() -> None:
    """YAML 1.1 reads `on:` as true; a rule file must not trip over it."""
    rules = parse_rules(
        yaml.safe_load(
            "rules:\n- id: a\n  on: {event: kiosk.help_requested}\n  severity: info\n"
            "  then: [{alert: {to: floor_guide}}]\n"
        )
    )
    assert rules.rules[0].on is not None and rules.rules[0].on.event == "kiosk.help_requested"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), (45, 45), ("2h", 7200)])
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_builtin_pack_covers_the_catalogue() -> None:
    rules = builtin_rules()
    ids = {r.id for r in rules.rules}
    # the list, by the rule that covers it
    for required in (
        "wait-30",
        "wait-45",
        "wait-60",
        "tidal-open",
        "tidal-close",
        "idle-window-nudge",
        "idle-window-manager",
        "empty-post",
        "pause-overlong",
        "abnormal-handling-time",
        "call-unanswered",
        "missed-ticket",
        "no-show-rate-high",
        "device-offline",
        "printer-paper-low",
        "printer-paper-out",
        "call-screen-blank",
        "kiosk-error-burst",
        "kiosk-abandon-high",
        "kiosk-low-utilisation",
        "bad-rating",
        "rating-participation-low",
        "crowding",
        "camera-vs-tickets",
        "call-system-down",
        "arrival-surge",
    ):
        assert required in ids, required
    assert len(rules.rules) >= 25
    assert all(r.description for r in rules.rules), "every built-in rule says what it is for"
    kinds = {s.subject for s in summarise(rules)}
    assert {"service", "window", "device", "zone", "hall"} <= kinds


def test_one_broken_rule_does_not_hide_the_others_mistakes() -> None:
    problems = _problems(
        "rules:\n"
        "- {id: a, when: {metric: queue.lenght, op: '>', value: 1}, severity: loud, "
        "then: [{alert: {to: hall_manager}}]}\n"
        "- {id: b, when: {metric: window.status, op: '==', value: opne}, severity: info, "
        "then: [{alert: {to: hall_manager}}]}\n"
    )
    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == ["rules[0].severity", "rules[0].when.metric", "rules[1].when.value"]


def test_validate_command_prints_every_problem_and_fails(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path  # noqa: PLC0415

    from edge.cli import main  # noqa: PLC0415

    bad = Path(str(tmp_path)) / "bad.yaml"
    bad.write_text(
        "rules: [{id: a, when: {metric: queue.lenght, op: '>', value: 1}, severity: loud, "
        "then: [{alert: {to: hall_manager}}]}]\n"
    )
    assert main(["rules", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "rules[0].severity" in out and "rules[0].when.metric: unknown metric 'queue.lenght'" in out
    assert main(["rules", "validate"]) == 0
    assert "builtin.yaml: ok" in capsys.readouterr().out
