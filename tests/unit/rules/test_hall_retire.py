"""A device retired by clearing its retained state leaves the hall; what a device reports of itself (its location and
firmware) is kept and shown."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage, decode
from devices.errors import PayloadError
from devices.topics import DeviceType
from rules.hall import DeviceProfile, HallProfile, HallSnapshot, HallState, Health, WindowProfile, WindowStatus
from rules.hall.snapshot import DeviceView
from tests.unit.rules.feed import T0, Feed, opened

NOW = T0 + timedelta(minutes=5)


def retire(kind: str, device: str, t: float) -> DeviceMessage:
    """What the broker delivers when a device's retained state is cleared: an empty retained message."""
    msg = decode(f"hall/h1/{kind}/{device}/state", b"", T0 + timedelta(seconds=t), hall="h1")
    assert msg is not None
    return msg


def fed(state: HallState, *messages: DeviceMessage) -> HallState:
    for m in messages:
        state.admit(m)
        state.apply(m)
    return state


def devices(snap: HallSnapshot) -> dict[str, DeviceView]:
    return {d.device_id: d for d in snap.devices}


def test_a_retired_device_leaves_the_hall_with_the_zones_it_counted() -> None:
    f = Feed()
    state = fed(
        HallState(HallProfile("h1")),
        f("kiosk", "k1", 1, on="state", online=True, firmware="5.1.0"),
        f("kiosk", "k2", 2, on="hb"),
        f("camera", "c1", 3, type="occupancy", zones={"wait-A": 4, "wait-B": 2}),
    )
    before = state.snapshot(NOW)
    assert set(devices(before)) == {"k1", "k2", "c1"} and before.totals.people_counted == 6

    fed(state, retire("kiosk", "k1", 10), retire("camera", "c1", 11))
    after = state.snapshot(NOW)
    assert set(devices(after)) == {"k2"}
    assert after.zones == () and after.totals.people_counted == 0
    assert (after.totals.devices_online, after.totals.devices_offline) == (1, 0)


def test_a_retired_device_that_comes_back_starts_afresh() -> None:
    """Its counter may start again at 1: the seqs it sent before are forgotten with it."""
    f = Feed()
    state = fed(HallState(HallProfile("h1")), f("kiosk", "k1", 1, on="hb"), f("kiosk", "k1", 2, on="hb"))
    fed(state, retire("kiosk", "k1", 3))
    again = Feed()  # a new device under the old id: seq 1 again
    fed(state, again("kiosk", "k1", 4, type="kiosk.help_requested"))
    assert devices(state.snapshot(NOW))["k1"].health is Health.OK


def test_a_configured_device_retired_stays_as_the_configuration_describes_it() -> None:
    """The configuration says it exists: it shows as never heard until the configuration drops it."""
    profile = HallProfile("h1", devices=(DeviceProfile("k1", DeviceType.KIOSK, "自助终端 1", "1F-A-03"),))
    f = Feed()
    state = fed(HallState(profile), f("kiosk", "k1", 1, on="state", online=True, location="2F-B-01", firmware="5.1"))
    fed(state, retire("kiosk", "k1", 2))
    k1 = devices(state.snapshot(NOW))["k1"]
    assert (k1.name, k1.location, k1.health, k1.online, k1.last_seen) == (
        "自助终端 1",
        "1F-A-03",
        Health.UNKNOWN,
        False,
        None,
    )
    assert (k1.reported_location, k1.firmware) == (None, None)


def test_a_retired_window_terminal_no_longer_shows_its_window_offline() -> None:
    """The window is the hall's (its status, its day's counts); only its terminal is gone."""
    f = Feed()
    state = fed(HallState(HallProfile("h1")), opened(f, 1, "W1"), f("window", "W1", 2, on="state", will=True))
    assert state.snapshot(NOW).windows[0].status is WindowStatus.OFFLINE
    fed(state, retire("window", "W1", 3))
    snap = state.snapshot(NOW)
    assert [(w.window_id, w.status, w.online) for w in snap.windows] == [("W1", WindowStatus.OPEN, None)]
    assert "W1" not in devices(snap)


def test_a_replacement_rating_pad_takes_over_the_window_of_the_one_retired() -> None:
    """A pad binds itself to the first window it rates, one pad per window; retiring it frees the window."""
    f = Feed()
    state = fed(HallState(HallProfile("h1")), f("evaluator", "e1", 1, type="rating.submitted", window_id="W1", score=5))
    replacement = f("evaluator", "e2", 2, type="rating.submitted", window_id="W1", score=4)
    with pytest.raises(PayloadError) as refused:
        state.admit(replacement)
    assert refused.value.reason == "out_of_scope"
    fed(state, retire("evaluator", "e1", 3), replacement)
    assert next(w for w in state.snapshot(NOW).windows if w.window_id == "W1").rated_today == 2


