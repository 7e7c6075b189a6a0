"""The compressed 7-day soak of the city hall (issue 22, point 8): days of the city hall's traffic through a real
mosquitto to a real `hallops gateway` process, with the short suite's faults sprinkled in, measuring what a hall's IT
person must trust — every event the broker acknowledged stored once, no notification told twice under two ids, no
crash, memory that does not grow from day to day, a database that grows by the predicted bytes a day.

How it is compressed, and why this is honest:
  * The traffic is the city scenario's own (`HallSimulation`, 60 windows, 20 kiosks, 8 cameras, 160 devices; about
    199,000 messages a day: 60,600 QoS 1 events, 138,000 QoS 0 heartbeats, the retained states), one simulated
    hall day per date on `--days` successive weekdays from Monday 2026-11-23 (seed = the day's number, so no two days
    are alike), generated in-process as bench/growth.py does and published at `--speed` × the hall's pace (the
    hall's 9 open hours take 9 h / speed of wall time). Nights and weekends are compressed to nothing: the next day's
    first message follows the last one of the day before.
  * The devices are one MQTT client with a persistent session (paho re-sends what the broker had not acknowledged),
    not 160 connections: what is measured is what the broker acknowledged and what the gateway did with it. They
    answer the gateway's commands (`…/cmd/ack`, as the simulator's devices do) but do not carry them out: the day is
    played as generated, so the staff never follow a nudge or a tidal window.
  * The gateway runs as a process (`hallops gateway --config …`, the city hall's demo configuration, tests/harness.py
    `GatewayProcess`) on the device clock at `--speed` (`clock: {mode: device}`, as the demo and every recorded day
    run): its clock follows the devices' timestamps, so it jumps forward over each night and, after each restart,
    back from the box's date to the hall's day. The broker runs with deploy/mosquitto/hallops.conf's broker-wide
    settings (persistence, autosave), so a crash of either loses only what the deploy config says it may.
  * Faults, while the traffic flows: the gateway `kill -9` on every day at 10 % of its messages, down for
    `--down` s; the broker restarted on days 2, 4 and 6 at 40 % (SIGTERM, SIGKILL, SIGTERM); on day 3 at 60 %, a
    flood of malformed messages (`MALFORMED`) from another client, mixed into the valid traffic; on day 5 at 70 %,
    the database's write lock held by another process for `--lock` s. Every day ends with the gateway up; its
    resident memory is sampled every 2 s, and the database (+ WAL) size.

At the end: a table per day (messages sent, QoS 1 events acknowledged and stored, lost, stored twice, alerts
raised, notifications and their duplicates, recovery times, RSS at the day's end, database size and its growth), and
the targets — zero acknowledged QoS 1 events lost, zero duplicate notifications without an id, zero crashes, RSS at
the end of the last day within 10 % of the end of the first, the database's size as predicted (bench/disk.py's
bytes a row per table, times the rows this run wrote, within 15 %). `--out FILE` writes the samples and the per-day
figures as JSON.

The memory figure: the gateway is killed every day, so the process measured at a day's end has run that day only;
what grows with the days kept (the log, the alerts, what is restored at start) shows in the day-to-day comparison,
a leak with a process's age only within a day. `--no-kill` runs the days without the daily kill for the latter.

Run:  nice -n 10 .venv/bin/python bench/soak.py [--days 7] [--speed 300] [--out soak.json] [--until 12:00]
Every process is started and stopped here; every wait is bounded; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bench.disk import tables  # noqa: E402
from devices.simulator import HallSimulation, SimMessage, load_scenario  # noqa: E402
from devices.simulator.model import day_bounds  # noqa: E402
from edge.demo import scenario_config  # noqa: E402
from tests.harness import GatewayProcess, wait_until  # noqa: E402
from tests.receiver import Receiver  # noqa: E402
from tests.reliability.faults import DatabaseLock, malformed  # noqa: E402
from tests.reliability.scenario import (  # noqa: E402
    Devices,
    Notices,
    Sampler,
    check_notifications,
    db_bytes,
    deploy_broker,
    notifications,
    rss,
    stored_events,
)

FIRST = date(2026, 11, 23)  # a Monday
# bench/disk.py's bytes a row, table and indexes (docs/performance.md "Disk", 2026-12-06): the model the database's
# size is predicted by; the soak's rows per day are its own (open hours only, storms from its compressed faults)
PREDICTED_B_PER_ROW = {"events": 268, "outbox": 990, "alert_history": 1617, "decision_state": 1084, "records": 3297}
SIZE_TOLERANCE = 0.15  # measured within ±15 % of rows × bytes a row
RSS_GROWTH_TARGET = 0.10
RECOVERY_WAIT_S = 120.0
MALFORMED = 2000


def hall_days(n: int) -> list[date]:
    out: list[date] = []
    day = FIRST
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


@dataclass(frozen=True, slots=True)
class Msg:
    at: datetime
    topic: str
    payload: bytes
    qos: int
    retain: bool


def hall_day(on: date, seed: int, until: dtime | None) -> list[Msg]:
    scenario = load_scenario("city")
    start, end = day_bounds(scenario, on)
    if until is not None:
        end = min(end, datetime.combine(on, until, start.tzinfo))
    return [
        Msg(m.at, m.topic, m.payload, m.qos, m.retain)
        for m in HallSimulation(scenario, seed, start, end).messages()
        if isinstance(m, SimMessage) and m.kind in ("publish", "disconnect")
    ]


@dataclass
class Day:
    n: int
    date: str
    sent: int = 0
    acked: int = 0
    stored: int = 0
    lost: int = 0
    faults: list[str] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)
    alerts_fired: int = 0  # new episodes heard (MQTT): distinct `…:firing` ids
    notifications: int = 0  # every notification heard on MQTT
    rss_end: int = 0
    db_end: int = 0  # the database with its WAL
    wal_end: int = 0
    events_logged: int = 0
    wall_s: float = 0.0


class Soak:
    """The running parts and what happened to them; `fault(...)` runs one fault at a time in its own thread."""

    def __init__(self, work: Path, speed: float, down_s: float, lock_s: float) -> None:
        self.work, self.speed, self.down_s, self.lock_s = work, speed, down_s, lock_s
        self.broker = deploy_broker()
        self.receiver = Receiver()
        self.gw: GatewayProcess | None = None
        self.crashes: list[str] = []
        self.publishing = threading.Event()  # set while a day's messages are being sent
        self.intentional = threading.Event()  # set while a fault has the gateway down on purpose
        self.busy = threading.Lock()
        self.fault_threads: list[threading.Thread] = []
        self.recoveries: list[tuple[str, float]] = []
        self.faults_done: list[str] = []
        self.rejected_malformed = 0

    def config(self) -> Path:
        scenario = load_scenario("city")
        cfg = scenario_config(
            scenario, self.broker.url, self.work / "soak.db", ("127.0.0.1", 0), self.speed
        ).model_dump(mode="json", exclude_none=True)
        cfg.setdefault("notify", {})["webhooks"] = [self.receiver.url + "/hook"]
        path = self.work / "gateway.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
        return path

    def start(self) -> None:
        self.broker.start()
        self.receiver.__enter__()
        self.gw = GatewayProcess(
            self.work, self.broker.url, "--config", str(self.config()), hall="city-01", name="soak", log_level="WARNING"
        )
        self.gw.start()

    def pid(self) -> int | None:
        gw = self.gw
        return gw.proc.pid if gw is not None and gw.proc is not None else None

    def watch(self) -> dict[str, Any]:
        """A sample's extra: a gateway that exited without being asked is a crash (restarted, noted)."""
        gw = self.gw
        if gw is not None and gw.proc is not None and gw.proc.poll() is not None and not self.intentional.is_set():
            with self.busy:
                if gw.proc is not None and gw.proc.poll() is not None:
                    self.crashes.append(f"exit {gw.proc.returncode} at {time.strftime('%H:%M:%S')}")
                    gw.proc = None
                    gw.start()
        return {}

    def accepted(self) -> int:
        assert self.gw is not None
        try:
            return self.gw.accepted()
        except Exception:
            return -1

    def recovered(self, what: str, since: float) -> None:
        """Wait until health is `ok` and ingest moves again; note the time from `since` (the fault's end)."""
        assert self.gw is not None
        gw = self.gw
        base = self.accepted()

        def green() -> bool:
            try:  # a gateway restarted meanwhile (a crash, noted by `watch`) answers on the same port
                h = gw.health()
                moving = gw.accepted() > base or not self.publishing.is_set()  # after the last message: caught up
            except Exception:
                return False
            return h["status"] == "ok" and bool(h["broker_connected"]) and moving

        wait_until(green, RECOVERY_WAIT_S, f"the gateway to recover from {what}")
        self.recoveries.append((what, time.monotonic() - since))

    def fault(self, name: str, action: Callable[[], None]) -> None:
        def run() -> None:
            with self.busy:
                try:
                    action()
                    self.faults_done.append(name)
                except Exception as exc:
                    self.faults_done.append(f"{name} FAILED: {exc}")

        t = threading.Thread(target=run, name=name, daemon=True)
        self.fault_threads.append(t)
        t.start()

    def kill_gateway(self) -> None:
        assert self.gw is not None
        self.intentional.set()
        try:
            self.gw.kill9()
            time.sleep(self.down_s)
            since = time.monotonic()
            try:
                self.gw.start()  # its own bound (30 s) to be connected: a start behind a backlog may take longer
            except Exception:  # not ready in time (or its health call timed out, busy catching up): wait below
                gw = self.gw
                if gw.proc is None or gw.proc.poll() is not None:
                    raise
        finally:
            self.intentional.clear()
        self.recovered("gateway kill -9", since)

    def restart_broker(self, sig: str) -> None:
        if sig == "KILL":
            self.broker.kill()
        else:
            self.broker.stop()
        time.sleep(self.down_s)
        self.broker.start()
        self.recovered(f"broker SIG{sig}", time.monotonic())

    def flood(self) -> None:
        assert self.gw is not None
        before = self.gw.health()["counters"]
        msgs = malformed("city-01", MALFORMED, ("window/W01", "ticket_machine/TM01"))
        pub = Devices(self.broker.port, "soak-flood")
        try:
            for topic, payload in msgs:
                pub.send(topic, payload)
            pub.wait(120)
        finally:
            pub.close()
        assert isinstance(before, dict)
        gw = self.gw

        def rejected() -> int:
            c = gw.health()["counters"]
            assert isinstance(c, dict) and isinstance(before, dict)
            return sum(int(v) for v in c["rejected"].values()) - sum(int(v) for v in before["rejected"].values())

        with contextlib.suppress(AssertionError):  # what was not counted in time shows as a smaller figure
            wait_until(lambda: rejected() >= len(msgs), 60, "the flood to be counted")
        self.rejected_malformed += rejected()
        self.recovered("malformed flood", time.monotonic())

    def lock(self) -> None:
        assert self.gw is not None
        with DatabaseLock(self.gw.db):
            time.sleep(self.lock_s)
        self.recovered("database locked", time.monotonic())

    def join_faults(self) -> None:
        for t in self.fault_threads:
            t.join(RECOVERY_WAIT_S * 2)
        self.fault_threads.clear()

    def close(self) -> int:
        code = 0
        if self.gw is not None:
            code = self.gw.stop(timeout=60)
            self.gw.http.close()
        self.receiver.__exit__(None, None, None)
        self.broker.__exit__()
        return code


