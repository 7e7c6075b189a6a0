"""The gateway's upkeep at start: a small file of an earlier release is rewritten once so that it gives freed space
back (said in the log); a larger one is left as it is, and the log names the command that converts it."""

from __future__ import annotations

import gzip
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.config import StorageSection
from edge.store import Store
from edge.upkeep import Upkeep
from rules.clock import FixedClock

SAVED = Path(__file__).parents[2] / "data" / "saved_state" / "gateway.db.gz"  # written by an earlier release
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


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
