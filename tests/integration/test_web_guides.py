"""The mobile post (流动岗) on the manager's floor view, end to end (issue 20): the county demo hall's gateway over a
real mosquitto, with a mobile-post person (方圆) added to its roster; Debian's chromium (Playwright).

Twelve people take tickets for social insurance within a few minutes of a new box (no history: the queue's growth is
the jump): the floor proposes sending 方圆 to the queue area, without a reload (the live stream's `guide`); the
manager sends them, the page shows them guiding, and calls them back.
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


def mobile_post(cfg: dict[str, Any]) -> None:
    cfg["staff"]["M01"] = {"name": "方圆", "name_en": "Fang Yuan", "kind": "mobile", "skills": ["SB", "YB"]}


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    return demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=1, max_lead_s=86_400, edit=mobile_post)


def test_the_manager_sends_the_mobile_post_when_arrivals_jump_and_calls_them_back(
    county: GatewayProcess, publisher: Publisher, browser: Browser
) -> None:
    dev = Devices(publisher, datetime(2026, 11, 23, 10, 0, tzinfo=CST))
    dev.send("window", "W01", 0, on="state", online=True)
    dev.send("window", "W01", 0.1, type="window.opened", staff_id="S1001", services=["SB"])
    publisher.wait()
    page = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(page, county.url, "wang")
        section = page.get_by_role("region", name="流动岗（客流突增引导）")
        expect(section).to_contain_text("客流平稳：暂无引导建议")
        for i in range(12):  # twelve for social insurance in three minutes
            number = f"A{i:03d}"
            dev.send("ticket_machine", "TM01", 0.5 + i / 4, type="ticket.issued", ticket_id=f"t-{number}",
                     number=number, service="SB", channel="walk_in")  # fmt: skip
        dev.walk(5)  # the hall's clock on: the next minute's look at the arrivals
        publisher.wait()
        offer = section.locator(".guide-offer[data-staff='M01']")
        expect(offer).to_contain_text("客流突增", timeout=60_000)  # the live stream said so
        expect(offer).to_contain_text("建议派流动岗 方圆 到排队区引导分流")
        expect(offer).to_contain_text("排队增加")  # a new box: no history, the queue's growth is the jump
        offer.get_by_role("button", name="派出").click()
        posted = section.locator("li[data-staff='M01']")
        expect(posted).to_contain_text("方圆 在排队区引导分流")
        now = county.get("/api/rota/guides")
        assert isinstance(now, dict) and now["proposed"] is None
        assert [g["staff_id"] for g in now["posted"]] == ["M01"]
        audit = county.get("/api/audit")
        assert any(e["action"] == "guide.post" and e["subject"] == "M01" for e in audit["entries"])  # type: ignore[index]
        posted.get_by_role("button", name="召回").click()
        expect(section.locator("li[data-staff='M01']")).to_have_count(0)
        wait_until(lambda: county.get("/api/rota/guides")["posted"] == [], timeout=10, what="the guide called back")  # type: ignore[index]
    finally:
        page.context.close()
