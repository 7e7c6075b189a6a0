"""Every number and time a device sends is one the gateway can store, compute with and show (issue 16): a value
beyond is refused at the door with `invalid_value` and its path, not an OverflowError in the event log or a 500 from
`/api/hall`; and a time far from the gateway's clock is `implausible_time`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.codec import check_time, decode
from devices.errors import PayloadError

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TS = "2026-11-23T09:00:00+08:00"
BIGGEST_SEQ = 2**63 - 1  # SQLite's INTEGER


def env(**fields: object) -> dict[str, object]:
    return {"v": 1, "ts": TS, "seq": 1, **fields}


ISSUED = env(type="ticket.issued", ticket_id="t1", number="A001", service="tax")
SESSION = env(type="kiosk.session", outcome="success", duration_s=95)
OCCUPANCY = env(type="occupancy", zones={"hall": 12}, staff_present={"W1": True})

TM, KIOSK, CAMERA, WINDOW = "ticket_machine/tm1", "kiosk/k1", "camera/c1", "window/W1"


def send(device: str, payload: dict[str, object] | bytes, channel: str = "evt") -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    decode(f"hall/h1/{device}/{channel}", raw, NOW, hall="h1")


REFUSED: list[tuple[str, str, str, dict[str, object] | bytes, str]] = [
    # (case, device, channel, payload, path) — each refused as invalid_value
    ("seq past SQLite's 64-bit integer", TM, "evt", {**ISSUED, "seq": BIGGEST_SEQ + 1}, "seq"),
    ("a heartbeat's seq of 2^64", TM, "hb", env(seq=2**64), "seq"),
    ("a state's seq past 64 bits", TM, "state", env(online=True, seq=BIGGEST_SEQ + 1), "seq"),
    ("ts in year 10000 once in UTC", TM, "evt", {**ISSUED, "ts": "9999-12-31T23:59:59-12:00"}, "ts"),
    ("ts in year 0 once in UTC", TM, "hb", env(ts="0001-01-01T00:00:00+14:00"), "ts"),
    ("ts before UNIX time began", TM, "evt", {**ISSUED, "ts": "1969-12-31T23:59:59Z"}, "ts"),
    ("ts on the last day a local time exists everywhere", TM, "evt", {**ISSUED, "ts": "9999-12-30T00:00:00Z"}, "ts"),
    (
        "an online state dated year 10000 once in UTC",
        KIOSK,
        "state",
        env(online=True, ts="9999-12-31T23:00:00-12:00"),
        "ts",
    ),
    (
        "an appointment slot with no UTC time",
        TM,
        "evt",
        env(type="appointment.checked_in", appointment_id="ap1", service="tax", slot="0001-01-01T00:00:00+14:00"),
        "slot",
    ),
    ("an ack dated in year 10000", KIOSK, "cmd/ack", env(cmd_id="c1", ok=True, ts="9999-12-31T23:59:59-12:00"), "ts"),
    (
        "a duration JSON reads as infinity",
        KIOSK,
        "evt",
        b'{"v":1,"ts":"' + TS.encode() + b'","seq":1,"type":"kiosk.session","outcome":"success","duration_s":1e400}',
        "duration_s",
    ),
    ("a kiosk session over a day", KIOSK, "evt", {**SESSION, "duration_s": 86_401}, "duration_s"),
    (
        "a handling time over a day",
        WINDOW,
        "evt",
        env(type="service.completed", ticket_id="t1", duration_s=10**9),
        "duration_s",
    ),
    (
        "a NaN handling time",
        WINDOW,
        "evt",
        b'{"v":1,"ts":"' + TS.encode() + b'","seq":1,"type":"service.completed","ticket_id":"t1","duration_s":NaN}',
        "duration_s",
    ),
    ("an uptime of infinity", KIOSK, "hb", b'{"v":1,"ts":"' + TS.encode() + b'","seq":1,"uptime_s":1e999}', "uptime_s"),
    (
        "a camera's fps of infinity",
        CAMERA,
        "state",
        b'{"v":1,"ts":"' + TS.encode() + b'","seq":1,"online":true,"fps":1e400}',
        "fps",
    ),
    ("a zone counting a million people", CAMERA, "evt", {**OCCUPANCY, "zones": {"hall": 1_000_000}}, "zones.hall"),
    ("a zone counting past 64 bits", CAMERA, "evt", {**OCCUPANCY, "zones": {"hall": 2**70}}, "zones.hall"),
    ("a quota past any hall's", TM, "state", env(online=True, quota={"tax": 10**12}), "quota.tax"),
]


@pytest.mark.parametrize(("case", "device", "channel", "payload", "path"), REFUSED, ids=[c[0] for c in REFUSED])
def test_values_beyond_what_the_gateway_holds_are_invalid(
    case: str, device: str, channel: str, payload: dict[str, object] | bytes, path: str
) -> None:
    with pytest.raises(PayloadError) as err:
        send(device, payload, channel)
    assert (err.value.reason, err.value.path) == ("invalid_value", path)


# issue 17: a value of the wrong JSON type is refused, never coerced ("12" is not 12, "true" not true, true not 1)
WRONG_TYPES: list[tuple[str, str, str, dict[str, object], str]] = [
    ("a count given as a string", CAMERA, "evt", {**OCCUPANCY, "zones": {"hall": "12"}}, "zones.hall"),
    ("online given as a string", CAMERA, "state", env(online="true"), "online"),
    (
        "an attempt given as a boolean",
        WINDOW,
        "evt",
        env(type="ticket.called", ticket_id="t1", attempt=True),
        "attempt",
    ),
    ("a seq given as a string", WINDOW, "hb", env(seq="5"), "seq"),
    ("a seq given as a boolean", WINDOW, "hb", env(seq=True), "seq"),
]


def test_a_fraction_where_a_whole_number_belongs_is_an_invalid_value() -> None:
    """1.5 is a JSON number (the right type) but not a whole one: `invalid_value`, as the contract's table says."""
    with pytest.raises(PayloadError) as err:
        send(WINDOW, env(seq=1.5), "hb")
    assert (err.value.reason, err.value.path) == ("invalid_value", "seq")


