"""A row the store cannot hold, though the message was valid (here a trigger refuses one device's rows, as a
constraint of a later release or a damaged index might): the batch is stored row by row, that one row becomes the
dead letter `unstorable` with the database's reason, every other message of the batch is logged, and ingest goes on.
Real SQLite file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.config import load_config
from edge.gateway import Gateway
from rules.clock import FixedClock

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


def test_a_row_the_store_refuses_is_a_dead_letter_and_the_rest_of_its_batch_is_logged(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    clock = FixedClock(AT)
    gw = Gateway(cfg, clock=clock)
    gw.open()
    assert gw.store is not None
    gw.store._db.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON events WHEN NEW.device_id = 'K9' "
        "BEGIN SELECT RAISE(ABORT, 'this row cannot be held'); END"
    )
    seq = iter(range(1, 100))

    def heartbeat(device: str, second: int) -> None:
        at = AT + timedelta(seconds=second)
        clock.set(at)
        body = {"v": 1, "ts": at.isoformat(), "seq": next(seq)}
        gw.handle(f"hall/h1/kiosk/{device}/hb", json.dumps(body).encode(), at)

    try:
        for i, device in enumerate(["K1", "K9", "K2"]):  # one batch, one transaction: K9's row fails it
            heartbeat(device, i)
        gw.flush()
        assert gw.store.events.count() == 2  # K1 and K2, row by row
        assert gw.counters.accepted == 2
        assert gw.counters.rejected["unstorable"] == 1
        (dead,) = gw.store.dead_letters.newest()
        assert dead.reason == "unstorable" and "this row cannot be held" in dead.detail
        assert "/K9/" in dead.topic
        heartbeat("K3", 5)  # ingest goes on: the next batch is stored whole
        gw.flush()
        assert gw.store.events.count() == 3
        assert gw.storage.cause is None  # not a storage fault: nothing paused
    finally:
        gw.close()
