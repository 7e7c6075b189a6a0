"""The broker restarted (SIGTERM, then SIGKILL) and the gateway killed (`kill -9`) five times, each while the city hall
talks: every QoS 1 event the broker acknowledged to a device is stored once, no notification is told twice under two
ids (a repeat carries its id), the alerts are the ones the hall asked for (a printer that runs low again and again:
one alert per low spell; no `device-offline` for a device that kept talking), the gateway never exits on its own,
and it is back — health `ok`, the broker connected, ingest moving — within RECOVERY_S of each fault's end.

tests/integration/test_broker_crash.py proves the deploy config's broker keeps a session through a crash (a ticket
stream); test_restart_grace.py that restarts do not make a talking device look offline (its own rule). Here it is the
whole city hall's traffic (160 devices, its commands answered) through the city hall's configuration and rule pack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from devices.simulator import SimMessage
from edge.broker import MosquittoProcess
from tests.reliability.conftest import RECOVERY_S, Hall, city_slice
from tests.reliability.scenario import Record

CST = timezone(timedelta(hours=8))
MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=CST)  # a Monday's busy hour
KILLS = 5
DOWN_S = 2.0


def gone(msgs: list[SimMessage]) -> list[str]:
    """The devices that go away in the slice (their last will): the only ones `device-offline` may name. (From 09:30
    the city's TM03 is away: the scenario's ticket machine that dies at 09:20.)"""
    return sorted(m.device_id for m in msgs if m.kind == "disconnect")


def assert_reliable(r: Record, wrong_alerts: list[str]) -> None:
    assert r.acked > 0 and r.stored == r.acked, f"{r.lost} acknowledged QoS 1 events lost"
    assert r.doubled_events == 0, f"{r.doubled_events} events stored twice"
    assert r.notifications > 0 and r.duplicates_without_id == 0, "a notification without an id, or told twice"
    assert wrong_alerts == []
    assert r.crashes == 0, r.note
    assert all(s <= RECOVERY_S for s in r.recovery_s), r.recovery_s


def test_broker_restarts_under_city_traffic(hall: Callable[..., Hall], broker: MosquittoProcess) -> None:
    h = hall()
    msgs = city_slice(MORNING, 5)
    h.play(msgs)
    record = Record("broker SIGTERM + SIGKILL")
    for i, signal in enumerate(("TERM", "KILL")):
        h.progress(len(msgs) * (i + 1) // 3)
        h.sample()
        began = time.monotonic()
        broker.stop() if signal == "TERM" else broker.kill()
        time.sleep(DOWN_S)
        broker.start()
        record.recovery_s.append(round(h.recovered(time.monotonic()), 2))
        h.faults.append((began, time.monotonic()))
        assert h.running(), "the gateway exited while the broker was away"
    h.finish(record)
    record.alerts_expected, record.alerts_raised, wrong = h.alerts(gone(msgs))
    if h.fired("broker-session-lost"):
        wrong.append("broker-session-lost: the deploy config's broker keeps the gateway's session")

    assert_reliable(record, wrong)


def test_gateway_kill9_in_a_loop_under_city_traffic(hall: Callable[..., Hall]) -> None:
    h = hall()
    msgs = city_slice(MORNING, 6)
    h.play(msgs)
    record = Record(f"gateway kill -9 × {KILLS}")
    for i in range(KILLS):
        h.progress(len(msgs) * (i + 1) // (KILLS + 2))
        h.sample()
        began = time.monotonic()
        h.gw.kill9()
        time.sleep(DOWN_S)  # the devices go on; the broker keeps the gateway's session and queues for it
        since = time.monotonic()
        h.gw.start()
        record.recovery_s.append(round(h.recovered(since), 2))
        h.faults.append((began, time.monotonic()))
    h.finish(record)
    record.alerts_expected, record.alerts_raised, wrong = h.alerts(gone(msgs))

    assert_reliable(record, wrong)
