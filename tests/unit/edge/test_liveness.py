"""What the web UI's header and banner say about the gateway's hearing (edge/liveness.py), on a fake monotonic
clock: the broker lost is broken at once, a silent open hall is stale after a minute, a quiet closed hall is not,
and the gateway's own deafness is never counted as the devices' silence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge.liveness import Cause, LinkState, Watch
from rules.schedule import Schedule

CST = timezone(timedelta(hours=8))
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
MONDAY_20 = datetime(2026, 11, 23, 20, 0, tzinfo=CST)
STALE_AFTER_S = 60.0  # ingest.stale_after_s
HALL_DAY = Schedule(weekdays=["mon", "tue", "wed", "thu", "fri"], hours=["08:00-18:00"])


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mono() -> Seconds:
    return Seconds()


def test_the_broker_lost_is_broken_at_once_and_says_since_when(mono: Seconds) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    mono.now += 5
    watch.heard(MONDAY_10 + timedelta(seconds=5))
    mono.now += 5
    assert watch.read(MONDAY_10, HALL_DAY, storage_error=False).state is LinkState.LIVE
    watch.connected(False, MONDAY_10 + timedelta(seconds=10))
    mono.now += 180
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert (seen.state, seen.cause, seen.broker_connected) == (LinkState.BROKEN, Cause.BROKER, False)
    assert seen.broker_since == MONDAY_10 + timedelta(seconds=10) and seen.broker_for_s == 180
    assert seen.device_at == MONDAY_10 + timedelta(seconds=5) and seen.device_age_s == 185  # the figures' time
    watch.connected(True, MONDAY_10 + timedelta(seconds=190))
    assert watch.read(MONDAY_10, HALL_DAY, storage_error=False).state is LinkState.LIVE


def test_before_the_first_connection_the_gateway_is_broken_and_knows_no_device_message(mono: Seconds) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    mono.now += 7
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert (seen.state, seen.cause, seen.broker_since, seen.broker_for_s) == (LinkState.BROKEN, Cause.BROKER, None, 7)
    assert (seen.device_at, seen.device_age_s) == (None, None)


def test_a_storage_fault_is_said_as_such_not_as_a_lost_broker(mono: Seconds) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    watch.connected(False, MONDAY_10)  # the gateway leaves the broker itself while the database refuses writes
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=True)
    assert (seen.state, seen.cause) == (LinkState.BROKEN, Cause.STORAGE)


@pytest.mark.parametrize(
    ("silent_s", "local", "opening", "state"),
    [
        (STALE_AFTER_S - 1, MONDAY_10, HALL_DAY, LinkState.LIVE),  # a heartbeat or two may be late
        (STALE_AFTER_S + 1, MONDAY_10, HALL_DAY, LinkState.STALE),  # the hall is open and nothing comes
        (3600, MONDAY_20, HALL_DAY, LinkState.LIVE),  # after closing, devices switched off are no fault
        (3600, MONDAY_10 + timedelta(days=5), HALL_DAY, LinkState.LIVE),  # Saturday
        (STALE_AFTER_S + 1, MONDAY_20, None, LinkState.STALE),  # no hall day in the rules: always open
    ],
)
def test_a_silent_hall_is_stale_only_while_it_is_open(
    mono: Seconds, silent_s: float, local: datetime, opening: Schedule | None, state: LinkState
) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    watch.heard(MONDAY_10)
    mono.now += silent_s
    seen = watch.read(local, opening, storage_error=False)
    assert seen.state is state
    assert seen.cause is (Cause.DEVICES if state is LinkState.STALE else None)
    assert seen.device_age_s == silent_s  # shown either way: a closed hall's quiet is told, not hidden
    assert seen.hall_open is (opening is None or local == MONDAY_10)


def test_the_time_the_gateway_was_deaf_is_not_the_devices_silence(mono: Seconds) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    watch.heard(MONDAY_10)
    watch.connected(False, MONDAY_10)
    mono.now += 600  # ten minutes without the broker
    watch.connected(True, MONDAY_10)
    mono.now += STALE_AFTER_S - 1  # what the broker queued and the next heartbeats are still on their way
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert seen.state is LinkState.LIVE and seen.device_age_s == 600 + STALE_AFTER_S - 1
    mono.now += 2
    assert watch.read(MONDAY_10, HALL_DAY, storage_error=False).state is LinkState.STALE
    watch.heard(MONDAY_10)
    assert watch.read(MONDAY_10, HALL_DAY, storage_error=False).state is LinkState.LIVE


def test_devices_that_talk_but_are_all_refused_are_not_said_to_be_silent(mono: Seconds) -> None:
    """A device in a loop over the rate limit, or devices the configuration does not know: messages keep coming and
    none is taken. Still stale — the figures do not move — but the cause says the gateway refuses what it hears, with
    the reason, so the technician looks at the dead letters, not at the devices' power."""
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    watch.heard(MONDAY_10)
    for _ in range(int(STALE_AFTER_S) + 5):  # a minute and more of refusals, one a second
        mono.now += 1
        watch.refused("unknown_device")
        watch.refused("rate_limited")
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert (seen.state, seen.cause) == (LinkState.STALE, Cause.REFUSED)
    assert (seen.refused_since_taken, seen.refused_reason) == (2 * (int(STALE_AFTER_S) + 5), "rate_limited")
    assert seen.device_age_s == STALE_AFTER_S + 5  # the figures are from the newest message taken

    # the refusals stop too: now nothing comes at all
    mono.now += STALE_AFTER_S + 1
    assert watch.read(MONDAY_10, HALL_DAY, storage_error=False).cause is Cause.DEVICES

    # one message taken: live, and the refusals before it are no longer the story
    watch.refused("rate_limited")
    watch.heard(MONDAY_10)
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert (seen.state, seen.cause, seen.refused_since_taken, seen.refused_reason) == (LinkState.LIVE, None, 0, None)


def test_a_few_refusals_beside_messages_taken_change_nothing(mono: Seconds) -> None:
    watch = Watch(STALE_AFTER_S, mono)
    watch.connected(True, MONDAY_10)
    for _ in range(10):
        mono.now += 1
        watch.heard(MONDAY_10)
        watch.refused("missing_field")
    seen = watch.read(MONDAY_10, HALL_DAY, storage_error=False)
    assert (seen.state, seen.cause, seen.refused_since_taken, seen.refused_reason) == (
        LinkState.LIVE,
        None,
        1,
        "missing_field",
    )