def schedule(n: int, kill: bool) -> list[tuple[float, str]]:
    """The faults of day `n` (1-based): (fraction of the day's messages, name)."""
    out: list[tuple[float, str]] = [(0.10, "kill")] if kill else []
    if n in (2, 4, 6):
        out.append((0.40, "broker-KILL" if n == 4 else "broker-TERM"))
    if n == 3:
        out.append((0.60, "flood"))
    if n == 5:
        out.append((0.70, "lock"))
    return out


def play(soak: Soak, devices: Devices, msgs: list[Msg], faults: list[tuple[float, str]]) -> None:
    """Publish the day at the soak's speed (catching up without pause when behind), starting each fault on time."""
    due = sorted((int(f * len(msgs)), name) for f, name in faults)
    t0, s0 = time.monotonic(), msgs[0].at
    soak.publishing.set()
    for i, m in enumerate(msgs):
        while due and i >= due[0][0]:
            name = due.pop(0)[1]
            if name == "kill":
                soak.fault("gateway kill -9", soak.kill_gateway)
            elif name.startswith("broker-"):
                sig = name.split("-")[1]
                soak.fault(f"broker SIG{sig}", functools.partial(soak.restart_broker, sig))
            elif name == "flood":
                soak.fault("malformed flood", soak.flood)
            elif name == "lock":
                soak.fault("database locked", soak.lock)
        ahead = (m.at - s0).total_seconds() / soak.speed - (time.monotonic() - t0)
        if ahead > 0.005:
            time.sleep(ahead)
        devices.now = m.at
        devices.send(m.topic, m.payload, m.qos, m.retain)
    soak.publishing.clear()


