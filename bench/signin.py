"""Sign-in flood benchmark: the gateway's memory and its /api/health latency under a burst of HTTP Basic guesses with
made-up user names, before and after issue 18 (memory exhaustion without credentials).

For each tree — the baseline (`--base`, default: a temporary git worktree of `--base-ref`, `cae5231`, the commit
before issue 18) and this checkout — one after the other: a fresh mosquitto; the gateway of that tree
(`hallops gateway`, run from the tree as bench/disk_writes.py does) with one user in its configuration's `users:`,
whose hash is made by `edge.passwords.hash_password` at the production cost (Argon2id, 64 MiB a hash or check). One good
sign-in warms the gateway (imports, caches); then, for each round of `--rounds` (`--repeat` times):
  N requests `GET /api/session` at once (a barrier), each with HTTP Basic credentials of a random user name and a
  random password, each from its own source address (127.1.x.y: all of 127/8 is loopback on Linux), so that no
  throttle per address hides the cost of checking them;
  meanwhile the gateway's resident memory (VmRSS of /proc/<pid>/status) every 20 ms, and `GET /api/health` from
  127.0.0.1 one after the other (20 ms apart) on another connection, timed.
Printed per round: the answers by status, the idle RSS just before, the peak over it (sampled, and the kernel's
high-water mark VmHWM, reset before the round through /proc/<pid>/clear_refs), health p50/max latency, the flood's
wall time; then, per N, the ratio current/baseline of the peak RSS growth. Finally each tree signs in with the right
password once more (it must still answer 200).

What the trees do (noted in the output, read from each tree's edge.auth): before issue 18 an unknown name cost one
Argon2 *hash* (64 MiB) in FastAPI's 40-thread pool, unbounded, and HTTP Basic was throttled per user name only (a
refusal answered 401); after it, `HashGate` runs 2 checks at once, lets 8 wait and answers 503 beyond, and a client
address is throttled (429) after 20 failures in 15 min, a name from one address after 5.

Run:  .venv/bin/python bench/signin.py [--rounds 16,32] [--repeat 2] [--base DIR | --base-ref cae5231] [--one-address]
Every process is started and stopped here; every wait is bounded; everything runs on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.disk_writes import base_worktree, in_tree  # noqa: E402
from edge.broker import MosquittoProcess  # noqa: E402
from edge.passwords import hash_password  # noqa: E402
from tests.harness import GatewayProcess, wait_until  # noqa: E402

USER = "root"
PASSWORD = "correct horse battery staple"
MIB = 1024 * 1024
SAMPLE_S = 0.02
IDLE_S = 0.5  # the idle RSS before a round: the median of this long's samples
SETTLE_S = 10.0  # after a round, wait at most this long for the RSS to come back near the idle one
ANSWER_S = 120.0  # a flood request's time limit
STATUSES = (401, 429, 503)
IDLE_HEALTH = 25  # /api/health timed this many times before the rounds

# What a tree's edge.auth does about guessing, printed by that tree's own code.
PROBE_SCRIPT = """
import inspect
import edge.auth as a
gate = getattr(a, "HashGate", None)
basic = inspect.signature(a.Auth.basic).parameters
print(a.__file__)
print(
    (f"HashGate: {a.HASHES_AT_ONCE} at once, {a.HASHES_WAITING} waiting, 503 beyond" if gate else "no bound on hashing")
    + f"; throttle {a.FAILURES_ALLOWED} failures per name"
    + (" and address" if "client" in basic else " (Basic: per name only, refusal as 401)")
    + f", {a.CLIENT_FAILURES_ALLOWED} per address, in {a.FAILURE_WINDOW_S // 60} min"
)
"""


# ---------------------------------------------------------------------------------------------- readings


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of /proc/<pid>/status, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def reset_hwm(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux 4.0+, our own child); False when the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def source_addresses() -> bool:
    """Whether a socket can be bound to 127.1.0.1 (a loopback address other than 127.0.0.1)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.1.0.1", 0))
        except OSError:
            return False
    return True


