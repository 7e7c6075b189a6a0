"""`hallops db vacuum`: a file of an earlier release (auto_vacuum none) is rewritten once so that it gives freed space
back, keeping every row; it is refused while another process (the gateway) has the file open; a missing file is said."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from edge.cli import main
from edge.store import Store

SAVED = Path(__file__).parents[2] / "data" / "saved_state" / "gateway.db.gz"  # written by an earlier release


def old_file(tmp_path: Path) -> Path:
    """A file an earlier release made (auto_vacuum none), upgraded by a gateway's start (only the gateway upgrades a
    file: `hallops db vacuum` refuses an older schema, tests/unit/edge/test_upgrade.py)."""
    db = tmp_path / "hallops.db"
    with gzip.open(SAVED, "rb") as packed, db.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    Store(db).close()
    return db


def mode_and_events(db: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(db)) as raw:
        return int(raw.execute("PRAGMA auto_vacuum").fetchone()[0]), int(
            raw.execute("SELECT count(*) FROM events").fetchone()[0]
        )


def test_an_old_file_is_rewritten_to_give_space_back_keeping_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = old_file(tmp_path)
    mode, events = mode_and_events(db)
    assert mode == 0 and events > 0
    assert main(["db", "vacuum", "--db", str(db)]) == 0
    said = capsys.readouterr().err
    assert "auto_vacuum none" in said and "rewriting" in said and "done in" in said
    assert mode_and_events(db) == (2, events)  # incremental now; not a row lost
    assert main(["db", "vacuum", "--db", str(db)]) == 0  # again: nothing to rewrite
    assert "incremental already" in capsys.readouterr().err


def test_it_is_refused_while_another_process_has_the_file_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = old_file(tmp_path)
    holder = subprocess.Popen(  # as a running gateway does: a WAL connection kept open
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL')\n"
            "c.execute('SELECT count(*) FROM events').fetchone(); print('open', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert main(["db", "vacuum", "--db", str(db)]) == 1
        said = capsys.readouterr().err
        assert "refused" in said and f"process {holder.pid}" in said and "Stop the gateway" in said
        assert mode_and_events(db)[0] == 0  # untouched
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert main(["db", "vacuum", "--db", str(db)]) == 0


def test_a_missing_file_is_said_not_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "vacuum", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
