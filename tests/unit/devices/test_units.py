"""Weekdays and durations as people write them: one parser, two grammars (a rule file's, a scenario's), and the worst
values a file could hold. Every refusal is a ValueError in words, never a crash."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from devices.simulator.scenario import parse_duration as scenario_duration
from devices.units import WEEKDAYS, Weekday, parse_duration
from rules.language import parse_duration as rule_duration

S = timedelta(seconds=1)
NO = None  # refused

DURATIONS = [
    # (value, as a rule file reads it, as a scenario reads it)
    ("90s", 90 * S, 90 * S),
    ("5m", 300 * S, 300 * S),
    ("1h30m", 5400 * S, 5400 * S),
    (" 20m ", 1200 * S, 1200 * S),
    ("1h0m5s", 3605 * S, 3605 * S),
    ("0m", timedelta(0), NO),  # a rule's `for: 0m` is "at once"; a scenario's durations are positive
    ("0.0s", NO, NO),
    ("1.5h", NO, 5400 * S),  # fractions: scenarios only
    ("0.5m", NO, 30 * S),
    (45, 45 * S, NO),  # a bare number of seconds: rule files only
    (1.5, 1.5 * S, NO),
    (0, timedelta(0), NO),
    (-1, NO, NO),
    (True, NO, NO),
    (math.nan, NO, NO),
    (math.inf, NO, NO),
    (10**20, NO, NO),  # more days than a timedelta holds
    ("", NO, NO),
    ("0", NO, NO),
    ("10", NO, NO),  # a number in a string has no unit
    ("-1m", NO, NO),
    ("1e309s", NO, NO),
    ("99999999999999999999d", NO, NO),  # no unit d
    ("99999999999999999999h", NO, NO),
    ("9" * 5000 + "s", NO, NO),  # more digits than int() reads
    ("5 m", NO, NO),
    ("m", NO, NO),
    ("5M", NO, NO),
    ("30m1h", NO, NO),  # hours, minutes, seconds, in that order
    (None, NO, NO),
    ([], NO, NO),
    ({}, NO, NO),
]


@pytest.mark.parametrize(("value", "rule", "scenario"), DURATIONS, ids=[repr(d[0])[:24] for d in DURATIONS])
def test_each_file_reads_a_duration_as_it_always_has(
    value: object, rule: timedelta | None, scenario: timedelta | None
) -> None:
    for parse, expected in ((rule_duration, rule), (scenario_duration, scenario)):
        if expected is None:
            with pytest.raises(ValueError, match="duration"):
                parse(value)
        else:
            assert parse(value) == expected


def test_the_rule_grammar_is_the_default_and_the_options_combine() -> None:
    assert rule_duration is parse_duration
    assert parse_duration("1.5h", decimals=True) == timedelta(minutes=90)
    assert parse_duration(90, positive=True) == 90 * S
    with pytest.raises(ValueError, match="more than 0"):
        parse_duration(0, positive=True)
    with pytest.raises(ValueError, match="is a string like"):
        parse_duration(90, numbers=False)
    assert parse_duration(timedelta(minutes=-5), positive=True) == timedelta(minutes=-5), "taken as it is"


def test_refusals_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="'soon' is not a duration like \"90s\""):
        parse_duration("soon")
    with pytest.raises(ValueError, match="'0m': a duration must be positive"):
        scenario_duration("0m")
    with pytest.raises(ValueError, match="too long for a duration"):
        parse_duration("99999999999999999999h")


def test_weekdays_are_indexed_by_date_weekday() -> None:
    assert WEEKDAYS[date(2026, 11, 23).weekday()] is Weekday.MON
    assert WEEKDAYS[date(2026, 11, 29).weekday()] is Weekday.SUN
    assert [str(d) for d in WEEKDAYS] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
