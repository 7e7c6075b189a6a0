"""One ticket per device problem: a device whose fault ticket is open gets no second ticket for another fault (paper
low, then paper out; offline as well) — the open ticket is escalated: its priority rises when the new fault is worse,
with that priority's SLA clocks from then, its history says which fault came when, and everyone who heard of it hears
of the escalation. The ticket resolves itself only once none of its faults fires. Time is a parameter (hall time,
Monday 2026-11-23); no sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rules.engine import Act
from rules.language import Role, Severity, TicketAction
from rules.tickets import TicketBook, TicketEventKind, TicketPriority, TicketStatus
from tests.unit.rules.feed import CST, T0
from tests.unit.rules.test_tickets import MON, OPENING, Hall, _act, bad_rating, fault, local, secs

E = TicketEventKind
LOW, OUT = local(MON, "09:10"), local(MON, "09:40")


def hall_wide(rule: str, when: datetime) -> Act:
    return _act(rule, {}, when, TicketAction(priority="P1"), Severity.CRITICAL)


def printer(hall: Hall, when: datetime, device: str, state: str) -> None:
    hall.state.apply(hall.feed("ticket_machine", device, secs(when), on="state", online=True, printer=state))


def paper_low_then_out() -> tuple[Hall, TicketBook, str]:
    """tm1 (one of two ticket machines) low on paper at 09:10 — a P3 the rule fixes — and out of paper at 09:40."""
    hall = Hall("tm1", "tm2")
    hall.working(T0, "tm1", "tm2")
    book = TicketBook(OPENING, CST)
    printer(hall, LOW, "tm1", "paper_low")
    [low] = book.on_alert(fault("tm1", "ticket_machine", LOW, "printer-paper-low", "P3"), hall.at(LOW), LOW)
    assert (low.kind, low.ticket.priority, low.ticket.ack_due) == (E.OPENED, TicketPriority.P3, local(MON, "09:40"))
    printer(hall, OUT, "tm1", "paper_out")
    return hall, book, low.ticket.id


def test_paper_out_after_paper_low_escalates_the_open_ticket_instead_of_opening_a_second() -> None:
    hall, book, tid = paper_low_then_out()
    [ev] = book.on_alert(fault("tm1", "ticket_machine", OUT, "printer-paper-out"), hall.at(OUT), OUT)
    t = ev.ticket
    assert (ev.kind, t.id, len(book.tickets)) == (E.ESCALATED, tid, 1)
    assert (t.priority, t.priority_auto) == (TicketPriority.P2, True), "paper out of one of two machines is a P2"
    assert t.priority_reason.startswith("1 of 2 ticket machines still work")
    assert t.title == "printer-paper-out: ticket_machine tm1 at 1F-tm1", "the title names the worse fault"
    assert t.history[-1].note.startswith("printer-paper-out at 2026-11-23 09:40: printer-paper-out (tm1); P3 → P2")
    assert t.history[-1].status is TicketStatus.OPEN and t.history[-1].by == "system"
    # P2: acknowledge within 15 working minutes, resolve within a working day — where that is earlier than before
    assert t.ack_due == local(MON, "09:40"), "the P3's acknowledge time was earlier: what was promised stays"
    assert t.resolve_due == local(MON, "09:40") + timedelta(days=1), "a working day from 09:40, not three from 09:10"
    assert ev.roles == (Role.TECHNICIAN,) and t.rules == ("printer-paper-low", "printer-paper-out")
    assert [(f.rule_id, f.since, f.firing, f.priority) for f in t.faults] == [
        ("printer-paper-low", LOW, True, TicketPriority.P3),
        ("printer-paper-out", OUT, True, TicketPriority.P2),
    ]


def test_the_ticket_resolves_itself_only_once_none_of_its_faults_fires() -> None:
    hall, book, tid = paper_low_then_out()
    [ev] = book.on_alert(fault("tm1", "ticket_machine", OUT, "printer-paper-out"), hall.at(OUT), OUT)
    low_fp = ev.ticket.faults[0].fingerprint or ""
    out_fp = ev.ticket.alert_fingerprint or ""
    book.on_alert_resolved(low_fp, OUT)  # paper low ends as paper out begins
    t = book.get(tid)
    assert t.alert_active and t.verifying_since is None and [f.firing for f in t.faults] == [False, True]
    later = OUT + timedelta(minutes=30)
    assert all(e.kind is not E.RESOLVED for e in book.tick(hall.at(later), later)), "paper out still fires"
    refilled = local(MON, "10:15")
    printer(hall, refilled, "tm1", "ok")
    book.on_alert_resolved(out_fp, refilled)
    assert book.get(tid).verifying_since == refilled
    done = refilled + timedelta(minutes=10)
    [resolved] = book.tick(hall.at(done), done)
    assert (resolved.kind, resolved.ticket.resolved_at) == (E.RESOLVED, refilled)


def test_the_joined_fault_firing_again_is_an_occurrence_and_after_resolution_reopens_the_same_ticket() -> None:
    hall, book, tid = paper_low_then_out()
    out = fault("tm1", "ticket_machine", OUT, "printer-paper-out")
    book.on_alert(out, hall.at(OUT), OUT)
    again = OUT + timedelta(minutes=2)
    [occurrence] = book.on_alert(out, hall.at(again), again)
    assert (occurrence.kind, occurrence.ticket.id, occurrence.roles) == (E.OCCURRENCE, tid, ())
    book.resolve(tid, "li", "new roll", local(MON, "10:00"))
    for f in book.get(tid).faults:
        book.on_alert_resolved(f.fingerprint or "", local(MON, "10:00"))
    recurs = local(MON, "14:00")
    [back] = book.on_alert(out, hall.at(recurs), recurs)
    assert (back.kind, back.ticket.id, back.ticket.status) == (E.REOPENED, tid, TicketStatus.OPEN)
    assert [(f.rule_id, f.firing) for f in back.ticket.faults] == [
        ("printer-paper-low", False),
        ("printer-paper-out", True),
    ]


def test_a_fault_no_worse_joins_the_ticket_keeping_its_priority_and_clocks_and_tells_who_knew() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1", "k2")
    [offline] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)  # the last kiosk: P2
    book.acknowledge(offline.ticket.id, "li", t0 + timedelta(minutes=2))
    burst = t0 + timedelta(minutes=20)
    [ev] = book.on_alert(fault("k1", "kiosk", burst, "kiosk-error-burst", "P3"), hall.at(burst), burst)
    t = ev.ticket
    assert (ev.kind, t.id, t.priority, t.status, t.assignee) == (
        E.ESCALATED,
        offline.ticket.id,
        TicketPriority.P2,
        TicketStatus.ACKNOWLEDGED,
        "li",
    )
    assert (t.ack_due, t.resolve_due) == (offline.ticket.ack_due, offline.ticket.resolve_due)
    assert t.title == offline.ticket.title and t.history[-1].note.endswith("; stays P2")
    assert ev.roles == (Role.TECHNICIAN,), "the technician working on it hears of the second fault"


def test_a_worse_fault_of_an_acknowledged_ticket_keeps_its_assignee_and_pages_the_manager_for_a_p1() -> None:
    hall = Hall("tm1")
    hall.working(T0, "tm1")
    book = TicketBook(OPENING, CST)
    printer(hall, LOW, "tm1", "paper_low")
    [low] = book.on_alert(fault("tm1", "ticket_machine", LOW, "printer-paper-low", "P3"), hall.at(LOW), LOW)
    book.acknowledge(low.ticket.id, "li", LOW + timedelta(minutes=5))
    printer(hall, OUT, "tm1", "paper_out")
    [ev] = book.on_alert(fault("tm1", "ticket_machine", OUT, "printer-paper-out"), hall.at(OUT), OUT)
    t = ev.ticket
    assert (t.priority, t.assignee, t.status) == (TicketPriority.P1, "li", TicketStatus.ACKNOWLEDGED)
    assert t.ack_due == low.ticket.ack_due, "acknowledged already: no new acknowledge clock"
    assert t.resolve_due == OUT + timedelta(hours=4), "P1: four hours on the wall clock from the escalation"
    assert ev.roles == (Role.TECHNICIAN, Role.HALL_MANAGER), "the hall manager hears of a P1 at once"
    assert t.notified == ev.roles


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # another device: its own ticket
        (fault("tm1", "ticket_machine", LOW, "printer-paper-low", "P3"), fault("tm2", "ticket_machine", OUT)),
        # a bad rating at the window of an evaluator with a fault: the manager's rectification, not the technician's
        (fault("ev-W3", "evaluator", LOW), bad_rating("W3", "a17", OUT)),
        # hall-wide rules have no device to share
        (hall_wide("call-system-down", LOW), hall_wide("ticket-machines-down", OUT)),
    ],
)
def test_what_is_not_the_same_device_fault_stays_separate(first: Act, second: Act) -> None:
    hall = Hall("tm1", "tm2")
    hall.working(T0, "tm1", "tm2")
    book = TicketBook(OPENING, CST)
    events = [e for act in (first, second) for e in book.on_alert(act, hall.at(OUT), OUT)]
    assert [e.kind for e in events] == [E.OPENED, E.OPENED] and len(book.tickets) == 2


def test_a_restart_keeps_which_faults_a_ticket_holds() -> None:
    hall, book, tid = paper_low_then_out()
    out = fault("tm1", "ticket_machine", OUT, "printer-paper-out")
    book.on_alert(out, hall.at(OUT), OUT)
    restored = TicketBook(OPENING, CST)
    restored.load(book.dump())
    again = OUT + timedelta(minutes=3)
    [ev] = restored.on_alert(out, hall.at(again), again)
    assert (ev.kind, ev.ticket.id) == (E.OCCURRENCE, tid)
    # a book saved before issue 19: its tickets' one alert, the one that opened them, becomes their fault
    saved = book.dump()
    for raw in saved["tickets"]:  # type: ignore[attr-defined]
        del raw["faults"]
    before = TicketBook(OPENING, CST)
    before.load(saved)
    [t] = before.tickets
    assert [(f.rule_id, f.firing) for f in t.faults] == [("printer-paper-low", True)]
