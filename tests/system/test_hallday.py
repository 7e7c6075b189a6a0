"""The in-process hall day (tests/hallday.py) decides when the live decision loop would: a message after a quiet
spell at once, a burst batched to one evaluation per `MIN_INTERVAL_S` of wall time, a deadline to the second, and
with nothing happening every `MAX_SLEEP_S` of wall time — in hall time, at the device clock's speed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from edge.decisions import MAX_SLEEP_S, MIN_INTERVAL_S, Decider
from rules.engine import Decision
from tests.hallday import HallDay, plain_config

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)  # a Monday, in opening hours
SPEED = 60
BATCH = MIN_INTERVAL_S * SPEED  # 12 s of hall time
LONGEST = MAX_SLEEP_S * SPEED  # 60 s


def message(
    kind: str, device: str, seq: int, t: float, on: str = "evt", **fields: object
) -> tuple[str, bytes, datetime]:
    at = T0 + timedelta(seconds=t)
    body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
    return f"hall/h1/{kind}/{device}/{on}", json.dumps(body).encode(), at


def test_it_evaluates_when_the_live_loop_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HallDay(plain_config(tmp_path / "g.db", "h1", SPEED), T0) as day:
        evaluated: list[float] = []
        evaluate = Decider.evaluate

        def spied(self: Decider, **kw: object) -> list[Decision]:
            evaluated.append((day.clock.now() - T0).total_seconds())
            return evaluate(self, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Decider, "evaluate", spied)
        for topic, payload, at in (
            message("window", "W1", 1, 0, type="window.opened", staff_id="s1", services=["tax"]),
            message(
                "ticket_machine",
                "tm1",
                1,
                2,
                type="ticket.issued",
                ticket_id="a1",
                number="A001",
                service="tax",
                channel="walk_in",
            ),
            message("window", "W1", 2, 5, type="ticket.called", window_id="W1", ticket_id="a1", attempt=1),
            message("window", "W1", 3, 90, on="hb"),
        ):
            day.deliver(topic, payload, at)
        day.advance(T0 + timedelta(seconds=215))
        recalled = next(a.fired_at for a in day.decider.engine.alerts.values() if a.rule_id == "call-unanswered")
    assert evaluated[:5] == [
        0,  # the first message: at once
        BATCH,  # a ticket issued at 2 s and called at 5 s: one evaluation, MIN_INTERVAL_S after the last
        2 * BATCH,  # … and, as a message came while it waited, another MIN_INTERVAL_S later
        65,  # the re-call's deadline (called at 5 s, nobody at the counter for 60 s), to the second
        90,  # a heartbeat after a quiet spell: at once
    ], evaluated
    assert recalled == T0 + timedelta(seconds=65)
    # no more messages: an evaluation at each deadline the decider names, and at least every MAX_SLEEP_S
    gaps = [b - a for a, b in pairwise(evaluated[4:])]
    assert all(0 < gap <= LONGEST for gap in gaps) and LONGEST in gaps, evaluated
    assert evaluated[-1] > 215 - LONGEST
