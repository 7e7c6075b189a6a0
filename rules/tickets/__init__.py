"""Fault tickets for technicians (运维工单) and rectification tickets for bad ratings (差评整改).

    TicketBook.on_alert(act, hall, now)        an engine `Act` with a ticket action → open / occurrence / escalate /
                                               re-open (another fault of a device escalates its open ticket)
    TicketBook.on_alert_resolved(fp, now)      the condition cleared → the verification clock starts
    TicketBook.tick(hall, now)                 auto-resolve, SLA breaches and escalation, auto-close
    acknowledge / start / resolve / close      what people do, validated (a taken ticket is its assignee's)
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

The parts, each a module, bottom up: `model` (errors, statuses, `Ticket`, `TicketEvent`), `sla` (targets, the
escalation ladder, breaches), `priority` (`assess_priority`), `lifecycle` (the moves people may make), `persist`
(the saved format), `book` (`TicketBook`). Import from `rules.tickets`; the other names of the modules are the
package's own business. The working calendar lives in rules/schedule.py and is re-exported here.
"""

from rules.schedule import WorkingCalendar
from rules.tickets.book import TicketBook
from rules.tickets.model import (
    SYSTEM,
    Fault,
    HistoryEntry,
    Ticket,
    TicketAssignedError,
    TicketError,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketPriority,
    TicketStatus,
    TicketTransitionError,
    UnknownTicketError,
)
from rules.tickets.persist import SCHEMA_VERSION
from rules.tickets.priority import LAST_HOUR, assess_priority
from rules.tickets.sla import SlaPolicy, SlaTarget

__all__ = [
    "LAST_HOUR",
    "SCHEMA_VERSION",
    "SYSTEM",
    "Fault",
    "HistoryEntry",
    "SlaPolicy",
    "SlaTarget",
    "Ticket",
    "TicketAssignedError",
    "TicketBook",
    "TicketError",
    "TicketEvent",
    "TicketEventKind",
    "TicketKind",
    "TicketPriority",
    "TicketStatus",
    "TicketTransitionError",
    "UnknownTicketError",
    "WorkingCalendar",
    "assess_priority",
]
