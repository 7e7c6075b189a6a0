"""MQTT topic names of the contract: `hall/{hall_id}/{device_type}/{device_id}/{channel}`.

Builds and parses topics; knows nothing about payloads.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from devices.errors import PayloadError

ROOT = "hall"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")  # \Z: `$` would let a trailing newline in


class DeviceType(StrEnum):
    TICKET_MACHINE = "ticket_machine"  # 取号机
    WINDOW = "window"  # 窗口终端 / 叫号器
    CALL_SCREEN = "call_screen"  # 叫号屏
    KIOSK = "kiosk"  # 自助终端
    EVALUATOR = "evaluator"  # 好差评评价器
    CAMERA = "camera"  # people counts from cameras
    QMS = "qms"  # the queue-management system reporting centrally


class Channel(StrEnum):
    EVT = "evt"  # events, QoS 1, never retained
    STATE = "state"  # retained; the last will sets online=false
    HB = "hb"  # heartbeat, QoS 0
    CMD = "cmd"  # gateway → device, QoS 1
    CMD_ACK = "cmd/ack"  # device → gateway


@dataclass(frozen=True, slots=True)
class Topic:
    hall: str
    device_type: DeviceType
    device_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{ROOT}/{self.hall}/{self.device_type}/{self.device_id}/{self.channel}"


def build_topic(hall: str, device_type: DeviceType | str, device_id: str, channel: Channel | str) -> str:
    """The topic string for a device channel; ids must be plain identifiers (no `/`, `+`, `#`)."""
    for label, value in (("hall", hall), ("device_id", device_id)):
        if not _ID.match(value):
            raise ValueError(f"{label} {value!r} is not a valid id (letters, digits, '_', '-', '.'; ≤ 64)")
    return str(Topic(hall, DeviceType(device_type), device_id, Channel(channel)))


@functools.lru_cache(maxsize=4096)  # a hall has a few hundred topics; every message names one
def parse_topic(topic: str) -> Topic:
    """Split a contract topic. Raises PayloadError `bad_topic` or `unknown_device_type`."""
    parts = topic.split("/")
    if len(parts) == 6 and parts[5] == "ack" and parts[4] == "cmd":
        parts = [*parts[:4], "cmd/ack"]
    if len(parts) != 5 or parts[0] != ROOT:
        raise PayloadError("bad_topic", f"topic {topic!r} is not hall/<hall>/<device_type>/<device_id>/<channel>")
    _, hall, kind, device_id, channel = parts
    if not _ID.match(hall) or not _ID.match(device_id):
        raise PayloadError("bad_topic", f"topic {topic!r} has an invalid hall or device id")
    try:
        device_type = DeviceType(kind)
    except ValueError:
        raise PayloadError(
            "unknown_device_type",
            f"device type {kind!r} is not one of {', '.join(t.value for t in DeviceType)}",
        ) from None
    try:
        chan = Channel(channel)
    except ValueError:
        raise PayloadError(
            "bad_topic", f"channel {channel!r} is not one of {', '.join(c.value for c in Channel)}"
        ) from None
    return Topic(hall, device_type, device_id, chan)


def hall_filter(hall: str | None) -> str:
    """The subscription filter for one hall's devices (or every hall's)."""
    return f"{ROOT}/{hall or '+'}/#"


__all__ = ["ROOT", "Channel", "DeviceType", "Topic", "build_topic", "hall_filter", "parse_topic"]
