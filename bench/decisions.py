"""Decisions benchmark: how fast and how precisely the gateway turns conditions into alerts, and what rules cost.

Reports in one run:
  (a) latency from the moment a condition's `for:` elapses to the alert on `hallops/<hall>/alerts`, p50/p95/p99/max,
      with 2,000 msg/s of background telemetry and, in the same run, without it. A rules file with one condition
      rule (`queue-forming`: queue.waiting ≥ 1 for 5 s) plus the built-in `device-offline` (without its schedule);
      a trigger process issues one ticket for each of N distinct services at known times (expected fire = ts + 5 s);
      probe devices die (last will: expected = drop + 30 s) or fall silent (expected = last message + 60 s), so
      the device-offline path is also measured in real time;
  (b) detection time per incident class of the city-hall scenario (hall time: alert `fired_at` − incident start),
      next to the rule's own threshold: the simulator (`run_simulation`) at N× against the gateway in
      `--clock device --speed N` with the built-in pack;
  (c) the rule engine's CPU per evaluation and per event with 200 and with 2,000 rules (variants of the built-in
      pack), in-process over a city-hall morning;
  (d) from (b): firing notifications per incident, and every firing notification of the day by rule.

Run:  .venv/bin/python bench/decisions.py [--triggers 200] [--gap 0.3] [--background 2000] [--speed 120]
Every process is started here and stopped here; every loop is bounded in count and time; everything runs on
127.0.0.1. The broker, the gateway, the publishers and the listener share the box's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import math
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import yaml  # noqa: E402

from edge.broker import MosquittoProcess  # noqa: E402
from tests.harness import GatewayProcess, Listener  # noqa: E402

HALL = "city-01"
DAY = date(2026, 11, 23)  # a Monday: the built-in schedules (hall_day, opening_hours) are open
FOR_S = 5.0  # the `for:` of the latency rule
WILL_S = 30.0  # device-offline: device.offline_min >= 0.5
SILENT_CAMERA_S = 60.0  # device-offline: device.silent_s >= 60 for a camera
WILL = b'{"v":1,"online":false}'

Json = dict[str, Any]


# ---------------------------------------------------------------------------------------------- small helpers


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _t(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _quantile(ordered: list[float], q: float) -> float:
    k = (len(ordered) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> Json:
    """n, mean, p50, p95, p99 (linear interpolation) and max."""
    if not values:
        return {"n": 0}
    v = sorted(values)
    return {
        "n": len(v),
        "mean": sum(v) / len(v),
        "p50": _quantile(v, 0.5),
        "p95": _quantile(v, 0.95),
        "p99": _quantile(v, 0.99),
        "max": v[-1],
    }


def _paho(client_id: str, will: tuple[str, bytes] | None = None) -> Any:
    import paho.mqtt.client as mqtt  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def _connect(client: Any, port: int) -> None:
    """Connect, start the network thread, and switch Nagle off (a QoS 1 publish must not wait for a delayed ACK)."""
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("the broker did not accept the connection")
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _sleep_until(due: float) -> None:
    delay = due - time.time()
    if delay > 0:
        time.sleep(delay)


# ---------------------------------------------------------------------------------------------- roles (processes)


def role_listen(spec: Json) -> None:
    """Subscribe to the alert topic (QoS 1) and note the wall time each notification arrives; optionally also a
    device topic (QoS 0), whose (arrival, device ts) pairs map wall time to hall time in a sped-up run. Writes
    them to `out` on SIGTERM or after `seconds`."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    alerts, clock_topic = spec["topic"], spec.get("clock_topic")
    with Listener(spec["port"], alerts, *([(clock_topic, 0)] if clock_topic else [])) as listener:
        print("READY", flush=True)
        stop.wait(spec["seconds"])
    got = [(h.at, h.payload.decode()) for h in listener.heard if h.topic == alerts]
    clock = [(h.at, json.loads(h.payload)["ts"]) for h in listener.heard if h.topic != alerts]
    Path(spec["out"]).write_text(json.dumps({"alerts": got, "clock": clock}))


def _city_devices() -> tuple[list[tuple[str, str]], dict[str, tuple[list[str], list[str]]]]:
    """(device type, id) of every city-hall device, and each camera's zones and the windows of its staff seats."""
    from devices.simulator import load_scenario  # noqa: PLC0415

    sc = load_scenario("city")
    devices = [("ticket_machine", d.id) for d in sc.ticket_machines] + [("window", d.id) for d in sc.windows]
    devices += [("call_screen", d.id) for d in sc.call_screens] + [("kiosk", d.id) for d in sc.kiosks]
    devices += [("evaluator", d.id) for d in sc.evaluators] + [("camera", d.id) for d in sc.cameras]
    cameras = {
        c.id: ([z.id for z in c.zones], [w for z in c.zones if z.kind.value == "staff_seat" for w in z.windows])
        for c in sc.cameras
    }
    return devices, cameras


def role_background(spec: Json) -> None:
    """Paced telemetry from every city-hall device: heartbeats (QoS 0) and camera occupancy events (QoS 1, 1 in 4)."""
    from devices.topics import build_topic  # noqa: PLC0415

    devices, cameras = _city_devices()
    rng = random.Random(7)
    seq: Counter[str] = Counter()
    client = _paho(f"bench-background-{os.getpid()}")
    _connect(client, spec["port"])
    rate, seconds, hall = spec["rate"], spec["seconds"], spec["hall"]
    start = time.time()
    cams = list(cameras)
    i = 0
    while True:
        due = start + i / rate
        if due > start + seconds:
            break
        if due - time.time() > 0.002:
            _sleep_until(due)
        now = time.time()
        if i % 4 == 3:
            cam = cams[i // 4 % len(cams)]
            zones, seats = cameras[cam]
            seq[cam] += 1
            body: Json = {
                "v": 1,
                "type": "occupancy",
                "ts": _iso(now),
                "seq": seq[cam],
                "zones": {z: rng.randint(0, 12) for z in zones},
                "staff_present": dict.fromkeys(seats, True),
            }
            client.publish(build_topic(hall, "camera", cam, "evt"), json.dumps(body), qos=1)
        else:
            kind, dev = devices[i % len(devices)]
            seq[dev] += 1
            body = {"v": 1, "ts": _iso(now), "seq": seq[dev], "uptime_s": round(now - start, 1)}
            client.publish(build_topic(hall, kind, dev, "hb"), json.dumps(body), qos=0)
        i += 1
    sent_s = time.time() - start
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"published": i, "seconds": sent_s, "rate": i / sent_s}), flush=True)


