"""Growth benchmark: issue 16's "flat costs" and "bounded growth" figures.

Reports in one run:
  (1) the logs: gateway databases holding N days of the city hall's history (`--days 1,7,30`), built in-process
      without a broker: one simulated city-hall day (`HallSimulation`, seed `--seed`, a Monday) replayed on each of
      the last N weekdays before today (hall time, Asia/Shanghai), its dates rewritten (`ts`, ticket ids), through
      an in-process `edge.gateway.Gateway` on a `FixedClock` that follows the simulated time: `handle()` per message,
      `flush()` and `decider.evaluate()` every `--eval-every` simulated seconds, as the hall's gateway would log and
      decide (system clock, `ingest.plausible_past_s` wide enough for the past days). Every day is the same day, so
      what grows from N to N is only what the gateway keeps: the log, the alerts, the unclosed rectification tickets
      that the day's bad ratings (1–2 stars, about 19 a day) open. The gateway is closed at the end of day N for
      each N asked for (a copy of the database is measured), and reopened for the next day;
  (2) evaluation time at N days: on day N, from the busy hour's start (09:30), `--evals` evaluations 1 s of simulated
      time apart with that second's messages fed between them, each timed (perf_counter) — ms p50 / mean / max;
  (3) start-up time at N days: the in-process `Gateway.open()` on a copy (clock at the end of day N) twice — the
      first start on the file as the log left it (it learns what the file holds no saved copy of, e.g. the demand
      profile of a file an earlier release wrote, and saves it at close) and a start after that, as every later
      start finds the file —, and
      `hallops gateway --db <copy>` (tests/harness.py `GatewayProcess`, a real `MosquittoProcess`, the wall clock
      moved to the end of day N with Debian's libfaketime) from process start until `/api/health` says
      `broker_connected` — both with the city hall's configuration (hall id and time zone, plausibility);
  (4) the phantom-entity flood: a gateway with the default configuration against a real mosquitto; RSS after start
      and a short valid warm-up, then 40 messages under 64 KiB (camera `occupancy` with thousands of distinct
      `zones` keys, thousands of distinct `staff_present` keys, `rating.submitted` for unknown `window_id`s,
      ts = now); once all 40 are counted in `/api/health` (accepted + rejected + duplicates + ignored): RSS again,
      the size of `/api/hall`, the time of `GET /api/hall` and `GET /api/windows`, the rejections by reason.

Run:  .venv/bin/python bench/growth.py [--days 1,7,30] [--evals 200] [--eval-every 60] [--seed 1] [--skip-flood]
         [--keep DIR]     keep the databases (days-N.db) of this run
         [--databases DIR]   only (3), on the days-N.db an earlier run kept
Every process is started and stopped here; every loop is bounded in count or time; everything runs on 127.0.0.1.
Times are on this box under whatever else runs on it: compare the rows of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from devices.simulator import HallSimulation, SimMessage, load_scenario  # noqa: E402
from devices.simulator.model import day_bounds  # noqa: E402
from edge.broker import MosquittoProcess  # noqa: E402
from edge.config import GatewayConfig  # noqa: E402
from edge.demo import scenario_config  # noqa: E402
from edge.gateway import Gateway  # noqa: E402
from edge.store import connection  # noqa: E402
from rules.clock import FixedClock  # noqa: E402
from tests.harness import GatewayProcess, HallopsProcess, wait_until  # noqa: E402

HALL = "city-01"
ZONE = ZoneInfo("Asia/Shanghai")  # the city scenario's hall.timezone
SIM_DAY = date(2026, 11, 23)  # the Monday that is simulated once and replayed on every day of the log
BUSY = dtime(9, 30)  # the city scenario's morning peak (09:30–10:30)
AFTER_CLOSE = timedelta(minutes=15)  # "the end of the day": the clock the databases are opened at
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"  # Debian package libfaketime
MAX_PAYLOAD = 64 * 1024
FLOOD = 40
FLOOD_WAIT_S = 60.0
START_WAIT_S = 180.0  # a gateway process's start-up, bounded
RSS_TARGET_B = 10 * 1024 * 1024


# ---------------------------------------------------------------------------------------------- (1) the logs


def city_config(db: Path) -> GatewayConfig:
    """The city hall's gateway configuration as the demo makes it, on the system clock (the default), accepting
    device times as far back as the oldest simulated day."""
    cfg = scenario_config(load_scenario("city"), "mqtt://127.0.0.1:1883", db, ("127.0.0.1", 0), 1.0)
    data = cfg.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data.pop("clock", None)
    data.setdefault("ingest", {})["plausible_past_s"] = 120 * 86400.0
    return GatewayConfig.model_validate(data)


def weekdays_before(today: date, n: int) -> list[date]:
    """The last `n` weekdays (Monday–Friday) before `today`, oldest first."""
    out: list[date] = []
    day = today
    while len(out) < n:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            out.append(day)
    return out[::-1]


@dataclass(frozen=True, slots=True)
class Message:
    at: datetime
    topic: str
    payload: bytes


def simulated_day(seed: int) -> list[Message]:
    """The city hall's Monday as its devices publish it (a disconnect carries the will the broker would send)."""
    scenario = load_scenario("city")
    start, end = day_bounds(scenario, SIM_DAY)
    return [
        Message(m.at, m.topic, m.payload)
        for m in HallSimulation(scenario, seed, start, end).messages()
        if isinstance(m, SimMessage) and m.kind in ("publish", "disconnect")
    ]


