"""The box's clock stepped forward five minutes and then back, as NTP steps a clock that drifted (or a box that booted
with a wrong clock), while the city hall talks. The gateway is a real process on the box's clock (`clock: system`)
whose wall clock is moved by Debian's libfaketime (its monotonic clock left alone, as a real step leaves it); the
devices keep the true time. Every acknowledged QoS 1 event is stored once, no notification is told twice, no device
that kept talking is called offline (the skipped time is blind, edge/clock.py `ClockSteps`), and the gateway never
exits; and as the clock steps back, what the gateway queued to tell just before the step is told at once and in its
place, not five minutes late after what came next.

tests/system/test_clock_back.py proves a device clock taken back to the hall's day decides as if it had never moved.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.reliability.conftest import RECOVERY_S, Hall, city_slice
from tests.reliability.scenario import Record, check_notifications
from tests.reliability.test_broker_and_gateway import gone


def r_data(r: Record) -> bool:
    """Every acknowledged event stored once, no crash, back in time (the alerts are checked apart)."""
    assert r.acked > 0 and r.stored == r.acked, f"{r.lost} acknowledged QoS 1 events lost"
    assert r.doubled_events == 0, f"{r.doubled_events} events stored twice"
    assert r.crashes == 0, r.note
    assert all(s <= RECOVERY_S for s in r.recovery_s), r.recovery_s
    return True


CST = timezone(timedelta(hours=8))
MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=CST)
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"  # Debian package libfaketime (the test command installs it)
STEP = "+5m"
SETTLE_S = 8.0  # libfaketime reads the step within a second; the rules run every second


def test_the_box_clock_steps_forward_and_back_under_city_traffic(
    hall: Callable[..., Hall], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = glob.glob(LIBFAKETIME)
    assert libs, "libfaketime is not installed: scripts/setup.sh test installs it (apt-get install libfaketime)"
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    for name, value in {
        "LD_PRELOAD": libs[0],
        "FAKETIME_TIMESTAMP_FILE": str(offset),  # re-read once a second: the step is a write to this file
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }.items():
        monkeypatch.setenv(name, value)
    h = hall()  # the gateway process inherits them; nothing else is started while they are set
    monkeypatch.undo()

    msgs = city_slice(MORNING, 5)
    h.play(msgs)
    record = Record(f"box clock {STEP}, then back")
    for i, step in enumerate((STEP, "+0")):
        h.progress(len(msgs) * (i + 1) // 3)
        began = time.monotonic()
        offset.write_text(step + "\n")
        time.sleep(SETTLE_S)
        assert h.running(), f"the gateway exited when its clock stepped to {step}"
        record.recovery_s.append(round(h.recovered(time.monotonic()), 2))
        h.faults.append((began, time.monotonic()))
    h.finish(record)
    record.alerts_expected, record.alerts_raised, wrong = h.alerts(gone(msgs))

    told = check_notifications(h.told)
    assert told.without_id == 0, "a notification without an id"
    # a forward step is blind time, not the devices' silence (edge/clock.py ClockSteps): no device that kept talking
    # is called offline (157 were before the fix), the probe printer's alerts as asked, the data intact
    assert r_data(record)
    assert not wrong, wrong
    # and nothing is told twice as the clock steps back: a notice queued just before the step went out five minutes
    # late, after the next episode's (edge/outbox.py `_follow_clock`; once in a clean-clone run before the fix)
    assert told.doubled == 0, f"{told.doubled} alerts told twice under two ids: {told.examples}"
