"""Every kind of bad message gets its own reason code and the field path, so an installer can fix the device."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devices.codec import MAX_DEPTH, RETIRED, decode
from devices.contract import Retirement, TicketIssued
from devices.errors import PayloadError
from devices.topics import Channel, DeviceType

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TS = "2026-11-23T09:00:00+08:00"
ISSUED = {"v": 1, "ts": TS, "seq": 1, "type": "ticket.issued", "ticket_id": "t1", "number": "A001", "service": "tax"}


def _bytes(obj: object) -> bytes:
    return json.dumps(obj).encode()


REJECTIONS = [
    ("too_large", "hall/h1/ticket_machine/tm1/evt", b"{" + b" " * 70_000 + b"}", ""),
    ("bad_topic", "hall/h1/ticket_machine/tm1", _bytes(ISSUED), ""),
    ("bad_topic", "lobby/h1/ticket_machine/tm1/evt", _bytes(ISSUED), ""),
    ("bad_topic", "hall/h1/ticket_machine/tm1/telemetry", _bytes(ISSUED), ""),
    ("unknown_device_type", "hall/h1/printer/p1/evt", _bytes(ISSUED), ""),
    ("wrong_hall", "hall/h2/ticket_machine/tm1/evt", _bytes(ISSUED), ""),
    ("bad_json", "hall/h1/ticket_machine/tm1/evt", b'{"v": 1, "ts": ', ""),
    ("not_an_object", "hall/h1/ticket_machine/tm1/evt", b"[1, 2]", ""),
    ("wrong_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ticket_id": None}), "ticket_id"),
    (
        "missing_field",
        "hall/h1/ticket_machine/tm1/evt",
        _bytes({k: v for k, v in ISSUED.items() if k != "service"}),
        "service",
    ),
    (
        "missing_field",
        "hall/h1/ticket_machine/tm1/evt",
        _bytes({k: v for k, v in ISSUED.items() if k != "type"}),
        "type",
    ),
    ("wrong_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "seq": "seven"}), "seq"),
    (
        "wrong_type",
        "hall/h1/window/W1/evt",
        _bytes({"v": 1, "ts": TS, "seq": 1, "type": "window.opened", "services": "tax"}),
        "services",
    ),
    ("invalid_value", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "channel": "vip"}), "channel"),
    ("invalid_value", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ts": "2026-11-23T09:00:00"}), "ts"),
    ("unknown_event_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "type": "ticket.printed"}), "type"),
    ("unknown_event_type", "hall/h1/kiosk/k1/evt", _bytes(ISSUED), "type"),
    ("unknown_event_type", "hall/h1/camera/c1/evt", _bytes(ISSUED), "type"),  # a device with a single event type
    ("unsupported_version", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "v": 2}), "v"),
    ("device_mismatch", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "device_id": "tm2"}), "device_id"),
    (
        "device_mismatch",
        "hall/h1/window/W1/evt",
        _bytes({"v": 1, "ts": TS, "seq": 1, "type": "window.closed", "window_id": "W2"}),
        "window_id",
    ),
    ("missing_field", "hall/h1/qms/q1/evt", _bytes({"v": 1, "ts": TS, "seq": 1, "type": "window.closed"}), "window_id"),
    # a state online without ts and seq (only a last will may omit them): the first of them is the missing field
    ("missing_field", "hall/h1/kiosk/k1/state", _bytes({"v": 1, "online": True}), "ts"),
    ("missing_field", "hall/h1/kiosk/k1/state", _bytes({"v": 1, "online": True, "ts": TS}), "seq"),
    # by JSON's types: a string that is no time is a wrong value, a boolean or a list for a time a wrong type
    ("invalid_value", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ts": "yesterday"}), "ts"),
    ("invalid_value", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ts": "2026-11-23T25:00:00+08:00"}), "ts"),
    ("wrong_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ts": True}), "ts"),
    ("wrong_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "ts": []}), "ts"),
    ("invalid_value", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "seq": 1.5}), "seq"),
    ("wrong_type", "hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "channel": 3}), "channel"),  # a number
    # a list item is named by its index, as the hall's own checks name it (`services[1]`)
    (
        "wrong_type",
        "hall/h1/window/W1/evt",
        _bytes({"v": 1, "ts": TS, "seq": 1, "type": "window.opened", "services": ["tax", 7]}),
        "services[1]",
    ),
    ("bad_json", "hall/h1/kiosk/k1/hb", b"", ""),  # empty: only a state is cleared (to retire its device)
]


@pytest.mark.parametrize(("reason", "topic", "payload", "path"), REJECTIONS)
def test_rejections_name_reason_and_path(reason: str, topic: str, payload: bytes, path: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode(topic, payload, NOW, hall="h1")
    assert (err.value.reason, err.value.path) == (reason, path)
    assert err.value.detail


def test_accepted_message_carries_its_origin_and_time() -> None:
    msg = decode("hall/h1/ticket_machine/tm1/evt", _bytes({**ISSUED, "extra": {"ignored": True}}), NOW, hall="h1")
    assert msg is not None
    assert (msg.hall, msg.device_type, msg.device_id, msg.channel, msg.type, msg.seq) == (
        "h1",
        DeviceType.TICKET_MACHINE,
        "tm1",
        Channel.EVT,
        "ticket.issued",
        1,
    )
    assert isinstance(msg.payload, TicketIssued)
    assert msg.at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_last_will_is_stamped_with_the_receive_time() -> None:
    msg = decode("hall/h1/kiosk/k1/state", b'{"v": 1, "online": false}', NOW)
    assert msg is not None and msg.at == NOW


def test_our_own_commands_are_not_ingested() -> None:
    assert decode("hall/h1/window/W1/cmd", b'{"anything": 1}', NOW) is None


def test_command_acks_are_ingested() -> None:
    msg = decode("hall/h1/window/W1/cmd/ack", _bytes({"v": 1, "ts": TS, "cmd_id": "c1", "ok": True}), NOW)
    assert msg is not None and msg.channel is Channel.CMD_ACK


def test_a_bad_key_of_an_object_is_reported_at_the_object_with_the_key_in_the_detail() -> None:
    occupancy = {"v": 1, "ts": TS, "seq": 1, "type": "occupancy", "zones": {"": 3}}
    with pytest.raises(PayloadError) as err:
        decode("hall/h1/camera/c1/evt", _bytes(occupancy), NOW, hall="h1")
    assert (err.value.reason, err.value.path) == ("invalid_value", "zones")
    assert err.value.detail.startswith("key '': ")


def test_a_hall_id_cased_otherwise_is_another_hall_and_the_detail_says_why() -> None:
    with pytest.raises(PayloadError) as err:
        decode("hall/hz-xh-01/kiosk/k1/hb", _bytes({"v": 1, "ts": TS, "seq": 1}), NOW, hall="HZ-XH-01")
    assert err.value.reason == "wrong_hall"
    assert "case-sensitive" in err.value.detail


def test_commands_are_not_device_input_whatever_the_hall() -> None:
    """On a broker shared by halls the gateway hears other gateways' commands too: ignored, not `wrong_hall`."""
    assert decode("hall/h2/window/W1/cmd", b'{"anything": 1}', NOW, hall="h1") is None