def moved(day: list[Message], to: date) -> list[Message]:
    """The simulated day on another date: its times, its `ts` fields and its dated ticket ids."""
    shift = datetime.combine(to, dtime(), ZONE) - datetime.combine(SIM_DAY, dtime(), ZONE)
    iso, compact = SIM_DAY.isoformat().encode(), SIM_DAY.strftime("%Y%m%d").encode()
    new_iso, new_compact = to.isoformat().encode(), to.strftime("%Y%m%d").encode()
    return [Message(m.at + shift, m.topic, m.payload.replace(iso, new_iso).replace(compact, new_compact)) for m in day]


@dataclass
class DayStats:
    messages: int = 0
    evaluations: int = 0
    eval_ms: list[float] = field(default_factory=list)  # the busy hour's timed evaluations (day N only)
    seconds: float = 0.0


def play_day(gw: Gateway, clock: FixedClock, msgs: list[Message], every_s: float, timed: int) -> DayStats:
    """Feed one day to the gateway as the hall's pace would: messages in order, an evaluation every `every_s`
    simulated seconds, and from the busy hour's start `timed` evaluations 1 s apart, each timed."""
    assert gw.decider is not None
    stats = DayStats()
    began = time.perf_counter()
    day = msgs[0].at.astimezone(ZONE).date()
    busy = datetime.combine(day, BUSY, ZONE)
    due = msgs[0].at
    timing = 0

    def evaluate(at: datetime) -> None:
        assert gw.decider is not None
        clock.set(at)
        gw.flush()
        t0 = time.perf_counter()
        gw.decider.evaluate()
        if timing:
            stats.eval_ms.append((time.perf_counter() - t0) * 1000)
        stats.evaluations += 1

    for m in msgs:
        while m.at >= due:
            if timed and not timing and due >= busy:
                timing = timed
            evaluate(due)
            if timing:
                timing -= 1
                timed = timing
                due += timedelta(seconds=1)
            else:
                due += timedelta(seconds=every_s)
        clock.set(m.at)
        gw.handle(m.topic, m.payload, m.at)
        stats.messages += 1
    evaluate(msgs[-1].at + AFTER_CLOSE)
    stats.seconds = time.perf_counter() - began
    return stats


def decision_sizes(db: Path) -> dict[str, int]:
    """Open alerts and tickets, and the saved decision state's bytes, read from a closed database."""
    import sqlite3  # noqa: PLC0415

    out: dict[str, int] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for table in ("decision_state", "hall_state"):
            try:
                (n,) = conn.execute(f"SELECT coalesce(sum(length(body)), 0) FROM {table}").fetchone()
                out[table] = int(n)
            except sqlite3.Error:
                pass
        (out["events"],) = conn.execute("SELECT count(*) FROM events").fetchone()
    return out


def db_bytes(db: Path) -> int:
    return sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal", "-shm") if Path(f"{db}{s}").exists())


def copy_db(src: Path, dst: Path) -> Path:
    for s in ("", "-wal", "-shm"):
        if Path(f"{src}{s}").exists():
            shutil.copyfile(f"{src}{s}", f"{dst}{s}")
    return dst


# ---------------------------------------------------------------------------------------------- (3) start-up


