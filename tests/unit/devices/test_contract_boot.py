"""The envelope's optional `boot` (docs/contract.md, "Counter epochs"): which run of its `seq` counter a message
belongs to. Accepted on every kind of message a device numbers — events, states, heartbeats — and refused with the
contract's reason code when it is not a string of 1–64 characters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devices.codec import decode
from devices.errors import PayloadError

NOW = datetime(2024, 5, 6, 1, 30, tzinfo=UTC)
BODIES = {
    "evt": {"type": "ticket.called", "ticket_id": "T-1"},
    "state": {"online": True},
    "hb": {"uptime_s": 12},
}


def message(channel: str, **fields: object) -> bytes:
    return json.dumps({"v": 1, "ts": "2024-05-06T09:30:05+08:00", "seq": 3, **BODIES[channel], **fields}).encode()


@pytest.mark.parametrize("channel", list(BODIES))
def test_a_message_names_its_counter_epoch_or_leaves_it_out(channel: str) -> None:
    named = decode(f"hall/h1/window/W1/{channel}", message(channel, boot="2024-05-06T09:29:58+08:00#4711"), NOW)
    plain = decode(f"hall/h1/window/W1/{channel}", message(channel), NOW)
    assert named is not None and plain is not None
    assert named.payload.__dict__["boot"] == "2024-05-06T09:29:58+08:00#4711"
    assert plain.payload.__dict__["boot"] is None


@pytest.mark.parametrize("channel", list(BODIES))
@pytest.mark.parametrize(
    ("boot", "reason"),
    [("", "invalid_value"), ("b" * 65, "invalid_value"), (7, "wrong_type"), (True, "wrong_type"), ([1], "wrong_type")],
)
def test_a_boot_that_is_not_a_short_string_is_refused(channel: str, boot: object, reason: str) -> None:
    with pytest.raises(PayloadError) as refused:
        decode(f"hall/h1/window/W1/{channel}", message(channel, boot=boot), NOW)
    assert (refused.value.reason, refused.value.path) == (reason, "boot")
