"""The hall's day rolls at the box's local midnight, whatever the device clocks say.

The field report: near local midnight (system clock, device clocks 2 h off) three waiting tickets expired and the
day's counters reset. The day is now the box's (when a message arrived, in the hall's zone: rules/hall/state.py
`_roll_day`, edge/reports.py), a device more than `ingest.plausible_future_s` (1 h) ahead is rejected as
`implausible_time`, one 2 h behind is accepted.

The box must be near midnight in the hall's zone. No time zone does that at any hour of the day (the IANA offsets
leave gaps of up to 45 minutes between local midnights), so the gateway runs under Debian's libfaketime (package
`libfaketime`) with its wall clock moved by a whole number of seconds, so that local midnight comes LEAD_S after it
starts; its monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`: asyncio's timers and thread waits keep
working — with it faked, a thread's timed wait never returns). The test knows the box's time exactly: the real clock
plus that offset. The broker and the devices (this process) run on the real clock; the devices stamp their messages
with the box's time off by their own error.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.broker import MosquittoProcess
from tests.integration.conftest import GatewayProcess, Publisher, event, wait_until

ZONE = ZoneInfo("Asia/Kathmandu")  # +05:45: the box's midnight is the hall's, not UTC's nor a whole hour's
LEAD_S = 40  # from the gateway's start to the box's midnight: start-up on a loaded box, then four tickets
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"  # Debian package libfaketime
BEHIND = timedelta(hours=-2)  # a device clock 2 h slow: accepted
AHEAD = timedelta(minutes=50)  # a device clock 50 min fast: within plausible_future_s (1 h), accepted
FAR_AHEAD = timedelta(hours=2)  # a device clock 2 h fast: rejected


def _faked(gw: GatewayProcess, offset_s: int) -> None:
    """Run `gw` with its wall clock `offset_s` seconds ahead of the real one (`env` execs: its pid stays the
    gateway's, so stopping and killing it reach the gateway itself)."""
    libs = sorted(glob.glob(LIBFAKETIME))
    assert libs, f"libfaketime is not installed ({LIBFAKETIME}): apt-get install libfaketime"
    gw.args = [
        "env",
        f"LD_PRELOAD={libs[0]}",
        f"FAKETIME={offset_s:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC=1",
        *gw.args,
    ]


def _tax(gw: GatewayProcess) -> dict[str, object]:
    """The `tax` service as GET /api/hall shows it."""
    hall = gw.get("/api/hall")
    assert isinstance(hall, dict)
    services = {s["code"]: s for s in hall["services"]}
    return services["tax"]  # type: ignore[no-any-return]


def _issue(ticket: str, device: str, seq: int, at: datetime) -> tuple[str, bytes]:
    return event(
        "ticket_machine", device, seq, at, type="ticket.issued", ticket_id=ticket, number=ticket, service="tax"
    )


def test_the_day_rolls_at_the_boxs_midnight_not_at_a_device_clocks(
    mosquitto: MosquittoProcess, publisher: Publisher, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    """tm1's clock is 2 h slow, tm2's 50 min fast, tm3's 2 h fast (rejected). Before the box's midnight: three
    tickets from tm1, one from tm2 ("tomorrow" by its clock), one from tm1 seconds before midnight — all wait, the day
    stays. After the box's midnight a heartbeat from tm1 (still yesterday 22:00 by its clock) rolls the day: yesterday's
    five tickets expire, the day's counters restart, and tm2's next ticket is the new day's first."""
    real = time.time()
    tomorrow = datetime.fromtimestamp(real, ZONE).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, datetime.min.time(), ZONE)
    offset = round(midnight.timestamp() - LEAD_S - real) % 86400  # the box's next midnight comes LEAD_S from now

    def box_now() -> datetime:
        return datetime.fromtimestamp(time.time() + offset, ZONE)

    midnight = datetime.combine(box_now().date() + timedelta(days=1), datetime.min.time(), ZONE)
    config = tmp_path / "gateway.yaml"
    config.write_text("hall: {timezone: Asia/Kathmandu}\n", encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config))
    _faked(gw, offset)
    gw.start()

    hall_at = datetime.fromisoformat(str(gw.get("/api/hall")["at"]))  # type: ignore[index]
    assert abs((hall_at - box_now()).total_seconds()) < 5, f"the gateway's clock is not faked: {hall_at}"

    # -- before the box's midnight -------------------------------------------------------------------------
    for seq, ticket in enumerate(("A001", "A002", "A003"), 1):
        publisher.send(*_issue(ticket, "tm1", seq, box_now() + BEHIND))
    publisher.send(*_issue("A004", "tm2", 1, box_now() + AHEAD))  # 00:4x tomorrow by tm2's clock
    publisher.send(*_issue("A005", "tm3", 1, box_now() + FAR_AHEAD))
    publisher.wait()
    wait_until(lambda: gw.accepted() == 4, what="four tickets accepted")
    wait_until(
        lambda: gw.counters()["rejected"] == {"implausible_time": 1}, what="tm3's ticket rejected as implausible_time"
    )
    tax = _tax(gw)
    assert (tax["waiting"], tax["issued_today"]) == (4, 4)

    wait_until(lambda: box_now() >= midnight - timedelta(seconds=4), timeout=LEAD_S, what="4 s before midnight")
    publisher.send(*_issue("A006", "tm1", 4, box_now() + BEHIND))  # 21:59:5x by tm1's clock
    publisher.wait()
    wait_until(lambda: gw.accepted() == 5, what="the ticket just before midnight")
    tm1 = gw.get("/api/devices/tm1")
    heard = datetime.fromisoformat(tm1["device"]["last_seen"])  # type: ignore[index]
    assert heard < midnight, f"the box was too slow: the ticket meant for before midnight came at {heard}"
    tax = _tax(gw)
    assert (tax["waiting"], tax["issued_today"]) == (5, 5), "the day ended before the box's midnight"

    # -- after it ------------------------------------------------------------------------------------------
    wait_until(lambda: box_now() >= midnight + timedelta(seconds=1), timeout=10, what="the box's midnight")
    assert box_now().date() == midnight.date()
    hb = {"v": 1, "ts": (box_now() + BEHIND).isoformat(), "seq": 5}  # yesterday, 22:00, by tm1's clock
    publisher.send("hall/h1/ticket_machine/tm1/hb", json.dumps(hb), qos=0)
    publisher.wait()
    wait_until(lambda: gw.accepted() == 6, what="tm1's heartbeat after midnight")
    tax = _tax(gw)
    assert (tax["waiting"], tax["issued_today"], tax["oldest_ticket"]) == (0, 0, None), tax

    publisher.send(*_issue("B001", "tm2", 2, box_now() + AHEAD))
    publisher.wait()
    wait_until(lambda: gw.accepted() == 7, what="the new day's first ticket")
    tax = _tax(gw)
    assert (tax["waiting"], tax["issued_today"], tax["oldest_ticket"]) == (1, 1, "B001"), tax
    assert gw.counters()["rejected"] == {"implausible_time": 1}
