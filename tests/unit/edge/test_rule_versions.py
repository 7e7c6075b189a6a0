"""Rule versions in the gateway's SQLite file: immutable, deduplicated, activated and rolled back with an audit
trail; a gateway's start takes the configured file only when it changed; a shadow version's would-have-fired
diff is right for a threshold change."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.audit import verify
from edge.config import load_config
from edge.decisions import decider_for
from edge.store import Store
from edge.stream import Broadcaster
from edge.versions import RuleVersions, diff
from rules.clock import FixedClock
from rules.hall import HallState
from tests.unit.rules.feed import T0, Feed, issue

RULES = """
rules:
  - id: queue-long
    when: {metric: queue.waiting, op: ">=", value: 5}
    severity: major
    then: [{alert: {to: hall_manager}}]
  - id: queue-any
    when: {metric: queue.waiting, op: ">=", value: 1}
    severity: info
    then: [{alert: {to: hall_manager}}]
"""
LOWER = RULES.replace("value: 5", "value: 3")  # the threshold change under test
MORE = (
    LOWER
    + """  - id: queue-huge
    when: {metric: queue.waiting, op: ">=", value: 50}
    severity: critical
    then: [{alert: {to: hall_manager}}]
"""
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "g.db")
    yield s  # type: ignore[misc]
    s.close()


def test_versions_are_immutable_numbered_and_deduplicated(store: Store) -> None:
    versions = RuleVersions(store)
    v1, created = versions.add(RULES, "root", "first", "web")
    assert (v1.number, created) == (1, True)
    again, created = versions.add(RULES, "someone", "same text", "cli")
    assert (again.number, created, again.author) == (1, False, "root")
    v2, _ = versions.add(LOWER, "root", "lower queue-long to 3", "web")
    assert v2.number == 2 and v2.hash != v1.hash
    with pytest.raises(ConfigError) as bad:
        versions.add(RULES.replace('op: ">="', 'op: "~"', 1), "root", "", "web")
    assert any(p.path.startswith("rules[0].when") for p in bad.value.problems)
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        store._db.execute("UPDATE rule_versions SET source = 'rules: []' WHERE number = 1")
    with pytest.raises(sqlite3.DatabaseError, match="immutable"):
        store._db.execute("DELETE FROM rule_versions WHERE number = 1")
    assert [v.number for v in versions.all()] == [1, 2]


def test_activate_rollback_diff_and_every_change_audited(store: Store) -> None:
    versions = RuleVersions(store)
    for text in (RULES, LOWER, MORE):
        versions.add(text, "root", "", "web")
    with pytest.raises(LookupError):
        versions.rollback("root")  # nothing was ever in force
    versions.activate(1, "root", "go live")
    versions.activate(3, "root", "stricter")
    assert versions.rollback("root", "too noisy").number == 1
    assert versions.active_number() == 1
    assert versions.rollback("root").number == 3  # rolling back a rollback puts back what it replaced
    with pytest.raises(KeyError):
        versions.activate(9, "root")
    d = diff(versions.get(1), versions.get(3))
    assert (d.added, d.removed, d.changed, d.settings_changed) == (["queue-huge"], [], ["queue-long"], False)
    assert '-    when: {metric: queue.waiting, op: ">=", value: 5}' in d.unified
    assert [a["kind"] for a in versions.activations()] == ["rollback", "rollback", "activate", "activate"]
    actions = [r.entry.action for r in store.audit.rows()]
    assert actions.count("rules.version_add") == 3 and actions.count("rules.rollback") == 2
    assert verify(store.audit.rows(), store.audit.head()) == []


def test_a_start_takes_the_configured_file_only_when_it_changed(store: Store) -> None:
    versions = RuleVersions(store)
    assert versions.bootstrap(RULES, "rules.yaml").number == 1  # the first start: the file is version 1
    versions.add(LOWER, "root", "", "web")
    versions.activate(2, "root")
    assert versions.bootstrap(RULES, "rules.yaml").number == 2  # the file did not change: the admin's choice stays
    assert versions.bootstrap(MORE, "rules.yaml").number == 3  # someone edited the file: it goes in force
    assert versions.active_number() == 3


def test_a_shadow_versions_would_have_fired_diff_is_right_for_a_threshold_change(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path)
    versions = RuleVersions(store)
    active = versions.bootstrap(RULES, "rules.yaml")
    candidate, _ = versions.add(LOWER, "root", "queue-long at 3", "web")
    clock = FixedClock(T0)
    hall = HallState(cfg.profile())
    decider = decider_for(cfg, active.rules, store, clock, hall.snapshot, stream=Broadcaster())
    decider.start_shadow(candidate.number, candidate.rules)
    feed = Feed()
    # four people wait for tax (only the candidate's "≥ 3" holds), six for id (both versions' thresholds hold)
    for i, service in enumerate(["tax"] * 4 + ["id"] * 6):
        msg = issue(feed, i, f"t{i}", service=service)
        hall.apply(msg)
        decider.on_message(msg)
    clock.set(T0 + timedelta(seconds=30))
    decider.evaluate()
    report = decider.shadow_report()
    assert report is not None and report["number"] == candidate.number
    d = report["diff"]
    assert isinstance(d, dict)
    assert [(a["rule"], a["labels"]) for a in d["only_candidate"]] == [("queue-long", {"service": "tax"})]
    assert d["only_active"] == [] and d["both"] == 3  # queue-long for id, queue-any for both services
    assert report["active_per_rule"] == {"queue-any": 2, "queue-long": 1}
    assert report["shadow_per_rule"] == {"queue-any": 2, "queue-long": 2}
    # the shadow acted on nothing: the alert history (what people were told) has only the active version's alerts
    assert {r.rule_id for r in store.decisions.alert_changes(0, 2e9)} == {"queue-any", "queue-long"}
    assert len([r for r in store.decisions.alert_changes(0, 2e9) if r.rule_id == "queue-long"]) == 1
    store.close()


def test_a_stored_version_is_validated_once_not_at_every_listing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid 1 MB rule file takes seconds to validate, on the event loop of the API: the review saw every listing of
    the versions stall the gateway for 14 s. Versions never change, so each text is validated once per process."""
    import edge.versions as module  # noqa: PLC0415 - the function counted

    calls: list[str] = []
    real = module.parse_rules

    def counted(data: object, name: str) -> object:
        calls.append(name)
        return real(data, name)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "parse_rules", counted)
    monkeypatch.setattr(module, "_PARSED", OrderedDict())  # as in a new process: the other tests parsed these texts
    versions = RuleVersions(store)
    versions.add(MORE, "root", "three rules", "web")
    assert len(calls) == 1
    for _ in range(3):  # the API's version list, a diff, the version in force
        assert [v.summary()["rules"] for v in versions.all()] == [3]
        assert versions.get(1).rules.rules[2].id == "queue-huge"
    assert len(calls) == 1, "validated again at a listing"
    given = module.parse_source(LOWER)  # the API validated it off the event loop already
    versions.add(LOWER, "root", "lower", "web", rules=given)
    assert len(calls) == 2 and versions.get(2).rules is given
