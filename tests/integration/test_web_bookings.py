"""Appointments (预约) as known arrivals, end to end (issue 20): the county demo hall's gateway over a real mosquitto,
Debian's chromium (Playwright) for the manager's floor view.

At 10:30 on a Monday the queue system (ticket machine TM01) publishes twelve bookings for social insurance at 10:45.
Nobody is waiting yet, yet the gateway recommends opening a window for them — its words count the booked people —
and the floor view lists them per service. TM02 trying to cancel two of TM01's bookings is refused and counted;
a booked person checking in is counted as come.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, demo_gateway, wait_until
from tests.integration.test_web_breaks import Devices
from tests.integration.test_web_ui import sign_in


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    return demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=1, max_lead_s=86_400)


def social_insurance(county: GatewayProcess) -> dict[str, Any] | None:
    day = county.get("/api/rota/appointments")
    assert isinstance(day, dict)
    return next((s for s in day["services"] if s["service"] == "SB"), None)


def test_booked_people_are_counted_before_they_come_and_shown_on_the_floor(
    county: GatewayProcess, publisher: Publisher, browser: Browser
) -> None:
    dev = Devices(publisher, datetime(2026, 11, 23, 10, 30, tzinfo=CST))
    for w in ("W01", "W02", "W11", "W12"):
        dev.send("window", w, 0, on="state", online=True)
    dev.send("window", "W01", 0.1, type="window.opened", staff_id="S1001", services=["SB"])
    slot = datetime(2026, 11, 23, 10, 45, tzinfo=CST).isoformat()
    for i in range(12):
        dev.send("ticket_machine", "TM01", 0.2, type="appointment.booked", appointment_id=f"YY{i:03d}", service="SB",
                 slot=slot, slot_min=30)  # fmt: skip
    for i in range(2):  # another machine cannot withdraw them
        dev.send("ticket_machine", "TM02", 0.3, type="appointment.cancelled", appointment_id=f"YY{i:03d}")
    publisher.wait()
    wait_until(lambda: (social_insurance(county) or {}).get("booked") == 12, timeout=30, what="12 bookings for SB")
    day = county.get("/api/rota/appointments")
    assert isinstance(day, dict)
    assert day["known"] is True and day["refused"] == {"not_owner": 2}
    assert social_insurance(county) == {
        "service": "SB", "name": "社会保险", "name_en": "Social insurance", "booked": 12, "arrived": 0, "waiting": 12,
        "no_show": 0, "next_hour": 12,
    }  # fmt: skip

    def booked_rec() -> dict[str, Any] | None:
        recs = county.get("/api/recommendations")
        assert isinstance(recs, list)
        return next((r for r in recs if "SB" in r["services"] and r["kind"] == "open"), None)

    dev.walk(2)  # the next minute's recommender run
    wait_until(lambda: booked_rec() is not None, timeout=60, what="an opening for the booked social insurance")
    rec = booked_rec()
    assert rec is not None and rec["backlog"] == 0 and rec["appointments"] == 11  # 12 booked, 9 in 10 come
    assert "未来 20 分钟预约 11 人" in rec["reason_zh"] and "11 booked in the next 20 min" in rec["reason_en"]

    page = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(page, county.url, "wang")
        section = page.get_by_role("region", name="今日预约")
        row = section.locator("tr[data-service='SB']")
        expect(row).to_contain_text("社会保险")
        expect(row.locator("td[data-col='booked']")).to_have_text("12")
        expect(row.locator("td[data-col='next_hour']")).to_have_text("12")
        expect(section).to_contain_text("潮汐测算已把待到的预约计入")
        expect(section).to_contain_text("有 2 条预约或取消被拒收")
        expect(page.locator("section#guides")).to_be_hidden()  # no mobile post in this roster: nothing to show
    finally:
        page.context.close()

    dev.send("ticket_machine", "TM01", 2.5, type="appointment.checked_in", appointment_id="YY003", service="SB")
    publisher.wait()
    wait_until(lambda: (social_insurance(county) or {}).get("arrived") == 1, timeout=30, what="one booked person came")
    assert (social_insurance(county) or {}).get("waiting") == 11
