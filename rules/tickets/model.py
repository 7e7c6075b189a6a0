"""What a ticket is: its errors, statuses and kinds, the `Ticket` itself, its history, the `Fault`s behind it and the
`TicketEvent`s the book reports, and how a moment is written in a ticket's notes (`format_clock`).

Owns the data of the ticket book: plain frozen values, no decisions. Must not compute priorities, clocks or moves
(priority.py, sla.py, book.py do), nor know how they are saved (persist.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from devices.errors import HallOpsError
from rules.language import Role

SYSTEM = "system"  # the `by` of what the ticket book does by itself


# ---------------------------------------------------------------------------------------------- errors


class TicketError(HallOpsError):
    """Base of the ticket book's errors."""


class TicketTransitionError(TicketError):
    """A person asked for a move the ticket's status does not allow (e.g. acknowledging a closed ticket)."""


class UnknownTicketError(TicketError, LookupError):
    """No ticket with that id is in the book (never opened, or closed and past its reopen window)."""


class TicketAssignedError(TicketError):
    """Someone other than the ticket's assignee, and not a hall manager or administrator, asked to work on or resolve
    it. `assignee`: whose it is."""

    def __init__(self, ticket_id: str, assignee: str) -> None:
        super().__init__(f"ticket {ticket_id} is assigned to {assignee}; ask {assignee} or the hall manager")
        self.assignee = assignee


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
    ESCALATED = "escalated"  # another fault of the device joined its open ticket (paper low, then paper out)
    ACK_OVERDUE = "ack_overdue"
    RESOLVE_OVERDUE = "resolve_overdue"


_ACTIVE = frozenset({TicketStatus.OPEN, TicketStatus.ACKNOWLEDGED, TicketStatus.IN_PROGRESS})


# ---------------------------------------------------------------------------------------------- tickets


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    status: TicketStatus
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Fault:
    """An alert behind a ticket: the one that opened it, or another fault of the same device that joined the open
    ticket instead of opening a second one (one ticket per device problem: paper low, then paper out)."""

    rule_id: str
    fingerprint: str | None
    since: datetime  # when it joined the ticket, or last fired again
    firing: bool = True
    priority: TicketPriority | None = None  # the ticket's once it joined (None: saved before issue 19)


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
    # every alert behind it, the opening one first; `alert_active` while any fires, `alert_fingerprint` the latest
    faults: tuple[Fault, ...] = ()

    @property
    def active(self) -> bool:
        return self.status in _ACTIVE

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules whose alerts it stands for: the one that opened it, then those of the faults that joined it."""
        return tuple(dict.fromkeys((self.rule_id, *(f.rule_id for f in self.faults))))

    @property
    def assignee(self) -> str | None:
        """Whose ticket it is while it is being dealt with: who started the work, else who acknowledged it."""
        if self.status in (TicketStatus.ACKNOWLEDGED, TicketStatus.IN_PROGRESS):
            return self.started_by or self.acknowledged_by
        return None


@dataclass(frozen=True, slots=True)
class TicketEvent:
    ticket: Ticket
    kind: TicketEventKind
    roles: tuple[Role, ...]  # who to notify; empty: record it, page nobody
    at: datetime
    by: str = SYSTEM
    note: str = ""


def format_clock(at: datetime | None, tz: tzinfo) -> str:
    """A moment as the notes and messages give it: the hall's local date and time to the minute."""
    if at is None:
        return "?"
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
