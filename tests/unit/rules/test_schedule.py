"""Opening hours: how a span is read, when a schedule is open and since when, and working time counted on it.

Tables over pure functions (hall time, UTC+8; Monday 2026-11-23); no sleeps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from pydantic import ValidationError

from rules.schedule import ALL_DAY, Schedule, Span, WorkingCalendar, in_schedule, span_start

CST = timezone(timedelta(hours=8))
MON, FRI, SAT = date(2026, 11, 23), date(2026, 11, 27), date(2026, 11, 28)
SWAP_SUN, SWAP_MON = date(2026, 11, 29), date(2026, 11, 30)  # 调休: work on Sunday, the Monday is a holiday


def at(day: date, hhmm: str) -> datetime:
    h, m, *s = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, *s, tzinfo=CST)


OPENING = Schedule.model_validate(
    {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours": ["08:30-12:00", "13:30-17:30"]}
)
SWAPPED = Schedule.model_validate({**OPENING.model_dump(), "holidays": [SWAP_MON], "workdays": [SWAP_SUN]})
NIGHT = Schedule.model_validate({"hours": ["20:00-24:00", "00:00-06:00"]})  # every day, overnight as two spans
ALWAYS = Schedule()


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("08:30-12:00", time(8, 30), time(12, 0)),
        ("00:00-24:00", time(0), None),
        ("23:59-24:00", time(23, 59), None),
        ("00:00-00:01", time(0), time(0, 1)),
    ],
)
def test_a_span_is_read_once_and_written_back_as_it_was(text: str, start: time, end: time | None) -> None:
    span = Span.parse(text)
    assert (span.start, span.end) == (start, end)
    assert str(span) == text


@pytest.mark.parametrize(
    "text",
    [
        "17:00-08:00",  # over midnight: the language has no such span; write two ("17:00-24:00", "00:00-08:00")
        "08:00-08:00",  # empty
        "24:00-24:00",  # 24:00 only ends a day
        "08:00-24:30",  # past the end of the day
        "08:60-09:00",
        "25:00-26:00",
        "8:30-12:00",
        "08:30 - 12:00",
        "08:30-12:00\n",
        "08:30",
        "",
    ],
)
def test_a_span_that_is_not_within_one_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM-HH:MM|does not start before it ends"):
        Span.parse(text)
    with pytest.raises(ValidationError, match="must be HH:MM-HH:MM with the start before the end"):
        Schedule.model_validate({"hours": [text]})


def test_a_schedule_dumps_its_spans_as_the_text_of_the_file() -> None:
    assert OPENING.model_dump(mode="json")["hours"] == ["08:30-12:00", "13:30-17:30"]
    assert ALWAYS.hours == [ALL_DAY] and ALWAYS.model_dump()["hours"] == ["00:00-24:00"]
    assert '"hours":["08:30-12:00","13:30-17:30"]' in OPENING.model_dump_json()  # rule keys compare this text


OPEN_AT = [
    # (schedule, local time, open, the start of the period it falls in)
    (OPENING, at(MON, "08:29:59"), False, None),
    (OPENING, at(MON, "08:30"), True, at(MON, "08:30")),
    (OPENING, at(MON, "11:59:59"), True, at(MON, "08:30")),
    (OPENING, at(MON, "12:00"), False, None),  # an end is not inside its span
    (OPENING, at(MON, "12:45"), False, None),  # lunch
    (OPENING, at(MON, "14:10:30"), True, at(MON, "13:30")),
    (OPENING, at(MON, "17:30"), False, None),
    (OPENING, at(SAT, "10:00"), False, None),
    (OPENING, at(SWAP_SUN, "10:00"), False, None),
    (SWAPPED, at(SWAP_SUN, "10:00"), True, at(SWAP_SUN, "08:30")),  # a make-up working Sunday
    (SWAPPED, at(SWAP_MON, "10:00"), False, None),  # the public holiday it pays for
    (SWAPPED, at(FRI, "10:00"), True, at(FRI, "08:30")),
    (NIGHT, at(MON, "19:59"), False, None),
    (NIGHT, at(MON, "20:00"), True, at(MON, "20:00")),
    (NIGHT, at(MON, "23:59:59"), True, at(MON, "20:00")),  # 24:00: open to the very end of the day
    (NIGHT, at(MON, "00:00"), True, at(MON, "00:00")),  # past midnight is the next day's own span
    (NIGHT, at(MON, "06:00"), False, None),
    (ALWAYS, at(SAT, "00:00"), True, at(SAT, "00:00")),
    (ALWAYS, at(SAT, "23:59:59"), True, at(SAT, "00:00")),
]


@pytest.mark.parametrize(("schedule", "local", "is_open", "since"), OPEN_AT)
def test_when_a_schedule_is_open_and_since_when(
    schedule: Schedule, local: datetime, is_open: bool, since: datetime | None
) -> None:
    assert in_schedule(schedule, local) is is_open
    assert span_start(schedule, local) == since
    calendar = WorkingCalendar(schedule, CST)
    assert calendar.is_working(local) is is_open, "the working calendar reads the same spans"


CALENDAR = [
    # (schedule, day, the day's working spans in hall time)
    (OPENING, MON, [("08:30", "12:00"), ("13:30", "17:30")]),
    (OPENING, SAT, []),
    (SWAPPED, SWAP_SUN, [("08:30", "12:00"), ("13:30", "17:30")]),
    (SWAPPED, SWAP_MON, []),
    (NIGHT, MON, [("00:00", "06:00"), ("20:00", "24:00")]),
    (ALWAYS, SAT, [("00:00", "24:00")]),
]


@pytest.mark.parametrize(("schedule", "day", "spans"), CALENDAR)
def test_the_working_spans_of_a_day(schedule: Schedule, day: date, spans: list[tuple[str, str]]) -> None:
    def moment(hhmm: str) -> datetime:
        return at(day + timedelta(days=1), "00:00") if hhmm == "24:00" else at(day, hhmm)

    expected = [(moment(a).astimezone(UTC), moment(b).astimezone(UTC)) for a, b in spans]
    calendar = WorkingCalendar(schedule, CST)
    assert calendar.spans(day) == expected
    assert calendar.is_working_day(day) is bool(spans)


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [(OPENING, 7.5), (NIGHT, 10), (ALWAYS, 24), (Schedule.model_validate({"hours": ["13:30-24:00"]}), 10.5)],
)
def test_one_working_day_is_the_length_of_the_schedules_spans(schedule: Schedule, hours: float) -> None:
    assert WorkingCalendar(schedule, CST).day_length == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("schedule", "start", "amount", "due"),
    [
        (NIGHT, at(MON, "23:00"), timedelta(hours=2), at(MON + timedelta(1), "01:00")),  # on across midnight
        (NIGHT, at(MON, "05:00"), timedelta(hours=2), at(MON, "21:00")),  # the day's gap skipped
        (SWAPPED, at(FRI, "17:00"), timedelta(hours=1), at(SWAP_SUN, "09:00")),  # the make-up Sunday counts
        (SWAPPED, at(SWAP_SUN, "17:00"), timedelta(hours=1), at(SWAP_MON + timedelta(1), "09:00")),  # holiday not
    ],
)
def test_working_time_runs_on_the_spans_only(
    schedule: Schedule, start: datetime, amount: timedelta, due: datetime
) -> None:
    calendar = WorkingCalendar(schedule, CST)
    assert calendar.add(start, amount) == due
    assert calendar.between(start, due) == amount


def test_the_next_opening_skips_the_holiday_and_takes_the_make_up_day() -> None:
    calendar = WorkingCalendar(SWAPPED, CST)
    assert calendar.next_opening(at(FRI, "18:00")) == at(SWAP_SUN, "08:30")
    assert calendar.next_opening(at(SWAP_SUN, "09:00")) == at(SWAP_MON + timedelta(1), "08:30")
