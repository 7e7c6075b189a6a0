"""Decoding one MQTT message into a validated `DeviceMessage`, or a `PayloadError` with a reason code.

Pure: no I/O, no clock (the receive time is passed in). This is the only place that turns bytes into contract
objects, so the gateway, the backtest and the tests all reject exactly the same messages for the same reasons.

Reason codes (stable: counter labels, dead letters, and the table in docs/contract.md, whose examples are a test —
tests/unit/devices/test_reason_table.py reads the lists below):

- of the message alone (`decode`, and `devices.mapping.translate` before it for a vendor's topic): `too_large`,
  `bad_topic`, `unknown_device_type`, `wrong_hall`, `bad_json`, `not_an_object`, `missing_field`, `wrong_type`,
  `invalid_value`, `unknown_event_type`, `unsupported_version`, `device_mismatch`, `vendor_mapping`;
- of its time (`check_time`, against the box's clock): `implausible_time`;
- of this hall (`rules.hall.HallState.admit`; these and the last are listed here so that every code is in one
  place): `unknown_window`, `unknown_service`, `unknown_device` (the configuration lists that kind and not this
  one), `entity_cap` (it would make the hall learn more windows, services, zones or devices than the configured
  cap), `out_of_scope` (the device changes what is not its own: `rules.hall.scope`);
- of the gateway (`edge.gateway`, counting each device's messages): `rate_limited`.

What is a wrong type and what a wrong value goes by JSON's types: a value of another JSON type than the field's is
`wrong_type` (`"5"` for a number, `true` for a time); a value of the field's JSON type that the field does not take
is `invalid_value` (`1.5` for a whole number, `"yesterday"` for a time, `"vip"` for a ticket channel).

An empty payload on a `state` topic is no error: clearing a device's retained state is how it is retired, and the
message decodes to a `Retirement` (docs/contract.md, "Retiring a device").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from devices.contract import WINDOW_EVENTS, Payload, Retirement, payload_adapter
from devices.errors import PayloadError
from devices.topics import Channel, DeviceType, parse_topic

DEFAULT_MAX_BYTES = 64 * 1024
MAX_DEPTH = 200  # objects and arrays nested in one another: pydantic-core's JSON parser reads no deeper (`too_large`)
RETIRED = "retired"  # the type of a retirement (an emptied retained state), as the event log keeps it

_NOT_OBJECT = ("dict_type", "model_type", "model_attributes_type")
_STRING_CHOICES = ("enum", "literal_error")  # a field taking one of some strings


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
        """The event type for `evt`, `retired` for a retirement, else the channel name (`state`, `hb`, `cmd/ack`)."""
        if self.channel is Channel.EVT:
            return str(getattr(self.payload, "type", ""))
        if self.channel is Channel.STATE and isinstance(self.payload, Retirement):
            return RETIRED
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

    Returns None for messages that are not device input: commands (`cmd`), the gateway's own echoed back by its
    subscription or, on a broker shared by halls, another gateway's. An empty payload on a `state` topic is a
    `Retirement`. Raises PayloadError with a reason code and, for schema errors, the field path.
    """
    if len(payload) > max_bytes:
        raise PayloadError("too_large", f"payload is {len(payload)} bytes, the limit is {max_bytes}")
    where = parse_topic(topic)
    adapter = payload_adapter(where.device_type, where.channel)
    if adapter is None:
        return None
    if hall is not None and where.hall != hall:
        raise PayloadError("wrong_hall", _other_hall(where.hall, hall))
    if not payload:
        if where.channel is Channel.STATE:  # the retained state cleared: the device is retired
            return DeviceMessage(
                where.hall, where.device_type, where.device_id, where.channel, received_at, received_at, Retirement()
            )
        raise PayloadError("bad_json", "the payload is empty (only a device's retained state is cleared, to retire it)")
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


def _other_hall(found: str, ours: str) -> str:
    detail = f"topic is for hall {found!r}, this gateway serves {ours!r}"
    if found.casefold() == ours.casefold():
        detail += " (hall ids are case-sensitive)"
    return detail


def _payload_error(exc: ValidationError) -> PayloadError:
    """Map pydantic's first error to one of our reason codes, with a readable field path (`services[1]`, `zones.A`)."""
    first = exc.errors(include_url=False)[0]
    kind = first["type"]
    msg = first["msg"]
    loc = list(first["loc"])
    # a discriminated union puts the tag first in the location: ('ticket.called', 'seq') → 'seq'
    if loc and isinstance(loc[0], str) and "." in loc[0]:
        loc = loc[1:]
    if len(loc) >= 2 and loc[-1] == "[key]":  # a key of an object is wrong: the object's path, the key in the detail
        msg = f"key {loc[-2]!r}: {msg}"
        loc = loc[:-2]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if kind == "json_invalid":  # no JSON; or valid JSON, maybe, but deeper than the parser goes
        too_deep = "recursion limit" in msg
        detail = f"objects and arrays are nested more than {MAX_DEPTH} levels deep" if too_deep else msg
        return PayloadError("too_large" if too_deep else "bad_json", detail)
    if kind in _NOT_OBJECT and not path:
        return PayloadError("not_an_object", "the payload must be a JSON object")
    if kind == "union_tag_not_found":
        return PayloadError("missing_field", "every event needs a 'type'", "type")
    if kind == "union_tag_invalid" or (path == "type" and kind == "literal_error"):
        return PayloadError("unknown_event_type", msg, "type")
    if path == "v":
        return PayloadError("unsupported_version", f"{msg} (this gateway speaks contract v1)", "v")
    if kind == "missing":
        return PayloadError("missing_field", msg, path)
    given = first.get("input")
    # by JSON's types: a fraction where a whole number belongs (1.5) is a number, a value not allowed; a string that
    # is no time ("yesterday": a `*_parsing` error) is a string, a value not allowed; a number or null where one of
    # some strings belongs is of the wrong type
    fraction = kind == "int_type" and isinstance(given, float)
    if (kind.endswith("_type") and not fraction) or (kind in _STRING_CHOICES and not isinstance(given, str)):
        return PayloadError("wrong_type", msg, path)
    return PayloadError("invalid_value", msg, path)


__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "RETIRED", "DeviceMessage", "check_time", "decode"]
