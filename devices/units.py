"""Units of time that people write in hallops files: weekdays and durations. Shared kernel.

Owns one definition of each: `Weekday` (and `WEEKDAYS`, indexed by `date.weekday()`) and `parse_duration`, the
one grammar of "90s", "20m", "1h30m", with the options in which its two kinds of file differ (a rule file: whole
numbers, zero allowed, a bare number means seconds; a simulator scenario: decimals, positive, strings only). It
lives in `devices` because every other package may import `devices` and nothing else (see `devices/errors.py`).

It must not know about any file format, pydantic model or clock: callers wrap these in their own validators.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

_WHOLE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DECIMAL = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
_EXAMPLES = '"90s", "20m", "2h" or "1h30m"'


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = tuple(Weekday)  # index = date.weekday()


def parse_duration(value: object, *, positive: bool = False, decimals: bool = False, numbers: bool = True) -> timedelta:
    """ "90s", "5m", "1h30m" (hours, minutes, seconds, in that order, each optional) → timedelta; ValueError otherwise.

    `positive`: zero is refused too. `decimals`: each part may have a fraction ("1.5h"). `numbers`: a bare number
    (int or float, never a bool) is a number of seconds; without it only strings are durations. A timedelta is
    taken as it is. An amount too large for a timedelta is a ValueError in words, never an OverflowError."""
    if isinstance(value, timedelta):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        if not (value > 0 if positive else value >= 0):  # NaN fails both
            least = "more than 0" if positive else "0 or more"
            raise ValueError(f"{value!r} is not a duration (a number of seconds is {least})")
        return _timedelta(value, 0, 0, value)
    if not isinstance(value, str):
        if numbers:
            raise ValueError(f"{value!r} is not a duration like {_EXAMPLES} or a number of seconds")
        raise ValueError(f"a duration is a string like {_EXAMPLES}")
    match = (_DECIMAL if decimals else _WHOLE).fullmatch(value.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like {_EXAMPLES}")
    try:  # int() refuses more than 4,300 digits; float() reads them as inf, which timedelta refuses below
        hours, minutes, seconds = (float(g or 0) if decimals else int(g or 0) for g in match.groups())
    except ValueError:
        raise ValueError(f"{value!r} is too long for a duration") from None
    result = _timedelta(value, hours, minutes, seconds)
    if positive and result <= timedelta(0):
        raise ValueError(f"{value!r}: a duration must be positive")
    return result


def _timedelta(value: object, hours: float, minutes: float, seconds: float) -> timedelta:
    try:
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # beyond 999,999,999 days, or infinite
        raise ValueError(f"{value!r} is too long for a duration") from None


__all__ = ["WEEKDAYS", "Weekday", "parse_duration"]
