"""The gateway's file across releases: a file written by the previous release (no schema version, tables made with
`CREATE TABLE IF NOT EXISTS`) opens, keeps every row, and ends with exactly the schema a new file gets; a file from
a newer release is refused with a sentence rather than misread."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from devices.errors import ConfigError
from edge.store import Store
from edge.store.schema import VERSION

SAVED = Path(__file__).parents[2] / "data" / "saved_state" / "gateway.db.gz"  # written by the previous release
COUNTED = [
    "events",
    "dead_letters",
    "hall_state",
    "meta",
    "decision_state",
    "alert_history",
    "records",
    "outbox",
    "rule_versions",
    "rule_activations",
    "audit",
]


def schema(db: Path, without: tuple[str, ...] = ()) -> tuple[int, set[tuple[str, str, str]]]:
    """(user_version, every table, index and trigger with its SQL) of the file, but those of the tables `without`."""
    with closing(sqlite3.connect(db)) as raw:
        version = int(raw.execute("PRAGMA user_version").fetchone()[0])
        rows = raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return version, {(str(t), str(n), str(s)) for t, n, table, s in rows if table not in without}


def counts(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as raw:
        return {table: int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in COUNTED}


def test_a_file_of_the_previous_release_is_upgraded_to_the_schema_of_a_new_file(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with gzip.open(SAVED, "rb") as packed, old.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    before_version, before_objects = schema(old)
    before = counts(old)
    assert before_version == 0 and before["events"] > 0
    Store(old).close()
    Store(tmp_path / "new.db").close()
    version, objects = schema(old)
    kept = {o for o in before_objects if o[1] != "hall_state"}
    assert kept <= objects  # every table was there already: migration 1 created nothing …
    # … migration 2 an index (which migration 4 replaces), migration 3 a column of the hall state (today's KPI book),
    # migration 6 the index of the bookings' events, migration 7 the cloud outbox and its streams, migration 8 the
    # index of the records by time of change (retention)
    assert {name for _, name, _ in objects - before_objects} == {
        "events_demand_at",
        "records_updated",
        "events_booking_at",
        "hall_state",
        "cloud_outbox",
        "cloud_streams",
        "sqlite_autoindex_cloud_streams_1",
    }
    (hall_state,) = [sql for _, name, sql in objects if name == "hall_state"]
    assert "kpi BLOB" in hall_state
    # … the schema of a new file (the old one also holds the tables edge/auth.py keeps in the same file)
    assert schema(old, without=("users", "sessions", "tokens")) == schema(tmp_path / "new.db")
    assert version == VERSION
    assert counts(old) == before  # not a row lost or added
    Store(old).close()  # opening again changes nothing
    assert schema(old) == (version, objects) and counts(old) == before


def test_a_file_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    Store(db).close()
    with closing(sqlite3.connect(db)) as raw:
        raw.execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(ConfigError, match="newer release"):
        Store(db)


def test_a_new_file_gives_space_back_and_an_old_one_is_left_as_it_was(tmp_path: Path) -> None:
    """A file this release makes is in incremental auto-vacuum mode (retention's deletes can shrink it); a file of an
    earlier release is not rewritten on open (that is `hallops db vacuum`'s, with the gateway stopped)."""
    new = Store(tmp_path / "new.db")
    assert new.retention.pages().auto_vacuum == "incremental"
    new.close()
    old = tmp_path / "old.db"
    with gzip.open(SAVED, "rb") as packed, old.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    store = Store(old)
    assert store.retention.pages().auto_vacuum == "none"
    store.retention.convert()
    assert store.retention.pages().auto_vacuum == "incremental"
    store.close()
    assert counts(old)["events"] > 0
