"""The hall's day and a device's liveness go by the box's clock (issue 16); a device's own clock only dates what
happened. Near local midnight with device clocks two hours off, waiting tickets used to expire and the day's
counters reset early; a heartbeat dated 2099 kept its device alive for good; a 1970 ticket waited 57 years."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.codec import DeviceMessage, decode
from devices.topics import DeviceType
from rules.hall import HallProfile, HallSnapshot, HallState

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 23, tzinfo=SHANGHAI)  # a Monday; the hall's day starts at its local midnight


def box(hours: float, day: int = 0) -> datetime:
    """A moment by the box's clock: `hours` after local midnight of DAY + `day`."""
    return DAY + timedelta(days=day, hours=hours)


@dataclass
class Devices:
    """Messages as devices with their own clocks send them, and as the box hears them (`heard`: its clock)."""

    seqs: dict[str, int] = field(default_factory=dict)

    def __call__(
        self,
        kind: str,
        device: str,
        heard: datetime,
        ahead: timedelta = timedelta(0),
        on: str = "evt",
        **fields: object,
    ) -> DeviceMessage:
        seq = self.seqs[device] = self.seqs.get(device, 0) + 1
        body = {"v": 1, "ts": (heard + ahead).isoformat(), "seq": seq, **fields}
        msg = decode(f"hall/h1/{kind}/{device}/{on}", json.dumps(body).encode(), heard)
        assert msg is not None
        return msg

    def issue(self, heard: datetime, ticket: str, ahead: timedelta = timedelta(0)) -> DeviceMessage:
        fields = {"ticket_id": ticket, "number": ticket.upper(), "service": "tax"}
        return self("ticket_machine", "tm1", heard, ahead, type="ticket.issued", **fields)


def a_busy_day(d: Devices) -> HallState:
    """DAY at the hall: W1 open for tax, one ticket served, three still waiting in the evening."""
    state = HallState(HallProfile("h1"))
    for m in (
        d("window", "W1", box(8), type="window.opened", services=["tax"]),
        d.issue(box(9), "a0"),
        d("window", "W1", box(9.1), type="ticket.called", ticket_id="a0"),
        d("window", "W1", box(9.2), type="service.completed", ticket_id="a0"),
        d.issue(box(17), "a1"),
        d.issue(box(17.1), "a2"),
        d.issue(box(17.2), "a3"),
    ):
        state.apply(m)
    return state


def today(snap: HallSnapshot) -> tuple[int, int, int, int]:
    """What the manager reads of the day: waiting, issued today, completed today, served today at W1."""
    tax = next(s for s in snap.services if s.code == "tax")
    w1 = next(w for w in snap.windows if w.window_id == "W1")
    return tax.waiting, tax.issued_today, tax.completed_today, w1.served_today


BUSY = (3, 4, 1, 1)
NEW_DAY = (0, 0, 0, 0)
H = timedelta(hours=1)

MIDNIGHT: list[tuple[str, timedelta, datetime, tuple[int, int, int, int]]] = [
    # (case, the device clock's lead, when the box hears it, what the manager reads then)
    ("on time, a minute before midnight", 0 * H, box(23 + 59 / 60), BUSY),
    ("on time, at midnight", 0 * H, box(0, day=1), NEW_DAY),
    ("two hours ahead, at 22:30 (the device says 00:30)", 2 * H, box(22.5), BUSY),
    ("two hours ahead, a second before midnight", 2 * H, box(24) - timedelta(seconds=1), BUSY),
    ("two hours ahead, just after midnight", 2 * H, box(0, day=1) + timedelta(seconds=1), NEW_DAY),
    ("two hours behind, at 23:30", -2 * H, box(23.5), BUSY),
    ("two hours behind, at 00:30 (the device says 22:30)", -2 * H, box(0.5, day=1), NEW_DAY),
    ("two hours behind, at 01:59 (the device says 23:59)", -2 * H, box(1 + 59 / 60, day=1), NEW_DAY),
    ("a day ahead, at noon (the device says tomorrow)", 24 * H, box(12), BUSY),
]


@pytest.mark.parametrize("via", ["message", "logged row"])
@pytest.mark.parametrize(("case", "ahead", "heard", "expected"), MIDNIGHT, ids=[c[0] for c in MIDNIGHT])
def test_the_day_ends_at_midnight_by_the_box_whatever_the_device_clocks_say(
    case: str, ahead: timedelta, heard: datetime, expected: tuple[int, int, int, int], via: str
) -> None:
    d = Devices()
    state = a_busy_day(d)
    if via == "message":
        state.apply(d("kiosk", "k1", heard, ahead, on="hb"))
    else:  # a backtest replays a logged heartbeat from its row: sent at `ts`, heard at `received_at`
        state.heartbeat("k1", DeviceType.KIOSK, 1, (heard + ahead).timestamp(), heard.timestamp())
    assert today(state.snapshot(heard)) == expected


