"""The ticket book (工单簿): the hall's working set of tickets and everything that moves them — alerts
(`on_alert`, `on_alert_resolved`), time (`tick`, `next_deadline`) and people (`acknowledge`, `start`, `resolve`,
`close`) — each answered with the `TicketEvent`s that say what happened and whom to tell.

Owns `TicketBook`. The priority comes from priority.py, the SLA targets, breaches and escalation from sla.py, the
moves people may make from lifecycle.py, the saved format from persist.py. Must not do I/O or read a clock: time is
passed in.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from rules.alerts import Act
from rules.hall import DeviceView, HallSnapshot
from rules.schedule import Schedule, WorkingCalendar
from rules.tickets.lifecycle import acknowledgement, check_assignee, check_move, move
from rules.tickets.model import (
    SYSTEM,
    Fault,
    HistoryEntry,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketPriority,
    TicketStatus,
    UnknownTicketError,
    format_clock,
)
from rules.tickets.persist import BookState, dump_book, load_book
from rules.tickets.priority import DevicesByType, assess_priority, choose_priority, group_by_type, works
from rules.tickets.sla import SlaPolicy, check_overdue, merge_roles

log = logging.getLogger(__name__)


class TicketBook:
    """The hall's open tickets and the recently resolved ones that may still re-open.

    Closed tickets leave the book once their reopen window has passed: the book is the working set, and the
    gateway persists every `TicketEvent`'s ticket for the record.

    Unacted rectification tickets stay (overdue) for good, so `tick` must not walk the whole book: `_put` files each
    ticket under the earliest moment `tick` could act on it (`_due`, and `_heap` ordered by it, stale entries
    skipped), and in `_watched` if `tick` must look at it whatever the time (an active device fault, re-assessed and
    verified against the hall; a closed ticket that leaves at once). `tick` visits those and the due ones only."""

    def __init__(self, schedule: Schedule, tz: tzinfo | str = "Asia/Shanghai", policy: SlaPolicy | None = None):
        self.policy = policy or SlaPolicy()
        self.schedule = schedule
        self.calendar = WorkingCalendar(schedule, ZoneInfo(tz) if isinstance(tz, str) else tz)
        self._tickets: dict[str, Ticket] = {}
        self._by_problem: dict[tuple[str, str], str] = {}  # (rule id, subject) → the latest ticket's id
        self._counter: tuple[str, int] = ("", 0)  # (local date, last number issued that day)
        self._seen: datetime | None = None  # the latest `now` of a tick, for `next_deadline`
        self._changes = 0  # tickets put or dropped: `next_deadline` is kept until the book or `_seen` changes
        self._next: tuple[int, datetime | None, datetime | None] | None = None
        self._due: dict[str, datetime] = {}  # ticket id → the earliest moment `tick` could act on it (`_deadline`)
        self._heap: list[tuple[datetime, str]] = []  # (`_due` time, id); an entry `_due` no longer has is stale
        self._watched: set[str] = set()  # ids `tick` looks at on every call

    # -- reading ------------------------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket:
        try:
            return self._tickets[ticket_id]
        except KeyError:
            raise UnknownTicketError(f"there is no ticket {ticket_id}") from None

    @property
    def tickets(self) -> tuple[Ticket, ...]:
        return tuple(self._tickets[k] for k in sorted(self._tickets))

    def find(self, rule_id: str, subject: str) -> Ticket | None:
        """The latest ticket for a problem (rule and subject), if the book still holds it."""
        tid = self._by_problem.get((rule_id, subject))
        return self._tickets.get(tid) if tid else None

    # -- alerts in ----------------------------------------------------------------------------------------

    def on_alert(self, act: Act, hall: HallSnapshot, now: datetime) -> list[TicketEvent]:
        """An alert whose rule says `ticket:` fired: open a ticket, count an occurrence, escalate or re-open one.

        One problem — the rule and its subject (the device; for a bad rating the window and the rated queue
        ticket) — has at most one active ticket, so an alert that flaps adds occurrences, not tickets. And one device
        has at most one active fault ticket: another fault of a device whose ticket is open (paper low, then paper
        out; offline as well) joins that ticket and escalates it (`_escalate`) instead of opening a second one."""
        action = act.action.ticket
        if action is None:
            raise ValueError(f"the action of rule {act.alert.rule_id!r} is not a ticket")
        kind = TicketKind(action.kind)
        alert = act.alert
        labels = alert.labels
        subject = _subject(kind, labels)
        key = (alert.rule_id, subject)
        current = self.find(*key)
        if current is not None and current.active:
            was_verifying = current.verifying_since is not None
            note = "the fault came back during verification" if was_verifying else "fired again"
            t = replace(
                current,
                occurrences=current.occurrences + 1,
                alert_active=True,
                verifying_since=None,
                alert_fingerprint=alert.fingerprint,
                detail=alert.reason or current.detail,
                faults=_fired(current.faults, alert.rule_id, alert.fingerprint, now),
            )
            self._put(t)
            log.info("ticket occurrence ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
            return [TicketEvent(t, TicketEventKind.OCCURRENCE, (), now, note=note)]
        device_id = labels.get("device")
        if kind is TicketKind.DEVICE_FAULT and device_id and (open_one := self._open_fault(device_id)) is not None:
            return [self._escalate(open_one, act, hall, now)]
        if (
            current is not None
            and kind is TicketKind.DEVICE_FAULT
            and current.resolved_at is not None
            and now < current.resolved_at + self.policy.reopen_window
        ):
            recurred = "the fault recurred"
            return [self._reopen(current, hall, now, alert.reason, alert.fingerprint, recurred, alert.rule_id)]
        return [self._open(act, kind, subject, hall, now)]

    def on_alert_resolved(self, alert: str | tuple[str, str], now: datetime) -> Ticket | None:
        """An alert behind a ticket cleared (by fingerprint, or as (device or subject, rule id)). Once none of the
        ticket's alerts fires any more, the device must stay healthy for the verification period before the ticket
        resolves itself (see `tick`): a ticket whose paper-out alert cleared while its device is still offline waits."""
        t = self._by_alert(alert)
        if t is None or not t.alert_active:
            return None
        faults = tuple(replace(f, firing=False) if _names(f, alert) else f for f in t.faults)
        if any(f.firing for f in faults):
            t = replace(t, faults=faults)
        else:
            verifying = now if t.active and t.kind is TicketKind.DEVICE_FAULT else None
            t = replace(t, faults=faults, alert_active=False, verifying_since=verifying)
        self._put(t)
        return t

    # -- time ---------------------------------------------------------------------------------------------

    def tick(self, hall: HallSnapshot, now: datetime) -> list[TicketEvent]:
        """Move every clock on to `now`: raise priorities that grew, resolve verified tickets, re-open tickets
        resolved by hand while their fault persists, report SLA breaches (once each), close resolved tickets.
        Idempotent for the same inputs; after a restart it catches up in one call."""
        out: list[TicketEvent] = []
        self._seen = now  # the clock can go back (a device clock's first device message, NTP): follow it
        # a ticket neither watched nor due would pass unchanged: every condition below compares with its deadline
        visit = sorted(self._watched | self._due_by(now))
        devices = {d.device_id: d for d in hall.devices} if visit else {}
        # every re-assessment of this tick asks for its device's peers: grouped once (and not for an idle book)
        by_type = group_by_type(hall.devices) if visit else {}
        faulty = self._faulty()
        for tid in visit:
            t = self._tickets[tid]
            device = devices.get(t.device) if t.device else None
            if t.active and t.kind is TicketKind.DEVICE_FAULT:
                t = self._reassess(t, device, hall, by_type, faulty, now, out)
                t = self._verify(t, device, now, out)
            if (
                t.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
                and t.kind is TicketKind.DEVICE_FAULT
                and not t.resolved_auto
                and t.alert_active
                and t.resolved_at is not None
                and now >= t.resolved_at + self.policy.verification
                and now < t.resolved_at + self.policy.reopen_window
            ):
                note = f"still faulty {_format_minutes(self.policy.verification)} after it was marked resolved"
                out.append(self._reopen(t, hall, now, t.detail, t.alert_fingerprint, note))
                t = self._tickets[tid]
            if t.active:
                checked, overdue = check_overdue(t, now, self.policy, self.calendar.tz)
                if overdue:
                    t = checked
                    self._put(t)
                    out.extend(overdue)
            if (
                t.status is TicketStatus.RESOLVED
                and t.resolved_at is not None
                and now >= t.resolved_at + self.policy.auto_close_after
            ):
                t = self._move(
                    t, TicketStatus.CLOSED, SYSTEM, now, "closed automatically", closed_at=now, closed_by=SYSTEM
                )
                out.append(TicketEvent(t, TicketEventKind.CLOSED, t.notified, now))
            if t.status is TicketStatus.CLOSED and self._expired(t, now):
                self._drop(t)
        return out

    def _due_by(self, now: datetime) -> set[str]:
        """The tickets whose deadline is `now` or earlier. They stay filed under it: `_put` refiles a ticket a tick
        changes, and one it leaves as it was is due again at the next tick, as `next_deadline` says."""
        due: dict[str, datetime] = {}
        while self._heap and self._heap[0][0] <= now:
            at, tid = heapq.heappop(self._heap)
            if self._due.get(tid) == at:
                due[tid] = at
        for tid, at in due.items():
            heapq.heappush(self._heap, (at, tid))
        return set(due)

    def next_deadline(self) -> datetime | None:
        """The earliest moment `tick` could change something: an SLA due time, the end of a verification, an
        auto-close, a re-assessment when the hall opens. The gateway may sleep until then (it ticks anyway)."""
        kept = self._next
        if kept is None or kept[0] != self._changes or kept[1] != self._seen:
            kept = self._next = (self._changes, self._seen, self._next_deadline())
        return kept[2]

    def _next_deadline(self) -> datetime | None:
        """Only moments `tick` acts on: a time it would pass without acting would be due forever, and a gateway
        sleeping until it would not sleep at all (so each condition in `_deadline` is the one `tick` checks)."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: the ticket changed or left since
        times = [self._heap[0][0]] if self._heap else []
        watched = (self._tickets[tid] for tid in self._watched)
        reassess = any(
            t.active and t.kind is TicketKind.DEVICE_FAULT and t.priority_auto and t.priority is not TicketPriority.P1
            for t in watched
        )
        if reassess and self._seen is not None:
            opening = self.calendar.next_opening(self._seen)
            if opening is not None:
                times.append(opening)
        return min(times) if times else None

    def _deadline(self, t: Ticket) -> datetime | None:
        """The earliest moment `tick` acts on `t` by the clock alone: an SLA due time, the end of a verification, an
        auto-close, a re-open check, leaving the working set (each condition the one `tick` checks)."""
        times: list[datetime] = []
        p = self.policy
        if t.active:
            restored = t.verifying_since  # a device back before a due time is not overdue (`check_overdue`)
            if (
                t.status is TicketStatus.OPEN
                and t.ack_due is not None
                and not t.ack_overdue
                and not (restored is not None and restored <= t.ack_due)
            ):
                times.append(t.ack_due)
            if (
                t.resolve_due is not None
                and not t.resolve_overdue
                and not (restored is not None and restored <= t.resolve_due)
            ):
                times.append(t.resolve_due)
            if restored is not None:
                times.append(restored + p.verification)
        elif t.resolved_at is not None:
            if t.status is TicketStatus.RESOLVED:
                times.append(t.resolved_at + p.auto_close_after)
            if (
                t.kind is TicketKind.DEVICE_FAULT
                and t.alert_active
                and not t.resolved_auto
                and p.verification < p.reopen_window
            ):
                times.append(t.resolved_at + p.verification)  # still faulty: re-opened
            if t.status is TicketStatus.CLOSED:
                times.append(t.resolved_at + p.reopen_window)  # leaves the working set
        return min(times) if times else None

    # -- people -------------------------------------------------------------------------------------------

    def acknowledge(self, ticket_id: str, by: str, now: datetime) -> list[TicketEvent]:
        t = self._check(ticket_id, TicketStatus.ACKNOWLEDGED)
        t = self._move(t, TicketStatus.ACKNOWLEDGED, by, now, acknowledged_at=now, acknowledged_by=by)
        return [TicketEvent(t, TicketEventKind.ACKNOWLEDGED, t.notified, now, by)]

    def start(self, ticket_id: str, by: str, now: datetime, *, overseer: bool = False) -> list[TicketEvent]:
        """Work begins. Starting an open ticket acknowledges it too: whoever goes to the device has responded. A
        ticket someone acknowledged is theirs to start, unless `by` is an `overseer` (a hall manager, an
        administrator): `TicketAssignedError`."""
        t = self._check(ticket_id, TicketStatus.IN_PROGRESS)
        check_assignee(t, by, overseer)
        t = self._move(
            t, TicketStatus.IN_PROGRESS, by, now, started_at=now, started_by=by, **acknowledgement(t, by, now)
        )
        return [TicketEvent(t, TicketEventKind.STARTED, t.notified, now, by)]

    def resolve(
        self, ticket_id: str, by: str, note: str, now: datetime, *, overseer: bool = False
    ) -> list[TicketEvent]:
        """Someone says it is fixed. For a device fault this is still verified: if the alert is still firing one
        verification period later, or the fault recurs within the reopen window, the ticket re-opens. A ticket
        someone acknowledged or started is theirs to resolve, unless `by` is an `overseer`: `TicketAssignedError`."""
        t = self._check(ticket_id, TicketStatus.RESOLVED)
        check_assignee(t, by, overseer)
        t = self._move(
            t,
            TicketStatus.RESOLVED,
            by,
            now,
            note,
            resolved_at=now,
            resolved_by=by,
            resolution_note=note,
            resolved_auto=False,
            verifying_since=None,
            **acknowledgement(t, by, now),
        )
        return [TicketEvent(t, TicketEventKind.RESOLVED, t.notified, now, by, note)]

    def close(self, ticket_id: str, by: str, now: datetime) -> list[TicketEvent]:
        """Confirm a resolved ticket (otherwise it closes itself after `auto_close_after`)."""
        t = self._check(ticket_id, TicketStatus.CLOSED)
        t = self._move(t, TicketStatus.CLOSED, by, now, closed_at=now, closed_by=by)
        return [TicketEvent(t, TicketEventKind.CLOSED, t.notified, now, by)]

    # -- persistence --------------------------------------------------------------------------------------

    def digest(self) -> int:
        """A revision number: it moves with every ticket put or dropped (every change of the book goes through
        them), and only then — the web UI's cue to re-read the tickets, and the decider's to serialise them again."""
        return self._changes

    def dump(self) -> dict[str, object]:
        """Every ticket with its clocks and notification flags, as JSON-able data (persist.py)."""
        return dump_book(BookState(counter=self._counter, tickets=self.tickets))

    def load(self, body: Mapping[str, object]) -> None:
        """Replace the book's contents with a `dump()` (of this release, or of format 1)."""
        state = load_book(body)
        self._counter = state.counter
        self._tickets, self._by_problem = {}, {}
        self._due, self._heap, self._watched = {}, [], set()
        self._changes += 1
        for t in state.tickets:
            self._put(t)

    # -- internals ----------------------------------------------------------------------------------------

    def _open(self, act: Act, kind: TicketKind, subject: str, hall: HallSnapshot, now: datetime) -> TicketEvent:
        alert, action = act.alert, act.action.ticket
        assert action is not None
        labels = alert.labels
        device_id = labels.get("device")
        device = next((d for d in hall.devices if d.device_id == device_id), None) if device_id else None
        auto = action.priority == "auto"
        priority, reason = choose_priority(
            kind,
            action.priority,
            alert.severity,
            device,
            hall,
            now,
            self.schedule,
            self.calendar.tz,
            faulty=self._faulty(),
        )
        ack_target, resolve_target = self.policy.targets(kind, priority)
        tid = self._next_id(now)
        roles = self.policy.open_roles(kind, priority)
        t = Ticket(
            id=tid,
            kind=kind,
            priority=priority,
            priority_reason=reason,
            status=TicketStatus.OPEN,
            rule_id=alert.rule_id,
            subject=subject,
            title=_title(kind, alert.rule_id, labels, device),
            detail=alert.reason,
            opened_at=now,
            device=device_id,
            device_type=labels.get("device_type"),
            location=device.location if device is not None else None,
            window=labels.get("window"),
            rating_ticket=labels.get("ticket") if kind is TicketKind.RECTIFICATION else None,
            priority_auto=auto,
            alert_fingerprint=alert.fingerprint,
            alert_active=kind is TicketKind.DEVICE_FAULT,
            ack_due=ack_target.due(now, self.calendar) if ack_target else None,
            resolve_due=resolve_target.due(now, self.calendar),
            notified=roles,
            history=(HistoryEntry(now, TicketStatus.OPEN, SYSTEM, f"{priority}: {reason}"),),
            faults=(Fault(alert.rule_id, alert.fingerprint, now, kind is TicketKind.DEVICE_FAULT, priority),),
        )
        self._put(t)
        log.info("ticket opened ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        return TicketEvent(t, TicketEventKind.OPENED, roles, now, note=reason)

    def _reopen(
        self,
        t: Ticket,
        hall: HallSnapshot,
        now: datetime,
        detail: str,
        fingerprint: str | None,
        note: str,
        rule_id: str | None = None,
    ) -> TicketEvent:
        """Back to open with fresh SLA clocks from `now`: the earlier fix did not hold, so this is new work, and
        the people who saw it resolved hear it again. Its escalation level stays: a fault that keeps coming back
        stays in front of whoever it reached. `rule_id`: the fault that came back (None: one still firing)."""
        device = next((d for d in hall.devices if d.device_id == t.device), None) if t.device else None
        priority, reason = t.priority, t.priority_reason
        if t.priority_auto and device is not None:
            priority, reason = assess_priority(
                device, hall, now, self.schedule, self.calendar.tz, faulty=self._faulty()
            )
        ack_target, resolve_target = self.policy.targets(t.kind, priority)
        roles = merge_roles(t.notified, self.policy.open_roles(t.kind, priority))
        t = self._move(
            t,
            TicketStatus.OPEN,
            SYSTEM,
            now,
            note,
            priority=priority,
            priority_reason=reason,
            detail=detail or t.detail,
            alert_fingerprint=fingerprint or t.alert_fingerprint,
            alert_active=True,
            verifying_since=None,
            acknowledged_at=None,
            acknowledged_by=None,
            started_at=None,
            started_by=None,
            resolved_at=None,
            resolved_by=None,
            resolution_note=None,
            resolved_auto=False,
            closed_at=None,
            closed_by=None,
            ack_due=ack_target.due(now, self.calendar) if ack_target else None,
            resolve_due=resolve_target.due(now, self.calendar),
            ack_overdue=False,
            resolve_overdue=False,
            occurrences=t.occurrences + 1,
            reopened=t.reopened + 1,
            notified=roles,
            faults=_fired(t.faults, rule_id, fingerprint, now) if rule_id else t.faults,
        )
        log.info("ticket reopened ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        return TicketEvent(t, TicketEventKind.REOPENED, roles, now, note=note)

    def _reassess(
        self,
        t: Ticket,
        device: DeviceView | None,
        hall: HallSnapshot,
        by_type: DevicesByType,
        faulty: Collection[str],
        now: datetime,
        out: list[TicketEvent],
    ) -> Ticket:
        """Raise (never lower) an automatic priority when the impact grew. Due times only move earlier: what was
        promised stays promised."""
        if not t.priority_auto or device is None or t.priority is TicketPriority.P1 or not t.alert_active:
            return t  # a fault that has cleared is not made more urgent
        priority, reason = assess_priority(
            device, hall, now, self.schedule, self.calendar.tz, by_type=by_type, faulty=faulty
        )
        if priority.rank >= t.priority.rank:
            return t
        note = f"{t.priority} → {priority}: {reason}"
        t = replace(self._raised(t, priority, now), priority_reason=reason)
        t = replace(t, history=(*t.history, HistoryEntry(now, t.status, SYSTEM, note)))
        self._put(t)
        out.append(TicketEvent(t, TicketEventKind.REPRIORITISED, t.notified, now, note=note))
        return t

    def _raised(self, t: Ticket, priority: TicketPriority, now: datetime) -> Ticket:
        """`t` at `priority` from `now`: the SLA clocks of the new priority, counted from now, where they end earlier
        (due times only move earlier: what was promised stays promised; an acknowledged ticket keeps its acknowledge
        time, a breach already reported stays reported), and who hears of it."""
        ack_target, resolve_target = self.policy.targets(t.kind, priority)
        ack_due = t.ack_due
        if ack_target is not None and t.status is TicketStatus.OPEN and not t.ack_overdue:
            new = ack_target.due(now, self.calendar)
            ack_due = min(ack_due, new) if ack_due else new
        resolve_due = t.resolve_due
        if not t.resolve_overdue:
            new = resolve_target.due(now, self.calendar)
            resolve_due = min(resolve_due, new) if resolve_due else new
        roles = merge_roles(t.notified, self.policy.open_roles(t.kind, priority))
        return replace(t, priority=priority, ack_due=ack_due, resolve_due=resolve_due, notified=roles)

    def _escalate(self, t: Ticket, act: Act, hall: HallSnapshot, now: datetime) -> TicketEvent:
        """Another fault of the device joins its open ticket `t` (paper low, then paper out; offline as well):
        one ticket per device problem, so whoever works on it sees everything that is wrong with the device. Its
        priority rises when the new fault alone would have been more urgent, with that fault's SLA clocks from now
        (`_raised`); the history says which fault came when; everyone told about the ticket, and whoever its new
        priority pages, hears of it (`escalated`)."""
        alert, action = act.alert, act.action.ticket
        assert action is not None
        device = next((d for d in hall.devices if d.device_id == t.device), None)
        priority, reason = choose_priority(
            t.kind,
            action.priority,
            alert.severity,
            device,
            hall,
            now,
            self.schedule,
            self.calendar.tz,
            faulty=self._faulty(),
        )
        at = format_clock(now, self.calendar.tz)
        note = f"{alert.rule_id} at {at}: {alert.reason}" if alert.reason else f"{alert.rule_id} at {at}"
        if priority.rank < t.priority.rank:
            note += f"; {t.priority} → {priority}: {reason}"
            t = replace(
                self._raised(t, priority, now),
                priority_reason=reason,
                priority_auto=action.priority == "auto",
                title=_title(t.kind, alert.rule_id, alert.labels, device),
                detail=alert.reason or t.detail,
            )
        else:
            note += f"; stays {t.priority}"
        t = replace(
            t,
            faults=_fired(t.faults, alert.rule_id, alert.fingerprint, now, t.priority),
            alert_fingerprint=alert.fingerprint,
            alert_active=True,
            verifying_since=None,
            history=(*t.history, HistoryEntry(now, t.status, SYSTEM, note)),
        )
        self._put(t)
        log.info("ticket escalated ticket=%s rule=%s device=%s priority=%s", t.id, alert.rule_id, t.device, t.priority)
        return TicketEvent(t, TicketEventKind.ESCALATED, t.notified, now, note=note)

    def _verify(self, t: Ticket, device: DeviceView | None, now: datetime, out: list[TicketEvent]) -> Ticket:
        """After the alert cleared: the device must stay healthy (online, no fault) for the verification period.
        A device that is unhealthy at a tick restarts the period when it is healthy again."""
        if t.alert_active:
            return t
        healthy = device is None or works(device)
        since = t.verifying_since
        if not healthy:
            since = None
        elif since is None:
            since = now
        if since != t.verifying_since:
            t = replace(t, verifying_since=since)
            self._put(t)
        if since is None or now < since + self.policy.verification:
            return t
        since_at = format_clock(since, self.calendar.tz)
        note = f"auto-resolved after {_format_minutes(self.policy.verification)} healthy (healthy since {since_at})"
        # resolved when the device came back: the verification confirms the fix, it is not part of the repair
        t = self._move(
            t,
            TicketStatus.RESOLVED,
            SYSTEM,
            now,
            note,
            resolved_at=since,
            resolved_by=SYSTEM,
            resolution_note=note,
            resolved_auto=True,
            verifying_since=None,
        )
        log.info("ticket auto-resolved ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        out.append(TicketEvent(t, TicketEventKind.RESOLVED, t.notified, now, note=note))
        return t

    def _check(self, ticket_id: str, to: TicketStatus) -> Ticket:
        t = self.get(ticket_id)
        check_move(t, to, self.calendar.tz)
        return t

    def _move(
        self, t: Ticket, status: TicketStatus, by: str, now: datetime, note: str = "", /, **changes: object
    ) -> Ticket:
        t = move(t, status, by, now, note, **changes)
        self._put(t)
        return t

    def _put(self, t: Ticket) -> None:
        self._changes += 1
        self._tickets[t.id] = t
        for rule in t.rules:  # each fault that joined it is its problem too: it fires again → an occurrence
            key = (rule, t.subject)
            latest = self._by_problem.get(key)
            if latest is None or latest <= t.id or latest not in self._tickets:
                self._by_problem[key] = t.id
        leaves = t.status is TicketStatus.CLOSED and (t.kind is TicketKind.RECTIFICATION or t.resolved_at is None)
        if (t.active and t.kind is TicketKind.DEVICE_FAULT) or leaves:  # `leaves`: `_expired` whatever the time
            self._watched.add(t.id)
        else:
            self._watched.discard(t.id)
        due = self._deadline(t)
        if due is None:
            self._due.pop(t.id, None)
        elif due != self._due.get(t.id):
            self._due[t.id] = due
            heapq.heappush(self._heap, (due, t.id))

    def _drop(self, t: Ticket) -> None:
        self._changes += 1
        del self._tickets[t.id]
        for rule in t.rules:
            key = (rule, t.subject)
            if self._by_problem.get(key) == t.id:
                del self._by_problem[key]
        self._watched.discard(t.id)
        self._due.pop(t.id, None)

    def _expired(self, t: Ticket, now: datetime) -> bool:
        """A closed ticket past its reopen window can no longer change: it leaves the working set."""
        if t.kind is TicketKind.RECTIFICATION or t.resolved_at is None:
            return True
        return now >= t.resolved_at + self.policy.reopen_window

    def _faulty(self) -> set[str]:
        """The devices whose fault is open and still firing: they do not work, whatever their view says (a device
        silent past its heartbeat timeout has no last will to say it is offline). Open fault tickets are watched."""
        tickets = self._tickets
        return {
            t.device
            for t in (tickets[tid] for tid in self._watched)
            if t.device and t.active and t.alert_active and t.kind is TicketKind.DEVICE_FAULT
        }

    def _by_alert(self, alert: str | tuple[str, str]) -> Ticket | None:
        if isinstance(alert, tuple):
            return self.find(alert[1], alert[0])
        matches = [
            t
            for t in self._tickets.values()
            if t.alert_fingerprint == alert or any(f.fingerprint == alert for f in t.faults)
        ]
        return max(matches, key=lambda t: t.id) if matches else None

    def _open_fault(self, device: str) -> Ticket | None:
        """The device's active fault ticket, if it has one (watched, like every active device fault)."""
        tickets = self._tickets
        found = [
            t
            for t in (tickets[tid] for tid in self._watched)
            if t.device == device and t.active and t.kind is TicketKind.DEVICE_FAULT
        ]
        return min(found, key=lambda t: (t.priority.rank, t.id)) if found else None

    def _next_id(self, now: datetime) -> str:
        day = now.astimezone(self.calendar.tz).strftime("%Y%m%d")
        n = self._counter[1] + 1 if self._counter[0] == day else 1
        self._counter = (day, n)
        return f"T-{day}-{n:04d}"


def _title(kind: TicketKind, rule_id: str, labels: Mapping[str, str], device: DeviceView | None) -> str:
    if kind is TicketKind.RECTIFICATION:
        ticket = f" for ticket {labels['ticket']}" if "ticket" in labels else ""
        return f"bad rating (差评) at window {labels.get('window') or '?'}{ticket}"
    device_id = labels.get("device")
    where = f" at {device.location}" if device is not None and device.location else ""
    what = f"{labels.get('device_type', 'device')} {device_id}{where}" if device_id else "the hall"
    return f"{rule_id}: {what}"


def _fired(
    faults: tuple[Fault, ...],
    rule_id: str,
    fingerprint: str | None,
    now: datetime,
    priority: TicketPriority | None = None,
) -> tuple[Fault, ...]:
    """The ticket's faults once `rule_id` fired (again): it fires again (since now, if it had stopped), or joins them
    with the ticket's `priority` once it joined."""
    for i, f in enumerate(faults):
        if f.rule_id == rule_id:
            again = replace(
                f, fingerprint=fingerprint or f.fingerprint, since=f.since if f.firing else now, firing=True
            )
            return (*faults[:i], again, *faults[i + 1 :])
    return (*faults, Fault(rule_id, fingerprint, now, True, priority))


def _names(fault: Fault, alert: str | tuple[str, str]) -> bool:
    """Whether `alert` (a fingerprint, or (subject, rule id)) is `fault`."""
    return fault.rule_id == alert[1] if isinstance(alert, tuple) else fault.fingerprint == alert


def _subject(kind: TicketKind, labels: Mapping[str, str]) -> str:
    if kind is TicketKind.RECTIFICATION:
        return f"{labels.get('window', labels.get('device', ''))}/{labels.get('ticket', '')}"
    return labels.get("device", "hall")


def _format_minutes(d: timedelta) -> str:
    return f"{d.total_seconds() / 60:g} min"
