"""How `gateway.db.gz` and `facts.json` here were made (run at commit 453cbee, 2026-12-05, before the state formats
were rewritten in issue 15): the county hall's morning (scenario `county`, seed 1, 08:30-11:00 on Monday
2026-11-23) played into the gateway in-process, with a silence, an acknowledged alert and an acknowledged ticket, then
the gateway closed (its state saved). `facts.json` is what the API said just before closing.

    .venv/bin/python tests/data/saved_state/make.py

tests/system/test_saved_state.py opens the gateway of today on a copy of that file at the same hall time and
requires the API to say the same: a box upgraded overnight keeps its alerts, tickets, recommendations and hall.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from tests.hallday import HallDay, plain_config

HERE = Path(__file__).parent
CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 23, 8, 30, tzinfo=CST)
END = START + timedelta(minutes=150)
READS = [
    "/api/hall",
    "/api/alerts?state=all&limit=1000",
    "/api/silences",
    "/api/tickets?status=all",
    "/api/recommendations",
    "/api/health",
]


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        db = tmp / "gateway.db"
        with HallDay(plain_config(db, "county-01", 120), START) as day:
            day.play(HallSimulation(load_scenario("county"), 1, START, END))
            async with day.api() as http:
                alerts = (await http.get("/api/alerts?state=firing")).json()
                r = await http.post(f"/api/alerts/{alerts[0]['fingerprint']}/ack", json={})
                print("ack", r.status_code, r.text[:200])
                r = await http.post(
                    "/api/silences", json={"rule": "missed-ticket", "minutes": 240, "comment": "known: a noisy morning"}
                )
                print("silence", r.status_code, r.text[:200])
                tickets = (await http.get("/api/tickets?status=open")).json()
                r = await http.post(f"/api/tickets/{tickets[0]['id']}/acknowledge", json={})
                print("take", r.status_code, r.text[:200])
                day.advance(END + timedelta(seconds=30))
                facts = {path: (await http.get(path)).json() for path in READS}
        with db.open("rb") as raw, gzip.open(HERE / "gateway.db.gz", "wb", compresslevel=9) as packed:
            shutil.copyfileobj(raw, packed)
        (HERE / "facts.json").write_text(json.dumps(facts, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    asyncio.run(main())
