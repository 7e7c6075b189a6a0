"""A gateway that follows the devices' clock resumes, after a restart, at the hall time it had — so today's KPIs
are rebuilt for the hall's day, not for the box's calendar day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from edge.config import load_config
from edge.gateway import Gateway

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
