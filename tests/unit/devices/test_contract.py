"""The payload models of contract v1: what a device may send and what the gateway rejects.

Table-driven: one valid example per event type per device type (qms included), then invalid variants. The
coverage tests fail when an event or command is added to the contract without an example here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from devices.contract import (
    COMMANDS_BY_DEVICE,
    EVENTS_BY_DEVICE,
    STATE_BY_DEVICE,
    WINDOW_EVENTS,
    CommandAck,
    Heartbeat,
    Occupancy,
    TicketIssued,
    WindowTerminalState,
    command_adapter,
    event_type,
    payload_adapter,
    payload_time,
)
from devices.topics import Channel, DeviceType

TS = "2024-05-06T09:30:05+08:00"
D = DeviceType


def env(**fields: Any) -> dict[str, Any]:
    """A payload with the envelope every message carries."""
    return {"v": 1, "ts": TS, "seq": 7, **fields}


# ------------------------------------------------------------------------------------------ valid events

TICKET_EXAMPLES: list[dict[str, Any]] = [
    env(
        type="ticket.issued",
        ticket_id="T-20240506-0023",
        number="A023",
        service="HJ01",
        channel="appointment",
        appointment_id="AP-77",
    ),
    env(type="ticket.cancelled", ticket_id="T-20240506-0023", reason="left"),
    env(type="ticket.reactivated", ticket_id="T-20240506-0023", reason="missed", service="HJ01"),
    env(
        type="appointment.checked_in",
        appointment_id="AP-77",
        service="HJ01",
        slot="2024-05-06T09:30:00+08:00",
        ticket_id="T-20240506-0023",
    ),
    env(type="appointment.booked", appointment_id="AP-77", service="HJ01", slot="2024-05-06T09:30:00+08:00"),
    env(type="appointment.cancelled", appointment_id="AP-77", reason="by_person"),
]
WINDOW_EXAMPLES: list[dict[str, Any]] = [
    env(type="window.opened", staff_id="S-12", services=["HJ01", "SB02"]),
    env(type="window.closed", reason="end of shift"),
    env(type="window.paused", reason="break"),
    env(type="window.resumed"),
    env(type="ticket.called", ticket_id="T-1", attempt=2),
    env(type="service.started", ticket_id="T-1"),
    env(type="service.completed", ticket_id="T-1", outcome="accepted", duration_s=312.5),
    env(type="ticket.no_show", ticket_id="T-1", attempt=3),
    env(type="ticket.transferred", ticket_id="T-1", to_service="SB02"),
]
VALID_EVENTS: list[tuple[DeviceType, dict[str, Any]]] = [
    *((D.TICKET_MACHINE, p) for p in TICKET_EXAMPLES),
    *((D.WINDOW, {**p, "window_id": "W01"}) for p in WINDOW_EXAMPLES),
    (D.CALL_SCREEN, env(type="display.error", code="no_signal")),
    (
        D.KIOSK,
        env(type="kiosk.session", service="HJ01", outcome="handed_to_window", duration_s=95, step="upload"),
    ),
    (D.KIOSK, env(type="kiosk.error", code="E-PRN-03", step="print")),
    (D.KIOSK, env(type="kiosk.help_requested", step="identity")),
    (D.EVALUATOR, env(type="rating.submitted", window_id="W01", ticket_id="T-1", score=5)),
    (D.EVALUATOR, env(type="rating.skipped", window_id="W01")),
    (D.CAMERA, env(type="occupancy", zones={"queue-A": 12, "waiting": 40}, staff_present={"W01": True})),
    # the queue system reporting centrally sends the same events, naming the window
    *((D.QMS, p) for p in TICKET_EXAMPLES),
    *((D.QMS, {**p, "window_id": "W07"}) for p in WINDOW_EXAMPLES),
]


def _event_id(case: tuple[DeviceType, dict[str, Any]]) -> str:
    return f"{case[0]}:{case[1]['type']}"


def validate(device: DeviceType, channel: Channel, payload: dict[str, Any]) -> Any:
    adapter = payload_adapter(device, channel)
    assert adapter is not None
    return adapter.validate_python(payload)


def errors(device: DeviceType, channel: Channel, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(pydantic error type, last element of its location) for every problem found."""
    with pytest.raises(ValidationError) as caught:
        validate(device, channel, payload)
    return [(e["type"], str(e["loc"][-1]) if e["loc"] else "") for e in caught.value.errors()]