def role_trigger(spec: Json) -> None:
    """One `ticket.issued` for each of N distinct services, `gap` s apart: each starts one queue (waiting = 1)."""
    from devices.topics import build_topic  # noqa: PLC0415

    client = _paho(f"bench-trigger-{os.getpid()}")
    _connect(client, spec["port"])
    topic = build_topic(spec["hall"], "ticket_machine", "TM-BENCH", "evt")
    start = time.time() + spec["delay"]
    sent, infos = [], []
    for i in range(spec["n"]):
        _sleep_until(start + i * spec["gap"])
        now = time.time()
        service = f"Q{i:03d}"
        body = {
            "v": 1,
            "type": "ticket.issued",
            "ts": _iso(now),
            "seq": i + 1,
            "ticket_id": f"bench-{i}",
            "number": f"Q{i:03d}",
            "service": service,
        }
        infos.append(client.publish(topic, json.dumps(body), qos=1))
        sent.append({"service": service, "ts": body["ts"], "sent": now})
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    Path(spec["out"]).write_text(json.dumps(sent))


def role_probe(spec: Json) -> None:
    """Devices that go away at known times: `will` ones lose their connection (the broker publishes the last will),
    `silent` ones stay connected and stop sending. Every probe heartbeats once a second until then."""
    from devices.topics import build_topic  # noqa: PLC0415

    hall, port = spec["hall"], spec["port"]
    start = time.time()
    probes = []
    for p in spec["probes"]:
        state = build_topic(hall, p["type"], p["id"], "state")
        client = _paho(f"bench-probe-{p['id']}", will=(state, WILL))
        _connect(client, port)
        now = time.time()
        body = {"v": 1, "online": True, "ts": _iso(now), "seq": 1}
        client.publish(state, json.dumps(body), qos=1, retain=True).wait_for_publish(10)
        probes.append(
            {
                **p,
                "client": client,
                "seq": 1,
                "hb": build_topic(hall, p["type"], p["id"], "hb"),
                "gone": False,
                "last_ts": body["ts"],
            }
        )
    out = []
    tick = 0
    while time.time() < start + spec["seconds"]:
        tick += 1
        _sleep_until(start + tick * 1.0)
        now = time.time()
        for p in probes:
            if p["gone"]:
                continue
            if now - start >= p["at"]:
                p["gone"] = True
                if p["kind"] == "will":
                    client = p["client"]
                    client.loop_stop()  # no reconnect, and no DISCONNECT: the broker must publish the will
                    sock = client.socket()
                    gone_at = time.time()
                    if isinstance(sock, socket.socket):
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    out.append(
                        {
                            "device": p["id"],
                            "type": p["type"],
                            "kind": "will",
                            "event_at": gone_at,
                            "expected": gone_at + WILL_S,
                        }
                    )
                else:
                    last = _t(p["last_ts"])
                    assert last is not None
                    out.append(
                        {
                            "device": p["id"],
                            "type": p["type"],
                            "kind": "silent",
                            "event_at": last,
                            "expected": last + SILENT_CAMERA_S,
                        }
                    )
                continue
            p["seq"] += 1
            p["last_ts"] = _iso(now)
            body = {"v": 1, "ts": p["last_ts"], "seq": p["seq"], "uptime_s": round(now - start, 1)}
            p["client"].publish(p["hb"], json.dumps(body), qos=0)
    for p in probes:
        if p["kind"] == "silent" or not p["gone"]:
            p["client"].disconnect()
            p["client"].loop_stop()
    Path(spec["out"]).write_text(json.dumps(out))


def role_sim(spec: Json) -> None:
    """The city scenario through `run_simulation` (one MQTT connection per device, paced at `speed`)."""
    from devices.simulator import load_scenario  # noqa: PLC0415
    from devices.simulator.publisher import run_simulation  # noqa: PLC0415

    scenario = load_scenario("city")
    start, end = datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"])
    wall0 = time.time()
    truth = asyncio.run(
        run_simulation(
            scenario, f"mqtt://127.0.0.1:{spec['port']}", speed=spec["speed"], seed=spec["seed"], start=start, end=end
        )
    )
    wall1 = time.time()
    lag = (wall1 - wall0) - (end - start).total_seconds() / spec["speed"]  # behind the pacing at the end
    print(json.dumps({"wall_start": wall0, "wall_end": wall1, "messages": truth.messages, "lag_s": lag}), flush=True)


ROLES = {
    "listen": role_listen,
    "background": role_background,
    "trigger": role_trigger,
    "probe": role_probe,
    "sim": role_sim,
}


# ---------------------------------------------------------------------------------------------- orchestration


def spawn(role: str, spec: Json, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--spec", json.dumps(spec)], cwd=ROOT, text=True, **kw
    )


