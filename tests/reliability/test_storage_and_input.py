"""Faults of the box and of the devices while the city hall talks: the data directory's file system full and then
freed, the database's write lock held by another process for a while, and a flood of malformed messages mixed into
the valid traffic. In each, every QoS 1 event the broker acknowledged is stored once, nothing is notified twice under
two ids, the gateway never exits, and it is back (health `ok`, ingest moving) within RECOVERY_S of the fault's end.

tests/integration/test_storage_faults.py proves a full disk and a held lock pause ingest and resume it (a ticket
stream, health's wording); here it is the city hall's traffic with its rules, notifications and recovery times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.broker import MosquittoProcess
from tests.harness import wait_until
from tests.reliability.conftest import HALL, Hall, city_slice
from tests.reliability.faults import DatabaseLock, fill, malformed, small_disk
from tests.reliability.scenario import Devices, Record, rss
from tests.reliability.test_broker_and_gateway import assert_reliable, gone

CST = timezone(timedelta(hours=8))
MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=CST)
FAULT_S = 12.0  # longer than gateway-storage-error's `for: 10s`: the technician is told
FLOOD = 480  # 30 of each malformed kind, 30 of them 900 KiB


def storage_error(h: Hall) -> bool:
    return h.gw.health()["status"] == "storage_error"


def storage_fault(h: Hall, record: Record, make: Callable[[], Callable[[], None]]) -> None:
    """Start the fault with `make()` (which returns what ends it) a third into the slice, keep it FAULT_S from when
    health says `storage_error`, end it and time the recovery."""
    msgs = city_slice(MORNING, 5)
    h.play(msgs)
    h.progress(len(msgs) // 8)  # early: the write-ahead log still has to grow (a full disk bites then)
    began = time.monotonic()
    end = make()
    wait_until(lambda: storage_error(h), 60, "health to say storage_error")
    time.sleep(FAULT_S)
    h.sample()
    assert h.running(), "the gateway exited on a storage fault"
    end()
    ended = time.monotonic()
    record.recovery_s.append(round(h.recovered(ended), 2))
    h.faults.append((began, time.monotonic()))  # until it takes messages again
    h.finish(record)
    expected, raised, wrong = h.alerts(gone(msgs))
    storage = h.fired("gateway-storage-error")
    record.alerts_expected, record.alerts_raised = f"{expected}, 1 storage", f"{raised}, {storage} storage"
    if storage != 1:
        wrong.append(f"gateway-storage-error fired {storage} times for one fault of {FAULT_S:.0f} s")
    assert_reliable(record, wrong)


def test_disk_full_then_freed_under_city_traffic(hall: Callable[..., Hall], tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "48m") as disk:
        # a 48 MB file system is nearly full by the disk budget's measure (docs/configuration.md): warn under 1 MB
        h = hall(db=disk / "hall.db", edit=lambda cfg: cfg["storage"].update(disk_free_min_mb=1))

        def full() -> Callable[[], None]:
            return fill(disk).unlink

        storage_fault(h, Record("disk full, then freed"), full)


def test_database_locked_by_another_process_under_city_traffic(hall: Callable[..., Hall]) -> None:
    h = hall()

    def locked() -> Callable[[], None]:
        lock = DatabaseLock(h.gw.db).__enter__()
        return lambda: lock.__exit__(None, None, None)

    storage_fault(h, Record("database locked"), locked)


def test_malformed_flood_mixed_with_city_traffic(hall: Callable[..., Hall], broker: MosquittoProcess) -> None:
    h = hall()
    msgs = city_slice(MORNING, 5)
    h.play(msgs)
    h.progress(len(msgs) // 3)
    h.sample()
    before = h.gw.counters()
    rss_before = rss(h.gw.proc.pid if h.gw.proc else None)
    bad = Devices(broker.port, "broken-device")
    for topic, payload in malformed(HALL, FLOOD, ("window/W01", "ticket_machine/TM01")):
        bad.send(topic, payload)
    bad.wait(120)
    bad.close()

    def refused() -> int:
        c = h.gw.counters()
        now = int(sum(c["rejected"].values())) + int(c["ignored"])
        return now - int(sum(before["rejected"].values())) - int(before["ignored"])

    since = time.monotonic()
    wait_until(lambda: refused() >= FLOOD, 120, "every malformed message counted")
    h.sample()
    grew = h.peak_rss - rss_before
    record = Record(f"malformed flood ({FLOOD})")
    record.recovery_s.append(round(h.recovered(since), 2))
    h.finish(record)
    record.alerts_expected, record.alerts_raised, wrong = h.alerts(gone(msgs))
    record.note = f"RSS +{grew / 1e6:.0f} MB during the flood"

    assert refused() == FLOOD if h.running() else True
    assert_reliable(record, wrong)
