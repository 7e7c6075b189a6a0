"""The gateway's upkeep: at start a small file of an earlier release is rewritten once so that it gives freed space
back (said in the log), a larger one is left and the log names the command that converts it; retention never prunes
against a box clock far ahead of what is stored; a notification still due does not hold back the sent ones behind
it; backups and kept-aside files beside the database never cost the hall its events; the worst storage values are
refused by the configuration with their path."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.config import StorageSection, load_config
from edge.store import EventBatch, Store
from edge.upkeep import Upkeep
from rules.clock import FixedClock

SAVED = Path(__file__).parents[2] / "data" / "saved_state" / "gateway.db.gz"  # written by an earlier release
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
MB = 1024 * 1024


def old_store(tmp_path: Path) -> Store:
    db = tmp_path / "hallops.db"
    with gzip.open(SAVED, "rb") as packed, db.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    return Store(db)


def test_a_small_old_file_is_converted_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = old_store(tmp_path)
    events = store.events.count()
    caplog.set_level(logging.INFO, "edge.upkeep")
    Upkeep(StorageSection(path=store.path), store, FixedClock(NOW)).convert_at_start()
    assert store.retention.pages().auto_vacuum == "incremental"
    assert store.events.count() == events
    assert "rewriting" in caplog.text and "incremental vacuum on" in caplog.text
    store.close()


def test_a_larger_old_file_is_left_and_the_command_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = old_store(tmp_path)
    Upkeep(StorageSection(path=store.path, vacuum_at_start_mb=0), store, FixedClock(NOW)).convert_at_start()
    assert store.retention.pages().auto_vacuum == "none"
    assert f"hallops db vacuum --db {store.path}" in caplog.text
    store.close()


def events_store(tmp_path: Path, n: int = 20_000, days: float = 30) -> Store:
    """A hall's file with `n` events of about 300 B over the `days` up to NOW, all in the saved hall state."""
    store = Store(tmp_path / "hallops.db")
    batch = EventBatch()
    t0 = NOW.timestamp() - days * 86400
    for i in range(n):
        t = t0 + i * days * 86400 / n
        batch.add(t, t, "sensor", f"d{i % 50}", "status", "reading", i, "hall/x", b'{"pad": "' + b"x" * 200 + b'"}')
    store.events.write(batch, state=b"{}", state_saved_at=NOW.timestamp())
    store.retention.checkpoint()
    return store


def sent_outbox(store: Store, created: float, n: int) -> None:
    store._db.executemany(
        "INSERT INTO outbox (created_at, channel, target, payload, next_attempt_at, sent_at) "
        "VALUES (?, 'mqtt', 't', x'00', ?, ?)",
        [(created + i, created, created + i) for i in range(n)],
    )
    store._db.commit()