class ListenerProcess:
    """`role_listen` in a process of its own, so that nothing the orchestrator does delays the arrival times."""

    def __init__(self, port: int, topic: str, out: Path, seconds: float, clock_topic: str | None = None) -> None:
        self.out = out
        spec = {"port": port, "topic": topic, "out": str(out), "seconds": seconds, "clock_topic": clock_topic}
        self.proc = spawn("listen", spec, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "READY":
            raise RuntimeError("the listener did not subscribe")

    def stop(self) -> Json:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        result: Json = json.loads(self.out.read_text())
        return result


def start_gateway(config: Json, broker_url: str, tmp: Path, name: str) -> GatewayProcess:
    """`hallops gateway --config tmp/<name>.yaml` with `config`, its database and log next to it."""
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return GatewayProcess(tmp, broker_url, "--config", str(path), hall=HALL, name=name, log_level="WARNING").start()


def alert_outbox(db: Path) -> list[tuple[float, float | None, Json]]:
    """(created_at, sent_at, body) of every alert notification the gateway decided (read after it stopped)."""
    store = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = store.execute(
        "SELECT created_at, sent_at, payload FROM outbox WHERE channel = 'mqtt' AND target LIKE '%/alerts'"
    ).fetchall()
    store.close()
    return [(float(c), float(s) if s is not None else None, json.loads(p)) for c, s, p in rows]


class Usage:
    """CPU of the whole box, of this benchmark (itself and every process it started and waited for: broker,
    gateway, publishers, listener) and of everything else on the box (other people's work), in cores."""

    def __init__(self) -> None:
        self.wall, self.box, self.mine = time.monotonic(), psutil.cpu_times(), self._mine()

    @staticmethod
    def _mine() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def done(self) -> Json:
        box = psutil.cpu_times()
        idle = (box.idle + getattr(box, "iowait", 0)) - (self.box.idle + getattr(self.box, "iowait", 0))
        total = sum(box) - sum(self.box)
        busy = (os.cpu_count() or 1) * (1 - idle / total) if total else 0.0
        mine = (self._mine() - self.mine) / (time.monotonic() - self.wall)
        return {"box_busy_cores": busy, "this_benchmark_cores": mine, "other_cores": max(0.0, busy - mine)}


# ---------------------------------------------------------------------------------------------- (a) latency


def latency_rules() -> Json:
    """One condition rule whose start is not known from the hall (so `for` counts from the evaluation that first
    sees it), and the built-in device-offline rule without its schedule (the benchmark runs on any day)."""
    from devices.validation import read_yaml  # noqa: PLC0415
    from rules.language import BUILTIN  # noqa: PLC0415

    builtin = read_yaml(BUILTIN)
    assert isinstance(builtin, dict)
    offline = next(r for r in builtin["rules"] if r["id"] == "device-offline")
    offline = {k: v for k, v in offline.items() if k != "during"}
    forming = {
        "id": "queue-forming",
        "description": "bench: someone has waited 5 s",
        "when": {"metric": "queue.waiting", "op": ">=", "value": 1},
        "for": f"{FOR_S:g}s",
        "severity": "warning",
        "then": [{"alert": {"to": "floor_guide"}}],
    }
    return {"version": 1, "rules": [forming, offline]}


def latency_phase(args: argparse.Namespace, tmp: Path, background: float) -> Json:
    name = f"latency-{int(background)}"
    rules = tmp / "latency-rules.yaml"
    rules.write_text(yaml.safe_dump(latency_rules(), allow_unicode=True, sort_keys=False))
    probes = [{"id": f"K-PROBE-{i}", "type": "kiosk", "kind": "will", "at": 8 + 2 * i} for i in range(3)]
    probes += [{"id": f"CAM-PROBE-{i}", "type": "camera", "kind": "silent", "at": 8 + 2 * i} for i in range(3)]
    span = args.delay + args.triggers * args.gap + FOR_S
    seconds = max(span, 14 + SILENT_CAMERA_S) + 6  # until the last expected alert, and a little more
    with MosquittoProcess() as broker:
        config = {"hall": {"id": HALL}, "mqtt": {"url": broker.url}, "rules": {"file": str(rules)}}
        gw = start_gateway(config, broker.url, tmp, name)
        listener = ListenerProcess(broker.port, f"hallops/{HALL}/alerts", tmp / f"{name}-alerts.json", seconds + 60)
        c0, cpu0 = gw.counters(), gw.cpu_s()
        usage = Usage()
        t0 = time.time()
        bg = None
        if background:
            bg = spawn(
                "background",
                {"port": broker.port, "hall": HALL, "rate": background, "seconds": seconds},
                stdout=subprocess.PIPE,
            )
        probe = spawn(
            "probe",
            {
                "port": broker.port,
                "hall": HALL,
                "probes": probes,
                "seconds": seconds,
                "out": str(tmp / f"{name}-probes.json"),
            },
        )
        trigger = spawn(
            "trigger",
            {
                "port": broker.port,
                "hall": HALL,
                "n": args.triggers,
                "gap": args.gap,
                "delay": args.delay,
                "out": str(tmp / f"{name}-triggers.json"),
            },
        )
        trigger.wait(seconds + 60)
        probe.wait(seconds + 60)
        bg_out = json.loads(bg.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1]) if bg else None
        _sleep_until(t0 + seconds + 2)
        elapsed = time.time() - t0
        c1, cpu1 = gw.counters(), gw.cpu_s()
        heard = listener.stop()
        gw.stop(timeout=30)
        outbox = alert_outbox(gw.db)
    cpu = usage.done()
    triggers = json.loads((tmp / f"{name}-triggers.json").read_text())
    gone = json.loads((tmp / f"{name}-probes.json").read_text())
    accepted = c1["accepted"] - c0["accepted"]
    return {
        "background_msgs_per_s": background,
        "background_publisher": bg_out,
        "gateway_accepted": accepted,
        "gateway_rejected": c1.get("rejected_total", 0),
        "gateway_cpu_pct_of_core": 100 * (cpu1 - cpu0) / elapsed,
        "cpu": cpu,
        **analyse_latency(triggers, gone, heard["alerts"], outbox),
    }


