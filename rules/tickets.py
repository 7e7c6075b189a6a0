"""Fault tickets for technicians (运维工单) and rectification tickets for bad ratings (差评整改).

    TicketBook.on_alert(act, hall, now)        an engine `Act` with a ticket action → open / occurrence / re-open
    TicketBook.on_alert_resolved(fp, now)      the condition cleared → the verification clock starts
    TicketBook.tick(hall, now)                 auto-resolve, SLA breaches and escalation, auto-close
    acknowledge / start / resolve / close      what people do, validated
        → [TicketEvent]: what happened to which ticket, and which roles to tell

Lifecycle: open → acknowledged → in_progress → resolved → closed. A device-fault ticket resolves itself once its
alert has cleared and the device has stayed healthy for the verification period; a recurrence within the reopen
window after resolution re-opens the same ticket instead of opening a second one, so "the fix did not hold" stays
visible. Each ticket carries SLA clocks by priority — acknowledge and resolve due times computed once, on the hall's
working calendar (`WorkingCalendar`: opening hours, lunch break, public holidays, make-up working days 调休) — and
an overdue ticket escalates (technician → hall manager → administrator), once per breach.

Priority comes from operational impact, not from the rule: `assess_priority` weighs what the device class means to
the hall, how many of its kind still work, and how much opening time is left today.

Every clock is a stored timestamp and every notification is a stored flag, so `dump()`/`load()` across a restart
neither loses a deadline nor repeats an overdue. Pure: no I/O and no clock of its own; time is passed in.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from devices.errors import HallOpsError
from devices.topics import DeviceType
from rules.engine import Act
from rules.hall import DeviceView, HallSnapshot, Health
from rules.language import Role, Schedule, Severity, Weekday

log = logging.getLogger(__name__)

_WEEKDAYS = tuple(Weekday)
_HORIZON_DAYS = 3660  # a calendar with no working time in ten years is a configuration mistake
SYSTEM = "system"  # the `by` of what the ticket book does by itself


# ---------------------------------------------------------------------------------------------- errors


class TicketError(HallOpsError):
    """Base of the ticket book's errors."""


class TicketTransitionError(TicketError):
    """A person asked for a move the ticket's status does not allow (e.g. acknowledging a closed ticket)."""


class UnknownTicketError(TicketError, LookupError):
    """No ticket with that id is in the book (never opened, or closed and past its reopen window)."""


# ---------------------------------------------------------------------------------------------- enums


class TicketPriority(StrEnum):
    P1 = "P1"  # the hall cannot work as it should: ticketing, calling, the queue system
    P2 = "P2"  # part of the hall is impaired: one window terminal, the last kiosk
    P3 = "P3"  # an inconvenience: one of several kiosks, an evaluator, a camera, consumables

    @property
    def rank(self) -> int:
        """1 is the most urgent."""
        return int(self.value[1])


class TicketStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketKind(StrEnum):
    DEVICE_FAULT = "device_fault"  # 设备故障
    RECTIFICATION = "rectification"  # 差评整改: rectify and revisit the citizen


class TicketEventKind(StrEnum):
    OPENED = "opened"
    OCCURRENCE = "occurrence"  # the same problem fired again while the ticket was open: counted, nobody paged
    ACKNOWLEDGED = "acknowledged"
    STARTED = "started"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    REPRIORITISED = "reprioritised"  # the impact grew (the last working peer failed too, the hall opened)
    ACK_OVERDUE = "ack_overdue"
    RESOLVE_OVERDUE = "resolve_overdue"


_ACTIVE = frozenset({TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED, TicketStatus.IN_PROGRESS})
_HEALTHY = frozenset({Health.OK, Health.DEGRADED})
_PRIORITY_OF_SEVERITY = {
    Severity.CRITICAL: TicketPriority.P1,
    Severity.MAJOR: TicketPriority.P2,
    Severity.WARNING: TicketPriority.P3,
    Severity.INFO: TicketPriority.P3,
}


# ---------------------------------------------------------------------------------------------- working time


