"""Commands heard back: a command is sent again on the back-off schedule until its own device answers, then given up
as unacknowledged; an answer from another device is not trusted; the tracker is bounded and survives a restart.
Time is passed in (hall time from T0), never slept."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage
from devices.errors import PayloadError
from devices.topics import DeviceType
from rules.commands import AckOutcome, CommandStatus, CommandTracker, DeviceCommand, TrackedCommand
from tests.unit.rules.feed import T0, Feed


def command(cmd_id: str, device: str = "CS-1", kind: str = "message.show") -> DeviceCommand:
    return DeviceCommand(
        cmd_id=cmd_id,
        device_type=DeviceType.CALL_SCREEN,
        device_id=device,
        type=kind,
        topic=f"hall/h1/call_screen/{device}/cmd",
        payload=json.dumps({"v": 1, "ts": T0.isoformat(), "cmd_id": cmd_id, "type": kind, "text": "请稍候"}),
    )


def ack(
    cmd_id: str, t: float, *, device: str = "CS-1", device_type: str = "call_screen", **answer: object
) -> DeviceMessage:
    return Feed()(device_type, device, t, on="cmd/ack", cmd_id=cmd_id, **({"ok": True} | answer))


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def status(tracker: CommandTracker, cmd_id: str) -> tuple[CommandStatus, int]:
    c = tracker.get(cmd_id)
    assert c is not None
    return c.status, c.attempts


# (seconds after the first send, what `due` moves then: (attempts, status) of the command, or nothing)
SCHEDULE = [
    (9.9, None),
    (10, (2, CommandStatus.PENDING)),  # sent again after 10 s
    (10, None),  # the same moment again: nothing more
    (29.9, None),
    (30, (3, CommandStatus.PENDING)),  # … after another 20 s
    (69.9, None),
    (70, (3, CommandStatus.UNACKNOWLEDGED)),  # 40 s after the third send: given up, never sent a fourth time
    (600, None),
]


def test_an_unanswered_command_is_sent_again_after_10_20_then_given_up_after_40_seconds() -> None:
    tracker = CommandTracker()  # the default waits: 10, 20, 40 s
    sent = command("a-1")
    tracker.sent(sent, T0)
    assert tracker.next_deadline() == T0 + at(10)
    for seconds, expected in SCHEDULE:
        moved = tracker.due(T0 + at(seconds))
        if expected is None:
            assert moved == [], f"at {seconds} s"
            continue
        (c,) = moved
        assert (c.attempts, c.status) == expected, f"at {seconds} s"
        assert (c.cmd_id, c.topic, c.payload) == (
            sent.cmd_id,
            sent.topic,
            sent.payload,
        )  # the same command, byte for byte
    gave_up = tracker.get("a-1")
    assert gave_up is not None and gave_up.settled_at == T0 + at(70) and gave_up.last_sent_at == T0 + at(30)
    assert gave_up.sent_at == T0 and gave_up.next_at is None


def test_the_schedule_is_a_setting() -> None:
    tracker = CommandTracker((1.0, 2.0))
    tracker.sent(command("a-1"), T0)
    assert [c.status for c in tracker.due(T0 + at(1))] == [CommandStatus.PENDING]
    assert tracker.due(T0 + at(2.9)) == []
    assert [c.status for c in tracker.due(T0 + at(3))] == [CommandStatus.UNACKNOWLEDGED]
    with pytest.raises(ValueError, match="positive"):
        CommandTracker(())


def test_an_acknowledged_command_is_not_sent_again() -> None:
    tracker = CommandTracker()
    tracker.sent(command("a-1"), T0)
    assert tracker.on_ack(ack("a-1", 3), T0 + at(3)) is AckOutcome.TAKEN
    assert status(tracker, "a-1") == (CommandStatus.ACKNOWLEDGED, 1)
    assert tracker.due(T0 + at(3600)) == []
    answered = tracker.get("a-1")
    assert answered is not None and answered.settled_at == T0 + at(3) and answered.error is None


@pytest.mark.parametrize(
    ("device_type", "device"),
    [("call_screen", "CS-2"), ("window", "CS-1")],  # another screen; a window terminal that happens to share the id
    ids=["another-device", "same-id-other-type"],
)
def test_an_ack_from_another_device_is_not_trusted(device_type: str, device: str) -> None:
    tracker = CommandTracker()
    tracker.sent(command("a-1"), T0)
    assert tracker.on_ack(ack("a-1", 3, device=device, device_type=device_type), T0 + at(3)) is AckOutcome.NOT_ITS_OWN
    assert status(tracker, "a-1") == (CommandStatus.PENDING, 1)
    assert [c.attempts for c in tracker.due(T0 + at(10))] == [2]  # still waiting for its own device
    with pytest.raises(PayloadError) as refused:  # what the gateway asks before it takes an answer in
        tracker.check_ack(ack("a-1", 4, device=device, device_type=device_type))
    assert (refused.value.reason, refused.value.path) == ("out_of_scope", "cmd_id")
    assert "went to call_screen CS-1" in refused.value.detail
    tracker.check_ack(ack("a-1", 5))  # its own device's answer passes
    tracker.check_ack(ack("never-sent", 5, device=device, device_type=device_type))  # nothing to protect


def test_a_failed_ack_is_kept_with_the_devices_error() -> None:
    tracker = CommandTracker()
    tracker.sent(command("a-1", kind="restart"), T0)
    assert tracker.on_ack(ack("a-1", 2, ok=False, error="unsupported"), T0 + at(2)) is AckOutcome.TAKEN
    failed = tracker.get("a-1")
    assert failed is not None and (failed.status, failed.error) == (CommandStatus.FAILED, "unsupported")
    assert tracker.due(T0 + at(100)) == []  # an answer, even a refusal, is not sent again


def test_repeated_acks_change_nothing_and_a_late_ack_still_counts() -> None:
    tracker = CommandTracker()
    tracker.sent(command("a-1"), T0)
    tracker.on_ack(ack("a-1", 1), T0 + at(1))
    assert tracker.on_ack(ack("a-1", 2), T0 + at(2)) is AckOutcome.REPEATED
    assert tracker.on_ack(ack("a-1", 3, ok=False, error="busy"), T0 + at(3)) is AckOutcome.REPEATED
    first = tracker.get("a-1")
    assert first is not None and (first.status, first.settled_at) == (CommandStatus.ACKNOWLEDGED, T0 + at(1))

    tracker.sent(command("a-2"), T0)
    for seconds in (10, 30, 70):
        tracker.due(T0 + at(seconds))
    assert status(tracker, "a-2") == (CommandStatus.UNACKNOWLEDGED, 3)
    assert tracker.on_ack(ack("a-2", 90), T0 + at(90)) is AckOutcome.TAKEN  # the device did act, late
    assert status(tracker, "a-2") == (CommandStatus.ACKNOWLEDGED, 3)
    assert tracker.on_ack(ack("nope-9", 91), T0 + at(91)) is AckOutcome.UNKNOWN


def test_a_later_command_of_the_same_type_acknowledged_supersedes_an_unanswered_one() -> None:
    tracker = CommandTracker((5.0,))
    tracker.sent(command("a-1"), T0)
    tracker.sent(command("b-1", kind="call.announce"), T0)
    tracker.due(T0 + at(5))
    assert {c.cmd_id: c.superseded for c in tracker.commands} == {"a-1": False, "b-1": False}
    tracker.sent(command("a-2"), T0 + at(60))
    tracker.on_ack(ack("a-2", 61), T0 + at(61))
    superseded = {c.cmd_id: c.superseded for c in tracker.commands}
    assert superseded == {"a-1": True, "b-1": False, "a-2": False}  # another type is not vouched for

    # the other order: the later one answered first, the earlier one gives up afterwards
    tracker.sent(command("c-1", device="CS-2"), T0 + at(100))
    tracker.sent(command("c-2", device="CS-2"), T0 + at(101))
    tracker.on_ack(ack("c-2", 102, device="CS-2"), T0 + at(102))
    tracker.due(T0 + at(105))
    late = tracker.get("c-1")
    assert late is not None and (late.status, late.superseded) == (CommandStatus.UNACKNOWLEDGED, True)


def test_the_tracker_survives_a_restart_and_a_pending_command_waits_again_from_then() -> None:
    tracker = CommandTracker()
    numbers = [next(tracker.numbers) for _ in range(3)]
    tracker.sent(command("a-1"), T0)
    tracker.sent(command("a-2"), T0)
    tracker.on_ack(ack("a-2", 1, ok=False, error="busy"), T0 + at(1))
    tracker.due(T0 + at(10))  # a-1: second send

    saved = json.loads(json.dumps(tracker.dump()))  # as the decision state keeps it
    restarted = CommandTracker.load(saved, T0 + at(25))
    before, again = tracker.get("a-1"), restarted.get("a-1")
    assert before is not None and again is not None
    assert again == replace(before, next_at=T0 + at(45))  # its 20 s wait again from the restart, not from before it
    assert (again.status, again.attempts) == (CommandStatus.PENDING, 2)
    assert restarted.get("a-2") == tracker.get("a-2")
    assert next(restarted.numbers) == numbers[-1] + 1  # ids carry on: a device never sees an old cmd_id again
    assert [c.attempts for c in restarted.due(T0 + at(45))] == [3]


def test_memory_is_bounded_oldest_settled_first_and_settled_commands_are_forgotten_after_a_day() -> None:
    tracker = CommandTracker(cap=3)
    tracker.sent(command("a-1"), T0)
    tracker.sent(command("a-2"), T0 + at(1))
    tracker.on_ack(ack("a-2", 2), T0 + at(2))
    tracker.sent(command("a-3"), T0 + at(3))
    tracker.sent(command("a-4"), T0 + at(4))
    assert [c.cmd_id for c in tracker.commands] == ["a-1", "a-3", "a-4"]  # the answered one went, not the pending
    tracker.sent(command("a-5"), T0 + at(5))
    assert [c.cmd_id for c in tracker.commands] == ["a-3", "a-4", "a-5"]  # none settled: the oldest pending goes

    for c in tracker.commands:
        tracker.on_ack(ack(c.cmd_id, 6), T0 + at(6))
    assert tracker.next_deadline() == T0 + at(6) + timedelta(hours=24)
    assert tracker.due(T0 + at(6) + timedelta(hours=24)) == []
    assert tracker.commands == () and tracker.next_deadline() is None


def test_a_command_that_has_not_moved_is_the_same_object() -> None:
    """The rules list the commands as subjects once and reuse an unchanged entry (rules/conditions.py)."""
    tracker = CommandTracker()
    tracker.sent(command("a-1"), T0)
    tracker.sent(command("a-2"), T0 + at(5))
    before: tuple[TrackedCommand, ...] = tracker.commands
    tracker.due(T0 + at(10))
    after = tracker.commands
    assert after[0] is not before[0] and after[1] is before[1]


def test_a_command_to_an_offline_device_is_held_until_it_is_back_or_a_day_has_passed() -> None:
    tracker = CommandTracker()
    offline = {(DeviceType.CALL_SCREEN, "CS-1")}
    tracker.sent(command("a-1"), T0)
    assert tracker.due(T0 + at(10), offline) == []  # its last will stands: the broker keeps the command for it
    held = tracker.get("a-1")
    assert held is not None and (held.status, held.attempts, held.next_at) == (CommandStatus.PENDING, 1, T0 + at(20))
    assert tracker.due(T0 + at(20), offline) == []
    assert [c.attempts for c in tracker.due(T0 + at(30))] == [2]  # back: its wait ended, it is sent again

    tracker.sent(command("a-2"), T0)
    for seconds in range(10, 86400, 600):
        assert all(c.cmd_id != "a-2" for c in tracker.due(T0 + at(seconds), offline))
    (gave_up,) = [c for c in tracker.due(T0 + at(86410), offline) if c.cmd_id == "a-2"]
    assert (gave_up.status, gave_up.attempts) == (CommandStatus.UNACKNOWLEDGED, 1)  # a day is long enough to wait
