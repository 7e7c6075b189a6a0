"""Fault and rectification tickets: the priority a technician sees, SLA clocks on the hall's working calendar, the
lifecycle, auto-resolve and re-open, escalation, and a restart that neither forgets nor repeats anything.

Time is a parameter everywhere (hall time, Monday 2026-11-23 09:00 = T0); no sleeps.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from devices.topics import DeviceType
from rules.engine import Act, Alert, AlertState, RuleEngine, fingerprint
from rules.hall import DeviceProfile, DeviceView, HallProfile, HallSnapshot, HallState
from rules.language import Action, Role, Schedule, Severity, TicketAction, parse_rules
from rules.tickets import (
    SCHEMA_VERSION,
    SlaPolicy,
    SlaTarget,
    TicketBook,
    TicketEvent,
    TicketEventKind,
    TicketKind,
    TicketPriority,
    TicketStatus,
    TicketTransitionError,
    UnknownTicketError,
    WorkingCalendar,
    assess_priority,
)
from tests.unit.rules.feed import CST, T0, Feed

OPENING = Schedule.model_validate(
    {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours": ["08:30-12:00", "13:30-17:30"]}
)
MON, FRI, SAT = date(2026, 11, 23), date(2026, 11, 27), date(2026, 11, 28)
E = TicketEventKind


def local(day: date, hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return datetime(day.year, day.month, day.day, int(h), int(m), tzinfo=CST)


def secs(when: datetime) -> float:
    return (when - T0).total_seconds()


TYPES = {
    "tm": DeviceType.TICKET_MACHINE,
    "k": DeviceType.KIOSK,
    "cs": DeviceType.CALL_SCREEN,
    "ev": DeviceType.EVALUATOR,
    "cam": DeviceType.CAMERA,
    "qms": DeviceType.QMS,
    "W": DeviceType.WINDOW,
}


class Hall:
    """A hall whose devices report through the real decoder; `working`/`broken` set their state at a time."""

    def __init__(self, *devices: str) -> None:
        self.feed = Feed()
        profiles = tuple(
            DeviceProfile(d, self.type_of(d), location=f"1F-{d}" if d.startswith("tm") else None) for d in devices
        )
        self.state = HallState(HallProfile("h1", devices=profiles))

    def type_of(self, device: str) -> DeviceType:
        return TYPES[device.rstrip("0123456789")]

    def working(self, when: datetime, *devices: str) -> None:
        for d in devices:
            self.state.apply(self.feed(self.type_of(d).value, d, secs(when), on="state", online=True))

    def broken(self, when: datetime, *devices: str) -> None:
        for d in devices:
            self.state.apply(self.feed(self.type_of(d).value, d, secs(when), on="state", will=True))

    def at(self, when: datetime) -> HallSnapshot:
        return self.state.snapshot(when)

    def device(self, device: str, when: datetime) -> DeviceView:
        return next(d for d in self.at(when).devices if d.device_id == device)


def fault(device: str, device_type: str, when: datetime, rule: str = "device-offline", priority: str = "auto") -> Act:
    labels = {"device": device, "device_type": device_type}
    return _act(rule, labels, when, TicketAction.model_validate({"priority": priority}), Severity.MAJOR)


def bad_rating(window: str, ticket: str, when: datetime) -> Act:
    labels = {"device": f"ev-{window}", "device_type": "evaluator", "window": window, "ticket": ticket}
    return _act("bad-rating", labels, when, TicketAction(kind="rectification"), Severity.MAJOR)


def _act(rule: str, labels: dict[str, str], when: datetime, action: TicketAction, severity: Severity) -> Act:
    fp = fingerprint(rule, tuple(sorted(labels.items())))
    reason = f"{rule} ({labels.get('device', 'hall')})"
    alert = Alert(
        fingerprint=fp,
        rule_id=rule,
        labels=labels,
        severity=severity,
        state=AlertState.FIRING,
        active_since=when,
        last_true=when,
        fired_at=when,
        reason=reason,
    )
    return Act(alert, Action(ticket=action))


def kinds(events: list[TicketEvent]) -> list[tuple[str, str]]:
    return [(e.ticket.id, e.kind.value) for e in events]


# ---------------------------------------------------------------------------------------------- priority


def test_the_last_ticket_machine_is_p1_and_one_kiosk_of_four_in_the_last_hour_is_p3() -> None:
    hall = Hall("tm1", "k1", "k2", "k3", "k4")
    ten, half_past_four = local(MON, "10:00"), local(MON, "16:30")
    hall.working(T0, "tm1", "k1", "k2", "k3", "k4")
    hall.broken(ten, "tm1")
    priority, reason = assess_priority(hall.device("tm1", ten), hall.at(ten), ten, OPENING, CST)
    assert priority is TicketPriority.P1
    assert reason == "last working ticket machine of the hall; 10:00 with 6.0 h of opening time left today"
    hall.broken(half_past_four, "k3")
    priority, reason = assess_priority(
        hall.device("k3", half_past_four), hall.at(half_past_four), half_past_four, OPENING, CST
    )
    assert priority is TicketPriority.P3
    assert reason.startswith("3 of 4 kiosks still work; 16:30, the last hour of opening time")


PRIORITIES = [
    # (devices in the hall, broken, the failing device, when, priority, words in the reason)
    (["tm1", "tm2"], [], "tm1", local(MON, "10:00"), "P2", "1 of 2 ticket machines still work"),
    (["tm1", "tm2"], ["tm2"], "tm1", local(MON, "10:00"), "P1", "last working ticket machine"),
    (["tm1"], [], "tm1", local(MON, "16:45"), "P2", "the last hour of opening time (0.8 h left) (lowered from P1)"),
    (["tm1"], [], "tm1", local(MON, "18:30"), "P2", "no opening time left today"),
    (["tm1"], [], "tm1", local(SAT, "10:00"), "P2", "no opening time left today"),
    (["tm1"], [], "tm1", local(MON, "07:30"), "P2", "07:30, before opening (lowered from P1)"),  # raised at 08:30
    (["tm1"], [], "tm1", local(MON, "12:30"), "P1", "4.0 h of opening time left"),  # lunch: the afternoon is ahead
    (["qms1"], [], "qms1", local(MON, "09:00"), "P1", "last working queue system"),
    (["cs1", "cs2", "cs3"], [], "cs2", local(MON, "09:00"), "P2", "2 of 3 call screens still work"),
    (["W1", "W2"], ["W2"], "W1", local(MON, "09:00"), "P1", "last working window terminal"),
    (["k1", "k2"], [], "k1", local(MON, "10:00"), "P3", "1 of 2 kiosks still work"),
    (["k1", "k2", "k3", "k4"], ["k2", "k3"], "k1", local(MON, "10:00"), "P2", "only 1 of 4 kiosks still work"),
    (["k1", "k2"], ["k2"], "k1", local(MON, "10:00"), "P2", "last working kiosk"),
    (["k1", "k2"], ["k2"], "k1", local(MON, "17:00"), "P3", "(lowered from P2)"),
    (["ev1"], [], "ev1", local(MON, "10:00"), "P3", "an evaluator fault does not stop service"),
    (["cam1"], [], "cam1", local(MON, "10:00"), "P3", "a camera fault does not stop service"),
]


@pytest.mark.parametrize(("devices", "broken", "failing", "when", "want", "words"), PRIORITIES)
def test_priority_from_operational_impact(
    devices: list[str], broken: list[str], failing: str, when: datetime, want: str, words: str
) -> None:
    hall = Hall(*devices)
    hall.working(when - timedelta(minutes=5), *devices)
    hall.broken(when, failing, *broken)
    priority, reason = assess_priority(hall.device(failing, when), hall.at(when), when, OPENING, CST)
    assert (priority.value, words in reason) == (want, True), reason


# ---------------------------------------------------------------------------------------------- working time

NEW_YEAR = Schedule.model_validate({**OPENING.model_dump(), "holidays": [date(2027, 1, 1)]})
MAKE_UP = Schedule.model_validate(
    {**OPENING.model_dump(), "holidays": [date(2026, 11, 30)], "workdays": [date(2026, 11, 29)]}
)

ADDS = [
    # (calendar, start, working time to add, due)
    (OPENING, local(FRI, "16:00"), SlaTarget(working_days=1), local(MON + timedelta(7), "16:00")),  # weekend skipped
    (OPENING, local(MON, "11:55"), SlaTarget(minutes=15), local(MON, "13:40")),  # lunch not counted
    (OPENING, local(MON, "16:00"), SlaTarget(minutes=90), local(MON, "17:30")),  # ends at closing, not next morning
    (OPENING, local(SAT, "10:00"), SlaTarget(minutes=15), local(MON + timedelta(7), "08:45")),  # clock starts Monday
    (OPENING, local(MON, "18:00"), SlaTarget(working_days=1), local(MON + timedelta(1), "17:30")),
    (OPENING, local(MON, "11:00"), SlaTarget(minutes=240, wall_clock=True), local(MON, "15:00")),  # wall clock: lunch
    (OPENING, local(date(2026, 12, 31), "10:00"), SlaTarget(working_days=3), local(date(2027, 1, 5), "10:00")),
    (NEW_YEAR, local(date(2026, 12, 31), "10:00"), SlaTarget(working_days=3), local(date(2027, 1, 6), "10:00")),
    (MAKE_UP, local(FRI, "16:00"), SlaTarget(working_days=1), local(date(2026, 11, 29), "16:00")),  # 调休 Sunday
    (MAKE_UP, local(FRI, "16:00"), SlaTarget(working_days=2), local(date(2026, 12, 1), "16:00")),  # holiday Monday
]


@pytest.mark.parametrize(("schedule", "start", "target", "due"), ADDS)
def test_sla_due_times_count_working_time(
    schedule: Schedule, start: datetime, target: SlaTarget, due: datetime
) -> None:
    calendar = WorkingCalendar(schedule, CST)
    assert target.due(start, calendar) == due
    if not target.wall_clock:
        assert calendar.between(start, due) == timedelta(minutes=target.minutes) + calendar.day_length * (
            target.working_days
        ), "counting back gives what was added"


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (local(FRI, "16:00"), local(MON + timedelta(7), "09:00"), 2.0),
        (local(MON, "11:00"), local(MON, "14:00"), 1.5),
        (local(MON, "18:00"), local(MON, "07:00"), 0.0),
        (local(SAT, "08:00"), local(SAT, "20:00"), 0.0),
    ],
)
def test_working_time_between(start: datetime, end: datetime, hours: float) -> None:
    assert WorkingCalendar(OPENING, CST).between(start, end) == timedelta(hours=hours)


def test_a_calendar_without_working_time_is_refused_plainly() -> None:
    never = Schedule.model_validate({"weekdays": []})
    with pytest.raises(ValueError, match="no working time"):
        WorkingCalendar(never, CST).add(T0, timedelta(minutes=5))


# ---------------------------------------------------------------------------------------------- the book


def test_sla_clocks_of_a_new_ticket_by_priority() -> None:
    hall = Hall("tm1", "tm2", "k1", "k2")
    hall.working(T0, "tm1", "tm2", "k1", "k2")
    book = TicketBook(OPENING, CST)
    friday = local(FRI, "16:00")
    hall.broken(friday, "tm1")
    [opened] = book.on_alert(fault("tm1", "ticket_machine", friday), hall.at(friday), friday)
    t = opened.ticket
    assert (opened.kind, t.priority, t.id) == (E.OPENED, TicketPriority.P2, "T-20261127-0001")
    assert t.ack_due == local(FRI, "16:15") and t.resolve_due == local(MON + timedelta(7), "16:00")
    assert t.title == "device-offline: ticket_machine tm1 at 1F-tm1" and t.location == "1F-tm1"
    hall.broken(friday, "tm2")
    [p1] = book.on_alert(fault("tm2", "ticket_machine", friday), hall.at(friday), friday)
    assert p1.ticket.priority is TicketPriority.P1 and p1.ticket.id == "T-20261127-0002"
    assert p1.ticket.ack_due == local(FRI, "16:05") and p1.ticket.resolve_due == local(FRI, "20:00"), "wall clock"
    assert p1.roles == (Role.TECHNICIAN, Role.HALL_MANAGER), "the hall manager hears of a P1 at once"
    noon = local(MON, "11:55")
    [p3] = book.on_alert(fault("k1", "kiosk", noon), hall.at(noon), noon)
    assert p3.ticket.priority is TicketPriority.P3 and p3.roles == (Role.TECHNICIAN,)
    assert p3.ticket.ack_due == local(MON, "13:55"), "30 working minutes: 5 before lunch, 25 after"


def test_full_lifecycle_by_hand() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    tid = ev.ticket.id
    assert book.acknowledge(tid, "wang", t0 + timedelta(minutes=3))[0].kind is E.ACKNOWLEDGED
    assert book.start(tid, "wang", t0 + timedelta(minutes=10))[0].kind is E.STARTED
    hall.working(t0 + timedelta(minutes=40), "k1")
    book.on_alert_resolved(ev.ticket.alert_fingerprint or "", t0 + timedelta(minutes=40))
    [done] = book.resolve(tid, "wang", "replaced the power supply", t0 + timedelta(minutes=42))
    assert (done.kind, done.ticket.resolved_by, done.ticket.resolved_auto) == (E.RESOLVED, "wang", False)
    assert done.ticket.resolution_note == "replaced the power supply"
    assert book.tick(hall.at(t0 + timedelta(hours=2)), t0 + timedelta(hours=2)) == [], "the fix held"
    [closed] = book.close(tid, "lead-li", t0 + timedelta(hours=3))
    t = closed.ticket
    assert t.status is TicketStatus.CLOSED and t.closed_by == "lead-li"
    assert [(h.status.value, h.by) for h in t.history] == [
        ("open", "system"),
        ("acknowledged", "wang"),
        ("in_progress", "wang"),
        ("resolved", "wang"),
        ("closed", "lead-li"),
    ]
    assert closed.roles == (Role.TECHNICIAN,), "whoever heard of it hears how it ended"
    assert not t.ack_overdue and not t.resolve_overdue


INVALID = [
    # (moves made first, the move asked for, the error)
    (["resolve", "close"], "acknowledge", "ticket T-20261123-0001 is closed; it cannot be acknowledged"),
    (["acknowledge"], "acknowledge", "ticket T-20261123-0001 is already acknowledged (by wang at 2026-11-23 10:05)"),
    ([], "close", "ticket T-20261123-0001 is open; it cannot be closed (resolve it first)"),
    (["resolve"], "start", "ticket T-20261123-0001 is resolved; it cannot be started"),
    (["start"], "acknowledge", "ticket T-20261123-0001 is in progress; it cannot be acknowledged"),
    (["resolve"], "resolve", "ticket T-20261123-0001 is already resolved (by wang at 2026-11-23 10:05)"),
]


@pytest.mark.parametrize(("before", "move", "message"), INVALID)
def test_invalid_transitions_say_why(before: list[str], move: str, message: str) -> None:
    hall = Hall("k1")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    tid = ev.ticket.id

    def do(name: str) -> None:
        when = t0 + timedelta(minutes=5)
        if name == "resolve":
            book.resolve(tid, "wang", "fixed", when)
        else:
            getattr(book, name)(tid, "wang", when)

    for name in before:
        do(name)
    with pytest.raises(TicketTransitionError) as err:
        do(move)
    assert str(err.value) == message


def test_an_unknown_ticket_is_a_plain_error() -> None:
    with pytest.raises(UnknownTicketError, match="there is no ticket T-1"):
        TicketBook(OPENING, CST).acknowledge("T-1", "wang", T0)


def test_overdue_fires_once_per_breach_and_escalates() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0 - timedelta(minutes=5), "k1", "k2")
    hall.broken(T0 - timedelta(minutes=1), "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "09:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)  # last working kiosk: P2
    tid = ev.ticket.id
    assert ev.ticket.priority is TicketPriority.P2 and book.next_deadline() == local(MON, "09:15")

    def tick(when: datetime) -> list[TicketEvent]:
        return book.tick(hall.at(when), when)

    assert tick(local(MON, "09:14")) == []
    [late] = tick(local(MON, "09:15"))
    assert (late.kind, late.roles, late.ticket.escalation_level) == (
        E.ACK_OVERDUE,
        (Role.TECHNICIAN, Role.HALL_MANAGER),
        1,
    )
    assert tick(local(MON, "09:16")) == [] and tick(local(MON, "11:00")) == [], "once"
    assert book.next_deadline() == local(MON + timedelta(1), "08:30"), "reported: re-assess when the hall opens"
    book.acknowledge(tid, "wang", local(MON, "11:00"))
    assert book.get(tid).resolve_due == local(MON + timedelta(1), "09:00"), "1 working day"
    assert tick(local(MON + timedelta(1), "08:59")) == []
    [later] = tick(local(MON + timedelta(1), "09:00"))
    assert later.kind is E.RESOLVE_OVERDUE and later.ticket.escalation_level == 2
    assert later.roles == (Role.TECHNICIAN, Role.HALL_MANAGER, Role.ADMINISTRATOR)
    assert later.ticket.notified == (Role.TECHNICIAN, Role.HALL_MANAGER, Role.ADMINISTRATOR)
    assert book.next_deadline() == local(MON + timedelta(2), "08:30"), "a day on: the next opening"
    assert tick(local(MON + timedelta(1), "12:00")) == [], "once"


def test_a_gateway_down_across_both_due_times_reports_both_breaches_once() -> None:
    hall = Hall("tm1")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "09:00")
    hall.broken(t0, "tm1")
    book.on_alert(fault("tm1", "ticket_machine", t0), hall.at(t0), t0)  # P1: 5 min / 4 h
    late = local(MON, "14:00")
    assert [e.kind for e in book.tick(hall.at(late), late)] == [E.ACK_OVERDUE, E.RESOLVE_OVERDUE]
    assert book.tick(hall.at(late), late) == []


def test_auto_resolve_after_the_verification_period_not_before() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    back = t0 + timedelta(minutes=2)
    hall.working(back, "k1")
    assert book.on_alert_resolved(("k1", "device-offline"), back) is not None
    assert book.next_deadline() == back + timedelta(minutes=10)

    def tick(minutes: float) -> list[TicketEvent]:
        when = back + timedelta(minutes=minutes)
        return book.tick(hall.at(when), when)

    assert tick(9.9) == [] and book.get(ev.ticket.id).status is TicketStatus.OPEN
    [done] = tick(10)
    t = done.ticket
    assert (done.kind, t.status, t.resolved_auto, t.resolved_by) == (E.RESOLVED, TicketStatus.RESOLVED, True, "system")
    assert t.resolved_at == back, "resolved when the device came back; the verification only confirmed it"
    assert t.resolution_note is not None and t.resolution_note.startswith("auto-resolved after 10 min healthy")
    assert not t.ack_overdue, "a device back before the acknowledge was due is not an overdue ticket"
    [closed] = tick(24 * 60)
    assert closed.kind is E.CLOSED and closed.ticket.closed_by == "system"


def test_a_device_unhealthy_during_verification_starts_the_period_again() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    hall.working(t0 + timedelta(minutes=1), "k1")
    book.on_alert_resolved(ev.ticket.alert_fingerprint or "", t0 + timedelta(minutes=1))
    for minute, up in [(3, False), (4, True)]:  # offline again briefly: the alert's `for` never matured
        when = t0 + timedelta(minutes=minute)
        (hall.working if up else hall.broken)(when, "k1")
        assert book.tick(hall.at(when), when) == []
    when = t0 + timedelta(minutes=13)
    assert book.tick(hall.at(when), when) == [], "10 min from the first recovery is not enough"
    when = t0 + timedelta(minutes=14)
    assert [e.kind for e in book.tick(hall.at(when), when)] == [E.RESOLVED]


def _resolved_ticket(hall: Hall, book: TicketBook, t0: datetime) -> str:
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    hall.working(t0 + timedelta(minutes=5), "k1")
    book.on_alert_resolved(ev.ticket.alert_fingerprint or "", t0 + timedelta(minutes=5))
    when = t0 + timedelta(minutes=15)
    assert [e.kind for e in book.tick(hall.at(when), when)] == [E.RESOLVED]
    return ev.ticket.id


def test_a_recurrence_inside_the_reopen_window_reopens_the_same_ticket() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    tid = _resolved_ticket(hall, book, t0)
    again = t0 + timedelta(hours=5)  # 15:00
    hall.broken(again, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", again), hall.at(again), again)
    t = ev.ticket
    assert (ev.kind, t.id, t.status, t.reopened, t.occurrences) == (E.REOPENED, tid, TicketStatus.OPEN, 1, 2)
    assert t.resolved_at is None and t.acknowledged_at is None
    assert t.ack_due == again + timedelta(minutes=30), "fresh SLA clocks: the earlier fix did not hold"
    assert len(book.tickets) == 1


def test_a_recurrence_after_the_reopen_window_opens_a_new_ticket() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    first = _resolved_ticket(hall, book, t0)
    later = t0 + timedelta(hours=25)
    assert [(e.ticket.id, e.kind) for e in book.tick(hall.at(later), later)] == [(first, E.CLOSED)]
    assert book.tickets == (), "closed and past its reopen window: it leaves the working set"
    hall.broken(later, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", later), hall.at(later), later)
    assert ev.kind is E.OPENED and ev.ticket.id == "T-20261124-0001" and ev.ticket.reopened == 0


def test_repeated_alerts_for_the_same_problem_are_occurrences_not_tickets() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [first] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    book.on_alert_resolved(("k1", "device-offline"), t0 + timedelta(minutes=1))  # flapping: verifying …
    [again] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0 + timedelta(minutes=2))  # … and it is back
    assert (again.kind, again.roles, again.ticket.id) == (E.OCCURRENCE, (), first.ticket.id)
    assert again.ticket.occurrences == 2 and again.ticket.verifying_since is None and again.ticket.alert_active
    [other] = book.on_alert(fault("k1", "kiosk", t0, rule="kiosk-error-burst"), hall.at(t0), t0)
    assert (other.kind, other.ticket.id) == (E.ESCALATED, first.ticket.id), "another fault of the device joins it"
    when = t0 + timedelta(minutes=30)
    assert all(e.kind is not E.RESOLVED for e in book.tick(hall.at(when), when)), "the recurrence ended verification"


def test_every_deadline_the_book_gives_is_one_its_tick_acts_on() -> None:
    """A gateway sleeps until the book's next deadline. A deadline that a tick passes without acting stays due: the
    gateway would evaluate without pause (a core at 100 % while a repaired device is verified) and a backtest would
    miss every other rule's deadline meanwhile. Tickets in every state at once, walked from deadline to deadline."""
    policy = SlaPolicy(auto_close_after=timedelta(hours=48))  # outlives the 24 h reopen window
    hall = Hall("k1", "k2", "k3")
    hall.working(T0, "k1", "k2", "k3")
    book = TicketBook(OPENING, CST, policy)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1", "k2")
    [back] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)  # P2 (no kiosk left): acknowledge by 10:15
    [fixed] = book.on_alert(fault("k2", "kiosk", t0), hall.at(t0), t0)
    [rated] = book.on_alert(bad_rating("W3", "a17", t0), hall.at(t0), t0)
    [again] = book.on_alert(bad_rating("W3", "a17", t0), hall.at(t0), t0 + timedelta(minutes=1))  # rated twice
    assert again.kind is E.OCCURRENCE
    hall.working(t0 + timedelta(minutes=10), "k1")  # back before its acknowledge time: that clock stops
    book.on_alert_resolved(back.ticket.alert_fingerprint or "", t0 + timedelta(minutes=10))
    hall.working(t0 + timedelta(minutes=5), "k2")
    book.resolve(fixed.ticket.id, "wang", "rebooted", t0 + timedelta(minutes=5))
    book.on_alert_resolved(fixed.ticket.alert_fingerprint or "", t0 + timedelta(minutes=6))
    book.close(fixed.ticket.id, "manager-zhao", t0 + timedelta(minutes=7))  # closed: leaves after 24 h
    book.resolve(rated.ticket.id, "manager-zhao", "called back", t0 + timedelta(minutes=8))  # its rating stays
    walked = []
    while (due := book.next_deadline()) is not None and due < t0 + timedelta(days=4):
        events = book.tick(hall.at(due), due)
        walked.append((due, [(e.ticket.id, e.kind) for e in events]))
        after = book.next_deadline()
        assert after is None or after > due, f"{due:%a %H:%M} is still due after a tick at it: {walked}"
    assert walked[0] == (local(MON, "10:20"), [(back.ticket.id, E.RESOLVED)]), "10 min healthy from 10:10, no breach"
    assert (t0 + timedelta(days=1, minutes=5), []) in walked, "k2's closed ticket leaves the working set"
    assert fixed.ticket.id not in {t.id for t in book.tickets}
    assert (t0 + timedelta(days=2, minutes=8), [(rated.ticket.id, E.CLOSED)]) in walked