def _span_times(hours: str) -> tuple[time, time | None]:
    """'08:30-12:00' → (08:30, 12:00); an end of 24:00 is None (midnight of the next day)."""
    start, end = hours[:5], hours[6:]
    return time.fromisoformat(start), None if end == "24:00" else time.fromisoformat(end)


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The hall's working time: a `Schedule` (weekdays, hours, public holidays, make-up workdays) in a time zone.

    SLA targets such as "1 working day" are counted on it, so that a fault reported on Friday afternoon is not
    overdue on Saturday, the lunch break does not count, and the National Day week is skipped. One working day is
    one day of the schedule's hours (08:30–12:00 + 13:30–17:30 = 7.5 h), so "1 working day" from Friday 16:00 ends
    on Monday at 16:00. Arithmetic is done in UTC, so a time zone with daylight saving counts real hours."""

    schedule: Schedule
    tz: tzinfo

    def is_working_day(self, day: date) -> bool:
        s = self.schedule
        return _working_day(day, s.weekdays, s.holidays, s.workdays)

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working spans of a local date, as UTC datetimes (none on a closed day)."""
        s = self.schedule
        return list(_spans(tuple(s.hours), tuple(s.weekdays), tuple(s.holidays), tuple(s.workdays), self.tz, day))

    @property
    def day_length(self) -> timedelta:
        """The working time of one ordinary working day: what "one working day" means."""
        total = timedelta(0)
        for hours in self.schedule.hours:
            start, end = _span_times(hours)
            end_min = 24 * 60 if end is None else end.hour * 60 + end.minute
            total += timedelta(minutes=end_min - (start.hour * 60 + start.minute))
        return total

    def is_working(self, at: datetime) -> bool:
        return any(s <= at < e for s, e in self.spans(at.astimezone(self.tz).date()))

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The moment `amount` of working time after `start` (time outside the spans does not count).

        Ends exactly at a span's end when that is where the time runs out (17:30, not the next morning)."""
        if amount <= timedelta(0):
            return start.astimezone(self.tz)
        at, left = start.astimezone(UTC), amount
        day = start.astimezone(self.tz).date() - timedelta(days=1)  # a span of yesterday may run past midnight
        for _ in range(_HORIZON_DAYS):
            for s, e in self.spans(day):
                begin = max(s, at)
                if e <= begin:
                    continue
                if left <= e - begin:
                    return (begin + left).astimezone(self.tz)
                left -= e - begin
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working time in the next ten years")

    def add_days(self, start: datetime, days: float) -> datetime:
        """`days` working days after `start` (each one `day_length` of working time)."""
        return self.add(start, self.day_length * days)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end` (zero if `end` is not later)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for s, e in self.spans(day):
                overlap = min(e, end) - max(s, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def left_today(self, now: datetime) -> timedelta:
        """Working time between `now` and the end of its local day (the hall's remaining opening time today)."""
        local = now.astimezone(self.tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.tz)
        return self.between(now, midnight)

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the first span of a working day begins after `now` (the hall opens in the morning)."""
        day = now.astimezone(self.tz).date()
        for _ in range(_HORIZON_DAYS):
            spans = self.spans(day)
            if spans and spans[0][0] > now:
                return spans[0][0].astimezone(self.tz)
            day += timedelta(days=1)
        return None


# ---------------------------------------------------------------------------------------------- SLA policy


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """How long a step may take: minutes and/or working days, on the working calendar or on the wall clock."""

    minutes: float = 0
    working_days: float = 0
    wall_clock: bool = False  # True: elapsed time, nights and weekends included

    def __post_init__(self) -> None:
        if self.minutes < 0 or self.working_days < 0 or not (self.minutes or self.working_days):
            raise ValueError("an SLA target needs a positive number of minutes or working days")
        if self.wall_clock and self.working_days:
            raise ValueError("working days are counted on the working calendar, not the wall clock")

    def due(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.wall_clock:
            return (start + timedelta(minutes=self.minutes)).astimezone(calendar.tz)
        amount = timedelta(minutes=self.minutes) + calendar.day_length * self.working_days
        return calendar.add(start, amount)

    def __str__(self) -> str:
        parts = []
        if self.working_days:
            n = f"{self.working_days:g}"
            parts.append(f"{n} working day" + ("" if self.working_days == 1 else "s"))
        if self.minutes:
            unit = "working " if not self.wall_clock else ""
            m = self.minutes
            parts.append(f"{m / 60:g} {unit}h" if m >= 60 and m % 30 == 0 else f"{m:g} {unit}min")
        return " + ".join(parts)


def _ladder(*levels: tuple[Role, ...]) -> tuple[tuple[Role, ...], ...]:
    return levels


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Response and restore targets per priority, and the clocks around automatic resolution.

    Defaults (research/seeds-digest.md §6.4–6.5, and the issue): acknowledge within 5 / 15 / 30 min, resolve within
    4 h / 1 working day / 3 working days for P1 / P2 / P3; a bad rating is rectified and the citizen revisited
    within 2 working days. P1 runs on the wall clock: a P1 means the hall cannot work, so its clock does not stop for
    lunch or at closing time (a ticket machine still dead at 17:30 is a hall that cannot open tomorrow);
    `assess_priority` only gives P1 while opening time lies ahead, so this rarely runs overnight. P2 and P3 run on
    working time.

    `escalation` is, per ticket kind, who hears of the ticket at each level: level 0 when it opens, level 1 when it
    is not acknowledged in time, level 2 when it is not resolved in time."""

    ack: Mapping[TicketPriority, SlaTarget] = field(
        default_factory=lambda: {
            TicketPriority.P1: SlaTarget(minutes=5, wall_clock=True),
            TicketPriority.P2: SlaTarget(minutes=15),
            TicketPriority.P3: SlaTarget(minutes=30),
        }
    )
    resolve: Mapping[TicketPriority, SlaTarget] = field(
        default_factory=lambda: {
            TicketPriority.P1: SlaTarget(minutes=240, wall_clock=True),
            TicketPriority.P2: SlaTarget(working_days=1),
            TicketPriority.P3: SlaTarget(working_days=3),
        }
    )
    rectification_ack: SlaTarget | None = None  # §6.5 sets no acknowledge target for a bad rating
    rectification_resolve: SlaTarget = field(default_factory=lambda: SlaTarget(working_days=2))
    verification: timedelta = timedelta(minutes=10)  # healthy this long after the alert cleared → auto-resolved
    reopen_window: timedelta = timedelta(hours=24)  # a recurrence this soon after resolution re-opens the ticket
    auto_close_after: timedelta = timedelta(hours=24)  # resolved → closed unless someone confirms it earlier
    escalation: Mapping[TicketKind, tuple[tuple[Role, ...], ...]] = field(
        default_factory=lambda: {
            TicketKind.DEVICE_FAULT: _ladder(
                (Role.TECHNICIAN,),
                (Role.TECHNICIAN, Role.HALL_MANAGER),
                (Role.TECHNICIAN, Role.HALL_MANAGER, Role.ADMINISTRATOR),
            ),
            TicketKind.RECTIFICATION: _ladder(
                (Role.HALL_MANAGER,), (Role.HALL_MANAGER, Role.DIRECTOR), (Role.HALL_MANAGER, Role.DIRECTOR)
            ),
        }
    )

    def targets(self, kind: TicketKind, priority: TicketPriority) -> tuple[SlaTarget | None, SlaTarget]:
        if kind is TicketKind.RECTIFICATION:
            return self.rectification_ack, self.rectification_resolve
        return self.ack[priority], self.resolve[priority]

    def roles(self, kind: TicketKind, level: int) -> tuple[Role, ...]:
        ladder = self.escalation[kind]
        return ladder[min(level, len(ladder) - 1)]


# ---------------------------------------------------------------------------------------------- priority

# How much the hall depends on a device class, and its name in a sentence.
_CORE = {  # the hall cannot issue, call or route numbers without them
    DeviceType.TICKET_MACHINE: "ticket machine",
    DeviceType.CALL_SCREEN: "call screen",
    DeviceType.QMS: "queue system",
    DeviceType.WINDOW: "window terminal",
}
_POOLED = {DeviceType.KIOSK: "kiosk"}  # self-service: citizens can use another one, or a window
_MINOR = {DeviceType.EVALUATOR: "evaluator", DeviceType.CAMERA: "camera"}  # service goes on without them
LAST_HOUR = timedelta(hours=1)


def _name(device_type: DeviceType) -> str:
    return {**_CORE, **_POOLED, **_MINOR}.get(device_type, str(device_type))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith(("s", "sh", "ch")) else "s")


def _working_day(day: date, weekdays: Iterable[Weekday], holidays: Iterable[date], workdays: Iterable[date]) -> bool:
    """Open on `day`: one of the weekdays and not a public holiday, or a make-up workday (调休)."""
    return day not in holidays and (_WEEKDAYS[day.weekday()] in weekdays or day in workdays)


@functools.lru_cache(maxsize=1024)
def _spans(hours: tuple[str, ...], weekdays: tuple[Weekday, ...], holidays: tuple[date, ...],
           workdays: tuple[date, ...], tz: tzinfo, day: date) -> tuple[tuple[datetime, datetime], ...]:  # fmt: skip
    """WorkingCalendar.spans, remembered: ticket priorities ask it for every open ticket on every evaluation."""
    if not _working_day(day, weekdays, holidays, workdays):
        return ()
    out = []
    for span in hours:
        start, end = _span_times(span)
        begin = datetime.combine(day, start, tzinfo=tz)
        finish = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if end is None
                  else datetime.combine(day, end, tzinfo=tz))  # fmt: skip
        out.append((begin.astimezone(UTC), finish.astimezone(UTC)))
    return tuple(sorted(out))


def _hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:.1f} h"


_by_type = threading.local()  # per thread: the devices of the snapshot last asked about, by type


def _peers(hall: HallSnapshot) -> dict[DeviceType, list[DeviceView]]:
    """The hall's devices by type, listed once per snapshot (every open ticket's priority asks on every tick)."""
    if getattr(_by_type, "hall", None) is not hall:
        grouped: dict[DeviceType, list[DeviceView]] = {}
        for d in hall.devices:
            grouped.setdefault(d.device_type, []).append(d)
        _by_type.hall, _by_type.grouped = hall, grouped
    return _by_type.grouped  # type: ignore[no-any-return]


def assess_priority(
    device: DeviceView, hall: HallSnapshot, now: datetime, schedule: Schedule, tz: tzinfo
) -> tuple[TicketPriority, str]:
    """The priority of a fault on `device` from its operational impact, with the reason in words.

    Class first: ticket machines, call screens, the queue system and window terminals are how the hall works — the
    last working one of its kind is P1 (nobody can take a number, or be called), one of several is P2. Kiosks are
    pooled self-service: the last working one is P2, one of several P3 while at least half of them still work.
    Evaluators and cameras never stop service: P3. Then time: in the last hour of opening time, after closing and
    before opening, the fault is one level less urgent (there is time to fix it before it hurts citizens), and
    `TicketBook.tick` re-assesses open tickets so that the priority rises again when the hall opens — at opening
    time, not at midnight, so nobody is paged for a P1 at 00:05. The lunch break is not "closed": the afternoon is
    ahead."""
    cal = WorkingCalendar(schedule, tz)
    peers = _peers(hall).get(device.device_type, [])
    total = len({d.device_id for d in peers} | {device.device_id})
    working = sum(1 for d in peers if d.device_id != device.device_id and d.online and d.health in _HEALTHY)
    name = _name(device.device_type)
    if device.device_type in _CORE:
        if working == 0:
            base, why = TicketPriority.P1, f"last working {name} of the hall"
        else:
            base, why = TicketPriority.P2, f"{working} of {_plural(total, name)} still work"
    elif device.device_type in _POOLED:
        if working == 0:
            base, why = TicketPriority.P2, f"last working {name} of the hall"
        elif working * 2 >= total:
            base, why = TicketPriority.P3, f"{working} of {_plural(total, name)} still work"
        else:
            base, why = TicketPriority.P2, f"only {working} of {_plural(total, name)} still work"
    else:
        article = "an" if name[0] in "aeiou" else "a"
        base, why = TicketPriority.P3, f"{article} {name} fault does not stop service"
    local = now.astimezone(cal.tz)
    left = cal.left_today(now)
    clock = local.strftime("%H:%M")
    opened_today = any(s <= now for s, _ in cal.spans(local.date()))
    if left <= timedelta(0):
        when, lower = f"{clock}, no opening time left today", True
    elif not opened_today:
        when, lower = f"{clock}, before opening", True
    elif left <= LAST_HOUR:
        when, lower = f"{clock}, the last hour of opening time ({_hours(left)} left)", True
    else:
        when, lower = f"{clock} with {_hours(left)} of opening time left today", False
    priority = base
    if lower and base is not TicketPriority.P3:
        priority = TicketPriority(f"P{base.rank + 1}")
        when += f" (lowered from {base})"
    return priority, f"{why}; {when}"


# ---------------------------------------------------------------------------------------------- tickets


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    status: TicketStatus
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One ticket as it stands. Immutable: the book replaces it on every change, so a view handed out never moves."""

    id: str  # T-20261123-0007: the local date it opened and its number that day
    kind: TicketKind
    priority: TicketPriority
    priority_reason: str
    status: TicketStatus
    rule_id: str
    subject: str  # with rule_id, what makes two alerts the same problem: a device id, window/ticket, or "hall"
    title: str
    detail: str  # the alert's reason and evidence when it opened (or last recurred)
    opened_at: datetime
    device: str | None = None
    device_type: str | None = None
    location: str | None = None
    window: str | None = None
    rating_ticket: str | None = None  # rectification: the queue ticket whose service was rated badly
    priority_auto: bool = True  # assessed from impact (and re-assessed), not fixed by the rule
    alert_fingerprint: str | None = None
    alert_active: bool = True  # the alert behind it still fires
    verifying_since: datetime | None = None  # the alert cleared and the device has been healthy since
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    started_at: datetime | None = None
    started_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    resolved_auto: bool = False
    closed_at: datetime | None = None
    closed_by: str | None = None
    ack_due: datetime | None = None
    resolve_due: datetime | None = None
    ack_overdue: bool = False
    resolve_overdue: bool = False
    escalation_level: int = 0
    occurrences: int = 1
    reopened: int = 0
    notified: tuple[Role, ...] = ()  # everyone told about it so far: they hear how it ends
    history: tuple[HistoryEntry, ...] = ()

    @property
    def active(self) -> bool:
        return self.status in _ACTIVE


@dataclass(frozen=True, slots=True)
class TicketEvent:
    ticket: Ticket
    kind: TicketEventKind
    roles: tuple[Role, ...]  # who to notify; empty: record it, page nobody
    at: datetime
    by: str = SYSTEM
    note: str = ""


_VERB = {
    TicketStatus.ACKNOWLEDGED: "acknowledged",
    TicketStatus.IN_PROGRESS: "started",
    TicketStatus.RESOLVED: "resolved",
    TicketStatus.CLOSED: "closed",
}
_ALLOWED = {
    TicketStatus.ACKNOWLEDGED: {TicketStatus.OPEN},
    TicketStatus.IN_PROGRESS: {TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED},
    TicketStatus.RESOLVED: {TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED, TicketStatus.IN_PROGRESS},
    TicketStatus.CLOSED: {TicketStatus.RESOLVED},
}


def _union(*groups: Iterable[Role]) -> tuple[Role, ...]:
    out: list[Role] = []
    for g in groups:
        out.extend(r for r in g if r not in out)
    return tuple(out)


class TicketBook:
    """The hall's open tickets and the recently resolved ones that may still re-open.

    Closed tickets leave the book once their reopen window has passed: the book is the working set, and the
    gateway persists every `TicketEvent`'s ticket for the record."""

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
        """An alert whose rule says `ticket:` fired: open a ticket, count an occurrence, or re-open one.

        One problem — the rule and its subject (the device; for a bad rating the window and the rated queue
        ticket) — has at most one active ticket, so an alert that flaps adds occurrences, not tickets."""
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
            )
            self._put(t)
            log.info("ticket occurrence ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
            return [TicketEvent(t, TicketEventKind.OCCURRENCE, (), now, note=note)]
        if (
            current is not None
            and kind is TicketKind.DEVICE_FAULT
            and current.resolved_at is not None
            and now < current.resolved_at + self.policy.reopen_window
        ):
            return [self._reopen(current, hall, now, alert.reason, alert.fingerprint, "the fault recurred")]
        return [self._open(act, kind, subject, hall, now)]

    def on_alert_resolved(self, alert: str | tuple[str, str], now: datetime) -> Ticket | None:
        """The alert behind a ticket cleared (by fingerprint, or as (device or subject, rule id)): the device must
        now stay healthy for the verification period before the ticket resolves itself (see `tick`)."""
        t = self._by_alert(alert)
        if t is None or not t.alert_active:
            return None
        verifying = now if t.active and t.kind is TicketKind.DEVICE_FAULT else None
        t = replace(t, alert_active=False, verifying_since=verifying)
        self._put(t)
        return t

    # -- time ---------------------------------------------------------------------------------------------

    def tick(self, hall: HallSnapshot, now: datetime) -> list[TicketEvent]:
        """Move every clock on to `now`: raise priorities that grew, resolve verified tickets, re-open tickets
        resolved by hand while their fault persists, report SLA breaches (once each), close resolved tickets.
        Idempotent for the same inputs; after a restart it catches up in one call."""
        out: list[TicketEvent] = []
        self._seen = now  # the clock can go back (a device clock's first device message, NTP): follow it
        devices = {d.device_id: d for d in hall.devices}
        for tid in sorted(self._tickets):
            t = self._tickets[tid]
            device = devices.get(t.device) if t.device else None
            if t.active and t.kind is TicketKind.DEVICE_FAULT:
                t = self._reassess(t, device, hall, now, out)
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
                note = f"still faulty {_minutes(self.policy.verification)} after it was marked resolved"
                out.append(self._reopen(t, hall, now, t.detail, t.alert_fingerprint, note))
                t = self._tickets[tid]
            if t.active:
                t = self._check_sla(t, now, out)
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

    def next_deadline(self) -> datetime | None:
        """The earliest moment `tick` could change something: an SLA due time, the end of a verification, an
        auto-close, a re-assessment when the hall opens. The gateway may sleep until then (it ticks anyway)."""
        kept = self._next
        if kept is None or kept[0] != self._changes or kept[1] != self._seen:
            kept = self._next = (self._changes, self._seen, self._next_deadline())
        return kept[2]

    def _next_deadline(self) -> datetime | None:
        """Only moments `tick` acts on: a time it would pass without acting would be due forever, and a gateway
        sleeping until it would not sleep at all (so each condition here is the one `tick` checks)."""
        times: list[datetime] = []
        p = self.policy
        reassess = False
        for t in self._tickets.values():
            if t.active:
                restored = t.verifying_since  # a device back before a due time is not overdue (`_check_sla`)
                if (t.status is TicketStatus.OPEN and t.ack_due is not None and not t.ack_overdue
                        and not (restored is not None and restored <= t.ack_due)):  # fmt: skip
                    times.append(t.ack_due)
                if (t.resolve_due is not None and not t.resolve_overdue
                        and not (restored is not None and restored <= t.resolve_due)):  # fmt: skip
                    times.append(t.resolve_due)
                if restored is not None:
                    times.append(restored + p.verification)
                if t.priority_auto and t.priority is not TicketPriority.P1 and t.kind is TicketKind.DEVICE_FAULT:
                    reassess = True
            elif t.resolved_at is not None:
                if t.status is TicketStatus.RESOLVED:
                    times.append(t.resolved_at + p.auto_close_after)
                if (t.kind is TicketKind.DEVICE_FAULT and t.alert_active and not t.resolved_auto
                        and p.verification < p.reopen_window):  # fmt: skip
                    times.append(t.resolved_at + p.verification)  # still faulty: re-opened
                if t.status is TicketStatus.CLOSED:
                    times.append(t.resolved_at + p.reopen_window)  # leaves the working set
        if reassess and self._seen is not None:
            opening = self.calendar.next_opening(self._seen)
            if opening is not None:
                times.append(opening)
        return min(times) if times else None

    # -- people -------------------------------------------------------------------------------------------

    def acknowledge(self, ticket_id: str, by: str, now: datetime) -> list[TicketEvent]:
        t = self._check(ticket_id, TicketStatus.ACKNOWLEDGED)
        t = self._move(t, TicketStatus.ACKNOWLEDGED, by, now, acknowledged_at=now, acknowledged_by=by)
        return [TicketEvent(t, TicketEventKind.ACKNOWLEDGED, t.notified, now, by)]

    def start(self, ticket_id: str, by: str, now: datetime) -> list[TicketEvent]:
        """Work begins. Starting an open ticket acknowledges it too: whoever goes to the device has responded."""
        t = self._check(ticket_id, TicketStatus.IN_PROGRESS)
        t = self._move(t, TicketStatus.IN_PROGRESS, by, now, started_at=now, started_by=by, **_acked(t, by, now))
        return [TicketEvent(t, TicketEventKind.STARTED, t.notified, now, by)]

    def resolve(self, ticket_id: str, by: str, note: str, now: datetime) -> list[TicketEvent]:
        """Someone says it is fixed. For a device fault this is still verified: if the alert is still firing one
        verification period later, or the fault recurs within the reopen window, the ticket re-opens."""
        t = self._check(ticket_id, TicketStatus.RESOLVED)
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
            **_acked(t, by, now),
        )
        return [TicketEvent(t, TicketEventKind.RESOLVED, t.notified, now, by, note)]

    def close(self, ticket_id: str, by: str, now: datetime) -> list[TicketEvent]:
        """Confirm a resolved ticket (otherwise it closes itself after `auto_close_after`)."""
        t = self._check(ticket_id, TicketStatus.CLOSED)
        t = self._move(t, TicketStatus.CLOSED, by, now, closed_at=now, closed_by=by)
        return [TicketEvent(t, TicketEventKind.CLOSED, t.notified, now, by)]

    # -- persistence --------------------------------------------------------------------------------------

    def dump(self) -> dict[str, object]:
        """Every ticket with its clocks and notification flags, as JSON-able data."""
        return {
            "version": 1,
            "counter": list(self._counter),
            "tickets": [_dump_ticket(t) for t in self.tickets],
        }

    def load(self, body: Mapping[str, object]) -> None:
        """Replace the book's contents with a `dump()`."""
        if body.get("version") != 1:
            raise ValueError(f"ticket book version {body.get('version')!r} is not 1")
        counter, tickets = body.get("counter"), body.get("tickets")
        if not isinstance(counter, list) or not isinstance(tickets, list):
            raise ValueError("a ticket book dump has 'counter' and 'tickets' lists")
        self._counter = (str(counter[0]), int(counter[1]))
        self._tickets, self._by_problem = {}, {}
        self._changes += 1
        for raw in tickets:
            self._put(_load_ticket(raw))

    # -- internals ----------------------------------------------------------------------------------------

    def _open(self, act: Act, kind: TicketKind, subject: str, hall: HallSnapshot, now: datetime) -> TicketEvent:
        alert, action = act.alert, act.action.ticket
        assert action is not None
        labels = alert.labels
        device_id = labels.get("device")
        device = next((d for d in hall.devices if d.device_id == device_id), None) if device_id else None
        auto = action.priority == "auto"
        priority, reason = self._priority(kind, action.priority, alert.severity, device, hall, now)
        ack_target, resolve_target = self.policy.targets(kind, priority)
        tid = self._next_id(now)
        roles = self._open_roles(kind, priority)
        if kind is TicketKind.RECTIFICATION:
            window = labels.get("window")
            title = f"bad rating (差评) at window {window or '?'}" + (
                f" for ticket {labels['ticket']}" if "ticket" in labels else ""
            )
        else:
            window = labels.get("window")
            where = f" at {device.location}" if device is not None and device.location else ""
            what = f"{labels.get('device_type', 'device')} {device_id}{where}" if device_id else "the hall"
            title = f"{alert.rule_id}: {what}"
        t = Ticket(
            id=tid,
            kind=kind,
            priority=priority,
            priority_reason=reason,
            status=TicketStatus.OPEN,
            rule_id=alert.rule_id,
            subject=subject,
            title=title,
            detail=alert.reason,
            opened_at=now,
            device=device_id,
            device_type=labels.get("device_type"),
            location=device.location if device is not None else None,
            window=window,
            rating_ticket=labels.get("ticket") if kind is TicketKind.RECTIFICATION else None,
            priority_auto=auto,
            alert_fingerprint=alert.fingerprint,
            alert_active=kind is TicketKind.DEVICE_FAULT,
            ack_due=ack_target.due(now, self.calendar) if ack_target else None,
            resolve_due=resolve_target.due(now, self.calendar),
            notified=roles,
            history=(HistoryEntry(now, TicketStatus.OPEN, SYSTEM, f"{priority}: {reason}"),),
        )
        self._put(t)
        log.info("ticket opened ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        return TicketEvent(t, TicketEventKind.OPENED, roles, now, note=reason)

    def _reopen(
        self, t: Ticket, hall: HallSnapshot, now: datetime, detail: str, fingerprint: str | None, note: str
    ) -> TicketEvent:
        """Back to open with fresh SLA clocks from `now`: the earlier fix did not hold, so this is new work, and
        the people who saw it resolved hear it again. Its escalation level stays: a fault that keeps coming back
        stays in front of whoever it reached."""
        device = next((d for d in hall.devices if d.device_id == t.device), None) if t.device else None
        priority, reason = t.priority, t.priority_reason
        if t.priority_auto and device is not None:
            priority, reason = assess_priority(device, hall, now, self.schedule, self.calendar.tz)
        ack_target, resolve_target = self.policy.targets(t.kind, priority)
        roles = _union(t.notified, self._open_roles(t.kind, priority))
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
        )
        log.info("ticket reopened ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        return TicketEvent(t, TicketEventKind.REOPENED, roles, now, note=note)

    def _reassess(
        self, t: Ticket, device: DeviceView | None, hall: HallSnapshot, now: datetime, out: list[TicketEvent]
    ) -> Ticket:
        """Raise (never lower) an automatic priority when the impact grew. Due times only move earlier: what was
        promised stays promised."""
        if not t.priority_auto or device is None or t.priority is TicketPriority.P1 or not t.alert_active:
            return t  # a fault that has cleared is not made more urgent
        priority, reason = assess_priority(device, hall, now, self.schedule, self.calendar.tz)
        if priority.rank >= t.priority.rank:
            return t
        ack_target, resolve_target = self.policy.targets(t.kind, priority)
        ack_due = t.ack_due
        if ack_target is not None and t.status is TicketStatus.OPEN and not t.ack_overdue:
            new = ack_target.due(now, self.calendar)
            ack_due = min(ack_due, new) if ack_due else new
        resolve_due = t.resolve_due
        if not t.resolve_overdue:
            new = resolve_target.due(now, self.calendar)
            resolve_due = min(resolve_due, new) if resolve_due else new
        roles = _union(t.notified, self._open_roles(t.kind, priority))
        note = f"{t.priority} → {priority}: {reason}"
        t = replace(
            t,
            priority=priority,
            priority_reason=reason,
            ack_due=ack_due,
            resolve_due=resolve_due,
            notified=roles,
            history=(*t.history, HistoryEntry(now, t.status, SYSTEM, note)),
        )
        self._put(t)
        out.append(TicketEvent(t, TicketEventKind.REPRIORITISED, roles, now, note=note))
        return t

    def _verify(self, t: Ticket, device: DeviceView | None, now: datetime, out: list[TicketEvent]) -> Ticket:
        """After the alert cleared: the device must stay healthy (online, no fault) for the verification period.
        A device that is unhealthy at a tick restarts the period when it is healthy again."""
        if t.alert_active:
            return t
        healthy = device is None or (device.online and device.health in _HEALTHY)
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
        note = f"auto-resolved after {_minutes(self.policy.verification)} healthy (healthy since {_clock(since, self)})"
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

    def _check_sla(self, t: Ticket, now: datetime, out: list[TicketEvent]) -> Ticket:
        """One event per breach, remembered in the ticket; a device that is already back (being verified before
        the due time) is not overdue."""
        restored = t.verifying_since
        if (
            t.status is TicketStatus.OPEN
            and t.ack_due is not None
            and not t.ack_overdue
            and now >= t.ack_due
            and not (restored is not None and restored <= t.ack_due)
        ):
            t = self._breach(t, now, TicketEventKind.ACK_OVERDUE, 1, f"not acknowledged by {_clock(t.ack_due, self)}")
            out.append(
                TicketEvent(t, TicketEventKind.ACK_OVERDUE, self.policy.roles(t.kind, 1), now, note=t.history[-1].note)
            )
        if (
            t.resolve_due is not None
            and not t.resolve_overdue
            and now >= t.resolve_due
            and not (restored is not None and restored <= t.resolve_due)
        ):
            t = self._breach(
                t, now, TicketEventKind.RESOLVE_OVERDUE, 2, f"not resolved by {_clock(t.resolve_due, self)}"
            )
            out.append(
                TicketEvent(
                    t, TicketEventKind.RESOLVE_OVERDUE, self.policy.roles(t.kind, 2), now, note=t.history[-1].note
                )
            )
        return t

    def _breach(self, t: Ticket, now: datetime, kind: TicketEventKind, level: int, note: str) -> Ticket:
        ack = kind is TicketEventKind.ACK_OVERDUE
        roles = self.policy.roles(t.kind, level)
        t = replace(
            t,
            escalation_level=max(t.escalation_level, level),
            notified=_union(t.notified, roles),
            history=(*t.history, HistoryEntry(now, t.status, SYSTEM, note)),
            ack_overdue=t.ack_overdue or ack,
            resolve_overdue=t.resolve_overdue or not ack,
        )
        self._put(t)
        log.info("ticket overdue ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
        return t

    def _priority(
        self,
        kind: TicketKind,
        fixed: str,
        severity: Severity,
        device: DeviceView | None,
        hall: HallSnapshot,
        now: datetime,
    ) -> tuple[TicketPriority, str]:
        if fixed != "auto":
            return TicketPriority(fixed), f"{fixed}, set by the rule"
        if kind is TicketKind.RECTIFICATION:
            return TicketPriority.P2, "bad rating (差评): rectify and revisit the citizen"
        if device is not None:
            return assess_priority(device, hall, now, self.schedule, self.calendar.tz)
        priority = _PRIORITY_OF_SEVERITY[severity]
        return priority, f"from the rule's severity ({severity}); no device to assess"

    def _open_roles(self, kind: TicketKind, priority: TicketPriority) -> tuple[Role, ...]:
        """Level 0 of the ladder; the hall manager hears of a P1 fault at once (the hall cannot work)."""
        roles = self.policy.roles(kind, 0)
        if kind is TicketKind.DEVICE_FAULT and priority is TicketPriority.P1:
            roles = _union(roles, (Role.HALL_MANAGER,))
        return roles

    def _check(self, ticket_id: str, to: TicketStatus) -> Ticket:
        t = self.get(ticket_id)
        if t.status in _ALLOWED[to]:
            return t
        verb = _VERB[to]
        if t.status is to:
            who = {
                TicketStatus.ACKNOWLEDGED: (t.acknowledged_by, t.acknowledged_at),
                TicketStatus.IN_PROGRESS: (t.started_by, t.started_at),
                TicketStatus.RESOLVED: (t.resolved_by, t.resolved_at),
                TicketStatus.CLOSED: (t.closed_by, t.closed_at),
            }[to]
            when = f" (by {who[0]} at {_clock(who[1], self)})" if who[0] and who[1] else ""
            raise TicketTransitionError(f"ticket {t.id} is already {verb}{when}")
        state = "in progress" if t.status is TicketStatus.IN_PROGRESS else str(t.status)
        hint = " (resolve it first)" if to is TicketStatus.CLOSED and t.active else ""
        raise TicketTransitionError(f"ticket {t.id} is {state}; it cannot be {verb}{hint}")

    def _move(
        self, t: Ticket, status: TicketStatus, by: str, now: datetime, note: str = "", /, **changes: object
    ) -> Ticket:
        entry = HistoryEntry(now, status, by, note)
        t = replace(t, status=status, history=(*t.history, entry), **changes)  # type: ignore[arg-type]
        self._put(t)
        return t

    def _put(self, t: Ticket) -> None:
        self._changes += 1
        self._tickets[t.id] = t
        key = (t.rule_id, t.subject)
        latest = self._by_problem.get(key)
        if latest is None or latest <= t.id or latest not in self._tickets:
            self._by_problem[key] = t.id

    def _drop(self, t: Ticket) -> None:
        self._changes += 1
        del self._tickets[t.id]
        key = (t.rule_id, t.subject)
        if self._by_problem.get(key) == t.id:
            del self._by_problem[key]

    def _expired(self, t: Ticket, now: datetime) -> bool:
        """A closed ticket past its reopen window can no longer change: it leaves the working set."""
        if t.kind is TicketKind.RECTIFICATION or t.resolved_at is None:
            return True
        return now >= t.resolved_at + self.policy.reopen_window

    def _by_alert(self, alert: str | tuple[str, str]) -> Ticket | None:
        if isinstance(alert, tuple):
            return self.find(alert[1], alert[0])
        matches = [t for t in self._tickets.values() if t.alert_fingerprint == alert]
        return max(matches, key=lambda t: t.id) if matches else None

    def _next_id(self, now: datetime) -> str:
        day = now.astimezone(self.calendar.tz).strftime("%Y%m%d")
        n = self._counter[1] + 1 if self._counter[0] == day else 1
        self._counter = (day, n)
        return f"T-{day}-{n:04d}"


def _subject(kind: TicketKind, labels: Mapping[str, str]) -> str:
    if kind is TicketKind.RECTIFICATION:
        return f"{labels.get('window', labels.get('device', ''))}/{labels.get('ticket', '')}"
    return labels.get("device", "hall")


def _acked(t: Ticket, by: str, now: datetime) -> dict[str, datetime | str | None]:
    """Working on or fixing a ticket nobody acknowledged is an acknowledgement."""
    if t.acknowledged_at is not None:
        return {"acknowledged_at": t.acknowledged_at, "acknowledged_by": t.acknowledged_by}
    return {"acknowledged_at": now, "acknowledged_by": by}


def _minutes(d: timedelta) -> str:
    return f"{d.total_seconds() / 60:g} min"


def _clock(at: datetime | None, book: TicketBook) -> str:
    if at is None:
        return "?"
    return at.astimezone(book.calendar.tz).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------- persistence

_TIMES = (
    "opened_at",
    "verifying_since",
    "acknowledged_at",
    "started_at",
    "resolved_at",
    "closed_at",
    "ack_due",
    "resolve_due",
)


def _dump_ticket(t: Ticket) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(t):
        value = getattr(t, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        out[f.name] = value
    out["notified"] = [str(r) for r in t.notified]
    out["history"] = [[h.at.isoformat(), str(h.status), h.by, h.note] for h in t.history]
    return out


def _load_ticket(raw: object) -> Ticket:
    if not isinstance(raw, dict):
        raise ValueError("a dumped ticket is a mapping")
    data = dict(raw)
    for name in _TIMES:
        value = data.get(name)
        data[name] = datetime.fromisoformat(value) if isinstance(value, str) else None
    data["kind"] = TicketKind(data["kind"])
    data["priority"] = TicketPriority(data["priority"])
    data["status"] = TicketStatus(data["status"])
    data["notified"] = tuple(Role(r) for r in data.get("notified", []))
    data["history"] = tuple(
        HistoryEntry(datetime.fromisoformat(at), TicketStatus(status), by, note)
        for at, status, by, note in data.get("history", [])
    )
    return Ticket(**data)
