"""Evaluating rules over the hall: alerts with a lifecycle, and the decisions that follow from them.

    evaluate(hall snapshot, now) / on_message(event, now) / acknowledge / silence
        → [Decision]: Notify(alert, reason, roles) and Act(alert, action)

An alert is identified by its fingerprint — the rule and the labels of its subject — so one condition on one
subject is one alert, however often it is evaluated (deduplication). States: pending (the condition holds, `for`
has not elapsed) → firing → acknowledged → resolved. Every clock is a timestamp kept in the alert, never a timer:
`dump()`/`load()` carry them across a restart, so a pending `for` fires at the right time and never twice, and a
condition whose start is known from the hall (an idle window's idle-since, a device's last-seen) fires with its
true start time even if it matured while the gateway was down. Pure: no I/O, time passed in.

Owns the orchestration: `RuleEngine` — evaluating, the alerts' lifecycle (pending → firing → resolved), applying
the notification policy's decisions, and the deadlines (when an evaluation could next change something). The parts
it puts together are its neighbours, and it must not grow them back: the alert model (`rules.alerts`), conditions
(`rules.conditions`), the notification policy (`rules.notify`), schedules (`rules.schedule`) and the saved format
(`rules.engine_state`). The names the rest of the tree imports from here are re-exported (`__all__`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from rules.alerts import Act, Alert, AlertState, Decision, Labels, Notify, NotifyReason, fingerprint, rule_key
from rules.conditions import (
    Match,
    SubjectListing,
    compile_condition,
    condition_needs,
    describe,
    event_labels,
    event_matches,
    plain,
    subject_kind,
)
from rules.engine_state import EngineState, dump_state, load_state
from rules.hall import HallSnapshot
from rules.language import Role, Rule, RuleFile
from rules.metrics import Subject, Value
from rules.notify import (
    Inhibitions,
    Muter,
    Silence,
    Silences,
    due_notification,
    escalated_severity,
    mute,
    rule_roles,
)
from rules.schedule import in_schedule, span_start

# An event alert (a rule with `on:`) lasts this long after its last matching event unless the rule says
# `keep_firing_for`: a kiosk help request from the morning is not still firing in the evening (what it opened — a
# rectification ticket — stays open on its own clock). Acknowledging it ends it at once, as before. Events gather
# into an open alert only within this span of its start: a kiosk asked for help every forty minutes is a new alert
# each time past it, never one alert from 09:11 kept alive all day (issue 19).
EVENT_ALERT_LASTS = timedelta(hours=1)
# the (rule, labels) → fingerprint memo, about 500 bytes an entry: 5 MB at most. (It was 100,000 — 50 MB — and a city
# day replayed with its commands unanswered added 2,000–2,700 a day, a command's labels each: weeks of growth.)
FINGERPRINTS_KEPT = 10_000

__all__ = [
    "EVENT_ALERT_LASTS",
    "Act",
    "Alert",
    "AlertState",
    "Decision",
    "Notify",
    "NotifyReason",
    "RuleEngine",
    "Silence",
    "event_alert_lasts",
    "fingerprint",
    "in_schedule",
    "rule_key",
    "span_start",
]


def event_alert_lasts(rule: Rule) -> timedelta:
    """How long an event rule's alert fires after its last event: its `keep_firing_for`, else EVENT_ALERT_LASTS."""
    return rule.keep_firing_for or EVENT_ALERT_LASTS


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
        self._listing: SubjectListing | None = None  # the subjects of the snapshot last evaluated

    def _fingerprint(self, rule_id: str, labels: Labels) -> str:
        key = (rule_id, labels)
        fp = self._fingerprints.get(key)
        if fp is None:
            if len(self._fingerprints) >= FINGERPRINTS_KEPT:  # tickets and commands come and go as subjects
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
                    self.alerts[fp] = replace(
                        alert.view(),
                        state=AlertState.PENDING,
                        fired_at=None,
                        notified_at=None,
                        notifications=0,
                        escalation_level=0,
                    )
        self._deadlines = {None: datetime.min.replace(tzinfo=self.tz)}  # evaluate at once
        return changed

    # -- evaluation ---------------------------------------------------------------------------------------

    def evaluate(self, hall: HallSnapshot, now: datetime, only: set[str] | None = None) -> list[Decision]:
        """Evaluate the condition rules at `now` and move the alerts on. Idempotent for the same inputs.

        `only`: evaluate just these rules (a backtest meeting one rule's deadline); the others keep their alerts and
        their deadlines as they are."""
        out: list[Decision] = []
        listing = self._listing = SubjectListing(hall, self._listing)
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
                for found in self._matches(rule, listing, hall, now, crossings):
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
            elif owner.on is not None and now - alert.last_true >= event_alert_lasts(owner):
                self._resolve(alert, now, out, rule_roles(owner))
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
            if rule.on.event != kind or not event_matches(rule.on, msg) or not self._in_schedule(rule, msg.at):
                continue
            labels = event_labels(msg)
            fp = fingerprint(rule.id, labels)
            alert = self.alerts.get(fp)
            evidence: dict[str, Value] = {k: plain(getattr(msg.payload, k, None)) for k in rule.on.where or ("type",)}
            if alert is not None and alert.state is not AlertState.RESOLVED:
                if msg.at - (alert.fired_at or alert.active_since) < event_alert_lasts(rule):
                    alert.occurrences += 1
                    alert.last_true = msg.at
                    alert.evidence = evidence
                    continue
                # it began longer ago than an event alert lasts: this event is a new need (another person at the
                # kiosk), not the old one repeated — the old alert ends and a new one begins, with its own time
                self._resolve(alert, msg.at, out, rule_roles(rule))
            reason = f"{kind} from {msg.device_type} {msg.device_id}" + (
                " (" + ", ".join(f"{k}={v}" for k, v in evidence.items()) + ")" if rule.on.where else ""
            )
            alert = Alert(
                fp,
                rule.id,
                dict(labels),
                rule.severity,
                AlertState.FIRING,
                msg.at,
                msg.at,
                fired_at=msg.at,
                reason=reason,
                evidence=evidence,
            )
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
        out: list[Decision] = [Notify(alert.view(), NotifyReason.ACKNOWLEDGED, rule_roles(rule) if rule else ())]
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

    def _hold(self, rule: Rule, fp: str, match: Match, now: datetime, out: list[Decision]) -> None:
        since = min(match.since, now) if match.since is not None else now
        alert = self.alerts.get(fp)
        if alert is None or alert.state is AlertState.RESOLVED:
            alert = Alert(fp, rule.id, dict(match.labels), rule.severity, AlertState.PENDING, since, now)
            self.alerts[fp] = alert
        else:
            alert.active_since = min(alert.active_since, since)
        alert.last_true = now
        alert.evidence = match.evidence
        alert.reason = describe(match)
        if alert.state is AlertState.PENDING and now >= alert.active_since + rule.for_:
            alert.state = AlertState.FIRING
            alert.fired_at = alert.active_since + rule.for_
            self._changes.append(alert.view())
            out.extend(Act(alert.view(), a) for a in rule.then if a.alert is None)

    def _clear(self, rule: Rule, alert: Alert, now: datetime, out: list[Decision]) -> None:
        if alert.state is AlertState.PENDING:
            del self.alerts[alert.fingerprint]  # never fired: nothing to tell anyone
        elif alert.state is not AlertState.RESOLVED and now - alert.last_true >= rule.keep_firing_for:
            self._resolve(alert, now, out, rule_roles(rule))

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
        """The notification policy over the firing and acknowledged alerts (of `only`'s rules): one muting stage,
        then each unmuted alert's due notification (rules.notify), applied here."""
        firing = [
            a
            for a in self.alerts.values()
            if a.state in (AlertState.FIRING, AlertState.ACKNOWLEDGED) and (only is None or a.rule_id in only)
        ]
        muters: list[Muter] = []  # none (the common case): nothing can mute, the stage only clears `muted_by`
        if self.silences:
            muters.append(Silences(self.silences.values()))
        if self._inhibited:  # only an inhibition looks at other rules' alerts
            muters.append(Inhibitions(self.rules.inhibit, firing))
        mute(firing, muters, now)
        for alert in firing:
            rule = self._by_id.get(alert.rule_id)
            if rule is None or alert.muted_by is not None:
                continue
            reason = due_notification(alert, rule, now)
            if reason is NotifyReason.ESCALATED:
                step = rule.escalate[alert.escalation_level]
                alert.escalation_level += 1
                alert.severity = escalated_severity(alert.severity, step)
                self._changes.append(alert.view())
                self._notify(alert, reason, tuple(step.to), now, out)
            elif reason is not None:
                self._notify(alert, reason, rule_roles(rule), now, out)

    def _notify(
        self, alert: Alert, reason: NotifyReason, roles: tuple[Role, ...], now: datetime, out: list[Decision]
    ) -> None:
        alert.notified_at = now
        alert.notifications += 1
        out.append(Notify(alert.view(), reason, roles))

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
            if rule.on is not None and a.state in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
                ahead(rule.id, a.last_true + event_alert_lasts(rule))
            elif rule.keep_firing_for and a.state in (AlertState.FIRING, AlertState.ACKNOWLEDGED):
                ahead(rule.id, a.last_true + rule.keep_firing_for)
        for s in self.silences.values() if only is None else ():
            ahead(None, s.starts_at)
            ahead(None, s.ends_at)
        return out

    # -- conditions ---------------------------------------------------------------------------------------

    def _matches(
        self, rule: Rule, listing: SubjectListing, hall: HallSnapshot, now: datetime, crossings: dict[Labels, datetime]
    ) -> list[Match]:
        assert rule.when is not None
        test = self._tests[rule.id]
        out = []
        marks: list[datetime] = []
        for subject in listing.of(subject_kind(rule.when)):
            result = test(subject.named, subject.view, hall, now, marks)
            if marks:
                crossings[subject.labels] = min(marks)
                marks.clear()
                if subject.device is not None:
                    self._predicted.setdefault(subject.device, set()).add((rule.id, subject.labels))
            if result is not None:
                evidence, since = result
                out.append(Match(subject.labels, evidence, since))
        return out

    def _schedule_opened(self, rule: Rule, now: datetime) -> datetime | None:
        if rule.during is None or rule.during == "always":
            return None
        return span_start(self.rules.schedules[rule.during], now.astimezone(self.tz))

    def _in_schedule(self, rule: Rule, now: datetime) -> bool:
        if rule.during is None or rule.during == "always":
            return True
        return in_schedule(self.rules.schedules[rule.during], now.astimezone(self.tz))

    # -- persistence --------------------------------------------------------------------------------------

    def digest(self) -> int:
        """Changes whenever what people see of the alerts and silences changes (state, severity, reason, who
        acknowledged, muting, escalation, occurrences): the web UI's cue to re-read them, at the cost of a tuple per
        alert, not a serialisation of the whole state."""
        return hash(
            (
                tuple(
                    (
                        a.fingerprint,
                        a.state,
                        a.severity,
                        a.reason,
                        a.acknowledged_by,
                        a.muted_by,
                        a.escalation_level,
                        a.occurrences,
                    )
                    for a in self.alerts.values()
                ),
                tuple(self.silences),
            )
        )

    def dump(self) -> dict[str, object]:
        """The alerts not yet resolved, with every clock, and the silences, as JSON (rules.engine_state)."""
        return dump_state(EngineState(alerts=tuple(self.alerts.values()), silences=tuple(self.silences.values())))

    def load(self, body: dict[str, object]) -> None:
        """Carry on from what `dump()` saved (this release's or the one before)."""
        state = load_state(body)
        self.alerts = {a.fingerprint: a for a in state.alerts}
        self.silences = {s.id: s for s in state.silences}
