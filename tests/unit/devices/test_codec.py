"""Every kind of bad message gets its own reason code and the field path, so an installer can fix the device."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devices.codec import decode
from devices.contract import TicketIssued
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
    ("missing_field", "hall/h1/kiosk/k1/state", _bytes({"v": 1, "online": True}), ""),
]


@pytest.mark.parametrize(("reason", "topic", "payload", "path"), REJECTIONS)
def test_rejections_name_reason_and_path(reason: str, topic: str, payload: bytes, path: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode(topic, payload, NOW, hall="h1")
    if reason == "missing_field" and topic.endswith("/state"):
        # online=true without ts/seq: a model-level rule, reported as an invalid value of the whole payload
        assert err.value.reason == "invalid_value"
        assert "ts and seq are required" in err.value.detail
        return
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
