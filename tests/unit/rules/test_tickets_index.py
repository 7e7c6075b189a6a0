"""The ticket book's index of deadlines: `tick` visits only the tickets that can change (the active device faults and
the due ones), and gives exactly what a walk over the whole book gives.

`WholeBook` is the book as it was before the index: its `tick` and `_next_deadline` walk every ticket. Random days
of alerts, people and ticks (the clock sometimes going back, the gateway sometimes restarting) go to both books.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, tzinfo

import pytest

import rules.tickets.book as book_module
from rules.hall import HallSnapshot
from rules.tickets import (
    SlaPolicy,
    Ticket,
    TicketBook,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketPriority,
    TicketStatus,
    TicketTransitionError,
    UnknownTicketError,
)
from rules.tickets.book import _format_minutes
from rules.tickets.priority import group_by_type
from rules.tickets.sla import check_overdue
from tests.unit.rules.feed import CST, T0
from tests.unit.rules.test_tickets import MON, OPENING, Hall, bad_rating, fault, local


class WholeBook(TicketBook):
    """The reference: `tick` and `_next_deadline` as they were, over every ticket of the book."""

    def tick(self, hall: HallSnapshot, now: datetime) -> list[TicketEvent]:
        out: list[TicketEvent] = []
        self._seen = now
        devices = {d.device_id: d for d in hall.devices}
        by_type = group_by_type(hall.devices) if self._tickets else {}
        faulty = {
            t.device
            for t in self._tickets.values()
            if t.device and t.active and t.alert_active and t.kind is TicketKind.DEVICE_FAULT
        }
        for tid in sorted(self._tickets):
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
                    t, TicketStatus.CLOSED, "system", now, "closed automatically", closed_at=now, closed_by="system"
                )
                out.append(TicketEvent(t, TicketEventKind.CLOSED, t.notified, now))
            if t.status is TicketStatus.CLOSED and self._expired(t, now):
                self._drop(t)
        return out

    def _next_deadline(self) -> datetime | None:
        times: list[datetime] = []
        p = self.policy
        reassess = False
        for t in self._tickets.values():
            if t.active:
                restored = t.verifying_since
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
                if t.priority_auto and t.priority is not TicketPriority.P1 and t.kind is TicketKind.DEVICE_FAULT:
                    reassess = True
            elif t.resolved_at is not None:
                if t.status is TicketStatus.RESOLVED:
                    times.append(t.resolved_at + p.auto_close_after)
                if (
                    t.kind is TicketKind.DEVICE_FAULT
                    and t.alert_active
                    and not t.resolved_auto
                    and p.verification < p.reopen_window
                ):
                    times.append(t.resolved_at + p.verification)
                if t.status is TicketStatus.CLOSED:
                    times.append(t.resolved_at + p.reopen_window)
        if reassess and self._seen is not None:
            opening = self.calendar.next_opening(self._seen)
            if opening is not None:
                times.append(opening)
        return min(times) if times else None


DEVICES = ("tm1", "tm2", "k1", "k2", "k3")
DEVICE_TYPE = {"tm": "ticket_machine", "k": "kiosk"}
POLICIES = [
    SlaPolicy(),
    SlaPolicy(auto_close_after=timedelta(hours=48), verification=timedelta(minutes=2)),  # outlives the reopen window
    SlaPolicy(  # verifying outlasts the reopen window; closing comes first
        verification=timedelta(hours=2), reopen_window=timedelta(hours=1), auto_close_after=timedelta(minutes=30)
    ),
]
STEPS = ["wait", "tick", "tick", "deadline", "device", "fault", "clear", "rating", "person", "person", "restart"]


def _same(new: TicketBook, old: TicketBook, what: str) -> None:
    assert new.tickets == old.tickets, what
    assert new.next_deadline() == old.next_deadline(), what


@pytest.mark.parametrize("seed", range(15))
def test_tick_and_next_deadline_are_those_of_a_walk_over_the_whole_book(seed: int) -> None:
    rng = random.Random(seed)
    policy = POLICIES[seed % len(POLICIES)]
    hall = Hall(*DEVICES)
    now = local(MON, "07:50")
    hall.working(now, *DEVICES)
    new, old = TicketBook(OPENING, CST, policy), WholeBook(OPENING, CST, policy)
    clock = now  # the latest device message: devices report forward, ticks may come from a clock that went back
    counts: dict[str, int] = {}
    for i in range(300):
        step = rng.choice(STEPS)
        what = f"seed {seed}, step {i}: {step} at {now:%a %H:%M:%S}"
        new_events: object
        old_events: object
        if step == "wait":
            back = rng.random() < 0.15
            amount = timedelta(seconds=rng.choice([5, 60, 600, 3600, 6 * 3600, 30 * 3600]) * rng.random())
            now = now - amount / 4 if back else now + amount
            continue
        if step in ("tick", "deadline"):
            due = new.next_deadline()
            if step == "deadline" and due is not None and due > now:
                now = due  # the gateway sleeps until the book's next deadline
            snap = hall.at(now)
            new_events, old_events = new.tick(snap, now), old.tick(snap, now)
        elif step == "device":
            clock = max(clock, now)
            device = rng.choice(DEVICES)
            (hall.broken if rng.random() < 0.6 else hall.working)(clock, device)
            continue
        elif step == "fault":
            device = rng.choice(DEVICES)
            rule = rng.choice(["device-offline", "device-offline", "kiosk-error-burst"])
            act = fault(device, DEVICE_TYPE[device.rstrip("0123456789")], now, rule, rng.choice(["auto", "P3"]))
            snap = hall.at(now)
            new_events, old_events = new.on_alert(act, snap, now), old.on_alert(act, snap, now)
        elif step == "clear":
            device = rng.choice(DEVICES)
            key: str | tuple[str, str] = (device, rng.choice(["device-offline", "kiosk-error-burst"]))
            if rng.random() < 0.3 and new.tickets:
                key = rng.choice(new.tickets).alert_fingerprint or ""
            new_events, old_events = new.on_alert_resolved(key, now), old.on_alert_resolved(key, now)
        elif step == "rating":
            act = bad_rating(rng.choice(["W1", "W2"]), f"a{rng.randrange(6)}", now)
            snap = hall.at(now)
            new_events, old_events = new.on_alert(act, snap, now), old.on_alert(act, snap, now)
        elif step == "person":
            tid = rng.choice(new.tickets).id if new.tickets and rng.random() < 0.9 else "T-19700101-0001"
            name = rng.choice(["acknowledge", "start", "resolve", "resolve", "close", "close"])
            results: list[object] = []
            for book in (new, old):
                try:
                    if name == "resolve":
                        results.append(book.resolve(tid, "wang", "fixed", now))
                    else:
                        results.append(getattr(book, name)(tid, "wang", now))
                except (TicketTransitionError, UnknownTicketError) as err:
                    results.append(f"{type(err).__name__}: {err}")
            new_events, old_events = results
        else:  # a restart: each book from its own saved state
            for book in (new, old):
                book.load(json.loads(json.dumps(book.dump())))
            new_events = old_events = None
        counts[step] = counts.get(step, 0) + 1
        assert new_events == old_events, what
        _same(new, old, what)
    assert counts.get("tick", 0) + counts.get("deadline", 0) > 50


def test_a_tick_with_nothing_due_visits_none_of_the_overdue_rectifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backlog of unacted bad ratings stays in the book (overdue, for good), and costs a tick nothing."""
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "09:00")
    for i in range(500):
        when = t0 + timedelta(seconds=50 * i)
        book.on_alert(bad_rating(f"W{i % 10}", f"a{i}", when), hall.at(when), when)
    hall.broken(t0, "k1")
    [kiosk] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    late = local(date(2026, 11, 27), "10:00")  # every rating's two working days are over
    caught_up = book.tick(hall.at(late), late)
    assert len([e for e in caught_up if e.kind is TicketEventKind.RESOLVE_OVERDUE]) == 501
    deadline = book.next_deadline()
    assert deadline == local(date(2026, 11, 30), "08:30"), "only the fault's re-assessment when the hall opens"

    looked_at: list[Ticket] = []

    def counting(t: Ticket, now: datetime, policy: SlaPolicy, tz: tzinfo) -> tuple[Ticket, list[TicketEvent]]:
        looked_at.append(t)
        return check_overdue(t, now, policy, tz)

    monkeypatch.setattr(book_module, "check_overdue", counting)
    for minutes in (1, 2, 60):
        when = late + timedelta(minutes=minutes)
        assert book.tick(hall.at(when), when) == []
    assert [t.device for t in looked_at] == ["k1"] * 3, "only the active device fault, once a tick"
    assert len(book.tickets) == 501 and book.next_deadline() == deadline, "the backlog stays"

    looked_at.clear()
    rated = local(date(2026, 11, 27), "11:00")
    [fresh] = book.on_alert(bad_rating("W1", "b1", rated), hall.at(rated), rated)
    due = fresh.ticket.resolve_due
    assert due is not None and due > deadline and book.next_deadline() == deadline
    [late_one] = book.tick(hall.at(due), due)
    assert (late_one.ticket.id, late_one.kind) == (fresh.ticket.id, TicketEventKind.RESOLVE_OVERDUE)
    assert sorted(t.id for t in looked_at) == sorted([kiosk.ticket.id, fresh.ticket.id])

    looked_at.clear()
    rectification = book.tickets[0]
    assert rectification.kind is TicketKind.RECTIFICATION
    book.resolve(rectification.id, "manager-zhao", "called back", due)
    book.close(rectification.id, "manager-zhao", due)
    earlier = due - timedelta(hours=1)  # even on a clock that went back, a closed rectification leaves at once
    assert book.tick(hall.at(earlier), earlier) == []
    assert rectification.id not in {t.id for t in book.tickets} and len(book.tickets) == 501
    assert [t.device for t in looked_at] == ["k1"]
