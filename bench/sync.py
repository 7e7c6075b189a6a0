"""Cloud-sync benchmark (issue 21): how fast a hall catches up after an outage, and how much one consumer takes.

Reports in one run, with real processes on 127.0.0.1 (mosquitto, three NATS nodes, PostgreSQL, VictoriaMetrics):
  1. drain — the simulated city hall into a gateway with its uplink; the whole cluster killed for `--outage-min`
     minutes of the hall (default 60); then back. The hall's live rate (records it numbers per second of its own
     clock: what it produces in real operation), the backlog at the return, and the drain rate (records the cloud
     confirmed per real second until nothing waited, while the hall went on at `--speed`); the ratio drain/live
     (target ≥ 5).
  2. consumer — `--messages` batches of `--records` records each (the city's mix of streams, from part 1) put into
     the stream beforehand, then (a) a bare nats-py consumer that only fetches and acknowledges (the baseline), and
     (b) one `hallops cloud consume` process pinned to one core (taskset), committing to PostgreSQL and writing the
     time series to VictoriaMetrics; records per second of each and their ratio (target ≥ 20,000 records/s: one
     record is one row of the city's — an alert change, a rating, a sample —, as one MQTT message was one SQLite row
     in the Node-RED flow the issue compares with).

Run:  .venv/bin/python bench/sync.py [--speed 30] [--outage-min 60] [--messages 2000] [--records 50] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from cloud_sync.wire import Stream, up_topic  # noqa: E402
from edge.broker import MosquittoProcess  # noqa: E402
from tests.harness import GatewayProcess, simulator_process, wait_until  # noqa: E402
from tests.integration.cloud_engines import NatsCluster, PostgresServer, VictoriaMetrics  # noqa: E402
from tests.integration.cloud_tier import CloudTier  # noqa: E402

CST = timezone(timedelta(hours=8))
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def gateway_config(tmp: Path, broker: str, tier: CloudTier, speed: float) -> Path:
    from devices.simulator import load_scenario  # noqa: PLC0415
    from edge.demo import scenario_config  # noqa: PLC0415

    cfg = scenario_config(load_scenario("city"), broker, tmp / "gateway.db", ("127.0.0.1", 0), speed).model_dump(
        mode="json", exclude_none=True
    )
    tier.gateway_cloud(cfg)
    cfg["cloud"]["resend_after_s"] = 60
    cfg["cloud"]["status_every_s"] = 10
    path = tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    return path


def cloud(gw: GatewayProcess) -> dict[str, Any]:
    got: dict[str, Any] = gw.health()["cloud"]  # type: ignore[assignment]
    return got


def numbered(gw: GatewayProcess) -> int:
    return sum(int(s["last_seq"]) for s in cloud(gw)["streams"])


def hall_time(gw: GatewayProcess) -> datetime:
    return datetime.fromisoformat(str(gw.get("/api/hall")["at"]))  # type: ignore[index]


def drain(tmp: Path, speed: float, outage_min: float) -> dict[str, Any]:
    with (
        MosquittoProcess(persistent=True) as broker,
        NatsCluster() as nats,
        PostgresServer() as pg,
        VictoriaMetrics() as vm,
    ):
        nats.wait_ready()
        tier = CloudTier(tmp, nats, pg, vm)
        try:
            tier.consumers(1)
            config = gateway_config(tmp, broker.url, tier, speed)
            with (
                GatewayProcess(tmp, broker.url, "--config", str(config), hall="city-01") as gw,  # (`with` starts it)
                simulator_process(tmp / "simulator.log", broker.url, "city", speed, MONDAY_9),
            ):
                gw.http.timeout = httpx.Timeout(30)
                wait_until(lambda: cloud(gw)["connected"] and numbered(gw) > 0, 120, "the uplink")
                # (before the first message the device clock tells the box's own time: a later day)
                wait_until(
                    lambda: MONDAY_9 + timedelta(minutes=30) <= hall_time(gw) < MONDAY_9 + timedelta(hours=12),
                    600,
                    "09:30 in the hall",
                )
                say(f"drain: cluster down at {hall_time(gw):%H:%M} for {outage_min:g} min of the hall …")
                for i in range(3):
                    nats.kill(i)
                wait_until(lambda: not cloud(gw)["connected"], 60, "the uplink to notice")
                t0, n0 = hall_time(gw), numbered(gw)
                wait_until(lambda: hall_time(gw) >= t0 + timedelta(minutes=outage_min), 60 * outage_min, "the outage")
                t1, n1 = hall_time(gw), numbered(gw)
                live = (n1 - n0) / (t1 - t0).total_seconds()
                backlog = cloud(gw)["backlog"]
                by_stream = {s["stream"]: s["held"] for s in cloud(gw)["streams"]}
                for i in range(3):
                    nats.start(i)
                nats.wait_ready()
                back = time.monotonic()
                say(f"drain: cluster back; {backlog} records wait ({live:.2f} a second of the hall) …")
                wait_until(lambda: cloud(gw)["connected"], 120, "the uplink to reconnect")
                began, confirmed0 = time.monotonic(), confirmed_total(tier)
                wait_until(lambda: cloud(gw)["backlog"] == 0, 900, "the backlog to drain")
                seconds = time.monotonic() - began
                rate = (confirmed_total(tier) - confirmed0) / seconds
                return {
                    "scenario": "city",
                    "speed": speed,
                    "outage_hall_min": round((t1 - t0).total_seconds() / 60, 1),
                    "live_records_per_hall_s": round(live, 3),
                    "backlog_records": backlog,
                    "backlog_by_stream": by_stream,
                    "reconnect_s": round(began - back, 1),
                    "drain_s": round(seconds, 1),
                    "drain_records_per_s": round(rate, 1),
                    "drain_vs_live": round(rate / live, 1) if live else None,
                    "drain_vs_live_at_speed": round(rate / (live * speed), 1) if live else None,
                }
        finally:
            tier.close()


def confirmed_total(tier: CloudTier) -> int:
    return int(tier.one("SELECT coalesce(sum(seq), 0) FROM confirmed") or 0)


# -- part 2: one consumer's throughput -------------------------------------------------------------------------------

MIX = {  # records per stream, as the city numbered them over a day (part 1 replaces it with what it measured)
    Stream.TELEMETRY: 0.80,
    Stream.DEVICES: 0.08,
    Stream.ALERTS: 0.05,
    Stream.RATINGS: 0.04,
    Stream.KPIS: 0.01,
    Stream.TICKETS: 0.01,
    Stream.AUDIT: 0.005,
    Stream.DECISIONS: 0.005,
}


def body(stream: Stream, n: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    if stream is Stream.TELEMETRY:
        return "sample", {
            "measurement": "hall_queue",
            "tags": {"service": rng.choice(["SB", "YB", "BDC", "SW", "GJJ"])},
            "fields": {"waiting": rng.randint(0, 40), "longest_wait_s": rng.random() * 1800, "serving": 3},
        }
    if stream is Stream.ALERTS:
        fp = f"fp{n % 50}"
        return "alert", {
            "fingerprint": fp,
            "rule": "queue-long",
            "state": rng.choice(["firing", "resolved"]),
            "severity": "warning",
            "alert": {"title": {"zh": "排队过长", "en": "Long queue"}},
        }
    if stream is Stream.RATINGS:
        return "rating", {
            "device": "EV01",
            "window": "W01",
            "ticket": f"T{n}",
            "score": rng.randint(1, 5),
            "service": "SB",
            "service_item": None,
        }
    if stream is Stream.DEVICES:
        return "availability", {
            "device": f"D{n % 150}",
            "device_type": "kiosk",
            "up": n % 2 == 0,
            "since": "2026-11-23T09:00:00+08:00",
            "reason": None,
        }
    if stream is Stream.KPIS:
        return "kpi_hour", {
            "start": f"2026-11-23T{9 + n % 8:02d}:00:00+08:00",
            "service": None,
            "issued": 120,
            "called": 110,
            "served": 100,
            "no_shows": 3,
            "sl_pct": 91.0,
            "p95_wait_min": 14.0,
            "mean_wait_min": 6.0,
            "max_wait_min": 30.0,
            "utilisation_pct": 80.0,
            "availability_pct": 99.0,
            "ratings": 40,
            "satisfaction_pct": 95.0,
        }
    if stream is Stream.TICKETS:
        return "ticket", {
            "id": f"T-20261123-{n % 500:04d}",
            "status": rng.choice(["open", "acknowledged", "closed"]),
            "priority": "P3",
            "device": "KS01",
        }
    if stream is Stream.AUDIT:
        return "audit", {
            "id": n,
            "at": "2026-11-23T09:00:00+08:00",
            "actor": "wang",
            "action": "alert.ack",
            "subject": "fp1",
            "detail": {},
            "hash": "ab" * 32,
        }
    return "recommendation", {"id": f"R{n % 200}", "status": "offered", "action": "open", "services": ["SB"]}


def batches(messages: int, records: int, halls: int, mix: dict[Stream, float]) -> list[tuple[str, bytes]]:
    """`messages` batches spread over `halls` halls, each of one stream, numbered as an edge numbers them."""
    rng = random.Random(21)
    streams, weights = list(mix), list(mix.values())
    seq: dict[tuple[str, Stream], int] = {}
    out = []
    for m in range(messages):
        hall = f"hall-{m % halls:04d}"
        stream = rng.choices(streams, weights)[0]
        lo = seq.get((hall, stream), 0)
        recs = []
        for i in range(1, records + 1):
            kind, b = body(stream, lo + i, rng)
            recs.append({"seq": lo + i, "at": 1_796_000_000.0 + lo + i, "kind": kind, "body": b})
        seq[(hall, stream)] = lo + records
        payload = {
            "format": "hallops-sync/1",
            "hall": hall,
            "stream": stream.value,
            "lo": lo,
            "hi": lo + records,
            "sent_at": 1_796_000_000.0,
            "records": recs,
        }
        out.append((up_topic(hall, stream).replace("/", "."), json.dumps(payload, separators=(",", ":")).encode()))
    return out


async def fill(urls: list[str], msgs: list[tuple[str, bytes]]) -> None:
    import nats  # noqa: PLC0415

    nc = await nats.connect(servers=urls)
    js = nc.jetstream()
    for i in range(0, len(msgs), 200):
        await asyncio.gather(*(js.publish(subject, payload) for subject, payload in msgs[i : i + 200]))
    await nc.close()


async def bare(urls: list[str], stream: str, total: int) -> float:
    """A consumer that only fetches and acknowledges: seconds for `total` messages."""
    import nats  # noqa: PLC0415
    from nats.js.api import AckPolicy, ConsumerConfig  # noqa: PLC0415

    nc = await nats.connect(servers=urls)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "cloud.halls.*.up.*",
        durable="bare",
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=8192),
    )
    from nats.js.errors import ServiceUnavailableError  # noqa: PLC0415

    got = 0
    began = time.perf_counter()
    while got < total:
        try:
            msgs = await sub.fetch(256, timeout=5)
        except ServiceUnavailableError:  # the cluster busy (its leader catching up): JetStream says try again
            await asyncio.sleep(0.1)
            continue
        except TimeoutError:
            break
        for m in msgs:
            await m.ack()
        got += len(msgs)
    seconds = time.perf_counter() - began
    await nc.close()
    if got < total:
        raise RuntimeError(f"the bare consumer got {got} of {total}")
    return seconds


def consumer(tmp: Path, messages: int, records: int, halls: int, mix: dict[Stream, float]) -> dict[str, Any]:
    with NatsCluster() as nats, PostgresServer() as pg, VictoriaMetrics() as vm:
        nats.wait_ready()
        tier = CloudTier(tmp, nats, pg, vm)
        try:
            # the stream, made by a consumer that is then stopped (what it fetched of nothing is nothing)
            first = tier.consumers(1)[0]
            first.terminate()
            first.wait(30)
            msgs = batches(messages, records, halls, mix)
            size = sum(len(p) for _, p in msgs)
            say(f"consumer: {messages} batches of {records} records ({size / 1e6:.1f} MB) into the stream …")
            asyncio.run(fill(nats.client_urls, msgs))
            total_records = messages * records
            say("consumer: (a) bare nats-py fetch + ack …")
            bare_s = asyncio.run(bare(nats.client_urls, "HALLOPS_UP", messages))
            say("consumer: (b) hallops cloud consume on one core …")
            proc = tier.consumer()
            n = len(tier.procs) - 1
            taskset = shutil.which("taskset")
            if taskset:
                subprocess.run([taskset, "-apc", "1", str(proc.pid)], check=False, capture_output=True)
            # its own time: from the moment it says it consumes (started, stream and consumer provisioned) until
            # PostgreSQL holds every record
            wait_until(lambda: " consuming " in tier.log(n) or proc.poll() is not None, 120, "the consumer to start")
            profile = os.environ.get("HALLOPS_BENCH_PYSPY")  # a flame graph of the consumer, for whoever tunes it
            spy = (
                subprocess.Popen(["py-spy", "record", "-o", profile, "-f", "raw", "-p", str(proc.pid), "-r", "200"])
                if profile and shutil.which("py-spy")
                else None
            )
            began = time.monotonic()
            while confirmed_total(tier) < total_records and proc.poll() is None:
                if time.monotonic() - began > 900:
                    raise RuntimeError("the consumer did not finish in 15 min")
                time.sleep(0.02)
            seconds = time.monotonic() - began
            if proc.poll() is not None:
                raise RuntimeError(f"the consumer exited: {tier.log(n)[-2000:]}")
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
                spy.wait(60)
            proc.terminate()
            proc.wait(30)
            counters = last_counters(tier.log(n))
            rate = total_records / seconds
            bare_rate = total_records / bare_s
            return {
                "messages": messages,
                "records_per_message": records,
                "halls": halls,
                "bare_messages_per_s": round(messages / bare_s, 1),
                "bare_records_per_s": round(bare_rate, 1),
                "consumer_s": round(seconds, 2),
                "consumer_messages_per_s": round(messages / seconds, 1),
                "consumer_records_per_s": round(rate, 1),
                "consumer_vs_bare": round(rate / bare_rate, 3),
                "counters": counters,
            }
        finally:
            tier.close()


def last_counters(log: str) -> dict[str, Any]:
    for line in reversed(log.splitlines()):
        if " counters {" in line:
            return dict(json.loads(line[line.index("{") :]))
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=30.0, help="the hall's clock in part 1")
    ap.add_argument("--outage-min", type=float, default=60.0, help="minutes of the hall the cluster is away")
    ap.add_argument("--messages", type=int, default=2000, help="batches in part 2")
    ap.add_argument("--records", type=int, default=50, help="records per batch in part 2")
    ap.add_argument("--halls", type=int, default=100, help="halls the batches of part 2 come from")
    ap.add_argument("--skip-drain", action="store_true")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: leave through the `with` blocks (no orphans)
    results: dict[str, Any] = {}
    mix = dict(MIX)
    with tempfile.TemporaryDirectory(prefix="hallops-bench-sync-") as tmp:
        if not args.skip_drain:
            (Path(tmp) / "drain").mkdir()
            results["drain"] = drain(Path(tmp) / "drain", args.speed, args.outage_min)
            held = results["drain"]["backlog_by_stream"]
            if sum(held.values()):
                mix = {Stream(s): n / sum(held.values()) for s, n in held.items() if n}
            print(json.dumps({"drain": results["drain"]}, indent=2))
        (Path(tmp) / "consumer").mkdir()
        results["consumer"] = consumer(Path(tmp) / "consumer", args.messages, args.records, args.halls, mix)
        results["consumer"]["mix"] = {s.value: round(f, 3) for s, f in mix.items()}
        print(json.dumps({"consumer": results["consumer"]}, indent=2))
    results["machine"] = {"cpus": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), "utf-8")


if __name__ == "__main__":
    main()
