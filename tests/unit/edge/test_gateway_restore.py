"""A gateway that follows the devices' clock resumes, after a restart, at the hall time it had — so today's KPIs
are rebuilt for the hall's day, not for the box's calendar day."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.config import GatewayConfig, load_config
from edge.decisions.demand import learn_history
from edge.gateway import Gateway
from rules.clock import FixedClock
from rules.kpi import DayReport
from rules.tidal import DemandProfile

CST = timezone(timedelta(hours=8))
HALL_DAY = datetime(2026, 11, 23, 10, 0, tzinfo=CST)  # a simulated Monday, not the box's date


def test_after_a_restart_the_device_clock_and_todays_kpis_are_the_halls(tmp_path: Path) -> None:
    cfg = load_config(
        None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}, "clock": {"mode": "device"}}
    )
    first = Gateway(cfg)
    first.open()
    for i in range(3):
        at = HALL_DAY + timedelta(minutes=i)
        body = {
            "v": 1,
            "ts": at.isoformat(),
            "seq": i + 1,
            "type": "ticket.issued",
            "ticket_id": f"t{i}",
            "number": f"A{i:03d}",
            "service": "SB",
        }
        first.handle("hall/h1/ticket_machine/TM1/evt", json.dumps(body).encode(), datetime.now(UTC))
    first.close()  # saves the state: nothing is left to replay on the next start

    second = Gateway(cfg)
    second.open()
    try:
        assert abs(second.clock.now() - (HALL_DAY + timedelta(minutes=2))) < timedelta(seconds=30)
        report = second.reports.report(HALL_DAY.date(), second.clock.now(), second.store)
        assert second.reports.today is not None and second.reports.today.day == HALL_DAY.date()
        assert report.hall.issued == 3
    finally:
        second.close()


def test_a_restart_carries_on_from_the_saved_kpi_book_with_what_was_logged_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Today's KPI book is saved with the hall state; a start loads it and replays only the events logged after it
    (not the day since midnight), and reports what a gateway that never stopped reports. Under another configuration
    the saved book does not fit: the day is rebuilt from the log, with the same figures."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    first, send = running(cfg)

    def ticket(i: int, issued: datetime, called: datetime | None) -> None:
        send("ticket_machine/TM1", issued, "ticket.issued", ticket_id=f"t{i}", number=f"A{i:03d}", service="SB")
        if called is not None:
            send("window/W1", called, "ticket.called", ticket_id=f"t{i}", number=f"A{i:03d}", window_id="W1")

    for i in range(6):  # the morning: saved with the state
        ticket(i, HALL_DAY + timedelta(minutes=2 * i), HALL_DAY + timedelta(minutes=2 * i + 1))
    first.flush(save_state=True)
    for i in range(6, 10):  # after the save: logged, not in the saved book; one still waiting
        ticket(i, HALL_DAY + timedelta(minutes=20 + i), HALL_DAY + timedelta(minutes=30 + i) if i < 9 else None)
    first.flush()
    at = HALL_DAY + timedelta(minutes=50)
    expected = first.reports.report(HALL_DAY.date(), at, first.store)
    assert first.store is not None
    first.store.close()  # a crash: nothing more saved

    def restarted(config: GatewayConfig) -> tuple[DayReport, str]:
        caplog.clear()
        gw = Gateway(config, clock=FixedClock(at))
        with caplog.at_level(logging.INFO, logger="edge.reports"):
            gw.open()
        try:
            (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kpi book restored")]
            return gw.reports.report(HALL_DAY.date(), at, gw.store), line
        finally:
            gw.close()

    report, line = restarted(cfg)
    assert "from=saved book" in line
    assert report == expected
    assert (report.hall.issued, report.hall.called) == (10, 9)

    other = cfg.model_copy(update={"tidal": cfg.tidal.model_copy(update={"target_wait_min": 20.0})})
    report, line = restarted(other)
    assert "from=log" in line  # the saved book counted SL against 15 min: rebuilt for 20
    assert (report.hall.issued, report.hall.called) == (10, 9)


def test_a_restart_carries_on_from_the_saved_demand_profile_with_what_was_logged_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The demand profile (five weeks of arrivals and window hours) is saved with the hall state; a start loads it and
    learns the events logged after it, instead of scanning five weeks of the log — and knows what a profile learned
    from the whole log knows."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    first, send = running(cfg)

    send("window/W1", HALL_DAY, "window.opened", window_id="W1")
    for i in range(5):
        send(
            "ticket_machine/TM1",
            HALL_DAY + timedelta(minutes=7 * i),
            "ticket.issued",
            ticket_id=f"t{i}",
            number=f"A{i:03d}",
            service="SB",
        )
    first.flush(save_state=True)
    for i in range(5, 9):  # after the save: in the log only
        send(
            "ticket_machine/TM1",
            HALL_DAY + timedelta(minutes=7 * i),
            "ticket.issued",
            ticket_id=f"t{i}",
            number=f"A{i:03d}",
            service="SB",
        )
    send("window/W1", HALL_DAY + timedelta(hours=1), "window.closed", window_id="W1")
    first.flush()
    assert first.store is not None and first.decider is not None
    live = first.decider.demand.dump()
    first.store.close()  # a crash: nothing more saved

    caplog.clear()
    second = Gateway(cfg, clock=FixedClock(HALL_DAY + timedelta(hours=2)))
    with caplog.at_level(logging.INFO, logger="edge.decisions.loop"):
        second.open()
    try:
        assert second.decider is not None and second.store is not None
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("demand profile restored")]
        assert lines and "from=saved events=5" in lines[0], lines  # the four tickets and the window's close
        assert second.decider.demand.dump() == live  # what the uninterrupted gateway had learned
        whole = DemandProfile(cfg.hall.timezone)
        learn_history(whole, second.store, HALL_DAY + timedelta(hours=2))
        assert second.decider.demand.dump() == whole.dump()  # … and what five weeks of the log teach
    finally:
        second.close()


def running(cfg: GatewayConfig) -> tuple[Gateway, Callable[..., None]]:
    """An open gateway on a manual clock at HALL_DAY, and `send(device, at, kind, **fields)`: one device event at
    `at` (the clock moved there), numbered in order."""
    clock = FixedClock(HALL_DAY)
    gw = Gateway(cfg, clock=clock)
    gw.open()
    seq = iter(range(1, 1000))

    def send(device: str, at: datetime, kind: str, **fields: object) -> None:
        clock.set(at)
        body = {"v": 1, "ts": at.isoformat(), "seq": next(seq), "type": kind, **fields}
        gw.handle(f"hall/h1/{device}/evt", json.dumps(body).encode(), at)

    return gw, send