def test_an_empty_retained_state_retires_the_device() -> None:
    msg = decode("hall/h1/kiosk/k1/state", b"", NOW, hall="h1")
    assert msg is not None
    assert isinstance(msg.payload, Retirement)
    assert (msg.device_id, msg.type, msg.seq, msg.at) == ("k1", RETIRED, None, NOW)


def test_an_empty_state_for_another_hall_is_still_wrong_hall() -> None:
    with pytest.raises(PayloadError) as err:
        decode("hall/h2/kiosk/k1/state", b"", NOW, hall="h1")
    assert err.value.reason == "wrong_hall"


def _nested(levels: int) -> bytes:
    """A valid heartbeat with an unknown field holding a number inside arrays: `levels` objects and arrays deep."""
    inner = levels - 1  # the payload's own object is the first level
    return b'{"v":1,"ts":"%s","seq":1,"vendor":%s1%s}' % (TS.encode(), b"[" * inner, b"]" * inner)


def test_unknown_fields_nested_up_to_the_limit_are_accepted() -> None:
    assert decode("hall/h1/kiosk/k1/hb", _nested(MAX_DEPTH), NOW, hall="h1") is not None


def test_nesting_one_level_over_the_limit_is_too_large_and_says_so() -> None:
    """pydantic-core's JSON parser reads 200 levels and no more: a documented limit, not a mysterious bad_json."""
    with pytest.raises(PayloadError) as err:
        decode("hall/h1/kiosk/k1/hb", _nested(MAX_DEPTH + 1), NOW, hall="h1")
    assert (err.value.reason, err.value.path) == ("too_large", "")
    assert f"more than {MAX_DEPTH} levels" in err.value.detail
