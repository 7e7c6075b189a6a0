"""A gateway's file that cannot be used is refused when it is opened, before anything is written to it, with the path,
what is wrong and what to do: an empty file is not a new hall, random bytes or a truncated file are not a database,
overwritten pages are found by quick_check, and a file another connection keeps locked names the process holding it.
And the start-up scans of the demand profile read through an index, not the whole event log."""

from __future__ import annotations

import gzip
import os
import random
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from edge.store import EventBatch, StorageError, Store

PAGE = 4096  # SQLite's default page size, which the gateway's files have


def hall_file(path: Path, events: int = 3000) -> Path:
    """A real gateway file with `events` logged (a third of them tickets issued), closed."""
    store = Store(path)
    noise = random.Random(16)
    batch = EventBatch()
    for i in range(events):
        kind = "ticket.issued" if i % 3 == 0 else "queue.length"
        batch.add(
            1e9 + i, 1e9 + i, "kiosk", f"K{i % 7}", "ev", kind, i, f"hall/h1/kiosk/K{i % 7}/ev", noise.randbytes(200)
        )
    store.events.write(batch)
    store.close()
    return path


def refusal(path: Path) -> StorageError:
    """The error opening `path` gives, having checked that the refused file was left exactly as it was."""
    before = path.read_bytes()
    with pytest.raises(StorageError) as caught:
        Store(path, lock_wait_s=0.1)
    assert path.read_bytes() == before, "a refused file must not be written to"
    error = caught.value
    assert error.path == path and str(path) in str(error)
    assert "backup" in error.advice and error.advice in str(error)
    return error


def test_an_empty_file_is_refused_not_started_as_a_new_hall(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    db.touch()
    error = refusal(db)
    assert "0 bytes" in error.finding and "move it aside to start an empty hall" in error.advice
    assert not Path(f"{db}-wal").exists()


@pytest.mark.parametrize(
    ("content", "finding"),
    [
        (random.Random(1).randbytes(64 * 1024), "is not a SQLite database: it begins with"),
        (b"\x00" * 8192, "are all zero"),
        (gzip.compress(b"SQLite format 3\x00" + bytes(4000)), "gzip"),
    ],
    ids=["random bytes", "zeros", "a packed backup"],
)
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, content: bytes, finding: str) -> None:
    db = tmp_path / "gateway.db"
    db.write_bytes(content)
    assert finding in refusal(db).finding


@pytest.mark.parametrize("keep", [50, 1000, PAGE * 40], ids=["part of the header", "part of page 1", "40 pages"])
def test_a_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    db = hall_file(tmp_path / "gateway.db")
    os.truncate(db, keep)
    assert refusal(db).finding.startswith("is truncated")


def test_overwritten_pages_are_found_by_quick_check(tmp_path: Path) -> None:
    db = hall_file(tmp_path / "gateway.db")
    pages = db.stat().st_size // PAGE
    assert pages > 100
    garbage = random.Random(3)
    with db.open("r+b") as raw:
        for page in (pages // 2 - 1, pages // 2, pages // 2 + 1):
            raw.seek(page * PAGE)
            raw.write(garbage.randbytes(PAGE))
    error = refusal(db)
    assert error.finding.startswith("is damaged: SQLite's quick_check found Page ")
    # each damaged page (numbered from 1) is named
    assert all(f"Page {page + 1}:" in error.finding for page in (pages // 2 - 1, pages // 2, pages // 2 + 1))


def test_a_file_another_connection_keeps_locked_names_the_process_holding_it(tmp_path: Path) -> None:
    db = hall_file(tmp_path / "gateway.db")
    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError) as caught:
            Store(db, lock_wait_s=0.1)
        other.execute("ROLLBACK")
    error = caught.value
    assert "is locked" in error.finding
    assert f"process {os.getpid()} (this process) holds its write lock" in error.finding
    assert "Stop the other process" in error.advice
    Store(db, lock_wait_s=0.1).close()  # once the lock is given back the file opens


def test_opening_the_file_again_in_the_same_process_leaves_it_held_against_other_processes(tmp_path: Path) -> None:
    """The gateway's API opens its own connection for a backtest beside the gateway's. Reading the file's header with a
    descriptor of its own would drop every POSIX lock this process holds on it (closing any descriptor does): another
    process would then take the file for unused — checkpoint and remove its -wal under the gateway, or, as here,
    take it out of WAL mode — and the backtest would fail with 'disk I/O error'."""
    db = hall_file(tmp_path / "gateway.db", events=30)
    take_out_of_wal = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], timeout=0)\n"
        "try:\n    print(db.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
        "except sqlite3.OperationalError as exc:\n    print(exc)\n"
    )
    gateway = Store(db)
    try:
        Store(db).close()
        other = subprocess.run(
            [sys.executable, "-c", take_out_of_wal, str(db)], check=True, capture_output=True, text=True
        )
        assert other.stdout.strip() == "database is locked", other
    finally:
        gateway.close()


def test_a_sound_file_opens_again_with_everything_in_it(tmp_path: Path) -> None:
    db = hall_file(tmp_path / "gateway.db", events=300)
    store = Store(db)
    try:
        assert store.events.count() == 300
    finally:
        store.close()


def test_a_file_salvaged_with_dump_opens_with_its_rows(tmp_path: Path) -> None:
    """docs/deploy.md saves what a damaged file still holds with `.dump` into a new file: every table and index comes
    back, but not the schema version (0), so the migrations run again over a file that has all they make."""
    source = hall_file(tmp_path / "damaged.db", events=300)
    salvaged = tmp_path / "recovered.db"
    with closing(sqlite3.connect(source)) as old, closing(sqlite3.connect(salvaged)) as new:
        new.executescript("\n".join(old.iterdump()))
        assert new.execute("PRAGMA user_version").fetchone()[0] == 0
    store = Store(salvaged)
    try:
        assert store.events.count() == 300
    finally:
        store.close()


def test_the_demand_profiles_start_up_scans_read_through_their_own_time_index(tmp_path: Path) -> None:
    store = Store(hall_file(tmp_path / "gateway.db", events=300))
    ran: list[str] = []
    store._db.set_trace_callback(ran.append)  # the statements the repository really runs
    try:
        assert len(list(store.events.tickets_issued(1e9, 1e9 + 300))) == 100
        list(store.events.window_changes(1e9, 1e9 + 300))
        scans = [sql for sql in ran if sql.lstrip().upper().startswith("SELECT")]
        assert len(scans) == 2
        for sql in scans:
            plan = " / ".join(row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "USING INDEX events_demand_at (at>? AND at<?)" in plan, (sql, plan)
    finally:
        store._db.set_trace_callback(None)
        store.close()
