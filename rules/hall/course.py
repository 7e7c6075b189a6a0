"""A ticket's course (办件过程): what its events say about it, read in the order they happened — whatever order they
were heard in.

Owns `Step` (the kinds of a ticket's lifecycle events), `TicketEvent` (one of them, as kept with the ticket), `add`
(an event into a ticket's events, in the order they happened), `course` (what the events say: where the ticket is
now, and the facts its counts are made of — its issue, first call, completion, no-show, cancellation and the spans it
waited), `leaving` and `saved_events`. The hall model (`rules.hall.state`) and the day book (`rules.kpi`) both keep
each ticket's events and read them through `course`; each counts the difference between the course before and after
an event, so a late or reordered event lands where it would have if it had come in order. Pure: no clock, no I/O,
no counting.

The order they happened: the issue first (it starts the ticket, whatever the device clocks say), then by `ts`, then
by device id, then in the order that device sent them. A device's own order is kept; two devices' events of the same
instant are ordered by device id, the same whichever came first.

Where a ticket is: where its newest event put it. A call or start at a window puts it at that window — one ticket is
at one window, and a call or start at window B takes it from window A; a completion, no-show or transfer, by
whichever window, takes it from the window it was at; a cancellation at the ticket machine ends it but leaves the
number on the window that called it. A transfer puts it in another service's queue and a re-activation (绿色通道)
back in its own.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from rules.hall.records import TicketStatus


class Step(StrEnum):
    ISSUED = "issued"
    CALLED = "called"
    STARTED = "started"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"
    REACTIVATED = "reactivated"


class TicketEvent(NamedTuple):
    at: float  # its `ts`
    step: str  # a Step
    device: str  # who said it
    n: int  # the ticket's own count of the events heard: keeps one device's events of the same instant in order
    window: str | None = None  # the window of a call, start, completion, no-show or transfer
    service: str | None = None  # the service of an issue, a transfer (to) or a re-activation
    value: float | str | None = None  # a call's attempt, a completion's duration_s, an issue's channel


def add(events: list[TicketEvent], event: TicketEvent) -> TicketEvent:
    """Put `event` into `events`, kept in the order things happened, numbered the next (its `n` is replaced); the
    event as kept."""
    kept = event._replace(n=max((e.n for e in events), default=0) + 1)
    insort(events, kept, key=_order)
    return kept


def leaving(events: list[TicketEvent], window: str | None, at: float, n: int | None) -> float | None:
    """When the ticket left `window`, where it was called or started at `at` (by its event numbered `n`; None: not
    known, then by what came after `at`): its first call or start at another window, completion, no-show, transfer
    or re-activation after that. None if it has not left."""
    after = False
    for e in events:
        if after or (n is None and e.at > at):
            if e.step in _LEAVES or (e.step in (Step.CALLED, Step.STARTED) and e.window != window):
                return e.at
            after = True
        elif e.n == n:
            after = True
    return None


def saved_events(steps: list[tuple[float, Step, str | None, str | None, float | str | None]]) -> list[TicketEvent]:
    """The events a record saved by an earlier release stands for, from (at, step, window, service, value) in the
    order they happened. What their course counts, that release counted: a caller takes it as counted, and counts
    only what later events change (exactly where the record kept the times — the issue, the first call —, near
    them where it did not)."""
    events = [
        TicketEvent(at, step, "", i, window, service, value)
        for i, (at, step, window, service, value) in enumerate(steps)
    ]
    events.sort(key=_order)
    return events


_LEAVES = (Step.COMPLETED, Step.NO_SHOW, Step.TRANSFERRED, Step.REACTIVATED)


def _order(e: TicketEvent) -> tuple[bool, float, str, int]:
    return e.step != Step.ISSUED, e.at, e.device, e.n


class Visit(NamedTuple):
    """A moment of a ticket's course: when, the service it had then, and at which window (if any)."""

    at: float
    service: str | None
    window: str | None


class Span(NamedTuple):
    """A time the ticket waited in a queue: from `start` to `end` (None: still waiting)."""

    start: float
    end: float | None


