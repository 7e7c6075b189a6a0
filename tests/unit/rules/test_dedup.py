"""Duplicates across a device's counter restarts (docs/contract.md, "Counter epochs"): a kiosk that reboots starts
its `seq` at 1 again while the broker still holds messages of the run before, numbered higher; those redelivered
afterwards must be recognised, and the new run's messages must not be. Both the hall model and the day book drop the
same ones, and keep knowing them across the gateway's own restart (their saved forms, and the forms saved before
epochs). Time is the messages' own; no clock, no sleeps."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage, decode
from rules.hall import Applied, HallProfile, HallState, SeqRanges
from rules.hall.dedup import MAX_EPOCHS
from rules.kpi import DayBook
from tests.unit.rules.feed import T0

Sent = tuple[int, float, str | None]  # seq, ts (s after T0), boot

CASES: list[tuple[str, list[Sent], int]] = [
    (
        "a restart without boot: the old run's redelivered messages are still duplicates",
        [(s, s, None) for s in range(1, 8)]
        + [(s, 100 + s, None) for s in (1, 2, 3)]
        + [(s, s, None) for s in (5, 6, 7)],
        10,
    ),
    (
        "a restart with a new boot: the old boot's messages are duplicates, the new boot's are not",
        [(s, s, "b1") for s in range(1, 8)]
        + [(s, 100 + s, "b2") for s in range(1, 10)]
        + [(s, s, "b1") for s in (5, 7)],
        16,
    ),
    (
        "the same seq and ts under another boot is another message",
        [(1, 1, "b1"), (1, 1, "b2"), (1, 1, "b1"), (1, 1, "b2")],
        2,
    ),
    (
        "an old message never applied before the restart is applied once, and does not hide the new run's",
        [(s, s, None) for s in range(1, 5)] + [(1, 50, None), (9, 9, None), (9, 9, None)] + [(9, 59, None)],
        7,
    ),
    (
        "a redelivery straddling the restart, in the order the broker gives it",
        [(s, s, None) for s in range(1, 6)] + [(1, 60, None), (4, 4, None), (2, 61, None), (5, 5, None), (3, 62, None)],
        8,
    ),
    (
        "without boot, a lower number sent later starts a new run each time: three runs kept",
        [(s, 100 * run + s, None) for run in range(3) for s in range(1, 4)] + [(s, s, None) for s in (1, 2, 3)],
        9,
    ),
]


@pytest.mark.parametrize(("name", "sent", "applied"), CASES, ids=[c[0] for c in CASES])
def test_duplicates_across_counter_restarts(name: str, sent: list[Sent], applied: int) -> None:
    seen = SeqRanges()
    assert sum(seen.add(seq, t, boot) for seq, t, boot in sent) == applied
    again = SeqRanges.load(json.loads(json.dumps(seen.dump())))  # saved as JSON and read back: the same
    assert not any(again.add(seq, t, boot) for seq, t, boot in sent)


def test_only_the_last_few_epochs_are_kept() -> None:
    seen = SeqRanges()
    for run in range(MAX_EPOCHS + 2):
        assert seen.add(1, run * 100.0, f"boot-{run}")
    assert len(seen.dump()) == MAX_EPOCHS
    assert not seen.add(1, 500.0, f"boot-{MAX_EPOCHS + 1}")  # the newest are known …
    assert seen.add(1, 0.0, "boot-0")  # … the oldest forgotten: taken as new


def test_the_form_saved_before_epochs_reads_as_one_run() -> None:
    seen = SeqRanges.load({"ranges": [[1, 40], [42, 50]], "latest_at": 50.0})
    assert not seen.add(7, 7.0)
    assert seen.add(41, 41.0)
    assert seen.add(1, 60.0)  # lower, and later than anything of that run: the counter restarted
    assert not seen.add(45, 45.0)  # the old run's, redelivered
    assert SeqRanges.load({"ranges": [], "latest_at": None}).dump() == []


@pytest.mark.parametrize("raw", [[["b1", 1.0, 2.0, [1]]], [[7, 1.0, 2.0, [1, 2]]], [["b1", "x", 2.0, [1, 2]]], "x"])
def test_a_damaged_saved_form_is_refused(raw: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        SeqRanges.load(raw)


# ------------------------------------------------------------------------------------------ in the hall and the book


def session(seq: int, t: float, boot: str | None) -> DeviceMessage:
    body: dict[str, object] = {"v": 1, "ts": (T0 + timedelta(seconds=t)).isoformat(), "seq": seq}
    body |= {"type": "kiosk.session", "outcome": "success", "duration_s": 60}
    if boot is not None:
        body["boot"] = boot
    msg = decode("hall/h1/kiosk/k1/evt", json.dumps(body).encode(), T0 + timedelta(seconds=t))
    assert msg is not None
    return msg


def heartbeat(seq: int, t: float, boot: str | None) -> DeviceMessage:
    body: dict[str, object] = {"v": 1, "ts": (T0 + timedelta(seconds=t)).isoformat(), "seq": seq}
    if boot is not None:
        body["boot"] = boot
    msg = decode("hall/h1/kiosk/k1/hb", json.dumps(body).encode(), T0 + timedelta(seconds=t))
    assert msg is not None
    return msg


def reboot_morning(boot: bool) -> tuple[list[DeviceMessage], list[DeviceMessage]]:
    """Seven kiosk sessions; a reboot (the counter starts at 1 again) and three heartbeats; then the broker
    redelivers the last three sessions of before the reboot. After the gateway's restart, the same again."""
    first, second = ("run-1", "run-2") if boot else (None, None)
    before = [session(s, 60.0 * s, first) for s in range(1, 8)]
    after = [heartbeat(s, 600.0 + 30 * s, second) for s in (1, 2, 3)]
    return [*before, *after, *before[4:]], before[4:]


