"""Disk-writes benchmark: bytes the gateway writes to disk per event at the city hall's live rate, before and after.

For each tree — the baseline (`--base`, default: a temporary git worktree of `--base-ref`, `main`) and this
checkout — one after the other with the same seed and the same simulated start:
  a fresh mosquitto; the gateway of that tree (`hallops gateway`, system clock, the city hall's configuration as
  the demo makes it from the scenario); the city-hall simulator at speed 1 (real time) publishing to the broker.
After `--warmup` s, a window of `--seconds` s: the gateway's `/proc/<pid>/io` (`write_bytes`: what it sent towards
the disk; `wchar`: what it passed to write(2), an upper bound) at both ends, and events over the same window
(`/api/health` `counters.accepted` and `events_logged`). Printed: msg/s, events, write_bytes/s, bytes per event,
the extrapolation per year, the database/WAL/-shm sizes and the saved state's size at the end.

The city hall is open Monday to Friday from 08:30 in Asia/Shanghai, and the gateway rejects device times far from
its own clock, so the simulation plays the last Monday from 09:30 (the morning peak) and the gateway runs under
Debian's libfaketime with its wall clock moved to that Monday (as tests/integration/test_midnight.py does; its
monotonic clock is left alone). The simulator is always this checkout's, so both gateways get the same devices (and
this checkout's devices answer commands, as real ones do: a simulator that never answered would make this gateway
send each command three times and open a ticket for it).
The simulated hall starts empty at its start time: its state is smaller than at the same hour of a real day.

Run:  .venv/bin/python bench/disk_writes.py [--seconds 300] [--warmup 60] [--seed 1] [--base DIR | --base-ref main]
Every process is started and stopped here; every loop is bounded in time; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.broker import MosquittoProcess  # noqa: E402
from tests.harness import GatewayProcess, HallopsProcess, simulator_process  # noqa: E402

HALL = "city-01"
ZONE = ZoneInfo("Asia/Shanghai")  # the city scenario's hall.timezone
PEAK = dtime(9, 30)  # the morning peak of the city scenario (09:30–10:30)
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"  # Debian package libfaketime
GATEWAY_START_S = 4  # about how long the gateway takes to start: its clock then reaches the simulation's start
YEAR_S = 365 * 86400
OPEN_S_PER_YEAR = 261 * 9 * 3600  # 9 opening hours on 261 weekdays
TARGET_B_PER_EVENT = 2048

# The city hall's gateway configuration, as `hallops demo` makes it (edge/demo.py), written by the tree's own code
# so that its own schema and defaults apply; the clock is left at its default (system).
CONFIG_SCRIPT = """
import sys
from pathlib import Path
import yaml
import edge
from devices.simulator import load_scenario
from edge.demo import scenario_config
cfg = scenario_config(load_scenario("city"), "mqtt://127.0.0.1:1883", Path(sys.argv[2]), ("127.0.0.1", 0), 1.0)
data = cfg.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
data.pop("clock", None)
Path(sys.argv[1]).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
print(edge.__file__)
"""


# ---------------------------------------------------------------------------------------------- readings


def proc_io(pid: int) -> dict[str, int]:
    """/proc/<pid>/io: the whole process (every thread, live or ended)."""
    text = Path(f"/proc/{pid}/io").read_text()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines() if line)}


def disk_of(path: Path) -> str | None:
    """The /proc/diskstats name of the block device holding `path` (its whole disk if it is a partition)."""
    st = os.stat(path)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if int(f[0]) == major and int(f[1]) == minor:
            return f[2]
    return None


def disk_written(name: str | None) -> int:
    """Bytes written to the device `name` since boot (sectors of 512 bytes), by every process on the box."""
    if name is None:
        return 0
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if f[2] == name:
            return int(f[9]) * 512
    return 0


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def saved_state_bytes(db: Path) -> dict[str, int]:
    """The saved hall state and decision state (bytes of their bodies), read from the stopped gateway's file."""
    out: dict[str, int] = {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for table in ("hall_state", "decision_state"):
                (n,) = conn.execute(f"SELECT coalesce(sum(length(body)), 0) FROM {table}").fetchone()
                out[table] = int(n)
    except sqlite3.Error as exc:
        print(f"  could not read the saved state of {db}: {exc}", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------------------- processes


def in_tree(tree: Path, args: list[str], *env: str) -> list[str]:
    """`args` run from `tree` with it first on sys.path (`env -C` execs, so the pid is the command's own)."""
    return ["env", "-C", str(tree), f"PYTHONPATH={tree}", *env, *args]


def faked_clock(offset_s: int) -> tuple[str, ...]:
    libs = sorted(glob.glob(LIBFAKETIME))
    if not libs:
        raise SystemExit(f"libfaketime is not installed ({LIBFAKETIME}): apt-get install libfaketime")
    return (f"LD_PRELOAD={libs[0]}", f"FAKETIME={offset_s:+d}", "FAKETIME_DONT_FAKE_MONOTONIC=1")


def write_config(tree: Path, path: Path, db: Path) -> str:
    out = subprocess.run(
        in_tree(tree, [sys.executable, "-c", CONFIG_SCRIPT, str(path), str(db)]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    module = out.stdout.strip().splitlines()[-1]
    if not module.startswith(str(tree)):
        raise SystemExit(f"the configuration for {tree} was made by {module}: the tree is not first on sys.path")
    return module


def base_worktree(ref: str, tmp: Path) -> Path:
    tree = tmp / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return tree


def last_monday_peak(now: datetime) -> datetime:
    """The most recent Monday before today (hall time) at the morning peak."""
    today = now.astimezone(ZONE).date()
    back = (today.weekday() - 0) % 7 or 7
    return datetime.combine(today - timedelta(days=back), PEAK, ZONE)


# ---------------------------------------------------------------------------------------------- one tree


@dataclass
class Result:
    label: str
    tree: str
    window_s: float = 0.0
    accepted: int = 0
    events: int = 0
    io: dict[str, int] = field(default_factory=dict)
    disk_bytes: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)
    clock_skew_s: float | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.accepted / self.window_s if self.window_s else 0.0

    def per_s(self, key: str) -> float:
        return self.io.get(key, 0) / self.window_s if self.window_s else 0.0

    def per_event(self, key: str) -> float:
        return self.io.get(key, 0) / self.accepted if self.accepted else 0.0


def alive(*procs: HallopsProcess) -> bool:
    return all(p.proc is not None and p.proc.poll() is None for p in procs)


def wait_while_alive(seconds: float, *procs: HallopsProcess) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(*procs):
            return False
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return True


def measure(label: str, tree: Path, base: Path, sim_start: datetime, args: argparse.Namespace, tmp: Path) -> Result:
    result = Result(label, str(tree))
    work = tmp / label
    work.mkdir()
    db = work / "gateway.db"
    config = work / "gateway.yaml"
    write_config(tree, config, db)
    disk = disk_of(work)
    with MosquittoProcess() as broker:
        gw = GatewayProcess(work, broker.url, "--config", str(config), hall=HALL, name="gateway", log_level="WARNING")
        offset = round(sim_start.timestamp() - time.time()) - GATEWAY_START_S
        gw.args = in_tree(tree, gw.args, *faked_clock(offset))
        sim = simulator_process(work / "simulator.log", broker.url, "city", 1, sim_start, args.seed)
        sim.args = in_tree(ROOT, sim.args)
        try:
            gw.start()
            sim.start()
            launched = time.time()
            print(
                f"  {label}: gateway pid {gw.proc.pid if gw.proc else '?'}, warm-up {args.warmup:.0f} s…",
                file=sys.stderr,
            )
            if not wait_while_alive(args.warmup, gw, sim):
                result.note = "a process ended during the warm-up"
                return result
            h0, io0, d0, t0 = gw.health(), proc_io(gw.proc.pid), disk_written(disk), time.monotonic()  # type: ignore[union-attr]
            print(f"  {label}: measuring {args.seconds:.0f} s…", file=sys.stderr)
            ok = wait_while_alive(args.seconds, gw, sim)
            h1, io1, d1, t1 = gw.health(), proc_io(gw.proc.pid), disk_written(disk), time.monotonic()  # type: ignore[union-attr]
            if not ok:
                result.note = "a process ended during the window"
            result.window_s = t1 - t0
            c0, c1 = h0["counters"], h1["counters"]
            assert isinstance(c0, dict) and isinstance(c1, dict)
            result.accepted = int(c1["accepted"]) - int(c0["accepted"])
            result.events = int(h1.get("events_logged", 0)) - int(h0.get("events_logged", 0))  # type: ignore[call-overload]
            result.rejected = dict(c1.get("rejected") or {})
            result.io = {k: io1[k] - io0[k] for k in io1}
            result.disk_bytes = d1 - d0
            try:  # the gateway's hall time against the simulation's (where the devices' clocks are)
                hall_at = datetime.fromisoformat(str(gw.get("/api/hall")["at"]))  # type: ignore[index]
                result.clock_skew_s = (
                    hall_at - (sim_start + timedelta(seconds=time.time() - launched))
                ).total_seconds()
            except Exception as exc:  # a reading for the report only
                print(f"  {label}: no /api/hall time ({exc})", file=sys.stderr)
            result.sizes = {s or "db": file_size(Path(f"{db}{s}")) for s in ("", "-wal", "-shm")}
        finally:
            sim.stop()
            code = gw.stop(timeout=30)
            gw.http.close()
            if code not in (0, -2, 130):
                result.note += f" gateway exit status {code}: {gw.output()[-1500:]}"
    result.state = saved_state_bytes(db)
    return result


# ---------------------------------------------------------------------------------------------- report


def table(results: list[Result]) -> str:
    head = (
        f"{'tree':<9} {'msg/s':>6} {'events':>7} {'logged':>7} {'write_bytes/s':>14} {'B/event':>9} "
        f"{'GB/yr 24h':>10} {'GB/yr open':>11} {'wchar/s':>10} {'wchar B/ev':>11} {'syscw/s':>8} {'≤2KB':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        wb = r.per_s("write_bytes")
        lines.append(
            f"{r.label:<9} {r.rate:>6.2f} {r.accepted:>7} {r.events:>7} {wb:>14,.0f} "
            f"{r.per_event('write_bytes'):>9,.0f} "
            f"{wb * YEAR_S / 1e9:>10,.1f} {wb * OPEN_S_PER_YEAR / 1e9:>11,.1f} {r.per_s('wchar'):>10,.0f} "
            f"{r.per_event('wchar'):>11,.0f} {r.per_s('syscw'):>8.1f} "
            f"{'yes' if r.accepted and r.per_event('write_bytes') <= TARGET_B_PER_EVENT else 'no':>5}"
        )
    lines.append("")
    for r in results:
        disk = r.disk_bytes / r.window_s if r.window_s else 0.0
        sizes = ", ".join(f"{k} {v / 1024:,.0f} KB" for k, v in r.sizes.items())
        state = ", ".join(f"{k} {v / 1024:,.1f} KB" for k, v in r.state.items())
        skew = f"{r.clock_skew_s:+.1f} s" if r.clock_skew_s is not None else "?"
        lines.append(
            f"{r.label:<9} files at the end: {sizes}; saved state: {state}; cancelled_write_bytes "
            f"{r.io.get('cancelled_write_bytes', 0):,}; disk (whole box) {disk:,.0f} B/s; "
            f"gateway clock − devices' {skew}; rejected {r.rejected or 0}{'; ' + r.note if r.note else ''}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300, help="the measured window (s)")
    ap.add_argument("--warmup", type=float, default=60, help="before the window (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base", type=Path, help="a checkout of the baseline (default: a worktree of --base-ref)")
    ap.add_argument("--base-ref", default="main", help="the baseline's git ref when --base is not given")
    args = ap.parse_args()

    wall0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="hallops-bench-disk-"))
    base = args.base.resolve() if args.base else base_worktree(args.base_ref, tmp)
    sim_start = last_monday_peak(datetime.now(ZONE))
    print(f"simulated start {sim_start.isoformat()} (hall {HALL}), baseline {base}, work {tmp}", file=sys.stderr)
    results: list[Result] = []
    try:
        for label, tree in (("baseline", base), ("current", ROOT)):
            results.append(measure(label, tree, base, sim_start, args, tmp))
    finally:
        if not args.base:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False, timeout=120
            )
        keep = os.environ.get("HALLOPS_BENCH_KEEP")
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps([r.__dict__ for r in results], indent=2, default=str))
    print(
        f"\nDisk writes of the gateway, city hall {HALL} at speed 1 from {sim_start:%a %Y-%m-%d %H:%M} "
        f"(warm-up {args.warmup:.0f} s, window {args.seconds:.0f} s, seed {args.seed}); "
        f"events = accepted messages, logged = rows added to the event log\n"
    )
    print(table(results))
    if len(results) == 2 and results[0].accepted and results[1].accepted and results[1].per_event("write_bytes"):
        ratio = results[0].per_event("write_bytes") / results[1].per_event("write_bytes")
        print(f"\nbytes per event, baseline / current: {ratio:,.1f}×")
    print(f"wall time {time.monotonic() - wall0:,.0f} s")


if __name__ == "__main__":
    main()
