"""Decoding one MQTT message into a validated `DeviceMessage`, or a `PayloadError` with a reason code.

Pure: no I/O, no clock (the receive time is passed in). This is the only place that turns bytes into contract
objects, so the gateway, the backtest and the tests all reject exactly the same messages for the same reasons.

Reason codes (stable; used for counters, dead letters and docs/contract.md):
`too_large`, `bad_topic`, `unknown_device_type`, `wrong_hall`, `bad_json`, `not_an_object`, `missing_field`,
`wrong_type`, `invalid_value`, `unknown_event_type`, `unsupported_version`, `device_mismatch`, `vendor_mapping`;
and, for a message that is well formed but that this hall will not take in:
`implausible_time` (`check_time`: its `ts` is too far from the box's clock),
`unknown_window`, `unknown_service`, `unknown_device` (the configuration lists that kind and not this one) and
`entity_cap` (it would make the hall learn more windows, services, zones or devices than the configured cap) —
the last four are `rules.hall.HallState.admit`'s, listed here so that every code is in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from devices.contract import WINDOW_EVENTS, Payload, payload_adapter
from devices.errors import PayloadError
from devices.topics import Channel, DeviceType, parse_topic

DEFAULT_MAX_BYTES = 64 * 1024

_TYPE_ERRORS = ("_type", "_parsing", "dict_type", "model_type", "model_attributes_type")


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One accepted message: which device said what, and when."""

    hall: str
    device_type: DeviceType
    device_id: str
    channel: Channel
    at: datetime  # the payload's ts (the receive time for a last will without one)
    received_at: datetime
    payload: Payload

    @property
    def seq(self) -> int | None:
        return getattr(self.payload, "seq", None)

    @property
    def type(self) -> str:
        """The event type for `evt`, else the channel name (`state`, `hb`, `cmd/ack`)."""
        if self.channel is Channel.EVT:
            return str(getattr(self.payload, "type", ""))
        return self.channel.value


def decode(
    topic: str,
    payload: bytes,
    received_at: datetime,
    *,
    hall: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeviceMessage | None:
    """Validate one message against the contract.

    Returns None for messages that are not for the gateway to ingest (commands it sent itself).
    Raises PayloadError with a reason code and, for schema errors, the field path.
    """
    if len(payload) > max_bytes:
        raise PayloadError("too_large", f"payload is {len(payload)} bytes, the limit is {max_bytes}")
    where = parse_topic(topic)
    if hall is not None and where.hall != hall:
        raise PayloadError("wrong_hall", f"topic is for hall {where.hall!r}, this gateway serves {hall!r}")
    adapter = payload_adapter(where.device_type, where.channel)
    if adapter is None:  # `cmd`: our own outgoing commands echoed back by a `#` subscription
        return None
    try:
        model: Payload = adapter.validate_json(payload)
    except ValidationError as exc:
        raise _payload_error(exc) from None
    fields = model.__dict__  # the validated fields (pydantic's getattr for a field a model lacks is slow)
    claimed = fields.get("device_id")
    if claimed is not None and claimed != where.device_id:
        raise PayloadError(
            "device_mismatch", f"payload says device {claimed!r}, topic says {where.device_id!r}", "device_id"
        )
    window_id = fields.get("window_id")
    if where.device_type is DeviceType.WINDOW and window_id is not None and window_id != where.device_id:
        raise PayloadError(
            "device_mismatch", f"payload says window {window_id!r}, topic says {where.device_id!r}", "window_id"
        )
    if where.device_type is DeviceType.QMS and window_id is None and isinstance(model, WINDOW_EVENTS):
        raise PayloadError("missing_field", "a qms must name the window of a window event", "window_id")
    ts: datetime | None = fields.get("ts")
    return DeviceMessage(
        hall=where.hall,
        device_type=where.device_type,
        device_id=where.device_id,
        channel=where.channel,
        at=ts if ts is not None else received_at,
        received_at=received_at,
        payload=model,
    )


def check_time(at: datetime, received_at: datetime, past_s: float, future_s: float) -> None:
    """Refuse a message whose time `at` (its `ts`) is more than `past_s` before or `future_s` after `received_at` (the
    box's clock when it came): PayloadError `implausible_time` at path `ts`.

    A device whose clock is off by a day or a century would otherwise date its tickets, and its liveness, by it: a
    1970 ticket waiting 57 years, a heartbeat from 2099 keeping a dead device alive. The window is asymmetric on
    purpose (`ingest.plausible_past_s`, `ingest.plausible_future_s`): a device legitimately sends the past when it
    replays what it queued during an outage; nothing legitimately comes from the future.
    """
    ahead = (at - received_at).total_seconds()
    if ahead > future_s:
        raise PayloadError(
            "implausible_time",
            f"{at.isoformat()} is {_span(ahead)} ahead of the gateway's clock (limit {_span(future_s)})",
            "ts",
        )
    if -ahead > past_s:
        raise PayloadError(
            "implausible_time",
            f"{at.isoformat()} is {_span(-ahead)} behind the gateway's clock (limit {_span(past_s)})",
            "ts",
        )


def _span(seconds: float) -> str:
    """A duration as people read it: `2 days, 3:00:00`, `0:05:00`."""
    return str(timedelta(seconds=round(seconds)))


def _payload_error(exc: ValidationError) -> PayloadError:
    """Map pydantic's first error to one of our reason codes, with a readable field path."""
    first = exc.errors(include_url=False)[0]
    kind = first["type"]
    loc = [str(p) for p in first["loc"]]
    # a discriminated union puts the tag first in the location: ('ticket.called', 'seq') → 'seq'
    if loc and "." in loc[0]:
        loc = loc[1:]
    path = ".".join(loc)
    msg = first["msg"]
    if kind == "json_invalid":
        return PayloadError("bad_json", msg)
    if kind in ("dict_type", "model_type", "model_attributes_type") and not path:
        return PayloadError("not_an_object", "the payload must be a JSON object")
    if kind == "union_tag_not_found":
        return PayloadError("missing_field", "every event needs a 'type'", "type")
    if kind == "union_tag_invalid" or (path == "type" and kind == "literal_error"):
        return PayloadError("unknown_event_type", msg, "type")
    if path == "v":
        return PayloadError("unsupported_version", f"{msg} (this gateway speaks contract v1)", "v")
    if kind == "missing":
        return PayloadError("missing_field", msg, path)
    # a fraction where a whole number belongs (1.5) is a JSON number: the right type, a value not allowed
    fraction = kind == "int_type" and isinstance(first.get("input"), float)
    if kind.endswith(_TYPE_ERRORS) and not fraction:
        return PayloadError("wrong_type", msg, path)
    return PayloadError("invalid_value", msg, path)


__all__ = ["DEFAULT_MAX_BYTES", "DeviceMessage", "check_time", "decode"]
