"""The simulator's devices answer commands on a real mosquitto, each on its own connection: a call screen
acknowledges what it takes and refuses what it does not, once per cmd_id; a screen in `no_ack` never answers; a
`no_ack` device the scenario does not have is refused before anything connects."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from devices.simulator.publisher import run_simulation
from devices.simulator.scenario import load_scenario
from edge.broker import MosquittoProcess

pytestmark = pytest.mark.integration

START = datetime(2025, 1, 13, 10, 40, tzinfo=ZoneInfo("Asia/Shanghai"))
HALL = "county-01"


def command(cmd_id: str, kind: str, **fields: object) -> bytes:
    return json.dumps({"v": 1, "ts": START.isoformat(), "cmd_id": cmd_id, "type": kind, **fields}).encode()


async def test_devices_answer_their_commands_and_a_no_ack_device_stays_silent(mosquitto: MosquittoProcess) -> None:
    scenario = load_scenario("county")
    end = START.replace(minute=43)  # three simulated minutes at 60×: three seconds of connected devices
    answers: list[tuple[str, dict[str, object]]] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="test-gateway") as gateway:
        await gateway.subscribe(f"hall/{HALL}/+/+/cmd/ack", qos=1)
        await gateway.subscribe(f"hall/{HALL}/call_screen/+/state", qos=1)

        async def listen(online: asyncio.Event) -> None:
            seen: set[str] = set()
            async for message in gateway.messages:
                topic = str(message.topic)
                if topic.endswith("/state"):
                    seen.add(topic.split("/")[3])
                    if {"CS-A", "CS-B"} <= seen:
                        online.set()
                else:
                    answers.append((topic, json.loads(bytes(message.payload))))  # type: ignore[arg-type]

        online = asyncio.Event()
        listening = asyncio.create_task(listen(online))
        simulating = asyncio.create_task(
            run_simulation(scenario, mosquitto.url, speed=60, seed=3, start=START, end=end, no_ack=["call_screen/CS-B"])
        )
        await asyncio.wait_for(online.wait(), 20)  # a screen subscribes to its commands before it sends its state
        for screen in ("CS-A", "CS-B"):
            topic = f"hall/{HALL}/call_screen/{screen}/cmd"
            await gateway.publish(topic, command(f"{screen}-1", "message.show", text="欢迎"), qos=1)
            await gateway.publish(topic, command(f"{screen}-1", "message.show", text="欢迎"), qos=1)  # sent again
            await gateway.publish(topic, command(f"{screen}-2", "self_test"), qos=1)
        await simulating
        listening.cancel()

    by_topic = [(t.split("/")[3], a["cmd_id"], a["ok"], a.get("error")) for t, a in answers]
    assert by_topic == [
        ("CS-A", "CS-A-1", True, None),
        ("CS-A", "CS-A-1", True, None),  # the same answer to the copy: acknowledged again, carried out once
        ("CS-A", "CS-A-2", False, "unsupported"),  # a call screen takes no self-test
    ]
    assert answers[0][1] == answers[1][1]


async def test_a_no_ack_device_the_scenario_does_not_have_is_refused(mosquitto: MosquittoProcess) -> None:
    with pytest.raises(ValueError, match="call_screen/CS-Z"):
        await run_simulation(
            load_scenario("county"),
            mosquitto.url,
            speed=0,
            start=START,
            end=START.replace(minute=41),
            no_ack=["call_screen/CS-Z"],
        )
