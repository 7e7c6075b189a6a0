"""A simulated device answers the gateway's commands as the contract asks: ok for a command it takes, `unsupported`
for a type it does not, once per cmd_id (a re-sent copy gets the same answer), and nothing for a message it cannot
name. Every answer is a valid `cmd/ack` under the contract."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from devices.codec import decode
from devices.simulator.acks import ANSWERS_KEPT, Acknowledger
from devices.topics import DeviceType

NOON = datetime(2025, 1, 13, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TS = "2025-01-13T11:59:58+08:00"


def command(cmd_id: object = "c-1", **fields: object) -> bytes:
    return json.dumps({"v": 1, "ts": TS, "cmd_id": cmd_id, **fields}).encode()


@pytest.mark.parametrize(
    ("device_type", "payload", "answer"),
    [
        (DeviceType.CALL_SCREEN, command(type="call.announce", number="A023", window_id="W01"), {"ok": True}),
        (DeviceType.CALL_SCREEN, command(type="message.show", text="系统维护"), {"ok": True}),
        (DeviceType.CALL_SCREEN, command(type="restart"), {"ok": True}),  # a blank screen's player restarted
        (DeviceType.CALL_SCREEN, command(type="self_test"), {"ok": False, "error": "unsupported"}),
        (DeviceType.KIOSK, command(type="restart"), {"ok": True}),
        (DeviceType.WINDOW, command(type="nudge", waiting=3), {"ok": True}),
        (DeviceType.WINDOW, command(type="nudge", waiting="3"), {"ok": False, "error": "invalid"}),
        (DeviceType.QMS, command(type="window.assign", window_id="W9", services=["SB"]), {"ok": True}),
        (DeviceType.CAMERA, command(type="restart"), {"ok": False, "error": "unsupported"}),
    ],
    ids=[
        "announce",
        "message",
        "screen-restart",
        "screen-self-test",
        "kiosk-restart",
        "nudge",
        "nudge-mistyped",
        "assign",
        "camera",
    ],
)
def test_a_device_answers_what_it_takes_and_refuses_what_it_does_not(
    device_type: DeviceType, payload: bytes, answer: dict[str, object]
) -> None:
    sent = Acknowledger(device_type).answer(payload, NOON)
    assert sent is not None
    assert json.loads(sent) == {"v": 1, "ts": NOON.isoformat(), "cmd_id": "c-1", **answer}
    heard = decode(f"hall/h1/{device_type.value}/D1/cmd/ack", sent, NOON)  # what the gateway makes of it
    assert heard is not None and getattr(heard.payload, "cmd_id", None) == "c-1"


@pytest.mark.parametrize(
    "payload", [b"{broken", b"[1]", command(None, type="restart"), command("", type="restart")], ids=str
)
def test_a_message_without_a_cmd_id_is_not_answered(payload: bytes) -> None:
    assert Acknowledger(DeviceType.KIOSK).answer(payload, NOON) is None


def test_a_repeated_delivery_gets_the_same_answer_and_memory_is_bounded() -> None:
    kiosk = Acknowledger(DeviceType.KIOSK)
    first = kiosk.answer(command(type="restart"), NOON)
    later = NOON.replace(minute=5)
    assert kiosk.answer(command(type="restart"), later) == first  # answered again, not carried out again
    for n in range(ANSWERS_KEPT):
        kiosk.answer(command(f"x-{n}", type="self_test"), later)
    again = kiosk.answer(command(type="restart"), later)  # forgotten: a new answer (the gateway gave up long ago)
    assert again is not None and json.loads(again)["ts"] == later.isoformat()