def mb(b: float) -> float:
    return b / 1e6


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill stops the parts this script started
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--speed", type=float, default=300.0, help="hall seconds per wall second (default 300)")
    ap.add_argument("--until", help="end each hall day at this time (HH:MM; a shorter run), default its closing")
    ap.add_argument("--down", type=float, default=5.0, help="wall seconds the gateway or broker stays down")
    ap.add_argument("--lock", type=float, default=15.0, help="wall seconds the database stays locked (day 5)")
    ap.add_argument("--no-kill", action="store_true", help="no daily gateway kill -9 (a process's own growth)")
    ap.add_argument("--out", type=Path, help="write the samples and the per-day figures as JSON here")
    ap.add_argument("--keep", type=Path, help="keep the work directory (database, logs) here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    until = dtime.fromisoformat(args.until) if args.until else None

    wall0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hallops-soak-"))
    print(f"work {work}", file=sys.stderr)
    soak = Soak(work, args.speed, args.down, args.lock)
    days: list[Day] = []
    exit_code = None
    try:
        soak.start()
        assert soak.gw is not None
        gw = soak.gw
        listener = Notices(soak.broker.port, "soak-notices")
        devices = Devices(soak.broker.port, "soak-devices", answer="city-01")

        def extra() -> dict[str, Any]:
            soak.watch()
            try:
                h = gw.health()
                return {"events_logged": h["events_logged"], "status": h["status"]}
            except Exception:
                return {"events_logged": None, "status": "down"}

        missing: set[Any] = set()  # acknowledged, not stored when a day settled
        with Sampler(soak.pid, gw.db, 2.0, extra) as sampler:
            for n, on in enumerate(hall_days(args.days), 1):
                d0 = time.monotonic()
                msgs = hall_day(on, n, until)
                day = Day(n, on.isoformat())
                sent0, acked0 = devices.sent, len(devices.acked())
                faults = schedule(n, not args.no_kill)
                print(
                    f"day {n} {on:%a %Y-%m-%d}: {len(msgs):,} messages at {args.speed:g}×, faults {faults}",
                    file=sys.stderr,
                    flush=True,
                )
                sampler.samples.append({"t": round(time.monotonic() - wall0, 2), "day_start": n})
                play(soak, devices, msgs, faults)
                soak.join_faults()
                devices.wait(300)
                acked = devices.acked()
                stored = settle(gw.db, acked - missing, 300)  # an earlier day's loss is not waited for again
                missing = {k for k in acked if stored[k] == 0}
                day.sent = devices.sent - sent0
                day.acked = len(acked) - acked0
                day.stored = sum(1 for k in acked if stored[k] > 0) - sum(d.stored for d in days)
                day.lost = day.acked - day.stored
                day.faults = list(soak.faults_done)
                soak.faults_done.clear()
                day.recovery_s = [round(s, 2) for _, s in soak.recoveries]
                soak.recoveries.clear()
                time.sleep(3)  # the day's last evaluation and the outbox
                told = notifications(listener.heard)
                day.notifications = len(told) - sum(d.notifications for d in days)
                fired = len({b["id"] for b in told if str(b.get("id", "")).endswith(":firing")})  # a repeat once
                day.alerts_fired = fired - sum(d.alerts_fired for d in days)
                day.rss_end = rss(soak.pid())
                day.db_end = db_bytes(gw.db)
                wal = Path(f"{gw.db}-wal")
                day.wal_end = wal.stat().st_size if wal.exists() else 0
                day.events_logged = int(gw.health()["events_logged"])  # type: ignore[call-overload]
                day.wall_s = round(time.monotonic() - d0, 1)
                sampler.samples.append({"t": round(time.monotonic() - wall0, 2), "day_end": n, "rss": day.rss_end})
                days.append(day)
                print(
                    f"    sent {day.sent:,}, acked {day.acked:,}, stored {day.stored:,}, lost {day.lost}, "
                    f"RSS {mb(day.rss_end):.1f} MB, db {mb(day.db_end):.1f} MB, {day.wall_s:.0f} s, {day.faults}",
                    file=sys.stderr,
                    flush=True,
                )
        final_stored = stored_events(gw.db)
        heard = list(listener.heard)
        listener.close()
        devices.close()
        webhooks = [r.json() for r in soak.receiver.received]
        exit_code = soak.close()
        sizes = tables(gw.db)  # the gateway stopped: the file at rest
        summary = report(days, final_stored, devices.acked(), heard, webhooks, soak, exit_code, args, wall0, sizes)
        if args.out:
            args.out.write_text(
                json.dumps(
                    {"summary": summary, "days": [asdict(d) for d in days], "samples": sampler.samples}, indent=1
                ),
                "utf-8",
            )
    finally:
        if exit_code is None:
            soak.close()
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def settle(db: Path, acked: set[Any], timeout: float) -> Any:
    """What the log holds once every acknowledged event is in it, or after `timeout` s (what is missing then is
    lost). Polled every 2 s: each look reads the whole log."""
    deadline = time.monotonic() + timeout
    while True:
        stored = stored_events(db)
        if all(stored[k] > 0 for k in acked) or time.monotonic() > deadline:
            return stored
        time.sleep(2)


def report(
    days: list[Day],
    stored: Any,
    acked: set[Any],
    heard: list[tuple[str, bytes]],
    webhooks: list[dict[str, object]],
    soak: Soak,
    exit_code: int,
    args: argparse.Namespace,
    wall0: float,
    sizes: dict[str, dict[str, int]],
) -> dict[str, Any]:
    mqtt_check = check_notifications(notifications(heard))
    hook_check = check_notifications(webhooks)
    missing = sorted((k for k in acked if stored[k] == 0), key=lambda k: k[2])
    lost = len(missing)
    doubled = sum(1 for n in stored.values() if n > 1)
    head = (
        f"{'day':>3} {'date':<10} {'sent':>9} {'QoS1 acked':>10} {'stored':>9} {'lost':>4} {'RSS end MB':>10} "
        f"{'db MB':>7} {'WAL MB':>6} {'+db MB':>7} {'events logged':>13} {'B/event':>7} {'fired':>5} {'notif':>5} "
        f"{'recovery s':>18} {'wall s':>6}  faults"
    )
    print(f"\nsoak: {len(days)} city-hall days at {args.speed:g}×, {time.strftime('%Y-%m-%d %H:%M %Z')}\n")
    print(head + "\n" + "-" * len(head))
    prev_db, prev_ev = 0, 0
    for d in days:
        grown, ev = d.db_end - prev_db, d.events_logged - prev_ev
        rec = ", ".join(f"{s:.1f}" for s in d.recovery_s) or "–"
        print(
            f"{d.n:>3} {d.date:<10} {d.sent:>9,} {d.acked:>10,} {d.stored:>9,} {d.lost:>4} {mb(d.rss_end):>10.1f} "
            f"{mb(d.db_end):>7.1f} {mb(d.wal_end):>6.1f} {mb(grown):>7.1f} {d.events_logged:>13,} "
            f"{grown / ev if ev else 0:>7.0f} {d.alerts_fired:>5} {d.notifications:>5} "
            f"{rec:>18} {d.wall_s:>6.0f}  {'; '.join(d.faults)}"
        )
        prev_db, prev_ev = d.db_end, d.events_logged
    first, last = days[0], days[-1]
    growth = (last.rss_end - first.rss_end) / first.rss_end if first.rss_end else 0.0
    per_event = last.db_end / last.events_logged if last.events_logged else 0.0
    per_day = mb(last.db_end) / len(days)
    measured = sum(s["bytes"] for name, s in sizes.items() if name != "(file)")
    predicted = sum(
        s["rows"] * PREDICTED_B_PER_ROW[name] if name in PREDICTED_B_PER_ROW else s["bytes"]
        for name, s in sizes.items()
        if name != "(file)"
    )
    summary = {
        "days": len(days),
        "speed": args.speed,
        "until": args.until,
        "sent": sum(d.sent for d in days),
        "acked": len(acked),
        "lost": lost,
        "stored_twice": doubled,
        "lost_first_last": [  # device, seq and device time of the first and last acknowledged event not stored
            [d, q, datetime.fromtimestamp(t).astimezone().isoformat()] for d, q, t in (missing[:1] + missing[-1:])
        ],
        "notifications_mqtt": asdict(mqtt_check),
        "notifications_webhook": asdict(hook_check),
        "crashes": soak.crashes,
        "gateway_exit": exit_code,
        "malformed_rejected": soak.rejected_malformed,
        "rss_first_mb": mb(first.rss_end),
        "rss_last_mb": mb(last.rss_end),
        "rss_growth": growth,
        "db_mb": mb(last.db_end),
        "db_mb_per_day": per_day,
        "bytes_per_event": per_event,
        "events_logged": last.events_logged,
        "tables": sizes,
        "tables_mb_measured": mb(measured),
        "tables_mb_predicted": mb(predicted),
        "wall_s": time.monotonic() - wall0,
    }
    ok = {
        "zero acknowledged QoS 1 events lost": lost == 0,
        "zero duplicate notifications without an id": mqtt_check.without_id + mqtt_check.doubled == 0
        and hook_check.without_id + hook_check.doubled == 0,
        "zero crashes (and a clean stop)": not soak.crashes and exit_code == 0,
        "RSS growth first → last day ≤ 10 %": growth <= RSS_GROWTH_TARGET,
        "database size as predicted (rows × bench/disk.py's bytes a row, ±15 %)": abs(measured - predicted)
        <= SIZE_TOLERANCE * predicted,
    }
    print(
        f"\nsent {summary['sent']:,} messages; QoS 1 events acknowledged {len(acked):,}, lost {lost}, stored twice "
        f"{doubled}; malformed rejected {soak.rejected_malformed:,}"
    )
    for name, c in (("MQTT", mqtt_check), ("webhook", hook_check)):
        print(
            f"notifications ({name}): {c.total:,}, without an id {c.without_id}, repeated with the same id "
            f"{c.repeated}, one event under two ids {c.doubled}"
        )
    print(f"crashes {soak.crashes or 0}; gateway stopped with exit code {exit_code}")
    print(
        f"RSS at the end of day 1 {mb(first.rss_end):.1f} MB, of day {last.n} {mb(last.rss_end):.1f} MB: {growth:+.1%}"
    )
    print(
        f"database {mb(last.db_end):.1f} MB for {last.events_logged:,} events, {per_day:.1f} MB a day of this run "
        f"({last.events_logged / len(days):,.0f} events a day); its tables, against bench/disk.py's bytes a row:"
    )
    for name, s in sorted(sizes.items(), key=lambda kv: -kv[1]["bytes"]):
        if name == "(file)" or s["bytes"] < 1024 * 1024:
            continue
        model = PREDICTED_B_PER_ROW.get(name)
        expected = f"{model:>6} B  {mb(s['rows'] * model):>7.1f} MB" if model else f"{'–':>8}  {'(as is)':>10}"
        per_row = s["bytes"] / max(s["rows"], 1)
        print(f"  {name:<16} {s['rows']:>10,} rows {mb(s['bytes']):>7.1f} MB {per_row:>6.0f} B  {expected}")
    print(f"  {'all tables':<16} {'':>15} {mb(measured):>7.1f} MB {'':>8}  {'':>8} {mb(predicted):>7.1f} MB")
    for name, passed in ok.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}")
    print(f"\nwall time {summary['wall_s']:,.0f} s")
    summary["targets"] = ok
    return summary


if __name__ == "__main__":
    main()
