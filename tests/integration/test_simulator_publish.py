"""The simulator on a real mosquitto: retained states, the last will and events arrive in timeline order."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import pytest
import yaml

from devices.simulator.model import HallSimulation
from devices.simulator.publisher import run_simulation
from devices.simulator.scenario import PACKAGED, Scenario, parse_scenario
from edge.broker import MosquittoProcess

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 1, 13, 10, 40, tzinfo=TZ)
END = datetime(2025, 1, 13, 11, 0, tzinfo=TZ)


@pytest.fixture
def broker(mosquitto: MosquittoProcess) -> str:
    return mosquitto.url


def _bytes(payload: object) -> bytes:
    assert isinstance(payload, bytes | bytearray)
    return bytes(payload)


def _scenario() -> Scenario:
    data: dict[str, Any] = yaml.safe_load((PACKAGED / "county.yaml").read_text(encoding="utf-8"))
    data["incidents"] = [{"kind": "device_offline", "device": "W03", "at": "10:45", "duration": "5m"}]
    return parse_scenario(data)


async def test_timeline_reaches_a_subscriber_in_order_with_the_will(broker: str, tmp_path: Path) -> None:
    scenario = _scenario()
    host, port = broker.removeprefix("mqtt://").split(":")
    expected = [
        (m.topic, m.payload)
        for m in HallSimulation(scenario, 5, START, END).messages()
        if m.kind == "publish" and not m.topic.endswith("/hb")
    ]
    ordered: list[tuple[str, bytes]] = []  # everything but heartbeats (QoS 0), in arrival order
    complete = asyncio.Event()

    async with aiomqtt.Client(host, int(port), identifier="test-listener") as listener:
        await listener.subscribe(f"hall/{scenario.hall.id}/#", qos=1)

        async def listen() -> None:
            async for message in listener.messages:
                if not str(message.topic).endswith("/hb"):
                    ordered.append((str(message.topic), _bytes(message.payload)))
                if len(ordered) >= len(expected) + 1:  # + the will
                    complete.set()

        listening = asyncio.create_task(listen())
        truth = await run_simulation(
            scenario, broker, speed=0, seed=5, start=START, end=END, truth_path=tmp_path / "truth.json"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), timeout=10)
        listening.cancel()

    will_topic = f"hall/{scenario.hall.id}/window/W03/state"
    will = {"v": 1, "online": False}
    wills = [i for i, (topic, payload) in enumerate(ordered) if topic == will_topic and json.loads(payload) == will]
    assert len(wills) == 1, "the broker published W03's last will once"
    # everything QoS 1 the devices sent arrives in timeline order; the will sits between drop and reconnect
    assert ordered[: wills[0]] + ordered[wills[0] + 1 :] == expected
    reconnect = ordered[wills[0] + 1 :]
    assert any(t == will_topic and json.loads(p)["online"] is True for t, p in reconnect)
    assert any(t.endswith("/evt") for t, _ in ordered)
    assert truth.devices_online["W03"] is True
    assert json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))["at"] == truth.at.isoformat()

    # a late subscriber gets every device's retained state, all online again
    retained: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(host, int(port), identifier="test-late") as late:
        await late.subscribe(f"hall/{scenario.hall.id}/+/+/state", qos=1)
        try:
            async with asyncio.timeout(2):
                async for message in late.messages:
                    retained[str(message.topic)] = json.loads(_bytes(message.payload))
                    if len(retained) == len(scenario.device_ids()):
                        break
        except TimeoutError:
            pass
    assert len(retained) == len(scenario.device_ids())
    assert all(state["online"] is True for state in retained.values())
