"""When the hall is open: opening-hours spans, named schedules, and working time counted on them.

    Span.parse("08:30-12:00")             the one reading of an "HH:MM-HH:MM" span (an end of 24:00 is midnight)
    Schedule                              a rule file's `schedules:` entry: weekdays, spans, holidays, make-up days
    in_schedule / span_start              is a local time inside a schedule, and since when (a rule's `during:`)
    WorkingCalendar                       working time on a schedule: SLA due times, time left today, next opening

A span lies within one day: it starts before it ends, and "24:00" (only as an end) is the midnight that ends the
day, so a schedule open all night is two spans ("20:00-24:00", "00:00-08:00") and a span never wraps past
midnight. The rule language parses spans once, when a file is validated; everything else reads `Span` objects.
Pure: no I/O, no clock of its own; times are passed in. It must not know about alerts, tickets or the hall.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from devices.units import WEEKDAYS, Weekday

_SPAN = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))")
_HORIZON_DAYS = 3660  # a calendar with no working time in ten years is a configuration mistake


# ---------------------------------------------------------------------------------------------- spans


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one day, e.g. 08:30–12:00. `end` None is 24:00, the midnight at the end of the day."""

    start: time
    end: time | None

    @classmethod
    def parse(cls, text: str) -> Span:
        """ "HH:MM-HH:MM", the start before the end; the end may be 24:00. ValueError otherwise."""
        m = _SPAN.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        start = time(int(m[1]), int(m[2]))
        end = None if m[5] else time(int(m[3]), int(m[4]))
        if end is not None and end <= start:
            raise ValueError(f"{text!r} does not start before it ends")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end is None else f'{self.end:%H:%M}'}"

    def contains(self, t: time) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    @property
    def length(self) -> timedelta:
        """Its length on a day without a clock change."""
        end = timedelta(days=1) if self.end is None else timedelta(hours=self.end.hour, minutes=self.end.minute)
        return end - timedelta(hours=self.start.hour, minutes=self.start.minute)

    def bounds(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        """Where it begins and ends on a local date (an end of 24:00 is the next day's midnight)."""
        begin = datetime.combine(day, self.start, tzinfo=tz)
        if self.end is None:
            return begin, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        return begin, datetime.combine(day, self.end, tzinfo=tz)


ALL_DAY = Span(time(0), None)


def _span(value: object) -> Span:
    if isinstance(value, Span):
        return value
    if not isinstance(value, str):
        raise ValueError('a span is a string "HH:MM-HH:MM"')
    return Span.parse(value)


# In a model: read from (and written back as) the "HH:MM-HH:MM" text, so a dumped file reads as it was written.
SpanText = Annotated[
    Span,
    PlainValidator(_span),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^HH:MM-HH:MM$", "examples": ["08:30-12:00", "13:30-24:00"]}),
]


# ---------------------------------------------------------------------------------------------- schedules


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: list[Weekday] = Field(default_factory=lambda: list(Weekday))
    hours: list[SpanText] = Field(default_factory=lambda: [ALL_DAY], description='e.g. ["08:30-12:00"]')
    holidays: list[date] = Field(default_factory=list, description="closed on these dates (public holidays)")
    workdays: list[date] = Field(default_factory=list, description="open on these dates (调休 make-up days)")

    @model_validator(mode="wrap")
    @classmethod
    def _hours(cls, data: Any, handler: ModelWrapValidatorHandler[Schedule]) -> Schedule:
        """A bad span is the schedule's problem (`schedules.open: hours '17:00-08:00' must be …`), reported once
        the other fields are valid, as a check across the whole entry."""
        hours = data.get("hours") if isinstance(data, dict) else None
        if isinstance(hours, list) and all(isinstance(h, str | Span) for h in hours):
            for h in hours:
                try:
                    _span(h)
                except ValueError:
                    handler({**data, "hours": []})  # the other fields' mistakes come first
                    raise ValueError(f"hours {h!r} must be HH:MM-HH:MM with the start before the end") from None
        return handler(data)


def _working_day(day: date, weekdays: Iterable[Weekday], holidays: Iterable[date], workdays: Iterable[date]) -> bool:
    """Open on `day`: one of the weekdays and not a public holiday, or a make-up workday (调休)."""
    return day not in holidays and (WEEKDAYS[day.weekday()] in weekdays or day in workdays)


def in_schedule(schedule: Schedule, local: datetime) -> bool:
    """`local` (in the schedule's time zone) falls on an open day, inside one of its spans."""
    if not _working_day(local.date(), schedule.weekdays, schedule.holidays, schedule.workdays):
        return False
    t = local.time()
    return any(span.contains(t) for span in schedule.hours)


def span_start(schedule: Schedule, local: datetime) -> datetime | None:
    """Start of the schedule period `local` falls in (None if it falls in none)."""
    if not in_schedule(schedule, local):
        return None
    t = local.time()
    begun = [span.start for span in schedule.hours if span.start <= t]
    if not begun:
        return None
    first = max(begun)
    return local.replace(hour=first.hour, minute=first.minute, second=0, microsecond=0)


# ---------------------------------------------------------------------------------------------- working time


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The hall's working time: a `Schedule` (weekdays, hours, public holidays, make-up workdays) in a time zone.

    SLA targets such as "1 working day" are counted on it, so that a fault reported on Friday afternoon is not
    overdue on Saturday, the lunch break does not count, and the National Day week is skipped. One working day is
    one day of the schedule's hours (08:30–12:00 + 13:30–17:30 = 7.5 h), so "1 working day" from Friday 16:00 ends
    on Monday at 16:00. Arithmetic is done in UTC, so a time zone with daylight saving counts real hours."""

    schedule: Schedule
    tz: tzinfo

    def is_working_day(self, day: date) -> bool:
        s = self.schedule
        return _working_day(day, s.weekdays, s.holidays, s.workdays)

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working spans of a local date, as UTC datetimes (none on a closed day)."""
        s = self.schedule
        return list(_spans(tuple(s.hours), tuple(s.weekdays), tuple(s.holidays), tuple(s.workdays), self.tz, day))

    @property
    def day_length(self) -> timedelta:
        """The working time of one ordinary working day: what "one working day" means."""
        return sum((span.length for span in self.schedule.hours), timedelta(0))

    def is_working(self, at: datetime) -> bool:
        return any(s <= at < e for s, e in self.spans(at.astimezone(self.tz).date()))

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The moment `amount` of working time after `start` (time outside the spans does not count).

        Ends exactly at a span's end when that is where the time runs out (17:30, not the next morning)."""
        if amount <= timedelta(0):
            return start.astimezone(self.tz)
        at, left = start.astimezone(UTC), amount
        day = start.astimezone(self.tz).date() - timedelta(days=1)  # a span of yesterday may run past midnight
        for _ in range(_HORIZON_DAYS):
            for s, e in self.spans(day):
                begin = max(s, at)
                if e <= begin:
                    continue
                if left <= e - begin:
                    return (begin + left).astimezone(self.tz)
                left -= e - begin
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working time in the next ten years")

    def add_days(self, start: datetime, days: float) -> datetime:
        """`days` working days after `start` (each one `day_length` of working time)."""
        return self.add(start, self.day_length * days)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end` (zero if `end` is not later)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for s, e in self.spans(day):
                overlap = min(e, end) - max(s, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def left_today(self, now: datetime) -> timedelta:
        """Working time between `now` and the end of its local day (the hall's remaining opening time today)."""
        local = now.astimezone(self.tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.tz)
        return self.between(now, midnight)

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the first span of a working day begins after `now` (the hall opens in the morning)."""
        day = now.astimezone(self.tz).date()
        for _ in range(_HORIZON_DAYS):
            spans = self.spans(day)
            if spans and spans[0][0] > now:
                return spans[0][0].astimezone(self.tz)
            day += timedelta(days=1)
        return None


@functools.lru_cache(maxsize=1024)
def _spans(
    hours: tuple[Span, ...],
    weekdays: tuple[Weekday, ...],
    holidays: tuple[date, ...],
    workdays: tuple[date, ...],
    tz: tzinfo,
    day: date,
) -> tuple[tuple[datetime, datetime], ...]:
    """WorkingCalendar.spans, remembered: ticket priorities ask it for every open ticket on every evaluation."""
    if not _working_day(day, weekdays, holidays, workdays):
        return ()
    out = []
    for span in hours:
        begin, finish = span.bounds(day, tz)
        out.append((begin.astimezone(UTC), finish.astimezone(UTC)))
    return tuple(sorted(out))


__all__ = [
    "ALL_DAY",
    "Schedule",
    "Span",
    "SpanText",
    "WorkingCalendar",
    "in_schedule",
    "joined",
    "span_start",
    "staffed",
]


def joined(shifts: Sequence[tuple[time, time]]) -> list[tuple[time, time]]:
    """The shifts in order, those that touch or overlap joined (08:30-12:00 and 12:00-13:30 are one stretch)."""
    out: list[tuple[time, time]] = []
    for start, end in sorted(shifts):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def staffed(shifts: Sequence[tuple[time, time]], start: time, end: time) -> bool:
    """Do `shifts` cover all of [start, end)?"""
    return any(a <= start and b >= end for a, b in joined(shifts))