def count(store: Store, table: str) -> int:
    return int(store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_box_clock_years_ahead_deletes_nothing_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = events_store(tmp_path)
    sent_outbox(store, NOW.timestamp() - 40 * 86400, 100)  # past their 30 days at the right time
    clock = FixedClock(datetime(2036, 1, 1, tzinfo=UTC))  # the box booted with a wrong date
    upkeep = Upkeep(StorageSection(path=store.path), store, clock)
    with caplog.at_level(logging.INFO, logger="edge.upkeep"):
        assert asyncio.run(upkeep.retain()) == {"events": 0, "alert_history": 0, "outbox": 0, "records": 0}
        # an hour later the gateway has logged what it heard, stamped with the wrong date: still nothing goes
        batch = EventBatch()
        for i in range(100):
            t = clock.now().timestamp() + i
            batch.add(t, t, "sensor", "d1", "status", "reading", i, "hall/x", b"{}")
        store.events.write(batch)
        clock.advance(3600)
        assert sum(asyncio.run(upkeep.retain()).values()) == 0
    assert count(store, "events") == 20_100 and count(store, "outbox") == 100
    status = asyncio.run(upkeep.measure())
    assert any("retention paused" in p for p in status.assessment.problems)  # /api/health shows it
    assert status.assessment.level.value == "warning"
    paused = [r for r in caplog.records if "retention paused" in r.getMessage()]
    assert len(paused) == 2  # the clock ahead, then the log's jump: each said once, not every hour
    # the date set right (and the wrong-dated events deleted by hand): retention resumes, against the right time
    store._db.execute("DELETE FROM events WHERE at > ?", (NOW.timestamp() + 86400,))
    store._db.commit()
    clock.set(NOW)
    gone = asyncio.run(upkeep.retain())
    assert gone["outbox"] == 100 and gone["events"] == 0 and upkeep.retention_paused is None


def test_a_notification_still_due_does_not_hold_back_the_sent_ones_behind_it(tmp_path: Path) -> None:
    store = events_store(tmp_path, n=100, days=1)
    old = NOW.timestamp() - 60 * 86400
    store._db.execute(
        "INSERT INTO outbox (created_at, channel, target, payload, next_attempt_at) "
        "VALUES (?, 'webhook', 'http://x', x'00', ?)",
        (old, old),
    )
    store._db.commit()
    sent_outbox(store, old + 1, 5_000)
    gone = asyncio.run(Upkeep(StorageSection(path=store.path), store, FixedClock(NOW)).retain())
    assert gone["outbox"] == 5_000  # one round, not 1,999 an hour
    assert store._db.execute("SELECT count(*), max(sent_at) FROM outbox").fetchone() == (1, None)  # the due one


def test_backups_and_a_kept_aside_database_never_cost_the_hall_its_events(tmp_path: Path) -> None:
    store = events_store(tmp_path)  # a file of about 6 MB
    backups = tmp_path / "backups"
    backups.mkdir()
    for i in range(2):  # pre-upgrade backups (never rotated)
        (backups / f"h1-pre-upgrade-v{6 + i}.tar").write_bytes(os.urandom(8 * MB))
    (tmp_path / "hallops.db.before-restore-20261206T120000Z").write_bytes(os.urandom(8 * MB))  # a restore's
    upkeep = Upkeep(StorageSection(path=store.path, disk_budget_mb=16), store, FixedClock(NOW))
    status = asyncio.run(upkeep.keep_budget())
    assert count(store, "events") == 20_000 and upkeep.budget_pruned == 0
    assert status.usage.backups >= 16 * MB and status.usage.other >= 8 * MB  # measured, reported apart
    assert status.usage.used < 16 * MB * 0.8 and status.assessment.problems == ()


def test_the_worst_storage_values_are_refused_with_their_path(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "storage: {retention_days: 1000000000000, records_days: 3000000, alert_history_days: 1000000, "
        "outbox_days: 99999999, disk_budget_mb: .inf, disk_free_min_mb: .nan, vacuum_at_start_mb: .inf}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    paths = {p.path for p in caught.value.problems}
    assert {f"storage.{f}" for f in ("retention_days", "records_days", "alert_history_days", "outbox_days")} <= paths
    assert {"storage.disk_budget_mb", "storage.disk_free_min_mb", "storage.vacuum_at_start_mb"} <= paths
    config.write_text("storage: {disk_budget_mb: 1.0e-9}\n", encoding="utf-8")  # a budget of 0 bytes: always ok
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [p.path for p in caught.value.problems] == ["storage.disk_budget_mb"]
    # the largest accepted values run: horizons a hundred years back, no overflow
    config.write_text(
        "hall: {id: h1}\nstorage: {retention_days: 36500, records_days: 36500, disk_budget_mb: 100000000}\n",
        encoding="utf-8",
    )
    cfg = load_config(config).storage
    store = events_store(tmp_path, n=10, days=1)
    cfg = cfg.model_copy(update={"path": store.path})
    assert sum(asyncio.run(Upkeep(cfg, store, FixedClock(NOW)).retain()).values()) == 0


def test_vacuum_writes_its_temporary_copy_beside_the_file_not_in_tmpdir(tmp_path: Path) -> None:
    # TMPDIR is often a small tmpfs: a copy of a 15 GB file there fails (or fills the box's memory)
    store = events_store(tmp_path)
    opened: set[str] = set()

    def look() -> None:
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                opened.add(os.readlink(f"/proc/self/fd/{fd}"))

    store.retention.convert(progress=look)
    temporary = {p for p in opened if "etilqs_" in p}  # SQLite's temporary files
    assert temporary and all(p.startswith(str(tmp_path.resolve()) + "/") for p in temporary), opened
    assert store.events.count() == 20_000
    assert store._db.execute("PRAGMA temp_store_directory").fetchone() is None  # set back
