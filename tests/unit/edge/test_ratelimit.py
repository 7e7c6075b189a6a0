"""Per-device message rates: a flooding device is held to its rate, with room for a replay's burst, and nobody
else pays for it. Times are passed in (seconds); no sleeps."""

from __future__ import annotations

import pytest

from edge.ratelimit import RateLimiter


def test_a_burst_passes_then_the_rate_holds() -> None:
    limit = RateLimiter(rate=10, burst=100)
    assert all(limit.take("QM-1", 0.0) for _ in range(100)), "a replay of 100 queued tickets passes at once"
    assert not limit.take("QM-1", 0.0), "the 101st in the same instant is over the rate"
    assert sum(limit.take("QM-1", 1.0) for _ in range(100)) == 10, "a second later: ten more"
    taken = sum(limit.take("QM-1", 1.0 + i / 1000) for i in range(1, 1001))  # 1,000 a second for a second
    assert taken == 10, "the rate refills ten a second, whatever the device sends"


def test_one_device_flooding_does_not_touch_another() -> None:
    limit = RateLimiter(rate=5, burst=5)
    for _ in range(50):
        limit.take("CAM-1", 0.0)
    assert limit.take("CAM-2", 0.0) and limit.take("QM-1", 0.0)


def test_a_clock_set_back_refills_nothing() -> None:
    limit = RateLimiter(rate=1, burst=2)
    assert limit.take("K1", 100.0) and limit.take("K1", 100.0)
    assert not limit.take("K1", 50.0), "going back in time is no allowance"
    assert not limit.take("K1", 100.5) and limit.take("K1", 101.0)


def test_one_dead_letter_a_second_per_device() -> None:
    limit = RateLimiter(rate=1, burst=1)
    limit.take("K1", 0.0)
    refused = [t / 10 for t in range(30) if not limit.take("K1", t / 10)]
    kept = [t for t in refused if limit.keep("K1", t)]
    assert len(refused) == 28, "one a second passes (at 1.0 and 2.0)"
    assert kept == [0.0, 1.1, 2.1], "one kept per second of refusals"


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (1, 0)])
def test_a_limit_that_lets_nothing_through_is_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimiter(rate, burst)