def open_time(db: Path, at: datetime) -> tuple[float, float, float, dict[str, int]]:
    """The in-process `Gateway.open()` on `db` with the clock at `at`, twice (s): the first start on the file as the
    log left it, which learns what it has no saved copy of (a file of an earlier release: the demand profile) and saves
    it when it closes; and a start after that, as every later start finds the file — with the part of that second
    open spent in the page check (`PRAGMA quick_check`, which reads every page of the file: timed inside the open, on
    the same cache). And what it holds once open."""
    times: list[float] = []
    checks: list[float] = []
    held: dict[str, int] = {}
    real = connection.check_pages  # type: ignore[attr-defined]  # the module's own name for it, patched here

    def timed(db: sqlite3.Connection, path: Path) -> None:
        t0 = time.perf_counter()
        try:
            real(db, path)
        finally:
            checks.append(time.perf_counter() - t0)

    connection.check_pages = timed  # type: ignore[attr-defined]
    try:
        for _ in range(2):
            gw = Gateway(city_config(db), clock=FixedClock(at))
            t0 = time.perf_counter()
            gw.open()
            times.append(time.perf_counter() - t0)
            assert gw.decider is not None
            tickets = gw.decider.tickets.tickets
            held = {
                "alerts": len(gw.decider.engine.alerts),
                "tickets": len(tickets),
                "unclosed": sum(1 for t in tickets if t.status.value != "closed"),
            }
            gw.close()
    finally:
        connection.check_pages = real  # type: ignore[attr-defined]
    return times[0], times[1], checks[-1], held


def start_up(work: Path, snap: Path, n: int, end: datetime, broker_url: str) -> dict[str, object]:
    """(3) for the database of day `n`: both in-process opens, then the process start on the file they left."""
    sizes = decision_sizes(snap)
    opened = copy_db(snap, work / f"open-{n}.db")
    first, later, check, held = open_time(opened, end)
    started = process_start_time(work, opened, end, broker_url)
    print(
        f"    {n} days: open {first:.2f} s first, {later:.2f} s after (page check {check:.2f} s), "
        f"process start {started:.2f} s",
        file=sys.stderr,
        flush=True,
    )
    return {
        "open_first_s": first,
        "open_s": later,
        "check_s": check,
        "start_s": started,
        "db_mb": db_bytes(snap) / 2**20,
        **sizes,
        **held,
    }


def faked_clock(at: datetime) -> list[str]:
    libs = sorted(glob.glob(LIBFAKETIME))
    if not libs:
        raise SystemExit(f"libfaketime is not installed ({LIBFAKETIME}): apt-get install libfaketime")
    offset = round(at.timestamp() - time.time())
    return [f"LD_PRELOAD={libs[0]}", f"FAKETIME={offset:+d}", "FAKETIME_DONT_FAKE_MONOTONIC=1"]


def process_start_time(work: Path, db: Path, at: datetime, broker_url: str) -> float:
    """`hallops gateway` on a copy of `db`, its wall clock at `at`: process start → /api/health broker_connected."""
    config = work / "city.yaml"
    data = city_config(db).model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    config.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    gw = GatewayProcess(work, broker_url, "--config", str(config), hall=HALL, name="startup", log_level="WARNING")
    copy_db(db, gw.db)
    gw.args = ["env", *faked_clock(at), *gw.args]
    t0 = time.monotonic()
    HallopsProcess.start(gw)  # not GatewayProcess.start: a health request that times out while it restores is a wait
    proc = gw.proc
    assert proc is not None
    try:
        deadline = t0 + START_WAIT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if gw.http.get("/api/health", timeout=2).json().get("broker_connected"):
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"the gateway on {db} did not connect within {START_WAIT_S:.0f} s:\n{gw.output()[-3000:]}")
    finally:
        gw.stop(timeout=30)
        gw.http.close()


# ---------------------------------------------------------------------------------------------- (4) the flood


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fill(body: dict[str, object], key: str, make: str, value: object) -> bytes:
    """`body` with as many distinct keys under `key` as fit under 64 KiB."""
    keys: dict[str, object] = {}
    body[key] = keys
    i = 0
    while True:
        step = 500
        for j in range(i, i + step):
            keys[make.format(j)] = value
        raw = json.dumps(body, separators=(",", ":")).encode()
        if len(raw) >= MAX_PAYLOAD - 64:
            for j in range(i, i + step):
                del keys[make.format(j)]
            while True:  # one by one up to the limit
                keys[make.format(i)] = value
                if len(json.dumps(body, separators=(",", ":")).encode()) >= MAX_PAYLOAD - 64:
                    del keys[make.format(i)]
                    return json.dumps(body, separators=(",", ":")).encode()
                i += 1
        i += step


