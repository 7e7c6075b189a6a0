"""Whether what the web UI shows is current, as far as the gateway can tell: connected to the broker or not and since
when, when it last took a device message, and whether the hall is open now. `/api/health` carries it, and the live
stream sends it every second beside the hall snapshot, so every view's header and banner can say what is wrong.

    broken  the gateway does not hear the hall: no connection to the broker — or it left the broker itself because the
            database refuses writes (ingest paused)
    stale   connected, the hall open (the rules' `hall_day` schedule; always, without one), and no device message
            taken for `ingest.stale_after_s` (a minute: two missed heartbeats of every device), counted from the later
            of the newest message taken and the moment the broker answered: the gateway's own deafness is not the
            devices' silence. The cause says which: `devices` when nothing came, `refused` when messages did come
            within that time and every one was refused (a dead letter's reason: over the rate limit, an unknown
            device, a payload off the contract) — the devices talk, the gateway does not take what they say
    live    otherwise — outside opening hours a quiet hall is live, the age of its newest message still shown

Ages are real seconds on a monotonic clock, since a device-clock hall's time stops while its devices are quiet and
cannot measure their silence; the moments shown are hall time. The browser adds its own part of the chain (is the
stream open, how old is its last frame): this module must not guess it. It records and reads: no I/O, no asyncio.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rules.schedule import Schedule, in_schedule


class LinkState(StrEnum):
    LIVE = "live"
    STALE = "stale"
    BROKEN = "broken"


class Cause(StrEnum):
    """Why the state is not live."""

    BROKER = "broker"  # no connection to the broker
    STORAGE = "storage"  # ingest paused: the database refuses writes (the gateway left the broker until it takes them)
    DEVICES = "devices"  # connected, the hall open, and no device message for `stale_after_s`
    REFUSED = "refused"  # as DEVICES, but messages came meanwhile and each was refused (`refused_reason`: the newest's)


@dataclass(frozen=True, slots=True)
class Liveness:
    state: LinkState
    cause: Cause | None
    broker_connected: bool
    broker_since: datetime | None  # hall time of the last connect or loss; None: not connected since the start
    broker_for_s: float  # real seconds connected, or not (since the start, before the first connect)
    device_at: datetime | None  # hall time of the newest device message taken since the start
    device_age_s: float | None  # real seconds since it
    hall_open: bool
    stale_after_s: float
    refused_since_taken: int  # messages refused since the newest one taken (since the start, before the first)
    refused_reason: str | None  # the newest refused message's reason (a dead letter's), since the newest taken


class Watch:
    """The moments liveness is read from, as the gateway records them: `heard` on every device message it takes (the
    hot path: a few assignments), `refused` on every message it refuses, `connected` when the broker link comes up or
    goes down."""

    def __init__(self, stale_after_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.stale_after_s = stale_after_s
        self._connected = False
        self._broker_at: datetime | None = None
        self._broker_mono = monotonic()  # since the start, until the first connect
        self._heard_at: datetime | None = None
        self._heard_mono: float | None = None
        self._refused_mono = -math.inf  # the newest refusal's moment
        self._refused = 0
        self._refused_reason: str | None = None

    def heard(self, at: datetime) -> None:
        self._heard_at, self._heard_mono = at, self._monotonic()
        self._refused, self._refused_reason = 0, None

    def refused(self, reason: str) -> None:
        self._refused_mono, self._refused_reason = self._monotonic(), reason
        self._refused += 1

    def connected(self, up: bool, at: datetime) -> None:
        self._connected, self._broker_at, self._broker_mono = up, at, self._monotonic()

    def read(self, local_now: datetime, opening: Schedule | None, storage_error: bool) -> Liveness:
        """As of now; `local_now` is hall time in the hall's zone, `opening` the hall's day (None: always open)."""
        mono = self._monotonic()
        hall_open = opening is None or in_schedule(opening, local_now)
        age = None if self._heard_mono is None else mono - self._heard_mono
        state, cause = LinkState.LIVE, None
        if storage_error:
            state, cause = LinkState.BROKEN, Cause.STORAGE
        elif not self._connected:
            state, cause = LinkState.BROKEN, Cause.BROKER
        elif hall_open and mono - max(self._broker_mono, self._heard_mono or 0.0) > self.stale_after_s:
            state, cause = LinkState.STALE, Cause.DEVICES
            if self._refused and mono - self._refused_mono <= self.stale_after_s:
                cause = Cause.REFUSED
        return Liveness(
            state=state,
            cause=cause,
            broker_connected=self._connected,
            broker_since=self._broker_at,
            broker_for_s=round(mono - self._broker_mono, 1),
            device_at=self._heard_at,
            device_age_s=None if age is None else round(age, 1),
            hall_open=hall_open,
            stale_after_s=self.stale_after_s,
            refused_since_taken=self._refused,
            refused_reason=self._refused_reason,
        )
