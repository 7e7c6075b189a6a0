"""Late and reordered ticket events converge: whatever order the hall's devices are heard in — each device's own
messages in the order it sent them, the devices' interleaved any way (a ticket machine replaying its queue after a
reconnect, a window terminal its own) — the day's KPIs and the live queue are what in-order delivery gives.

Hypothesis draws a morning of a small hall (a ticket machine, three windows; tickets issued, called, re-called,
served, missed and re-activated, transferred, cancelled, taken over by another window) and an interleaving of its
devices' streams; the day book's report and the hall model's queue, windows and counts must equal those of the
morning heard in order. Time is the messages' own; no clock, no sleeps.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.codec import DeviceMessage
from rules.hall import HallProfile, HallState, ServiceProfile, WindowProfile
from rules.kpi import DayBook
from tests.unit.rules.feed import T0, Feed, issue, opened, win

SERVICES = ("tax", "land")
WINDOWS = ("W1", "W2", "W3")
PROFILE = HallProfile(
    "h1",
    services=tuple(ServiceProfile(s) for s in SERVICES),
    windows=tuple(WindowProfile(w, None, SERVICES) for w in WINDOWS),
)
ACTIONS = ("issue", "issue", "call", "call", "recall", "start", "complete", "no_show", "transfer", "cancel",
           "reactivate", "take_over", "pause")  # fmt: skip


@dataclasses.dataclass
class Morning:
    """Plays drawn actions as a hall's devices would report them: each action valid for the hall as it is then,
    each message a little later than the one before."""

    feed: Feed = dataclasses.field(default_factory=Feed)
    t: float = 0.0
    messages: list[DeviceMessage] = dataclasses.field(default_factory=list)
    waiting: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (ticket, service), oldest first
    missed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    at_window: dict[str, tuple[str, str, bool]] = dataclasses.field(default_factory=dict)  # ticket, service, started
    paused: set[str] = dataclasses.field(default_factory=set)
    issued: int = 0

    def play(self, action: str, window: str, service: str, gap: float, flag: bool) -> None:
        self.t += gap
        f, t, here = self.feed, self.t, self.at_window.get(window)
        if action == "issue":
            self.issued += 1
            ticket = f"t{self.issued}"
            self.messages.append(issue(f, t, ticket, service, "appointment" if flag else "walk_in"))
            self.waiting.append((ticket, service))
        elif action == "pause":
            self.messages.append(win(f, t, window, "window.resumed" if window in self.paused else "window.paused"))
            self.paused ^= {window}
        elif action == "call" and (here is None or flag) and self.waiting and window not in self.paused:
            ticket, svc = self.waiting.pop(0)  # (the next while still at one: that one is left as it was)
            self.messages.append(win(f, t, window, "ticket.called", ticket_id=ticket))
            self.at_window[window] = (ticket, svc, False)
        elif action == "recall" and here is not None and not here[2]:
            self.messages.append(win(f, t, window, "ticket.called", ticket_id=here[0], attempt=2))
        elif action == "start" and here is not None and not here[2]:
            self.messages.append(win(f, t, window, "service.started", ticket_id=here[0]))
            self.at_window[window] = (here[0], here[1], True)
        elif action == "complete" and here is not None:
            fields: dict[str, object] = {"duration_s": 240.0} if flag else {}
            self.messages.append(win(f, t, window, "service.completed", ticket_id=here[0], **fields))
            del self.at_window[window]
        elif action == "no_show" and here is not None and not here[2]:
            self.messages.append(win(f, t, window, "ticket.no_show", ticket_id=here[0], attempt=2))
            self.missed.append(here[:2])
            del self.at_window[window]
        elif action == "transfer" and here is not None:
            self.messages.append(win(f, t, window, "ticket.transferred", ticket_id=here[0], to_service=service))
            self.waiting.append((here[0], service))
            del self.at_window[window]
        elif action == "cancel" and self.waiting:
            ticket, _ = self.waiting.pop(-1 if flag else 0)
            self.messages.append(f("ticket_machine", "tm1", t, type="ticket.cancelled", ticket_id=ticket))
        elif action == "reactivate" and self.missed:
            ticket, svc = self.missed.pop(0)
            self.messages.append(f("ticket_machine", "tm1", t, type="ticket.reactivated", ticket_id=ticket))
            self.waiting.insert(0, (ticket, svc))
        elif action == "take_over" and here is None and window not in self.paused:
            # another window's ticket: this window calls it (or starts it) and the other lets it go
            other = next((w for w in WINDOWS if w != window and w in self.at_window), None)
            if other is not None:
                ticket, svc, _ = self.at_window.pop(other)
                kind = "service.started" if flag else "ticket.called"
                self.messages.append(win(f, t, window, kind, ticket_id=ticket))
                self.at_window[window] = (ticket, svc, flag)


@st.composite
def mornings(draw: st.DrawFn) -> list[DeviceMessage]:
    morning = Morning()
    morning.messages = [opened(morning.feed, 0, w, *SERVICES) for w in WINDOWS]
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ACTIONS),
                st.sampled_from(WINDOWS),
                st.sampled_from(SERVICES),
                st.floats(1, 240).map(round),  # whole seconds apart: no two events of an instant
                st.booleans(),
            ),
            min_size=20,
            max_size=80,
        )
    )
    for step in steps:
        morning.play(*step)
    return morning.messages


def interleaved(messages: list[DeviceMessage], rng: random.Random) -> list[DeviceMessage]:
    """The messages heard in another order: each device's in the order it sent them, the devices' mixed."""
    streams: dict[str, list[DeviceMessage]] = {}
    for m in messages:
        streams.setdefault(m.device_id, []).append(m)
    heard: list[DeviceMessage] = []
    while streams:
        device = rng.choice(sorted(streams))
        heard.append(streams[device].pop(0))
        if not streams[device]:
            del streams[device]
    return heard


def kpis(messages: list[DeviceMessage], now: datetime) -> object:
    book = DayBook(PROFILE, T0.date())
    for m in messages:
        book.apply(m)
    return _rounded(book.report(now))


def queue(messages: list[DeviceMessage], now: datetime) -> object:
    """What the hall manager sees of the queues and the windows: per service who waits and how long, the rolling and
    daily counts; per window the ticket it shows and how many it served. (When a window became idle is as heard: a
    window told late that its ticket was taken may show idle since another moment.)"""
    state = HallState(PROFILE)
    for m in messages:
        state.apply(m)
    snap = state.snapshot(now)
    windows = [
        (w.window_id, w.status, w.current_ticket, w.current_number, w.current_service, w.served_today)
        for w in snap.windows
    ]
    return _rounded((snap.services, windows))


def _rounded(value: object) -> object:
    """Floats to a microsecond: sums taken in another order may differ in the last bit."""
    if isinstance(value, float):
        return value if math.isinf(value) else round(value, 6)
    if isinstance(value, list | tuple):
        return type(value)(_rounded(v) for v in value)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _rounded(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


@settings(max_examples=100, deadline=None)
@given(mornings(), st.randoms(use_true_random=False))
def test_any_order_of_the_devices_gives_the_same_day_and_queue(
    messages: list[DeviceMessage], rng: random.Random
) -> None:
    now = T0 + timedelta(seconds=max(m.at for m in messages).timestamp() - T0.timestamp() + 60)
    heard = interleaved(messages, rng)
    assert kpis(heard, now) == kpis(messages, now)
    assert queue(heard, now) == queue(messages, now)


# ---------------------------------------------------------------------------------------------- the cases by name


def served_before_issued(f: Feed) -> tuple[list[DeviceMessage], list[DeviceMessage]]:
    """The window calls, serves and completes three tickets while the ticket machine is away; on its return the
    machine replays its queue — the three issues — as the contract tells it to."""
    window = [opened(f, 0, "W1", *SERVICES)]
    for i, t in enumerate((60, 400, 800), 1):
        window += [
            win(f, t, "W1", "ticket.called", ticket_id=f"a{i}"),
            win(f, t + 20, "W1", "service.started", ticket_id=f"a{i}"),
            win(f, t + 300, "W1", "service.completed", ticket_id=f"a{i}"),
        ]
    machine = [issue(f, 10 * i, f"a{i}") for i in (1, 2, 3)]
    return window, machine


def test_tickets_issued_after_they_were_served_count_for_their_service() -> None:
    """The issue's case: completed 0 of 3 for the service while the window showed 3 served."""
    window, machine = served_before_issued(Feed())
    now = T0 + timedelta(minutes=30)
    book = DayBook(PROFILE, T0.date())
    hall = HallState(PROFILE)
    for m in [*window, *machine]:
        book.apply(m)
        hall.apply(m)
    report = book.report(now)
    tax = next(s for s in report.services if s.service == "tax")
    assert (tax.issued, tax.called, tax.served, tax.mean_wait_min) == (3, 3, 3, (50 + 380 + 770) / 3 / 60)
    snap = hall.snapshot(now)
    queue_ = next(s for s in snap.services if s.code == "tax")
    w1 = next(w for w in snap.windows if w.window_id == "W1")
    assert (queue_.waiting, queue_.issued_today, queue_.completed_today, w1.served_today) == (0, 3, 3, 3)
    assert queue_.mean_wait_60m_s == pytest.approx((50 + 380 + 770) / 3)
    assert (kpis([*machine, *window], now), queue([*machine, *window], now)) == (
        kpis([*window, *machine], now),
        queue([*window, *machine], now),
    )