def basic(name: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------------------- one tree


@dataclass
class Round:
    n: int
    statuses: Counter[str] = field(default_factory=Counter)
    idle_rss: int = 0
    peak_rss: int = 0
    hwm: int | None = None  # VmHWM after the round (reset to the RSS just before it)
    health_ms: list[float] = field(default_factory=list)
    health_failed: int = 0
    wall_s: float = 0.0  # from the barrier to the last answer

    @property
    def growth(self) -> float:
        return (self.peak_rss - self.idle_rss) / MIB

    @property
    def hwm_growth(self) -> float | None:
        return (self.hwm - self.idle_rss) / MIB if self.hwm is not None else None


@dataclass
class TreeResult:
    label: str
    tree: Path
    note: str = ""
    rounds: list[Round] = field(default_factory=list)
    after: str = "?"  # the right password's answer after the rounds
    idle_health_ms: list[float] = field(default_factory=list)  # /api/health with nothing else asked
    problem: str = ""


class Sampler:
    """The gateway's VmRSS every SAMPLE_S in a thread of its own, between `start()` and `stop()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(proc_status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return  # the process is gone
            self._stop.wait(SAMPLE_S)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def idle_rss(pid: int) -> int:
    sampler = Sampler(pid).start()
    time.sleep(IDLE_S)
    return int(statistics.median(sampler.stop()))


def health_loop(url: str, stop: threading.Event, out: Round) -> None:
    """GET /api/health one after the other (SAMPLE_S apart) from 127.0.0.1 until `stop`, timed."""
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                ok = http.get("/api/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                out.health_ms.append((time.perf_counter() - t0) * 1000)
            else:
                out.health_failed += 1
            stop.wait(SAMPLE_S)


def flood(gw: GatewayProcess, pid: int, n: int, addresses: list[str]) -> Round:
    """N parallel Basic guesses from `addresses` (one each), with RSS sampling and health timing around them."""
    result = Round(n)
    result.idle_rss = idle_rss(pid)
    hwm_reset = reset_hwm(pid)
    clients = [
        httpx.Client(base_url=gw.url, timeout=ANSWER_S, transport=httpx.HTTPTransport(local_address=a))
        for a in addresses
    ]
    barrier = threading.Barrier(n + 1)

    def guess(i: int) -> str:
        headers = basic(secrets.token_hex(6), secrets.token_hex(8))
        barrier.wait(30)
        try:
            return str(clients[i].get("/api/session", headers=headers).status_code)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    sampler = Sampler(pid).start()
    stop_health = threading.Event()
    health = threading.Thread(target=health_loop, args=(gw.url, stop_health, result), daemon=True)
    health.start()
    time.sleep(0.1)  # a few samples and health answers before the flood
    try:
        with ThreadPoolExecutor(n) as pool:
            answers = [pool.submit(guess, i) for i in range(n)]
            barrier.wait(30)
            t0 = time.perf_counter()
            statuses = [a.result(ANSWER_S + 10) for a in answers]
            result.wall_s = time.perf_counter() - t0
    finally:
        stop_health.set()
        health.join(35)
        samples = sampler.stop()
        for c in clients:
            c.close()
    result.statuses = Counter(statuses)
    result.peak_rss = max(samples, default=result.idle_rss)
    if hwm_reset:
        result.hwm = proc_status(pid).get("VmHWM")
    return result


def settled(pid: int, limit: int) -> bool:
    """Wait (at most SETTLE_S) for the RSS to come back to `limit` bytes or under."""
    try:
        wait_until(lambda: proc_status(pid)["VmRSS"] <= limit, SETTLE_S, "the RSS to settle")
    except AssertionError:
        return False
    return True


def probe(tree: Path) -> str:
    """The tree's edge.auth as it describes itself (PROBE_SCRIPT); fails if the module is not the tree's own."""
    out = subprocess.run(
        in_tree(tree, [sys.executable, "-c", PROBE_SCRIPT]), capture_output=True, text=True, timeout=60, check=True
    )
    module, note = out.stdout.strip().splitlines()[-2:]
    if not module.startswith(str(tree)):
        raise SystemExit(f"{tree}'s edge.auth was imported from {module}: the tree is not first on sys.path")
    return note


def measure(label: str, tree: Path, password_hash: str, args: argparse.Namespace, tmp: Path) -> TreeResult:
    result = TreeResult(label, tree, probe(tree))
    work = tmp / label
    work.mkdir()
    config = work / "gateway.yaml"
    config.write_text(f'users: {{{USER}: {{role: administrator, password_hash: "{password_hash}"}}}}\n', "utf-8")
    next_address = 0

    def addresses(n: int) -> list[str]:
        nonlocal next_address
        if not args.distinct:
            return ["127.0.0.1"] * n
        out = [f"127.1.{(next_address + i) // 250}.{(next_address + i) % 250 + 1}" for i in range(n)]
        next_address += n
        return out

    with MosquittoProcess() as broker:
        gw = GatewayProcess(work, broker.url, "--config", str(config), name="gateway", log_level="WARNING")
        gw.args = in_tree(tree, gw.args)
        try:
            gw.start()
            assert gw.proc is not None
            pid = gw.proc.pid
            warm = gw.http.get("/api/session", headers=basic(USER, PASSWORD), timeout=60)
            if warm.status_code != 200:
                raise RuntimeError(f"the right password got {warm.status_code}: {warm.text[:200]}")
            for _ in range(IDLE_HEALTH):
                t0 = time.perf_counter()
                gw.http.get("/api/health").raise_for_status()
                result.idle_health_ms.append((time.perf_counter() - t0) * 1000)
                time.sleep(SAMPLE_S)
            print(f"  {label}: gateway pid {pid}, {result.note}", file=sys.stderr)
            for _ in range(args.repeat):
                for n in args.rounds:
                    if gw.proc.poll() is not None:
                        raise RuntimeError(f"the gateway exited with {gw.proc.returncode}")
                    r = flood(gw, pid, n, addresses(n))
                    result.rounds.append(r)
                    print(f"  {label}: N={n} {dict(r.statuses)} +{r.growth:.0f} MiB, {r.wall_s:.1f} s", file=sys.stderr)
                    if not settled(pid, r.idle_rss + 16 * MIB):
                        print(f"  {label}: RSS still {proc_status(pid)['VmRSS'] / MIB:.0f} MiB", file=sys.stderr)
            after = gw.http.get("/api/session", headers=basic(USER, PASSWORD), timeout=60)
            result.after = str(after.status_code)
        except (RuntimeError, AssertionError, OSError, httpx.HTTPError) as exc:
            result.problem = f"{type(exc).__name__}: {exc}"
        finally:
            code = gw.stop(timeout=30)
            gw.http.close()
            if code not in (0, -2, 130) or result.problem:
                result.problem += f" (gateway exit status {code}) {gw.output()[-1500:]}"
    return result


# ---------------------------------------------------------------------------------------------- report


def table(results: list[TreeResult]) -> str:
    head = (
        f"{'tree':<9} {'N':>3} {'401':>4} {'429':>4} {'503':>4} {'other':>6} {'idle MiB':>9} {'peak +MiB':>10} "
        f"{'HWM +MiB':>9} {'health p50 ms':>14} {'health max ms':>14} {'wall s':>7}"
    )
    lines = [head, "-" * len(head)]
    for t in results:
        for r in t.rounds:
            other = sum(v for k, v in r.statuses.items() if k not in {str(s) for s in STATUSES})
            hwm = f"{r.hwm_growth:.0f}" if r.hwm_growth is not None else "?"
            lines.append(
                f"{t.label:<9} {r.n:>3} {r.statuses['401']:>4} {r.statuses['429']:>4} {r.statuses['503']:>4} "
                f"{other:>6} {r.idle_rss / MIB:>9.0f} {r.growth:>10.0f} {hwm:>9} "
                f"{percentile(r.health_ms, 0.5):>14.1f} {max(r.health_ms, default=float('nan')):>14.1f} "
                f"{r.wall_s:>7.2f}" + (f"  ({r.health_failed} health requests failed)" if r.health_failed else "")
            )
    lines.append("")
    for t in results:
        idle = f"{percentile(t.idle_health_ms, 0.5):.1f} / {max(t.idle_health_ms, default=float('nan')):.1f} ms"
        lines.append(f"{t.label:<9} {t.tree}: {t.note}")
        lines.append(f"{'':<9} health idle p50 / max {idle}; the right password after the rounds: {t.after}")
        if t.problem:
            lines.append(f"{'':<9} problem: {t.problem}")
    return "\n".join(lines)


def ratios(results: list[TreeResult], rounds: list[int]) -> str:
    by = {t.label: t for t in results}
    if set(by) != {"baseline", "current"}:
        return ""
    lines = ["peak RSS growth, current / baseline (median over the repeats):"]
    for n in dict.fromkeys(rounds):
        grown = {k: [r.growth for r in t.rounds if r.n == n] for k, t in by.items()}
        if grown["baseline"] and grown["current"]:
            base, cur = statistics.median(grown["baseline"]), statistics.median(grown["current"])
            ratio = f"{cur / base:.3f}" if base > 0 else "?"
            lines.append(f"  N={n}: {cur:.0f} / {base:.0f} MiB = {ratio}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--rounds", default="16,32", type=lambda s: [int(x) for x in s.split(",")], help="N of each round, in order"
    )
    ap.add_argument("--repeat", type=int, default=2, help="times the rounds are run on each gateway")
    ap.add_argument("--base", type=Path, help="a checkout of the baseline (default: a worktree of --base-ref)")
    ap.add_argument("--base-ref", default="cae5231", help="the baseline's git ref when --base is not given")
    ap.add_argument(
        "--one-address", action="store_true", help="every guess from 127.0.0.1 (the throttles per address then apply)"
    )
    args = ap.parse_args()

    wall0 = time.monotonic()
    args.distinct = not args.one_address and source_addresses()
    if not args.distinct and not args.one_address:
        print("cannot bind 127.1.0.1: every guess comes from 127.0.0.1 (throttles per address apply)", file=sys.stderr)
    password_hash = hash_password(PASSWORD)  # the production hasher: 64 MiB for each check of a guess against it
    tmp = Path(tempfile.mkdtemp(prefix="hallops-bench-signin-"))
    base = args.base.resolve() if args.base else base_worktree(args.base_ref, tmp)
    print(f"baseline {base} ({args.base or args.base_ref}), work {tmp}", file=sys.stderr)
    results: list[TreeResult] = []
    try:
        for label, tree in (("baseline", base), ("current", ROOT)):
            results.append(measure(label, tree, password_hash, args, tmp))
    finally:
        if not args.base:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False, timeout=120
            )
        if not os.environ.get("HALLOPS_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    source = "one source address each (127.1.x.y)" if args.distinct else "all from 127.0.0.1"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=30
    )
    print(
        f"\nHTTP Basic guesses with random names, N at once, {source}; the user's hash at the production cost; "
        f"RSS sampled every {SAMPLE_S * 1000:.0f} ms; baseline {args.base or args.base_ref}, current "
        f"{head.stdout.strip()} (this checkout)\n"
    )
    print(table(results))
    print()
    print(ratios(results, args.rounds))
    print(f"wall time {time.monotonic() - wall0:,.0f} s")


if __name__ == "__main__":
    main()