@pytest.mark.parametrize("boot", [True, False], ids=["with boot", "without boot"])
def test_a_kiosk_rebooting_is_not_counted_twice(boot: bool) -> None:
    """The issue's case: kiosk sessions 10 instead of 7."""
    heard, redelivered_later = reboot_morning(boot)
    profile = HallProfile("h1")
    hall, book = HallState(profile), DayBook(profile, T0.date())
    outcomes = [hall.apply(m) for m in heard]
    for m in heard:
        book.apply(m)
    now = T0 + timedelta(minutes=15)
    assert outcomes.count(Applied.DUPLICATE) == 3
    assert book.report(now).hall.kiosk_sessions == 7
    # the gateway restarts: the saved hall and book still know the old run
    hall = HallState.load(profile, hall.dump())
    book = DayBook.load(profile, book.dump(), book.target_wait_min)
    assert all(hall.apply(m) is Applied.DUPLICATE for m in redelivered_later)
    for m in redelivered_later:
        book.apply(m)
    assert book.report(now).hall.kiosk_sessions == 7


def test_a_saved_hall_of_the_form_before_epochs_still_knows_what_it_applied() -> None:
    profile = HallProfile("h1")
    hall = HallState(profile)
    sent = [session(s, 60.0 * s, None) for s in range(1, 8)]
    for m in sent:
        hall.apply(m)
    body = json.loads(hall.dump())
    for device in body["devices"]:
        if device["device_id"] == "k1":
            device["seen"] = {"ranges": [[1, 7]], "latest_at": sent[-1].at.timestamp()}  # as an earlier release saved
    old = HallState.load(profile, json.dumps(body).encode())
    assert [old.apply(m) for m in sent[-3:]] == [Applied.DUPLICATE] * 3
    assert old.apply(session(1, 900.0, None)) is Applied.APPLIED  # the kiosk restarted its counter
    assert old.apply(sent[5]) is Applied.DUPLICATE
