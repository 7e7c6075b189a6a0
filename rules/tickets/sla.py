"""Service-level targets for tickets and the escalation ladder: how long acknowledging and resolving may take, who
hears of a ticket at each level, and the check that reports a breach (once) and escalates.

Owns `SlaTarget`, `SlaPolicy` (with the ladder and the roles a new ticket pages), `merge_roles` and
`check_overdue`. Due times are counted on the hall's `WorkingCalendar` (rules/schedule.py). Must not move a ticket
between statuses or keep tickets: it returns the ticket as it should now stand, and the book stores it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo

from rules.language import Role
from rules.schedule import WorkingCalendar
from rules.tickets.model import (
    SYSTEM,
    HistoryEntry,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketPriority,
    TicketStatus,
    format_clock,
)

log = logging.getLogger(__name__)


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


def merge_roles(*groups: Iterable[Role]) -> tuple[Role, ...]:
    """The roles of every group, each once, in the order first named."""
    out: list[Role] = []
    for g in groups:
        out.extend(r for r in g if r not in out)
    return tuple(out)


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

    def open_roles(self, kind: TicketKind, priority: TicketPriority) -> tuple[Role, ...]:
        """Level 0 of the ladder; the hall manager hears of a P1 fault at once (the hall cannot work)."""
        roles = self.roles(kind, 0)
        if kind is TicketKind.DEVICE_FAULT and priority is TicketPriority.P1:
            roles = merge_roles(roles, (Role.HALL_MANAGER,))
        return roles


def check_overdue(t: Ticket, now: datetime, policy: SlaPolicy, tz: tzinfo) -> tuple[Ticket, list[TicketEvent]]:
    """One event per breach, remembered in the ticket; a device that is already back (being verified before
    the due time) is not overdue. Returns the ticket as it now stands (`t` itself when nothing was due)."""
    out: list[TicketEvent] = []
    restored = t.verifying_since
    if (
        t.status is TicketStatus.OPEN
        and t.ack_due is not None
        and not t.ack_overdue
        and now >= t.ack_due
        and not (restored is not None and restored <= t.ack_due)
    ):
        t = _breach(
            t, now, policy, TicketEventKind.ACK_OVERDUE, 1, f"not acknowledged by {format_clock(t.ack_due, tz)}"
        )
        out.append(TicketEvent(t, TicketEventKind.ACK_OVERDUE, policy.roles(t.kind, 1), now, note=t.history[-1].note))
    if (
        t.resolve_due is not None
        and not t.resolve_overdue
        and now >= t.resolve_due
        and not (restored is not None and restored <= t.resolve_due)
    ):
        t = _breach(
            t, now, policy, TicketEventKind.RESOLVE_OVERDUE, 2, f"not resolved by {format_clock(t.resolve_due, tz)}"
        )
        out.append(
            TicketEvent(t, TicketEventKind.RESOLVE_OVERDUE, policy.roles(t.kind, 2), now, note=t.history[-1].note)
        )
    return t, out


def _breach(t: Ticket, now: datetime, policy: SlaPolicy, kind: TicketEventKind, level: int, note: str) -> Ticket:
    ack = kind is TicketEventKind.ACK_OVERDUE
    roles = policy.roles(t.kind, level)
    t = replace(
        t,
        escalation_level=max(t.escalation_level, level),
        notified=merge_roles(t.notified, roles),
        history=(*t.history, HistoryEntry(now, t.status, SYSTEM, note)),
        ack_overdue=t.ack_overdue or ack,
        resolve_overdue=t.resolve_overdue or not ack,
    )
    log.info("ticket overdue ticket=%s rule=%s device=%s priority=%s", t.id, t.rule_id, t.device, t.priority)
    return t