@pytest.mark.parametrize("case", VALID_EVENTS, ids=_event_id)
def test_every_event_example_validates_to_its_model(case: tuple[DeviceType, dict[str, Any]]) -> None:
    device, payload = case
    event = validate(device, Channel.EVT, payload)
    assert event.type == payload["type"]
    assert event_type(type(event)) == payload["type"]
    assert event.ts == datetime(2024, 5, 6, 1, 30, 5, tzinfo=UTC)
    assert event.seq == 7


@pytest.mark.parametrize("device", list(DeviceType))
def test_every_event_of_every_device_type_has_an_example(device: DeviceType) -> None:
    contract = {event_type(m) for m in EVENTS_BY_DEVICE[device]}
    examples = {p["type"] for d, p in VALID_EVENTS if d is device}
    assert examples == contract, "add an example to VALID_EVENTS for every new event (and fix stale ones)"


def test_examples_use_the_documented_values() -> None:
    issued = validate(D.TICKET_MACHINE, Channel.EVT, TICKET_EXAMPLES[0])
    assert isinstance(issued, TicketIssued)
    assert issued.channel == "appointment"
    opened = validate(D.WINDOW, Channel.EVT, {**WINDOW_EXAMPLES[0], "window_id": "W01"})
    assert opened.services == ("HJ01", "SB02")
    counts = validate(D.CAMERA, Channel.EVT, next(p for d, p in VALID_EVENTS if d is D.CAMERA))
    assert isinstance(counts, Occupancy)
    assert counts.zones == {"queue-A": 12, "waiting": 40}


def test_optional_fields_take_their_contract_defaults() -> None:
    issued = validate(
        D.TICKET_MACHINE,
        Channel.EVT,
        env(type="ticket.issued", ticket_id="T-2", number="A024", service="HJ01"),
    )
    assert issued.channel == "walk_in"
    assert issued.appointment_id is None
    called = validate(D.WINDOW, Channel.EVT, env(type="ticket.called", ticket_id="T-2"))
    assert called.attempt == 1
    assert called.window_id is None  # the gateway takes the window from the topic
    completed = validate(D.WINDOW, Channel.EVT, env(type="service.completed", ticket_id="T-2"))
    assert completed.outcome == "done"


# ------------------------------------------------------------------------------------------ invalid events

ISSUED = TICKET_EXAMPLES[0]


def without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


