"""Vendor mappings: devices that speak another JSON shape are mapped onto the contract by config, not code.

One `VendorMapping` describes one vendor device model: which vendor topic it publishes on, which contract
device type and channel it becomes, where the vendor keeps each contract field (dotted paths into its JSON),
fixed values, and a few conversions (epoch or naive local timestamps, vendor code → contract enum value).

This module owns the mapping config model and the translation `(vendor topic, vendor bytes) → (contract
topic, contract bytes)`. It is pure: no I/O, no clock, no MQTT. It does not validate the result against the
contract: the gateway sends the translated message down the normal contract path (`devices.codec.decode`), so
a mapped message is held to exactly the same rules as a native one. Whatever can be checked when the config is
loaded (unknown contract fields, event types the device type lacks, required contract fields left unmapped,
bad paths and time zones) is checked then, and each message is translated by a plan compiled once.

Why about 620 lines: the config model, its load-time checks and the compiled plan are three views of one
mapping; split apart, each check would sit far from the field it guards.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from devices.contract import (
    CONTRACT_VERSION,
    EVENTS_BY_DEVICE,
    STATE_BY_DEVICE,
    Envelope,
    Heartbeat,
    event_type,
)
from devices.errors import ConfigError, PayloadError, Problem
from devices.topics import ROOT, Channel, DeviceType, build_topic
from devices.validation import problems_from

REASON = "vendor_mapping"

# Never set by a mapping: `v` is always the contract version, `type` comes from `types` or `event_type`.
_RESERVED = frozenset({"v", "type"})
_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_PATH_SEGMENT = re.compile(r"^[^.\[\]]+$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeFormat(StrEnum):
    """How a vendor writes a time."""

    RFC3339 = "rfc3339"  # already RFC 3339 with an offset: passed through unchanged
    EPOCH_S = "epoch_s"  # Unix seconds, number or numeric string (fractions allowed)
    EPOCH_MS = "epoch_ms"  # Unix milliseconds
    LOCAL = "local"  # a naive local time ("2024-05-06 09:30:05") in `timezone`


class Conversion(_Config):
    """How one mapped source value becomes the contract value. Give exactly one of `time` or `values`."""

    time: TimeFormat | None = Field(default=None, description="the source is a time in this format")
    timezone: str | None = Field(
        default=None,
        description="IANA zone (Asia/Shanghai) or fixed offset (+08:00) of a `local` time; "
        "epoch times are written in this zone when given, else in UTC",
    )
    format: str | None = Field(
        default=None,
        description="strptime format of a `local` time (default ISO 8601: 2024-05-06 09:30:05)",
    )
    values: dict[str, JsonValue] | None = Field(
        default=None,
        description="vendor value → contract value (numbers and booleans match by their JSON text: 1, true); "
        "a vendor value not listed rejects the message; a list is mapped element by element",
    )

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        # YAML reads `1: walk_in` with an int key; vendor codes are matched by their JSON text anyway.
        return {_key(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Conversion:
        if (self.time is None) == (self.values is None):
            raise PydanticCustomError("conversion", "give exactly one of `time` or `values`")
        if self.time is TimeFormat.LOCAL and self.timezone is None:
            raise PydanticCustomError("conversion", "a `local` time needs `timezone` (e.g. Asia/Shanghai)")
        if self.timezone is not None:
            try:
                _zone(self.timezone)
            except ValueError as exc:
                raise PydanticCustomError("conversion", "{detail}", {"detail": str(exc)}) from None
        if self.format is not None and self.time is not TimeFormat.LOCAL:
            raise PydanticCustomError("conversion", "`format` only applies to `time: local`")
        return self


class VendorMapping(_Config):
    """How one vendor device model's messages become contract messages.

    Example (a ticket machine whose events look nothing like ours)::

        name: acme-qm200
        topic: acme/qm200/{device_id}/event
        device_type: ticket_machine
        channel: evt
        type_field: header.kind
        types: {TKT_NEW: ticket.issued, TKT_VOID: ticket.cancelled}
        fields: {ts: header.time, ticket_id: body.serial, number: body.display_no, service: body.biz}
        convert: {ts: {time: local, timezone: Asia/Shanghai}}
    """

    name: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="unique name of this mapping, used in logs and dead letters (acme-qm200)"
    )
    topic: Annotated[str, Field(min_length=1)] = Field(
        description="vendor topic pattern: literal levels, `{device_id}` (the contract device id), `{hall}` "
        "(must equal the gateway's hall), other `{name}` placeholders and `+` (any one level), `#` (last)"
    )
    device_type: DeviceType = Field(description="the contract device type the messages become")
    channel: Literal["evt", "state", "hb"] = Field(description="the contract channel the messages become")
    type_field: str | None = Field(
        default=None,
        description="evt: dotted path of the field holding the vendor's event type (header.kind)",
    )
    types: dict[str, str] = Field(
        default_factory=dict,
        description="evt: vendor event type → contract event type (TKT_NEW: ticket.issued)",
    )
    event_type: str | None = Field(
        default=None, description="evt: the one contract event type, when the topic carries one kind only"
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="contract field → dotted source path in the vendor JSON (ticket_id: data.ticketNo; "
        "list items by index: items.0.no or items[0].no)",
    )
    constants: dict[str, JsonValue] = Field(
        default_factory=dict, description="contract field → fixed value (channel: walk_in)"
    )
    convert: dict[str, Conversion] = Field(
        default_factory=dict, description="contract field → conversion of its mapped source value"
    )

    _plan: _Plan = PrivateAttr()

    @field_validator("types", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        return {_key(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _coherent(self) -> VendorMapping:
        problems = _check(self)
        if problems:
            raise PydanticCustomError("vendor_mapping", "{detail}", {"detail": "; ".join(map(str, problems))})
        # Compiled once, after the checks: every message is then translated without re-reading the config.
        self._plan = _compile(self)
        return self


# ---------------------------------------------------------------------------------------------- public API


def parse_mappings(raw: object, source: str = "vendor mappings") -> tuple[VendorMapping, ...]:
    """Validate a list of mappings (as loaded from YAML). Raises ConfigError listing every problem's path."""
    try:
        mappings = tuple(_MAPPINGS.validate_python(raw))
    except ValidationError as exc:
        raise ConfigError(source, problems_from(exc)) from None
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, mapping in enumerate(mappings):
        if mapping.name in seen:
            problems.append(Problem(f"[{index}].name", f"{mapping.name!r} is already used by [{seen[mapping.name]}]"))
        seen.setdefault(mapping.name, index)
    if problems:
        raise ConfigError(source, problems)
    return mappings


