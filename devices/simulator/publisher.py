"""Plays a `HallSimulation` timeline onto an MQTT broker, one connection per simulated device.

Owns the I/O side of the simulator: one aiomqtt client per device (MQTT 3.1.1; TLS for an mqtts:// broker), each
with its last will `{"v": 1, "online": false}` retained at QoS 1 on its `state` topic; pacing simulated time
against the wall clock; abrupt disconnects so the broker really publishes the will; progress reports; the truth
file. It decides nothing about the hall — every message comes from `model.HallSimulation`.

Every device that takes commands subscribes to its own `…/cmd` topic on its own connection and acknowledges each
command on `…/cmd/ack` (acks.py: ok, or `unsupported` for a type it does not take; once per cmd_id), so the gateway
hears its commands back; the devices named in `no_ack` never answer (a device that does not listen, for tests).

With `obey_commands`, the hall also answers the gateway as staff and a queue system would, at the next whole
simulated minute: a `window.assign` to any qms is carried out as the model's `assign` (the window opens, or serves
the services named, with the staff named — moving them from another window if they are logged in there), and a
`nudge` to a closed window (a tidal window being called, 潮汐窗口) opens it — so an approval in the web UI changes the
simulated floor.

Each publish is awaited before the next one (QoS 1 until the broker's PUBACK), so the broker receives the
messages of all devices in timeline order: the gateway relies on a call arriving after the issue it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt

from devices.broker_address import BrokerAddress
from devices.contract import COMMANDS_BY_DEVICE
from devices.simulator.acks import Acknowledger
from devices.simulator.model import HallSimulation, HallTruth, SimMessage, WindowCommand, day_bounds
from devices.simulator.scenario import Scenario
from devices.topics import Channel, DeviceType, build_topic

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0
ORDERS_KEPT = 1024  # cmd_ids the obeying staff remember having carried out
_CONNECT_TIMEOUT_S = 10.0


def default_window(scenario: Scenario, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Start defaults to today's opening time in the hall's time zone, end to that day's closing time."""
    zone = ZoneInfo(scenario.hall.timezone)
    if start is None:
        start = day_bounds(scenario, datetime.now(zone).date())[0]
    elif start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    if end is None:
        end = day_bounds(scenario, start.astimezone(zone).date())[1]
        if end <= start:
            end = start + timedelta(hours=1)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=zone)
    return start, end


class _Connections:
    """The open MQTT connection of every device that is online in the timeline; on it, each device that answers
    commands (`answering`: device id → its type) listens to its `cmd` topic and acknowledges, timed by `now`."""

    def __init__(
        self,
        broker: BrokerAddress,
        tls: ssl.SSLContext | None,
        hall: str,
        answering: dict[str, DeviceType],
        now: Callable[[], datetime],
    ) -> None:
        self._broker = broker
        self._tls = tls
        self._hall = hall
        self._clients: dict[str, aiomqtt.Client] = {}
        self._acks = {device: Acknowledger(kind) for device, kind in answering.items()}  # kept across reconnects
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self._now = now

    async def connect(self, message: SimMessage) -> None:
        if message.device_id in self._clients:
            return
        client = aiomqtt.Client(
            self._broker.host,
            self._broker.port,
            identifier=f"hallops-sim-{self._hall}-{message.device_id}",
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            keepalive=60,
            timeout=_CONNECT_TIMEOUT_S,
            will=aiomqtt.Will(message.topic, message.payload, qos=message.qos, retain=message.retain),
            # Without TCP_NODELAY a QoS 1 publish that follows a QoS 0 heartbeat waits for the broker's delayed
            # ACK (Nagle), up to 40 ms per message.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            tls_context=self._tls,
        )
        _read_disconnect_errors(client)
        await client.__aenter__()
        self._clients[message.device_id] = client
        acks = self._acks.get(message.device_id)
        if acks is not None:
            cmd = build_topic(self._hall, acks.device_type, message.device_id, Channel.CMD)
            await client.subscribe(cmd, qos=1)
            listening = asyncio.create_task(self._answer(client, acks, f"{cmd}/ack"))
            self._listeners[message.device_id] = listening

    async def _answer(self, client: aiomqtt.Client, acks: Acknowledger, topic: str) -> None:
        """Acknowledge every command delivered to the device, until its connection ends."""
        with contextlib.suppress(aiomqtt.MqttError):
            async for command in client.messages:
                answer = acks.answer(bytes(command.payload), self._now())
                if answer is not None:
                    await client.publish(topic, answer, qos=1)

    async def publish(self, message: SimMessage) -> None:
        client = self._clients.get(message.device_id)
        if client is None:
            raise RuntimeError(f"device {message.device_id} publishes while disconnected: a timeline bug")
        await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)

    async def drop(self, device_id: str) -> None:
        """Cut the connection without an MQTT DISCONNECT, as a pulled cable does, so the broker sends the will.

        aiomqtt has no API for an unclean disconnect (its context exit sends DISCONNECT, which suppresses the
        will), so we shut down the socket of the underlying paho client and wait for aiomqtt to notice.
        """
        client = self._clients.pop(device_id, None)
        if client is None:
            return
        await self._stop_listening(device_id)
        sock = client._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        disconnected: asyncio.Future[None] = client._disconnected
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(disconnected), timeout=5.0)
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)

    async def _stop_listening(self, device_id: str) -> None:
        listening = self._listeners.pop(device_id, None)
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def close_all(self) -> None:
        """Disconnect every device cleanly (no will): the last retained state stays as published."""
        for device_id in list(self._listeners):
            await self._stop_listening(device_id)
        clients, self._clients = self._clients, {}
        for client in clients.values():
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
                await asyncio.wait_for(client.__aexit__(None, None, None), timeout=5.0)


