"""One paper roll, one ticket: the county morning (TM02 low on paper from 09:10, out of paper at 09:40 for 25 min)
played into the gateway with the built-in rules, in-process on the hall's clock (tests/hallday.py). Before issue 19
the roll opened two tickets, paper low and paper out; now paper out escalates the paper-low ticket, which the
technician's list shows once, with both faults, and which resolves itself once the roll is changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from devices.simulator import HallSimulation, load_scenario
from tests.hallday import HallDay, plain_config

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=CST)  # a Monday


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return DAY.replace(hour=int(h), minute=int(m))


async def test_paper_low_then_paper_out_is_one_ticket_escalated_then_resolved(tmp_path: Path) -> None:
    with HallDay(plain_config(tmp_path / "gateway.db", "county-01", 120), at("09:00")) as day:
        day.play(HallSimulation(load_scenario("county"), 1, at("09:00"), at("10:30")))
        async with day.api() as http:
            everything = (await http.get("/api/tickets", params={"status": "all"})).json()
            technician = (await http.get("/api/tickets", params={"status": "all", "kind": "device_fault"})).json()
            today = (await http.get("/api/tickets", params={"resolved_on": "2026-11-23"})).json()
    [paper] = [t for t in everything if t["device"] == "TM02"]  # one roll, one ticket
    assert paper["id"] in {t["id"] for t in technician}
    assert [f["rule_id"] for f in paper["faults"]] == ["printer-paper-low", "printer-paper-out"]
    assert paper["rule_id"] == "printer-paper-low" and paper["title"].startswith("printer-paper-out")
    assert paper["priority"] == "P2", "one of two ticket machines out of paper"
    escalation = next(h for h in paper["history"] if h["note"].startswith("printer-paper-out at 2026-11-23 09:4"))
    assert "P3 → P2" in escalation["note"]
    # the roll was changed at 10:05: ten minutes later the ticket resolved itself, and it is among today's resolved
    [done] = [t for t in today if t["id"] == paper["id"]]
    assert (done["status"], done["resolved_auto"]) == ("resolved", True)
    assert done["resolved_at"].startswith("2026-11-23T10:0")