def test_a_resolve_by_hand_while_the_fault_persists_reopens_after_verification() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    book.resolve(ev.ticket.id, "wang", "rebooted", t0 + timedelta(minutes=5))
    when = t0 + timedelta(minutes=14)
    assert book.tick(hall.at(when), when) == []
    when = t0 + timedelta(minutes=15)
    [back] = book.tick(hall.at(when), when)
    assert back.kind is E.REOPENED and back.note == "still faulty 10 min after it was marked resolved"
    assert back.ticket.status is TicketStatus.OPEN and back.ticket.reopened == 1


def test_priority_rises_when_the_last_peer_fails_and_when_the_hall_opens() -> None:
    hall = Hall("tm1", "tm2")
    hall.working(T0, "tm1", "tm2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "tm1")
    [ev] = book.on_alert(fault("tm1", "ticket_machine", t0), hall.at(t0), t0)
    assert ev.ticket.priority is TicketPriority.P2
    later = t0 + timedelta(minutes=3)
    hall.broken(later, "tm2")
    [up] = book.tick(hall.at(later), later)
    assert (up.kind, up.ticket.priority) == (E.REPRIORITISED, TicketPriority.P1)
    assert up.ticket.ack_due == later + timedelta(minutes=5) and up.ticket.resolve_due == later + timedelta(hours=4)
    assert Role.HALL_MANAGER in up.roles

    evening = Hall("tm1")
    book = TicketBook(OPENING, CST)
    night = local(MON, "18:30")
    evening.broken(night, "tm1")
    [ev] = book.on_alert(fault("tm1", "ticket_machine", night), evening.at(night), night)
    assert ev.ticket.priority is TicketPriority.P2
    book.tick(evening.at(night), night)
    midnight = local(MON + timedelta(1), "00:01")
    assert book.tick(evening.at(midnight), midnight) == [], "not raised at midnight: nobody works then"
    opening = local(MON + timedelta(1), "08:30")
    assert book.next_deadline() == opening, "wake when the hall opens, to re-assess"
    [up] = book.tick(evening.at(opening), opening)
    assert up.ticket.priority is TicketPriority.P1 and up.ticket.ack_due == local(MON + timedelta(1), "08:35")


def test_a_silent_peer_counts_as_down_like_an_offline_one() -> None:
    """A device that dies without a last will stays `online` in its view; its silence opens a fault ticket, and that
    open fault makes it as down for its peers' priority as an offline one."""
    hall = Hall("tm1", "tm2")
    hall.working(T0, "tm1", "tm2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    assert hall.device("tm2", t0).online, "no last will came: the view still says online"
    [silent] = book.on_alert(fault("tm2", "ticket_machine", t0), hall.at(t0), t0)  # its silence fired the rule
    assert silent.ticket.priority is TicketPriority.P2, "tm1 still works"
    later = t0 + timedelta(minutes=2)
    hall.broken(later, "tm1")
    [ev] = book.on_alert(fault("tm1", "ticket_machine", later), hall.at(later), later)
    assert (ev.ticket.priority, ev.ticket.priority_reason.split(";")[0]) == (
        TicketPriority.P1,
        "last working ticket machine of the hall",
    ), "the silent tm2 does not count as working"
    [up] = book.tick(hall.at(later), later)
    assert (up.ticket.device, up.kind, up.ticket.priority) == ("tm2", E.REPRIORITISED, TicketPriority.P1)

    healed = later + timedelta(minutes=1)
    book.on_alert_resolved(silent.ticket.alert_fingerprint or "", healed)  # tm2 is heard again
    hall.working(healed, "tm2")
    assert book.tick(hall.at(healed), healed) == [], "priorities are never lowered, and tm1's stays P1"
    hall2 = Hall("tm1", "tm2")
    hall2.working(T0, "tm1", "tm2")
    book2 = TicketBook(OPENING, CST)
    [fine] = book2.on_alert(fault("tm1", "ticket_machine", t0), hall2.at(t0), t0)
    assert fine.ticket.priority is TicketPriority.P2, "without tm2's fault, tm1 is one of two"


def test_a_bad_rating_opens_a_rectification_ticket_revisit_within_two_working_days() -> None:
    hall = Hall()
    book = TicketBook(OPENING, CST)
    t0 = local(FRI, "15:00")
    [ev] = book.on_alert(bad_rating("W3", "a17", t0), hall.at(t0), t0)
    t = ev.ticket
    assert (t.kind, t.priority, t.window, t.rating_ticket) == (TicketKind.RECTIFICATION, TicketPriority.P2, "W3", "a17")
    assert t.ack_due is None and t.resolve_due == local(date(2026, 12, 1), "15:00"), "2 working days"
    assert ev.roles == (Role.HALL_MANAGER,) and t.title == "bad rating (差评) at window W3 for ticket a17"
    assert book.on_alert_resolved(t.alert_fingerprint or "", t0) is None, "a rating does not heal by itself"
    [other] = book.on_alert(bad_rating("W3", "a18", t0), hall.at(t0), t0)
    assert other.kind is E.OPENED, "each rated service is rectified on its own"
    due = local(date(2026, 12, 1), "15:00")
    late = book.tick(hall.at(due), due)
    assert [(e.kind, e.roles) for e in late] == [(E.RESOLVE_OVERDUE, (Role.HALL_MANAGER, Role.DIRECTOR))] * 2
    [done] = book.resolve(t.id, "manager-zhao", "called the citizen back; staff retrained", due)
    assert done.ticket.status is TicketStatus.RESOLVED
    [again] = book.on_alert(bad_rating("W3", "a17", due), hall.at(due), due)
    assert again.kind is E.OPENED, "a rectification is never re-opened by a new rating"


def test_restart_mid_verification_and_mid_sla_gives_the_same_later_events_and_no_second_overdue() -> None:
    hall = Hall("k1", "k2", "tm1")
    hall.working(T0, "k1", "k2", "tm1")
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1", "tm1")
    live = TicketBook(OPENING, CST)
    [kiosk] = live.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    live.on_alert(fault("tm1", "ticket_machine", t0), hall.at(t0), t0)  # P1, nobody acknowledges
    hall.working(t0 + timedelta(minutes=4), "k1")
    live.on_alert_resolved(kiosk.ticket.alert_fingerprint or "", t0 + timedelta(minutes=4))
    first = live.tick(hall.at(t0 + timedelta(minutes=6)), t0 + timedelta(minutes=6))
    assert [e.kind for e in first] == [E.ACK_OVERDUE], "the P1's acknowledge overdue, before the restart"

    restarted = TicketBook(OPENING, CST)
    restarted.load(json.loads(json.dumps(live.dump())))
    assert restarted.tickets == live.tickets
    assert restarted.next_deadline() == live.next_deadline() == t0 + timedelta(minutes=14)
    for minute in (7, 13, 14, 60, 4 * 60, 5 * 60, 26 * 60):
        when = t0 + timedelta(minutes=minute)
        a, b = live.tick(hall.at(when), when), restarted.tick(hall.at(when), when)
        assert a == b, minute
        if minute == 14:
            assert kinds(b) == [("T-20261123-0001", "resolved")]
        if minute == 4 * 60:
            assert kinds(b) == [("T-20261123-0002", "resolve_overdue")]
        if minute in (7, 13, 60, 5 * 60):
            assert b == [], f"nothing at +{minute} min: no overdue is repeated"


SAVED_V1 = Path(__file__).parents[2] / "data" / "saved_state" / "tickets-v1.json"


def test_a_book_saved_in_format_1_loads_with_its_tickets_clocks_and_history() -> None:
    """tests/data/saved_state/tickets-v1.json is the `tickets` row of the store saved by the earlier release
    (gateway.db.gz there), as that release wrote it."""
    book = TicketBook(OPENING, CST)
    book.load(json.loads(SAVED_V1.read_text(encoding="utf-8")))

    def at(day: int, clock: str) -> datetime:
        return datetime.fromisoformat(f"2026-11-{day}T{clock}+08:00")

    assert [(t.id, t.status, t.kind, t.priority) for t in book.tickets] == [
        ("T-20261123-0001", TicketStatus.RESOLVED, TicketKind.DEVICE_FAULT, TicketPriority.P3),
        ("T-20261123-0002", TicketStatus.RESOLVED, TicketKind.DEVICE_FAULT, TicketPriority.P2),
        ("T-20261123-0003", TicketStatus.OPEN, TicketKind.RECTIFICATION, TicketPriority.P2),
        ("T-20261123-0004", TicketStatus.ACKNOWLEDGED, TicketKind.DEVICE_FAULT, TicketPriority.P3),
    ]
    assert [(t.ack_due, t.resolve_due, t.ack_overdue, t.resolve_overdue) for t in book.tickets] == [
        (at(23, "09:40:02.680000"), at(26, "09:10:02.680000"), True, False),
        (at(23, "09:55:02.680000"), at(24, "09:40:02.680000"), True, False),
        (None, at(25, "10:21:46.356000"), False, False),
        (at(23, "11:20:30"), at(26, "10:50:30"), False, False),
    ]
    first, _, rating, kiosk = book.tickets
    assert [(h.at, h.status, h.by, h.note) for h in first.history] == [
        (at(23, "09:10:02.680000"), TicketStatus.OPEN, "system", "P3: P3, set by the rule"),
        (at(23, "09:40:02.680000"), TicketStatus.OPEN, "system", "not acknowledged by 2026-11-23 09:40"),
        (
            at(23, "10:15:06.430000"),
            TicketStatus.RESOLVED,
            "system",
            "auto-resolved after 10 min healthy (healthy since 2026-11-23 10:05)",
        ),
    ]
    assert [(h.at, h.status, h.by) for h in kiosk.history] == [
        (at(23, "10:50:30"), TicketStatus.OPEN, "system"),
        (at(23, "11:00:00"), TicketStatus.ACKNOWLEDGED, "local"),
    ]
    assert (kiosk.acknowledged_by, kiosk.acknowledged_at) == ("local", at(23, "11:00:00"))
    assert (first.notified, first.resolved_at) == ((Role.TECHNICIAN, Role.HALL_MANAGER), at(23, "10:05:06.430000"))
    assert (rating.rating_ticket, rating.window, rating.subject) == ("20261123-C010", "W06", "W06/20261123-C010")
    assert book.find("device-offline", "K03") == kiosk, "found by its problem, as before the restart"
    now = at(23, "11:05:00")
    [new] = book.on_alert(bad_rating("W07", "20261123-C011", now), Hall().at(now), now)
    assert new.ticket.id == "T-20261123-0005", "the day's numbering goes on"

    again = TicketBook(OPENING, CST)
    again.load(json.loads(json.dumps(book.dump())))
    assert book.dump()["schema"] == SCHEMA_VERSION and again.tickets == book.tickets


def test_with_the_rule_engine_offline_device_ticket_then_recovery_resolves_it() -> None:
    engine = RuleEngine(
        parse_rules(
            yaml.safe_load("""
rules:
  - id: device-offline
    when: {metric: device.offline_min, op: ">=", value: 0.5}
    severity: major
    then: [{ticket: {}}, {alert: {to: technician}}]
""")
        )
    )
    hall = Hall("tm1")
    book = TicketBook(OPENING, CST)
    hall.working(T0, "tm1")
    hall.broken(T0 + timedelta(minutes=1), "tm1")

    def step(minutes: float) -> list[TicketEvent]:
        when = T0 + timedelta(minutes=minutes)
        snap = hall.at(when)
        out: list[TicketEvent] = []
        for d in engine.evaluate(snap, when):
            if isinstance(d, Act) and d.action.ticket is not None:
                out += book.on_alert(d, snap, when)
        for alert in engine.take_changes():
            if alert.state is AlertState.RESOLVED:
                book.on_alert_resolved(alert.fingerprint, when)
        return out + book.tick(snap, when)

    assert step(1) == []
    [opened] = step(1.5)
    assert (opened.kind, opened.ticket.priority, opened.ticket.device) == (E.OPENED, TicketPriority.P1, "tm1")
    book.acknowledge(opened.ticket.id, "wang", T0 + timedelta(minutes=3))
    hall.working(T0 + timedelta(minutes=20), "tm1")
    assert step(20) == [] and book.get(opened.ticket.id).verifying_since is not None
    assert [e.kind for e in step(30)] == [E.RESOLVED]


def test_policy_is_configurable() -> None:
    policy = SlaPolicy(verification=timedelta(minutes=2), reopen_window=timedelta(hours=1))
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, "Asia/Shanghai", policy)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    hall.working(t0 + timedelta(minutes=1), "k1")
    book.on_alert_resolved(ev.ticket.alert_fingerprint or "", t0 + timedelta(minutes=1))
    when = t0 + timedelta(minutes=3)
    assert [e.kind for e in book.tick(hall.at(when), when)] == [E.RESOLVED]
    when = t0 + timedelta(hours=2)
    hall.broken(when, "k1")
    assert book.on_alert(fault("k1", "kiosk", when), hall.at(when), when)[0].kind is E.OPENED
    assert str(SlaTarget(working_days=1)) == "1 working day" and str(SlaTarget(minutes=240, wall_clock=True)) == "4 h"


def test_a_hall_wide_ticket_takes_the_rule_severity_and_resolves_when_its_alert_clears() -> None:
    hall = Hall("cs1", "cs2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    act = _act("call-system-down", {}, t0, TicketAction(), Severity.CRITICAL)
    [ev] = book.on_alert(act, hall.at(t0), t0)
    t = ev.ticket
    assert (t.priority, t.subject, t.device, t.title) == (TicketPriority.P1, "hall", None, "call-system-down: the hall")
    assert t.priority_reason == "from the rule's severity (critical); no device to assess"
    assert book.on_alert_resolved(("hall", "call-system-down"), t0 + timedelta(minutes=20)) is not None
    when = t0 + timedelta(minutes=30)
    assert [e.kind for e in book.tick(hall.at(when), when)] == [E.RESOLVED]


def test_a_reopened_ticket_keeps_its_escalation_level() -> None:
    hall = Hall("k1", "k2")
    hall.working(T0, "k1", "k2")
    book = TicketBook(OPENING, CST)
    t0 = local(MON, "10:00")
    hall.broken(t0, "k1")
    [ev] = book.on_alert(fault("k1", "kiosk", t0), hall.at(t0), t0)
    late = t0 + timedelta(minutes=31)
    assert [e.kind for e in book.tick(hall.at(late), late)] == [E.ACK_OVERDUE]
    book.resolve(ev.ticket.id, "wang", "cable reseated", late)
    book.on_alert_resolved(ev.ticket.alert_fingerprint or "", late)
    book.close(ev.ticket.id, "wang", late + timedelta(minutes=1))
    again = late + timedelta(hours=2)
    [back] = book.on_alert(fault("k1", "kiosk", again), hall.at(again), again)
    assert back.kind is E.REOPENED and back.ticket.escalation_level == 1 and not back.ticket.ack_overdue
    assert back.roles == (Role.TECHNICIAN, Role.HALL_MANAGER), "whoever heard of it before hears it is back"