def analyse_latency(triggers: list[Json], gone: list[Json], heard: list[list[Any]], outbox: list[Any]) -> Json:
    firing: dict[str, list[tuple[float, Json]]] = {}
    for arrived, raw in heard:
        body = json.loads(raw)
        if body.get("notification", {}).get("reason") == "firing":
            firing.setdefault(body["fingerprint"], []).append((arrived, body))
    decided = {b["fingerprint"]: (c, s) for c, s, b in outbox if b.get("notification", {}).get("reason") == "firing"}
    by_service: dict[str, list[tuple[float, Json]]] = {}
    by_device: dict[str, list[tuple[float, Json]]] = {}
    for hits in firing.values():
        labels = hits[0][1]["labels"]
        if hits[0][1]["rule"] == "queue-forming":
            by_service.setdefault(labels["service"], []).extend(hits)
        elif hits[0][1]["rule"] == "device-offline":
            by_device.setdefault(labels["device"], []).extend(hits)
    latency, noticed, deciding, delivering = [], [], [], []
    missing, doubled = [], []
    for t in triggers:
        hits = by_service.get(t["service"], [])
        if not hits:
            missing.append(t["service"])
            continue
        if len(hits) > 1:
            doubled.append(t["service"])
        arrived, body = hits[0]
        ts = _t(t["ts"])
        active, fired = _t(body["active_since"]), _t(body["fired_at"])
        assert ts is not None and active is not None and fired is not None
        latency.append(arrived - (ts + FOR_S))
        noticed.append(active - ts)
        created, _ = decided.get(body["fingerprint"], (math.nan, None))
        deciding.append(created - fired)
        delivering.append(arrived - created)
    probes = []
    for g in gone:
        hits = by_device.get(g["device"], [])
        row: Json = {"device": g["device"], "kind": g["kind"], "alerts": len(hits)}
        if hits:
            arrived, body = hits[0]
            fired = _t(body["fired_at"])
            assert fired is not None
            row |= {
                "fired_minus_expected_s": fired - g["expected"],
                "arrived_minus_expected_s": arrived - g["expected"],
            }
        probes.append(row)
    probe_ids = {g["device"] for g in gone}
    return {
        "triggers": len(triggers),
        "alerts": sum(len(h) for h in by_service.values()),
        "missing": missing,
        "more_than_one": doubled,
        "latency_s": summary(latency),
        "parts_s": {
            "ingest_to_first_evaluation (active_since - ts)": summary(noticed),
            "for_elapsed_to_decision (outbox created - fired_at)": summary(deciding),
            "decision_to_arrival (arrival - outbox created)": summary(delivering),
        },
        "device_offline_probes": probes,
        "other_device_offline_alerts": sorted(d for d in by_device if d not in probe_ids),
    }


# ---------------------------------------------------------------------------------------------- (b) incidents


def _day_at(hhmm: Any, tz: Any) -> datetime:
    return datetime.combine(DAY, hhmm, tzinfo=tz)


