"""Evaluating rules over the hall: alerts with a lifecycle, and the decisions that follow from them.

    evaluate(hall snapshot, now) / on_message(event, now) / acknowledge / silence
        → [Decision]: Notify(alert, reason, roles) and Act(alert, action)

An alert is identified by its fingerprint — the rule and the labels of its subject — so one condition on one
subject is one alert, however often it is evaluated (deduplication). States: pending (the condition holds, `for`
has not elapsed) → firing → acknowledged → resolved. Every clock is a timestamp kept in the alert, never a timer:
`dump()`/`load()` carry them across a restart, so a pending `for` fires at the right time and never twice, and a
condition whose start is known from the hall (an idle window's idle-since, a device's last-seen) fires with its
true start time even if it matured while the gateway was down. Pure: no I/O, time passed in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import operator
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from rules.hall import HallSnapshot
from rules.language import (
    Action,
    ByLabel,
    Condition,
    Op,
    Role,
    Rule,
    RuleFile,
    Schedule,
    Severity,
    Weekday,
)
from rules.metrics import METRICS, Subject, Value, View, subjects

Labels = tuple[tuple[str, str], ...]
_WEEKDAYS = tuple(Weekday)
_SEVERITY_ORDER = [Severity.INFO, Severity.WARNING, Severity.MAJOR, Severity.CRITICAL]


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
    muted_by: str | None = None  # "silence:<id>" or "inhibited:<fingerprint>", while muted

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


@dataclass(frozen=True, slots=True)
class _Match:
    labels: Labels
    evidence: dict[str, Value]
    since: datetime | None  # when the condition became true, where the metrics tell it


def rule_key(rules: RuleFile, rule: Rule) -> str:
    """What decides a rule's behaviour: its definition and the schedule it runs in. Equal keys, equal alerts."""
    schedule = rules.schedules.get(rule.during) if rule.during else None
    return rule.model_dump_json() + (schedule.model_dump_json() if schedule else "")


def fingerprint(rule_id: str, labels: Labels) -> str:
    """Stable id of an alert: a hash of the rule and the sorted labels (as Alertmanager does)."""
    raw = json.dumps([rule_id, sorted(labels)], separators=(",", ":"))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


