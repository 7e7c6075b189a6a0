"""Forward steps of the box's wall clock, told apart from real time by the monotonic clock (edge/clock.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.clock import ClockSteps

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


def test_a_forward_step_is_the_span_the_wall_clock_skipped_beyond_real_time() -> None:
    mono = Ticks()
    steps = ClockSteps(threshold_s=5, monotonic=mono)
    assert steps.skipped(T0) is None  # the first look: nothing to compare
    mono.s += 1
    assert steps.skipped(T0 + timedelta(seconds=1)) is None  # a second passed, a second shown
    mono.s += 1
    jumped = T0 + timedelta(minutes=5, seconds=2)
    assert steps.skipped(jumped) == (T0 + timedelta(seconds=2), jumped)
    mono.s += 1
    assert steps.skipped(jumped + timedelta(seconds=1)) is None  # after the step, real time again


def test_small_drift_a_slow_loop_and_backward_steps_are_not_steps() -> None:
    mono = Ticks()
    steps = ClockSteps(threshold_s=5, monotonic=mono)
    steps.skipped(T0)
    mono.s += 60  # a loop that looked a minute later: the wall clock moved as much
    assert steps.skipped(T0 + timedelta(seconds=60)) is None
    mono.s += 1
    assert steps.skipped(T0 + timedelta(seconds=65)) is None  # 4 s of correction: under the threshold
    mono.s += 1
    assert steps.skipped(T0) is None  # backwards: the devices just look fresher