def incident_targets(scenario: Any) -> list[Json]:
    """One row per thing to detect: the incident, when it starts (hall time), the rules that detect it, the subject
    label, the rule's own threshold (seconds from the start; None where the data decide) and how long it lasts."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    tz = ZoneInfo(scenario.hall.timezone)
    rows: list[Json] = []
    for n, inc in enumerate(scenario.incidents):
        at = _day_at(inc.at, tz)
        base = {"incident": n, "kind": inc.kind}
        if inc.kind == "device_offline":
            threshold = WILL_S
            rows.append(
                {
                    **base,
                    "what": f"{inc.device} offline (last will)",
                    "start": at,
                    "end": at + inc.duration,
                    "rules": ["device-offline"],
                    "label": ("device", inc.device),
                    "threshold_s": threshold,
                    "threshold": "will, then offline ≥ 30 s",
                }
            )
        elif inc.kind == "printer_paper_out":
            end = at + inc.duration
            rows.append(
                {
                    **base,
                    "what": f"{inc.device} paper low",
                    "start": at - inc.low_before,
                    "end": end,
                    "rules": ["printer-paper-low", "printer-paper-out"],
                    "label": ("device", inc.device),
                    "threshold_s": 0.0,
                    "threshold": "state message: at once",
                }
            )
            rows.append(
                {
                    **base,
                    "what": f"{inc.device} paper out",
                    "start": at,
                    "end": end,
                    "rules": ["printer-paper-out"],
                    "label": ("device", inc.device),
                    "threshold_s": 0.0,
                    "threshold": "state message: at once",
                }
            )
        elif inc.kind == "screen_blank":
            rows.append(
                {
                    **base,
                    "what": f"{inc.device} blank",
                    "start": at,
                    "end": at + inc.duration,
                    "rules": ["call-screen-blank"],
                    "label": ("device", inc.device),
                    "threshold_s": 30.0,
                    "threshold": "for 30 s",
                }
            )
        elif inc.kind == "kiosk_error_burst":
            fifth = (inc.over * 4 / inc.count).total_seconds()  # errors at begin + over·i/count: the 5th is i = 4
            rows.append(
                {
                    **base,
                    "what": f"{inc.device} {inc.count} errors in {inc.over}",
                    "start": at,
                    "end": at + inc.over,
                    "rules": ["kiosk-error-burst"],
                    "label": ("device", inc.device),
                    "threshold_s": fifth,
                    "threshold": f"5th error at +{fifth:.0f} s",
                }
            )
        elif inc.kind == "staff_leaves":
            rows.append(
                {
                    **base,
                    "what": f"{inc.window} staff away",
                    "start": at,
                    "end": at + inc.duration,
                    "rules": ["empty-post", "idle-window-nudge", "idle-window-manager"],
                    "label": ("window", inc.window),
                    "threshold_s": {"empty-post": 300.0},
                    "threshold": "empty-post: for 5 min (+ camera period ≤ 5 s); idle-window-*: 3/10 min "
                    "after the window falls idle with people waiting",
                }
            )
        elif inc.kind == "arrival_surge":
            rows.append(
                {
                    **base,
                    "what": f"{inc.service} arrivals ×{inc.factor:g}",
                    "start": at,
                    "end": at + inc.duration,
                    "rules": ["arrival-surge", "tidal-open"],
                    "label": ("service", inc.service),
                    "threshold_s": None,
                    "threshold": "trend ≥ 2 for 2 min / projected wait ≥ 15 for 2 min",
                }
            )
    return rows


GRACE = timedelta(minutes=15)  # an alert this long after an incident ended still belongs to it


def incident_run(args: argparse.Namespace, tmp: Path) -> Json:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from devices.simulator import load_scenario  # noqa: PLC0415
    from edge.demo import scenario_config  # noqa: PLC0415

    scenario = load_scenario("city")
    tz = ZoneInfo(scenario.hall.timezone)
    start = datetime.combine(DAY, datetime.strptime(args.sim_from, "%H:%M").time(), tzinfo=tz)
    end = datetime.combine(DAY, datetime.strptime(args.sim_to, "%H:%M").time(), tzinfo=tz)
    wall = (end - start).total_seconds() / args.speed
    with MosquittoProcess() as broker:
        cfg = scenario_config(scenario, broker.url, tmp / "unused.db", ("127.0.0.1", 0), args.speed)
        config = cfg.model_dump(mode="json", exclude_none=True)
        gw = start_gateway(config, broker.url, tmp, "incidents")
        listener = ListenerProcess(
            broker.port,
            f"hallops/{HALL}/alerts",
            tmp / "incidents-alerts.json",
            wall + 300,
            clock_topic=f"hall/{HALL}/camera/+/evt",
        )
        cpu0 = gw.cpu_s()
        usage = Usage()
        sim = spawn(
            "sim",
            {"port": broker.port, "speed": args.speed, "seed": 1, "start": start.isoformat(), "end": end.isoformat()},
            stdout=subprocess.PIPE,
        )
        sim_out = json.loads(sim.communicate(timeout=wall + 300)[0].strip().splitlines()[-1])
        cpu1 = gw.cpu_s()
        time.sleep(1.0)  # the last notifications are on their way
        counters = gw.counters()
        api = gw.http.get("/api/alerts", params={"state": "all", "limit": 1000}).json()
        heard = listener.stop()
        gw.stop(timeout=30)
    cpu = usage.done()
    notes = [(a, json.loads(b)) for a, b in heard["alerts"]]
    clock = sorted((a, _t(ts) or 0.0) for a, ts in heard["clock"])
    result = analyse_incidents(scenario, notes, clock, start, end, args.speed)
    result["run"] = {
        "hall_time": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} ({scenario.hall.timezone})",
        "speed": args.speed,
        "simulator": sim_out,
        "gateway_accepted": counters["accepted"],
        "gateway_rejected": counters.get("rejected_total", 0),
        "gateway_cpu_pct_of_core": 100 * (cpu1 - cpu0) / (sim_out["wall_end"] - sim_out["wall_start"]),
        "cpu": cpu,
        "api_alerts_state_all": len(api),
    }
    return result


def metric_peaks(scenario: Any, target: Json, sim_start: datetime) -> Json:
    """Why a rule did not fire: the hall replayed in-process (same seed), and every metric the target's rules
    compare, read for its subject every 30 s (hall) while the incident lasts — the largest value, or the values
    seen."""
    from devices.codec import decode  # noqa: PLC0415
    from devices.simulator import HallSimulation  # noqa: PLC0415
    from edge.demo import scenario_config  # noqa: PLC0415
    from rules.hall import HallState  # noqa: PLC0415
    from rules.language import Condition, builtin_rules  # noqa: PLC0415
    from rules.metrics import METRICS, Subject, subjects  # noqa: PLC0415

    def names(c: Condition | None) -> set[str]:
        if c is None:
            return set()
        return ({c.metric} if c.metric else set()) | {
            n for p in [*(c.all or []), *(c.any or []), c.not_] for n in names(p)
        }

    metrics = sorted({n for r in builtin_rules().rules if r.id in target["rules"] for n in names(r.when)})
    profile = scenario_config(scenario, "mqtt://127.0.0.1:1", Path("unused.db"), ("127.0.0.1", 0), 1).profile()
    hall = HallState(profile)
    key, value = target["label"]
    peaks: dict[str, Any] = {}
    due = target["start"]

    def read(now: datetime) -> None:
        snap = hall.snapshot(now)
        for name in metrics:
            metric = METRICS[name]
            for labels, view in subjects(metric.subject, snap):
                if dict(labels).get(key) != value:
                    continue
                v = metric.read(snap if metric.subject is Subject.HALL else view, snap, now)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    peaks[name] = max(peaks.get(name, v), v)
                else:
                    peaks.setdefault(name, set()).add(str(v))

    for m in HallSimulation(scenario, 1, sim_start, target["end"]).messages():
        while m.at >= due:
            read(due)
            due += timedelta(seconds=30)
        if m.kind == "publish":
            msg = decode(m.topic, m.payload, m.at, hall=HALL)
            if msg is not None:
                hall.apply(msg)
    return {k: sorted(v) if isinstance(v, set) else v for k, v in peaks.items()}


def _hall_when(arrived: float, clock: list[tuple[float, float]], speed: float) -> float | None:
    """Hall time at a wall moment, as a device clock reads it: the newest device ts heard before, run on at speed."""
    lo, hi = 0, len(clock)
    while lo < hi:
        mid = (lo + hi) // 2
        if clock[mid][0] <= arrived:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return None
    newest = max(ts for _, ts in clock[max(0, lo - 50) : lo])
    return newest + (arrived - clock[lo - 1][0]) * speed


def analyse_incidents(
    scenario: Any,
    notes: list[tuple[float, Json]],
    clock: list[tuple[float, float]],
    start: datetime,
    end: datetime,
    speed: float,
) -> Json:
    in_day = [(a, b) for a, b in notes if (_t(b["fired_at"]) or 0) < end.timestamp()]  # the day, not the shutdown
    firing = [(a, b) for a, b in in_day if b["notification"]["reason"] == "firing"]
    rows = []
    for target in incident_targets(scenario):
        key, value = target["label"]
        lo, hi = target["start"].timestamp() - 1, (target["end"] + GRACE).timestamp()
        hits = sorted(
            (
                (a, b)
                for a, b in firing
                if b["rule"] in target["rules"]
                and b["labels"].get(key) == value
                and lo <= (_t(b["fired_at"]) or 0) <= hi
            ),
            key=lambda h: _t(h[1]["fired_at"]) or 0,
        )
        row: Json = {k: target[k] for k in ("incident", "kind", "what", "threshold_s", "threshold")}
        row["start"] = target["start"].isoformat()
        if not hits:
            row["detected"] = None
            row["max_during_incident"] = metric_peaks(scenario, target, start)
        else:
            arrived, body = hits[0]
            fired = _t(body["fired_at"])
            assert fired is not None
            detect = fired - target["start"].timestamp()
            notified = _hall_when(arrived, clock, speed)
            threshold = target["threshold_s"]
            if isinstance(threshold, dict):
                threshold = threshold.get(body["rule"])
            excess = detect - threshold if threshold is not None else None
            row |= {
                "rule": body["rule"],
                "fired_at": body["fired_at"],
                "detected_s": detect,
                "threshold_s": threshold,
                "excess_s": excess,
                # a lag of the gateway in wall seconds shows up `speed` times larger in hall time
                "excess_wall_s": excess / speed if excess is not None else None,
                "notified_after_fired_hall_s": notified - fired if notified is not None else None,
            }
        rows.append(row)
    per_incident = []
    for n, inc in enumerate(scenario.incidents):
        targets = [t for t in incident_targets(scenario) if t["incident"] == n]
        rules = {r for t in targets for r in t["rules"]}
        key, value = targets[0]["label"]
        lo = min(t["start"] for t in targets).timestamp() - 1
        hi = (max(t["end"] for t in targets) + GRACE).timestamp()

        def mine(
            b: Json, rules: set[str] = rules, key: str = key, value: str = value, lo: float = lo, hi: float = hi
        ) -> bool:
            return b["labels"].get(key) == value and lo <= (_t(b["fired_at"]) or 0) <= hi and b["rule"] in rules

        reasons = Counter(b["notification"]["reason"] for _, b in in_day if mine(b))
        per_incident.append(
            {
                "incident": n,
                "kind": inc.kind,
                "subject": f"{key}={value}",
                "firing": reasons.get("firing", 0),
                "firing_by_rule": dict(Counter(b["rule"] for _, b in firing if mine(b))),
                "other_notifications": {k: v for k, v in reasons.items() if k != "firing"},
            }
        )
    total = sum(p["firing"] for p in per_incident)
    detected = [p for p in per_incident if p["firing"]]
    by_rule = Counter(b["rule"] for _, b in firing)
    reasons_all = Counter(b["notification"]["reason"] for _, b in in_day)
    return {
        "detection": rows,
        "notifications": {
            "incidents": len(per_incident),
            "firing_attributable": total,
            "per_incident": total / len(per_incident) if per_incident else None,
            "per_detected_incident": total / len(detected) if detected else None,
            "by_incident": per_incident,
            "all_firing_by_rule": dict(by_rule.most_common()),
            "all_notifications_by_reason": dict(reasons_all),
        },
    }


# ---------------------------------------------------------------------------------------------- (c) engine cost


def rule_variants(n: int) -> Any:
    """`n` rules: copies of the built-in pack with new ids and thresholds scaled by 0.8…1.2 (ordering comparisons
    only), each copy with its own inhibitions. Copy 0 is the pack itself. Validated like any rule file."""
    from devices.validation import read_yaml  # noqa: PLC0415
    from rules.language import BUILTIN, parse_rules  # noqa: PLC0415

    pack = read_yaml(BUILTIN)
    assert isinstance(pack, dict)
    base = pack["rules"]

    def scale(cond: Json, f: float) -> Json:
        cond = copy.deepcopy(cond)
        for key in ("all", "any"):
            if key in cond:
                cond[key] = [scale(c, f) for c in cond[key]]
        if "not" in cond:
            cond["not"] = scale(cond["not"], f)
        if cond.get("op") in (">", ">=", "<", "<="):
            v = cond["value"]
            if isinstance(v, dict):
                v["values"] = {k: x * f for k, x in v["values"].items()}
                if v.get("default") is not None:
                    v["default"] *= f
            elif isinstance(v, int | float) and not isinstance(v, bool):
                cond["value"] = v * f
        return cond

    rules, inhibit = [], []
    copies = math.ceil(n / len(base))
    for c in range(copies):
        f = 1.0 + ((c % 11) - 5) * 0.04 if c else 1.0
        suffix = f"-v{c}" if c else ""
        take = base[: min(len(base), n - c * len(base))]
        ids = {r["id"] for r in take}
        for r in take:
            r2 = copy.deepcopy(r)
            r2["id"] = r["id"] + suffix
            if "when" in r2:
                r2["when"] = scale(r2["when"], f)
            rules.append(r2)
        inhibit += [
            {**i, "source": i["source"] + suffix, "target": i["target"] + suffix}
            for i in pack.get("inhibit", [])
            if i["source"] in ids and i["target"] in ids
        ]
    return parse_rules({**pack, "rules": rules, "inhibit": inhibit}, f"{n} rule variants")


def gateway_cadence(times: list[float], t0: float, t1: float) -> float:
    """Evaluations per second the gateway's decision loop would run for messages at `times` (if evaluating took no
    time): one after new data but at most every 0.2 s, and at least once a second."""
    evals, last, i = 0, t0, 0
    while True:
        while i < len(times) and times[i] <= last:
            i += 1
        nxt = min(last + 1.0, max(times[i], last + 0.2)) if i < len(times) else last + 1.0
        if nxt > t1:
            return evals / (t1 - t0)
        evals, last = evals + 1, nxt


def _evaluate(hall: Any, engine: Any, now: datetime, costs: list[float] | None = None) -> float:
    """One evaluation as the gateway runs it: snapshot, then the engine. Notes the engine's CPU; returns the
    snapshot's."""
    a = time.process_time()
    snap = hall.snapshot(now)
    b = time.process_time()
    engine.evaluate(snap, now)
    if costs is not None:
        costs.append(time.process_time() - b)
    return b - a


