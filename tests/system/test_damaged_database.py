"""`hallops gateway` on a database it cannot use stops at once with one paragraph on stderr — the path, what is wrong,
what to do — and exit status 3, never a traceback and never a hall started from nothing: a file with overwritten pages
(which SQLite would otherwise serve until a query reached them), and a file another gateway-like process keeps locked
(named with its pid and command line)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from edge.store import EventBatch, Store
from tests.harness import HALLOPS, ROOT

PAGE = 4096
EXIT_STORAGE = 3  # edge/cli/__init__.py, docs/deploy.md


def hall_file(path: Path) -> Path:
    """A gateway file with a few thousand events logged, closed."""
    store = Store(path)
    noise = random.Random(16)
    batch = EventBatch()
    for i in range(3000):
        batch.add(
            1e9 + i, 1e9 + i, "kiosk", "K1", "ev", "ticket.issued", i, "hall/h1/kiosk/K1/ev", noise.randbytes(200)
        )
    store.events.write(batch)
    store.close()
    return path


def gateway(db: Path) -> subprocess.CompletedProcess[str]:
    """`hallops gateway` on `db`, with no broker to reach (it must stop before it would need one)."""
    return subprocess.run(
        [
            *HALLOPS,
            "gateway",
            "--db",
            str(db),
            "--hall",
            "h1",
            "--broker",
            "mqtt://127.0.0.1:1",
            "--http",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_database_with_overwritten_pages_stops_the_gateway_with_the_path_and_the_finding(tmp_path: Path) -> None:
    db = hall_file(tmp_path / "gateway.db")
    middle = db.stat().st_size // PAGE // 2
    with db.open("r+b") as raw:
        raw.seek((middle - 1) * PAGE)
        raw.write(random.Random(3).randbytes(3 * PAGE))
    damaged = db.read_bytes()

    done = gateway(db)

    assert done.returncode == EXIT_STORAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert f"hallops: the database {db} is damaged: SQLite's quick_check found Page " in done.stderr
    assert all(f"Page {page}:" in done.stderr for page in (middle, middle + 1, middle + 2))  # numbered from 1
    assert "restore it from your backup" in done.stderr
    assert db.read_bytes() == damaged  # the evidence is left as it was


def test_a_database_another_process_keeps_locked_stops_the_gateway_naming_that_process(tmp_path: Path) -> None:
    db = hall_file(tmp_path / "gateway.db")
    holder = subprocess.Popen(  # holds the write lock until its stdin closes
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = gateway(db)
    finally:
        holder.communicate(timeout=10)

    assert done.returncode == EXIT_STORAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert f"hallops: the database {db} is locked by another connection: process {holder.pid} (" in done.stderr
    assert "import sqlite3" in done.stderr  # its command line, shortened
    assert "Stop the other process" in done.stderr
