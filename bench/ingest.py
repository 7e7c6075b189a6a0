"""Ingest benchmark: a real mosquitto, contract messages from the city-hall simulation, two subscribers.

Reports in one run:
  1. flood capacity — N messages published as fast as one paho publisher can, QoS 1, received by
     (a) a bare aiomqtt subscriber that only parses JSON (the baseline), (b) the full gateway (validate + hall
     state + SQLite + manual acks); each one's sustained rate, their ratio, and loss;
  2. sustained — the gateway alone at a paced 5,000 msg/s for 60 s (QoS 1): delivered, loss, drain time after the
     publisher stops, the gateway's peak RSS and CPU;
  3. the gateway's in-process cost per message without MQTT (decode + apply + SQLite batch), for reference.

Run:  .venv/bin/python bench/ingest.py [--seconds 60] [--rate 5000] [--flood 100000]
Every loop is bounded in count and time; everything runs on 127.0.0.1. All processes share the box's 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.broker import MosquittoProcess  # noqa: E402
from tests.harness import GatewayProcess  # noqa: E402

Message = tuple[str, bytes]


# ---------------------------------------------------------------------------------------------- messages


def city_messages(days: int) -> tuple[str, list[Message]]:
    """Contract messages of `days` simulated city-hall days (Mon, Tue, …), in timeline order."""
    from devices.simulator import HallSimulation, load_scenario  # noqa: PLC0415
    from devices.simulator.model import day_bounds  # noqa: PLC0415

    scenario = load_scenario("city")
    out: list[Message] = []
    for d in range(days):
        start, end = day_bounds(scenario, date(2026, 11, 23 + d))
        out.extend(
            (m.topic, m.payload) for m in HallSimulation(scenario, 1 + d, start, end).messages() if m.kind == "publish"
        )
    return scenario.hall.id, out


# ---------------------------------------------------------------------------------------------- roles (processes)


def role_publisher(port: int, path: Path, rate: float, seconds: float) -> None:
    """Publish the messages in `path` at QoS 1: paced at `rate` msg/s, or as fast as possible (rate 0)."""
    import paho.mqtt.client as mqtt  # noqa: PLC0415

    messages: list[Message] = pickle.loads(path.read_bytes())
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.monotonic()
    deadline = start + seconds + 120
    infos = []
    done_upto = 0
    for i, (topic, payload) in enumerate(messages):
        if rate > 0:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0.002:
                time.sleep(delay)
        infos.append(client.publish(topic, payload, qos=1))
        if len(infos) - done_upto > 30_000:
            # paho numbers queued messages 1..65535; never queue so many that the numbers wrap
            infos[done_upto].wait_for_publish(max(0.1, deadline - time.monotonic()))
            done_upto += 1
        if time.monotonic() > deadline:
            break
    sent_at = time.monotonic()
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    done = time.monotonic()
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"published": len(infos), "publish_s": sent_at - start, "acked_s": done - start}), flush=True)


def role_bare(port: int, expect: int, timeout: float) -> None:
    """The baseline: an aiomqtt QoS 1 subscriber that parses each payload as JSON and nothing else."""
    import aiomqtt  # noqa: PLC0415

    async def main() -> None:
        count = 0
        first = last = 0.0
        cpu0 = time.process_time()
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare", clean_session=False) as c:
            await c.subscribe("hall/#", qos=1)
            print("READY", flush=True)
            try:
                async with asyncio.timeout(timeout):
                    async for m in c.messages:
                        json.loads(m.payload)  # type: ignore[arg-type]
                        count += 1
                        last = time.monotonic()
                        if count == 1:
                            first = last
                        if count >= expect:
                            break
            except TimeoutError:
                pass
        cpu = time.process_time() - cpu0
        print(json.dumps({"received": count, "span_s": last - first, "cpu_s": cpu}), flush=True)

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- orchestration


def publisher_command(port: int, pool: Path, rate: float, seconds: float) -> list[str]:
    """This script in its publisher role: `pool`'s messages at `rate` per second (0: as fast as it can)."""
    role = ["--role", "pub", "--port", str(port), "--pool", str(pool), "--rate", str(rate), "--seconds", str(seconds)]
    return [sys.executable, __file__, *role]


