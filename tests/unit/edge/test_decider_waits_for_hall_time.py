"""A simulated hall (the demo, a replay, the soak) runs on its devices' clock. Until a device has told the time, that
clock reads the box's date, not the hall's: the decisions loop decides nothing until then. (The soak, started at
11:20 Beijing time: the gateway planned lunch breaks for the box's date and nudged windows before any device spoke; the
devices' answers, stamped with the box's time, set the hall's clock to it, and the replayed November day behind it
never moved it again: a day and a half later every message was refused.)"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.clock import DeviceClock
from edge.config import load_config
from edge.gateway import Gateway

HALL_DAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in the hall, a replayed Monday


class Evaluated(Exception):
    pass


async def test_nothing_is_decided_before_a_device_tells_the_hall_time(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    gw = Gateway(cfg, clock=DeviceClock(speed=60))
    gw.open()
    assert gw.decider is not None
    decider = gw.decider
    evaluations: list[datetime] = []

    def evaluate(**_: object) -> list[object]:
        evaluations.append(gw.clock.now())
        raise Evaluated  # one is enough: the loop ends here

    decider.evaluate = evaluate  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(decider.run())
    try:
        for _ in range(20):  # the loop goes round (and waits) without deciding anything
            await asyncio.sleep(0)
        assert evaluations == [], f"decided on the box's date: {evaluations}"
        assert not decider.hall_time_known()

        body = {"v": 1, "ts": HALL_DAY.isoformat(), "seq": 1, "online": True}
        gw.handle("hall/h1/kiosk/K1/hb", json.dumps(body).encode(), HALL_DAY)  # a device speaks: the hall's time
        assert decider.hall_time_known()
        with pytest.raises(Evaluated):
            await asyncio.wait_for(task, 10)
        assert evaluations and evaluations[0].date() == HALL_DAY.date(), "decided at the hall's time"
    finally:
        task.cancel()
        gw.close()
