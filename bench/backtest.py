"""Backtest speed: events replayed per second, and a week of the city hall backtested (target: under 60 s on 2 cores).

    .venv/bin/python bench/backtest.py [--days 7] [--db /tmp/city-week.db] [--step 60] [--serial]

1. The week: the city-hall scenario (60 windows, 20 services, 158 devices) simulated Monday 2026-11-23 to Sunday
   (one seed per day), every message the devices publish written to a gateway event log (SQLite) as the gateway
   logs it. Not timed; `--db` keeps the file for the next run.
2. Baseline, in the same run: the hall alone — every logged event decoded against the contract and applied to the
   hall model, no rules (the floor under any replay).
3. The backtest as `hallops rules backtest` runs it: the built-in pack (as in force) beside a candidate that
   re-calls an unanswered number after 45 s instead of 60 s, each version on its own schedule, the candidate on
   the second core (`--serial`: one process as well, for comparison). Reported: wall time, events/s, evaluations,
   alerts of each version, the difference.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from devices.codec import decode  # noqa: E402
from devices.errors import PayloadError  # noqa: E402
from devices.simulator import HallSimulation, load_scenario  # noqa: E402
from devices.simulator.model import day_bounds  # noqa: E402
from edge.backtest import Result, backtest  # noqa: E402
from edge.demo import scenario_config  # noqa: E402
from edge.store import EventBatch, EventRow, Store  # noqa: E402
from rules.hall import HallState  # noqa: E402
from rules.language import BUILTIN, RuleFile, builtin_rules, parse_rules  # noqa: E402

MONDAY = date(2026, 11, 23)
TZ = ZoneInfo("Asia/Shanghai")


def record_week(db: Path, days: int) -> int:
    """The simulated week in the event log; returns the number of events (reuses a complete file)."""
    if db.exists():
        store = Store(db)
        try:
            if store.meta.get("bench_days") == str(days):
                return store.events.count()
        finally:
            store.close()
        db.unlink()
    scenario = load_scenario("city")
    store = Store(db)
    try:
        for d in range(days):
            day = MONDAY + timedelta(days=d)
            start, end = day_bounds(scenario, day)
            rows: list[EventRow] = []
            for m in HallSimulation(scenario, 1 + d, start, end).messages():
                if m.kind != "publish":
                    continue
                msg = decode(m.topic, m.payload, m.at)
                if msg is None:
                    continue
                t = msg.at.timestamp()
                rows.append(
                    EventRow(
                        t,
                        t,
                        msg.device_type.value,
                        msg.device_id,
                        msg.channel.value,
                        msg.type,
                        msg.seq,
                        m.topic,
                        m.payload,
                    )
                )
            store.events.write(EventBatch.of(rows))
            print(f"  recorded {day} ({day:%a}): {len(rows):,} events", flush=True)
        store.meta.set("bench_days", str(days))
        return store.events.count()
    finally:
        store.close()


def baseline(db: Path, days: int) -> tuple[int, float]:
    """Decode + apply every event of the week to the hall model, no rules: (events, seconds)."""
    cfg = scenario_config(load_scenario("city"), "mqtt://127.0.0.1:1883", db, ("127.0.0.1", 0), 1.0)
    store = Store(db)
    hall = HallState(cfg.profile())
    start = datetime.combine(MONDAY, datetime.min.time(), TZ)
    n = 0
    began = time.perf_counter()
    for ev in store.events.rows_between(start.timestamp(), (start + timedelta(days=days)).timestamp()):
        try:
            msg = decode(ev.topic, ev.payload, datetime.fromtimestamp(ev.received_at, UTC), max_bytes=1 << 30)
        except PayloadError:
            continue
        if msg is not None:
            hall.apply(msg)
            n += 1
    seconds = time.perf_counter() - began
    store.close()
    return n, seconds


def candidate() -> RuleFile:
    pack = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    rule = next(r for r in pack["rules"] if r["id"] == "call-unanswered")
    rule["when"]["value"] = 45
    return parse_rules(pack, "candidate")


def run(db: Path, days: int, step: float, parallel: bool) -> Result:
    cfg = scenario_config(load_scenario("city"), "mqtt://127.0.0.1:1883", db, ("127.0.0.1", 0), 1.0)
    store = Store(db)
    start = datetime.combine(MONDAY, datetime.min.time(), TZ)
    try:
        return backtest(
            cfg,
            store,
            builtin_rules(),
            candidate(),
            start,
            start + timedelta(days=days),
            step_s=step,
            parallel=parallel,
        )
    finally:
        store.close()


def report(name: str, r: Result, base_rate: float) -> None:
    a, c = r.active.firings.per_rule(), r.candidate.firings.per_rule()
    print(
        f"\n{name}: {r.seconds:.1f} s for {r.events:,} events — {r.events_per_s:,.0f} events/s "
        f"({r.events_per_s / base_rate:.2f} × the hall-only baseline)"
    )
    print(f"  evaluations: {r.active.evaluations:,} per version")
    print(
        f"  alerts: in force {sum(a.values()):,}, candidate {sum(c.values()):,}; tickets {len(r.active.tickets)} / "
        f"{len(r.candidate.tickets)}; recommendations {len(r.active.recommendations)} / "
        f"{len(r.candidate.recommendations)}"
    )
    print(
        f"  difference: {len(r.diff.both):,} alerts in both, {len(r.diff.only_candidate):,} only the candidate's, "
        f"{len(r.diff.only_active):,} only the in-force version's; by rule: "
        + ", ".join(f"{k} {v}" for k, v in r.diff.per_rule().items() if v["only_candidate"] or v["only_active"])
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--db", type=Path, default=Path("/tmp/hallops-bench-city-week.db"))
    ap.add_argument("--step", type=float, default=60.0)
    ap.add_argument("--serial", action="store_true", help="also time the one-process backtest")
    args = ap.parse_args()

    print(f"recording {args.days} simulated city-hall days into {args.db} …", flush=True)
    events = record_week(args.db, args.days)
    print(f"  {events:,} events in the log")
    n, seconds = baseline(args.db, args.days)
    base_rate = n / seconds
    print(f"\nbaseline (decode + hall model, no rules): {seconds:.1f} s — {base_rate:,.0f} events/s")
    results = [("backtest, candidate on the second core", run(args.db, args.days, args.step, parallel=True))]
    if args.serial:
        results.append(("backtest, one process", run(args.db, args.days, args.step, parallel=False)))
    for name, r in results:
        report(name, r, base_rate)
    best = results[0][1]
    if args.serial:
        same = [(x.fingerprint, x.fired_at) for x in results[1][1].candidate.alerts] == [
            (x.fingerprint, x.fired_at) for x in best.candidate.alerts
        ]
        print(f"\none process and two give the same answer: {same}")
    verdict = "PASS" if best.seconds < 60 and args.days >= 7 else "FAIL" if args.days >= 7 else "n/a (not a week)"
    print(f"\nverdict: a week backtested in {best.seconds:.1f} s (target < 60 s on this 2-core box) — {verdict}")


if __name__ == "__main__":
    main()
