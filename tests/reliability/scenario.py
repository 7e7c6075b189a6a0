"""What a reliability scenario measures, kept in one record per scenario and printed as one table — shared by the short
suite (tests/reliability/) and the long soak (bench/soak.py).

It owns the measuring parts: a device-side QoS 1 publisher that knows which messages the broker acknowledged, the
broker with the deploy config's broker-wide settings, what the gateway stored (each acknowledged event once?), what it
notified (each notification with an `id`, no second notification of one event under another id), its resident memory
and the size of its database. It must not decide what a scenario does to the processes, nor what a test asserts.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from devices.simulator.acks import Acknowledger
from devices.topics import DeviceType
from edge.broker import MosquittoProcess
from tests.harness import ROOT, wait_until

DEPLOY = ROOT / "deploy" / "mosquitto" / "hallops.conf"
BROKER_WIDE = {  # what the deploy file sets for the whole broker; its listener, auth and paths stay the test's
    "persistence",
    "autosave_interval",
    "autosave_on_changes",
    "max_queued_messages",
    "max_queued_bytes",
    "max_inflight_messages",
    "max_packet_size",
}

Key = tuple[str, int, float]  # (device id, seq, device time): one device message, also across days that restart seq


def deploy_settings() -> dict[str, str]:
    """deploy/mosquitto/hallops.conf's broker-wide settings (also tests/integration/test_broker_crash.py's)."""
    settings = {}
    for line in DEPLOY.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] in BROKER_WIDE:
            settings[words[0]] = words[1]
    return settings


def deploy_broker() -> MosquittoProcess:
    """A persistent mosquitto on a free loopback port with deploy/mosquitto/hallops.conf's broker-wide settings."""
    return MosquittoProcess(persistent=True, extra_config="".join(f"{k} {v}\n" for k, v in deploy_settings().items()))


def key_of(payload: bytes, device: str) -> Key | None:
    """The key of a contract message (None when it has no usable `seq` and `ts`: a malformed one)."""
    try:
        body = json.loads(payload)
        return (device, int(body["seq"]), round(datetime.fromisoformat(body["ts"]).timestamp(), 3))
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


