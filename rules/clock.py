"""Clocks, injected wherever time matters, so that tests freeze time and simulations run faster than life.

This module owns the `Clock` port and `FixedClock`, a clock that moves only when told to (for tests and replays).
It must not read the wall clock: `rules` is pure, and the clocks that do (`SystemClock`, `DeviceClock`) live in
`edge/clock.py`, where the gateway wires them in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)


__all__ = ["Clock", "FixedClock"]
