"""The simulator obeys the gateway: a tidal-window approval (潮汐窗口) or an AB cover assigns a window on the simulated
floor (opens it, changes its services, or moves the named staff member there).

`_Orders` turns the gateway's commands into `WindowCommand`s for the next simulated minute; anything it does not
understand is ignored, so a stray or broken command never stops a simulation.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from devices.simulator.model import WindowCommand
from devices.simulator.publisher import _Orders

NOON = datetime(2025, 1, 13, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
QMS = "hall/h1/qms/QMS-1/cmd"
ASSIGN = {
    "v": 1,
    "type": "window.assign",
    "ts": "2025-01-13T11:59:30+08:00",
    "cmd_id": "c-17",
    "window_id": "W7",
    "services": ["SB01", "YB02"],
    "staff_id": "S-042",
}
NUDGE = {"v": 1, "type": "nudge", "ts": "2025-01-13T11:59:30+08:00", "cmd_id": "c-18", "waiting": 14}


def orders_after(*messages: tuple[str, bytes]) -> list[WindowCommand]:
    orders = _Orders("h1")
    for topic, payload in messages:
        orders.take(topic, payload)
    return orders(NOON)


def body(base: dict[str, object], **changes: object) -> bytes:
    return json.dumps({**base, **changes}).encode()


def test_a_window_assign_to_the_qms_assigns_that_window_its_services_and_staff() -> None:
    assert orders_after((QMS, body(ASSIGN))) == [WindowCommand("assign", "W7", ("SB01", "YB02"), "S-042")]


@pytest.mark.parametrize(
    ("changes", "command"),
    [
        ({"staff_id": None}, WindowCommand("assign", "W7", ("SB01", "YB02"))),
        ({"staff_id": 42}, WindowCommand("assign", "W7", ("SB01", "YB02"))),  # not an id: the window's own staff
        ({"services": []}, WindowCommand("assign", "W7", (), "S-042")),  # the window's configured services
        ({"services": None}, WindowCommand("assign", "W7", (), "S-042")),
    ],
    ids=["no-staff", "staff-not-a-string", "no-services", "services-null"],
)
def test_a_window_assign_without_staff_or_services_leaves_them_to_the_window(
    changes: dict[str, object], command: WindowCommand
) -> None:
    assert orders_after((QMS, body(ASSIGN, **changes))) == [command]


@pytest.mark.parametrize("window_id", [None, 7, ["W7"]], ids=["missing", "number", "list"])
def test_a_window_assign_without_a_window_id_is_ignored(window_id: object) -> None:
    assert orders_after((QMS, body(ASSIGN, window_id=window_id))) == []


def test_a_nudge_to_a_window_terminal_opens_that_window() -> None:
    assert orders_after(("hall/h1/window/W3/cmd", body(NUDGE))) == [WindowCommand("open", "W3")]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("hall/h1/call_screen/CS-1/cmd", body(NUDGE)),  # a nudge to a device that is not a window
        ("hall/h1/qms/QMS-1/cmd", body(NUDGE)),
        ("hall/h1/window/W3/cmd", body(NUDGE, type="recall", ticket_id="A023")),  # another command
        ("hall/h1/window/W3/cmd", b"{not json"),
        ("hall/h1/window/W3/cmd", b"\xff\xfe\x00"),  # not even UTF-8
        ("hall/h1/window/W3/cmd", b""),
        ("hall/h1/window/W3/cmd", b'["nudge"]'),  # valid JSON, not an object
        ("hall/h1/window/W3/cmd", b'"nudge"'),
        (QMS, b"null"),
        ("hall/h1/window/cmd", body(NUDGE)),  # too short to name a device
        ("hall/h1/window/W3", body(NUDGE)),
        ("hall/h1/window/W3/cmd/extra", body(NUDGE)),  # too long
        ("hall/h1/qms/cmd", body(ASSIGN)),
    ],
    ids=[
        "nudge-to-call-screen",
        "nudge-to-qms",
        "other-command",
        "garbage-json",
        "not-utf8",
        "empty",
        "json-array",
        "json-string",
        "json-null",
        "short-topic",
        "no-cmd-segment",
        "long-topic",
        "assign-on-short-topic",
    ],
)
def test_a_message_that_is_not_an_order_is_ignored(topic: str, payload: bytes) -> None:
    assert orders_after((topic, payload)) == []


def test_orders_are_handed_over_once_in_arrival_order() -> None:
    orders = _Orders("h1")
    orders.take(QMS, body(ASSIGN))
    orders.take("hall/h1/window/W3/cmd", b"{broken")
    orders.take("hall/h1/window/W3/cmd", body(NUDGE))
    assert orders(NOON) == [WindowCommand("assign", "W7", ("SB01", "YB02"), "S-042"), WindowCommand("open", "W3")]
    assert orders(NOON) == []
    orders.take("hall/h1/window/W9/cmd", body(NUDGE))
    assert orders(NOON) == [WindowCommand("open", "W9")]


def test_a_command_sent_again_with_the_same_cmd_id_is_carried_out_once() -> None:
    """The gateway re-sends a command whose acknowledgement it did not hear; the staff open the window once."""
    assert orders_after((QMS, body(ASSIGN)), (QMS, body(ASSIGN))) == [
        WindowCommand("assign", "W7", ("SB01", "YB02"), "S-042")
    ]


def test_a_window_assign_with_services_that_are_not_a_list_is_ignored() -> None:
    assert orders_after((QMS, body(ASSIGN, services=5))) == []
