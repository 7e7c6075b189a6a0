"""Storage faults against the real gateway process and a real mosquitto: another process holding the database's
write lock, and a full file system (a size-limited tmpfs made by the test). Ingest pauses without acknowledging
anything, health says `storage_error` with the cause, and when the cause goes away ingest resumes by itself — every
message the broker acknowledged to the devices stored exactly once, the gateway never exited."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, event, wait_until
from tests.reliability import faults


def tickets(n: int, start: datetime, device: str = "tm1") -> list[tuple[str, bytes]]:
    return [
        event(
            "ticket_machine",
            device,
            i + 1,
            start + timedelta(seconds=i),
            type="ticket.issued",
            ticket_id=f"{device}-{i}",
            number=f"A{i:04d}",
            service="tax",
        )
        for i in range(n)
    ]


def stored(db: Path) -> list[tuple[str, int]]:
    """(device, seq) of every event in the gateway's log (read after the gateway stopped)."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        return [(str(d), int(s)) for d, s in con.execute("SELECT device_id, seq FROM events ORDER BY id")]


def status(gw: GatewayProcess) -> str:
    return str(gw.health()["status"])


def test_a_lock_held_by_another_process_pauses_ingest_and_it_resumes_by_itself(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], midday: str
) -> None:
    gw = gateway_factory(mosquitto.url, "--config", midday).start()
    now = datetime.now(CST).replace(microsecond=0)
    stream = tickets(140, now - timedelta(minutes=5))
    for topic, payload in stream[:20]:
        publisher.send(topic, payload)
    publisher.wait()
    wait_until(lambda: gw.health()["events_logged"] == 20, what="the first 20 stored")

    locker = subprocess.Popen(  # another process takes the write lock and keeps it until told to let go
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline(); c.execute('ROLLBACK')",
            str(gw.db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == b"locked"
        for topic, payload in stream[20:]:
            publisher.send(topic, payload)
        publisher.wait()  # the broker has them all: whatever the gateway does, they must not be lost
        wait_until(lambda: status(gw) == "storage_error", 30, "health to say storage_error")
        health = gw.health()
        assert "locked" in str(health["storage"]["cause"])  # type: ignore[index]
        assert health["broker_connected"] is False  # it left the broker, which keeps queueing for its session
        ingest = next(t for t in health["tasks"] if t["name"] == "ingest")  # type: ignore[attr-defined]
        assert (ingest["state"], ingest["reason"]) == ("paused", "storage_error")
        assert gw.proc is not None and gw.proc.poll() is None
    finally:
        assert locker.stdin is not None
        locker.stdin.write(b"\n")
        locker.stdin.close()
        locker.wait(10)
        if locker.stdout is not None:
            locker.stdout.close()

    wait_until(lambda: status(gw) == "ok", 60, "ingest to resume after the lock is gone")
    wait_until(lambda: gw.health()["events_logged"] == 140, 30, "every message stored")
    assert gw.health()["storage"]["faults"] == 1  # type: ignore[index]
    log = gw.output()
    assert "ingest paused: the store refuses writes" in log and "ingest resumes" in log
    assert gw.stop() == 0
    rows = stored(gw.db)
    assert sorted(rows) == sorted({("tm1", i + 1) for i in range(140)})  # each exactly once


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a file system that really fills up."""
    with faults.small_disk(tmp_path / "disk", "16m") as mount:
        yield mount


def test_a_full_disk_pauses_ingest_and_freeing_space_resumes_it(
    mosquitto: MosquittoProcess,
    publisher: Publisher,
    gateway_factory: Callable[..., GatewayProcess],
    small_disk: Path,
    midday: str,
) -> None:
    db = small_disk / "hall.db"
    config = Path(midday)  # a 16 MiB disk: its free-space warning floor (1 GB by default) scaled down with it
    config.write_text(config.read_text(encoding="utf-8") + "storage: {disk_free_min_mb: 1}\n", encoding="utf-8")
    gw = gateway_factory(
        mosquitto.url, "--config", midday, "--db", str(db)
    )  # the last --db wins; its log stays on the big disk
    gw.db = db
    gw.start()
    now = datetime.now(CST).replace(microsecond=0)
    stream = tickets(300, now - timedelta(minutes=10))
    for topic, payload in stream[:50]:
        publisher.send(topic, payload)
    publisher.wait()
    wait_until(lambda: gw.health()["events_logged"] == 50, what="the first 50 stored")

    filler = faults.fill(small_disk)
    sender = threading.Thread(target=lambda: [publisher.send(t, p) for t, p in stream[50:]])
    sender.start()
    sender.join()
    publisher.wait()
    wait_until(lambda: status(gw) == "storage_error", 30, "health to say storage_error")
    assert "full" in str(gw.health()["storage"]["cause"])  # type: ignore[index]
    assert gw.proc is not None and gw.proc.poll() is None

    filler.unlink()  # space comes back
    wait_until(lambda: status(gw) == "ok", 60, "ingest to resume after space came back")
    wait_until(lambda: gw.health()["events_logged"] == 300, 30, "every message stored")
    assert gw.stop() == 0  # SIGINT after the fault: a clean stop, no traceback
    assert "Traceback" not in gw.output()
    assert sorted(stored(gw.db)) == sorted({("tm1", i + 1) for i in range(300)})
