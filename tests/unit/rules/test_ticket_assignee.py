"""A ticket someone acknowledged or started is theirs: only they, a hall manager or an administrator (an `overseer`)
start or resolve it; an open ticket is anyone's. The ticket book decides; time is passed in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules.tickets import TicketAssignedError, TicketBook, TicketStatus
from tests.unit.rules.feed import CST, T0
from tests.unit.rules.test_tickets import MON, OPENING, Hall, fault, local

TEN = local(MON, "10:00")


def taken(by: str | None, started: bool = False) -> tuple[TicketBook, str]:
    """A kiosk fault ticket, acknowledged by `by` (None: left open), and started by them."""
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    hall.broken(TEN, "k1")
    book = TicketBook(OPENING, CST)
    [opened] = book.on_alert(fault("k1", "kiosk", TEN), hall.at(TEN), TEN)
    if by is not None:
        book.acknowledge(opened.ticket.id, by, TEN + timedelta(minutes=1))
        if started:
            book.start(opened.ticket.id, by, TEN + timedelta(minutes=2))
    return book, opened.ticket.id


@pytest.mark.parametrize(
    ("holder", "started", "action", "by", "overseer", "allowed"),
    [
        ("li", False, "start", "li", False, True),
        ("li", False, "start", "zhang", False, False),
        ("li", False, "resolve", "zhang", False, False),
        ("li", True, "resolve", "zhang", False, False),
        ("li", True, "resolve", "li", False, True),
        ("li", False, "start", "wang", True, True),  # a hall manager takes it over
        ("li", True, "resolve", "wang", True, True),
        (None, False, "start", "zhang", False, True),  # nobody took it: anyone's
        (None, False, "resolve", "zhang", False, True),
    ],
)
def test_who_may_move_a_taken_ticket_on(
    holder: str | None, started: bool, action: str, by: str, overseer: bool, allowed: bool
) -> None:
    book, tid = taken(holder, started)
    when = TEN + timedelta(minutes=5)

    def move() -> None:
        if action == "start":
            book.start(tid, by, when, overseer=overseer)
        else:
            book.resolve(tid, by, "replaced the cable", when, overseer=overseer)

    if allowed:
        move()
        assert book.get(tid).status is (TicketStatus.IN_PROGRESS if action == "start" else TicketStatus.RESOLVED)
    else:
        with pytest.raises(TicketAssignedError) as refused:
            move()
        assert str(refused.value) == f"ticket {tid} is assigned to {holder}; ask {holder} or the hall manager"
        assert refused.value.assignee == holder
        assert book.get(tid).status is (TicketStatus.IN_PROGRESS if started else TicketStatus.ACKNOWLEDGED)


def test_the_one_who_started_it_is_the_assignee_and_a_resolved_ticket_has_none() -> None:
    book, tid = taken("li")
    book.start(tid, "wang", TEN + timedelta(minutes=2), overseer=True)  # the manager went to the kiosk instead
    assert book.get(tid).assignee == "wang"
    with pytest.raises(TicketAssignedError):
        book.resolve(tid, "li", "fixed", TEN + timedelta(minutes=3))
    book.resolve(tid, "wang", "fixed", TEN + timedelta(minutes=3))
    assert book.get(tid).assignee is None