class RuleEngine:
    def __init__(self, rules: RuleFile, timezone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(timezone)
        self._fingerprints: dict[tuple[str, Labels], str] = {}
        self._use(rules)
        self.alerts: dict[str, Alert] = {}
        self.silences: dict[str, Silence] = {}
        self._changes: list[Alert] = []  # alerts whose state moved since the last take_changes()
        self._deadlines: dict[str | None, datetime] = {}  # rule id (None: every rule) → its next deadline
        # rule id → subject → when a growing metric (a wait, a silence) will cross the rule's threshold
        self._crossings: dict[str, dict[Labels, datetime]] = {}
        self._predicted: dict[str, set[tuple[str, Labels]]] = {}  # device id → its crossings (rule, labels)
        self._stale = False  # a crossing was dropped since the deadlines were computed
        self._evaluated_at = datetime.min.replace(tzinfo=self.tz)

    def _fingerprint(self, rule_id: str, labels: Labels) -> str:
        key = (rule_id, labels)
        fp = self._fingerprints.get(key)
        if fp is None:
            if len(self._fingerprints) > 100_000:  # bounded: tickets come and go as subjects
                self._fingerprints.clear()
            fp = self._fingerprints[key] = fingerprint(rule_id, labels)
        return fp

    def _use(self, rules: RuleFile) -> None:
        self.rules = rules
        self._by_id = {r.id: r for r in rules.rules}
        self._event_rules = [r for r in rules.rules if r.on is not None and r.enabled]
        self._condition_rules = [r for r in rules.rules if r.when is not None and r.enabled]
        self._tests = {r.id: compile_condition(r.when) for r in self._condition_rules if r.when is not None}
        self._needs = {r.id: condition_needs(r.when) for r in self._condition_rules if r.when is not None}
        self._inhibited = {inh.target for inh in rules.inhibit}

    def reload(self, rules: RuleFile, adopt: RuleEngine | None = None) -> list[str]:
        """Use new rules at once, keeping every clock of the rules that did not change; returns the changed ones.

        A changed rule's pending alerts are dropped (their `for` was timing another condition) and its firing
        ones are kept until the next evaluation says whether the new condition still holds. A removed rule's
        alerts resolve at the next evaluation. `adopt`: an engine that ran the new rules in shadow — its pending
        and firing alerts of the changed rules come over as pending with their start, so a condition that has
        held for its `for:` fires at the next evaluation (with its actions) instead of starting to wait again."""
        before = {r.id: rule_key(self.rules, r) for r in self.rules.rules}
        changed = sorted(r.id for r in rules.rules if before.get(r.id) != rule_key(rules, r))
        self._use(rules)
        for fp, alert in list(self.alerts.items()):
            if alert.rule_id in changed and alert.state is AlertState.PENDING:
                del self.alerts[fp]
        for rid in changed:
            self._crossings.pop(rid, None)
        if adopt is not None:
            for fp, alert in adopt.alerts.items():
                if alert.rule_id in changed and alert.state is not AlertState.RESOLVED and fp not in self.alerts:
                    self.alerts[fp] = replace(alert.view(), state=AlertState.PENDING, fired_at=None, notified_at=None,
                                              notifications=0, escalation_level=0)  # fmt: skip
        self._deadlines = {None: datetime.min.replace(tzinfo=self.tz)}  # evaluate at once
        return changed

    # -- evaluation ---------------------------------------------------------------------------------------

    def evaluate(self, hall: HallSnapshot, now: datetime, only: set[str] | None = None) -> list[Decision]:
        """Evaluate the condition rules at `now` and move the alerts on. Idempotent for the same inputs.

        `only`: evaluate just these rules (a backtest meeting one rule's deadline); the others keep their alerts and
        their deadlines as they are."""
        out: list[Decision] = []
        by_rule: dict[str, list[Alert]] = {}
        for alert in self.alerts.values():
            if only is None or alert.rule_id in only:
                by_rule.setdefault(alert.rule_id, []).append(alert)
        for rule in self._condition_rules:
            if only is not None and rule.id not in only:
                continue
            assert rule.when is not None
            seen: set[str] = set()
            crossings: dict[Labels, datetime] = {}
            if self._in_schedule(rule, now):
                opened = self._schedule_opened(rule, now)
                for found in self._matches(rule, hall, now, crossings):
                    match = found
                    if opened is not None and found.since is not None and found.since < opened:
                        match = replace(found, since=opened)  # outside the schedule the condition did not count
                    fp = self._fingerprint(rule.id, match.labels)
                    seen.add(fp)
                    self._hold(rule, fp, match, now, out)
            self._crossings[rule.id] = crossings
            for alert in by_rule.get(rule.id, ()):
                if alert.fingerprint not in seen:
                    self._clear(rule, alert, now, out)
        for alert in list(self.alerts.values()):
            if only is not None and alert.rule_id not in only:
                continue
            owner = self._by_id.get(alert.rule_id)
            if owner is None or not owner.enabled:  # the rule was removed or switched off: its alerts end
                self._resolve(alert, now, out, ())
            elif owner.on is not None and owner.keep_firing_for and now - alert.last_true >= owner.keep_firing_for:
                self._resolve(alert, now, out, self._roles(owner))
        # alerts of the other rules are neither muted nor told anew unless a silence or an inhibition is about
        scoped = only if only is not None and not self.silences and not self._inhibited else None
        self._mute_and_notify(now, out, scoped)
        if scoped is not None and not self._stale:  # the other rules' deadlines are as they were (all ahead)
            deadlines = {rid: t for rid, t in self._deadlines.items() if rid not in scoped and t > now}
            deadlines.update(self._next_deadlines(now, scoped))
        else:
            deadlines = self._next_deadlines(now)
        self._deadlines, self._stale, self._evaluated_at = deadlines, False, now
        return out

    def on_message(self, msg: DeviceMessage, now: datetime) -> list[Decision]:
        """Event rules: a matching event fires (or adds to) an alert at once."""
        out: list[Decision] = []
        kind = msg.type
        created = False
        for rule in self._event_rules:
            assert rule.on is not None
            if rule.on.event != kind or not self._event_matches(rule, msg) or not self._in_schedule(rule, msg.at):
                continue
            labels = self._event_labels(msg)
            fp = fingerprint(rule.id, labels)
            alert = self.alerts.get(fp)
            evidence: dict[str, Value] = {k: _plain(getattr(msg.payload, k, None)) for k in rule.on.where or ("type",)}
            if alert is not None and alert.state is not AlertState.RESOLVED:
                alert.occurrences += 1
                alert.last_true = msg.at
                alert.evidence = evidence
                continue
            reason = f"{kind} from {msg.device_type} {msg.device_id}" + (
                " (" + ", ".join(f"{k}={v}" for k, v in evidence.items()) + ")" if rule.on.where else ""
            )
            alert = Alert(fp, rule.id, dict(labels), rule.severity, AlertState.FIRING, msg.at, msg.at,
                          fired_at=msg.at, reason=reason, evidence=evidence)  # fmt: skip
            self.alerts[fp] = alert
            self._changes.append(alert.view())
            out.extend(Act(alert.view(), a) for a in rule.then if a.alert is None)
            created = True
        if created:  # only a new alert can need telling; the rest waits for the next evaluation
            self._mute_and_notify(now, out)
            self._stale = True  # its deadlines (keep firing for, escalation, repeat) join the others
        return out

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def take_changes(self) -> list[Alert]:
        """Alerts that fired, were acknowledged, escalated or resolved since the last call (for the history)."""
        changes, self._changes = self._changes, []
        return changes

    def next_deadline(self) -> datetime | None:
        """The earliest time an evaluation could change something (a `for` elapsing, a repeat, an escalation)."""
        return min(self.deadlines().values(), default=None)

    def touched(self, device_id: str) -> None:
        """A device sent a message: the moments predicted from its silence (when it would count as offline) no
        longer hold; the next evaluation predicts them again. Lets a backtest skip evaluating at predictions a
        heartbeat made stale (a city hall's devices make one a second)."""
        for rule_id, labels in self._predicted.pop(device_id, ()):
            if self._crossings.get(rule_id, {}).pop(labels, None) is not None:
                self._stale = True

    def open_on(self) -> dict[str, set[str]]:
        """Condition alerts not yet resolved, by the device or window they are about: subject id → rule ids. A
        message from that subject may end them (a called number came to the counter)."""
        out: dict[str, set[str]] = {}
        for a in self.alerts.values():
            rule = self._by_id.get(a.rule_id)
            if rule is None or rule.when is None:
                continue
            for key in ("device", "window"):
                if key in a.labels:
                    out.setdefault(a.labels[key], set()).add(a.rule_id)
        return out

    def needs(self, only: Iterable[str]) -> frozenset[Subject] | None:
        """The kinds of subject a snapshot must hold to evaluate these rules (None: the whole hall)."""
        kinds: set[Subject] = set()
        for rule_id in only:
            need = self._needs.get(rule_id, frozenset())
            if need is None:
                return None
            kinds |= need
        return frozenset(kinds)

    def deadlines(self) -> dict[str | None, datetime]:
        """Each rule's next deadline (key None: one for every rule, a silence starting or ending)."""
        if self._stale:
            self._stale = False
            self._deadlines = self._next_deadlines(self._evaluated_at)
        return self._deadlines

    # -- people -------------------------------------------------------------------------------------------

    def acknowledge(self, fp: str, by: str, now: datetime) -> list[Decision]:
        alert = self.alerts.get(fp)
        if alert is None or alert.state not in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
            raise KeyError(fp)
        if alert.state is AlertState.ACKNOWLEDGED:
            return []
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by = now, by
        self._changes.append(alert.view())
        rule = self._by_id.get(alert.rule_id)
        out: list[Decision] = [Notify(alert.view(), NotifyReason.ACKNOWLEDGED, self._roles(rule) if rule else ())]
        if rule is not None and rule.on is not None and not rule.keep_firing_for:
            self._resolve(alert, now, out, ())  # an event alert is done once someone took it
        return out

    def silence(self, s: Silence) -> None:
        self.silences[s.id] = s

    def expire_silence(self, silence_id: str, now: datetime) -> None:
        s = self.silences.get(silence_id)
        if s is None:
            raise KeyError(silence_id)
        self.silences[silence_id] = replace(s, ends_at=min(s.ends_at, now))

    # -- internals ----------------------------------------------------------------------------------------

    def _hold(self, rule: Rule, fp: str, match: _Match, now: datetime, out: list[Decision]) -> None:
        since = min(match.since, now) if match.since is not None else now
        alert = self.alerts.get(fp)
        if alert is None or alert.state is AlertState.RESOLVED:
            alert = Alert(fp, rule.id, dict(match.labels), rule.severity, AlertState.PENDING, since, now)
            self.alerts[fp] = alert
        else:
            alert.active_since = min(alert.active_since, since)
        alert.last_true = now
        alert.evidence = match.evidence
        alert.reason = _reason(rule, match)
        if alert.state is AlertState.PENDING and now >= alert.active_since + rule.for_:
            alert.state = AlertState.FIRING
            alert.fired_at = alert.active_since + rule.for_
            self._changes.append(alert.view())
            out.extend(Act(alert.view(), a) for a in rule.then if a.alert is None)

    def _clear(self, rule: Rule, alert: Alert, now: datetime, out: list[Decision]) -> None:
        if alert.state is AlertState.PENDING:
            del self.alerts[alert.fingerprint]  # never fired: nothing to tell anyone
        elif alert.state is not AlertState.RESOLVED and now - alert.last_true >= rule.keep_firing_for:
            self._resolve(alert, now, out, self._roles(rule))

    def _resolve(self, alert: Alert, now: datetime, out: list[Decision], roles: tuple[Role, ...]) -> None:
        if alert.state is AlertState.RESOLVED:
            return
        alert.state = AlertState.RESOLVED
        alert.resolved_at = now
        del self.alerts[alert.fingerprint]
        self._changes.append(alert.view())
        if alert.notified_at is not None:  # whoever was told it fired is told it is over, muted since or not
            out.append(Notify(alert.view(), NotifyReason.RESOLVED, roles))

    def _mute_and_notify(self, now: datetime, out: list[Decision], only: set[str] | None = None) -> None:
        firing = [a for a in self.alerts.values() if a.state in (AlertState.FIRING, AlertState.ACKNOWLEDGED)
                  and (only is None or a.rule_id in only)]  # fmt: skip
        by_rule: dict[str, list[Alert]] = {}
        if self._inhibited:  # only an inhibition looks at other rules' alerts
            for a in firing:
                by_rule.setdefault(a.rule_id, []).append(a)
        for alert in firing:
            alert.muted_by = self._muted_by(alert, by_rule, now)
            rule = self._by_id.get(alert.rule_id)
            if rule is None or alert.muted_by is not None:
                continue
            if not self._roles(rule) and not rule.escalate:
                continue  # an automatic action (a re-call, a self-test): recorded, nobody paged
            if alert.notified_at is None:
                self._notify(alert, NotifyReason.FIRING, self._roles(rule), now, out)
                continue
            if alert.state is AlertState.ACKNOWLEDGED:
                continue
            assert alert.fired_at is not None
            level = alert.escalation_level
            if level < len(rule.escalate) and now >= alert.fired_at + rule.escalate[level].after:
                step = rule.escalate[level]
                alert.escalation_level += 1
                if step.severity is not None and _SEVERITY_ORDER.index(step.severity) > _SEVERITY_ORDER.index(
                    alert.severity
                ):
                    alert.severity = step.severity
                self._changes.append(alert.view())
                self._notify(alert, NotifyReason.ESCALATED, tuple(step.to), now, out)
            elif rule.repeat_every and now - alert.notified_at >= rule.repeat_every:
                self._notify(alert, NotifyReason.REPEAT, self._roles(rule), now, out)

    def _notify(self, alert: Alert, reason: NotifyReason, roles: tuple[Role, ...], now: datetime,
                out: list[Decision]) -> None:  # fmt: skip
        alert.notified_at = now
        alert.notifications += 1
        out.append(Notify(alert.view(), reason, roles))

    def _muted_by(self, alert: Alert, firing: dict[str, list[Alert]], now: datetime) -> str | None:
        if not self.silences and alert.rule_id not in self._inhibited:
            return None  # nothing could mute it (the common case: checked for every firing alert, every evaluation)
        for s in self.silences.values():
            if s.matches(alert, now):
                return f"silence:{s.id}"
        for inh in self.rules.inhibit:
            if inh.target != alert.rule_id:
                continue
            for src in firing.get(inh.source, ()):
                if (
                    src is not alert
                    and src.muted_by is None
                    and all(src.labels.get(k) == alert.labels.get(k) for k in inh.equal)
                ):
                    return f"inhibited:{src.fingerprint}"
        return None

    def _roles(self, rule: Rule) -> tuple[Role, ...]:
        roles: list[Role] = []
        for a in rule.then:
            if a.alert is not None:
                roles.extend(r for r in a.alert.to if r not in roles)
        return tuple(roles)

    def _next_deadlines(self, now: datetime, only: set[str] | None = None) -> dict[str | None, datetime]:
        """Each rule's next deadline after `now` (of these rules only, and no silences, with `only`)."""
        out: dict[str | None, datetime] = {}

        def ahead(rid: str | None, t: datetime) -> None:
            if t > now and (rid not in out or t < out[rid]):
                out[rid] = t

        for rid, ts in self._crossings.items():
            if only is not None and rid not in only:
                continue
            future = [t for t in ts.values() if t > now]
            if future:
                out[rid] = min(future)
        for a in self.alerts.values():
            if only is not None and a.rule_id not in only:
                continue
            rule = self._by_id.get(a.rule_id)
            if rule is None:
                continue
            if a.state is AlertState.PENDING:
                ahead(rule.id, a.active_since + rule.for_)
            elif a.state is AlertState.FIRING and a.fired_at is not None:
                if a.escalation_level < len(rule.escalate):
                    ahead(rule.id, a.fired_at + rule.escalate[a.escalation_level].after)
                if rule.repeat_every and a.notified_at is not None:
                    ahead(rule.id, a.notified_at + rule.repeat_every)
            if rule.keep_firing_for and a.state in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
                ahead(rule.id, a.last_true + rule.keep_firing_for)
        for s in self.silences.values() if only is None else ():
            ahead(None, s.starts_at)
            ahead(None, s.ends_at)
        return out

    # -- conditions ---------------------------------------------------------------------------------------

    def _matches(
        self, rule: Rule, hall: HallSnapshot, now: datetime, crossings: dict[Labels, datetime]
    ) -> list[_Match]:
        assert rule.when is not None
        test = self._tests[rule.id]
        out = []
        marks: list[datetime] = []
        for labels, named, device, view in _subjects_of(_subject_kind(rule.when), hall):
            result = test(named, view, hall, now, marks)
            if marks:
                crossings[labels] = min(marks)
                marks.clear()
                if device is not None:
                    self._predicted.setdefault(device, set()).add((rule.id, labels))
            if result is not None:
                evidence, since = result
                out.append(_Match(labels, evidence, since))
        return out

    def _schedule_opened(self, rule: Rule, now: datetime) -> datetime | None:
        if rule.during is None or rule.during == "always":
            return None
        return span_start(self.rules.schedules[rule.during], now.astimezone(self.tz))

    def _in_schedule(self, rule: Rule, now: datetime) -> bool:
        if rule.during is None or rule.during == "always":
            return True
        return in_schedule(self.rules.schedules[rule.during], now.astimezone(self.tz))

    @staticmethod
    def _event_matches(rule: Rule, msg: DeviceMessage) -> bool:
        assert rule.on is not None
        for name, test in rule.on.where.items():
            actual = _plain(getattr(msg.payload, name, None))
            tests = test if isinstance(test, dict) else {Op.EQ: test}
            if not all(_compare(actual, Op(op), want) for op, want in tests.items()):
                return False
        return True

    @staticmethod
    def _event_labels(msg: DeviceMessage) -> Labels:
        labels = {"device": msg.device_id, "device_type": msg.device_type.value}
        for key in ("window_id", "ticket_id"):
            value = getattr(msg.payload, key, None)
            if value is not None:
                labels[key.removesuffix("_id")] = str(value)
        return tuple(sorted(labels.items()))

    # -- persistence --------------------------------------------------------------------------------------

    def dump(self) -> dict[str, object]:
        return {
            "alerts": [_dump_alert(a) for a in self.alerts.values()],
            "silences": [_dump_silence(s) for s in self.silences.values()],
        }

    def load(self, body: dict[str, object]) -> None:
        alerts = body.get("alerts", [])
        silences = body.get("silences", [])
        assert isinstance(alerts, list) and isinstance(silences, list)
        self.alerts = {a.fingerprint: a for a in (_load_alert(x) for x in alerts)}
        self.silences = {s.id: s for s in (_load_silence(x) for x in silences)}


# ---------------------------------------------------------------------------------------------- helpers


def in_schedule(schedule: Schedule, local: datetime) -> bool:
    day = local.date()
    if day in schedule.holidays:
        return False
    if _WEEKDAYS[day.weekday()] not in schedule.weekdays and day not in schedule.workdays:
        return False
    t = local.time()
    for span in schedule.hours:
        start = time.fromisoformat(span[:5])
        end_s = span[6:]
        if end_s == "24:00":
            if t >= start:
                return True
        elif start <= t < time.fromisoformat(end_s):
            return True
    return False


def span_start(schedule: Schedule, local: datetime) -> datetime | None:
    """Start of the schedule period `local` falls in (None if it falls in none)."""
    if not in_schedule(schedule, local):
        return None
    t = local.time()
    starts = [time.fromisoformat(span[:5]) for span in schedule.hours]
    begun = [s for s in starts if s <= t]
    return local.replace(hour=max(begun).hour, minute=max(begun).minute, second=0, microsecond=0) if begun else None


_Subjects = list[tuple[Labels, dict[str, str], str | None, View]]
_listed = threading.local()  # per thread (a backtest in the API's worker thread): the snapshot last listed


def _subjects_of(kind: Subject, hall: HallSnapshot) -> _Subjects:
    """Every subject of a kind with its labels (as a tuple and as a read-only dict) and its device id — listed once
    per snapshot, for every rule (and every engine: a shadow, a backtest's two versions) that evaluates it."""
    if getattr(_listed, "hall", None) is not hall:
        _listed.hall, _listed.kinds = hall, {}
    kinds: dict[Subject, _Subjects] = _listed.kinds
    if kind not in kinds:
        kinds[kind] = [(labels, named, named.get("device"), view)
                       for labels, view in subjects(kind, hall) for named in (dict(labels),)]  # fmt: skip
    return kinds[kind]


def condition_needs(cond: Condition) -> frozenset[Subject] | None:
    """The kinds of subject a snapshot must hold to test the condition (None: the whole hall)."""
    if cond.metric is not None:
        return METRICS[cond.metric].needs
    kinds: set[Subject] = set()
    for part in cond.all or cond.any or ([cond.not_] if cond.not_ else []):
        need = condition_needs(part)
        if need is None:
            return None
        kinds |= need
    return frozenset(kinds)


def _subject_kind(cond: Condition) -> Subject:
    if cond.metric is not None:
        return METRICS[cond.metric].subject
    parts = cond.all or cond.any or ([cond.not_] if cond.not_ else [])
    kinds = {_subject_kind(p) for p in parts if p is not None} - {Subject.HALL}
    return kinds.pop() if kinds else Subject.HALL


Test = Callable[[dict[str, str], View, HallSnapshot, datetime, list[datetime]],
                tuple[dict[str, Value], datetime | None] | None]  # fmt: skip
"""A compiled condition: None if false; else the evidence and, if known, since when it has been true. It appends to
the list the moments it would become true if nothing but time changed (a wait crossing its threshold)."""


def compile_condition(cond: Condition) -> Test:
    """The condition as one closure, its lookups done once: the engine tests every subject of the hall with it on
    every evaluation (a city hall: ~1,500 tests a second), so this is its inner loop."""
    if cond.metric is not None:
        return _compile_metric(cond)
    if cond.all is not None:
        parts = [compile_condition(p) for p in cond.all]

        def all_(labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime,
                 deadlines: list[datetime]) -> tuple[dict[str, Value], datetime | None] | None:  # fmt: skip
            evidence: dict[str, Value] = {}
            starts: list[datetime | None] = []
            for part in parts:
                r = part(labels, view, hall, now, deadlines)
                if r is None:
                    return None
                evidence.update(r[0])
                starts.append(r[1])
            known = [s for s in starts if s is not None]
            # all parts hold since the latest of their starts; unknown starts mean "now" (see _hold)
            return evidence, (max(known) if known and len(known) == len(starts) else None)

        return all_
    if cond.any is not None:
        options = [compile_condition(p) for p in cond.any]

        def any_(labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime,
                 deadlines: list[datetime]) -> tuple[dict[str, Value], datetime | None] | None:  # fmt: skip
            evidence: dict[str, Value] | None = None
            first: datetime | None = None
            for option in options:  # every option is tested: each may predict when it will hold
                r = option(labels, view, hall, now, deadlines)
                if r is not None:
                    evidence = {**evidence, **r[0]} if evidence is not None else dict(r[0])
                    if r[1] is not None and (first is None or r[1] < first):
                        first = r[1]
            return None if evidence is None else (evidence, first)

        return any_
    assert cond.not_ is not None
    inner = compile_condition(cond.not_)

    def not_(labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime,
             deadlines: list[datetime]) -> tuple[dict[str, Value], datetime | None] | None:  # fmt: skip
        return ({}, None) if inner(labels, view, hall, now, []) is None else None

    return not_


def _compile_metric(cond: Condition) -> Test:
    assert cond.metric is not None and cond.op is not None
    name, op = cond.metric, cond.op
    metric = METRICS[name]
    read, since_of = metric.read, metric.since
    on_hall = metric.subject is Subject.HALL
    unit = timedelta(seconds=1) if metric.per_second else timedelta(minutes=1)
    growing = since_of is not None and op in (Op.GE, Op.GT)
    where = list(cond.where.items())
    by = cond.value if isinstance(cond.value, ByLabel) else None
    fixed = cond.value
    # the common case — a float metric against a fixed number — compared directly (same result as _compare)
    direct = _ORDER.get(op) if by is None and isinstance(fixed, int | float) and not isinstance(fixed, bool) else None

    if not where and by is None and not growing:  # the common case, without what it does not use

        def simple(labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime,
                   deadlines: list[datetime]) -> tuple[dict[str, Value], datetime | None] | None:  # fmt: skip
            value = read(hall if on_hall else view, hall, now)
            if fixed is None or not (direct(value, fixed) if direct is not None and value.__class__ is float
                                     else _compare(value, op, fixed)):  # fmt: skip
                return None
            return {name: _plain(value)}, None

        return simple

    def test(labels: dict[str, str], view: View, hall: HallSnapshot, now: datetime,
             deadlines: list[datetime]) -> tuple[dict[str, Value], datetime | None] | None:  # fmt: skip
        for k, pat in where:
            if not fnmatch.fnmatchcase(labels.get(k, ""), pat):
                return None
        target = hall if on_hall else view
        value = read(target, hall, now)
        want = fixed if by is None else by.values.get(labels.get(by.by, ""), by.default)
        crossing: datetime | None = None
        if growing and isinstance(want, int | float):
            assert since_of is not None
            start = since_of(target, hall, now)
            if start is not None:
                crossing = start + unit * float(want)
        if want is None or not (direct(value, want) if direct is not None and value.__class__ is float
                                else _compare(value, op, want)):  # fmt: skip
            if crossing is not None and crossing > now:
                deadlines.append(crossing)  # it will become true then, if nothing changes
            return None
        return {name: _plain(value)}, crossing

    return test


_ORDER: dict[Op, Callable[[Any, Any], bool]] = {Op.GT: operator.gt, Op.GE: operator.ge, Op.LT: operator.lt,
                                                Op.LE: operator.le}  # fmt: skip


def _compare(value: Value | object, op: Op, want: object) -> bool:
    if value is None:
        return False
    if op is Op.IN:
        return isinstance(want, list) and value in want
    if op is Op.EQ:
        return bool(value == want)
    if op is Op.NE:
        return bool(value != want)
    if isinstance(value, bool) or not isinstance(value, int | float) or not isinstance(want, int | float):
        return False
    if op is Op.GT:
        return value > want
    if op is Op.GE:
        return value >= want
    if op is Op.LT:
        return value < want
    return value <= want


def _plain(value: object) -> Value:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        v = float(value)
        return v if math.isfinite(v) else None if math.isnan(v) else v
    return str(value)


def _reason(rule: Rule, match: _Match) -> str:
    parts = []
    for name, value in match.evidence.items():
        shown = (
            "∞"
            if isinstance(value, float) and math.isinf(value)
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )
        parts.append(f"{name} = {shown}")
    where = ", ".join(f"{k}={v}" for k, v in match.labels)
    return f"{'; '.join(parts)}" + (f" ({where})" if where else "")


def _dt(v: object) -> datetime | None:
    return datetime.fromisoformat(v) if isinstance(v, str) else None


def _dump_alert(a: Alert) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in a.__slots__:
        value = getattr(a, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    out["evidence"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in a.evidence.items()}
    return out


def _load_alert(raw: object) -> Alert:
    assert isinstance(raw, dict)
    data = dict(raw)
    for name in ("active_since", "last_true", "fired_at", "resolved_at", "acknowledged_at", "notified_at"):
        data[name] = _dt(data.get(name))
    data["severity"] = Severity(data["severity"])
    data["state"] = AlertState(data["state"])
    return Alert(**data)


def _dump_silence(s: Silence) -> dict[str, object]:
    return {
        "id": s.id, "rule": s.rule, "labels": s.labels, "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(), "created_by": s.created_by, "comment": s.comment,
    }  # fmt: skip


def _load_silence(raw: object) -> Silence:
    assert isinstance(raw, dict)
    starts, ends = _dt(raw["starts_at"]), _dt(raw["ends_at"])
    assert starts is not None and ends is not None
    return Silence(str(raw["id"]), str(raw["rule"]), dict(raw["labels"]), starts, ends, str(raw["created_by"]),
                   str(raw["comment"]))  # fmt: skip