def engine_cost(args: argparse.Namespace) -> Json:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    from devices.codec import decode  # noqa: PLC0415
    from devices.simulator import HallSimulation, load_scenario  # noqa: PLC0415
    from devices.topics import Channel  # noqa: PLC0415
    from edge.demo import scenario_config  # noqa: PLC0415
    from rules.engine import RuleEngine  # noqa: PLC0415
    from rules.hall import HallState  # noqa: PLC0415

    scenario = load_scenario("city")
    tz = ZoneInfo(scenario.hall.timezone)
    profile = scenario_config(scenario, "mqtt://127.0.0.1:1", Path("unused.db"), ("127.0.0.1", 0), 1).profile()
    day0 = datetime.combine(DAY, scenario.hall.opens, tzinfo=tz)
    t0 = datetime.combine(DAY, datetime.strptime(args.engine_at, "%H:%M").time(), tzinfo=tz)
    t1 = t0 + timedelta(seconds=args.engine_window)
    msgs = []
    for m in HallSimulation(scenario, 1, day0, t1).messages():
        if m.kind == "publish":
            msg = decode(m.topic, m.payload, m.at, hall=HALL)
            assert msg is not None
            msgs.append(msg)
    window_times = [m.at.timestamp() for m in msgs if m.at >= t0]
    out: Json = {
        "hall_time": f"{t0:%H:%M:%S}–{t1:%H:%M:%S} after {day0:%H:%M}–{t0:%H:%M} of warm-up",
        "messages_in_window": len(window_times),
        "gateway_cadence_evals_per_s": gateway_cadence(window_times, t0.timestamp(), t1.timestamp()),
    }
    for n in (30, 200, 2000):  # 30: the built-in pack itself, for reference
        rules = rule_variants(n)
        engine = RuleEngine(rules, scenario.hall.timezone)
        events = {r.on.event for r in rules.rules if r.on is not None and r.enabled}
        hall = HallState(profile)
        next_warm = day0
        eval_cpu: list[float] = []
        snap_cpu: list[float] = []
        msg_cpu = 0.0
        since_eval, last_eval, window_msgs = 0, t0, 0

        for msg in msgs:
            timed = msg.at >= t0
            if not timed and msg.at >= next_warm:  # warm-up: build the alerts' state, every 5 min
                _evaluate(hall, engine, msg.at)
                next_warm += timedelta(minutes=5)
            while timed and msg.at >= last_eval + timedelta(seconds=1):  # at least every second
                last_eval += timedelta(seconds=1)
                snap_cpu.append(_evaluate(hall, engine, last_eval, eval_cpu))
                since_eval = 0
            hall.apply(msg)
            if timed:
                a = time.process_time()
                if msg.channel is Channel.EVT and msg.type in events:
                    engine.on_message(msg, msg.at)
                msg_cpu += time.process_time() - a
                window_msgs += 1
                since_eval += 1
                if since_eval >= 100:  # and after every batch of 100 messages
                    snap_cpu.append(_evaluate(hall, engine, msg.at, eval_cpu))
                    last_eval, since_eval = msg.at, 0
        total = sum(eval_cpu) + msg_cpu
        per_eval = summary([1e3 * x for x in eval_cpu])
        out[str(n)] = {
            "rules": len(rules.rules),
            "enabled": sum(r.enabled for r in rules.rules),
            "inhibitions": len(rules.inhibit),
            "alerts_at_end": len(engine.alerts),
            "evaluations": len(eval_cpu),
            "eval_ms": per_eval,
            "snapshot_ms_mean": 1e3 * sum(snap_cpu) / len(snap_cpu),
            "event_rules_us_per_msg": 1e6 * msg_cpu / window_msgs,
            "engine_us_per_msg": 1e6 * total / window_msgs,
            "engine_core_share_at_gateway_cadence": out["gateway_cadence_evals_per_s"] * per_eval["mean"] / 1e3,
        }
    out["ratio_2000_to_200_per_eval"] = out["2000"]["eval_ms"]["mean"] / out["200"]["eval_ms"]["mean"]
    out["ratio_2000_to_200_per_msg"] = out["2000"]["engine_us_per_msg"] / out["200"]["engine_us_per_msg"]
    return out


