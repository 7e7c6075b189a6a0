"""The device clock: hall time from the devices, running on between messages but never far ahead of them, and never
moved by one device with a wrong clock (issue 16)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from edge.clock import MAX_OUTLIERS, DeviceClock
from tests.unit.edge.conftest import Wall
from tests.unit.rules.feed import T0

Y2031 = T0.replace(year=2031)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


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


# (name, [(wall seconds later, event time, device)], the hall's time after them); speed 1, the wall still between
# the last two so that the clock reads exactly the time it follows
Step = tuple[float, datetime, str]
CASES: list[tuple[str, list[Step], datetime]] = [
    ("one heartbeat dated 2031 does not move the hall", [(0, T0, "tm1"), (0, Y2031, "k1")], T0),
    (
        "nor does it stop the hall following the others",
        [(0, T0, "tm1"), (0, Y2031, "k1"), (0, s(5), "tm1"), (0, s(9), "tm2")],
        s(9),
    ),
    ("nor the same device saying it twice", [(0, T0, "tm1"), (0, Y2031, "k1"), (0, Y2031 + timedelta(1), "k1")], T0),
    (
        "two devices agreeing on a jump move it, to the earlier of the two",
        [(0, T0, "tm1"), (0, s(7200), "k1"), (0, s(7230), "k2")],
        s(7200),
    ),
    (
        "two devices far apart do not",
        [(0, T0, "tm1"), (0, s(7200), "k1"), (0, s(18000), "k2")],
        T0,
    ),
    (
        "a far time is carried on at speed until another device agrees",
        [(0, T0, "tm1"), (0, s(7200), "k1"), (1000, s(8200), "k2")],
        s(8200),
    ),
    (
        "a device whose clock came right is no outlier any more",
        [(0, T0, "tm1"), (0, s(7200), "k1"), (0, s(1), "k1"), (0, s(7200), "k2")],
        s(1),
    ),
    ("a small step is followed at once", [(0, T0, "tm1"), (0, s(299), "k1")], s(299)),
    ("a late message does not rewind it", [(0, T0, "tm1"), (0, s(60), "k1"), (0, s(30), "k2")], s(60)),
    ("the first time it hears of is followed (a replay may start on any date)", [(0, Y2031, "k1")], Y2031),
]


@pytest.mark.parametrize(("name", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_only_plausible_monotone_time_moves_the_hall(name: str, steps: list[Step], expected: datetime) -> None:
    wall = Wall()
    clock = DeviceClock(speed=1, max_lead_s=0, monotonic=wall)
    for later, at, device in steps:
        wall.t += later
        clock.observe(at, device)
    assert clock.now() == expected


@pytest.mark.parametrize(
    ("speed", "step_s", "followed"),
    [
        (1, 300, True),  # five minutes of hall time: a restart, a reconnect, an NTP step
        (1, 301, False),
        (5, 301, False),  # up to 5×, still the five minutes
        (10, 600, True),  # beyond, a minute of wall time at the speed
        (10, 601, False),
        (60, 3600, True),  # at 60×, a minute of wall time (a restart of the simulated hall's gateway)
        (60, 3601, False),
        (600, 36000, True),
    ],
)
def test_how_far_one_device_may_move_it_scales_with_the_speed(speed: float, step_s: float, followed: bool) -> None:
    clock = DeviceClock(speed=speed, max_lead_s=0, monotonic=Wall())
    clock.observe(T0, "tm1")
    clock.observe(s(step_s), "k1")
    assert clock.now() == (s(step_s) if followed else T0)


def test_the_gateways_own_log_is_trusted() -> None:
    """At start the gateway resumes at the newest time it logged, however far past the first device it heard."""
    clock = DeviceClock(speed=1, max_lead_s=0, monotonic=Wall())
    clock.observe(T0, "tm1")
    clock.restore(s(3 * 3600))
    assert clock.now() == s(3 * 3600)
    clock.observe(s(6 * 3600))  # without a device: trusted, as the gateway called it before issue 16
    assert clock.now() == s(6 * 3600)
    clock.restore(T0)
    assert clock.now() == s(6 * 3600), "never backwards, trusted or not"


def test_an_outlier_is_forgotten_after_many_newer_ones() -> None:
    """What the clock remembers stays bounded: a device heard too far ahead long ago, behind `MAX_OUTLIERS` newer
    outliers of other devices (each on a date of its own), no longer makes a second device's jump agree."""
    clock = DeviceClock(speed=1, max_lead_s=0, monotonic=Wall())
    clock.observe(T0, "tm1")
    clock.observe(s(7200), "k1")
    for i in range(MAX_OUTLIERS):
        clock.observe(Y2031 + timedelta(days=i), f"bad{i}")
    clock.observe(s(7210), "k2")
    assert clock.now() == T0
