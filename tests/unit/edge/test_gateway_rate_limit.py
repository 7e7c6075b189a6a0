"""A device flooding the gateway is held to its rate (`rate_limited`): counted, kept as a dead letter once a second,
its messages over the rate not applied, while the other devices' messages all are. Real SQLite file, hall time from
an injected clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.clock import DeviceClock
from edge.config import load_config
from edge.gateway import Gateway
from rules.clock import FixedClock
from tests.unit.edge.conftest import Wall

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


def test_a_flooding_kiosk_is_limited_and_the_ticket_machine_is_not(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        {
            "hall": {"id": "h1"},
            "storage": {"path": str(tmp_path / "g.db")},
            "ingest": {"max_msgs_per_s_per_device": 5, "burst_per_device": 20},
        },
    )
    gw = Gateway(cfg, clock=FixedClock(AT))
    gw.open()
    assert gw.store is not None
    try:
        seq = 0
        for tenth in range(100):  # ten seconds: the kiosk sends 100 errors a second, the machine 2 tickets
            at = AT + timedelta(seconds=tenth / 10)
            for _ in range(10):
                seq += 1
                body = {"v": 1, "ts": at.isoformat(), "seq": seq, "type": "kiosk.error", "code": "E1"}
                gw.handle("hall/h1/kiosk/K1/evt", json.dumps(body).encode(), at)
            if tenth % 5:
                continue
            ticket = {"v": 1, "ts": at.isoformat(), "seq": tenth + 1, "type": "ticket.issued"}
            ticket |= {"ticket_id": f"t{tenth}", "number": f"A{tenth:03}", "service": "S1"}
            gw.handle("hall/h1/ticket_machine/QM1/evt", json.dumps(ticket).encode(), at)
        gw.flush()
        limited = gw.counters.rejected["rate_limited"]
        # 1,000 sent over 9.9 s: the burst of 20 and 5 a second after it pass (a refill of 49.5, floored per take)
        assert 1000 - limited in range(68, 71)
        assert gw.counters.accepted == (1000 - limited) + 20, "all 20 tickets taken"
        waiting = {s.code: s.waiting for s in gw.state.snapshot(AT + timedelta(seconds=10)).services}
        assert waiting["S1"] == 20
        dead = [d for d in gw.store.dead_letters.newest(1000) if d.reason == "rate_limited"]
        assert len(dead) == 10, "one dead letter per second of flooding, not 930"
        assert all("/kiosk/K1/" in d.topic and "5 messages a second" in d.detail for d in dead)
        # what the web UI's banner says when nothing else is taken: the newest refusal's reason, also when that
        # refusal is past its second's dead letter
        seen = gw.liveness()
        assert seen.refused_reason == "rate_limited" and seen.refused_since_taken > 0
    finally:
        gw.close()


def test_the_gateway_tells_its_liveness_what_it_refuses_and_forgets_it_once_a_message_is_taken(
    tmp_path: Path,
) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    gw = Gateway(cfg, clock=FixedClock(AT))
    gw.open()
    try:

        def send(seq: int, **body: object) -> None:
            msg = {"v": 1, "ts": AT.isoformat(), "seq": seq, "type": "kiosk.error"} | body
            gw.handle("hall/h1/kiosk/K1/evt", json.dumps(msg).encode(), AT)

        send(1, code="E1")
        for seq in range(2, 7):
            send(seq)  # no `code`: missing_field
        gw.handle("hall/h1/kiosk/K1/evt", b"{not json", AT)
        seen = gw.liveness()
        assert (seen.refused_since_taken, seen.refused_reason) == (6, "bad_json")
        send(7, code="E2")
        seen = gw.liveness()
        assert (seen.refused_since_taken, seen.refused_reason) == (0, None)
    finally:
        gw.close()


def test_on_a_device_clock_a_backlog_over_the_rate_does_not_stop_the_hall_for_good(tmp_path: Path) -> None:
    """A simulated hall (the demo, a replay) runs on the devices' clock, and its rate limit counts seconds of that
    clock. After a broker restart every device sends its backlog at once and spends its allowance; the hall's time
    must still follow the messages that come next, refused or not, or no allowance ever comes back. (The soak: after a
    broker SIGTERM the gateway refused every message for the rest of the run, 100,477 of them.)"""
    cfg = load_config(
        None,
        {
            "hall": {"id": "h1"},
            "storage": {"path": str(tmp_path / "g.db")},
            "ingest": {"max_msgs_per_s_per_device": 5, "burst_per_device": 20},
        },
    )
    wall = Wall()
    gw = Gateway(cfg, clock=DeviceClock(speed=1, max_lead_s=20, monotonic=wall))
    gw.open()
    seq = 0

    def send(at: datetime) -> None:
        nonlocal seq
        seq += 1
        body = {"v": 1, "ts": at.isoformat(), "seq": seq, "type": "kiosk.error", "code": "E1"}
        gw.handle("hall/h1/kiosk/K1/evt", json.dumps(body).encode(), at)

    try:
        send(AT)  # the hall's time starts here
        wall.t += 100  # the broker is away for 100 s: the clock runs on at most max_lead_s past what it heard
        for i in range(200):  # the kiosk's backlog of its first 10 s, all at once: 20 taken (its burst), 180 refused
            send(AT + timedelta(seconds=i / 20))
        assert gw.counters.rejected["rate_limited"] == 180
        accepted = gw.counters.accepted
        for i in range(10):  # then the kiosk talks at its own pace again, on time
            wall.t += 1
            send(AT + timedelta(seconds=101 + i))
        assert gw.counters.accepted - accepted >= 9, "the kiosk's messages on time are refused for good"
        assert gw.clock.now() >= AT + timedelta(seconds=110), "the hall's time stopped"
    finally:
        gw.close()
