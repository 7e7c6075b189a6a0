"""Per-device message rates: a device that floods the gateway is refused beyond its share (`rate_limited`).

Owns `RateLimiter`: one token bucket per device, `rate` messages a second with room for a `burst` (a ticket machine
replaying the queue it kept through an outage sends hundreds at once, as the contract tells it to). Only devices the
hall has admitted get a bucket, so the buckets are as many as the devices (`ingest.max_devices`). Pure: no I/O, and
the time of each message is passed in (hall time, in seconds), so a simulated hall running faster than real time is
limited per second of its own time.

A refused message is counted, and kept as a dead letter only the first time in each second per device: a flood of a
thousand messages a second must not become a thousand dead-letter rows a second on the box's flash.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when `tokens` was last brought up to date
    kept_at: float = float("-inf")  # when a refused message of this device was last kept as a dead letter


class RateLimiter:
    """`take(device, now)` for every admitted message; False: over the device's rate, refuse it."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate {rate} must be > 0 and burst {burst} ≥ 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, device: str, now: float) -> bool:
        """Spend one message of `device`'s allowance at `now` (seconds); False if it has none left."""
        b = self._buckets.get(device)
        if b is None:
            b = self._buckets[device] = _Bucket(self.burst, now)
        elif now > b.at:  # a clock set back refills nothing (and takes nothing away)
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            return True
        return False

    def keep(self, device: str, now: float) -> bool:
        """Whether this refused message of `device` is the one of its second kept as a dead letter."""
        b = self._buckets[device]
        if now - b.kept_at >= 1.0 or now < b.kept_at:
            b.kept_at = now
            return True
        return False

    def forget(self, device: str) -> None:
        """A device retired: its allowance goes with it."""
        self._buckets.pop(device, None)


__all__ = ["RateLimiter"]
