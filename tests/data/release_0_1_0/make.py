"""How `hallops-0.1.0.db.gz` and `facts.json` here were made: a database of the last released format, hallops 0.1.0
(schema version 7), the one an upgrade must start from (docs/backup.md, "Upgrade and rollback").

Made with the code of the release itself — commit b8f1616 (2026-12-06, pyproject version 0.1.0, schema version 7),
exported beside this tree and put first on the path — so that no later change of the store can creep into it:

    git archive b8f1616 | tar -x -C /tmp/hallops-0.1.0
    PYTHONPATH=/tmp/hallops-0.1.0 .venv/bin/python tests/data/release_0_1_0/make.py

The county hall's first hour (scenario `county`, seed 3, 08:30-09:30 on Monday 2026-11-23) played into the gateway
in-process (tests/hallday.py: real SQLite, the real decision layer), an alert acknowledged and a ticket taken through
the API, a database user `admin` added (`hallops users add`, password `release-0.1.0-admin`), then the gateway closed
(its state saved). `facts.json` holds what the tests compare after the upgrade: rows per table, the schema version,
and the API's alerts and tickets just before closing.

tests/unit/edge/test_upgrade.py opens a copy with the code of today: migrated, rows intact, a pre-upgrade backup
written, and `hallops restore` of that backup gives this file's content back at version 7.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import shutil
import sqlite3
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from edge.cli import main as hallops
from edge.store.schema import VERSION
from tests.hallday import HallDay, plain_config

HERE = Path(__file__).parent
CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 23, 8, 30, tzinfo=CST)
END = START + timedelta(minutes=60)
PASSWORD = "release-0.1.0-admin"


async def main() -> None:
    assert VERSION == 7, f"run with the 0.1.0 release's code first on the path (this is schema version {VERSION})"
    tmp = Path(tempfile.mkdtemp())
    try:
        db = tmp / "hallops.db"
        with HallDay(plain_config(db, "county-01", 120), START) as day:
            day.play(HallSimulation(load_scenario("county"), 3, START, END))
            async with day.api() as http:
                alerts = (await http.get("/api/alerts?state=firing")).json()
                if alerts:
                    await http.post(f"/api/alerts/{alerts[0]['fingerprint']}/ack", json={})
                tickets = (await http.get("/api/tickets?status=open")).json()
                if tickets:
                    await http.post(f"/api/tickets/{tickets[0]['id']}/acknowledge", json={})
                day.advance(END + timedelta(seconds=30))
                api = {
                    "alerts": (await http.get("/api/alerts?state=all&limit=1000")).json(),
                    "tickets": (await http.get("/api/tickets?status=all")).json(),
                }
        sys.stdin = io.StringIO(PASSWORD + "\n")
        assert hallops(["users", "add", "admin", "--role", "administrator", "--db", str(db)]) == 0
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.execute("PRAGMA journal_mode=DELETE")  # one file: nothing beside it
            tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            rows = {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            version = c.execute("PRAGMA user_version").fetchone()[0]
        with db.open("rb") as raw, gzip.open(HERE / "hallops-0.1.0.db.gz", "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
        facts = {"schema_version": version, "hall": "county-01", "rows": rows, "admin_password": PASSWORD, **api}
        (HERE / "facts.json").write_text(json.dumps(facts, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
        print(f"schema version {version}; rows {rows}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    asyncio.run(main())