INVALID_EVENTS: list[tuple[str, DeviceType, dict[str, Any], tuple[str, str]]] = [
    # (case, device, payload, (pydantic error type, field))
    ("missing number", D.TICKET_MACHINE, without(ISSUED, "number"), ("missing", "number")),
    ("missing ts", D.TICKET_MACHINE, without(ISSUED, "ts"), ("missing", "ts")),
    ("missing seq", D.TICKET_MACHINE, without(ISSUED, "seq"), ("missing", "seq")),
    ("missing v", D.TICKET_MACHINE, without(ISSUED, "v"), ("missing", "v")),
    ("missing type", D.TICKET_MACHINE, without(ISSUED, "type"), ("union_tag_not_found", "")),
    ("ticket_id is a number", D.TICKET_MACHINE, {**ISSUED, "ticket_id": 23}, ("string_type", "ticket_id")),
    ("empty ticket_id", D.TICKET_MACHINE, {**ISSUED, "ticket_id": ""}, ("string_too_short", "ticket_id")),
    ("unknown ticket channel", D.TICKET_MACHINE, {**ISSUED, "channel": "vip"}, ("enum", "channel")),
    ("v is 2", D.TICKET_MACHINE, {**ISSUED, "v": 2}, ("literal_error", "v")),
    ("v is a string", D.TICKET_MACHINE, {**ISSUED, "v": "1"}, ("literal_error", "v")),
    ("naive ts", D.TICKET_MACHINE, {**ISSUED, "ts": "2024-05-06T09:30:05"}, ("timezone_aware", "ts")),
    (
        "ts is not a time",
        D.TICKET_MACHINE,
        {**ISSUED, "ts": "yesterday"},
        ("datetime_from_date_parsing", "ts"),
    ),
    ("negative seq", D.TICKET_MACHINE, {**ISSUED, "seq": -1}, ("greater_than_equal", "seq")),
    (
        "booking without a slot",
        D.TICKET_MACHINE,
        {**ISSUED, "type": "appointment.booked", "appointment_id": "AP-1"},
        ("missing", "slot"),
    ),
    (
        "booking slot not a time",
        D.TICKET_MACHINE,
        {**ISSUED, "type": "appointment.booked", "appointment_id": "AP-1", "slot": "tomorrow morning"},
        ("datetime_from_date_parsing", "slot"),
    ),
    (
        "booking slot of 0 minutes",
        D.TICKET_MACHINE,
        {
            **ISSUED,
            "type": "appointment.booked",
            "appointment_id": "AP-1",
            "slot": "2024-05-06T09:30:00+08:00",
            "slot_min": 0,
        },
        ("greater_than_equal", "slot_min"),
    ),
    (
        "booking slot_min as text",
        D.TICKET_MACHINE,
        {
            **ISSUED,
            "type": "appointment.booked",
            "appointment_id": "AP-1",
            "slot": "2024-05-06T09:30:00+08:00",
            "slot_min": "30",
        },
        ("int_type", "slot_min"),
    ),
    (
        "unknown event type",
        D.TICKET_MACHINE,
        {**ISSUED, "type": "ticket.printed"},
        ("union_tag_invalid", ""),
    ),
    (
        "window event from a ticket machine",
        D.TICKET_MACHINE,
        env(type="window.opened"),
        ("union_tag_invalid", ""),
    ),
    (
        "services is a string",
        D.WINDOW,
        env(type="window.opened", services="HJ01"),
        ("tuple_type", "services"),
    ),
    (
        "attempt 0",
        D.WINDOW,
        env(type="ticket.called", ticket_id="T-1", attempt=0),
        ("greater_than_equal", "attempt"),
    ),
    (
        "unknown service outcome",
        D.WINDOW,
        env(type="service.completed", ticket_id="T-1", outcome="maybe"),
        ("enum", "outcome"),
    ),
    (
        "transfer without target",
        D.WINDOW,
        env(type="ticket.transferred", ticket_id="T-1"),
        ("missing", "to_service"),
    ),
    ("unknown display code", D.CALL_SCREEN, env(type="display.error", code="smoke"), ("enum", "code")),
    ("call screen unknown type", D.CALL_SCREEN, env(type="display.ok"), ("literal_error", "type")),
    ("session without outcome", D.KIOSK, env(type="kiosk.session", duration_s=3), ("missing", "outcome")),
    (
        "negative session duration",
        D.KIOSK,
        env(type="kiosk.session", outcome="success", duration_s=-1),
        ("greater_than_equal", "duration_s"),
    ),
    (
        "score 6",
        D.EVALUATOR,
        env(type="rating.submitted", window_id="W01", score=6),
        ("less_than_equal", "score"),
    ),
    (
        "score 0",
        D.EVALUATOR,
        env(type="rating.submitted", window_id="W01", score=0),
        ("greater_than_equal", "score"),
    ),
    (
        "score is a word",
        D.EVALUATOR,
        env(type="rating.submitted", window_id="W01", score="good"),
        ("int_type", "score"),
    ),
    ("rating without window", D.EVALUATOR, env(type="rating.skipped"), ("missing", "window_id")),
    ("zones is a list", D.CAMERA, env(type="occupancy", zones=[1, 2]), ("dict_type", "zones")),
    (
        "negative count",
        D.CAMERA,
        env(type="occupancy", zones={"queue-A": -1}),
        ("greater_than_equal", "queue-A"),
    ),
    (
        "staff presence is a word",
        D.CAMERA,
        env(type="occupancy", staff_present={"W01": "maybe"}),
        ("bool_type", "W01"),
    ),
    # issue 17: a value of the wrong JSON type is refused, never coerced — "5" is not 5, true is not 1, "yes" not true
    (
        "score is a numeric string",
        D.EVALUATOR,
        env(type="rating.submitted", window_id="W01", score="5"),
        ("int_type", "score"),
    ),
    ("seq is a string", D.EVALUATOR, {**env(type="rating.skipped", window_id="W01"), "seq": "5"}, ("int_type", "seq")),
    (
        "seq is a boolean",
        D.EVALUATOR,
        {**env(type="rating.skipped", window_id="W01"), "seq": True},
        ("int_type", "seq"),
    ),
    ("count is a numeric string", D.CAMERA, env(type="occupancy", zones={"queue-A": "3"}), ("int_type", "queue-A")),
    ("staff presence is yes", D.CAMERA, env(type="occupancy", staff_present={"W01": "yes"}), ("bool_type", "W01")),
]