def test_a_retirement_is_kept_by_a_saved_state_and_by_a_replay() -> None:
    f = Feed()
    messages = [f("kiosk", "k1", 1, on="hb"), f("kiosk", "k2", 2, on="hb"), retire("kiosk", "k1", 3)]
    state = fed(HallState(HallProfile("h1")), *messages)
    replayed = HallState(HallProfile("h1"))
    for m in messages:  # a replay of the event log applies without asking
        replayed.apply(m)
    restored = HallState.load(HallProfile("h1"), state.dump())
    assert set(devices(restored.snapshot(NOW))) == set(devices(replayed.snapshot(NOW))) == {"k2"}


def test_the_device_list_is_right_when_one_retires_and_another_comes_before_the_next_snapshot() -> None:
    """As many devices and zones as before, but not the same ones: the views kept must not be reused by position."""
    f = Feed()
    state = fed(
        HallState(HallProfile("h1")),
        f("kiosk", "k1", 1, on="hb"),
        f("camera", "c1", 2, type="occupancy", zones={"wait-A": 4}),
    )
    state.snapshot(NOW)
    fed(
        state,
        retire("kiosk", "k1", 3),
        retire("camera", "c1", 4),
        f("kiosk", "k2", 5, on="hb"),
        f("camera", "c2", 6, type="occupancy", zones={"wait-B": 7}),
    )
    snap = state.snapshot(NOW)
    assert set(devices(snap)) == {"k2", "c2"}
    assert [(z.zone_id, z.count) for z in snap.zones] == [("wait-B", 7)]


def test_a_retirement_of_a_device_the_hall_does_not_know_changes_nothing() -> None:
    state = HallState(HallProfile("h1"))
    assert state.retire("k9") is False
    assert state.snapshot(NOW).devices == ()


def test_the_location_and_firmware_a_device_reports_are_shown() -> None:
    """Where the configuration gives a location, it is what people read; the device's own is shown beside it."""
    profile = HallProfile("h1", devices=(DeviceProfile("k1", DeviceType.KIOSK, location="1F-A-03"),))
    f = Feed()
    state = fed(
        HallState(profile),
        f("kiosk", "k1", 1, on="state", online=True, location="2F-B-01", firmware="5.1.0"),
        f("ticket_machine", "tm1", 2, on="state", online=True, location="1F-A-01", firmware="TM 2.3"),
        f("ticket_machine", "tm1", 3, on="state", will=True),  # a last will says nothing of either
    )
    shown = devices(state.snapshot(NOW))
    assert (shown["k1"].location, shown["k1"].reported_location, shown["k1"].firmware) == (
        "1F-A-03",
        "2F-B-01",
        "5.1.0",
    )
    assert (shown["tm1"].location, shown["tm1"].reported_location, shown["tm1"].firmware) == (
        "1F-A-01",
        "1F-A-01",
        "TM 2.3",
    )
    restored = HallState.load(profile, state.dump())
    assert restored.snapshot(NOW).devices == state.snapshot(NOW).devices


def test_a_state_without_them_says_they_are_unknown() -> None:
    """A field left out of a state means unknown, as for every other one (docs/contract.md, State)."""
    f = Feed()
    state = fed(
        HallState(HallProfile("h1")),
        f("kiosk", "k1", 1, on="state", online=True, location="2F-B-01", firmware="5.1.0"),
        f("kiosk", "k1", 2, on="state", online=True),
    )
    k1 = devices(state.snapshot(NOW))["k1"]
    assert (k1.location, k1.firmware) == (None, None)


def test_a_state_saved_before_devices_kept_their_location_and_firmware_opens() -> None:
    f = Feed()
    profile = HallProfile("h1", windows=(WindowProfile("W1", services=("tax",)),))
    state = fed(HallState(profile), f("kiosk", "k1", 1, on="state", online=True, location="2F-B-01"))
    saved = json.loads(state.dump())
    for d in saved["devices"]:
        del d["location"], d["firmware"]
    k1 = devices(HallState.load(profile, json.dumps(saved).encode()).snapshot(NOW))["k1"]
    assert (k1.health, k1.location, k1.firmware) == (Health.OK, None, None)
