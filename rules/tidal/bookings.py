"""Appointments (预约) as known future arrivals: the bookings the queue system published, which of them came, and when
the booked people are expected at the ticket machine.

Owns `Bookings` — fed `appointment.booked` / `appointment.cancelled` (book, cancel) and the arrivals of booked
people (`appointment.checked_in`, a `ticket.issued` of the appointment channel: arrived); it learns the share of
bookings that come (a booking not checked in `GRACE_MIN` after its slot ends is a no-show) and how early people come
relative to their slot, and answers `expected`: when, in minutes from now, the bookings of a service group are
expected to arrive (thinned by the share that comes), which projection.py adds to the walk-in arrivals it projects;
and `arrivals`: how many booked people came in the last 15 / 60 minutes, which it takes off the live counts so that
the walk-in rate is not counted twice.

Never trusts a device beyond its own identity: a booking belongs to the device that published it; another device
cannot move or cancel it (`refused`). Bounded: at most `MAX_PENDING` bookings waiting, none for a slot more than
`AHEAD_DAYS` ahead or already over (each refusal is counted by its reason). Pure: no I/O, no clock; every time is
passed in. The gateway learns it from the event log on start like the demand profile (edge/decisions/demand.py).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    TicketChannel,
    TicketIssued,
)

MAX_PENDING = 20_000  # bookings waiting for their visit: a city hall books a few hundred a day
MAX_PER_SLOT = 200  # bookings of one service starting in one 15-min slot: far above any window's capacity
MAX_DUE = 500  # booked people `expected` counts within one horizon, at most (the projection's work stays bounded)
AHEAD_DAYS = 14  # a booking further ahead is kept by the booking system, not here
GRACE_MIN = 30.0  # not checked in this long after the slot's end: a no-show
SHOW_PRIOR = (9.0, 1.0)  # (came, did not): 9 in 10 come until the hall's own bookings say otherwise
EARLY_PRIOR_MIN, EARLY_PRIOR_WEIGHT = 0.0, 5.0  # people come at the slot's start, until their own arrivals say
HISTORY_DAYS = 28  # the days the show share and the earliness are learned over
FEED_DAYS = 7  # a booking heard within this many days: the hall's bookings are known (else none are assumed)
_ARRIVED_KEEP = 4096  # appointment ids seen arriving (a check-in and its ticket count once)


@dataclass(frozen=True, slots=True)
class Booking:
    appointment_id: str
    service: str
    slot: float  # start, UNIX seconds
    slot_min: int
    by: str  # the device that published it: only it may move or cancel it
    booked_at: float


@dataclass(frozen=True, slots=True)
class ServiceBookings:
    """One service's appointments of one day, for the API and the floor."""

    service: str
    booked: int  # booked for the day (waiting, came, and no-shows)
    arrived: int
    waiting: int  # booked, not come yet, not past the grace
    no_show: int
    next_hour: int  # of those waiting: slots starting within the next hour


