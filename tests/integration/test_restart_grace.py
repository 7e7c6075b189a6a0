"""A gateway killed and restarted again and again: `device-offline` fires only for the device that really went silent.

The field report: ten `kill -9`/restarts during two hours of city traffic made `device-offline` fire 83 times instead
of once — the heartbeats a device sent while the gateway itself was down (QoS 0: the broker keeps none of them for
the gateway's session) counted as that device's silence. The gateway now tells the hall model when it was deaf, from
the last receive time it logged to the broker's answer after a start (`HallState.blind`, edge/gateway.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoProcess
from tests.integration.conftest import GatewayProcess, Listener, wait_until

SILENT_S = 6  # the rule's threshold
DOWN_S = 9.0  # each time the gateway is down: longer than SILENT_S, so a silence counted through it would fire
RESTARTS = 4
UP_S = 3.0  # up after the heartbeats are heard again: the rules run every second, so at least two evaluations
KIOSKS = ("k1", "k2", "k3")

RULES = f"""\
version: 1
rules:
  - id: device-offline
    description: A device has sent nothing (not even a heartbeat) for {SILENT_S} s.
    when: {{metric: device.silent_s, op: ">=", value: {SILENT_S}}}
    severity: major
    during: always
    then: [{{alert: {{to: technician}}}}]
"""


class Heartbeats:
    """Kiosks heartbeating every second, QoS 0, as docs/contract.md says (`hall/h1/kiosk/<id>/hb`); `stop(id)` silences
    one of them for good."""

    def __init__(self, port: int, devices: tuple[str, ...]) -> None:
        self.running = set(devices)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kiosks-{time.time_ns()}")
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)

    def _beat(self) -> None:
        seq = 0
        while not self._done.is_set():
            seq += 1
            with self._lock:
                devices = sorted(self.running)
            for device in devices:
                body = {"v": 1, "ts": datetime.now(UTC).isoformat(), "seq": seq}
                self._client.publish(f"hall/h1/kiosk/{device}/hb", json.dumps(body), qos=0)
            self._done.wait(1.0)

    def stop(self, device: str) -> None:
        with self._lock:
            self.running.discard(device)

    @contextmanager
    def running_in_background(self) -> Iterator[Heartbeats]:
        self._thread.start()
        try:
            yield self
        finally:
            self._done.set()
            self._thread.join(5)
            self._client.loop_stop()
            self._client.disconnect()


def _heard_since(gw: GatewayProcess, devices: set[str], since: datetime) -> bool:
    """Whether the gateway has heard each of `devices` at or after `since` (GET /api/devices, `last_seen`)."""
    listed = gw.get("/api/devices")
    assert isinstance(listed, list)
    seen = {d["device_id"]: d["last_seen"] for d in listed}
    return all(seen.get(d) is not None and datetime.fromisoformat(seen[d]) >= since for d in devices)


def test_device_offline_fires_once_for_the_silent_device_across_kill_9_restarts(
    mosquitto: MosquittoProcess,
    listener: Listener,
    gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    """Three kiosks heartbeat every second; k3 stops for good; the gateway (system clock) is killed with `kill -9`
    four times and each time stays down DOWN_S = 9 s (plus its start-up) before it listens again.

    `device-offline` (`device.silent_s >= 6`) must fire for k3 exactly once — one `firing` notification id, however
    often a redelivery after a crash repeats it — and never for k1 or k2.

    Without the blind spans this fails on the first restart: k1's and k2's last heartbeats the gateway heard came
    just before the kill, their next ones after it listens again, so each would look silent for at least the 9 s
    down (> 6 s) at the first evaluation after the start, and `device-offline` would fire for both of them on every
    restart (then resolve with the next heartbeat): 2 × 4 = 8 false alerts, 8 more distinct firing ids.
    """
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"rules: {{file: {rules}}}\n", encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()

    with Heartbeats(mosquitto.port, KIOSKS).running_in_background() as kiosks:
        started = datetime.now(UTC)
        wait_until(lambda: _heard_since(gw, set(KIOSKS), started), what="the three kiosks' heartbeats")
        kiosks.stop("k3")  # for good
        wait_until(lambda: listener.alerts("device-offline", "firing"), timeout=30, what="k3's offline alert")

        for _ in range(RESTARTS):
            gw.kill9()
            time.sleep(DOWN_S)  # the outage itself: the kiosks go on heartbeating and nobody hears them
            gw.start()
            listening = datetime.now(UTC)
            wait_until(
                partial(_heard_since, gw, {"k1", "k2"}, listening), what="k1's and k2's heartbeats after the restart"
            )
            time.sleep(UP_S)  # the rules evaluate the hall a few times with the outage behind them

    firing = listener.alerts("device-offline", "firing")
    assert {str(a["id"]) for a in firing} == {str(firing[0]["id"])}, [
        (a["id"], a["labels"], a["reason"]) for a in firing
    ]
    assert firing[0]["labels"] == {"device": "k3", "device_type": "kiosk"}
    assert not [a for a in listener.alerts("device-offline") if a["labels"] != firing[0]["labels"]]

    alerts = gw.get("/api/alerts?state=all&rule=device-offline")
    assert isinstance(alerts, list)
    assert [(a["labels"]["device"], a["state"]) for a in alerts] == [("k3", "firing")]
    assert alerts[0]["fired_at"] == firing[0]["fired_at"]  # the alert fired before the restarts is still that one
