"""A decision taken while the database refuses writes is held, shown at once, and written (and delivered) when the
database takes writes again — the decision loop never dies of a lock or a full disk. Real SQLite file, real lock."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from edge.config import load_config
from edge.decisions import decider_for
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.hall import HallState
from rules.language import builtin_rules
from tests.unit.rules.feed import T0, Feed


def test_a_decision_made_during_a_lock_is_written_and_sent_once_the_lock_is_gone(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path, busy_timeout_s=0.05)
    hall = HallState(cfg.profile())
    clock = FixedClock(T0)
    stream = Recorder()
    decider = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=stream)
    decider.evaluate()

    holder = sqlite3.connect(cfg.storage.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock (a backup tool, a stuck CLI)
    feed = Feed()
    help_request = feed("kiosk", "k1", 60, type="kiosk.help_requested")
    hall.apply(help_request)
    decider.on_message(help_request)
    clock.set(T0 + timedelta(seconds=61))
    decider.evaluate()  # must not raise

    assert decider.storage_fault is not None and "locked" in decider.storage_fault
    live = [body for event, body in stream.sent if event == "alert"]
    assert [body["rule"] for body in live] == ["kiosk-help-requested"]  # the web UI hears at once

    clock.set(T0 + timedelta(seconds=62))
    decider.evaluate()  # still locked: still held, nothing lost, nothing raised
    holder.execute("ROLLBACK")
    holder.close()

    clock.set(T0 + timedelta(seconds=63))
    decider.evaluate()
    assert decider.storage_fault is None
    sent = [json.loads(m.payload) for m in store.outbox.due(T0.timestamp() + 10**9) if m.channel == "mqtt"]
    alerts = [m for m in sent if m["type"] == "alert"]
    assert [m["rule"] for m in alerts] == ["kiosk-help-requested"]  # written once, not once per retry
    assert alerts[0]["id"].startswith(f"alert:{alerts[0]['fingerprint']}:")
    assert alerts[0]["id"].endswith(":firing")
    history = store.decisions.alert_history()
    assert [(c.rule_id, c.state) for c in history] == [("kiosk-help-requested", "firing")]
    store.close()


class Recorder(Broadcaster):
    """The live stream as a page would receive it (what was published, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, object]]] = []

    def publish(self, event: str, data: object) -> None:
        assert isinstance(data, dict)
        self.sent.append((event, data))