def flood_messages(hall: str) -> list[tuple[str, bytes]]:
    """Issue 16's flood: 15 occupancy events full of new zones, 15 full of new staff seats, 10 ratings of unknown
    windows — each under 64 KiB, from devices that were never configured (the default configuration has none)."""
    out: list[tuple[str, bytes]] = []
    for i in range(15):
        body: dict[str, object] = {"v": 1, "type": "occupancy", "ts": _iso_now(), "seq": 1000 + i}
        out.append((f"hall/{hall}/camera/CAMF1/evt", _fill(body, "zones", f"z{i:02d}-{{:05d}}", 1)))
    for i in range(15):
        body = {"v": 1, "type": "occupancy", "ts": _iso_now(), "seq": 1000 + i, "zones": {}}
        out.append((f"hall/{hall}/camera/CAMF2/evt", _fill(body, "staff_present", f"W{i:02d}-{{:05d}}", True)))
    for i in range(FLOOD - 30):
        body = {
            "v": 1,
            "type": "rating.submitted",
            "ts": _iso_now(),
            "seq": 1000 + i,
            "window_id": f"PHANTOM-{i:04d}",
            "ticket_id": f"T-PH-{i:04d}",
            "score": 1,
        }
        out.append((f"hall/{hall}/evaluator/EVF1/evt", json.dumps(body).encode()))
    assert len(out) == FLOOD and all(len(p) < MAX_PAYLOAD for _, p in out)
    return out


def warmup_messages(hall: str) -> list[tuple[str, bytes]]:
    """A window that opens, a camera that sees it staffed, their heartbeats: the valid traffic before the flood."""
    now = _iso_now()
    bodies: list[tuple[str, dict[str, object]]] = [
        ("window/W01/evt", {"type": "window.opened", "seq": 1, "staff_id": "s1", "services": ["tax"]}),
        ("camera/CAM1/evt", {"type": "occupancy", "seq": 1, "zones": {"waiting": 3}, "staff_present": {"W01": True}}),
        ("window/W01/hb", {"seq": 2, "uptime_s": 10}),
        ("camera/CAM1/hb", {"seq": 2, "uptime_s": 10}),
    ]
    return [(f"hall/{hall}/{where}", json.dumps({"v": 1, "ts": now, **body}).encode()) for where, body in bodies]


def counted(gw: GatewayProcess) -> int:
    c = gw.health()["counters"]
    assert isinstance(c, dict)
    rejected = sum(int(n) for n in c["rejected"].values())
    return int(c["accepted"]) + rejected + int(c.get("duplicates", 0)) + int(c.get("ignored", 0))


