"""A hall with a cloud restored from an older backup, end to end with real processes: the simulated county hall on
mosquitto, the gateway sending to three NATS nodes, a consumer committing to PostgreSQL. The box sent more after the
backup than the backup holds, and the city confirmed it; restored, the box numbers from where the backup stood. The
city must then hold every record exactly once: what the box sent before the restore, and after it what the restored
box recorded — no number it gives a new record already the city's (that record would be lost as a duplicate), no
record the city holds sent again under a new number (counted twice)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edge.broker import MosquittoProcess
from tests.integration.cloud_engines import NatsCluster, PostgresServer
from tests.integration.cloud_tier import CloudTier
from tests.integration.conftest import CST, ROOT, GatewayProcess, demo_gateway, wait_until

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
SPEED = 90
HALL = "county-01"
STREAMS = (("tickets", "ticket_versions"), ("ratings", "ratings"), ("devices", "device_availability"))


@pytest.fixture
def tier(tmp_path: Path, nats_cluster: NatsCluster, postgres: PostgresServer) -> Iterator[CloudTier]:
    nats_cluster.wait_ready()
    t = CloudTier(tmp_path, nats_cluster, postgres)
    yield t
    t.close()


def hallops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def city(tier: CloudTier) -> dict[str, int]:
    return {s: int(n) for s, n in tier.sql("SELECT stream, seq FROM confirmed WHERE hall = %s", HALL)}


def alert_changes(db: Path) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """The file's streams' last numbers and its alert history (id, at, fingerprint, state), read in one snapshot."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)) as c:
        c.execute("BEGIN")
        last = {s: int(n) for s, n in c.execute("SELECT stream, last_seq FROM cloud_streams")}
        history = list(c.execute("SELECT id, round(at, 3), fingerprint, state FROM alert_history ORDER BY id"))
        c.execute("COMMIT")
    return last, history


def waiting(db: Path) -> int:
    """Alert changes the file holds that the city has not confirmed."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        row = c.execute("SELECT last_seq - confirmed FROM cloud_streams WHERE stream = 'alerts'").fetchone()
    return int(row[0]) if row else 0


def test_a_restored_hall_neither_loses_nor_doubles_a_record_in_the_city(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tier: CloudTier,
    tmp_path: Path,
) -> None:
    (consumer,) = tier.consumers(1)
    gw = demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=SPEED, edit=tier.gateway_cloud)
    config = tmp_path / "gateway.yaml"
    simulate("6h", MONDAY_9, speed=SPEED)
    wait_until(lambda: city(tier).get("alerts", 0) >= 2, 240, "the city to confirm the hall's first alert changes")
    # the city's consumer pauses: the box's next alert changes are sent, kept by the engine, and not yet confirmed —
    # so the backup holds records the city will have by the time the box is restored
    consumer.terminate()
    consumer.wait(30)
    wait_until(lambda: waiting(gw.db) >= 2, 240, "alert changes waiting for the city's confirmation")

    archive = tmp_path / "county.tar"
    made = hallops("backup", "--config", str(config), "--out", str(archive))
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as tar:
        (tmp_path / "backed-up.db").write_bytes(tar.extractfile("database/gateway.db").read())  # type: ignore[union-attr]
    mark, backed_up = alert_changes(tmp_path / "backed-up.db")
    assert mark["alerts"] == len(backed_up)  # one record per alert change, numbered in the same transaction
    assert waiting(tmp_path / "backed-up.db") >= 2

    # the consumer is back; the box goes on, and the city confirms records numbered after the backup
    tier.consumer()
    wait_until(lambda: city(tier).get("alerts", 0) >= mark["alerts"] + 3, 420, "alert changes past the backup")
    assert gw.stop() == 0
    _, before_restore = alert_changes(gw.db)
    sent = city(tier)
    restored = hallops("restore", str(archive), "--config", str(config))
    assert restored.returncode == 0, restored.stderr
    assert "cloud outbox: marked restored" in restored.stderr

    gw.start()
    wait_until(lambda: "reconciled after a restore" in gw.output(), 120, "the uplink to reconcile with the city")
    # the restored box records alert changes of its own: wait for some, and for the city to confirm them
    wait_until(lambda: alert_changes(gw.db)[0]["alerts"] >= sent["alerts"] + 3, 420, "new alert changes")
    last, history = alert_changes(gw.db)
    wait_until(
        lambda: all(city(tier).get(s, 0) >= n for s, n in last.items()), 240, "the city to confirm the restored box"
    )

    # alerts: the city's records 1…n are the changes the box sent before the restore, then the restored box's new ones
    expected = [r[1:] for r in before_restore[: sent["alerts"]]] + [r[1:] for r in history[len(backed_up) :]]
    n = last["alerts"]
    assert n == len(expected)
    got = tier.sql(
        "SELECT seq, round(extract(epoch FROM at)::numeric, 3)::float8, fingerprint, state FROM alert_history"
        " WHERE hall = %s AND seq <= %s ORDER BY seq",
        HALL,
        n,
    )
    assert [r[0] for r in got] == list(range(1, n + 1))  # no number lost
    assert [tuple(r[1:]) for r in got] == expected  # no record lost, none twice
    for stream, table in STREAMS:  # every other stream: no number lost either
        k = last.get(stream, 0)
        seqs = [r[0] for r in tier.sql(f"SELECT seq FROM {table} WHERE hall = %s AND seq <= %s ORDER BY seq", HALL, k)]
        assert seqs == list(range(1, k + 1)), f"{stream}: {len(seqs)} rows for {k} records"