def windows_of(hall: HallState, now: datetime) -> dict[str, tuple[str | None, int]]:
    return {w.window_id: (w.current_ticket, w.served_today) for w in hall.snapshot(now).windows}


def test_a_call_at_another_window_takes_the_ticket_and_releases_the_first() -> None:
    f = Feed()
    a = [
        *(opened(f, 0, w, *SERVICES) for w in WINDOWS),
        issue(f, 10, "x"),
        win(f, 20, "W1", "ticket.called", ticket_id="x"),
        win(f, 30, "W1", "service.started", ticket_id="x"),
        win(f, 90, "W2", "ticket.called", ticket_id="x"),
    ]
    now = T0 + timedelta(minutes=5)
    hall = HallState(PROFILE)
    for m in a:
        hall.apply(m)
    snap = hall.snapshot(now)
    w1, w2 = (next(w for w in snap.windows if w.window_id == wid) for wid in ("W1", "W2"))
    assert (w1.current_ticket, w1.serving_since, w1.idle_since) == (None, None, T0 + timedelta(seconds=90))
    assert (w2.current_ticket, w2.calling_since) == ("x", T0 + timedelta(seconds=90))
    # W1's older call heard after W2's does not move it back
    late = HallState(PROFILE)
    for m in [*a[:4], a[6], a[4], a[5]]:
        late.apply(m)
    assert windows_of(late, now) == windows_of(hall, now)


