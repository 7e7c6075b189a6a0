"""The simulator drives a real mosquitto into a gateway process; the gateway's hall must agree with what the
simulator knows is true. A short stretch of the county hall (10:40–11:00: busy windows, a kiosk's network cable
pulled at 10:50, so the broker publishes its last will), for the transport: one connection per device, retained
states, QoS 1, the will. The hall model over the whole morning is tests/system/test_simulated_hall.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from edge.broker import MosquittoProcess
from tests.hallday import disagreements
from tests.integration.conftest import CST, ROOT, GatewayProcess, Listener, wait_until

START = datetime(2026, 11, 23, 10, 40, tzinfo=CST)  # a Monday


def simulate(broker: MosquittoProcess, tmp: Path, *args: str) -> dict[str, object]:
    truth = tmp / "truth.json"
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "simulate", "--broker", broker.url, "--truth", str(truth), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, object] = json.loads(truth.read_text())
    return loaded


def test_gateway_agrees_with_the_simulated_county_hall_over_a_real_broker(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """The county hall 10:40–11:00 at 300× speed (4 s): every message and the will reach the gateway, once — and so
    does every acknowledgement the devices give the gateway's commands (a nudge, a re-call)."""
    gw = gateway_factory(mosquitto.url, "--clock", "device", "--speed", "300", hall="county-01").start()
    acks = Listener(mosquitto.port, "hall/county-01/+/+/cmd/ack")
    truth = simulate(
        mosquitto,
        tmp_path,
        "--scenario",
        "county",
        "--seed",
        "7",
        "--speed",
        "300",
        "--start",
        START.isoformat(),
        "--duration",
        "20m",
    )
    timeline = HallSimulation(load_scenario("county"), 7, START, START + timedelta(minutes=20)).messages()
    sent = sum(1 for m in timeline if m.kind != "connect")  # what the devices published, and the will
    acks.close()  # the simulator has ended: its devices answer no more
    sent += len(acks.heard)
    wait_until(lambda: gw.accepted() >= sent, what="every message to reach the gateway")
    counters = gw.health()["counters"]
    assert counters["rejected_total"] == 0, counters  # type: ignore[index]
    assert counters["accepted"] == sent, counters  # type: ignore[index]
    hall = gw.get("/api/hall")
    assert isinstance(hall, dict)
    assert disagreements(hall, truth) == {}
    assert sum(truth["waiting"].values()) > 0, "people should be waiting"  # type: ignore[union-attr]
    assert hall["totals"]["windows_open"] >= 6
    assert truth["devices_online"]["K03"] is False, "the kiosk unplugged at 10:50 is still offline at 11:00"  # type: ignore[index]
    k03 = next(d for d in hall["devices"] if d["device_id"] == "K03")
    assert k03["health"] == "offline"
