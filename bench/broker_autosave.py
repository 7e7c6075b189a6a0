"""Broker persistence benchmark: what a SIGKILL of mosquitto loses of the QoS 1 messages it had acknowledged, and what
saving its in-memory database more often costs (issue 16).

mosquitto 2.0 keeps sessions and queued messages in memory and writes the whole database to its file (a new file,
fsync, rename) every `autosave_interval` seconds, or with `autosave_on_changes true` once that many changes (queued
messages, retained messages, subscriptions) have piled up. Whatever it acknowledged since the last save is gone when it
is killed, unless the subscriber already has it.

For each setting, on a real mosquitto with persistence in a temporary directory (127.0.0.1 only):
  loss — a device-like publisher (persistent session, QoS 1, paced at --rate msg/s) sends numbered messages for a
    subscriber with a persistent session; the broker is SIGKILLed at a random moment --kill-after A B seconds into the
    stream, restarted on its data, and the subscriber (re)connects and collects until it is quiet. Lost = acknowledged
    to the publisher (PUBACK) and never received. Two cases: the subscriber `away` the whole time (everything queues
    at the broker: the gateway is stopped for an upgrade when the broker crashes) and `online` (the normal case).
  cost — the same stream for --seconds, the subscriber online, away, and away with --backlog messages already queued
    for it (a gateway stopped for a while): the broker's disk writes (/proc/<pid>/io write_bytes), its database saves
    (counted from its log; each one rewrites the whole file and fsyncs it), its CPU, the rate the publisher got and
    how late its PUBACKs came (a broker busy saving acknowledges late).
The hall has --devices devices, each with a retained state message; one message in 30 of the stream is a retained
state update, the rest are events.

Run:  .venv/bin/python bench/broker_autosave.py [--trials 3] [--rate 150] [--seconds 20] [--kill-after 5 35]
      [--backlog 100000] [--only SETTING]
Every wait is bounded; the whole run takes about 20 minutes with the defaults (`--trials 0`: the cost only).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.broker import MosquittoProcess, mosquitto_path  # noqa: E402

SETTINGS: dict[str, str] = {
    "autosave_interval 60": "autosave_interval 60\n",
    "autosave_interval 5": "autosave_interval 5\n",
    "autosave_interval 1": "autosave_interval 1\n",
    "autosave_on_changes true, autosave_interval 1": "autosave_on_changes true\nautosave_interval 1\n",
}
SAVE_LINE = "Saving in-memory database"
EVENT_TOPIC = "hall/h1/ticket_machine/tm{}/evt"
STATE_TOPIC = "hall/h1/ticket_machine/tm{}/state"


def payload(seq: int) -> bytes:
    """A contract-sized message (about 250 bytes) carrying its sequence number."""
    body = {
        "v": 1,
        "ts": "2026-11-23T10:00:00+08:00",
        "seq": seq,
        "type": "ticket.issued",
        "ticket_id": f"tm-{seq}",
        "number": f"A{seq % 10000:04d}",
        "service": "tax",
        "pad": "x" * 120,
    }
    return json.dumps(body).encode()


# ---------------------------------------------------------------------------------------------- clients


class Publisher:
    """A device: persistent session, QoS 1; `acked` holds the sequence numbers the broker acknowledged."""

    def __init__(self, port: int, client_id: str = "bench-device") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.acked: set[int] = set()
        self.latencies: list[float] = []  # s from publish to PUBACK
        self._pending: dict[int, tuple[int, float]] = {}  # mid -> seq, sent at
        self._early: dict[int, float] = {}  # mid -> acked at, for PUBACKs that beat `send` noting the mid
        self._lock = threading.Lock()  # never held while calling paho: it calls on_publish under its own lock
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, client: object, userdata: object, mid: int, reason: object, properties: object) -> None:
        with self._lock:
            sent = self._pending.pop(mid, None)
            if sent is None:
                self._early[mid] = time.monotonic()
            else:
                self.acked.add(sent[0])
                self.latencies.append(time.monotonic() - sent[1])

    def send(self, seq: int, devices: int) -> None:
        retained = seq % 30 == 0
        topic = (STATE_TOPIC if retained else EVENT_TOPIC).format(seq % devices)
        at = time.monotonic()
        info = self.client.publish(topic, payload(seq), qos=1, retain=retained)
        with self._lock:
            acked_at = self._early.pop(info.mid, None)
            if acked_at is None:
                self._pending[info.mid] = (seq, at)
            else:
                self.acked.add(seq)
                self.latencies.append(acked_at - at)

    def stream(self, rate: float, seconds: float, devices: int, stop: threading.Event | None = None) -> int:
        """Publish at `rate` msg/s for `seconds` (or until `stop`); returns how many were sent."""
        start = time.monotonic()
        seq = 0
        while seq < rate * seconds and not (stop is not None and stop.is_set()):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.send(seq, devices)
            seq += 1
        return seq

    def close(self) -> None:
        self.client.disconnect()  # first: loop_stop alone waits for every PUBACK
        self.client.loop_stop()


class Subscriber:
    """The gateway's stand-in: a persistent session subscribed at QoS 1 to the hall's events; `received` counts each
    sequence number (a count above 1 is a duplicate, which the gateway would recognise)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-gateway", clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.received: dict[int, int] = {}
        self.last_at = time.monotonic()
        self.session_present: list[bool] = []
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.port = port

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, *rest: object) -> None:
        self.session_present.append(flags.session_present)
        client.subscribe("hall/h1/+/+/evt", qos=1)
        self._connected.set()

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        seq = int(json.loads(message.payload)["seq"])
        self.received[seq] = self.received.get(seq, 0) + 1
        self.last_at = time.monotonic()

    def connect(self) -> None:
        self._connected.clear()
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("the subscriber could not connect")

    def wait_quiet(self, quiet: float = 1.5, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        self.last_at = time.monotonic()
        while time.monotonic() - self.last_at < quiet and time.monotonic() < deadline:
            time.sleep(0.1)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------------------------------------- runs


@contextmanager
def broker(setting: str, devices: int) -> Iterator[MosquittoProcess]:
    """A persistent mosquitto with `setting`, the subscriber's session and the devices' retained states already saved
    (a graceful restart writes them), as on a broker that has been running for a while."""
    with MosquittoProcess(persistent=True, extra_config=SETTINGS[setting] + "log_type information\n") as b:
        sub = Subscriber(b.port)
        sub.connect()
        pub = Publisher(b.port)
        for d in range(devices):
            pub.client.publish(STATE_TOPIC.format(d), payload(-1 - d), qos=1, retain=True).wait_for_publish(10)
        pub.close()
        sub.disconnect()
        b.stop()
        b.start()
        yield b


def saves(b: MosquittoProcess) -> int:
    return b.log.read_text(errors="replace").count(SAVE_LINE)


@dataclass(frozen=True, slots=True)
class Loss:
    acked: int
    lost: int
    duplicates: int
    session_present: bool
    killed_at: float


def loss_trial(setting: str, online: bool, rate: float, kill_at: float, devices: int) -> Loss:
    with broker(setting, devices) as b:
        sub = Subscriber(b.port)
        if online:
            sub.connect()
        pub = Publisher(b.port)
        stop = threading.Event()
        sender = threading.Thread(target=pub.stream, args=(rate, kill_at + 60, devices, stop))
        sender.start()
        time.sleep(kill_at)
        b.kill()
        stop.set()
        sender.join(10)
        pub.client.loop_stop()  # what it had not had acknowledged is not counted, so it need not resend it
        acked = set(pub.acked)
        b.start()
        if online:  # paho reconnects by itself
            deadline = time.monotonic() + 10
            while len(sub.session_present) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            sub.wait_quiet(timeout=60)
        else:
            sub.connect()
            sub.wait_quiet(timeout=60)
        sub.disconnect()
        events = {s for s in acked if s % 30 != 0}  # retained state updates are not queued for the subscriber
        return Loss(
            acked=len(events),
            lost=len(events - sub.received.keys()),
            duplicates=sum(n - 1 for n in sub.received.values()),
            session_present=sub.session_present[-1],
            killed_at=kill_at,
        )


@dataclass(frozen=True, slots=True)
class Cost:
    write_bytes_per_s: float
    saves_per_s: float
    cpu_pct: float
    rate: float
    ack_p50_ms: float
    ack_p99_ms: float
    db_bytes: int


def fill(port: int, n: int, devices: int) -> None:
    """Queue `n` messages for the absent subscriber, as fast as one device can have them acknowledged."""
    pub = Publisher(port, "bench-backlog")
    deadline = time.monotonic() + 600
    for seq in range(n):
        while seq - len(pub.acked) > 20_000 and time.monotonic() < deadline:  # message ids are 16 bits
            time.sleep(0.01)
        pub.send(seq, devices)
    while len(pub.acked) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    pub.close()
    if len(pub.acked) < n:
        raise RuntimeError(f"the broker acknowledged {len(pub.acked)} of {n} backlog messages in 600 s")


def cost_run(setting: str, online: bool, rate: float, seconds: float, devices: int, backlog: int = 0) -> Cost:
    with broker(setting, devices) as b:
        sub = Subscriber(b.port)
        if online:
            sub.connect()
        if backlog:
            fill(b.port, backlog, devices)
        pub = Publisher(b.port)
        assert b.pid is not None
        proc = psutil.Process(b.pid)
        io0, cpu0, saves0, t0 = proc.io_counters().write_bytes, proc.cpu_times(), saves(b), time.monotonic()
        pub.stream(rate, seconds, devices)
        elapsed = time.monotonic() - t0
        io1, cpu1, saves1 = proc.io_counters().write_bytes, proc.cpu_times(), saves(b)
        got = len(pub.acked) / elapsed
        lat = sorted(pub.latencies)
        pub.close()
        if online:
            sub.disconnect()
        db = b.dir / "data" / "mosquitto.db"
        return Cost(
            write_bytes_per_s=(io1 - io0) / elapsed,
            saves_per_s=(saves1 - saves0) / elapsed,
            cpu_pct=100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed,
            rate=got,
            ack_p50_ms=1000 * lat[len(lat) // 2],
            ack_p99_ms=1000 * lat[len(lat) * 99 // 100],
            db_bytes=db.stat().st_size if db.exists() else 0,
        )


# ---------------------------------------------------------------------------------------------- report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--trials", type=int, default=3, help="broker kills per setting and case (0: measure the cost only)"
    )
    ap.add_argument("--rate", type=float, default=150.0, help="messages per second (the issue's real hall: 150)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each cost run")
    ap.add_argument("--kill-after", type=float, nargs=2, default=(5.0, 35.0), metavar=("A", "B"))
    ap.add_argument("--devices", type=int, default=150, help="devices, each with a retained state")
    ap.add_argument(
        "--backlog", type=int, default=100_000, help="messages already queued for the absent subscriber (0: skip)"
    )
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--only", choices=list(SETTINGS), action="append", help="run only these settings")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # `timeout` or kill: stop the brokers on the way out
    rnd = random.Random(args.seed)
    settings = args.only or list(SETTINGS)

    print(f"mosquitto: {mosquitto_path()}; {args.rate:g} msg/s, {args.devices} devices with retained state")
    print("\nLoss on SIGKILL (acknowledged to the publisher, never received by the subscriber):")
    print(f"{'setting':<46} {'case':<7} {'killed at s':>12} {'acked':>7} {'lost':>6} {'lost s':>7} {'dup':>6} session")
    for setting in settings:
        for online in (False, True):
            for _ in range(args.trials):
                kill_at = rnd.uniform(*args.kill_after)
                r = loss_trial(setting, online, args.rate, kill_at, args.devices)
                session = "kept" if r.session_present else "LOST"
                print(
                    f"{setting:<46} {'online' if online else 'away':<7} {r.killed_at:>12.1f} {r.acked:>7} "
                    f"{r.lost:>6} {r.lost / args.rate:>7.1f} {r.duplicates:>6} {session}",
                    flush=True,
                )

    print(f"\nCost at {args.rate:g} msg/s for {args.seconds:g} s:")
    print(
        f"{'setting':<46} {'case':<18} {'disk kB/s':>10} {'saves/s':>8} {'CPU %':>6} {'got msg/s':>10} "
        f"{'PUBACK p50/p99 ms':>18} {'db kB':>7}"
    )
    cases = [("online", True, 0), ("away", False, 0)]
    if args.backlog:
        cases.append((f"away, {args.backlog // 1000}k queued", False, args.backlog))
    for setting in settings:
        for case, online, backlog in cases:
            if backlog and "on_changes" in setting:
                print(f"{setting:<46} {case:<18} not run: each queued message rewrites the whole file", flush=True)
                continue
            c = cost_run(setting, online, args.rate, args.seconds, args.devices, backlog)
            print(
                f"{setting:<46} {case:<18} {c.write_bytes_per_s / 1000:>10.1f} "
                f"{c.saves_per_s:>8.2f} {c.cpu_pct:>6.1f} {c.rate:>10.1f} "
                f"{f'{c.ack_p50_ms:.1f} / {c.ack_p99_ms:.1f}':>18} {c.db_bytes / 1000:>7.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
