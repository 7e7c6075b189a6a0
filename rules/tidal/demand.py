"""Demand (到达量与窗口画像): arrivals per service and the windows' usual hours per weekday × 15-min slot, learned
from the event log, and the live arrival rate blended with them.

Owns `DemandProfile`, `live_rate`, `blended_rate` and the slot (`SLOT_MIN`, which rules/kpi.py shares). Must not read
the event log itself or keep a clock: the gateway feeds it events, every time is passed in. Its saved format is in
persist.py.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.tidal.bookings import Bookings
from rules.tidal.persist import ProfileState, dump_profile, load_profile

SLOT_MIN = 15  # the demand profile's slot
SLOTS_PER_DAY = 24 * 60 // SLOT_MIN
LIVE_15M_HALF_WEIGHT = 8.0  # arrivals in the last 15 min at which the 15-min rate and the hour's rate weigh the same
LIVE_60M_HALF_WEIGHT = 12.0  # arrivals in the last hour at which the live rate and the profile weigh the same


class DemandProfile:
    """Arrivals per service and window hours per weekday × 15-min slot (到达量与窗口画像), learned from the event log.

    `add` every `ticket.issued` of the last weeks (whole days, in any order); `rate(service, at)` is the mean count
    in `at`'s slot over the last `weeks` days with the same weekday *before* `at`'s day (today is the live part),
    in arrivals per hour. A day counts once it has any ticket, so days the hall was closed do not dilute the mean.

    `window(window_id, is_open, at)` with every window status change (opened/resumed → open, paused/closed → not)
    learns when each window is usually staffed: `usually_open(window_id, at)` is the share of the same weekdays on
    which it was open at the middle of `at`'s slot. That is how the recommender sees a lunch break (错峰午休) coming
    before the windows pause, and the staff coming back before they resume.
    """

    def __init__(self, timezone: str = "Asia/Shanghai", weeks: int = 4) -> None:
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise ValueError(f"weeks must be a whole number ≥ 1, got {weeks!r}")
        self.timezone = timezone
        self.weeks = weeks
        self._tz = ZoneInfo(timezone)
        self._days: dict[date, dict[str, dict[int, int]]] = {}  # local date → service → slot → count
        self._appointments: dict[date, dict[str, dict[int, int]]] = {}  # … of which tickets of booked people
        self.bookings: Bookings | None = None  # the hall's appointments, when it knows them (the gateway sets it)
        self.split_known = True  # False: loaded from a profile saved before it learned the appointment tickets apart
        self._open_slots: dict[date, dict[str, set[int]]] = {}  # local date → window → slots open at their middle
        self._open_since: dict[str, datetime] = {}  # window → open since (an interval not ended yet)

    def add(self, service: str, issued_at: datetime, appointment: bool = False) -> None:
        """Count one issued ticket (`appointment`: of a booked person — counted in `rate` as every ticket, and apart
        for `walk_in_rate`). Days older than `weeks` + 1 weeks before the newest day are forgotten."""
        if issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")
        local = issued_at.astimezone(self._tz)
        day = local.date()
        if day not in self._days:
            cutoff = max([day, *self._days]) - timedelta(days=7 * (self.weeks + 1))
            if day < cutoff:
                return
            self._days[day] = {}
            for old in [d for d in self._days if d < cutoff]:
                del self._days[old]
                self._appointments.pop(old, None)
        slot = _slot(local)
        slots = self._days[day].setdefault(service, {})
        slots[slot] = slots.get(slot, 0) + 1
        if appointment:
            booked = self._appointments.setdefault(day, {}).setdefault(service, {})
            booked[slot] = booked.get(slot, 0) + 1

    def window(self, window_id: str, is_open: bool, at: datetime) -> None:
        """A window's status changed at `at` (in time order per window): open, or not (paused, closed)."""
        if at.tzinfo is None:
            raise ValueError("at must carry a time zone")
        if is_open:
            self._open_since.setdefault(window_id, at)
            return
        since = self._open_since.pop(window_id, None)
        if since is None:
            return
        start, end = since.astimezone(self._tz), at.astimezone(self._tz)
        day = start.date()
        newest = max([day, *self._open_slots], default=day)
        cutoff = newest - timedelta(days=7 * (self.weeks + 1))
        for old in [d for d in self._open_slots if d < cutoff]:
            del self._open_slots[old]
        if day < cutoff:
            return
        slots = self._open_slots.setdefault(day, {}).setdefault(window_id, set())
        first = _slot(start)
        middle = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=SLOT_MIN * (first + 0.5))
        slot = first if start <= middle else first + 1
        while slot < SLOTS_PER_DAY and middle + timedelta(minutes=SLOT_MIN * (slot - first)) <= end:
            slots.add(slot)
            slot += 1

    def usually_open(self, window_id: str, at: datetime) -> float | None:
        """Share of the last `weeks` same weekdays on which the window was open at the middle of `at`'s slot (None:
        no such day with any window history)."""
        local = at.astimezone(self._tz)
        today = local.date()
        days = sorted(d for d in self._open_slots if d.weekday() == today.weekday() and d < today)[-self.weeks :]
        if not days:
            return None
        slot = _slot(local)
        return sum(1 for d in days if slot in self._open_slots[d].get(window_id, ())) / len(days)

    def rate(self, service: str, at: datetime) -> float | None:
        """Arrivals per hour expected in `at`'s slot; None without a same-weekday day on which `service` was seen."""
        local = at.astimezone(self._tz)
        today = local.date()
        days = sorted(d for d in self._days if d.weekday() == today.weekday() and d < today)[-self.weeks :]
        if not any(service in self._days[d] for d in days):
            return None
        slot = _slot(local)
        total = sum(self._days[d].get(service, {}).get(slot, 0) for d in days)
        return total / len(days) * (60 / SLOT_MIN)

    def walk_in_rate(self, service: str, at: datetime) -> float | None:
        """`rate` without the tickets of booked people (which `bookings` tells ahead)."""
        total = self.rate(service, at)
        if total is None:
            return None
        local = at.astimezone(self._tz)
        today = local.date()
        days = sorted(d for d in self._days if d.weekday() == today.weekday() and d < today)[-self.weeks :]
        slot = _slot(local)
        booked = sum(self._appointments.get(d, {}).get(service, {}).get(slot, 0) for d in days)
        return max(0.0, total - booked / len(days) * (60 / SLOT_MIN))

    def closed_from(self, now: datetime, minutes: float) -> float | None:
        """Minutes from `now` to the first slot start within `minutes` in which no ticket of any service was issued
        on any of the same weekdays learned (the hall has closed: no more arrivals); None if there is none."""
        local = now.astimezone(self._tz)
        days = sorted(d for d in self._days if d.weekday() == local.date().weekday() and d < local.date())
        days = days[-self.weeks :]
        if not days:
            return None
        start = local.replace(second=0, microsecond=0) - timedelta(minutes=local.minute % SLOT_MIN)
        for k in range(1, math.ceil(minutes / SLOT_MIN) + 1):
            at = start + timedelta(minutes=SLOT_MIN * k)
            ahead = (at - local).total_seconds() / 60
            if ahead >= minutes or at.date() != local.date():
                break
            slot = _slot(at)
            if not any(slots.get(slot) for d in days for slots in self._days[d].values()):
                return ahead
        return None

    def rate_over(self, service: str, start: datetime, minutes: float, walk_in: bool = False) -> float | None:
        """Mean of `rate` (`walk_in_rate`) over the slots that [start, start + minutes) touches (None if none is
        known)."""
        steps = max(1, math.ceil(minutes / SLOT_MIN))
        of = self.walk_in_rate if walk_in else self.rate
        known = [r for k in range(steps) if (r := of(service, start + timedelta(minutes=SLOT_MIN * k))) is not None]
        return sum(known) / len(known) if known else None

    @property
    def days(self) -> tuple[date, ...]:
        """The days learned, oldest first."""
        return tuple(sorted(self._days))

    def dump(self) -> bytes:
        return dump_profile(
            ProfileState(
                timezone=self.timezone,
                weeks=self.weeks,
                days={
                    d: {svc: dict(sorted(slots.items())) for svc, slots in by_svc.items()}
                    for d, by_svc in sorted(self._days.items())
                },
                open_slots={
                    d: {w: sorted(slots) for w, slots in sorted(by_w.items())}
                    for d, by_w in sorted(self._open_slots.items())
                },
                open_since=dict(sorted(self._open_since.items())),
                appointments={
                    d: {svc: dict(sorted(slots.items())) for svc, slots in by_svc.items()}
                    for d, by_svc in sorted(self._appointments.items())
                },
            )
        )

    @classmethod
    def load(cls, data: bytes) -> DemandProfile:
        """A profile saved by `dump` (format 2) or by the release before (format 1)."""
        state = load_profile(data)
        profile = cls(state.timezone, state.weeks)
        profile._days = {d: {svc: dict(slots) for svc, slots in by_svc.items()} for d, by_svc in state.days.items()}
        profile._open_slots = {d: {w: set(xs) for w, xs in by_w.items()} for d, by_w in state.open_slots.items()}
        profile._open_since = dict(state.open_since)
        saved = state.appointments
        profile.split_known = saved is not None
        profile._appointments = {d: {s: dict(x) for s, x in by_svc.items()} for d, by_svc in (saved or {}).items()}
        return profile