def test_a_completion_at_another_window_frees_the_first_and_is_counted_once() -> None:
    """Window B completes window A's ticket: A no longer serves it (not for ever), the ticket is served once, by B;
    A's serving time ends when B took it."""
    f = Feed()
    a = [
        *(opened(f, 0, w, *SERVICES) for w in WINDOWS),
        issue(f, 10, "x"),
        win(f, 20, "W1", "ticket.called", ticket_id="x"),
        win(f, 30, "W1", "service.started", ticket_id="x"),
        win(f, 330, "W2", "service.completed", ticket_id="x"),
        win(f, 900, "W1", "service.completed", ticket_id="x"),  # A's terminal reports it too, later
    ]
    now = T0 + timedelta(minutes=20)
    for heard in (a, [*a[:4], a[6], a[4], a[5], a[7]]):  # in order, and W2's completion heard before W1's events
        hall, book = HallState(PROFILE), DayBook(PROFILE, T0.date())
        for m in heard:
            hall.apply(m)
            book.apply(m)
        assert windows_of(hall, now) == {"W1": (None, 0), "W2": (None, 1), "W3": (None, 0)}
        report = book.report(now)
        assert (report.hall.called, report.hall.served) == (1, 1)
        # W1 served from its start to W2's completion, of the 3 × 20 min the windows were open
        assert report.hall.utilisation_pct == pytest.approx(100 * 300 / (3 * 1200))
