"""The JSON Schema (draft 2020-12) of the device contract, generated from the payload models.

This module owns turning `devices.contract` into one schema document for device makers and their tools:
every payload model under `$defs`, one entry per topic kind (device type × channel, and per event type or
command) in the `x-topics` index with its topic pattern, direction, QoS and retain flag, and a root `anyOf` so
the document itself accepts any payload of the contract. Only `write_schema` touches files. It never adds
rules of its own: the models are the contract, the schema is a view of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from devices.contract import (
    COMMANDS_BY_DEVICE,
    CONTRACT_VERSION,
    EVENTS_BY_DEVICE,
    STATE_BY_DEVICE,
    CommandAck,
    Heartbeat,
    event_type,
)
from devices.topics import ROOT, Channel, DeviceType

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = f"urn:hallops:device-contract:v{CONTRACT_VERSION}"
TOPIC_PATTERN = f"{ROOT}/{{hall_id}}/{{device_type}}/{{device_id}}/{{channel}}"
FILE_NAME = "contract.schema.json"

Direction = Literal["device_to_gateway", "gateway_to_device"]

# (QoS, retained) per channel, as DESIGN.md "Device contract v1" fixes them.
DELIVERY: dict[Channel, tuple[int, bool]] = {
    Channel.EVT: (1, False),
    Channel.STATE: (1, True),
    Channel.HB: (0, False),
    Channel.CMD: (1, False),
    Channel.CMD_ACK: (1, False),
}


@dataclass(frozen=True, slots=True)
class TopicEntry:
    """One row of the `x-topics` index: what is published where, by whom, and its payload schema."""

    topic: str
    device_type: DeviceType
    channel: Channel
    direction: Direction
    qos: int
    retain: bool
    type: str | None  # the event type (evt) or command type (cmd); None for state, hb, cmd/ack
    schema_ref: str  # "#/$defs/<Model>"

    def to_json(self) -> dict[str, object]:
        row: dict[str, object] = {
            "topic": self.topic,
            "device_type": self.device_type.value,
            "channel": self.channel.value,
            "direction": self.direction,
            "qos": self.qos,
            "retain": self.retain,
        }
        if self.type is not None:
            row["type"] = self.type
        row["schema"] = {"$ref": self.schema_ref}
        return row


def topic_entries(device_types: Iterable[DeviceType] = tuple(DeviceType)) -> list[TopicEntry]:
    """Every message kind of the contract for `device_types`, in a stable order."""
    entries: list[TopicEntry] = []
    for device in device_types:
        kinds: list[tuple[Channel, str | None, type[BaseModel]]] = [
            *((Channel.EVT, event_type(m), m) for m in EVENTS_BY_DEVICE[device]),
            (Channel.STATE, None, STATE_BY_DEVICE[device]),
            (Channel.HB, None, Heartbeat),
            *((Channel.CMD, _command_type(m), m) for m in COMMANDS_BY_DEVICE.get(device, ())),
        ]
        if COMMANDS_BY_DEVICE.get(device):
            kinds.append((Channel.CMD_ACK, None, CommandAck))
        for channel, kind, model in kinds:
            qos, retain = DELIVERY[channel]
            entries.append(
                TopicEntry(
                    topic=f"{ROOT}/{{hall_id}}/{device.value}/{{device_id}}/{channel.value}",
                    device_type=device,
                    channel=channel,
                    direction="gateway_to_device" if channel is Channel.CMD else "device_to_gateway",
                    qos=qos,
                    retain=retain,
                    type=kind,
                    schema_ref=f"#/$defs/{model.__name__}",
                )
            )
    return entries


def contract_schema(device_types: Iterable[DeviceType] | None = None) -> dict[str, object]:
    """One JSON Schema document for the contract (or only for `device_types`)."""
    chosen = tuple(device_types) if device_types is not None else tuple(DeviceType)
    entries = topic_entries(chosen)
    models = _models(chosen)
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    roots = sorted({e.schema_ref for e in entries}, key=[f"#/$defs/{m.__name__}" for m in models].index)
    scope = "" if device_types is None else f" ({', '.join(d.value for d in chosen)})"
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID if device_types is None else f"{SCHEMA_ID}:{'+'.join(d.value for d in chosen)}",
        "title": f"hallops device contract v{CONTRACT_VERSION}{scope}",
        "description": (
            f"MQTT payloads of the hallops device contract. Topic: {TOPIC_PATTERN}. Each payload is a JSON "
            "object; which schema applies is decided by the topic (and, on `evt` and `cmd`, by `type`): see "
            "`x-topics`. Unknown extra fields are ignored by the gateway. `ts` is RFC 3339 with a UTC offset."
        ),
        "x-contract-version": CONTRACT_VERSION,
        "x-topic-pattern": TOPIC_PATTERN,
        "x-topics": [e.to_json() for e in entries],
        "anyOf": [{"$ref": ref} for ref in roots],
        "$defs": defs.get("$defs", {}),
    }


def write_schema(out_dir: Path, *, per_device: bool = True) -> list[Path]:
    """Write `contract.schema.json` (and `<device_type>.schema.json` per device type) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_write(out_dir / FILE_NAME, contract_schema())]
    if per_device:
        for device in DeviceType:
            written.append(_write(out_dir / f"{device.value}.schema.json", contract_schema([device])))
    return written


def render(schema: dict[str, object]) -> str:
    """The schema as stable, human-diffable JSON text (sorted keys would scramble field order, so none)."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def _write(path: Path, schema: dict[str, object]) -> Path:
    path.write_text(render(schema), encoding="utf-8")
    return path


def _models(device_types: Iterable[DeviceType]) -> list[type[BaseModel]]:
    """Payload models in contract order, each once (qms shares the ticket and window events)."""
    seen: dict[type[BaseModel], None] = {}
    for device in device_types:
        models: tuple[type[BaseModel], ...] = (
            *EVENTS_BY_DEVICE[device],
            STATE_BY_DEVICE[device],
            Heartbeat,
            *COMMANDS_BY_DEVICE.get(device, ()),
        )
        for model in models:
            seen.setdefault(model, None)
        if COMMANDS_BY_DEVICE.get(device):
            seen.setdefault(CommandAck, None)
    return list(seen)


def _command_type(model: type[BaseModel]) -> str:
    default = model.model_fields["type"].default
    assert isinstance(default, str)
    return default


__all__ = [
    "DELIVERY",
    "DRAFT",
    "FILE_NAME",
    "SCHEMA_ID",
    "TOPIC_PATTERN",
    "Direction",
    "TopicEntry",
    "contract_schema",
    "render",
    "topic_entries",
    "write_schema",
]
