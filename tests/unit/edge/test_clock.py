"""The device clock: hall time from the devices, running on between messages but never far ahead of them."""

from __future__ import annotations

from datetime import timedelta

from edge.clock import DeviceClock
from tests.unit.rules.feed import T0


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_follows_events_runs_on_at_speed_and_stalls_when_the_source_lags() -> None:
    wall = Wall()
    clock = DeviceClock(speed=60, max_lead_s=20, monotonic=wall)
    clock.observe(T0)
    wall.t += 0.25
    assert clock.now() == T0 + timedelta(seconds=15), "0.25 s of wall time is 15 s of hall time at 60×"
    wall.t += 10
    assert clock.now() == T0 + timedelta(seconds=20), "no further than 20 s past the newest message"
    clock.observe(T0 + timedelta(seconds=5))
    assert clock.now() == T0 + timedelta(seconds=20), "a late message does not rewind the hall"
    clock.observe(T0 + timedelta(seconds=30))
    assert clock.now() == T0 + timedelta(seconds=30)
