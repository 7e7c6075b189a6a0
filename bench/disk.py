"""Disk benchmark: what one simulated weekday of a hall adds to the gateway's file, table by table, and what the file
settles at under the default retention (issue 22 point 5; docs/performance.md "Disk", docs/deploy.md "Sizing").

For each scenario asked for (`--halls city,county`): one simulated Monday, 00:00 to 24:00 — the devices' heartbeats
and telemetry go on through the night — (`HallSimulation`, seed `--seed`) played
through an in-process `edge.gateway.Gateway` on a `FixedClock` that follows the simulated time, as bench/growth.py
does (`handle()` per message, `flush()` and `decider.evaluate()` every `--eval-every` simulated seconds), into a new
file (created with `auto_vacuum=INCREMENTAL`, as a new gateway file is). Then, from SQLite's `dbstat`: the bytes each
table and its indexes hold, rows per table, bytes per event; and from those the steady state under the default
retention (events 90 days, alert history 365 days, sent outbox rows 30 days, closed records 365 days, the audit chain
and rule versions kept); with `--weekend` a Saturday of the same scenario too
(the hall closed: its devices' heartbeats and telemetry only), and the calendar's days counted 5 weekdays to 2.

Then the prune itself, on the city file scaled to `--prune-days` copies of the day's events: the events of all but
the last day deleted the way the gateway does it (EventLog.prune in batches of 2,000 rows, yielding between), the
longest batch (the write lock's hold), and `PRAGMA incremental_vacuum` giving the space back (file size before and
after).

Run:  .venv/bin/python bench/disk.py [--halls city,county] [--seed 1] [--eval-every 60] [--prune-days 3] [--json OUT]
Everything is in-process on temporary files; nothing listens on the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devices.simulator import HallSimulation, SimMessage, load_scenario  # noqa: E402
from edge.config import GatewayConfig  # noqa: E402
from edge.demo import scenario_config  # noqa: E402
from edge.gateway import Gateway  # noqa: E402
from edge.store import Store  # noqa: E402
from edge.store.retention import BATCH_ROWS  # noqa: E402
from rules.clock import FixedClock  # noqa: E402

MONDAY = date(2026, 11, 23)
SATURDAY = date(2026, 11, 28)
KEEP_DAYS = {"events": 90, "alert_history": 365, "outbox": 30, "records": 365}  # the defaults (edge/config.py)
WORKDAYS_PER_YEAR = 250  # Monday–Friday less public holidays (a hall's calendar: about 250)
MB = 1024 * 1024


def config(scenario: str, db: Path) -> GatewayConfig:
    cfg = scenario_config(load_scenario(scenario), "mqtt://127.0.0.1:1883", db, ("127.0.0.1", 0), 1.0)
    data = cfg.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data.pop("clock", None)
    data.setdefault("ingest", {})["plausible_past_s"] = 400 * 86400.0
    return GatewayConfig.model_validate(data)


def play(scenario: str, day: date, db: Path, seed: int, every_s: float) -> int:
    """One simulated day of `scenario` into `db` through an in-process gateway; the messages played."""
    sc = load_scenario(scenario)
    zone = ZoneInfo(sc.hall.timezone)
    # the whole calendar day: the devices' heartbeats and telemetry go on through the night (nine in ten messages)
    start = datetime.combine(day, dtime(), zone)
    end = start + timedelta(days=1)
    msgs = [
        m
        for m in HallSimulation(sc, seed, start, end).messages()
        if isinstance(m, SimMessage) and m.kind in ("publish", "disconnect")
    ]
    clock = FixedClock(msgs[0].at - timedelta(minutes=30))
    gw = Gateway(config(scenario, db), clock=clock)
    gw.open()
    assert gw.decider is not None
    due = msgs[0].at
    for m in msgs:
        while m.at >= due:
            clock.set(due)
            gw.flush()
            gw.decider.evaluate()
            due += timedelta(seconds=every_s)
        clock.set(m.at)
        gw.handle(m.topic, m.payload, m.at)
    clock.set(msgs[-1].at + timedelta(minutes=15))
    gw.flush()
    gw.decider.evaluate()
    gw.close()
    return len(msgs)


def tables(db: Path) -> dict[str, dict[str, int]]:
    """Per table: rows, and the bytes of its pages and its indexes' (dbstat)."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        owner = {str(n): str(t) for n, t in conn.execute("SELECT name, tbl_name FROM sqlite_schema")}
        out: dict[str, dict[str, int]] = {}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(str(name), str(name))
            row = out.setdefault(table, {"rows": 0, "bytes": 0})
            row["bytes"] += int(size)
        for table, row in out.items():
            if table.startswith("sqlite_") or table not in owner.values():
                continue
            row["rows"] = int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        out["(file)"] = {"rows": 0, "bytes": db.stat().st_size}
    return out


def steady(day: dict[str, dict[str, int]], weekend: dict[str, dict[str, int]] | None) -> dict[str, float]:
    """MB at steady state under the default retention, and MB a year of what is kept."""
    per = {t: v["bytes"] for t, v in day.items() if not t.startswith("(")}
    off = {t: v["bytes"] for t, v in (weekend or {}).items() if not t.startswith("(")}

    def days_of(table: str, n: int) -> float:
        # n calendar days hold 5/7 weekdays and 2/7 weekend days
        return per.get(table, 0) * n * 5 / 7 + off.get(table, 0) * n * 2 / 7

    # the tables kept for good (audit chain, rule versions) grow with people's changes, which a simulated day does not
    # make: docs/deploy.md sizes them from a row's bytes instead
    out = {f"{t} ({n} d)": days_of(t, n) / MB for t, n in KEEP_DAYS.items()}
    out["steady state"] = sum(days_of(t, n) for t, n in KEEP_DAYS.items()) / MB
    return out