def test_a_device_ahead_issues_into_the_day_it_is_heard_and_its_ticket_expires_with_it() -> None:
    d = Devices()
    state = a_busy_day(d)
    state.apply(d.issue(box(22.5), "late", ahead=2 * H))  # dated 00:30 tomorrow by its clock
    assert today(state.snapshot(box(22.6))) == (4, 5, 1, 1)
    state.apply(d("kiosk", "k1", box(0, day=1), on="hb"))
    assert today(state.snapshot(box(0, day=1))) == NEW_DAY


HISTORY: list[tuple[str, datetime, int]] = [
    # (case, the ticket's own date, waiting once it is in) — heard at 08:05 the next morning
    ("issued this morning", box(8, day=1), 1),
    ("issued a minute into the day", box(0, day=1) + timedelta(minutes=1), 1),
    ("replayed from yesterday afternoon after a night's outage", box(16), 0),
    ("dated 1970 by a clock with a dead battery", datetime(1970, 1, 1, 8, tzinfo=SHANGHAI), 0),
]


@pytest.mark.parametrize(("case", "dated", "waiting"), HISTORY, ids=[c[0] for c in HISTORY])
def test_a_ticket_dated_before_the_halls_day_is_history_not_a_wait(case: str, dated: datetime, waiting: int) -> None:
    d = Devices()
    state = a_busy_day(d)
    state.apply(d("kiosk", "k1", box(7.5, day=1), on="hb"))  # the morning: a new day
    heard = box(8 + 5 / 60, day=1)
    state.apply(d.issue(heard, "x1", ahead=dated - heard))
    tax = next(s for s in state.snapshot(heard).services if s.code == "tax")
    assert (tax.waiting, tax.issued_today) == (waiting, waiting)
    if not waiting:
        assert tax.longest_wait_s is None


def test_a_device_is_alive_when_the_box_heard_it_not_when_its_clock_says() -> None:
    """One heartbeat dated 2099 used to keep its device 'last seen' in 2099, never silent."""
    d = Devices()
    state = HallState(HallProfile("h1"))
    heard = box(10)
    state.apply(d("kiosk", "k1", heard, datetime(2099, 1, 1, tzinfo=SHANGHAI) - heard, on="hb"))
    state.apply(d("camera", "c1", heard, -3 * H, on="state", online=True, fps=1.0))
    later = box(11)
    devices = {v.device_id: v for v in state.snapshot(later).devices}
    assert devices["k1"].last_seen == heard and devices["c1"].last_seen == heard
    assert devices["c1"].since == heard


def test_a_ticket_left_called_at_a_closed_window_is_gone_the_next_day() -> None:
    """A window closed while its number was called showed that number for good: the ticket is over with its day,
    and forgotten with the other finished tickets."""
    d = Devices()
    state = a_busy_day(d)
    state.apply(d("window", "W1", box(17.5), type="ticket.called", ticket_id="a1"))
    state.apply(d("window", "W1", box(17.6), type="window.closed"))
    w1 = next(w for w in state.snapshot(box(18)).windows if w.window_id == "W1")
    assert w1.current_number == "A1"
    state.apply(d("kiosk", "k1", box(8, day=1), on="hb"))  # the next morning: the day has ended
    for n in range(2000):  # four hours on (the hall tidies up every 2,000 messages)
        state.apply(d("kiosk", "k1", box(12, day=1) + timedelta(seconds=n), on="hb"))
    w1 = next(w for w in state.snapshot(box(13, day=1)).windows if w.window_id == "W1")
    assert w1.current_number is None


def test_a_box_clock_set_back_does_not_leave_a_device_seen_in_the_future() -> None:
    """A box that booted a day ahead and was put right by NTP: the device was last heard at the corrected time."""
    d = Devices()
    state = HallState(HallProfile("h1"))
    state.apply(d("kiosk", "k1", box(10, day=1), on="hb"))
    state.apply(d("kiosk", "k1", box(10.5), on="hb"))
    k1 = next(v for v in state.snapshot(box(11)).devices if v.device_id == "k1")
    assert k1.last_seen == box(10.5)
