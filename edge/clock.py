"""The real clocks the gateway runs on: they implement `rules.clock.Clock` by reading the box's clocks.

`SystemClock` is the wall clock. `DeviceClock` follows the devices' own timestamps: it is the newest event time
seen, advanced between events at `speed` × wall time. A gateway fed by a sped-up simulator (or replaying a day)
uses it so that waits and idle times are measured in the hall's time, not the box's (it never runs more than a few
seconds ahead of the newest event). Tests use `rules.clock.FixedClock` instead. This module must not hold any other
state than the clocks' own: what time means to the rules is decided in `rules`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class DeviceClock:
    """Hall time as the devices tell it: the newest event time, advanced at `speed` between events.

    It runs on at most `max_lead_s` of hall time past the newest event: a source that falls behind (a loaded box,
    a paused replay) stalls the clock instead of letting it race ahead and make every device look silent."""

    def __init__(
        self, speed: float = 1.0, max_lead_s: float = 20.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.speed = speed
        self.max_lead_s = max_lead_s
        self._monotonic = monotonic
        self._anchor: datetime | None = None
        self._anchor_wall = 0.0

    def observe(self, at: datetime) -> None:
        """Move forward to an event's time (never backwards: one late device must not rewind the hall)."""
        if self._anchor is None or at > self.now():
            self._anchor = at
            self._anchor_wall = self._monotonic()

    def now(self) -> datetime:
        if self._anchor is None:
            return datetime.now(UTC)
        ahead = min((self._monotonic() - self._anchor_wall) * self.speed, self.max_lead_s)
        return self._anchor + timedelta(seconds=ahead)
