"""The simulator drives a real mosquitto; the gateway's hall must agree with what the simulator knows is true."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edge.broker import MosquittoProcess
from tests.integration.conftest import ROOT, GatewayProcess


def simulate(broker: MosquittoProcess, tmp: Path, *args: str) -> dict[str, object]:
    truth = tmp / "truth.json"
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "simulate", "--broker", broker.url, "--truth", str(truth), *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, object] = json.loads(truth.read_text())
    return loaded


def agrees(hall: dict[str, object], truth: dict[str, object]) -> dict[str, object]:
    """What differs between the gateway's hall and the simulator's truth (empty when they agree)."""
    waiting = {s["code"]: s["waiting"] for s in hall["services"]}  # type: ignore[attr-defined]
    windows = {w["window_id"]: w["status"] for w in hall["windows"]}  # type: ignore[attr-defined]
    online = {d["device_id"]: d["online"] for d in hall["devices"]}  # type: ignore[attr-defined]
    diff: dict[str, object] = {}
    for label, ours, theirs in (
        ("waiting", waiting, truth["waiting"]),
        ("windows", windows, truth["windows"]),
        ("devices_online", online, truth["devices_online"]),
    ):
        assert isinstance(theirs, dict)
        wrong = {k: (ours.get(k), v) for k, v in theirs.items() if ours.get(k) != v}
        if wrong:
            diff[label] = wrong
    return diff


def test_gateway_agrees_with_the_simulated_county_hall(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """The county hall 08:30–11:00 (morning peak, paper out, staff away, a kiosk offline at the end) at 300× speed."""
    gw = gateway_factory(mosquitto.url, "--clock", "device", "--speed", "300", hall="county-01").start()
    truth = simulate(
        mosquitto, tmp_path, "--scenario", "county", "--seed", "7", "--speed", "300",
        "--start", "2026-11-23T08:30:00+08:00", "--duration", "150m",
    )  # fmt: skip
    counters = gw.health()["counters"]
    assert counters["rejected_total"] == 0, counters  # type: ignore[index]
    hall = gw.get("/api/hall")
    assert isinstance(hall, dict)
    assert agrees(hall, truth) == {}
    assert sum(truth["waiting"].values()) > 0, "the morning peak should leave people waiting"  # type: ignore[union-attr]
    assert hall["totals"]["windows_open"] >= 6
    assert truth["devices_online"]["K03"] is False, "the kiosk unplugged at 10:50 is still offline at 11:00"  # type: ignore[index]
    k03 = next(d for d in hall["devices"] if d["device_id"] == "K03")
    assert k03["health"] == "offline"