def subscription_filter(mapping: VendorMapping) -> str:
    """The MQTT filter to subscribe to for this mapping's vendor topic (placeholders become `+`)."""
    return mapping._plan.filter


def match(mappings: Iterable[VendorMapping], topic: str) -> VendorMapping | None:
    """The first mapping whose topic pattern matches `topic`, or None."""
    for mapping in mappings:
        if mapping._plan.pattern.fullmatch(topic):
            return mapping
    return None


def translate(mapping: VendorMapping, topic: str, payload: bytes, hall: str) -> tuple[str, bytes]:
    """Turn one vendor message into a contract topic and contract JSON payload (not yet validated).

    Raises PayloadError: `vendor_mapping` (topic does not match, a source field is missing, an unmapped vendor
    event type or value, a value that does not convert; `path` names the vendor field), `bad_json`,
    `not_an_object`, `wrong_hall` (the topic's `{hall}` is another hall).
    """
    plan = mapping._plan
    found = plan.pattern.fullmatch(topic)
    if found is None:
        raise PayloadError(
            REASON, f"topic {topic!r} does not match {mapping.topic!r} of mapping {mapping.name}", "topic"
        )
    if plan.hall_in_topic and found["hall"] != hall:
        raise PayloadError("wrong_hall", f"topic {topic!r} belongs to hall {found['hall']!r}, not {hall!r}", "topic")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("bad_json", f"vendor payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PayloadError("not_an_object", f"vendor payload is a JSON {type(doc).__name__}, not an object")

    target = plan.targets.get("")
    if plan.type_source is not None:
        raw_type = _lookup(doc, plan.type_source.keys)
        if raw_type is _MISSING or raw_type is None:
            raise PayloadError(REASON, "the vendor event type is missing", plan.type_source.dotted)
        target = plan.targets.get(_key(raw_type))
        if target is None:
            raise PayloadError(
                REASON,
                f"vendor event type {raw_type!r} is not mapped by {mapping.name} (mapped: {', '.join(plan.targets)})",
                plan.type_source.dotted,
            )
    assert target is not None  # _compile always provides the "" target when there is no type field

    out: dict[str, object] = {"v": CONTRACT_VERSION}
    if target.event_type is not None:
        out["type"] = target.event_type
    for src in target.sources:
        value = _lookup(doc, src.keys)
        if value is _MISSING or value is None:
            if src.required:
                raise PayloadError(
                    REASON, f"vendor payload lacks {src.dotted!r} (contract field {src.field})", src.dotted
                )
            continue
        out[src.field] = value if src.convert is None else src.convert(value, src.dotted)
    out.update(target.constants)

    device_id = found["device_id"] if plan.device_id_in_topic else out.get("device_id")
    if not isinstance(device_id, str):
        raise PayloadError(REASON, f"device id {device_id!r} is not a string", plan.device_id_path)
    try:
        contract_topic = build_topic(hall, mapping.device_type, device_id, plan.channel)
    except ValueError as exc:
        raise PayloadError(REASON, str(exc), plan.device_id_path) from None
    if "seq" not in out and isinstance(out.get("ts"), str):
        out["seq"] = _derived_seq(str(out["ts"]), payload)
    return contract_topic, json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------- compiled plan


_MISSING = object()
_MAPPINGS = TypeAdapter(list[VendorMapping])

_Converter = Callable[[object, str], object]


@dataclass(frozen=True, slots=True)
class _Source:
    """One contract field read from a vendor path."""

    field: str
    dotted: str
    keys: tuple[str, ...]
    required: bool
    convert: _Converter | None


@dataclass(frozen=True, slots=True)
class _Target:
    """What one vendor message kind becomes: a contract event type (or the state/heartbeat model)."""

    event_type: str | None
    sources: tuple[_Source, ...]
    constants: tuple[tuple[str, JsonValue], ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    pattern: re.Pattern[str]
    filter: str
    channel: Channel
    device_id_in_topic: bool
    device_id_path: str
    hall_in_topic: bool
    type_source: _Source | None
    targets: dict[str, _Target]  # vendor event type → target; "" when the mapping has one target


def _compile(mapping: VendorMapping) -> _Plan:
    levels = mapping.topic.split("/")
    parts: list[str] = []
    filters: list[str] = []
    names: set[str] = set()
    for level in levels:
        placeholder = _PLACEHOLDER.match(level)
        if level == "#":
            # `a/#` also matches `a` itself, as in MQTT.
            parts[-1:] = [f"{parts[-1]}(?:/.*)?"] if parts else [".*"]
            filters.append("#")
            continue
        if placeholder:
            names.add(placeholder[1])
            parts.append(f"(?P<{placeholder[1]}>[^/]+)")
            filters.append("+")
        elif level == "+":
            parts.append("[^/]*")
            filters.append("+")
        else:
            parts.append(re.escape(level))
            filters.append(level)
    channel = Channel(mapping.channel)
    convert = {name: _converter(conv) for name, conv in mapping.convert.items()}
    targets: dict[str, _Target] = {}
    if mapping.type_field is not None:
        for vendor, contract in mapping.types.items():
            targets[vendor] = _target(mapping, _event_model(mapping.device_type, contract), contract, convert)
    else:
        model, etype = _channel_model(mapping)
        targets[""] = _target(mapping, model, etype, convert)
    type_source = (
        _Source("type", mapping.type_field, _keys(mapping.type_field), True, None)
        if mapping.type_field is not None
        else None
    )
    return _Plan(
        pattern=re.compile("/".join(parts)),
        filter="/".join(filters),
        channel=channel,
        device_id_in_topic="device_id" in names,
        device_id_path="topic" if "device_id" in names else mapping.fields.get("device_id", "device_id"),
        hall_in_topic="hall" in names,
        type_source=type_source,
        targets=targets,
    )


def _target(
    mapping: VendorMapping,
    model: type[Envelope] | type[BaseModel],
    etype: str | None,
    convert: dict[str, _Converter],
) -> _Target:
    model_fields = model.model_fields
    sources = tuple(
        _Source(field, path, _keys(path), model_fields[field].is_required(), convert.get(field))
        for field, path in mapping.fields.items()
        if field in model_fields
    )
    constants = tuple((field, value) for field, value in mapping.constants.items() if field in model_fields)
    return _Target(etype, sources, constants)


def _channel_model(mapping: VendorMapping) -> tuple[type[BaseModel], str | None]:
    if mapping.channel == "evt":
        assert mapping.event_type is not None
        return _event_model(mapping.device_type, mapping.event_type), mapping.event_type
    if mapping.channel == "state":
        return STATE_BY_DEVICE[mapping.device_type], None
    return Heartbeat, None


def _event_model(device_type: DeviceType, contract_type: str) -> type[Envelope]:
    for model in EVENTS_BY_DEVICE[device_type]:
        if event_type(model) == contract_type:
            return model
    raise KeyError(contract_type)


# ---------------------------------------------------------------------------------------------- config checks


def _check(mapping: VendorMapping) -> list[Problem]:  # noqa: C901, PLR0912 - one check per kind of mistake, in field order
    """Everything about a mapping that can be known wrong before a message arrives."""
    problems: list[Problem] = []
    problems += _check_topic(mapping.topic)
    known = {event_type(m): m for m in EVENTS_BY_DEVICE[mapping.device_type]}
    models: list[tuple[str, type[BaseModel]]] = []
    if mapping.channel == "evt":
        if (mapping.type_field is None) == (mapping.event_type is None):
            problems.append(Problem("type_field", "an evt mapping needs `type_field` with `types`, or `event_type`"))
        if mapping.type_field is not None and not mapping.types:
            problems.append(Problem("types", "`type_field` needs `types` (vendor type → contract event type)"))
        if mapping.type_field is None and mapping.types:
            problems.append(Problem("types", "`types` needs `type_field`"))
        wanted = [("types." + k, v) for k, v in mapping.types.items()] if mapping.type_field is not None else []
        if mapping.event_type is not None:
            wanted.append(("event_type", mapping.event_type))
        for path, contract in wanted:
            if contract in known:
                models.append((contract, known[contract]))
            else:
                problems.append(
                    Problem(path, f"{contract!r} is not an event of {mapping.device_type} ({', '.join(known)})")
                )
    else:
        for name in ("type_field", "event_type"):
            if getattr(mapping, name) is not None:
                problems.append(Problem(name, f"only an evt mapping has `{name}`"))
        if mapping.types:
            problems.append(Problem("types", "only an evt mapping has `types`"))
        model: type[BaseModel] = STATE_BY_DEVICE[mapping.device_type] if mapping.channel == "state" else Heartbeat
        models.append((mapping.channel, model))
    for path in [mapping.type_field or "", *mapping.fields.values()]:
        if path and not _valid_path(path):
            problems.append(Problem("fields" if path != mapping.type_field else "type_field", f"bad path {path!r}"))

    for section, keys in (("fields", mapping.fields.keys()), ("constants", mapping.constants.keys())):
        for name in keys:
            if name in _RESERVED:
                problems.append(Problem(f"{section}.{name}", f"`{name}` is set by the mapping itself"))
            elif models and not any(name in m.model_fields for _, m in models):
                kinds = ", ".join(k for k, _ in models)
                problems.append(Problem(f"{section}.{name}", f"{name!r} is not a contract field of {kinds}"))
    for name in set(mapping.fields) & set(mapping.constants):
        problems.append(Problem(f"constants.{name}", f"{name!r} is also mapped in `fields`"))
    for name in mapping.convert:
        if name not in mapping.fields:
            problems.append(Problem(f"convert.{name}", f"{name!r} is not mapped in `fields`"))

    # without a vendor counter, translate derives `seq` from the mapped time
    derived = {"seq"} if "ts" in mapping.fields else set()
    for kind, model in models:
        for name, info in model.model_fields.items():
            if (
                info.is_required()
                and name not in _RESERVED
                and name not in derived
                and name not in mapping.fields.keys() | mapping.constants.keys()
            ):
                problems.append(Problem("fields", f"{kind} needs contract field {name!r}; map it or give a constant"))
    placeholders = {m[1] for m in (_PLACEHOLDER.match(level) for level in mapping.topic.split("/")) if m}
    if "device_id" not in placeholders and "device_id" not in mapping.fields and "device_id" not in mapping.constants:
        problems.append(
            Problem("topic", "the device id must come from `{device_id}` in the topic or `fields.device_id`")
        )
    return problems


def _check_topic(topic: str) -> list[Problem]:
    levels = topic.split("/")
    problems: list[Problem] = []
    if levels[0] == ROOT:
        problems.append(Problem("topic", f"{topic!r} is in the contract's own `{ROOT}/` namespace"))
    seen: set[str] = set()
    for index, level in enumerate(levels):
        placeholder = _PLACEHOLDER.match(level)
        if placeholder:
            if placeholder[1] in seen:
                problems.append(Problem("topic", f"placeholder {level} appears twice"))
            seen.add(placeholder[1])
        elif level == "#":
            if index != len(levels) - 1:
                problems.append(Problem("topic", "`#` may only be the last level"))
        elif level != "+" and any(c in level for c in "+#{}"):
            problems.append(Problem("topic", f"level {level!r} mixes a wildcard or placeholder with text"))
    return problems


def _valid_path(path: str) -> bool:
    return all(_PATH_SEGMENT.match(seg) for seg in _normalise(path).split("."))


def _normalise(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _keys(path: str) -> tuple[str, ...]:
    return tuple(_normalise(path).split("."))


# ---------------------------------------------------------------------------------------------- run time


def _lookup(doc: object, keys: Sequence[str]) -> object:
    value = doc
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
            if value is _MISSING:
                return _MISSING
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _key(value: object) -> str:
    """The text a vendor value is matched by: JSON text for numbers and booleans, the string itself."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _zone(name: str) -> tzinfo:
    if name.upper() in {"UTC", "Z"}:
        return UTC
    offset = _OFFSET.match(name)
    if offset:
        sign = -1 if offset[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai, or +08:00)") from None


def _converter(conv: Conversion) -> _Converter:
    if conv.values is not None:
        return _value_map(conv.values)
    zone = _zone(conv.timezone) if conv.timezone is not None else None
    if conv.time is TimeFormat.RFC3339:
        return _rfc3339
    if conv.time is TimeFormat.LOCAL:
        assert zone is not None
        return _local_time(zone, conv.format)
    scale = 1000.0 if conv.time is TimeFormat.EPOCH_MS else 1.0
    return _epoch(scale, zone or UTC)


def _value_map(values: dict[str, JsonValue]) -> _Converter:
    def convert(value: object, path: str) -> object:
        if isinstance(value, list):
            return [convert(item, f"{path}[{i}]") for i, item in enumerate(value)]
        try:
            return values[_key(value)]
        except (KeyError, TypeError):
            raise PayloadError(
                REASON, f"vendor value {value!r} is not mapped (mapped: {', '.join(values)})", path
            ) from None

    return convert


def _rfc3339(value: object, path: str) -> object:
    if not isinstance(value, str):
        raise PayloadError(REASON, f"time {value!r} is not an RFC 3339 string", path)
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(scale: float, zone: tzinfo) -> _Converter:
    def convert(value: object, path: str) -> object:
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            # Integer arithmetic where the vendor sends integers, so milliseconds stay exact.
            number = (
                int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else float(value)
            )
            seconds = timedelta(milliseconds=number) if scale > 1 else timedelta(seconds=number)
            return (_EPOCH + seconds).astimezone(zone).isoformat()
        except (TypeError, ValueError, OverflowError, OSError):
            unit = "milliseconds" if scale > 1 else "seconds"
            raise PayloadError(REASON, f"time {value!r} is not Unix epoch {unit}", path) from None

    return convert


def _local_time(zone: tzinfo, fmt: str | None) -> _Converter:
    def convert(value: object, path: str) -> object:
        try:
            if not isinstance(value, str):
                raise TypeError
            parsed = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise PayloadError(REASON, f"time {value!r} is not a local time ({fmt or 'ISO 8601'})", path) from None
        # A vendor that does send an offset is believed; a naive time is read in the configured zone.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).isoformat()

    return convert


def _derived_seq(ts: str, payload: bytes) -> int:
    """A `seq` for vendors without a counter: epoch milliseconds × 1000 + a 3-digit digest of the raw payload.

    It rises with the device clock, is equal for a redelivered copy (so the gateway's duplicate check drops
    it) and differs, but for a 1-in-1000 chance, between two different messages stamped with the same time.
    """
    try:
        millis = int(datetime.fromisoformat(ts).timestamp() * 1000)
    except ValueError:
        raise PayloadError(REASON, f"cannot derive seq: ts {ts!r} is not RFC 3339", "ts") from None
    return millis * 1000 + zlib.crc32(payload) % 1000


__all__ = [
    "REASON",
    "Conversion",
    "TimeFormat",
    "VendorMapping",
    "match",
    "parse_mappings",
    "subscription_filter",
    "translate",
]