class Bookings:
    """The hall's appointments, learned from the booking events and the arrivals of the booked people."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self._tz = ZoneInfo(timezone)
        self._pending: dict[str, Booking] = {}
        self._arrivals: dict[str, deque[float]] = {}  # service → times people of known bookings came (the last hour)
        self._arrived_ids: dict[tuple[str, date], None] = {}  # (id, the day they came): ordered set, bounded
        self._per_slot: Counter[tuple[str, int]] = Counter()  # (service, 15-min slot) → bookings waiting
        self._days: dict[date, dict[str, Counter[str]]] = {}  # slot's day → service → booked/arrived/no_show
        self._early: deque[float] = deque(maxlen=2000)  # minutes before the slot's start people came (negative: late)
        self._last_heard: float | None = None
        self.refused: Counter[str] = Counter()  # reason → bookings and cancellations refused

    # -- input ------------------------------------------------------------------------------------------

    def learn(self, msg: DeviceMessage) -> str | None:
        """One event message: a booking, a cancellation, a booked person arriving (a check-in, or a ticket of the
        appointment channel); the reason a booking or cancellation was refused (None: taken, or not about one)."""
        p = msg.payload
        if isinstance(p, AppointmentBooked):
            return self.book(p.appointment_id, p.service, p.slot, p.slot_min, msg.device_id, msg.at)
        if isinstance(p, AppointmentCancelled):
            return self.cancel(p.appointment_id, msg.device_id)
        if isinstance(p, AppointmentCheckedIn) or (
            isinstance(p, TicketIssued) and p.channel is TicketChannel.APPOINTMENT
        ):
            self.arrived(p.appointment_id, p.service, msg.at)
        return None

    def book(
        self, appointment_id: str, service: str, slot: datetime, slot_min: int, by: str, at: datetime
    ) -> str | None:
        """A booking made or moved; the reason it was refused (None: kept)."""
        start, heard = slot.timestamp(), at.timestamp()
        old = self._pending.get(appointment_id)
        if old is not None and old.by != by:
            return self._refuse("not_owner")
        if (appointment_id, self._day_of(start)) in self._arrived_ids:
            return self._refuse("already_arrived")
        refused = None
        if start + (slot_min + GRACE_MIN) * 60 < heard:
            refused = "slot_over"
        elif start > heard + AHEAD_DAYS * 86400:
            refused = "too_far_ahead"
        elif old is None and len(self._pending) >= MAX_PENDING:
            refused = "too_many"
        elif self._per_slot[(service, _slot15(start))] >= MAX_PER_SLOT and (
            old is None or old.service != service or _slot15(old.slot) != _slot15(start)
        ):
            refused = "too_many_in_slot"
        if old is not None:  # moved (or moved where it cannot be kept): no longer at its old slot
            self._drop(old)
        if refused is not None:
            return self._refuse(refused)
        self._last_heard = heard if self._last_heard is None else max(self._last_heard, heard)
        booking = Booking(appointment_id, service, start, slot_min, by, heard)
        self._pending[appointment_id] = booking
        self._per_slot[(service, _slot15(start))] += 1
        self._tally(booking, "booked", 1)
        return None

    def cancel(self, appointment_id: str, by: str) -> str | None:
        """A booking withdrawn; the reason it was refused (None: done, or not known here)."""
        old = self._pending.get(appointment_id)
        if old is None:
            return None
        if old.by != by:
            return self._refuse("not_owner")
        self._drop(old)
        return None

    def arrived(self, appointment_id: str | None, service: str, at: datetime) -> None:
        """A booked person came (checked in, or took an appointment ticket); each appointment counts once."""
        t = at.timestamp()
        if appointment_id is None:
            return  # a booked person the book cannot match: the walk-ins' counts keep them
        key = (appointment_id, self._day_of(t))
        if key in self._arrived_ids:
            return
        self._arrived_ids[key] = None
        if len(self._arrived_ids) > _ARRIVED_KEEP:
            del self._arrived_ids[next(iter(self._arrived_ids))]
        booking = self._pending.get(appointment_id)
        if booking is None:
            return  # not booked here (another system, or refused): not taken off the walk-ins either
        self._drop(booking, counted=False)
        self._tally(booking, "arrived", 1)
        self._early.append(max(-booking.slot_min, min(booking.slot_min, (booking.slot - t) / 60)))
        times = self._arrivals.setdefault(booking.service, deque())
        times.append(t)
        while times and times[0] < t - 3600:
            times.popleft()

    def settle(self, now: datetime) -> int:
        """Bookings past their slot and the grace without a visit become no-shows; how many."""
        t = now.timestamp()
        gone = [b for b in self._pending.values() if b.slot + (b.slot_min + GRACE_MIN) * 60 < t]
        for b in gone:
            self._drop(b, counted=False)
            self._tally(b, "no_show", 1)
        oldest = (now.astimezone(self._tz) - timedelta(days=HISTORY_DAYS)).date()
        for d in [d for d in self._days if d < oldest]:
            del self._days[d]
        return len(gone)

    # -- what it knows ----------------------------------------------------------------------------------

    def active(self, now: datetime) -> bool:
        """Whether the hall's bookings are known: a booking was taken within `FEED_DAYS` (a refused one says
        nothing)."""
        return self._last_heard is not None and now.timestamp() - self._last_heard <= FEED_DAYS * 86400

    @property
    def show_share(self) -> float:
        """The share of bookings that come (learned over the last `HISTORY_DAYS`, starting from 9 in 10)."""
        came = sum(c["arrived"] for by in self._days.values() for c in by.values())
        missed = sum(c["no_show"] for by in self._days.values() for c in by.values())
        return (came + SHOW_PRIOR[0]) / (came + missed + SHOW_PRIOR[0] + SHOW_PRIOR[1])

    @property
    def early_min(self) -> float:
        """How many minutes before their slot's start booked people come, on average (negative: after it)."""
        return (sum(self._early) + EARLY_PRIOR_MIN * EARLY_PRIOR_WEIGHT) / (len(self._early) + EARLY_PRIOR_WEIGHT)

    def expected(self, services: Collection[str], now: datetime, minutes: float) -> tuple[float, ...]:
        """Minutes from `now` at which the group's waiting bookings are expected to arrive within `minutes` (at most
        `MAX_DUE`), soonest first, thinned by the chance each comes: the share that comes, and for one already late
        (its expected minute passed) less the later it is — nothing once its slot and the grace are over. Thinned
        deterministically: each booking adds its chance to a sum that starts at one half, a person arrives each time
        the sum passes a whole number (one booking of a 9-in-10 share is one person, ten are nine)."""
        t = now.timestamp()
        early = self.early_min
        wanted = set(services)
        share = self.show_share
        due: list[tuple[float, float]] = []  # (minutes from now, chance)
        for b in self._pending.values():
            if b.service not in wanted:
                continue
            at = (b.slot - t) / 60 - early
            if at >= minutes:
                continue
            if at >= 0:
                due.append((at, share))
                continue
            left = b.slot_min + GRACE_MIN + early  # minutes from the expected one to the end of the grace
            if left > 0 and -at < left:
                due.append((0.0, share * (1 + at / left)))  # late: less likely the later, none at the grace's end
        due.sort()
        acc, out = 0.5, []
        for m, chance in due:
            before = acc
            acc += chance
            if math.floor(acc + 1e-9) > math.floor(before + 1e-9):
                out.append(m)
                if len(out) >= MAX_DUE:
                    break
        return tuple(out)

    def per_hour(self, service: str, start: datetime, minutes: float) -> float:
        """The booked people of `service` expected in [start, start + minutes), per hour (a mean: each booking counts
        the share that comes) — for a plan made ahead, such as the lunch breaks'."""
        begin = start.timestamp() + self.early_min * 60
        end = begin + minutes * 60
        count = sum(1 for b in self._pending.values() if b.service == service and begin <= b.slot < end)
        return count * self.show_share * 60 / minutes

    def arrivals(self, service: str, now: datetime) -> tuple[int, int]:
        """People of `service` who came in the last 15 and 60 minutes for a booking the book held (those the
        projection expected as `expected`, not as walk-ins)."""
        t = now.timestamp()
        times = self._arrivals.get(service, ())
        return sum(1 for x in times if t - 900 <= x <= t), sum(1 for x in times if t - 3600 <= x <= t)

    def day(self, now: datetime, day: date | None = None) -> tuple[ServiceBookings, ...]:
        """Per service, the appointments of `day` (today by default), by service code."""
        local = now.astimezone(self._tz)
        day = day or local.date()
        t = now.timestamp()
        waiting: Counter[str] = Counter()
        soon: Counter[str] = Counter()
        for b in self._pending.values():
            if self._day_of(b.slot) == day:
                waiting[b.service] += 1
                if b.slot <= t + 3600:  # started (not come yet) or starting within the hour
                    soon[b.service] += 1
        counts = self._days.get(day, {})
        return tuple(
            ServiceBookings(
                service=s,
                booked=counts[s]["booked"] if s in counts else 0,
                arrived=counts[s]["arrived"] if s in counts else 0,
                waiting=waiting[s],
                no_show=counts[s]["no_show"] if s in counts else 0,
                next_hour=soon[s],
            )
            for s in sorted(set(counts) | set(waiting))
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _drop(self, b: Booking, counted: bool = True) -> None:
        """Take a booking out of those waiting (`counted`: and out of the day's booked, as withdrawn)."""
        del self._pending[b.appointment_id]
        key = (b.service, _slot15(b.slot))
        self._per_slot[key] -= 1
        if self._per_slot[key] <= 0:
            del self._per_slot[key]
        if counted:
            self._tally(b, "booked", -1)

    def _tally(self, b: Booking, what: str, n: int) -> None:
        self._days.setdefault(self._day_of(b.slot), {}).setdefault(b.service, Counter())[what] += n

    def _day_of(self, at: float) -> date:
        return datetime.fromtimestamp(at, self._tz).date()

    def _refuse(self, reason: str) -> str:
        self.refused[reason] += 1
        return reason


def _slot15(at: float) -> int:
    return int(at // 900)
