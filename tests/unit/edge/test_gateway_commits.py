"""When ingest commits: at most every `storage.commit_every_s` — but at once for a device heard for the first time
(its heartbeats are QoS 0: a crash before the commit would forget it), and before every decision is written (a
decision's time then proves that everything heard until then is kept). Real SQLite file, manual clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.config import load_config
from edge.gateway import Gateway
from rules.clock import FixedClock

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


class Hall:
    def __init__(self, tmp: Path) -> None:
        cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp / "g.db"), "commit_every_s": 3600}})
        self.clock = FixedClock(AT)
        self.gw = Gateway(cfg, clock=self.clock)
        self.gw.open()
        self.gw.flush()  # as at the broker's answer: the clock of `commit_every_s` starts now
        self.seq = 0

    def send(self, device: str, second: int, channel: str = "hb", **fields: object) -> None:
        at = AT + timedelta(seconds=second)
        self.clock.set(at)
        self.seq += 1
        body = {"v": 1, "ts": at.isoformat(), "seq": self.seq, **fields}
        self.gw.handle(f"hall/h1/kiosk/{device}/{channel}", json.dumps(body).encode(), at)
        self.gw.commit_due()  # what the link does when its queue runs dry

    def logged(self) -> int:
        assert self.gw.store is not None
        return self.gw.store.events.count()


def test_a_device_heard_for_the_first_time_is_committed_at_once_a_known_one_waits(tmp_path: Path) -> None:
    hall = Hall(tmp_path)
    try:
        hall.send("K1", 1)
        assert hall.logged() == 1  # new: at once
        hall.send("K1", 2)
        hall.send("K1", 3)
        assert hall.logged() == 1  # known: with the next commit (an hour away here)
        hall.send("K2", 4)
        assert hall.logged() == 4  # another new one: its commit takes K1's two with it
    finally:
        hall.gw.close()


def test_what_ingest_heard_is_committed_before_a_decision_is_written(tmp_path: Path) -> None:
    hall = Hall(tmp_path)
    try:
        assert hall.gw.decider is not None
        hall.send("K1", 1)
        hall.send("K1", 2)
        hall.send("K1", 3)
        assert hall.logged() == 1
        hall.send("K1", 4, "evt", type="kiosk.help_requested")  # a decision with a notification: written at once
        hall.clock.set(AT + timedelta(seconds=5))
        hall.gw.decider.evaluate()
        assert hall.gw.store is not None
        assert [c.rule_id for c in hall.gw.store.decisions.alert_history()] == ["kiosk-help-requested"]
        assert hall.logged() == 4  # the heartbeats before it, and the event that made it
    finally:
        hall.gw.close()