def prune_measure(day_db: Path, work: Path, copies: int) -> dict[str, float]:
    """The day's events copied `copies` times (a day apart), then all but the newest day pruned as the gateway does;
    the longest batch, the file before and after incremental vacuum."""
    db = work / "prune.db"
    src = sqlite3.connect(day_db)
    dst = sqlite3.connect(db)
    dst.execute("PRAGMA auto_vacuum=INCREMENTAL")
    src.backup(dst)
    src.close()
    cols = "received_at, at, device_type, device_id, channel, type, seq, topic, payload"
    for k in range(1, copies):
        dst.execute(
            f"INSERT INTO events ({cols}) SELECT received_at - ?, at - ?, device_type, device_id, channel, type, seq, "
            "topic, payload FROM events WHERE id <= (SELECT count(*) FROM events) / ? ORDER BY id",
            (k * 86400, k * 86400, k),
        )
        dst.commit()
    dst.execute("UPDATE hall_state SET event_id = (SELECT max(id) FROM events)")  # saved after all of them
    dst.commit()
    dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dst.close()
    store = Store(db)
    try:
        events = store.events.count()
        newest = store.events.newest_at() or 0.0
        before = db.stat().st_size
        longest = 0.0
        t0 = time.perf_counter()
        gone = 0
        holds: list[float] = []
        while True:
            b0 = time.perf_counter()
            n = store.retention.events(newest - 86400, BATCH_ROWS)
            holds.append((time.perf_counter() - b0) * 1000)
            gone += n
            if n < BATCH_ROWS:
                break
        longest = max(holds)
        pruned_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        vac: list[float] = []
        while True:
            b0 = time.perf_counter()
            freed = store.retention.vacuum_step()
            vac.append((time.perf_counter() - b0) * 1000)
            if freed == 0:
                break
        store.retention.checkpoint()
        after = db.stat().st_size
        return {
            "events": events,
            "pruned": gone,
            "batches": len(holds),
            "longest_batch_ms": longest,
            "median_batch_ms": statistics.median(holds),
            "prune_s": pruned_s,
            "vacuum_s": time.perf_counter() - t1,
            "longest_vacuum_step_ms": max(vac),
            "file_mb_before": before / MB,
            "file_mb_after": after / MB,
        }
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halls", default="city,county")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=float, default=60.0)
    ap.add_argument("--prune-days", type=int, default=3)
    ap.add_argument("--weekend", action="store_true", help="also a Saturday (the hall closed)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="hallops-bench-disk-") as tmp:
        work = Path(tmp)
        for hall in args.halls.split(","):
            t0 = time.perf_counter()
            db = work / f"{hall}.db"
            played = play(hall, MONDAY, db, args.seed, args.eval_every)
            day = tables(db)
            weekend = None
            if args.weekend:
                wdb = work / f"{hall}-sat.db"
                play(hall, SATURDAY, wdb, args.seed, args.eval_every)
                weekend = tables(wdb)
            ev = day.get("events", {"rows": 0, "bytes": 0})
            results[hall] = {
                "messages": played,
                "tables": day,
                "weekend": weekend,
                "bytes_per_event": ev["bytes"] / max(1, ev["rows"]),
                "steady_mb": steady(day, weekend),
                "seconds": time.perf_counter() - t0,
            }
            print(f"\n{hall}: {played:,} messages, one weekday ({time.perf_counter() - t0:.0f} s)")
            print(f"{'table':<20} {'rows':>10} {'MB':>9} {'B/row':>7}")
            for table, v in sorted(day.items(), key=lambda kv: -kv[1]["bytes"]):
                per_row = v["bytes"] / v["rows"] if v["rows"] else 0
                print(f"{table:<20} {v['rows']:>10,} {v['bytes'] / MB:>9.2f} {per_row:>7.0f}")
            if weekend is not None:
                print(f"a closed Saturday: {weekend['(file)']['bytes'] / MB:.2f} MB file")
            for k, mb in steady(day, weekend).items():
                print(f"  {k:<28} {mb:>10.1f} MB")
            if hall == "city" and args.prune_days > 1:
                p = prune_measure(db, work, args.prune_days)
                results["prune"] = p
                print(
                    f"\nprune: {p['pruned']:,.0f} of {p['events']:,.0f} events in {p['batches']:.0f} batches of "
                    f"≤ {BATCH_ROWS:,} rows, {p['prune_s']:.1f} s; longest batch {p['longest_batch_ms']:.1f} ms "
                    f"(median {p['median_batch_ms']:.1f}); incremental vacuum {p['vacuum_s']:.1f} s, longest step "
                    f"{p['longest_vacuum_step_ms']:.1f} ms; "
                    f"file {p['file_mb_before']:.1f} → {p['file_mb_after']:.1f} MB"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    ZoneInfo("Asia/Shanghai")
    main()
