"""The alert model: what an alert is, how it is identified, and the decisions the engine hands out about it.

Owns `Alert` and its states (`AlertState`), the decisions (`Notify` with its `NotifyReason`, `Act`, `Decision`),
the alert's identity (`Labels`, `fingerprint`) and what makes two versions of a rule the same rule (`rule_key`).
Plain values: must not evaluate conditions, decide about notifications or keep a clock (`rules.conditions`,
`rules.notify`, `rules.engine`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from rules.language import Action, Role, Rule, RuleFile, Severity
from rules.metrics import Value

Labels = tuple[tuple[str, str], ...]
"""The labels of an alert's subject (`service`, `window`, `device`, …), sorted by name."""


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotifyReason(StrEnum):
    FIRING = "firing"
    REPEAT = "repeat"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(slots=True)
class Alert:
    fingerprint: str
    rule_id: str
    labels: dict[str, str]
    severity: Severity
    state: AlertState
    active_since: datetime  # the condition has held since (the true start where the hall tells it)
    last_true: datetime
    fired_at: datetime | None = None  # active_since + for: when it started firing
    resolved_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    notified_at: datetime | None = None
    notifications: int = 0
    escalation_level: int = 0
    occurrences: int = 1  # event alerts: how many events matched while it was open
    reason: str = ""
    evidence: dict[str, Value] = field(default_factory=dict)
    # "silence:<id>" or "inhibited:<fingerprint>", while muted: the recorded form of rules.notify.MutedBy
    muted_by: str | None = None

    def view(self) -> Alert:
        return replace(self, labels=dict(self.labels), evidence=dict(self.evidence))


@dataclass(frozen=True, slots=True)
class Notify:
    alert: Alert
    reason: NotifyReason
    roles: tuple[Role, ...]


@dataclass(frozen=True, slots=True)
class Act:
    """A non-notification action of a rule that just fired: a ticket, a device command, a recommendation."""

    alert: Alert
    action: Action


Decision = Notify | Act


def rule_key(rules: RuleFile, rule: Rule) -> str:
    """What decides a rule's behaviour: its definition and the schedule it runs in. Equal keys, equal alerts."""
    schedule = rules.schedules.get(rule.during) if rule.during else None
    return rule.model_dump_json() + (schedule.model_dump_json() if schedule else "")


def fingerprint(rule_id: str, labels: Labels) -> str:
    """Stable id of an alert: a hash of the rule and the sorted labels (as Alertmanager does)."""
    raw = json.dumps([rule_id, sorted(labels)], separators=(",", ":"))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


__all__ = ["Act", "Alert", "AlertState", "Decision", "Labels", "Notify", "NotifyReason", "fingerprint", "rule_key"]