@dataclass(slots=True)
class Course:
    status: TicketStatus = TicketStatus.WAITING
    service: str | None = None  # its service now: the queue it waits in, when waiting
    window: str | None = None  # the window it is at (called or served there; or called there, then cancelled)
    since: float | None = None  # when it took its place (its issue, newest call or start, end, transfer, re-activation)
    issue: TicketEvent | None = None
    call: Visit | None = None  # its first call or start: the end of its wait
    started_at: float | None = None  # its newest start
    ended_at: float | None = None
    attempts: int = 0
    green: bool = False  # re-activated (绿色通道)
    first_call: Visit | None = None  # its first call, start, completion or no-show: it was called by then
    completed: Visit | None = None  # its first completion
    duration_s: float | None = None  # … and how long that service took, where known
    no_show: Visit | None = None  # its first no-show
    cancelled: Visit | None = None  # its first cancellation
    missed: bool = False  # cancelled while waiting, never called
    spans: list[Span] = field(default_factory=list)
    waiting: float | None = None  # waiting since

    @property
    def called_at(self) -> float | None:
        return None if self.call is None else self.call.at

    @property
    def is_open(self) -> bool:
        """Waiting, called or being served."""
        return self.status in (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING)

    def stop_waiting(self, at: float) -> None:
        if self.waiting is not None:
            self.spans.append(Span(self.waiting, at))
            self.waiting = None


def course(events: list[TicketEvent]) -> Course:
    """What `events` (in the order `add` keeps) say about their ticket."""
    c = Course()
    for e in events:
        step = e.step
        if step == Step.ISSUED:
            if c.issue is None:  # (reported again, by the queue system as well as the machine: one issue)
                c.issue, c.service, c.since, c.waiting = e, e.service, e.at, e.at
            continue
        if step in (Step.CALLED, Step.STARTED):
            _at_window(c, e)
        elif step in (Step.COMPLETED, Step.NO_SHOW, Step.CANCELLED):
            _ended(c, e)
        else:  # transferred to another queue, or re-activated into its own
            if step == Step.TRANSFERRED:
                c.service = e.service
            else:
                c.service = e.service or c.service
                c.green = True
            if c.waiting is None:
                c.waiting = e.at
            c.status, c.window, c.ended_at = TicketStatus.WAITING, None, None
        c.since = e.at
    if c.waiting is not None:
        c.spans.append(Span(c.waiting, None))
    return c


def _at_window(c: Course, e: TicketEvent) -> None:
    """Called or started at a window."""
    c.stop_waiting(e.at)
    visit = Visit(e.at, c.service, e.window)
    c.first_call = c.first_call or visit
    c.call = c.call or visit
    if e.step == Step.STARTED:
        c.status, c.started_at = TicketStatus.SERVING, e.at
    else:
        c.attempts = max(c.attempts, int(e.value or 1))
        if c.status is not TicketStatus.SERVING or c.window != e.window:  # a re-call while served: still served
            c.status = TicketStatus.CALLED
    c.window, c.ended_at = e.window, None


def _ended(c: Course, e: TicketEvent) -> None:
    """Completed, a no-show, or cancelled."""
    visit = Visit(e.at, c.service, e.window)
    if e.step == Step.CANCELLED:
        if c.cancelled is None:
            c.cancelled = visit
            c.missed = c.waiting is not None and c.call is None and c.issue is not None
        c.status = TicketStatus.CANCELLED
    else:
        c.first_call = c.first_call or visit  # it was called, even if the call was not heard
        c.window = None
        if e.step == Step.NO_SHOW:
            c.no_show = c.no_show or visit
            c.status = TicketStatus.NO_SHOW
        else:
            if c.completed is None:
                c.completed = visit
                if isinstance(e.value, int | float):
                    c.duration_s = float(e.value)
                elif c.started_at is not None:
                    c.duration_s = max(0.0, e.at - c.started_at)
            c.status = TicketStatus.DONE
    c.stop_waiting(e.at)
    c.ended_at = e.at
