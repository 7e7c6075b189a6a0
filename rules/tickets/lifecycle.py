"""The ticket's status machine: open → acknowledged → in_progress → resolved → closed.

Owns which moves a person may make from which status (`check_move`, with the refusal in words), who may work on and
resolve a ticket someone has taken (`check_assignee`), what any move writes into the ticket (`move`: the new status
and a history entry) and that working on or fixing a ticket nobody acknowledged acknowledges it (`acknowledgement`).
Must not keep tickets or decide when a ticket moves by itself: the book does (book.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from rules.tickets.model import (
    HistoryEntry,
    Ticket,
    TicketAssignedError,
    TicketStatus,
    TicketTransitionError,
    format_clock,
)

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


def check_move(t: Ticket, to: TicketStatus, tz: tzinfo) -> None:
    """Raise `TicketTransitionError`, saying why in words, unless a person may move `t` to `to` now."""
    if t.status in _ALLOWED[to]:
        return
    verb = _VERB[to]
    if t.status is to:
        who = {
            TicketStatus.ACKNOWLEDGED: (t.acknowledged_by, t.acknowledged_at),
            TicketStatus.IN_PROGRESS: (t.started_by, t.started_at),
            TicketStatus.RESOLVED: (t.resolved_by, t.resolved_at),
            TicketStatus.CLOSED: (t.closed_by, t.closed_at),
        }[to]
        when = f" (by {who[0]} at {format_clock(who[1], tz)})" if who[0] and who[1] else ""
        raise TicketTransitionError(f"ticket {t.id} is already {verb}{when}")
    state = "in progress" if t.status is TicketStatus.IN_PROGRESS else str(t.status)
    hint = " (resolve it first)" if to is TicketStatus.CLOSED and t.active else ""
    raise TicketTransitionError(f"ticket {t.id} is {state}; it cannot be {verb}{hint}")


def check_assignee(t: Ticket, by: str, overseer: bool) -> None:
    """Raise `TicketAssignedError` unless `by` may work on or resolve `t`: a ticket someone acknowledged or started is
    theirs, and only they or an `overseer` (a hall manager, an administrator) move it on. An open ticket is anyone's."""
    assignee = t.assignee
    if assignee is not None and assignee != by and not overseer:
        raise TicketAssignedError(t.id, assignee)


def move(t: Ticket, status: TicketStatus, by: str, now: datetime, note: str = "", /, **changes: object) -> Ticket:
    """`t` in `status`, with the move in its history and the other `changes` made."""
    entry = HistoryEntry(now, status, by, note)
    return replace(t, status=status, history=(*t.history, entry), **changes)  # type: ignore[arg-type]


def acknowledgement(t: Ticket, by: str, now: datetime) -> dict[str, datetime | str | None]:
    """Working on or fixing a ticket nobody acknowledged is an acknowledgement."""
    if t.acknowledged_at is not None:
        return {"acknowledged_at": t.acknowledged_at, "acknowledged_by": t.acknowledged_by}
    return {"acknowledged_at": now, "acknowledged_by": by}
