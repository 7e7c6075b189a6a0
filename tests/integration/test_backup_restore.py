"""`hallops backup` of a running hall and `hallops restore` of it, with real processes: the simulated county hall on a
real mosquitto, the gateway ingesting it while the backup is taken, then stopped, restored and started again — the
same hall as at the backup: its events, alerts and tickets, and its users (from the configuration and from the
database) sign in; what the hall did after the backup is kept aside, not deleted."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, PASSWORD, ROOT, GatewayProcess, demo_gateway, wait_until

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
CLERK_PASSWORD = "clerk's own 2026 password"


def hallops(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        return list(c.execute(query).fetchall())


def signs_in(gw: GatewayProcess, user: str, password: str) -> bool:
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        return http.post("/api/session", json={"user": user, "password": password}).status_code == 200


def test_a_hall_backed_up_while_it_runs_comes_back_the_same(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tmp_path: Path,
) -> None:
    gw = demo_gateway(gateway_factory, mosquitto.url, tmp_path)
    config = tmp_path / "gateway.yaml"
    added = hallops("users", "add", "clerk", "--role", "manager", "--db", str(gw.db), stdin=CLERK_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    simulate("4h", MONDAY_9)
    wait_until(lambda: gw.accepted() > 1500, 180, "the hall's first 1,500 messages")
    wait_until(lambda: rows(gw.db, "SELECT count(*) FROM records")[0][0] > 0, 180, "a first ticket")

    archive = tmp_path / "backups" / "county.tar"
    before, started = gw.accepted(), time.monotonic()
    made = hallops("backup", "--config", str(config), "--out", str(archive))
    took = time.monotonic() - started
    assert made.returncode == 0, made.stderr
    assert gw.accepted() > before  # it went on ingesting meanwhile
    assert gw.health()["status"] in {"ok", "degraded"} and gw.health()["storage"]["cause"] is None  # type: ignore[index]
    print(f"backup of a running hall: {took:.1f} s, {archive.stat().st_size / 1e6:.1f} MB")

    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        copy = tmp_path / "backed-up.db"
        copy.write_bytes(tar.extractfile("database/gateway.db").read())  # type: ignore[union-attr]
    assert manifest["hall"] == "county-01" and manifest["integrity_check"] == "ok"
    assert {f["path"] for f in manifest["files"]} >= {str(gw.db), str(config), str(tmp_path / "gateway-audit.key")}
    events = rows(copy, "SELECT id, topic, payload FROM events ORDER BY id")
    alerts = rows(copy, "SELECT id, at, fingerprint, state FROM alert_history ORDER BY id")
    tickets = {r[0] for r in rows(copy, "SELECT id FROM records WHERE kind = 'ticket'")}
    assert events and alerts and tickets

    # the hall goes on after the backup; someone adds a user; then the box is restored
    wait_until(lambda: gw.accepted() > before + 1500, 180, "1,500 messages more after the backup")
    late = hallops("users", "add", "late", "--role", "manager", "--db", str(gw.db), stdin=CLERK_PASSWORD + "\n")
    assert late.returncode == 0, late.stderr
    busy = hallops("restore", str(archive), "--config", str(config))
    assert busy.returncode == 4 and "stop the gateway first" in busy.stderr and "hallops" in busy.stderr
    assert gw.stop() == 0
    restored = hallops("restore", str(archive), "--config", str(config))
    assert restored.returncode == 0, restored.stderr
    assert "kept the previous" in restored.stderr and "To undo" in restored.stderr

    gw.start()
    again = rows(gw.db, "SELECT id, topic, payload FROM events ORDER BY id")
    assert again[: len(events)] == events  # every event up to the backup, as it was
    (aside,) = [p for p in tmp_path.glob("gateway.db.before-restore-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(rows(aside, "SELECT id FROM events")) > len(events) + 1000  # what came after: kept aside
    assert rows(gw.db, f"SELECT id, at, fingerprint, state FROM alert_history WHERE id <= {alerts[-1][0]}") == alerts
    listed = {t["id"] for t in gw.http.get("/api/tickets?status=all").json()}
    assert tickets <= listed
    assert signs_in(gw, "root", PASSWORD)  # a user of the configuration
    assert signs_in(gw, "clerk", CLERK_PASSWORD)  # a user of the database, added before the backup
    assert not signs_in(gw, "late", CLERK_PASSWORD)  # … and one added after it is gone with what came after
    key = tmp_path / "gateway-audit.key"
    (entry,) = [f for f in manifest["files"] if f["path"] == str(key)]
    assert hashlib.sha256(key.read_bytes()).hexdigest() == entry["sha256"]
    verified = hallops("audit", "verify", "--db", str(gw.db))
    assert verified.returncode == 0, verified.stdout + verified.stderr