class _Orders:
    """Commands from the gateway, kept until the simulation's next whole minute asks for them; a command re-sent
    with the same cmd_id (its acknowledgement was not heard) is carried out once."""

    def __init__(self, hall: str) -> None:
        self.hall = hall
        self._pending: list[WindowCommand] = []
        self._taken: OrderedDict[str, None] = OrderedDict()  # "<topic> <cmd_id>" carried out, the newest ORDERS_KEPT

    def take(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")  # hall/<hall>/<type>/<device>/cmd
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if len(parts) != 5 or not isinstance(body, dict):
            return
        cmd_id = body.get("cmd_id")
        if isinstance(cmd_id, str):
            key = f"{topic} {cmd_id}"  # once per device and cmd_id
            if key in self._taken:
                return
            self._taken[key] = None
            if len(self._taken) > ORDERS_KEPT:
                self._taken.popitem(last=False)
        kind, services, staff = body.get("type"), body.get("services") or [], body.get("staff_id")
        if kind == "window.assign" and parts[2] == "qms" and isinstance(body.get("window_id"), str):
            if not isinstance(services, list) or not all(isinstance(x, str) for x in services):
                return
            self._pending.append(
                WindowCommand("assign", body["window_id"], tuple(services), staff if isinstance(staff, str) else None)
            )
        elif kind == "nudge" and parts[2] == "window":
            self._pending.append(WindowCommand("open", parts[3]))  # the model leaves a window that is not closed

    def __call__(self, now: datetime) -> list[WindowCommand]:
        due, self._pending = self._pending, []
        return due


def _read_disconnect_errors(client: aiomqtt.Client) -> None:
    """A connection that ends without our DISCONNECT (the simulation stopped mid-connect, the broker went away) leaves
    an error in aiomqtt's disconnect future that nobody awaits; asyncio would log "Future exception was never
    retrieved" for every such device at exit. The simulation has already said what it knows by then."""
    client._disconnected.add_done_callback(lambda f: None if f.cancelled() else f.exception())


async def _listen(broker: BrokerAddress, tls: ssl.SSLContext | None, orders: _Orders) -> None:
    client = aiomqtt.Client(broker.host, broker.port, identifier=f"hallops-sim-{orders.hall}-orders", tls_context=tls)
    _read_disconnect_errors(client)
    async with client:
        await client.subscribe(f"hall/{orders.hall}/+/+/cmd", qos=1)
        async for message in client.messages:
            orders.take(str(message.topic), bytes(message.payload))


async def run_simulation(  # noqa: PLR0913 - the `hallops simulate` flags, one keyword each
    scenario: Scenario,
    broker_url: str,
    *,
    speed: float = 1.0,
    seed: int = 1,
    start: datetime | None = None,
    end: datetime | None = None,
    truth_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
    obey_commands: bool = False,
    tls_ca: Path | None = None,
    no_ack: Collection[str] = (),
) -> HallTruth:
    """Simulate the hall and publish its timeline; returns the truth after the last message sent.

    `speed` is simulated seconds per wall second (0 or `inf`: as fast as the broker takes them). `broker_url` is
    mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS, checked against `tls_ca` (a PEM file) if given, else against the
    system's CAs. `no_ack`: devices (`<device_type>/<device_id>`, e.g. `call_screen/CS-A`) that never acknowledge a
    command. Cancelling the task stops at once and closes every connection; the truth file is written either way.
    Raises ValueError for a bad URL, CA file, window or `no_ack` device, ConnectionError when the broker cannot be
    reached.
    """
    if speed < 0 or math.isnan(speed):
        raise ValueError("speed must be positive (0 or inf: as fast as possible)")
    broker = BrokerAddress.parse(broker_url, tls_ca)
    tls = broker.tls_context()
    start, end = default_window(scenario, start, end)
    orders = _Orders(scenario.hall.id) if obey_commands else None
    simulation = HallSimulation(scenario, seed, start, end, controller=orders)
    answering = _answering(simulation.device_types(), no_ack)
    paced = 0 < speed < math.inf
    last_at = start  # the simulated time of the last message sent

    def simulated_now() -> datetime:  # when a device acknowledges: its clock runs on between messages when paced
        return start + timedelta(seconds=(time.monotonic() - wall_start) * speed) if paced else last_at

    listener = asyncio.create_task(_listen(broker, tls, orders)) if orders is not None else None
    connections = _Connections(broker, tls, scenario.hall.id, answering, simulated_now)
    wall_start = time.monotonic()
    next_report = wall_start + PROGRESS_EVERY_S
    sent = 0
    logger.info("simulating hall=%s from %s to %s speed=%s seed=%d", scenario.hall.id, start, end, speed, seed)
    try:
        for message in simulation.messages():
            if paced:
                due = wall_start + (message.at - start).total_seconds() / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                if message.kind == "publish":
                    await connections.publish(message)
                elif message.kind == "connect":
                    await connections.connect(message)
                else:
                    await connections.drop(message.device_id)
            except aiomqtt.MqttError as exc:
                raise ConnectionError(f"broker {broker_url}: {exc}") from exc
            last_at = message.at
            sent += 1
            if progress is not None and time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_EVERY_S
                progress(_progress_line(simulation.truth(), message.at, sent))
        truth = simulation.truth()
        if progress is not None:
            progress(_progress_line(truth, truth.at, sent) + " (done)")
        return truth
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await listener
        await connections.close_all()
        if truth_path is not None:
            await asyncio.to_thread(truth_path.write_text, simulation.truth().to_json(), encoding="utf-8")


def _answering(devices: dict[str, DeviceType], no_ack: Collection[str]) -> dict[str, DeviceType]:
    """The devices that acknowledge commands: every one whose type takes commands, but those in `no_ack`."""
    named = {f"{kind.value}/{device}" for device, kind in devices.items()}
    unknown = sorted(set(no_ack) - named)
    if unknown:
        raise ValueError(f"no_ack: the scenario has no device {', '.join(unknown)} (write <device_type>/<device_id>)")
    return {
        device: kind
        for device, kind in devices.items()
        if COMMANDS_BY_DEVICE[kind] and f"{kind.value}/{device}" not in no_ack
    }


def _progress_line(truth: HallTruth, at: datetime, sent: int) -> str:
    waiting = sum(truth.waiting.values())
    open_windows = sum(1 for status in truth.windows.values() if status == "open")
    return f"{at:%Y-%m-%d %H:%M:%S} sent={sent} waiting={waiting} open_windows={open_windows}"


__all__ = ["PROGRESS_EVERY_S", "default_window", "run_simulation"]