def publish(port: int, pool: Path, rate: float, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        publisher_command(port, pool, rate, seconds),
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_bare(port: int, pool: Path, n: int) -> dict[str, float]:
    sub = subprocess.Popen(
        [sys.executable, __file__, "--role", "bare", "--port", str(port), "--expect", str(n), "--timeout", "120"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sub.stdout is not None
    assert sub.stdout.readline().strip() == "READY"
    pub = publish(port, pool, 0, 60)
    result: dict[str, float] = json.loads(sub.stdout.readline())
    sub.wait(30)
    result["rate"] = result["received"] / result["span_s"] if result["span_s"] else 0.0
    result["cpu_us_per_msg"] = 1e6 * result["cpu_s"] / max(1, result["received"])
    result["publisher_rate"] = pub["published"] / pub["publish_s"]
    result["sent"] = pub["published"]
    return result


def start_gateway(port: int, hall: str, tmp: Path, name: str) -> GatewayProcess:
    # the messages replay simulated days of 2026-11-23 on: the gateway is told to take device times that far back
    # (ingest.plausible_past_s), as for any replay of recorded days
    config = tmp / f"{name}.yaml"
    config.write_text("ingest: {plausible_past_s: 31536000}\n", encoding="utf-8")
    url = f"mqtt://127.0.0.1:{port}"
    return GatewayProcess(tmp, url, "--config", str(config), hall=hall, name=name, log_level="WARNING").start()


def wait_for_accepted(gw: GatewayProcess, n: int, timeout: float) -> tuple[int, float, float]:
    """Poll until `n` messages are accepted, or no progress for 10 s; returns (accepted, time of last progress,
    first-seen time)."""
    deadline = time.monotonic() + timeout
    first = 0.0
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        accepted = int(gw.counters()["accepted"])
        now = time.monotonic()
        if accepted and not first:
            first = now
        if accepted != last_count:
            last_count, last_change = accepted, now
        if accepted >= n or now - last_change > 10:
            break
        time.sleep(0.02)
    return last_count, last_change, first


def flood_gateway(port: int, hall: str, pool: Path, n: int, tmp: Path) -> dict[str, float]:
    gw = start_gateway(port, hall, tmp, "flood")
    t0 = time.monotonic()
    pub_proc = subprocess.Popen(
        publisher_command(port, pool, 0, 60),
        stdout=subprocess.PIPE,
        text=True,
    )
    accepted, done_at, first = wait_for_accepted(gw, n, 180)
    out, _ = pub_proc.communicate(timeout=120)
    pub = json.loads(out.strip().splitlines()[-1])
    cpu_s = gw.cpu_s()
    c = gw.counters()
    gw.stop(timeout=30)
    span = done_at - (first or t0)
    return {
        "sent": pub["published"],
        "received": accepted,
        "rejected": sum(c.get("rejected", {}).values()) if isinstance(c.get("rejected"), dict) else 0,
        "span_s": span,
        "rate": accepted / span if span else 0.0,
        "publisher_rate": pub["published"] / pub["publish_s"],
        "cpu_s": cpu_s,
        "cpu_us_per_msg": 1e6 * cpu_s / max(1, accepted),
        "peak_rss_mb": gw.peak_rss / 2**20,
    }


def sustained_gateway(port: int, hall: str, pool: Path, rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    gw = start_gateway(port, hall, tmp, "sustained")
    n = int(rate * seconds)
    pub_proc = subprocess.Popen(
        publisher_command(port, pool, rate, seconds),
        stdout=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    while pub_proc.poll() is None and time.monotonic() - t0 < seconds + 120:
        samples.append((time.monotonic() - t0, gw.counters()["accepted"]))
        time.sleep(0.25)
    out, _ = pub_proc.communicate(timeout=60)
    pub = json.loads(out.strip().splitlines()[-1])
    publish_end = pub["publish_s"]
    accepted, done_at, _ = wait_for_accepted(gw, n, 120)
    drain = max(0.0, (done_at - t0) - publish_end)
    cpu_s = gw.cpu_s()
    gw.stop(timeout=30)
    # the largest backlog (published but not yet accepted) seen while publishing
    backlog = max((min(t, publish_end) * rate - a for t, a in samples), default=0.0)
    return {
        "target_rate": rate,
        "seconds": seconds,
        "sent": pub["published"],
        "received": accepted,
        "loss": pub["published"] - accepted,
        "achieved_publish_rate": pub["published"] / pub["publish_s"],
        "sustained_rate": accepted / (publish_end + drain),
        "drain_after_publisher_s": drain,
        "max_backlog_msgs": backlog,
        "cpu_s": cpu_s,
        "cpu_pct_of_core": 100 * cpu_s / (publish_end + drain),
        "peak_rss_mb": gw.peak_rss / 2**20,
    }


def in_process_cost(hall: str, messages: list[Message], tmp: Path) -> dict[str, float]:
    """The gateway's own work per message with no MQTT: decode, apply, SQLite batches of 2,000."""
    from edge.config import load_config  # noqa: PLC0415
    from edge.gateway import Gateway  # noqa: PLC0415

    cfg = load_config(
        None,
        {"hall": {"id": hall}, "storage": {"path": str(tmp / "inproc.db")}, "ingest": {"plausible_past_s": 31536000}},
    )
    gw = Gateway(cfg)
    gw.open()
    now = datetime.now(UTC)
    t0 = time.process_time()
    for topic, payload in messages:
        gw.handle(topic, payload, now)
    gw.flush(save_state=True)
    cpu = time.process_time() - t0
    accepted = gw.counters.accepted
    gw.close()
    return {"messages": len(messages), "accepted": accepted, "cpu_us_per_msg": 1e6 * cpu / len(messages)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["main", "pub", "bare"], default="main")
    ap.add_argument("--port", type=int)
    ap.add_argument("--pool", type=Path)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--flood", type=int, default=100_000)
    ap.add_argument("--expect", type=int)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    if args.role == "pub":
        role_publisher(args.port, args.pool, args.rate, args.seconds)
        return
    if args.role == "bare":
        role_bare(args.port, args.expect, args.timeout)
        return

    tmp = Path(tempfile.mkdtemp(prefix="hallops-bench-"))
    need = max(args.flood, int(args.rate * args.seconds))
    print(f"building messages from the city-hall simulation (need {need:,})…", file=sys.stderr)
    days = 1
    hall, messages = city_messages(days)
    while len(messages) < need:
        days += 1
        hall, messages = city_messages(days)
    flood_pool = tmp / "flood.pkl"
    flood_pool.write_bytes(pickle.dumps(messages[: args.flood]))
    sustained_pool = tmp / "sustained.pkl"
    sustained_pool.write_bytes(pickle.dumps(messages[: int(args.rate * args.seconds)]))
    kinds: dict[str, int] = {}
    for topic, _ in messages[:need]:
        kinds[topic.rsplit("/", 1)[1]] = kinds.get(topic.rsplit("/", 1)[1], 0) + 1
    report: dict[str, object] = {"machine": {"cpus": os.cpu_count()}, "message_mix": kinds, "hall": hall}

    print("in-process cost…", file=sys.stderr)
    report["in_process"] = in_process_cost(hall, messages[: args.flood], tmp)

    with MosquittoProcess() as broker:
        print(f"flood {args.flood:,} → bare aiomqtt subscriber…", file=sys.stderr)
        bare = run_bare(broker.port, flood_pool, args.flood)
    with MosquittoProcess() as broker:
        print(f"flood {args.flood:,} → gateway…", file=sys.stderr)
        full = flood_gateway(broker.port, hall, flood_pool, args.flood, tmp)
    report["flood"] = {
        "bare_aiomqtt_json": bare,
        "gateway": full,
        "ratio_gateway_to_bare": full["rate"] / bare["rate"] if bare["rate"] else None,
        # the same comparison by CPU per message, which does not depend on who else used the 2 cores
        "cpu_ratio_bare_to_gateway": bare["cpu_us_per_msg"] / full["cpu_us_per_msg"],
    }
    with MosquittoProcess() as broker:
        print(f"sustained {args.rate:,.0f} msg/s for {args.seconds:.0f} s → gateway…", file=sys.stderr)
        report["sustained"] = sustained_gateway(broker.port, hall, sustained_pool, args.rate, args.seconds, tmp)
    print(json.dumps(report, indent=2))
    s = report["sustained"]
    assert isinstance(s, dict)
    f = report["flood"]
    assert isinstance(f, dict)
    print(
        f"\nSUMMARY bare={bare['rate']:,.0f} msg/s gateway={full['rate']:,.0f} msg/s "
        f"ratio={f['ratio_gateway_to_bare']:.2f} (by CPU/msg {f['cpu_ratio_bare_to_gateway']:.2f}) | "
        f"sustained {s['sustained_rate']:,.0f} msg/s for "
        f"{s['seconds']:.0f} s, loss={s['loss']}, peak RSS={s['peak_rss_mb']:.0f} MB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