# ---------------------------------------------------------------------------------------------- report


def _f(v: float | None, fmt: str = ".2f") -> str:
    return "—" if v is None else format(v, fmt)


def verdicts(report: Json) -> Json:
    """The issue's targets, PASS or FAIL, from the figures of this run."""
    out: Json = {}
    if "latency_loaded" in report:
        p99 = report["latency_loaded"]["latency_s"].get("p99")
        complete = all(
            not report[k]["missing"] and not report[k]["more_than_one"] for k in ("latency_loaded", "latency_idle")
        )
        out["(a) p99 <= 1 s with background, one alert per trigger"] = p99 is not None and p99 <= 1.0 and complete
        probes = [p for k in ("latency_loaded", "latency_idle") for p in report[k]["device_offline_probes"]]
        out["(a) device offline in real time (probes): alert within heartbeat timeout + 2 s"] = all(
            p.get("arrived_minus_expected_s") is not None and p["arrived_minus_expected_s"] <= 2.0 for p in probes
        )
    if "incidents" in report:
        offline = [r for r in report["incidents"]["detection"] if r["kind"] == "device_offline"]
        out["(b) device offline within heartbeat timeout + 2 s (hall time, sped up)"] = all(
            r.get("excess_s") is not None and r["excess_s"] <= 2.0 for r in offline
        )
        per = report["incidents"]["notifications"]["per_incident"]
        out["(d) notifications per incident <= 1.1"] = per is not None and per <= 1.1
    return {k: "PASS" if v else "FAIL" for k, v in out.items()}