def _slot(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // SLOT_MIN


def live_rate(arrivals_15m: int, arrivals_60m: int) -> float:
    """Arrivals per hour from the live counts: the 15-min rate weighs more the more arrivals it rests on.

    w = k15 / (k15 + 8); live = w·4·k15 + (1 − w)·k60. A Poisson count of k has a relative error of 1/√k, so a
    15-min rate from 2 arrivals is mostly noise, while one from 20 is current and trustworthy.
    """
    k15 = max(0, arrivals_15m)
    k60 = max(k15, arrivals_60m)
    w = k15 / (k15 + LIVE_15M_HALF_WEIGHT)
    return w * 4.0 * k15 + (1.0 - w) * k60


def blended_rate(arrivals_15m: int, arrivals_60m: int, profile_rate: float | None) -> float:
    """Arrivals per hour for planning: the live rate blended with the learned profile (research §4.6).

    live = `live_rate(k15, k60)`; with a profile p: v·live + (1 − v)·p, v = k60 / (k60 + 12). At hall volumes a
    15-min forecast is noise-dominated (WAPE ≈ 38 %) and an hour's live count of 12 is about as good (≈ 29 %), so
    the live stream takes over as the hour fills up; with no live arrivals the profile stands alone, and without a
    profile the live rate does.
    """
    live = live_rate(arrivals_15m, arrivals_60m)
    if profile_rate is None:
        return live
    k60 = max(0, arrivals_15m, arrivals_60m)
    v = k60 / (k60 + LIVE_60M_HALF_WEIGHT)
    return v * live + (1.0 - v) * max(0.0, profile_rate)
