"""The one-command demo, as a hall's IT person would first run it; and the embedded (amqtt) broker path."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from edge.broker import EmbeddedBroker, free_port
from edge.config import load_config
from edge.demo import DEMO_PASSWORD
from edge.gateway import Gateway
from tests.integration.conftest import ROOT, wait_until


def test_demo_runs_the_hall_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "demo", "--speed", "600", "--http", f"127.0.0.1:{port}",
             "--db", str(tmp_path / "demo.db")],
            stdout=out, stderr=out, cwd=ROOT,
        )  # fmt: skip
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, auth=("manager", DEMO_PASSWORD))
    try:

        def busy() -> bool:
            try:
                hall = http.get("/api/hall").json()
            except httpx.HTTPError:
                return False
            return bool(hall["totals"]["windows_open"] > 0 and sum(s["issued_today"] for s in hall["services"]) > 20)

        wait_until(busy, timeout=90, what="the demo hall to open and issue tickets")
        page = http.get("/")
        assert page.status_code == 200 and "hallops" in page.text and "/static/app.js" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/hall").status_code == 401  # the demo asks who you are
        assert http.get("/api/health").json()["broker_connected"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        http.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "open http://127.0.0.1" in text and "stopped" in text
    assert f"password: {DEMO_PASSWORD}" in text  # the demo says how to sign in


async def test_embedded_amqtt_broker_path(tmp_path: Path) -> None:
    """Without mosquitto the demo falls back to amqtt in-process; its retained-message leak must not hurt."""
    async with asyncio.timeout(90):  # a hang fails here, with its place in the stack, not at the 300 s limit
        await _amqtt_path(tmp_path)


async def _amqtt_path(tmp_path: Path) -> None:
    async with EmbeddedBroker(prefer_mosquitto=False) as broker:
        assert broker.kind == "amqtt"
        # another client subscribes to something else and leaves a retained message there
        other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="other")
        other.connect("127.0.0.1", broker.port)
        other.loop_start()
        other.subscribe("elsewhere/#", qos=1)
        other.publish("elsewhere/x", b"not for the gateway", qos=1, retain=True).wait_for_publish(5)
        cfg = load_config(None, {"hall": {"id": "h1"}, "mqtt": {"url": broker.url},
                                 "storage": {"path": str(tmp_path / "g.db")}})  # fmt: skip
        async with Gateway(cfg) as gw:
            await asyncio.to_thread(wait_until, lambda: gw.link.connected, 10, "the gateway to connect")
            body = {"v": 1, "ts": datetime.now(UTC).isoformat(), "seq": 1, "type": "ticket.issued",
                    "ticket_id": "t1", "number": "A001", "service": "tax"}  # fmt: skip
            info = other.publish("hall/h1/ticket_machine/tm1/evt", json.dumps(body), qos=1)
            await asyncio.to_thread(info.wait_for_publish, 5)
            for _ in range(200):
                if gw.counters.accepted:
                    break
                await asyncio.sleep(0.02)
            assert gw.counters.accepted == 1
            assert sum(gw.counters.rejected.values()) == 0, gw.counters.rejected
            assert gw.snapshot().totals.waiting == 1
            other.disconnect()
            other.loop_stop()
