"""The notification policy, in Alertmanager's shape: who is told about a firing alert, and when.

    mute(firing alerts, [Silences, Inhibitions], now)     one muting stage: each alert records what mutes it
    due_notification(alert, rule, now) → NotifyReason     first / escalation / repeat, or None: nothing is due

Owns silences (`Silence`), the `Muter` protocol and its two muters (`Silences`, `Inhibitions`), the typed answer
they give (`MutedBy`, recorded on the alert as `silence:<id>` / `inhibited:<fingerprint>`, the form the store and
the API have always shown), the muting stage (`mute`), the roles a rule tells (`rule_roles`) and the pure decision
of which notification is due (`due_notification`, `escalated_severity`). Must not change an alert's state, send
anything or keep a clock: the engine applies what is decided here (`RuleEngine._mute_and_notify`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rules.alerts import Alert, AlertState, NotifyReason
from rules.language import Escalation, Inhibition, Role, Rule, Severity

_SEVERITY_ORDER = [Severity.INFO, Severity.WARNING, Severity.MAJOR, Severity.CRITICAL]


class MuteKind(StrEnum):
    SILENCE = "silence"
    INHIBITION = "inhibited"


@dataclass(frozen=True, slots=True)
class MutedBy:
    """What mutes an alert: a silence (by its id) or an inhibition (by the fingerprint of the alert inhibiting it)."""

    kind: MuteKind
    by: str

    def __str__(self) -> str:
        """The recorded form (`Alert.muted_by`, the saved state, the API): `silence:<id>`, `inhibited:<fp>`."""
        return f"{self.kind}:{self.by}"


class Muter(Protocol):
    def mutes(self, alert: Alert, now: datetime) -> MutedBy | None:
        """What of this muter mutes the alert at `now` (None: nothing)."""
        ...


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str  # rule id, wildcards allowed
    labels: dict[str, str]  # label → value (wildcards allowed)
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def matches(self, alert: Alert, now: datetime) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and fnmatch.fnmatchcase(alert.rule_id, self.rule)
            and all(fnmatch.fnmatchcase(alert.labels.get(k, ""), v) for k, v in self.labels.items())
        )


class Silences:
    """The muter of the silences: the first in force that matches the alert mutes it."""

    __slots__ = ("_silences",)

    def __init__(self, silences: Collection[Silence]) -> None:
        self._silences = silences

    def mutes(self, alert: Alert, now: datetime) -> MutedBy | None:
        for s in self._silences:
            if s.matches(alert, now):
                return MutedBy(MuteKind.SILENCE, s.id)
        return None


class Inhibitions:
    """The muter of the rules' inhibitions: a firing alert of a source rule, itself not muted, mutes the alerts of
    the target rule whose `equal:` labels it shares.

    Whether a source is muted is read off the source alert as the muting stage has left it so far: an alert earlier
    in the stage's order has its new answer, a later one still the last evaluation's."""

    __slots__ = ("_by_rule", "_inhibit", "_targets")

    def __init__(self, inhibit: Sequence[Inhibition], firing: Iterable[Alert]) -> None:
        self._inhibit = inhibit
        self._targets = {inh.target for inh in inhibit}
        self._by_rule: dict[str, list[Alert]] = {}
        for a in firing:
            self._by_rule.setdefault(a.rule_id, []).append(a)

    def mutes(self, alert: Alert, now: datetime) -> MutedBy | None:
        if alert.rule_id not in self._targets:
            return None
        for inh in self._inhibit:
            if inh.target != alert.rule_id:
                continue
            for src in self._by_rule.get(inh.source, ()):
                if (
                    src is not alert
                    and src.muted_by is None
                    and all(src.labels.get(k) == alert.labels.get(k) for k in inh.equal)
                ):
                    return MutedBy(MuteKind.INHIBITION, src.fingerprint)
        return None


def mute(alerts: Iterable[Alert], muters: Sequence[Muter], now: datetime) -> None:
    """The muting stage: each alert records what mutes it now — the first muter's answer, in their order — or that
    nothing does (`Alert.muted_by`, in its recorded form)."""
    for alert in alerts:
        muted: MutedBy | None = None
        for muter in muters:
            muted = muter.mutes(alert, now)
            if muted is not None:
                break
        alert.muted_by = None if muted is None else str(muted)


def rule_roles(rule: Rule) -> tuple[Role, ...]:
    """The roles a rule's alert actions tell, each once, in the order the rule names them."""
    roles: list[Role] = []
    for a in rule.then:
        if a.alert is not None:
            roles.extend(r for r in a.alert.to if r not in roles)
    return tuple(roles)


def due_notification(alert: Alert, rule: Rule, now: datetime) -> NotifyReason | None:
    """The notification an unmuted firing or acknowledged alert is due at `now`, if any (Alertmanager's
    `needsUpdate`): the first one once it fires; then, until someone acknowledges it, the next escalation step once
    its `after` has passed since it fired, else a repeat once `repeat_every` has passed since the last notification.
    A rule that tells nobody (an automatic action: a re-call, a self-test) is recorded, but nobody is paged."""
    if not rule_roles(rule) and not rule.escalate:
        return None
    if alert.notified_at is None:
        return NotifyReason.FIRING
    if alert.state is AlertState.ACKNOWLEDGED:
        return None
    assert alert.fired_at is not None
    level = alert.escalation_level
    if level < len(rule.escalate) and now >= alert.fired_at + rule.escalate[level].after:
        return NotifyReason.ESCALATED
    if rule.repeat_every and now - alert.notified_at >= rule.repeat_every:
        return NotifyReason.REPEAT
    return None


def escalated_severity(severity: Severity, step: Escalation) -> Severity:
    """An alert's severity after an escalation step: the step's, if it names a higher one."""
    if step.severity is not None and _SEVERITY_ORDER.index(step.severity) > _SEVERITY_ORDER.index(severity):
        return step.severity
    return severity