@pytest.mark.parametrize(("case", "device", "channel", "payload", "path"), WRONG_TYPES, ids=[c[0] for c in WRONG_TYPES])
def test_values_of_the_wrong_json_type_are_refused_not_coerced(
    case: str, device: str, channel: str, payload: dict[str, object], path: str
) -> None:
    with pytest.raises(PayloadError) as err:
        send(device, payload, channel)
    assert (err.value.reason, err.value.path) == ("wrong_type", path)


ACCEPTED: list[tuple[str, str, str, dict[str, object]]] = [
    ("the biggest seq SQLite holds", TM, "evt", {**ISSUED, "seq": BIGGEST_SEQ}),
    ("the first second of UNIX time", TM, "hb", env(ts="1970-01-01T08:00:00+08:00")),
    ("the day before the last", TM, "hb", env(ts="9999-12-29T23:59:59Z")),
    ("a kiosk session of exactly a day", KIOSK, "evt", {**SESSION, "duration_s": 86_400}),
    ("a zone of 100 000 people", CAMERA, "evt", {**OCCUPANCY, "zones": {"hall": 100_000}}),
]


@pytest.mark.parametrize(("case", "device", "channel", "payload"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_values_at_the_bounds_are_accepted(case: str, device: str, channel: str, payload: dict[str, object]) -> None:
    send(device, payload, channel)


def test_a_time_at_the_bound_keeps_the_devices_offset() -> None:
    msg = decode("hall/h1/ticket_machine/tm1/hb", json.dumps(env(ts="1970-01-01T08:00:00+08:00")).encode(), NOW)
    assert msg is not None
    assert msg.at.utcoffset() == timedelta(hours=8) and msg.at.timestamp() == 0


@pytest.mark.parametrize("ts", ["1970-01-01T00:00:00Z", "9999-12-29T23:59:59.999999Z"])
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Shanghai"])
def test_every_accepted_time_has_a_unix_time_and_a_local_time_in_any_hall(ts: str, zone: str) -> None:
    """What the API does with a time: its UNIX seconds (the event log), and back to the hall's local time."""
    msg = decode("hall/h1/ticket_machine/tm1/hb", json.dumps(env(ts=ts)).encode(), NOW)
    assert msg is not None
    local = datetime.fromtimestamp(msg.at.timestamp(), ZoneInfo(zone))
    assert local.tzinfo is not None and local + timedelta(days=1) > local


H = 3600.0
PLAUSIBLE: list[tuple[str, timedelta, bool]] = [
    # (case, device time − gateway time, accepted with 2 days past and 1 hour future)
    ("on time", timedelta(0), True),
    ("a queue replayed after a night's outage", -timedelta(hours=16), True),
    ("exactly two days behind", -timedelta(days=2), True),
    ("a second more than two days behind", -timedelta(days=2, seconds=1), False),
    ("a device clock reset to 1970", datetime(1970, 1, 1, tzinfo=UTC) - NOW, False),
    ("a few minutes of drift ahead", timedelta(minutes=5), True),
    ("exactly an hour ahead", timedelta(hours=1), True),
    ("a device set to the wrong zone, 8 hours ahead", timedelta(hours=8), False),
    ("a heartbeat from 2099", datetime(2099, 1, 1, tzinfo=UTC) - NOW, False),
]


@pytest.mark.parametrize(("case", "offset", "accepted"), PLAUSIBLE, ids=[c[0] for c in PLAUSIBLE])
def test_times_far_from_the_gateways_clock_are_implausible(case: str, offset: timedelta, accepted: bool) -> None:
    if accepted:
        check_time(NOW + offset, NOW, 48 * H, H)
        return
    with pytest.raises(PayloadError) as err:
        check_time(NOW + offset, NOW, 48 * H, H)
    assert (err.value.reason, err.value.path) == ("implausible_time", "ts")
    assert ("ahead" if offset > timedelta(0) else "behind") in err.value.detail


def test_a_last_will_stamped_on_receipt_is_always_plausible() -> None:
    msg = decode("hall/h1/kiosk/k1/state", b'{"v": 1, "online": false}', NOW)
    assert msg is not None
    check_time(msg.at, msg.received_at, 0.001, 0.001)
