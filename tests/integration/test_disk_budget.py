"""A real gateway whose data directory is over its disk budget: /api/health says so (its problems and its `disk`
section), the oldest events are deleted until it is back under the budget, and what must never go stays — a ticket
that is not closed, what waits for the cloud, the audit chain."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from cloud_sync.wire import Stream
from edge.broker import MosquittoProcess
from edge.store import CloudRecord, EventBatch, Record, Store
from tests.harness import GatewayProcess, wait_until

MB = 1024 * 1024
EVENTS = 40_000  # of about 1 KB: a file of about 50 MB against a budget of 30 MB


def test_over_its_budget_the_gateway_warns_and_deletes_the_oldest_events_only(
    tmp_path: Path, mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("storage: {disk_budget_mb: 30, disk_free_min_mb: 1}\n", encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config))
    gw.start()
    gw.stop()  # the gateway made its file and saved its hall state
    db = gw.db
    store = Store(db)
    now = time.time()
    payload = b'{"v":"' + b"x" * 900 + b'"}'
    rows = [
        (now - EVENTS + i, now - EVENTS + i, "camera", "CAM1", "telemetry", "hb", i, "t", payload)
        for i in range(EVENTS)
    ]
    store.events.write(EventBatch.of_rows(rows))
    store.decisions.write({}, [], [], now - 3600, records=[Record("ticket", "T-open", '{"status":"open"}')])
    store.cloud.enabled = True
    store.cloud.add([CloudRecord(Stream.ALERTS, now, "alert", '{"a":1}')] * 5, now)
    store.close()
    with closing(sqlite3.connect(db)) as raw:  # the saved state includes them: a restart need not replay them
        raw.execute("UPDATE hall_state SET event_id = (SELECT max(id) FROM events)")
        raw.commit()
        audit_before = raw.execute("SELECT count(*), max(hash) FROM audit").fetchone()
    assert db.stat().st_size > 35 * MB

    gw.start()
    health: dict[str, object] = {}

    def pruned() -> bool:
        nonlocal health
        health = gw.health()
        disk = health.get("disk")
        return isinstance(disk, dict) and int(disk["budget_pruned"]) > 0

    wait_until(pruned, 120, "the disk budget's prune")
    disk = health["disk"]
    assert isinstance(disk, dict)
    assert disk["budget_bytes"] == 30 * MB
    assert disk["auto_vacuum"] == "incremental"
    assert 0 < int(disk["events"]) < EVENTS
    assert int(disk["budget_pruned"]) == EVENTS - int(disk["events"])
    # back under the budget once the pages were given back, and the health says how far
    wait_until(lambda: int(gw.health()["disk"]["used_bytes"]) <= 30 * MB, 60, "the file given back")  # type: ignore[index]
    health = gw.health()
    problems = health["problems"]
    assert isinstance(problems, list)
    assert any("of its disk budget" in p for p in problems), problems  # 80–90 %: still a warning, in words
    gw.stop()
    said = gw.log.read_text(encoding="utf-8", errors="replace")
    assert "disk budget: deleted the" in said
    # each change of level said once: critical (over the budget), then a warning at 90 % after the prune
    assert said.count("disk critical: database at") == 1 and said.count("disk warning: database at") == 1

    with closing(sqlite3.connect(db)) as raw:
        left = raw.execute("SELECT min(at), count(*) FROM events").fetchone()
        assert left[1] < EVENTS and left[0] > now - EVENTS  # the oldest went first
        assert raw.execute("SELECT body FROM records WHERE id = 'T-open'").fetchone() == ('{"status":"open"}',)
        assert raw.execute("SELECT count(*) FROM cloud_outbox").fetchone()[0] == 5
        assert raw.execute("SELECT count(*), max(hash) FROM audit").fetchone()[0] >= audit_before[0]