@pytest.mark.parametrize(
    ("device", "payload", "expected"), [c[1:] for c in INVALID_EVENTS], ids=[c[0] for c in INVALID_EVENTS]
)
def test_invalid_events_are_rejected_with_the_field(
    device: DeviceType, payload: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in errors(device, Channel.EVT, payload)


def test_a_json_array_is_not_an_event() -> None:
    adapter = payload_adapter(D.WINDOW, Channel.EVT)
    assert adapter is not None
    with pytest.raises(ValidationError):
        adapter.validate_json(b"[1, 2]")


def test_unknown_extra_fields_are_ignored() -> None:
    event = validate(D.TICKET_MACHINE, Channel.EVT, {**ISSUED, "vendor_blob": {"x": 1}, "printer_temp": 41})
    assert event == validate(D.TICKET_MACHINE, Channel.EVT, ISSUED)
    assert not hasattr(event, "vendor_blob")


def test_the_timestamp_offset_is_kept_as_an_instant() -> None:
    event = validate(D.TICKET_MACHINE, Channel.EVT, {**ISSUED, "ts": "2024-05-06T01:30:05Z"})
    assert event.ts == validate(D.TICKET_MACHINE, Channel.EVT, ISSUED).ts


# ------------------------------------------------------------------------------------------ state

VALID_STATES: list[tuple[DeviceType, dict[str, Any]]] = [
    (
        D.TICKET_MACHINE,
        env(online=True, printer="paper_low", paper_pct=12, quota={"HJ01": 40}, location="1F-A-01"),
    ),
    (D.WINDOW, env(online=True, firmware="2.3.1")),
    (D.CALL_SCREEN, env(online=True, display="stale", content_version="c-88")),
    (D.KIOSK, env(online=True, printer="jam", paper_pct=60, app_version="5.1", error_code="PRN-JAM")),
    (D.EVALUATOR, env(online=True, battery_pct=80)),
    (D.CAMERA, env(online=True, fps=1.0, last_frame_age_s=0.4)),
    (D.QMS, env(online=True)),
]


@pytest.mark.parametrize("case", VALID_STATES, ids=lambda c: str(c[0]))
def test_every_device_state_validates(case: tuple[DeviceType, dict[str, Any]]) -> None:
    device, payload = case
    state = validate(device, Channel.STATE, payload)
    assert isinstance(state, STATE_BY_DEVICE[device])
    assert state.online is True


def test_every_device_type_has_a_state_example() -> None:
    assert {d for d, _ in VALID_STATES} == set(STATE_BY_DEVICE) == set(DeviceType)


@pytest.mark.parametrize("device", list(DeviceType))
def test_the_last_will_is_accepted_for_every_device_type(device: DeviceType) -> None:
    will = validate(device, Channel.STATE, {"v": 1, "online": False})
    assert will.online is False
    assert will.ts is None
    received = datetime(2024, 5, 6, 1, 31, tzinfo=UTC)
    assert payload_time(will, received) == received


@pytest.mark.parametrize(
    ("case", "payload", "expected"),
    [
        ("online without ts or seq", {"v": 1, "online": True}, ("missing", "ts")),
        ("online without seq", {"v": 1, "online": True, "ts": TS}, ("missing", "seq")),
        ("no online flag", env(), ("missing", "online")),
        ("bad version", {"v": 2, "online": False}, ("literal_error", "v")),
        ("unknown printer status", env(online=True, printer="smoking"), ("enum", "printer")),
        ("paper over 100 %", env(online=True, paper_pct=101), ("less_than_equal", "paper_pct")),
        ("naive ts", env(online=True, ts="2024-05-06 09:30:05"), ("timezone_aware", "ts")),
    ],
)
def test_invalid_states_are_rejected(case: str, payload: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in errors(D.TICKET_MACHINE, Channel.STATE, payload), case


def test_a_state_says_when_it_happened() -> None:
    state = validate(D.WINDOW, Channel.STATE, env(online=True))
    assert isinstance(state, WindowTerminalState)
    assert payload_time(state, datetime(2030, 1, 1, tzinfo=UTC)) == datetime(
        2024, 5, 6, 9, 30, 5, tzinfo=timezone(timedelta(hours=8))
    )


# ------------------------------------------------------------------------------------------ heartbeats


@pytest.mark.parametrize("device", list(DeviceType))
def test_heartbeats_are_the_envelope_with_optional_uptime(device: DeviceType) -> None:
    beat = validate(device, Channel.HB, env(uptime_s=3600))
    assert isinstance(beat, Heartbeat)
    assert beat.uptime_s == 3600
    assert validate(device, Channel.HB, env()).uptime_s is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (without(env(), "seq"), ("missing", "seq")),
        ({"v": 1, "online": False}, ("missing", "ts")),
        (env(uptime_s=-5), ("greater_than_equal", "uptime_s")),
    ],
)
def test_invalid_heartbeats_are_rejected(payload: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in errors(D.KIOSK, Channel.HB, payload)


# ------------------------------------------------------------------------------------------ commands and acks

CMD = {"ts": TS, "cmd_id": "c-0001"}
VALID_COMMANDS: list[tuple[DeviceType, dict[str, Any]]] = [
    (D.WINDOW, {**CMD, "type": "nudge", "waiting": 6, "message": "6 people are waiting for HJ01"}),
    (D.WINDOW, {**CMD, "type": "recall", "ticket_id": "T-1"}),
    (D.QMS, {**CMD, "type": "window.assign", "window_id": "W09", "services": ["HJ01"], "staff_id": "S-3"}),
    (D.QMS, {**CMD, "type": "ticket.reactivate", "ticket_id": "T-1"}),
    (D.CALL_SCREEN, {**CMD, "type": "call.announce", "number": "A023", "window_id": "W01"}),
    (D.CALL_SCREEN, {**CMD, "type": "message.show", "text": "系统维护中", "seconds": 60}),
    (D.KIOSK, {**CMD, "type": "restart"}),
    (D.CALL_SCREEN, {**CMD, "type": "restart"}),
    (D.KIOSK, {**CMD, "type": "self_test"}),
    (D.TICKET_MACHINE, {**CMD, "type": "quota.set", "service": "HJ01", "remaining": 0}),
]


@pytest.mark.parametrize("case", VALID_COMMANDS, ids=lambda c: f"{c[0]}:{c[1]['type']}")
def test_every_command_validates(case: tuple[DeviceType, dict[str, Any]]) -> None:
    device, payload = case
    adapter = command_adapter(device)
    assert adapter is not None
    command = adapter.validate_python(payload)
    assert command.type == payload["type"]
    assert command.v == 1  # the gateway always sends the version, even where the builder left it out
    assert command.cmd_id == "c-0001"


def test_every_command_of_every_device_type_has_an_example() -> None:
    for device in DeviceType:
        contract = {m.model_fields["type"].default for m in COMMANDS_BY_DEVICE.get(device, ())}
        assert {p["type"] for d, p in VALID_COMMANDS if d is device} == contract, device


@pytest.mark.parametrize("device", [D.EVALUATOR, D.CAMERA])
def test_devices_without_commands_have_no_command_validator(device: DeviceType) -> None:
    assert command_adapter(device) is None
    assert payload_adapter(device, Channel.CMD) is None


@pytest.mark.parametrize(
    ("case", "device", "payload", "expected"),
    [
        ("no cmd_id", D.WINDOW, {"ts": TS, "type": "recall", "ticket_id": "T-1"}, ("missing", "cmd_id")),
        ("a kiosk command sent to a window", D.WINDOW, {**CMD, "type": "restart"}, ("union_tag_invalid", "")),
        ("nudge without count", D.WINDOW, {**CMD, "type": "nudge"}, ("missing", "waiting")),
        (
            "message for 2 hours",
            D.CALL_SCREEN,
            {**CMD, "type": "message.show", "text": "x", "seconds": 7200},
            ("less_than_equal", "seconds"),
        ),
        (
            "wrong quota type",
            D.TICKET_MACHINE,
            {**CMD, "type": "quota.set", "service": "HJ01", "remaining": "all"},
            ("int_type", "remaining"),
        ),
    ],
)
def test_invalid_commands_are_rejected(
    case: str, device: DeviceType, payload: dict[str, Any], expected: tuple[str, str]
) -> None:
    adapter = command_adapter(device)
    assert adapter is not None
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(payload)
    assert expected in [(e["type"], str(e["loc"][-1]) if e["loc"] else "") for e in caught.value.errors()], case


@pytest.mark.parametrize("device", list(COMMANDS_BY_DEVICE))
def test_acks_answer_a_command_by_id(device: DeviceType) -> None:
    ok = validate(device, Channel.CMD_ACK, {"v": 1, "ts": TS, "cmd_id": "c-0001", "ok": True})
    assert isinstance(ok, CommandAck)
    assert (ok.cmd_id, ok.ok, ok.error) == ("c-0001", True, None)
    failed = validate(device, Channel.CMD_ACK, {"v": 1, "ts": TS, "cmd_id": "c-0002", "ok": False, "error": "busy"})
    assert failed.error == "busy"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"v": 1, "ts": TS, "cmd_id": "c-1"}, ("missing", "ok")),
        ({"v": 1, "ts": TS, "ok": True}, ("missing", "cmd_id")),
        ({"ts": TS, "cmd_id": "c-1", "ok": True}, ("missing", "v")),
        ({"v": 1, "ts": TS, "cmd_id": "c-1", "ok": "done"}, ("bool_type", "ok")),
    ],
)
def test_invalid_acks_are_rejected(payload: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in errors(D.WINDOW, Channel.CMD_ACK, payload)


def test_window_events_are_the_ones_a_qms_must_name_the_window_for() -> None:
    # codec.decode requires window_id from a qms exactly for these; keep the list and the examples in step
    assert {event_type(m) for m in WINDOW_EVENTS} == {p["type"] for p in WINDOW_EXAMPLES}
