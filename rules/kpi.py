"""The day's KPIs of one hall (大厅考核指标): a day's device messages in, the figures of the KPI panel and reports out.

Owns the definitions of the figures a hall manager is measured by — issued, called, served, no-shows (过号),
cancellations, the service level SL15 (share called within the target wait), wait P95/mean/max, window
utilisation, kiosk success (自助办成率), device availability and satisfaction (好差评满意率) — for one hall-local
calendar day and for each of its hours, for the whole hall and per service; per window and per staff member
(served, average handling time, open, idle and paused time, pauses, ratings: `Performance`) and why a row's served
differs from its issued (`ServedFrom`); the waiting-people series, arrivals per 15-min slot and the wait histogram;
and the CSV form of the daily, hourly, per-window and per-staff reports.

`DayBook.apply` folds the same accepted messages `HallState.apply` gets, in arrival order; `report(now)` reads the
figures. Pure: no I/O, no clock (time comes from the messages and from `now`), no asyncio. `apply` is on the
gateway's hot path, so it is O(1) per message: counters and per-hour/per-slot arrays indexed by arithmetic on the
timestamp, and a ticket's few events read again (`rules.hall.course`); no validation, no sorting — the sorting
(P95), the windows' services and the open-interval tails happen in `report`. The order messages arrive in does not
matter beyond each device's own: a ticket's events are read in the order they happened, and what a late one changes
is counted where it belongs.
It must not decide anything (alerts, tickets, staffing are the rules' job) and keeps no state across days: a new
day is a new book. `dump()`/`DayBook.load` save and restore a book (compact JSON, `BOOK_SCHEMA`), so that a gateway
starting mid-day replays only the messages logged after the save instead of the whole day.

Definitions (docs): a ticket's wait is issue → first call (`ticket.called`, or `service.started` when the call was
not seen); each ticket is counted once in waits, served, no-shows and cancellations however often it is re-called,
re-activated (green channel, 绿色通道) or transferred. Issued figures and waits go to the hour (and the service)
the ticket was issued in; called/served/no-shows/cancellations, kiosk sessions and ratings to the hour they
happened in. A transfer moves the ticket (and what happens to it afterwards) to the new service; its wait is still
measured from the first issue and counted once, for the queue it was first called from. One ticket is at one window:
a call or start at another window takes it (the first window's service of it ends then), and it is served once, by
the window that completed it first.

Per window and per staff member (docs/kpi.md): a ticket, its handling time and a rating count for the window named
and the staff member signed in there at that moment (`window.opened`'s `staff_id`); open, serving, idle and paused
time for the one signed in when the interval began. `apply` only remembers a window's sign-ins, pauses and ratings;
the sums are made in `report`, in the passes over the tickets and the windows it makes anyway.

Why about 1,500 lines: it is one fold (`DayBook`), the report it produces, its saved form and its CSV; every KPI's
definition above is implemented in the one place that counts it, which is what makes the "counted once" rules
checkable.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    AppointmentCheckedIn,
    DeviceState,
    KioskOutcome,
    KioskSession,
    RatingSubmitted,
    ServiceCompleted,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketIssued,
    TicketNoShow,
    TicketReactivated,
    TicketTransferred,
    WindowClosed,
    WindowOpened,
    WindowPaused,
    WindowResumed,
)
from devices.topics import Channel, DeviceType
from rules.hall import HallProfile, SeqRanges, WindowStatus  # HallState's duplicate check: both drop the same
from rules.hall.course import (
    Course,
    Step,
    TicketEvent,
    Visit,
    add,
    course,
    leaving,
    saved_events,
)  # … and read tickets alike
from rules.tidal import SLOT_MIN

WAIT_BUCKETS_MIN: tuple[float, ...] = (5, 10, 15, 30, 45, 60, math.inf)  # bucket i: waits <= bound i (and > i-1)
SAMPLE_MIN = 5  # the waiting-people series
SATISFIED_SCORE = 4  # 满意 (4) and 非常满意 (5)
# A device counts as down once it has been silent this long: the heartbeat timeouts (3 missed heartbeats) of the
# built-in `device-offline` rule (rules/pack/builtin.yaml), so the panel and the alerts agree on "down".
SILENT_AFTER_S: Mapping[str, float] = {
    DeviceType.TICKET_MACHINE: 90.0,
    DeviceType.WINDOW: 90.0,
    DeviceType.CALL_SCREEN: 90.0,
    DeviceType.KIOSK: 120.0,
    DeviceType.EVALUATOR: 300.0,
    DeviceType.CAMERA: 60.0,
    DeviceType.QMS: 60.0,
}
DEFAULT_SILENT_AFTER_S = 90.0
BOOK_SCHEMA = 3  # the saved form of a DayBook (`DayBook.dump`); 1 is read too, another schema is rebuilt from the log
# 1: before tickets kept their events and devices their counter epochs (issue 17); 2, before windows kept their staff,
# pauses and ratings (issue 19), is rebuilt from the log: its windows' pauses and ratings before the save are not in it
_READABLE = (1, BOOK_SCHEMA)
# The per-window and per-staff tables mark a miss (`Performance.misses`): an average handling time (AHT) above this
# many times the median of the rows' AHTs, and a satisfaction below this share of ratings scoring 4 or 5.
AHT_MISS_FACTOR = 1.5
SATISFACTION_TARGET_PCT = 90.0

_HOUR_S = 3600
Fact: TypeAlias = tuple[object, ...]  # one thing a ticket's course counts (`DayBook._facts`)
_SLOT_S = SLOT_MIN * 60  # arrivals per slot: the demand profile's slot (rules.tidal), so the two line up
_SAMPLE_S = SAMPLE_MIN * 60


# ---------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Kpis:
    """One row: the whole hall (`service` None) or one service, for the day or for one hour of it.

    Percentages are 0–100, waits in minutes; None where there is nothing to count. `end` is where the figures stop:
    the end of the period, or `now` while it is still running.
    """

    start: datetime
    end: datetime
    service: str | None
    issued: int  # tickets issued (取号), by the hour of issue
    called: int  # tickets called at least once, by the time of their first call
    served: int  # tickets whose service was completed (办结, any outcome)
    no_shows: int  # tickets called and nobody came (过号), once per ticket
    cancelled: int
    sl_pct: float | None  # within the target wait: see DayBook
    p95_wait_min: float | None  # nearest rank, over the tickets called
    mean_wait_min: float | None
    max_wait_min: float | None
    no_show_pct: float | None  # no-shows ÷ tickets called
    utilisation_pct: float | None  # serving ÷ open window time; hall rows only
    kiosk_sessions: int
    kiosk_success_pct: float | None  # sessions ending in `success` ÷ all sessions
    availability_pct: float | None  # device time up ÷ device time observed; hall rows only
    ratings: int  # 好差评 submitted
    satisfaction_pct: float | None  # ratings scoring 4 or 5 ÷ all ratings


@dataclass(frozen=True, slots=True)
class Performance:
    """One window's or one staff member's day so far (`DayReport.windows`, `.staff`). Minutes; None where there is
    nothing to count.

    A ticket counts for the window that completed it (served once, as in `Kpis.served`) and for the staff member
    signed in there at that moment (the `staff_id` of the window's newest `window.opened`); open, serving and idle
    time and pauses for the staff member signed in when the interval began; a rating for the window it names and its
    staff member at that moment. A staff member who signed in at two windows has one row with both."""

    id: str | None  # the window id, or the staff id (None: tickets served at a window nobody signed in to)
    windows: tuple[str, ...]  # the window itself, or the windows the staff member worked at
    staff: tuple[str, ...]  # the staff who signed in at the window, or the staff member itself
    served: int  # tickets completed (办结)
    aht_min: float | None  # average handling time of those tickets, where known (the terminal's, or start → end)
    open_min: float  # open (opened or resumed → paused or closed)
    serving_min: float  # serving while open
    idle_min: float  # open and not serving
    pauses: int  # 暂停, each once (a pause over lunch is one)
    pause_min: float  # paused (→ resumed, re-opened or closed; or now)
    ratings: int
    satisfaction_pct: float | None  # ratings scoring 4 or 5 ÷ all ratings
    misses: tuple[str, ...]  # "aht" (above AHT_MISS_FACTOR × the median), "satisfaction" (below the target)


@dataclass(frozen=True, slots=True)
class People:
    """The rows of the windows (or the staff), by id, and the median of their AHTs the misses are judged by."""

    rows: tuple[Performance, ...]
    aht_median_min: float | None
    aht_miss_factor: float = AHT_MISS_FACTOR
    satisfaction_target_pct: float = SATISFACTION_TARGET_PCT


@dataclass(frozen=True, slots=True)
class ServedFrom:
    """Why a row's served differs from its issued: of the tickets it served, how many were not issued for it today.

    `served` = tickets issued for it today and served under it + `before` + `transferred_in`. `before`: served today,
    their issue not in today's log — issued the day before, or before the gateway recorded (the log cannot tell
    which). `transferred_in`: served under this service, issued for another (their issue stays with that one, whose
    `transferred_out` counts them). The hall row (`service` None) has no transfers."""

    service: str | None
    issued: int
    served: int
    before: int
    transferred_in: int
    transferred_out: int


@dataclass(frozen=True, slots=True)
class DayReport:
    hall_id: str
    day: date
    timezone: str
    generated_at: datetime
    target_wait_min: float
    hall: Kpis  # the whole day so far
    services: tuple[Kpis, ...]  # per service (configured or seen), the whole day so far, by code
    hours: tuple[Kpis, ...]  # per hour with any activity: the hall row, then a row per service active in it
    waiting: tuple[tuple[datetime, int], ...]  # people waiting in the hall, every 5 min from the first message
    arrivals: tuple[tuple[datetime, int], ...]  # tickets issued per 15-min slot (slot start), whole hall
    arrivals_by_service: dict[str, tuple[int, ...]]  # the same slots, per service
    wait_histogram: dict[str, tuple[int, ...]]  # per service: waits per WAIT_BUCKETS_MIN bucket
    service_names: dict[str, str]  # code → configured name (the Chinese `name`, else `name_en`), where there is one
    windows: People = People((), None)  # per window (`Performance`)
    staff: People = People((), None)  # per staff member
    served_from: tuple[ServedFrom, ...] = ()  # the hall, then each service of `services`


# ---------------------------------------------------------------------------------------------- internal records
# Times inside are float seconds since the epoch, like rules.hall: cheap to compare and to index hours and slots.


@dataclass(slots=True)
class _Tally:
    """The counters of one row (the hall or a service, the day or an hour)."""

    issued: int = 0
    called: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    waits_s: list[float] = field(default_factory=list)
    misses: int = 0  # tickets never called that waited past the target until they were cancelled
    kiosk_sessions: int = 0
    kiosk_successes: int = 0
    ratings: int = 0
    satisfied: int = 0

    def active(self) -> bool:
        return bool(
            self.issued
            or self.called
            or self.served
            or self.no_shows
            or self.cancelled
            or self.waits_s
            or self.misses
            or self.kiosk_sessions
            or self.ratings
        )


@dataclass(slots=True)
class _Rows:
    """The tallies of one subject (the hall, or one service): the day, each hour, and arrivals per slot."""

    day: _Tally
    hours: dict[int, _Tally]
    arrivals: list[int]

    def hour(self, i: int) -> _Tally:
        t = self.hours.get(i)
        if t is None:
            t = self.hours[i] = _Tally()
        return t


@dataclass(slots=True)
class _Ticket:
    events: list[TicketEvent] = field(default_factory=list)  # its course so far (rules.hall.course)
    # what the course says now, for the report and the ratings
    service: str | None = None
    issued_at: float | None = None
    called_at: float | None = None  # the first call that measures the wait
    waiting: bool = False
    issued_for: str | None = None  # the service it was issued for
    completed: Visit | None = None  # its first completion: when, for which service, at which window
    handled_s: float | None = None  # … and how long that service took, where known


@dataclass(slots=True)
class _Service:
    """A window's own service of a ticket: from its `service.started` (`n`: that event's number in the ticket's
    events, None when unknown) to its own completion, no-show, transfer, next call or closing (`end`) — or to when
    the ticket left it for another window, which its events tell (`rules.hall.course.leaving`)."""

    ticket: str
    start: float
    n: int | None
    end: float | None = None


@dataclass(slots=True)
class _Window:
    status: WindowStatus | None = None  # None: not heard of yet today
    since: float = 0.0  # open time is accounted up to here
    serving: str | None = None  # the ticket of its last service, until it ends by the window's own doing
    free_since: float = 0.0  # open and not serving since (for a completion whose start was not seen)
    opened: list[list[float]] = field(default_factory=list)  # when it was open: [from, to], or [from] while it is
    services: list[_Service] = field(default_factory=list)
    staff: list[tuple[float, str | None]] = field(default_factory=list)  # who signed in (window.opened), from when
    paused: list[list[float]] = field(default_factory=list)  # when it was paused: [from, to], or [from] while it is
    rated: list[tuple[float, int]] = field(default_factory=list)  # its ratings: when, the score


@dataclass(slots=True)
class _Work:
    """What one window or staff member did, summed up in `report`: seconds, counts and handling times."""

    windows: set[str] = field(default_factory=set)
    staff: set[str] = field(default_factory=set)
    served: int = 0
    handled_s: list[float] = field(default_factory=list)
    open_s: float = 0.0
    serving_s: float = 0.0
    pauses: int = 0
    pause_s: float = 0.0
    ratings: int = 0
    satisfied: int = 0


@dataclass(slots=True)
class _Device:
    silent_after_s: float
    seen: SeqRanges
    first: float | None = None  # its first message today: it is observed from here
    last: float = 0.0  # its own newest message (a last will is the broker's, not the device's)
    offline_since: float | None = None  # a state with online=false, until the device speaks again


# ---------------------------------------------------------------------------------------------- the book


class DayBook:
    """Today's (or any one day's) KPIs of one hall, folded from its device messages.

    SL (`sl_pct`): tickets called within `target_wait_min` of their issue ÷ tickets called plus tickets never
    called that waited longer than the target (still waiting at `now`, or until they were cancelled); tickets
    waiting less than the target, or cancelled within it, are not counted either way.

    Availability: a device is observed from its first message of the day (within `opening_hours` if given) to
    `now`; it is down while its last state said offline and while it has been silent for longer than its class's
    heartbeat timeout (`SILENT_AFTER_S`). Pass `opening_hours` so that devices switched off at night do not count.

    Utilisation: per window, the time it served (service.started → completed/transferred/no-show/next call, or until
    another window called, started or finished that ticket) while open ÷ the time it was open (opened or resumed →
    paused or closed). A window heard of only through its tickets (the book started mid-day) counts as open from its
    first message.
    """

    def __init__(
        self,
        profile: HallProfile,
        day: date,
        target_wait_min: float = 15.0,
        *,
        opening_hours: tuple[time, time] | None = None,
        silent_after_s: Mapping[str, float] = SILENT_AFTER_S,
    ) -> None:
        if not target_wait_min > 0:
            raise ValueError(f"target_wait_min must be a positive number of minutes, got {target_wait_min!r}")
        self.profile = profile
        self.day = day
        self.target_wait_min = target_wait_min
        self.tz = ZoneInfo(profile.timezone)
        self._target_s = target_wait_min * 60
        self._silent_after_s = silent_after_s
        self._start = datetime.combine(day, time(), self.tz).timestamp()
        self._end = datetime.combine(day + timedelta(days=1), time(), self.tz).timestamp()
        self._hours = round((self._end - self._start) / _HOUR_S)  # 23 or 25 on a day with a clock change
        if opening_hours is None:
            self._observe = (self._start, self._end)
        else:
            opens, closes = (datetime.combine(day, t, self.tz).timestamp() for t in opening_hours)
            if opens >= closes:
                raise ValueError(f"opening_hours must open before they close, got {opening_hours!r}")
            self._observe = (opens, closes)
        self._hall = self._rows()
        self._services: dict[str, _Rows] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._windows: dict[str, _Window] = {}
        self._devices: dict[str, _Device] = {}
        # per hour, accumulated as intervals close; the intervals still open are added in `report`
        self._open_s = [0.0] * self._hours
        self._serving_s = [0.0] * self._hours
        self._down_s = [0.0] * self._hours
        # people waiting: +1/-1 per 5-min sample interval of the change, so that the series is a running sum in
        # time order whatever order the messages arrived in
        self._waiting_delta = [0] * (self._hours * 60 // SAMPLE_MIN)
        self._first: float | None = None
        for s in profile.services:
            self._service(s.code)
        # one dict look-up per message instead of a chain of isinstance checks (the hot path)
        self._handlers: dict[type[Any], Callable[[Any, str, float], None]] = {
            TicketIssued: self._on_issued,
            TicketCancelled: self._on_cancelled,
            TicketReactivated: self._on_reactivated,
            AppointmentCheckedIn: self._on_checked_in,
            WindowOpened: self._on_opened,
            WindowPaused: self._on_paused,
            WindowResumed: self._on_resumed,
            WindowClosed: self._on_closed,
            TicketCalled: self._on_called,
            ServiceStarted: self._on_started,
            ServiceCompleted: self._on_completed,
            TicketNoShow: self._on_no_show,
            TicketTransferred: self._on_transferred,
            KioskSession: self._on_kiosk_session,
            RatingSubmitted: self._on_rating,
        }

    # -- input ------------------------------------------------------------------------------------------

    def apply(self, msg: DeviceMessage) -> None:
        """Fold one accepted message. Messages of another hall-local day and redeliveries change nothing."""
        at = msg.at.timestamp()
        device = self._heard(msg.device_id, msg.device_type, msg.seq, at, getattr(msg.payload, "boot", None))
        if device is None:
            return
        p = msg.payload
        channel = msg.channel
        if channel is Channel.STATE and isinstance(p, DeviceState) and not p.online:
            self._went_offline(device, at)
            return
        self._spoke(device, at)
        if channel is Channel.EVT:
            handler = self._handlers.get(type(p))
            if handler is not None:
                handler(p, msg.device_id, at)

    def heartbeat(
        self, device_id: str, device_type: str, seq: int | None, at: float, *, boot: str | None = None
    ) -> None:
        """A heartbeat from its logged row (device time `at`): what `apply` does with one, without decoding it —
        seven in ten of a day's messages, all replayed when today's book is rebuilt at start-up. `boot` is its counter
        epoch (`rules.hall.dedup`); without it, the epoch its `at` falls in."""
        device = self._heard(device_id, device_type, seq, at, boot)
        if device is not None:
            self._spoke(device, at)

    def heard(self) -> bool:
        """Whether a message of this day has been folded in."""
        return self._first is not None

    def _heard(self, device_id: str, device_type: str, seq: int | None, at: float, boot: str | None) -> _Device | None:
        """The device a message of this day comes from; None for another day's message or a redelivery."""
        if not self._start <= at < self._end:
            return None
        device = self._devices.get(device_id)
        if device is None:
            device = self._devices[device_id] = _Device(
                self._silent_after_s.get(device_type, DEFAULT_SILENT_AFTER_S), SeqRanges()
            )
        if seq is not None and not device.seen.add(seq, at, boot):
            return None  # QoS 1 redelivery: counted already
        if self._first is None or at < self._first:
            self._first = at
        return device

    # -- tickets ----------------------------------------------------------------------------------------
    # Each ticket keeps its events (`rules.hall.course`); an event counts the difference between what they said
    # before and what they say now, so one heard late (a ticket machine replaying its queue after a reconnect, a
    # window's terminal its own) is counted where it would have been in order.

    def _on_issued(self, p: TicketIssued, device_id: str, at: float) -> None:
        self._service(p.service)
        self._move(p.ticket_id, TicketEvent(at, Step.ISSUED, device_id, 0, None, p.service))

    def _on_reactivated(self, p: TicketReactivated, device_id: str, at: float) -> None:
        # the green channel: the same ticket waits again; its wait was measured at its first call
        if p.service is not None:
            self._service(p.service)
        self._move(p.ticket_id, TicketEvent(at, Step.REACTIVATED, device_id, 0, None, p.service))

    def _on_cancelled(self, p: TicketCancelled, device_id: str, at: float) -> None:
        self._move(p.ticket_id, TicketEvent(at, Step.CANCELLED, device_id, 0))

    def _on_checked_in(self, p: AppointmentCheckedIn, device_id: str, at: float) -> None:
        self._service(p.service)

    def _on_called(self, p: TicketCalled, device_id: str, at: float) -> None:
        window_id = p.window_id or device_id
        w = self._working_window(window_id, at)
        if w.serving is not None and w.serving != p.ticket_id:
            self._stop_serving(w, at)  # calling the next number: the last service is over even if unreported
        self._move(p.ticket_id, TicketEvent(at, Step.CALLED, device_id, 0, window_id, None, p.attempt))

    def _on_started(self, p: ServiceStarted, device_id: str, at: float) -> None:
        window_id = p.window_id or device_id
        w = self._working_window(window_id, at)
        event = self._move(p.ticket_id, TicketEvent(at, Step.STARTED, device_id, 0, window_id))
        if w.serving != p.ticket_id:
            if w.serving is not None:
                self._stop_serving(w, at)
            w.serving = p.ticket_id
            w.services.append(_Service(p.ticket_id, at, event.n))

    def _on_completed(self, p: ServiceCompleted, device_id: str, at: float) -> None:
        window_id = p.window_id or device_id
        w = self._working_window(window_id, at)
        if w.serving == p.ticket_id:
            self._stop_serving(w, at)
        elif p.duration_s and w.status is WindowStatus.OPEN and w.serving is None:
            # the start was not reported (some queue systems do not): credit the measured handling time, within
            # the time the window has been open and free, so that no time is counted twice
            self._account(w, at)
            _spread(self._serving_s, max(at - p.duration_s, w.free_since), at, self._start)
            w.free_since = at
        self._move(p.ticket_id, TicketEvent(at, Step.COMPLETED, device_id, 0, window_id, None, p.duration_s))

    def _on_no_show(self, p: TicketNoShow, device_id: str, at: float) -> None:
        window_id = p.window_id or device_id
        w = self._working_window(window_id, at)
        if w.serving == p.ticket_id:
            self._stop_serving(w, at)
        self._move(p.ticket_id, TicketEvent(at, Step.NO_SHOW, device_id, 0, window_id))

    def _on_transferred(self, p: TicketTransferred, device_id: str, at: float) -> None:
        window_id = p.window_id or device_id
        w = self._working_window(window_id, at)
        if w.serving == p.ticket_id:
            self._stop_serving(w, at)
        self._service(p.to_service)
        self._move(p.ticket_id, TicketEvent(at, Step.TRANSFERRED, device_id, 0, window_id, p.to_service))

    def _ticket(self, ticket_id: str) -> _Ticket:
        t = self._tickets.get(ticket_id)
        if t is None:  # issued before the book started, or its issue is still on the way
            t = self._tickets[ticket_id] = _Ticket()
        return t

    def _move(self, ticket_id: str, event: TicketEvent) -> TicketEvent:
        """Add one of the ticket's events and count what that changes; the event as kept."""
        t = self._ticket(ticket_id)
        before = course(t.events)
        event = add(t.events, event)
        after = course(t.events)
        gone, new = Counter(self._facts(before)), Counter(self._facts(after))
        for fact in (gone - new).elements():
            self._count(fact, -1)
        for fact in (new - gone).elements():
            self._count(fact, 1)
        _take(t, after)
        return event

    def _facts(self, c: Course) -> list[Fact]:
        """What a ticket's course counts: its issue; its wait, once both its issue and first call are known (for the
        queue it was called from, in the hour of its issue); its first call (or start, completion or no-show), first
        completion, first no-show and first cancellation, each for the service it had then; a miss if it was
        cancelled, never called, after waiting past the target; and when it started and stopped waiting."""
        facts: list[Fact] = []
        issue, call, end = c.issue, c.call, c.cancelled
        if issue is not None:
            facts.append(("issued", issue.service, issue.at))
            if call is not None and call.service is not None:
                facts.append(("wait", call.service, issue.at, max(0.0, call.at - issue.at)))
            if c.missed and end is not None and end.at - issue.at > self._target_s:
                facts.append(("misses", issue.service, issue.at))
        for name, visit in (
            ("called", c.first_call),
            ("served", c.completed),
            ("no_shows", c.no_show),
            ("cancelled", end),
        ):
            if visit is not None:
                facts.append((name, visit.service, visit.at))
        for span in c.spans:
            if span.end is not None and span.end < span.start:
                continue  # called before it was issued, by the device clocks: it never waited
            facts.append(("waiting", span.start, 1))
            if span.end is not None:
                facts.append(("waiting", span.end, -1))
        return facts

    def _count(self, fact: Fact, sign: int) -> None:
        """Count one fact of a ticket's course (`_facts`) in, or (`sign` -1) out again."""
        match fact:
            case ("waiting", float(at), int(change)):
                self._waiting_delta[int((at - self._start) // _SAMPLE_S)] += sign * change
            case ("issued", str(service), float(at)):
                for tally in self._tallies(service, at):
                    tally.issued += sign
                slot = int((at - self._start) // _SLOT_S)
                self._hall.arrivals[slot] += sign
                self._service(service).arrivals[slot] += sign
            case ("wait", str(service), float(issued_at), float(wait)):
                for tally in self._tallies(service, issued_at):
                    if sign > 0:
                        tally.waits_s.append(wait)
                    else:
                        with suppress(ValueError):  # (a book of an earlier release may have counted it elsewhere)
                            tally.waits_s.remove(wait)
            case (str(name), service, float(at)) if service is None or isinstance(service, str):
                for tally in self._tallies(service, at):
                    setattr(tally, name, getattr(tally, name) + sign)

    # -- windows ----------------------------------------------------------------------------------------

    def _on_opened(self, p: WindowOpened, device_id: str, at: float) -> None:
        for code in p.services:
            self._service(code)
        w = self._window(p.window_id or device_id, at)
        if p.staff_id is not None and (not w.staff or w.staff[-1][1] != p.staff_id):
            if w.status is WindowStatus.OPEN and w.opened and len(w.opened[-1]) == 1 and at > w.opened[-1][0]:
                w.opened[-1][1:] = [at]  # another staff member signed in while open: their time starts here
                w.opened.append([at])
            w.staff.append((at, p.staff_id))
        self._set_status(w, WindowStatus.OPEN, at)

    def _on_resumed(self, p: WindowResumed, device_id: str, at: float) -> None:
        self._set_status(self._window(p.window_id or device_id, at), WindowStatus.OPEN, at)

    def _on_paused(self, p: WindowPaused, device_id: str, at: float) -> None:
        self._set_status(self._window(p.window_id or device_id, at), WindowStatus.PAUSED, at)

    def _on_closed(self, p: WindowClosed, device_id: str, at: float) -> None:
        w = self._window(p.window_id or device_id, at)
        self._set_status(w, WindowStatus.CLOSED, at)
        if w.serving is not None:
            self._stop_serving(w, at)

    def _window(self, window_id: str, at: float) -> _Window:
        w = self._windows.get(window_id)
        if w is None:
            w = self._windows[window_id] = _Window(since=at, free_since=at)
        return w

    def _working_window(self, window_id: str, at: float) -> _Window:
        """A window that calls or serves: open, if no status event has said anything yet (the book started while
        it was open, or its `window.opened` is still on the way)."""
        w = self._window(window_id, at)
        if w.status is None:
            self._set_status(w, WindowStatus.OPEN, at)
        self._account(w, at)
        return w

    def _set_status(self, w: _Window, status: WindowStatus, at: float) -> None:
        self._account(w, at)
        opens, was_open = status is WindowStatus.OPEN, w.status is WindowStatus.OPEN
        if opens and not was_open:
            w.opened.append([at])
            if w.serving is None:
                w.free_since = max(at, w.free_since)
        elif was_open and not opens and w.opened:
            w.opened[-1][1:] = [at]
        pauses, was_paused = status is WindowStatus.PAUSED, w.status is WindowStatus.PAUSED
        if pauses and not was_paused:
            w.paused.append([at])
        elif was_paused and not pauses and w.paused:
            w.paused[-1][1:] = [at]
        w.status = status

    def _stop_serving(self, w: _Window, at: float) -> None:
        if w.services and w.services[-1].end is None:
            w.services[-1].end = at
        w.serving = None
        w.free_since = at

    def _account(self, w: _Window, at: float) -> None:
        """Add the window's time since the last change to the open total."""
        if at <= w.since:
            return  # an older message than one already accounted: the time is counted
        if w.status is WindowStatus.OPEN:
            _spread(self._open_s, w.since, at, self._start)
        w.since = at

    # -- devices ----------------------------------------------------------------------------------------

    def _spoke(self, d: _Device, at: float) -> None:
        if d.first is None:
            d.first = d.last = at
            return
        if at <= d.last:
            return
        down_from = d.last + d.silent_after_s
        if d.offline_since is not None:
            down_from = min(down_from, d.offline_since)
            d.offline_since = None
        if at > down_from:
            _spread(self._down_s, down_from, at, self._start, self._observe)
        d.last = at

    def _went_offline(self, d: _Device, at: float) -> None:
        if d.first is None:
            d.first = d.last = at
        if d.offline_since is None:
            d.offline_since = max(at, d.last)  # a will is stamped on receipt, by another clock than the device's

    # -- kiosks, ratings ---------------------------------------------------------------------------------

    def _on_kiosk_session(self, p: KioskSession, device_id: str, at: float) -> None:
        success = p.outcome is KioskOutcome.SUCCESS
        for tally in self._tallies(p.service, at):
            tally.kiosk_sessions += 1
            tally.kiosk_successes += success

    def _on_rating(self, p: RatingSubmitted, device_id: str, at: float) -> None:
        t = self._tickets.get(p.ticket_id) if p.ticket_id else None
        satisfied = p.score >= SATISFIED_SCORE
        for tally in self._tallies(t.service if t else None, at):
            tally.ratings += 1
            tally.satisfied += satisfied
        self._window(p.window_id, at).rated.append((at, p.score))

    # -- rows -------------------------------------------------------------------------------------------

    def _rows(self) -> _Rows:
        return _Rows(_Tally(), {}, [0] * (self._hours * 60 // SLOT_MIN))

    def _service(self, code: str) -> _Rows:
        rows = self._services.get(code)
        if rows is None:
            rows = self._services[code] = self._rows()
        return rows

    def _tallies(self, service: str | None, at: float) -> tuple[_Tally, ...]:
        """The rows an event at `at` counts in: the hall's day and hour, and its service's if it has one."""
        hour = int((at - self._start) // _HOUR_S)
        if service is None:
            return self._hall.day, self._hall.hour(hour)
        rows = self._service(service)
        return self._hall.day, self._hall.hour(hour), rows.day, rows.hour(hour)

    # -- output -----------------------------------------------------------------------------------------

    def report(self, now: datetime) -> DayReport:
        """The figures up to `now` (for a past day, pass its end). Changes nothing.

        Call it with the messages up to `now` applied and none later: intervals (open windows, silent devices,
        tickets waiting) run to `now`, but what a later message already closed cannot be taken back."""
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone (a naive time is ambiguous for a hall's day)")
        t_now = min(max(now.timestamp(), self._start), self._end)
        hall = self._hall
        services = sorted(self._services)
        # tickets never called and waiting past the target now are misses of their hour (and service) of issue
        late_day: dict[str | None, int] = {}
        late_hour: dict[tuple[int, str | None], int] = {}
        # … and in the same pass, who served each ticket, and whether it was issued for that service today
        kept = {w.window_id for w in self.profile.windows}  # (a configured window has a row, also when it was shut)
        windows: dict[str, _Work] = {wid: _Work(windows={wid}) for wid in kept}
        staff: dict[str | None, _Work] = {}
        staffed = {wid: sorted(w.staff, key=lambda s: s[0]) for wid, w in self._windows.items()}
        before: Counter[str | None] = Counter()
        moved_in: Counter[str | None] = Counter()
        moved_out: Counter[str | None] = Counter()
        for t in self._tickets.values():
            if t.waiting and t.called_at is None and t.issued_at is not None and t_now - t.issued_at > self._target_s:
                hour = int((t.issued_at - self._start) // _HOUR_S)
                for key in (None,) if t.service is None else (None, t.service):
                    late_day[key] = late_day.get(key, 0) + 1
                    late_hour[hour, key] = late_hour.get((hour, key), 0) + 1
            done = t.completed
            if done is None:
                continue
            if t.issued_at is None:  # (its service is not known either, unless it was transferred today)
                before[None] += 1
                if done.service is not None:
                    before[done.service] += 1
            elif t.issued_for != done.service:
                moved_in[done.service] += 1
                moved_out[t.issued_for] += 1
            if done.window is not None:
                who = _staff_at(staffed.get(done.window, ()), done.at)
                for work in _works(windows, staff, done.window, who):
                    work.served += 1
                    if t.handled_s is not None:
                        work.handled_s.append(t.handled_s)
        open_s, serving_s = self._window_time(t_now, windows, staff, staffed)
        observed_s, down_s = self._device_time(t_now)

        def row(start: float, end: float, service: str | None, tally: _Tally, late: int, hour: int | None) -> Kpis:
            span = slice(None) if hour is None else slice(hour, hour + 1)
            return _kpis(
                self._dt(start),
                self._dt(min(end, t_now)),
                service,
                tally,
                late,
                self._target_s,
                (sum(serving_s[span]), sum(open_s[span])) if service is None else None,
                (sum(down_s[span]), sum(observed_s[span])) if service is None else None,
            )

        day_row = row(self._start, self._end, None, hall.day, late_day.get(None, 0), None)
        service_rows = tuple(
            row(self._start, self._end, code, self._services[code].day, late_day.get(code, 0), None)
            for code in services
        )
        hour_rows: list[Kpis] = []
        for h in range(self._hours):
            tally = hall.hours.get(h)
            late = late_hour.get((h, None), 0)
            if not ((tally and tally.active()) or late or open_s[h]):
                continue
            start = self._start + h * _HOUR_S
            if start > t_now:
                break
            hour_rows.append(row(start, start + _HOUR_S, None, tally or _Tally(), late, h))
            for code in services:
                s_tally = self._services[code].hours.get(h)
                s_late = late_hour.get((h, code), 0)
                if (s_tally and s_tally.active()) or s_late:
                    hour_rows.append(row(start, start + _HOUR_S, code, s_tally or _Tally(), s_late, h))
        return DayReport(
            hall_id=self.profile.hall_id,
            day=self.day,
            timezone=self.profile.timezone,
            generated_at=now.astimezone(self.tz),
            target_wait_min=self.target_wait_min,
            hall=day_row,
            services=service_rows,
            hours=tuple(hour_rows),
            waiting=self._waiting_series(t_now),
            arrivals=self._arrivals(t_now),
            arrivals_by_service={code: self._slots(self._services[code].arrivals, t_now) for code in services},
            wait_histogram={code: _histogram(self._services[code].day.waits_s) for code in services},
            service_names={s.code: name for s in self.profile.services if (name := s.name or s.name_en)},
            windows=_people(
                {wid: w for wid, w in windows.items() if w.served or w.open_s or w.pauses or w.ratings or wid in kept}
            ),
            staff=_people({sid: w for sid, w in staff.items() if sid is not None or w.served or w.ratings}),
            served_from=tuple(
                ServedFrom(k.service, k.issued, k.served, before[k.service], moved_in[k.service], moved_out[k.service])
                for k in (day_row, *service_rows)
            ),
        )

    def _window_time(
        self,
        t_now: float,
        windows: dict[str, _Work],
        staff: dict[str | None, _Work],
        staffed: Mapping[str, list[tuple[float, str | None]]],
    ) -> tuple[list[float], list[float]]:
        """Open and serving time per hour, with each window's current interval counted up to `t_now`. A service is
        counted here, not as it goes: when it ended may be told late (another window took the ticket). In the same
        pass, each window's (and staff member's) open, serving and paused time and pauses (`_Work`)."""
        open_s, serving_s = list(self._open_s), list(self._serving_s)
        for window_id, w in self._windows.items():
            if w.status is WindowStatus.OPEN and t_now > w.since:
                _spread(open_s, w.since, t_now, self._start)
            signed = staffed.get(window_id, ())
            spans = [(span[0], min(span[1] if len(span) > 1 else t_now, t_now)) for span in w.opened]
            works = [_works(windows, staff, window_id, _staff_at(signed, a)) for a, _ in spans]
            for (a, b), both in zip(spans, works, strict=True):
                for work in both:
                    work.open_s += max(0.0, b - a)
            for s in w.services:
                t = self._tickets.get(s.ticket)
                left = None if t is None else leaving(t.events, window_id, s.start, s.n)
                end = min(x for x in (s.end, left, t_now) if x is not None)
                for (a, b), both in zip(spans, works, strict=True):
                    lo, hi = max(a, s.start), min(b, end)
                    if lo < hi:
                        _spread(serving_s, lo, hi, self._start)
                        for work in both:
                            work.serving_s += hi - lo
            for span in w.paused:
                a = span[0]
                if a >= t_now:
                    continue
                for work in _works(windows, staff, window_id, _staff_at(signed, a)):
                    work.pauses += 1
                    work.pause_s += max(0.0, min(span[1] if len(span) > 1 else t_now, t_now) - a)
            for at, score in w.rated:
                if at <= t_now:
                    for work in _works(windows, staff, window_id, _staff_at(signed, at)):
                        work.ratings += 1
                        work.satisfied += score >= SATISFIED_SCORE
        return open_s, serving_s

    def _device_time(self, t_now: float) -> tuple[list[float], list[float]]:
        """Observed and down time per hour, with each device's current silence or outage counted up to `t_now`."""
        observed = [0.0] * self._hours
        down = list(self._down_s)
        for d in self._devices.values():
            if d.first is None:
                continue
            _spread(observed, d.first, t_now, self._start, self._observe)
            down_from = d.last + d.silent_after_s
            if d.offline_since is not None:
                down_from = min(down_from, d.offline_since)
            _spread(down, down_from, t_now, self._start, self._observe)
        return observed, down

    def _waiting_series(self, t_now: float) -> tuple[tuple[datetime, int], ...]:
        if self._first is None:
            return ()
        first = int((self._first - self._start) // _SAMPLE_S)
        last = int((t_now - self._start) // _SAMPLE_S)
        out: list[tuple[datetime, int]] = []
        running = sum(self._waiting_delta[:first])
        for i in range(first, last + 1):
            # the sample at the start of interval i: every change before it
            out.append((self._dt(self._start + i * _SAMPLE_S), max(0, running)))
            if i < len(self._waiting_delta):
                running += self._waiting_delta[i]
        return tuple(out)

    def _slot_range(self, t_now: float) -> range:
        if self._first is None:
            return range(0)
        last = min(int((t_now - self._start) // _SLOT_S), len(self._hall.arrivals) - 1)
        return range(int((self._first - self._start) // _SLOT_S), last + 1)

    def _arrivals(self, t_now: float) -> tuple[tuple[datetime, int], ...]:
        counts = self._hall.arrivals
        return tuple((self._dt(self._start + i * _SLOT_S), counts[i]) for i in self._slot_range(t_now))

    def _slots(self, counts: list[int], t_now: float) -> tuple[int, ...]:
        return tuple(counts[i] for i in self._slot_range(t_now))

    def _dt(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    # -- saving -----------------------------------------------------------------------------------------

    def dump(self) -> bytes:
        """The whole book as compact JSON (utf-8), to be restored by `DayBook.load` with the same configuration.

        Records are short lists in field order (`_Tally`, `_Window`, `_Device`; a ticket as its events), trailing
        defaults left out; floats round-trip exactly."""
        state = {
            "schema": BOOK_SCHEMA,
            "hall": self.profile.hall_id,
            "day": self.day.isoformat(),
            "tz": self.profile.timezone,
            "target_wait_min": self.target_wait_min,
            "observe": list(self._observe),
            "silent_after_s": _silent_map(self._silent_after_s),
            "rows": _dump_rows(self._hall),
            "services": {code: _dump_rows(rows) for code, rows in self._services.items()},
            "tickets": {tid: _dump_ticket(t) for tid, t in self._tickets.items()},
            "windows": {
                wid: [
                    None if w.status is None else w.status.value,
                    w.since,
                    w.serving,
                    w.free_since,
                    w.opened,
                    [[s.ticket, s.start, s.n, s.end] for s in w.services],
                    w.staff,
                    w.paused,
                    w.rated,
                ]
                for wid, w in self._windows.items()
            },
            "devices": {did: _dump_device(d) for did, d in self._devices.items()},
            "open_s": self._open_s,
            "serving_s": self._serving_s,
            "down_s": self._down_s,
            "waiting_delta": self._waiting_delta,
            "first": self._first,
        }
        return json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def load(
        cls,
        profile: HallProfile,
        data: bytes,
        target_wait_min: float,
        *,
        opening_hours: tuple[time, time] | None = None,
        silent_after_s: Mapping[str, float] = SILENT_AFTER_S,
    ) -> DayBook:
        """The book `dump` saved, for the day it was saved for (`book.day`): continue it with the messages logged
        after the save. Raises ValueError when the data is not a saved book of this schema, or was made for another
        hall or time zone, or with another target wait, opening hours (observed span) or silence timeouts — the
        configuration changed, so rebuild the day from the log instead. Services saved and no longer configured are
        kept (as a service seen in the messages is)."""
        try:
            raw = json.loads(data)
        except ValueError as e:  # not utf-8, or not JSON
            raise ValueError(f"not a saved KPI day book (not JSON: {e})") from None
        if not isinstance(raw, dict):
            raise ValueError("not a saved KPI day book (not a JSON object)")
        if raw.get("schema") not in _READABLE:
            raise ValueError(f"saved KPI day book schema {raw.get('schema')!r} is not one of {_READABLE}")
        if raw.get("hall") != profile.hall_id:
            raise ValueError(f"saved KPI day book is of hall {raw.get('hall')!r}, not {profile.hall_id!r}")
        if raw.get("tz") != profile.timezone:
            raise ValueError(f"saved KPI day book is in time zone {raw.get('tz')!r}, not {profile.timezone!r}")
        if raw.get("target_wait_min") != target_wait_min:
            raise ValueError(
                f"saved KPI day book has target_wait_min {raw.get('target_wait_min')!r}, not {target_wait_min!r}"
            )
        try:
            day = date.fromisoformat(raw["day"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"saved KPI day book has no valid day: {raw.get('day')!r}") from None
        book = cls(profile, day, target_wait_min, opening_hours=opening_hours, silent_after_s=silent_after_s)
        if raw.get("observe") != list(book._observe):
            saved = raw.get("observe")
            said = book._span_text(saved) if isinstance(saved, list) and len(saved) == 2 else repr(saved)
            raise ValueError(
                f"saved KPI day book observes devices {said}, not {book._span_text(book._observe)} (opening_hours)"
            )
        if raw.get("silent_after_s") != _silent_map(silent_after_s):
            raise ValueError(
                f"saved KPI day book has silent_after_s {raw.get('silent_after_s')!r}, "
                f"not {_silent_map(silent_after_s)!r}"
            )
        try:
            book._restore(raw)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise ValueError(f"saved KPI day book is malformed: {type(e).__name__}: {e}") from None
        return book

    def _restore(self, raw: dict[str, Any]) -> None:
        hours, slots, samples = self._hours, len(self._hall.arrivals), len(self._waiting_delta)
        self._hall = _load_rows(raw["rows"], hours, slots)
        for code, rows in raw["services"].items():
            self._services[code] = _load_rows(rows, hours, slots)
        schema = raw["schema"]
        load_ticket = _load_ticket_v1 if schema == 1 else _load_ticket
        self._tickets = {tid: load_ticket(t) for tid, t in raw["tickets"].items()}
        self._windows = {wid: _load_window(w, schema) for wid, w in raw["windows"].items()}
        self._devices = {did: _load_device(d, schema) for did, d in raw["devices"].items()}
        self._open_s = _sized(raw["open_s"], hours, "open_s")
        self._serving_s = _sized(raw["serving_s"], hours, "serving_s")
        self._down_s = _sized(raw["down_s"], hours, "down_s")
        self._waiting_delta = _sized(raw["waiting_delta"], samples, "waiting_delta")
        first = raw["first"]
        self._first = None if first is None else float(first)

    def _span_text(self, span: Any) -> str:
        """An observed span as the hall's opening hours (`08:30–17:30`), for the message of a refused load."""
        if list(span) == [self._start, self._end]:
            return "the whole day"
        try:
            return "–".join(self._dt(t).strftime("%H:%M") for t in span)
        except (TypeError, ValueError, OverflowError, OSError):
            return repr(span)


def _spread(into: list[float], a: float, b: float, day_start: float, clip: tuple[float, float] | None = None) -> None:
    """Add the interval [a, b) to per-hour totals (the hours counted from `day_start`), cut to `clip` if given."""
    if clip is not None:
        a, b = max(a, clip[0]), min(b, clip[1])
    a = max(a, day_start)
    b = min(b, day_start + len(into) * _HOUR_S)
    while a < b:
        i = int((a - day_start) // _HOUR_S)
        edge = day_start + (i + 1) * _HOUR_S
        upto = min(b, edge)
        into[i] += upto - a
        a = upto


def _kpis(
    start: datetime,
    end: datetime,
    service: str | None,
    t: _Tally,
    late: int,
    target_s: float,
    windows: tuple[float, float] | None,
    devices: tuple[float, float] | None,
) -> Kpis:
    waits = sorted(t.waits_s)
    hits = sum(1 for w in waits if w <= target_s)
    judged = len(waits) + t.misses + late
    return Kpis(
        start=start,
        end=end,
        service=service,
        issued=t.issued,
        called=t.called,
        served=t.served,
        no_shows=t.no_shows,
        cancelled=t.cancelled,
        sl_pct=_pct(hits, judged),
        # nearest rank: the P95 is a wait somebody actually had (as the simulator's truth reports it)
        p95_wait_min=waits[math.ceil(0.95 * len(waits)) - 1] / 60 if waits else None,
        mean_wait_min=sum(waits) / len(waits) / 60 if waits else None,
        max_wait_min=waits[-1] / 60 if waits else None,
        no_show_pct=_pct(t.no_shows, t.called),
        utilisation_pct=_pct(*windows) if windows else None,
        kiosk_sessions=t.kiosk_sessions,
        kiosk_success_pct=_pct(t.kiosk_successes, t.kiosk_sessions),
        availability_pct=_pct(devices[1] - devices[0], devices[1]) if devices else None,
        ratings=t.ratings,
        satisfaction_pct=_pct(t.satisfied, t.ratings),
    )


def _staff_at(signed: list[tuple[float, str | None]] | tuple[()], at: float) -> str | None:
    """Who was signed in at a window at `at`, from its sign-ins in time order: the newest at or before `at` (the
    first, for a moment before any: the window was heard of before its sign-in)."""
    who = signed[0][1] if signed else None
    for since, staff_id in signed:
        if since > at:
            break
        who = staff_id
    return who


def _works(
    windows: dict[str, _Work], staff: dict[str | None, _Work], window: str, who: str | None
) -> tuple[_Work, _Work]:
    """The window's and its staff member's sums, each also naming the other."""
    w, s = windows.get(window), staff.get(who)
    if w is not None and s is not None and window in s.windows and (who is None or who in w.staff):
        return w, s
    if w is None:
        w = windows[window] = _Work()
    if s is None:
        s = staff[who] = _Work()
    w.windows.add(window)
    s.windows.add(window)
    if who is not None:
        w.staff.add(who)
        s.staff.add(who)
    return w, s


def _people(works: Mapping[Any, _Work]) -> People:
    """The rows of `works` (by id; the staff member None last), with their misses against the median AHT of them."""
    rows = []
    for key in sorted(works, key=lambda k: (k is None, k or "")):
        w = works[key]
        rows.append(
            Performance(
                id=key,
                windows=tuple(sorted(w.windows)),
                staff=tuple(sorted(w.staff)),
                served=w.served,
                aht_min=sum(w.handled_s) / len(w.handled_s) / 60 if w.handled_s else None,
                open_min=w.open_s / 60,
                serving_min=w.serving_s / 60,
                idle_min=max(0.0, w.open_s - w.serving_s) / 60,
                pauses=w.pauses,
                pause_min=w.pause_s / 60,
                ratings=w.ratings,
                satisfaction_pct=_pct(w.satisfied, w.ratings),
                misses=(),
            )
        )
    ahts = sorted(r.aht_min for r in rows if r.aht_min is not None)
    median = None
    if ahts:
        mid = len(ahts) // 2
        median = ahts[mid] if len(ahts) % 2 else (ahts[mid - 1] + ahts[mid]) / 2
    judged = []
    for r in rows:
        misses = []
        if median is not None and len(ahts) > 1 and r.aht_min is not None and r.aht_min > AHT_MISS_FACTOR * median:
            misses.append("aht")
        if r.satisfaction_pct is not None and r.satisfaction_pct < SATISFACTION_TARGET_PCT:
            misses.append("satisfaction")
        judged.append(replace(r, misses=tuple(misses)))
    return People(tuple(judged), median)


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


def _histogram(waits_s: list[float]) -> tuple[int, ...]:
    counts = [0] * len(WAIT_BUCKETS_MIN)
    for w in waits_s:
        minutes = w / 60
        counts[next(i for i, bound in enumerate(WAIT_BUCKETS_MIN) if minutes <= bound)] += 1
    return tuple(counts)


# ---------------------------------------------------------------------------------------------- saved form

_TALLY_FIELDS = tuple(f.name for f in fields(_Tally))
_TALLY_DEFAULTS = tuple(getattr(_Tally(), name) for name in _TALLY_FIELDS)


def _silent_map(silent_after_s: Mapping[str, float]) -> dict[str, float]:
    return {str(k): v for k, v in silent_after_s.items()}


def _trimmed(values: list[Any], defaults: tuple[Any, ...]) -> list[Any]:
    """`values` without the trailing ones equal to their defaults."""
    n = len(values)
    while n and values[n - 1] == defaults[n - 1] and type(values[n - 1]) is type(defaults[n - 1]):
        n -= 1
    return values[:n]


def _dump_tally(t: _Tally) -> list[Any]:
    return _trimmed([getattr(t, name) for name in _TALLY_FIELDS], _TALLY_DEFAULTS)


def _load_tally(raw: list[Any]) -> _Tally:
    if len(raw) > len(_TALLY_FIELDS):
        raise ValueError(f"a tally has {len(raw)} fields, at most {len(_TALLY_FIELDS)}")
    t = _Tally(*raw)
    t.waits_s = [float(w) for w in t.waits_s]
    return t


def _dump_rows(rows: _Rows) -> list[Any]:
    return [_dump_tally(rows.day), [[h, _dump_tally(t)] for h, t in rows.hours.items()], rows.arrivals]


def _load_rows(raw: list[Any], hours: int, slots: int) -> _Rows:
    day, by_hour, arrivals = raw
    loaded: dict[int, _Tally] = {}
    for h, t in by_hour:
        if not (isinstance(h, int) and 0 <= h < hours):
            raise ValueError(f"hour {h!r} is not in the day")
        loaded[h] = _load_tally(t)
    return _Rows(_load_tally(day), loaded, _sized(arrivals, slots, "arrivals"))


_EVENT_DEFAULTS = (None, None, None)  # a ticket event's window, service and value


def _load_window(raw: list[Any], schema: int) -> _Window:
    """status, since, serving, free_since, when it was open, its services (`_Service`), who signed in, when it was
    paused and its ratings. Schema 1 counted serving time as it went, up to `since`: a window serving then goes on
    from there."""
    staff: list[Any] = []
    paused: list[Any] = []
    rated: list[Any] = []
    if schema == 1:
        status, since, serving, free_since = raw
        opened = [[float(since)]] if status == WindowStatus.OPEN else []
        services = [[serving, since, None, None]] if serving is not None else []
    else:
        status, since, serving, free_since, opened, services, staff, paused, rated = raw
    return _Window(
        None if status is None else WindowStatus(status),
        float(since),
        serving,
        float(free_since),
        [[float(t) for t in span] for span in opened],
        [
            _Service(str(t), float(a), None if n is None else int(n), None if e is None else float(e))
            for t, a, n, e in services
        ],
        [(float(at), None if who is None else str(who)) for at, who in staff],
        [[float(t) for t in span] for span in paused],
        [(float(at), int(score)) for at, score in rated],
    )


def _dump_ticket(t: _Ticket) -> list[Any]:
    """Its events, each as at, step, device, n, window, service, value (trailing defaults left out)."""
    return [[*e[:4], *_trimmed(list(e[4:]), _EVENT_DEFAULTS)] for e in t.events]


def _load_ticket(raw: list[Any]) -> _Ticket:
    events = []
    for e in raw:
        if not 4 <= len(e) <= 4 + len(_EVENT_DEFAULTS):
            raise ValueError(f"a ticket event has {len(e)} fields, from 4 to {4 + len(_EVENT_DEFAULTS)}")
        full: list[Any] = [*e, *_EVENT_DEFAULTS[len(e) - 4 :]]
        at, step, device, n, window, service, value = full
        events.append(TicketEvent(float(at), Step(step), str(device), int(n), window, service, value))
    return _settled(_Ticket(events))


def _settled(t: _Ticket) -> _Ticket:
    """`t` with what its course says now."""
    _take(t, course(t.events))
    return t


def _take(t: _Ticket, c: Course) -> None:
    """Keep on `t` what the report reads of its course `c`."""
    t.service, t.called_at, t.waiting = c.service, c.called_at, c.waiting is not None
    t.issued_at = None if c.issue is None else c.issue.at
    t.issued_for = None if c.issue is None else c.issue.service
    t.completed, t.handled_s = c.completed, c.duration_s


_V1_FLAGS = ("waiting", "ended", "called", "served", "no_show", "cancelled")  # bit 0, 1, … of a ticket in schema 1


def _load_ticket_v1(raw: list[Any]) -> _Ticket:
    """A ticket saved by schema 1 (service, issued, called and a bit set of its flags): the events it stands for (what
    their course counts was counted: `rules.hall.course.saved_events`)."""
    padded: list[Any] = [*raw, *(None, None, None, 0)[len(raw) :]]
    service, issued_at, called_at, flags = padded
    flag = {name: bool(flags >> i & 1) for i, name in enumerate(_V1_FLAGS)}
    issued = None if issued_at is None else float(issued_at)
    called = None if called_at is None else float(called_at)
    last = max((x for x in (issued, called) if x is not None), default=0.0)
    steps: list[tuple[float, Step, str | None, str | None, float | str | None]] = []
    if issued is not None:
        steps.append((issued, Step.ISSUED, None, service, None))
    if called is not None:
        steps.append((called, Step.CALLED, None, None, None))
    for name, step in (("no_show", Step.NO_SHOW), ("served", Step.COMPLETED), ("cancelled", Step.CANCELLED)):
        if flag[name]:
            steps.append((last, step, None, None, None))
    if flag["waiting"] and (called is not None or flag["ended"] or issued is None):
        steps.append((last, Step.REACTIVATED, None, service, None))  # waiting again after a call, or its issue unseen
    t = _settled(_Ticket(saved_events(steps)))
    t.service, t.issued_at, t.called_at, t.waiting = service, issued, called, flag["waiting"]
    return t


def _dump_device(d: _Device) -> list[Any]:
    """silent_after_s, first, last, offline_since and the seq numbers seen, per counter epoch (`SeqRanges.dump`)."""
    return [d.silent_after_s, d.first, d.last, d.offline_since, d.seen.dump()]


def _load_device(raw: list[Any], schema: int) -> _Device:
    if schema == 1:  # … the newest seq's time (None: none) and the seq ranges flat, of one epoch
        silent_after_s, first, last, offline_since, latest, flat = raw
        if len(flat) % 2:
            raise ValueError("seq ranges come in pairs")
        pairs = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
        seen = SeqRanges.load({"ranges": pairs, "latest_at": latest})
    else:
        silent_after_s, first, last, offline_since, epochs = raw
        seen = SeqRanges.load(epochs)
    return _Device(
        float(silent_after_s),
        seen,
        None if first is None else float(first),
        float(last),
        None if offline_since is None else float(offline_since),
    )


def _sized(raw: list[Any], n: int, what: str) -> list[Any]:
    if not isinstance(raw, list) or len(raw) != n:
        raise ValueError(f"{what} must be a list of {n}")
    return list(raw)


# ---------------------------------------------------------------------------------------------- CSV

_KPI_FIELDS = tuple(f.name for f in fields(Kpis))
CSV_COLUMNS = ("hall", *_KPI_FIELDS[:3], "service_name", *_KPI_FIELDS[3:])
CsvLanguage: TypeAlias = Literal["zh", "en"]
# The header row people read, per column (Chinese, English): each figure with its unit. `{n}` is the hall's target
# wait in minutes, which the service level is counted against.
CSV_HEADERS: Mapping[str, tuple[str, str]] = {
    "hall": ("大厅", "Hall"),
    "start": ("开始时间", "Start"),
    "end": ("结束时间", "End"),
    "service": ("业务代码", "Service code"),
    "service_name": ("业务名称", "Service name"),
    "issued": ("取号（张）", "Issued (tickets)"),
    "called": ("叫号（张）", "Called (tickets)"),
    "served": ("办结（张）", "Served (tickets)"),
    "no_shows": ("过号（张）", "No-shows (tickets)"),
    "cancelled": ("取消（张）", "Cancelled (tickets)"),
    "sl_pct": ("服务水平（{n}分钟内叫号，%）", "Service level (called within {n} min, %)"),
    "p95_wait_min": ("等待时长 P95（分钟）", "Wait P95 (min)"),
    "mean_wait_min": ("平均等待（分钟）", "Mean wait (min)"),
    "max_wait_min": ("最长等待（分钟）", "Longest wait (min)"),
    "no_show_pct": ("过号率（%）", "No-show rate (%)"),
    "utilisation_pct": ("窗口利用率（%）", "Window utilisation (%)"),
    "kiosk_sessions": ("自助终端使用（次）", "Kiosk sessions (count)"),
    "kiosk_success_pct": ("自助办成率（%）", "Kiosk success (%)"),
    "availability_pct": ("设备可用率（%）", "Device availability (%)"),
    "ratings": ("评价（条）", "Ratings (count)"),
    "satisfaction_pct": ("满意率（%）", "Satisfaction (%)"),
}


def csv_header(lang: CsvLanguage | None, target_wait_min: float) -> tuple[str, ...]:
    """The header row in `lang`, naming the target wait of the service level; None: the column ids (`CSV_COLUMNS`)."""
    if lang is None:
        return CSV_COLUMNS
    which = 0 if lang == "zh" else 1
    n = f"{target_wait_min:g}"
    return tuple(CSV_HEADERS[column][which].replace("{n}", n) for column in CSV_COLUMNS)


def csv_daily(report: DayReport, lang: CsvLanguage | None = None) -> str:
    """The daily report: a header (`csv_header`), the hall's row, then one row per service."""
    return _csv(report, (report.hall, *report.services), lang)


def csv_hourly(report: DayReport, lang: CsvLanguage | None = None) -> str:
    """The hourly report: a header (`csv_header`), then per hour the hall's row and the rows of the services active in
    it."""
    return _csv(report, report.hours, lang)


def _csv(report: DayReport, rows: tuple[Kpis, ...], lang: CsvLanguage | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_header(lang, report.target_wait_min))
    for r in rows:
        cells = [_cell(getattr(r, name)) for name in _KPI_FIELDS]
        name = report.service_names.get(r.service, "") if r.service else ""
        writer.writerow([_text(report.hall_id), *cells[:3], _text(name), *cells[3:]])
    return out.getvalue()


# The per-window and per-staff tables (`DayReport.windows`, `.staff`): their columns and header words, as above.
PEOPLE_HEADERS: Mapping[str, tuple[str, str]] = {
    "hall": ("大厅", "Hall"),
    "window": ("窗口", "Window"),
    "window_name": ("窗口名称", "Window name"),
    "staff_id": ("工作人员编号", "Staff id"),
    "staff": ("工作人员", "Staff"),
    "windows": ("窗口", "Windows"),
    "served": ("办结（张）", "Served (tickets)"),
    "aht_min": ("平均办理时长（分钟）", "Average handling time (min)"),
    "open_min": ("开放时长（分钟）", "Open (min)"),
    "serving_min": ("办理时长（分钟）", "Serving (min)"),
    "idle_min": ("空闲时长（分钟）", "Idle (min)"),
    "pauses": ("暂停（次）", "Pauses (count)"),
    "pause_min": ("暂停时长（分钟）", "Paused (min)"),
    "ratings": ("评价（条）", "Ratings (count)"),
    "satisfaction_pct": ("满意率（%）", "Satisfaction (%)"),
    "misses": ("未达标", "Below target"),
}
_FIGURES = (
    "served",
    "aht_min",
    "open_min",
    "serving_min",
    "idle_min",
    "pauses",
    "pause_min",
    "ratings",
    "satisfaction_pct",
    "misses",
)
WINDOW_COLUMNS = ("hall", "window", "window_name", "staff", *_FIGURES)
STAFF_COLUMNS = ("hall", "staff_id", "staff", "windows", *_FIGURES)
# A miss in words: {f} the AHT factor, {m} the median AHT (min), {n} the satisfaction target (%)
MISS_WORDS: Mapping[str, tuple[str, str]] = {
    "aht": ("平均办理时长超过中位数 {m} 分钟的 {f} 倍", "AHT above {f}× the median {m} min"),
    "satisfaction": ("满意率低于目标 {n}%", "satisfaction below the {n}% target"),
}


def miss_words(miss: str, people: People, lang: CsvLanguage) -> str:
    """One of a row's `misses` in words."""
    median = "—" if people.aht_median_min is None else f"{people.aht_median_min:.1f}"
    words = MISS_WORDS[miss][0 if lang == "zh" else 1]
    return words.format(f=f"{people.aht_miss_factor:g}", m=median, n=f"{people.satisfaction_target_pct:g}")


def csv_windows(
    report: DayReport,
    lang: CsvLanguage | None = None,
    window_names: Mapping[str, str] | None = None,
    staff_names: Mapping[str, str] | None = None,
) -> str:
    """The per-window table: a header (in `lang` with units; None: the column ids), one row per window. A window by
    its id and configured name, its staff by their names (`staff_names`, else their ids); the misses in words."""
    windows, staff = window_names or {}, staff_names or {}
    return _people_csv(
        report,
        report.windows,
        WINDOW_COLUMNS,
        lang,
        lambda r: [r.id or "", windows.get(r.id or "", ""), _joined([staff.get(s, s) for s in r.staff], lang)],
    )


def csv_staff(
    report: DayReport,
    lang: CsvLanguage | None = None,
    window_names: Mapping[str, str] | None = None,
    staff_names: Mapping[str, str] | None = None,
) -> str:
    """The per-staff table, as `csv_windows`: a staff member by id and name (empty id: served at a window nobody
    signed in to), the windows they worked at by name."""
    windows, staff = window_names or {}, staff_names or {}
    return _people_csv(
        report,
        report.staff,
        STAFF_COLUMNS,
        lang,
        lambda r: [
            r.id or "",
            staff.get(r.id, r.id) if r.id else "",
            _joined([windows.get(w, w) for w in r.windows], lang),
        ],
    )


def _joined(names: list[str], lang: CsvLanguage | None) -> str:
    return ("、" if lang == "zh" else "; ").join(names)


def _people_csv(
    report: DayReport,
    people: People,
    columns: tuple[str, ...],
    lang: CsvLanguage | None,
    who: Callable[[Performance], list[str]],
) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns if lang is None else [PEOPLE_HEADERS[c][0 if lang == "zh" else 1] for c in columns])
    for r in people.rows:
        figures = [_cell(getattr(r, name)) for name in _FIGURES[:-1]]
        misses = " ".join(r.misses) if lang is None else _joined([miss_words(m, people, lang) for m in r.misses], lang)
        writer.writerow([_text(report.hall_id), *(_text(x) for x in who(r)), *figures, _text(misses)])
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()  # in the hall's zone, with its offset
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str):
        return _text(value)
    return str(value)


# A spreadsheet program takes a cell starting with one of these for a formula (OWASP, "CSV Injection"); a service
# code comes from a device, so `=HYPERLINK(…)` or `@SUM(…)` would run when a manager opens the report.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A text cell as a spreadsheet shows it and never evaluates: a leading single quote before a formula's first
    character. Only text goes through here: the figures stay numbers (a negative one too)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


__all__ = [
    "AHT_MISS_FACTOR",
    "BOOK_SCHEMA",
    "CSV_COLUMNS",
    "CSV_HEADERS",
    "DEFAULT_SILENT_AFTER_S",
    "MISS_WORDS",
    "PEOPLE_HEADERS",
    "SAMPLE_MIN",
    "SATISFACTION_TARGET_PCT",
    "SATISFIED_SCORE",
    "SILENT_AFTER_S",
    "STAFF_COLUMNS",
    "WAIT_BUCKETS_MIN",
    "WINDOW_COLUMNS",
    "CsvLanguage",
    "DayBook",
    "DayReport",
    "Kpis",
    "People",
    "Performance",
    "ServedFrom",
    "csv_daily",
    "csv_header",
    "csv_hourly",
    "csv_staff",
    "csv_windows",
    "miss_words",
]