class Devices:
    """The hall's devices as one MQTT client with a persistent session (paho re-sends across broker restarts what the
    broker had not acknowledged). Every QoS 1 event (`…/evt`) sent is noted with its key; `acked()` are those the
    broker acknowledged — what the gateway must store, each once.

    With `answer` (a hall id) the devices answer the gateway's commands on `…/cmd/ack` as the simulator's devices do
    (devices/simulator/acks.py), stamped with `now` — the hall time of the last message sent — without carrying them
    out (the traffic is played as recorded)."""

    def __init__(self, port: int, client_id: str = "reliability-devices", answer: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.05, 1.0)  # type: ignore[arg-type]  # paho takes float seconds
        self.sent = 0  # every message, any QoS
        self.now = datetime.now().astimezone()
        self._events: list[tuple[Key, mqtt.MQTTMessageInfo]] = []
        self._acks: dict[str, Acknowledger] = {}
        if answer is not None:
            cmds = f"hall/{answer}/+/+/cmd"
            self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(cmds, qos=1)
            self.client.on_message = self._command
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _command(self, client: mqtt.Client, userdata: object, m: mqtt.MQTTMessage) -> None:
        _, _, kind, device, _ = m.topic.split("/")
        acks = self._acks.get(device)
        if acks is None:
            try:
                acks = self._acks[device] = Acknowledger(DeviceType(kind))
            except ValueError:
                return
        answer = acks.answer(bytes(m.payload), self.now)
        if answer is not None:
            client.publish(m.topic + "/ack", answer, qos=1)

    def send(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self.sent += 1
        parts = topic.split("/")
        if qos == 1 and len(parts) == 5 and parts[4] == "evt":
            key = key_of(payload, parts[3])
            if key is not None:
                self._events.append((key, info))

    @property
    def events_sent(self) -> int:
        return len(self._events)

    def acked(self) -> set[Key]:
        # paho marks a QoS 1 message published on its PUBACK; a message it queued while the broker was away
        # (rc=NO_CONN) is sent on reconnect and marked then
        return {k for k, info in self._events if info._published}

    def wait(self, timeout: float = 60.0) -> None:
        wait_until(lambda: all(i._published for _, i in self._events), timeout, "the broker to acknowledge")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored_events(db: Path) -> Counter[Key]:
    """How often each device event (channel `evt`) is in the gateway's log."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute("SELECT device_id, seq, at FROM events WHERE channel = 'evt' AND seq IS NOT NULL")
        return Counter((str(d), int(s), round(float(a), 3)) for d, s, a in rows)


def db_bytes(db: Path) -> int:
    """The database with its write-ahead log (what the disk holds)."""
    return sum(os.path.getsize(f"{db}{s}") for s in ("", "-wal", "-shm") if os.path.exists(f"{db}{s}"))


def rss(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


@dataclass(frozen=True, slots=True)
class NotificationCheck:
    total: int
    without_id: int  # a notification a receiver cannot drop as a repeat
    repeated: int  # delivered again with the same id (at least once: a receiver drops them)
    doubled: int  # one event notified twice under different ids: a duplicate no receiver can tell
    examples: tuple[str, ...] = ()  # the ids heard for a fingerprint that was doubled (the first few)


def check_notifications(bodies: Iterable[Mapping[str, object]]) -> NotificationCheck:
    """Alert, ticket and recommendation notifications as heard (MQTT) or received (webhook), in arrival order.

    `doubled` counts an alert that fires again (a new episode) while its last heard transition was not `resolved`:
    one fault told twice as two alerts."""
    total = without = 0
    ids: Counter[str] = Counter()
    open_episode: dict[str, str] = {}  # fingerprint → the episode last heard firing and not resolved
    history: dict[str, list[str]] = {}
    examples: list[str] = []
    doubled = 0
    for body in bodies:
        total += 1
        nid = body.get("id")
        if not isinstance(nid, str) or not nid:
            without += 1
            continue
        ids[nid] += 1
        if ids[nid] > 1 or not nid.startswith("alert:"):
            continue
        _, fingerprint, episode, transition = nid.split(":", 3)
        history.setdefault(fingerprint, []).append(f"{episode}:{transition}")
        if transition == "firing":
            if fingerprint in open_episode and open_episode[fingerprint] != episode:
                doubled += 1
                if len(examples) < 5:
                    examples.append(f"{fingerprint} {body.get('rule')}: {' '.join(history[fingerprint][-4:])}")
            open_episode[fingerprint] = episode
        elif transition == "resolved":
            open_episode.pop(fingerprint, None)
    return NotificationCheck(total, without, sum(n - 1 for n in ids.values()), doubled, tuple(examples))


class Notices:
    """What the gateway notifies on MQTT (`hallops/#`), heard by a subscriber with a persistent session at QoS 1 that
    subscribes again on every connection: the broker keeps its messages across a restart of either side, so what is
    missing or doubled in `heard` is the gateway's doing, not this listener's."""

    def __init__(self, port: int, client_id: str = "reliability-notices") -> None:
        self.heard: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.05, 1.0)  # type: ignore[arg-type]  # paho takes float seconds
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("hallops/#", qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = lambda c, u, m: self.heard.append((m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(10):
            self.close()
            raise RuntimeError(f"the broker on 127.0.0.1:{port} did not take the subscription to hallops/#")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def notifications(heard: Iterable[tuple[str, bytes]]) -> list[dict[str, object]]:
    """The notification bodies among MQTT messages heard on hallops/#."""
    out = []
    for topic, payload in heard:
        if topic.rsplit("/", 1)[-1] in ("alerts", "tickets", "recommendations"):
            out.append(json.loads(payload))
    return out


@dataclass
class Record:
    """One scenario's figures. `lost` is acknowledged QoS 1 events not stored; `doubled_events` stored twice."""

    scenario: str
    sent: int = 0  # device messages published (any QoS)
    acked: int = 0  # QoS 1 events the broker acknowledged
    stored: int = 0  # of those, in the gateway's log
    lost: int = 0
    doubled_events: int = 0
    alerts_expected: str = "–"
    alerts_raised: str = "–"
    notifications: int = 0
    repeated_same_id: int = 0
    duplicates_without_id: int = 0  # notifications without an id + one event notified under two ids
    recovery_s: list[float] = field(default_factory=list)
    crashes: int = 0  # exits nobody asked for
    rss_mb: float = 0.0
    db_mb: float = 0.0
    wall_s: float = 0.0
    note: str = ""

    def count(self, acked: set[Key], stored: Counter[Key]) -> None:
        self.acked = len(acked)
        self.stored = sum(1 for k in acked if stored[k] > 0)
        self.lost = self.acked - self.stored
        self.doubled_events = sum(1 for k, n in stored.items() if n > 1)

    def notified(self, check: NotificationCheck) -> None:
        self.notifications = check.total
        self.repeated_same_id = check.repeated
        self.duplicates_without_id = check.without_id + check.doubled


HEAD = (
    f"{'scenario':<28} {'sent':>8} {'acked':>7} {'stored':>7} {'lost':>4} {'dbl':>3} {'alerts exp/raised':>18} "
    f"{'notif':>5} {'same-id':>7} {'dup w/o id':>10} {'recovery s':>14} {'crash':>5} {'RSS MB':>6} {'db MB':>6}"
)


def row(r: Record) -> str:
    rec = ", ".join(f"{s:.1f}" for s in r.recovery_s) if r.recovery_s else "–"
    if len(rec) > 14:
        rec = f"≤ {max(r.recovery_s):.1f} ({len(r.recovery_s)})"
    return (
        f"{r.scenario:<28} {r.sent:>8,} {r.acked:>7,} {r.stored:>7,} {r.lost:>4} {r.doubled_events:>3} "
        f"{r.alerts_expected + ' / ' + r.alerts_raised:>18} {r.notifications:>5} {r.repeated_same_id:>7} "
        f"{r.duplicates_without_id:>10} {rec:>14} {r.crashes:>5} {r.rss_mb:>6.1f} {r.db_mb:>6.2f}"
    )


def table(records: Iterable[Record]) -> str:
    return "\n".join([HEAD, "-" * len(HEAD), *(row(r) for r in records)])


def as_json(records: Iterable[Record]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]


class Sampler:
    """Samples, every `every_s` in a thread of its own, the resident memory of the process `pid()` names and the
    database's size, with whatever `extra()` adds; `samples` holds them (monotonic seconds since the start)."""

    def __init__(self, pid: Any, db: Path, every_s: float = 2.0, extra: Any = None) -> None:
        self.samples: list[dict[str, Any]] = []
        self._pid, self._db, self._every, self._extra = pid, db, every_s, extra
        self._done = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self.take()

    def take(self) -> dict[str, Any]:
        s: dict[str, Any] = {"t": round(time.monotonic() - self._t0, 2), "rss": rss(self._pid())}
        s["db"] = db_bytes(self._db) if self._db.exists() else 0
        if self._extra is not None:
            s.update(self._extra())
        self.samples.append(s)
        return s

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)