def say(line: str) -> None:
    print(line, file=sys.stderr)


def print_summary(report: Json) -> None:
    say("\nSUMMARY")
    for key in ("latency_loaded", "latency_idle"):
        if key not in report:
            continue
        p = report[key]
        lat = p["latency_s"]
        say(
            f"(a) {p['background_msgs_per_s']:,.0f} msg/s background: {p['alerts']}/{p['triggers']} alerts "
            f"(missing {len(p['missing'])}, >1: {len(p['more_than_one'])}); latency p50 {_f(lat.get('p50'), '.3f')} "
            f"p95 {_f(lat.get('p95'), '.3f')} p99 {_f(lat.get('p99'), '.3f')} max {_f(lat.get('max'), '.3f')} s; "
            f"gateway {p['gateway_cpu_pct_of_core']:.0f} % of a core; other work on the box "
            f"{p['cpu']['other_cores']:.2f} cores"
        )
        for name, part in p["parts_s"].items():
            say(f"      {name}: p50 {_f(part.get('p50'), '.3f')} p99 {_f(part.get('p99'), '.3f')} s")
        for row in p["device_offline_probes"]:
            say(
                f"      probe {row['device']} ({row['kind']}): fired−expected "
                f"{_f(row.get('fired_minus_expected_s'), '.3f')} s, arrived−expected "
                f"{_f(row.get('arrived_minus_expected_s'), '.3f')} s, alerts {row['alerts']}"
            )
    if "incidents" in report:
        inc = report["incidents"]
        say(
            f"(b) {inc['run']['hall_time']} at {inc['run']['speed']:g}× (other work on the box "
            f"{inc['run']['cpu']['other_cores']:.2f} cores):"
        )
        for r in inc["detection"]:
            if r.get("fired_at"):
                say(
                    f"      {r['what']:<26} {r['rule']:<18} detected {r['detected_s']:7.1f} s  threshold "
                    f"{_f(r['threshold_s'], '.0f'):>4} s  excess {_f(r['excess_s'], '.1f'):>5} s "
                    f"(÷speed {_f(r['excess_wall_s'], '.3f')} s)  notified "
                    f"+{_f(r['notified_after_fired_hall_s'], '.1f')} hall s after fired_at"
                )
            else:
                say(f"      {r['what']:<26} MISSED — during the incident: {r['max_during_incident']}")
        n = inc["notifications"]
        say(
            f"(d) firing notifications per incident: {n['firing_attributable']}/{n['incidents']} = "
            f"{_f(n['per_incident'])} ({_f(n['per_detected_incident'])} per detected incident); all firing by rule: "
            f"{n['all_firing_by_rule']}"
        )
    if "engine" in report:
        e = report["engine"]
        for size in ("30", "200", "2000"):
            c = e[size]
            say(
                f"(c) {size} rules: {c['eval_ms']['mean']:.1f} ms/evaluation (p95 {c['eval_ms']['p95']:.1f}), "
                f"{c['engine_us_per_msg']:.0f} µs/message, {c['alerts_at_end']} alerts; at the gateway's cadence "
                f"({e['gateway_cadence_evals_per_s']:.1f}/s) {100 * c['engine_core_share_at_gateway_cadence']:.0f} % "
                f"of a core"
            )
        say(f"    ratio 2000/200: {e['ratio_2000_to_200_per_eval']:.1f}× per evaluation")
    for target, verdict in report["verdicts"].items():
        say(f"{verdict}  {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["main", *ROLES], default="main")
    ap.add_argument("--spec", help="(internal) the role's parameters as JSON")
    ap.add_argument("--triggers", type=int, default=200, help="(a) services that each start a queue")
    ap.add_argument("--gap", type=float, default=0.3, help="(a) seconds between triggers")
    ap.add_argument("--delay", type=float, default=5.0, help="(a) seconds of background before the first trigger")
    ap.add_argument("--background", type=float, default=2000, help="(a) background telemetry, msg/s")
    ap.add_argument("--speed", type=float, default=120, help="(b) hall seconds per wall second")
    ap.add_argument("--sim-from", default="08:30", help="(b) hall time to start the city day")
    ap.add_argument("--sim-to", default="15:58", help="(b) hall time to end it (after the last incident)")
    ap.add_argument("--engine-at", default="09:58", help="(c) hall time the measured window starts")
    ap.add_argument("--engine-window", type=float, default=120, help="(c) measured window, hall seconds")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c (for development)")
    args = ap.parse_args()
    if args.role != "main":
        ROLES[args.role](json.loads(args.spec))
        return

    tmp = Path(tempfile.mkdtemp(prefix="hallops-bench-decisions-"))
    skip = set(args.skip.split(",")) if args.skip else set()
    report: Json = {"machine": {"cpus": os.cpu_count()}, "workdir": str(tmp)}
    if "a" not in skip:
        print(f"(a) latency with {args.background:,.0f} msg/s background…", file=sys.stderr)
        report["latency_loaded"] = latency_phase(args, tmp, args.background)
        print("(a) latency without background…", file=sys.stderr)
        report["latency_idle"] = latency_phase(args, tmp, 0)
    if "b" not in skip:
        print(f"(b) city day {args.sim_from}–{args.sim_to} at {args.speed:g}×…", file=sys.stderr)
        report["incidents"] = incident_run(args, tmp)
    if "c" not in skip:
        print("(c) rule engine with 200 and 2,000 rules…", file=sys.stderr)
        usage = Usage()
        report["engine"] = engine_cost(args)
        report["engine"]["cpu"] = usage.done()
    report["verdicts"] = verdicts(report)
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print_summary(report)


if __name__ == "__main__":
    main()
