"""The real clocks the gateway runs on: they implement `rules.clock.Clock` by reading the box's clocks.

`SystemClock` is the wall clock. `DeviceClock` follows the devices' own timestamps: it is the newest plausible event
time seen, advanced between events at `speed` × wall time. A gateway fed by a sped-up simulator (or replaying a day)
uses it so that waits and idle times are measured in the hall's time, not the box's (it never runs more than a few
seconds ahead of the newest event). Tests use `rules.clock.FixedClock` instead. This module must not hold any other
state than the clocks' own: what time means to the rules is decided in `rules`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

MAX_OUTLIERS = 64  # devices whose clock is remembered as too far ahead, each by its latest report


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ClockSteps:
    """Forward steps of the box's wall clock (an NTP correction after a boot without time, a person setting the date):
    the wall time that passed beyond the real seconds of the monotonic clock since the last look. The gateway counts
    such a span as blind, not as the devices' silence: a step of five minutes must not call every device offline."""

    def __init__(self, threshold_s: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.threshold_s = threshold_s
        self._monotonic = monotonic
        self._last: tuple[datetime, float] | None = None

    def skipped(self, wall: datetime) -> tuple[datetime, datetime] | None:
        """The span [from, to) of wall time a forward step skipped since the last call, or None."""
        mono, last = self._monotonic(), self._last
        self._last = (wall, mono)
        if last is None:
            return None
        real_s = mono - last[1]
        if (wall - last[0]).total_seconds() - real_s <= self.threshold_s:
            return None
        return last[0] + timedelta(seconds=real_s), wall


class DeviceClock:
    """Hall time as the devices tell it: the newest plausible event time, advanced at `speed` between events.

    It runs on at most `max_lead_s` of hall time past the newest event: a source that falls behind (a loaded box,
    a paused replay) stalls the clock instead of letting it race ahead and make every device look silent.

    It follows only plausible, monotone time, so that one device with a wrong clock cannot move the hall (one
    heartbeat dated 2031 would take every device offline, open P1 tickets and expire the queue, for good). A time up
    to `max_jump_s` ahead of now is followed at once. A time further ahead is followed only once another device
    reports one that agrees with it within `max_jump_s` (each carried on at `speed` since it was reported), and then
    to the earlier of the two: a replay that skips a night moves on as soon as two devices speak. Until then it is
    that device's outlier, remembered (for `MAX_OUTLIERS` devices) and otherwise ignored. A time behind now is never
    followed: one late device must not rewind the hall.

    `max_jump_s` defaults to max(300 s, 60 s × speed). Five minutes of hall time cover what the devices may move
    the clock by in one step in life: a gateway restart or broker reconnect (the devices' times carry on meanwhile),
    an NTP step. In a simulation the same stall is minutes of wall time at `speed` (a restart of a few seconds at
    60× is minutes of hall time): a minute of wall time scaled by the speed. A wrong clock is off by hours or years.
    """

    def __init__(
        self,
        speed: float = 1.0,
        max_lead_s: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_jump_s: float | None = None,
    ) -> None:
        self.speed = speed
        self.max_lead_s = max_lead_s
        self.max_jump_s = max(300.0, 60.0 * speed) if max_jump_s is None else max_jump_s
        self._monotonic = monotonic
        self._anchor: datetime | None = None
        self._anchor_wall = 0.0
        # device → (the time it reported too far ahead, the wall time then); the oldest report first
        self._outliers: dict[str, tuple[datetime, float]] = {}

    def restore(self, at: datetime) -> None:
        """Move forward to a time the gateway trusts (the newest time in its log, at start), however far ahead.
        The first time the clock is told of is followed too, whoever tells it: a replay may start on any date."""
        if self._anchor is None or at > self.now():
            self._move(at)

    def observe(self, at: datetime, device_id: str | None = None) -> None:
        """Move forward to an event's time from `device_id`, if plausible (see the class); without a device the
        time is trusted (`restore`)."""
        if device_id is None or self._anchor is None:
            self.restore(at)
            return
        now = self.now()
        jump = timedelta(seconds=self.max_jump_s)
        if at <= now + jump:
            self._outliers.pop(device_id, None)  # its clock agrees with the hall's (again)
            if at > now:
                self._move(at)
            return
        self._outliers.pop(device_id, None)  # kept by its latest report, the oldest forgotten first
        self._outliers[device_id] = (at, self._monotonic())
        if len(self._outliers) > MAX_OUTLIERS:
            del self._outliers[next(iter(self._outliers))]
        agreeing = [t for d, t in self._outlier_times() if d != device_id and abs(t - at) <= jump]
        if agreeing:
            self._move(min(at, *agreeing))
            horizon = self.now() + jump  # the others still too far ahead stay outliers
            self._outliers = {d: self._outliers[d] for d, t in self._outlier_times() if t > horizon}

    @property
    def anchor(self) -> datetime | None:
        """The hall time it last followed (None: it has heard nothing yet and reads the wall clock)."""
        return self._anchor

    def now(self) -> datetime:
        if self._anchor is None:
            return datetime.now(UTC)
        ahead = min((self._monotonic() - self._anchor_wall) * self.speed, self.max_lead_s)
        return self._anchor + timedelta(seconds=ahead)

    def _outlier_times(self) -> list[tuple[str, datetime]]:
        """Each outlier device with where its clock is by now (its report carried on at `speed` since)."""
        wall = self._monotonic()
        return [(d, t + timedelta(seconds=(wall - then) * self.speed)) for d, (t, then) in self._outliers.items()]

    def _move(self, at: datetime) -> None:
        self._anchor = at
        self._anchor_wall = self._monotonic()