def publish(port: int, msgs: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-growth-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        for topic, payload in msgs:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def timed_get(gw: GatewayProcess, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = gw.http.get(path)
    seconds = time.perf_counter() - t0
    r.raise_for_status()
    return seconds * 1000, len(r.content)


def flood(work: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    with MosquittoProcess() as broker:
        gw = GatewayProcess(work, broker.url, hall="h1", name="flood", log_level="WARNING")
        try:
            gw.start()
            assert gw.proc is not None
            proc = psutil.Process(gw.proc.pid)
            out["rss_started"] = proc.memory_info().rss
            before = counted(gw)
            warm = warmup_messages("h1")
            publish(broker.port, warm)
            wait_until(lambda: counted(gw) >= before + len(warm), 20, "the warm-up to be counted")
            time.sleep(2)  # a housekeeping second and an evaluation after the warm-up
            c0 = gw.health()["counters"]
            out["rss_before"] = proc.memory_info().rss
            out["hall_ms_before"], out["hall_bytes_before"] = timed_get(gw, "/api/hall")
            out["windows_ms_before"], out["windows_bytes_before"] = timed_get(gw, "/api/windows")
            base = counted(gw)
            msgs = flood_messages("h1")
            out["flood_bytes"] = sum(len(p) for _, p in msgs)
            t0 = time.monotonic()
            publish(broker.port, msgs)
            wait_until(lambda: counted(gw) >= base + FLOOD, FLOOD_WAIT_S, "the 40 flood messages to be counted")
            out["flood_s"] = time.monotonic() - t0
            time.sleep(2)  # the evaluation and the housekeeping second after the flood
            out["rss_after"] = proc.memory_info().rss
            out["hall_ms"], out["hall_bytes"] = timed_get(gw, "/api/hall")
            out["windows_ms"], out["windows_bytes"] = timed_get(gw, "/api/windows")
            c1 = gw.health()["counters"]
            assert isinstance(c0, dict) and isinstance(c1, dict)
            out["accepted"] = int(c1["accepted"]) - int(c0["accepted"])
            grown = {k: int(v) - int(c0["rejected"].get(k, 0)) for k, v in c1["rejected"].items()}
            out["rejected"] = {k: v for k, v in grown.items() if v}
        finally:
            gw.stop(timeout=30)
            gw.http.close()
    return out


# ---------------------------------------------------------------------------------------------- report


def ms(values: list[float]) -> str:
    if not values:
        return f"{'–':>8} {'–':>8} {'–':>8}"
    return f"{statistics.median(values):>8.2f} {statistics.fmean(values):>8.2f} {max(values):>8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", default="1,7,30", help="the log lengths measured (weekdays), comma-separated")
    ap.add_argument("--evals", type=int, default=200, help="evaluations timed on day N, 1 s apart from 09:30")
    ap.add_argument("--eval-every", type=float, default=60.0, help="simulated s between evaluations otherwise")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-flood", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the work directory here (the databases)")
    ap.add_argument(
        "--databases", type=Path, help="measure start-up (3) only, on the days-N.db of an earlier run's --keep"
    )
    args = ap.parse_args()
    marks = sorted({int(d) for d in args.days.split(",")})
    logging.basicConfig(level=logging.WARNING)

    wall0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hallops-bench-growth-"))
    print(f"work {work}", file=sys.stderr)
    try:
        if not args.skip_flood:
            f = flood(work)
            grew = int(f["rss_after"]) - int(f["rss_before"])  # type: ignore[call-overload]
            print(
                f"\n(4) phantom-entity flood: gateway, default configuration, {FLOOD} messages "
                f"({int(f['flood_bytes']) / 1024:,.0f} KiB, each < 64 KiB), all counted in {f['flood_s']:.1f} s\n"  # type: ignore[call-overload]
            )
            head = f"{'':<22} {'RSS MB':>8} {'/api/hall B':>12} {'hall ms':>8} "
            head += f"{'/api/windows B':>15} {'windows ms':>11}"
            print(head + "\n" + "-" * len(head))
            print(f"{'after start':<22} {int(f['rss_started']) / 2**20:>8.1f}")  # type: ignore[call-overload]
            for label, sfx in (("after warm-up", "_before"), ("after the flood", "")):
                print(
                    f"{label:<22} {int(f['rss' + (sfx or '_after')]) / 2**20:>8.1f} "  # type: ignore[call-overload]
                    f"{int(f['hall_bytes' + sfx]):>12,} {float(f['hall_ms' + sfx]):>8.1f} "  # type: ignore[call-overload, arg-type]
                    f"{int(f['windows_bytes' + sfx]):>15,} {float(f['windows_ms' + sfx]):>11.1f}"  # type: ignore[call-overload, arg-type]
                )
            print(
                f"RSS growth {grew / 2**20:+.1f} MB (target ≤ +10 MB: {'yes' if grew <= RSS_TARGET_B else 'NO'}); "
                f"of {FLOOD}: accepted {f['accepted']}, rejected {f['rejected']}",
                flush=True,
            )

        if args.databases is not None:
            print_start_up(start_up_only(work, args.databases, marks))
            return
        print(f"\n(1) simulating the city hall's {SIM_DAY:%a %Y-%m-%d} (seed {args.seed}) …", file=sys.stderr)
        t0 = time.perf_counter()
        day = simulated_day(args.seed)
        print(f"    {len(day):,} messages in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        today = datetime.now(ZONE).date()
        dates = weekdays_before(today, marks[-1])
        db = work / "growing.db"
        clock = FixedClock(datetime.combine(dates[0], dtime(), ZONE))
        rows: list[dict[str, object]] = []
        gw: Gateway | None = None
        with MosquittoProcess() as broker:
            for n, on in enumerate(dates, 1):
                msgs = moved(day, on)
                if gw is None:
                    clock.set(msgs[0].at - timedelta(minutes=30))
                    gw = Gateway(city_config(db), clock=clock)
                    gw.open()
                stats = play_day(gw, clock, msgs, args.eval_every, args.evals if n in marks else 0)
                print(
                    f"    day {n:>2} {on:%a %Y-%m-%d}: {stats.messages:,} messages, {stats.evaluations:,} "
                    f"evaluations in {stats.seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if n not in marks:
                    continue
                gw.close()
                gw = None
                end = datetime.combine(on, load_scenario("city").hall.closes, ZONE) + AFTER_CLOSE
                snap = copy_db(db, work / f"days-{n}.db")
                rows.append({"days": n, "eval_ms": stats.eval_ms, **start_up(work, snap, n, end, broker.url)})
        print(
            f"\n(1) logs: the city hall's simulated day replayed on the last N weekdays before {today}, "
            f"through an in-process gateway (evaluation every {args.eval_every:.0f} simulated s)\n"
        )
        head = (
            f"{'days':>4} {'events':>10} {'db MB':>8} {'decision_state KB':>18} {'hall_state KB':>14} "
            f"{'alerts held':>12} {'tickets held':>13} {'not closed':>11}"
        )
        print(head + "\n" + "-" * len(head))
        for r in rows:
            print(
                f"{r['days']:>4} {r['events']:>10,} {r['db_mb']:>8.1f} "
                f"{int(r.get('decision_state', 0)) / 1024:>18.1f} {int(r.get('hall_state', 0)) / 1024:>14.1f} "  # type: ignore[call-overload]
                f"{r['alerts']:>12} {r['tickets']:>13} {r['unclosed']:>11}"
            )
        print(
            f"\n(2) evaluation time on day N: {args.evals} evaluations 1 s apart from {BUSY:%H:%M}, "
            "with messages between\n"
        )
        head = f"{'days':>4} {'n':>5} {'p50 ms':>8} {'mean ms':>8} {'max ms':>8} {'p50 / 1 day':>12}"
        print(head + "\n" + "-" * len(head))
        first = statistics.median(rows[0]["eval_ms"]) if rows and rows[0]["eval_ms"] else 0.0  # type: ignore[arg-type]
        for r in rows:
            e: list[float] = r["eval_ms"]  # type: ignore[assignment]
            ratio = statistics.median(e) / first if e and first else 0.0
            print(f"{r['days']:>4} {len(e):>5} {ms(e)} {ratio:>11.2f}×")
        print_start_up(rows)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nwall time {time.monotonic() - wall0:,.0f} s")


def start_up_only(work: Path, databases: Path, marks: list[int]) -> list[dict[str, object]]:
    """(3) on the days-N.db files an earlier run kept, each at the end of its last day (its newest event's)."""
    rows: list[dict[str, object]] = []
    closes = load_scenario("city").hall.closes
    with MosquittoProcess() as broker:
        for n in marks:
            snap = databases / f"days-{n}.db"
            if not snap.exists():
                raise SystemExit(f"{snap} is missing: run with --keep {databases} first")
            with sqlite3.connect(snap) as raw:
                newest = float(raw.execute("SELECT max(at) FROM events").fetchone()[0])
            day = datetime.fromtimestamp(newest, ZONE).date()
            rows.append(
                {
                    "days": n,
                    **start_up(
                        work,
                        copy_db(snap, work / f"days-{n}.db"),
                        n,
                        datetime.combine(day, closes, ZONE) + AFTER_CLOSE,
                        broker.url,
                    ),
                }
            )
    return rows


def print_start_up(rows: list[dict[str, object]]) -> None:
    print("\n(3) start-up time at the end of day N (clock 15 min after closing)\n")
    head = (
        f"{'days':>4} {'db MB':>7} {'first open s':>13} {'Gateway.open() s':>17} {'page check s':>13} "
        f"{'open − check s':>15} {'process → broker_connected s':>29} {'(open − check) / 1 day':>23}"
    )
    print(head + "\n" + "-" * len(head))
    rest = [float(r["open_s"]) - float(r["check_s"]) for r in rows]  # type: ignore[arg-type]
    for r, other in zip(rows, rest, strict=True):
        print(
            f"{r['days']:>4} {r['db_mb']:>7.0f} {r['open_first_s']:>13.3f} {r['open_s']:>17.3f} {r['check_s']:>13.3f} "
            f"{other:>15.3f} {r['start_s']:>29.2f} {other / rest[0] if rest and rest[0] else 0:>22.2f}×"
        )


if __name__ == "__main__":
    main()
