"""Device scope (issue 17): each device changes only what belongs to it. One ticket machine cancelled another's
ticket, a rating pad rated any window (each bad rating opening a rectification ticket against that window's staff),
any camera set staff presence for any window. Such a message is refused whole as `out_of_scope` with the field
path, and the hall a manager sees is as if it had never come; what belongs to the device is taken in as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage, decode
from devices.errors import PayloadError
from devices.topics import DeviceType
from rules.hall import DeviceProfile, HallProfile, HallState, WindowProfile
from tests.unit.rules.feed import T0, Feed, ingest, issue, opened, win

LEARNING = HallProfile("h1")  # nothing configured: every binding is learned
BOUND = HallProfile(
    "h1",
    windows=(WindowProfile("W1"), WindowProfile("W2"), WindowProfile("W3")),
    devices=(
        DeviceProfile("e1", DeviceType.EVALUATOR, windows=("W1",)),
        DeviceProfile("e2", DeviceType.EVALUATOR),  # configured, bound to nothing: learns its window
        DeviceProfile("cam1", DeviceType.CAMERA, zones=("wait-a",), seats=("W1",)),
        DeviceProfile("cam2", DeviceType.CAMERA),
        DeviceProfile("cam3", DeviceType.CAMERA, zones=("wait-c",), seats=()),  # counts, watches no seat
    ),
)

Make = Callable[[Feed], DeviceMessage]


def issued_by(machine: str, ticket: str) -> Make:
    return lambda f: f(
        "ticket_machine", machine, 1, type="ticket.issued", ticket_id=ticket, number=ticket.upper(), service="tax"
    )


def by(machine: str, event: str, ticket: str, kind: str = "ticket_machine") -> Make:
    return lambda f: f(kind, machine, 2, type=event, ticket_id=ticket)


def checked_in(machine: str, ticket: str) -> Make:
    return lambda f: f(
        "ticket_machine",
        machine,
        2,
        type="appointment.checked_in",
        appointment_id="ap1",
        service="tax",
        ticket_id=ticket,
    )


def rates(pad: str, window: str, event: str = "rating.submitted") -> Make:
    """A bad rating (1) of `window`, or with `rating.skipped` none."""
    if event == "rating.skipped":
        return lambda f: f("evaluator", pad, 3, type=event, window_id=window)
    return lambda f: f("evaluator", pad, 3, type=event, window_id=window, score=1)


def counts(camera: str, zones: dict[str, int] | None = None, seats: dict[str, bool] | None = None) -> Make:
    return lambda f: f("camera", camera, 4, type="occupancy", zones=zones or {}, staff_present=seats or {})


Case = tuple[str, HallProfile, list[Make], Make, tuple[str, str] | None]

CASES: list[Case] = [
    # (case, profile, messages before, the message, (reason, path) or None when it is taken in)
    # -- ticket machines: the tickets they issued
    ("a machine cancels its own ticket", LEARNING, [issued_by("tm1", "a1")], by("tm1", "ticket.cancelled", "a1"), None),
    (
        "a machine cancels another machine's ticket",
        LEARNING,
        [issued_by("tm1", "a1")],
        by("tm2", "ticket.cancelled", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    (
        "a machine reactivates another machine's ticket",
        LEARNING,
        [issued_by("tm1", "a1"), by("tm1", "ticket.cancelled", "a1")],
        by("tm2", "ticket.reactivated", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    (
        "a machine issues again a ticket another machine issued",
        LEARNING,
        [issued_by("tm1", "a1")],
        issued_by("tm2", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    (
        "a machine checks an appointment in on another machine's ticket",
        LEARNING,
        [issued_by("tm1", "a1")],
        checked_in("tm2", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    (
        "a machine checks an appointment in on its own ticket",
        LEARNING,
        [issued_by("tm1", "a1")],
        checked_in("tm1", "a1"),
        None,
    ),
    ("a machine cancels a ticket not seen issued yet", LEARNING, [], by("tm2", "ticket.cancelled", "a1"), None),
    (
        "the late issue of a ticket another machine cancelled first",
        LEARNING,
        [by("tm2", "ticket.cancelled", "a1")],
        issued_by("tm1", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    (
        "the late issue of a ticket the same machine cancelled first",
        LEARNING,
        [by("tm2", "ticket.cancelled", "a1")],
        issued_by("tm2", "a1"),
        None,
    ),
    (
        "the issue of a ticket a window called before it was seen issued",
        LEARNING,
        [lambda f: win(f, 1, "W1", "ticket.called", ticket_id="a1")],
        issued_by("tm1", "a1"),
        None,
    ),
    (
        "the qms cancels a machine's ticket",
        LEARNING,
        [issued_by("tm1", "a1")],
        by("q1", "ticket.cancelled", "a1", "qms"),
        None,
    ),
    (
        "a machine cancels a ticket the qms issued",
        LEARNING,
        [lambda f: f("qms", "q1", 1, type="ticket.issued", ticket_id="a1", number="A1", service="tax")],
        by("tm1", "ticket.cancelled", "a1"),
        ("out_of_scope", "ticket_id"),
    ),
    # -- rating pads: the windows they are bound to
    ("a bound pad rates its window", BOUND, [], rates("e1", "W1"), None),
    ("a bound pad rates another window", BOUND, [], rates("e1", "W2"), ("out_of_scope", "window_id")),
    ("a bound pad skips another window", BOUND, [], rates("e1", "W2", "rating.skipped"), ("out_of_scope", "window_id")),
    ("an unbound pad rates a window bound to another pad", BOUND, [], rates("e2", "W1"), ("out_of_scope", "window_id")),
    ("an unbound pad rates a free window", BOUND, [], rates("e2", "W2"), None),
    ("an unbound pad rates its first window again", BOUND, [rates("e2", "W2")], rates("e2", "W2"), None),
    (
        "an unbound pad rates a second window",
        BOUND,
        [rates("e2", "W2")],
        rates("e2", "W3", "rating.skipped"),
        ("out_of_scope", "window_id"),
    ),
    (
        "a pad rates a window that does not exist, in a hall that learns its windows",
        LEARNING,
        [lambda f: opened(f, 0, "W1"), rates("e9", "W1")],
        rates("e9", "W404"),
        ("out_of_scope", "window_id"),
    ),
    (
        "a second pad rates a window another pad rated first",
        LEARNING,
        [rates("e1", "W1")],
        rates("e2", "W1"),
        ("out_of_scope", "window_id"),
    ),
    ("a second pad rates a window of its own", LEARNING, [rates("e1", "W1")], rates("e2", "W2"), None),
    # -- cameras: their zones and seats
    ("a camera reports its zones and seats", BOUND, [], counts("cam1", {"wait-a": 3}, {"W1": True}), None),
    (
        "a camera reports a zone not its own",
        BOUND,
        [],
        counts("cam1", {"wait-a": 3, "wait-b": 1}),
        ("out_of_scope", "zones.wait-b"),
    ),
    (
        "a camera reports a seat not its own",
        BOUND,
        [],
        counts("cam1", {"wait-a": 3}, {"W1": True, "W2": False}),
        ("out_of_scope", "staff_present.W2"),
    ),
    (
        "a camera that watches no seat reports one",
        BOUND,
        [],
        counts("cam3", {}, {"W3": True}),
        ("out_of_scope", "staff_present.W3"),
    ),
    (
        "an unbound camera reports a zone listed for another",
        BOUND,
        [],
        counts("cam2", {"wait-x": 1, "wait-a": 9}),
        ("out_of_scope", "zones.wait-a"),
    ),
    (
        "an unbound camera reports a seat listed for another",
        BOUND,
        [],
        counts("cam2", {}, {"W1": False}),
        ("out_of_scope", "staff_present.W1"),
    ),
    ("an unbound camera reports a free zone and seat", BOUND, [], counts("cam2", {"wait-x": 1}, {"W2": True}), None),
    (
        "a camera reports a zone another camera reported first",
        LEARNING,
        [counts("c1", {"z1": 4})],
        counts("c2", {"z2": 1, "z1": 0}),
        ("out_of_scope", "zones.z1"),
    ),
    (
        "a camera reports a seat another camera reported first",
        LEARNING,
        [counts("c1", {}, {"W1": True})],
        counts("c2", {}, {"W1": False}),
        ("out_of_scope", "staff_present.W1"),
    ),
    (
        "a camera reports again what it reported first",
        LEARNING,
        [counts("c1", {"z1": 4}, {"W1": True}), counts("c2", {"z2": 1}, {"W2": True})],
        counts("c1", {"z1": 5}, {"W1": False}),
        None,
    ),
]


@pytest.mark.parametrize(("name", "profile", "before", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_device_changes_only_what_is_its_own(
    name: str, profile: HallProfile, before: list[Make], make: Make, expected: tuple[str, str] | None
) -> None:
    f = Feed()
    state = HallState(profile)
    for m in before:
        assert ingest(state, m(f)) is None
    now = T0 + timedelta(minutes=5)
    seen, saved = state.snapshot(now), state.dump()
    refused = ingest(state, make(f))
    assert refused == expected
    if refused is not None:
        assert state.snapshot(now) == seen, "nothing of a refused message reaches the hall"
        assert state.dump() == saved, "nor what the hall keeps"


def test_the_field_attacks_leave_the_hall_as_it_was() -> None:
    """The issue's report, end to end: tm2 cancels tm1's waiting ticket, a pad bound to W1 rates W2 badly five
    times, a second camera says nobody sits at W1. The queue, W2's ratings and W1's staff are as before."""
    f = Feed()
    state = HallState(BOUND)
    for m in (
        opened(f, 0, "W1"),
        opened(f, 0, "W2"),
        issue(f, 1, "a1"),
        counts("cam1", {"wait-a": 3}, {"W1": True})(f),
    ):
        assert ingest(state, m) is None
    now = T0 + timedelta(minutes=5)
    refused = [
        ingest(state, m)
        for m in (
            by("tm2", "ticket.cancelled", "a1")(f),
            *(rates("e1", "W2")(f) for _ in range(5)),
            counts("cam2", {}, {"W1": False})(f),
        )
    ]
    assert [r[0] if r else None for r in refused] == ["out_of_scope"] * 7
    snap = state.snapshot(now)
    tax = next(s for s in snap.services if s.code == "tax")
    w1, w2 = (next(w for w in snap.windows if w.window_id == wid) for wid in ("W1", "W2"))
    assert tax.waiting == 1
    assert w2.rated_today == 0
    assert w1.staff_present is True


def test_what_a_device_owns_is_kept_across_a_restart() -> None:
    """The learned bindings are part of the saved hall state: after a restart the pad still rates only its first
    window, the ticket is still tm1's, the seat still the first camera's."""
    f = Feed()
    state = HallState(LEARNING)
    for m in (issue(f, 1, "a1"), rates("e1", "W1")(f), counts("c1", {"z1": 1}, {"W1": True})(f)):
        assert ingest(state, m) is None
    restored = HallState.load(LEARNING, state.dump())
    assert ingest(restored, by("tm2", "ticket.cancelled", "a1")(f)) == ("out_of_scope", "ticket_id")
    assert ingest(restored, rates("e1", "W2")(f)) == ("out_of_scope", "window_id")
    assert ingest(restored, counts("c2", {}, {"W1": False})(f)) == ("out_of_scope", "staff_present.W1")
    assert ingest(restored, by("tm1", "ticket.cancelled", "a1")(f)) is None


def test_a_state_saved_before_device_scope_opens_and_its_first_claims_stand() -> None:
    """A hall state saved by the release before (no owners in it) still opens; what it knew has no owner yet, so
    the first device to name each thing owns it from then on."""
    f = Feed()
    state = HallState(LEARNING)
    for m in (issue(f, 1, "a1"), rates("e1", "W1")(f), counts("c1", {}, {"W1": True})(f)):
        state.apply(m)
    body = json.loads(state.dump())
    for t in body["tickets"]:
        del t["issuer"]
    for w in body["windows"]:
        del w["rating_pad"], w["seat_camera"]
    older = HallState.load(LEARNING, json.dumps(body).encode())
    now = T0 + timedelta(minutes=5)
    assert older.snapshot(now) == state.snapshot(now)
    assert ingest(older, by("tm2", "ticket.cancelled", "a1")(f)) is None  # nobody owned it: tm2 is first
    assert ingest(older, by("tm1", "ticket.reactivated", "a1")(f)) == ("out_of_scope", "ticket_id")
    assert ingest(older, rates("e2", "W1")(f)) is None
    assert ingest(older, rates("e1", "W1")(f)) == ("out_of_scope", "window_id")


def test_a_replayed_event_log_rebuilds_the_owners() -> None:
    """A restart replays the events logged since the last saved state without asking admission: the owners come
    back from the events themselves."""
    f = Feed()
    logged = [issue(f, 1, "a1"), rates("e1", "W1")(f), counts("c1", {"z1": 2}, {"W1": True})(f)]
    replayed = HallState(LEARNING)
    for m in logged:
        replayed.apply(m)
    assert ingest(replayed, by("tm2", "ticket.cancelled", "a1")(f)) == ("out_of_scope", "ticket_id")
    assert ingest(replayed, rates("e2", "W1")(f)) == ("out_of_scope", "window_id")
    assert ingest(replayed, counts("c2", {"z1": 0})(f)) == ("out_of_scope", "zones.z1")


def test_a_window_terminal_cannot_name_another_window() -> None:
    """A window terminal's scope is its own window: a `window_id` naming another is refused by the codec, before the
    hall is asked (the topic names the window)."""
    body = {"v": 1, "ts": T0.isoformat(), "seq": 1, "type": "window.closed", "window_id": "W2"}
    with pytest.raises(PayloadError) as refused:
        decode("hall/h1/window/W1/evt", json.dumps(body).encode(), T0)
    assert (refused.value.reason, refused.value.path) == ("device_mismatch", "window_id")
