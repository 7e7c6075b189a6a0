"""The staff's lunch breaks on the manager's floor view (错峰午休, issue 20), end to end: Debian's chromium
(Playwright) against the county demo hall's gateway over a real mosquitto, with 张敏 (社保1号窗) and 李娜 (社保2号窗)
made AB partners.
The gateway plans the day's lunches from the roster a day ahead; the page shows who pauses when and who covers.

At 社保1号窗's planned start eleven people wait for social insurance: the break is held back 15 min, the row changes
to "推迟到 …" without a reload (the live stream's `break`), the window's terminal is told why (a nudge with the
words), and tomorrow's plan is there to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, demo_gateway, wait_until
from tests.integration.test_web_ui import sign_in

HALL = "county-01"
SPEED = 1  # the hall's clock moves with the test's messages, not by itself


def partners(cfg: dict[str, Any]) -> None:
    cfg["staff"]["S1001"]["partner"] = "S1002"  # 张敏 at 社保1号窗, 李娜 at 社保2号窗 (who works through lunch)


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    return demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=SPEED, max_lead_s=86_400, edit=partners)


class Devices:
    def __init__(self, publisher: Publisher, start: datetime) -> None:
        self.pub, self.start, self.seq = publisher, start, {}  # type: ignore[var-annotated]

    def send(self, kind: str, device: str, minutes: float, on: str = "evt", **fields: object) -> None:
        self.seq[device] = self.seq.get(device, 0) + 1
        at = self.start + timedelta(minutes=minutes)
        body = {"v": 1, "ts": at.isoformat(), "seq": self.seq[device], **fields}
        self.pub.send(f"hall/{HALL}/{kind}/{device}/{on}", json.dumps(body))

    def walk(self, to: float) -> None:
        """The hall's clock on to `to` minutes after the start, in heartbeats of W01 four minutes apart: the device
        clock follows a time at most 5 min ahead (a device alone cannot make it jump)."""
        at = 0.0
        while at < to:
            at = min(at + 4, to)
            self.send("window", "W01", at, on="state", online=True)


def test_the_manager_reads_the_lunch_plan_and_sees_a_break_held_back_live(
    county: GatewayProcess, publisher: Publisher, browser: Browser
) -> None:
    monday = datetime(2026, 11, 23, 10, 30, tzinfo=CST)
    dev = Devices(publisher, monday)
    for w in ("W01", "W02"):  # the morning: the two SB windows open, the hall's clock at Monday 10:30
        dev.send("window", w, 0, on="state", online=True)
    dev.send("window", "W01", 0.1, type="window.opened", staff_id="S1001", services=["SB"])
    dev.send("window", "W02", 0.1, type="window.opened", staff_id="S1002", services=["SB", "YB"])
    publisher.wait()

    def w01() -> dict[str, Any] | None:
        day = county.get("/api/rota/breaks")
        assert isinstance(day, dict)
        return next((b for b in day["breaks"] if b["window_id"] == "W01"), None) if day["day"] == "2026-11-23" else None

    wait_until(lambda: w01() is not None, timeout=60, what="Monday's lunch plan with 社保1号窗")
    planned = w01()
    assert planned is not None and planned["state"] == "planned"
    assert (planned["cover_window_id"], planned["cover_staff_name"]) == ("W02", "李娜")
    start = datetime.fromisoformat(planned["start"])
    assert start.time() >= datetime(2026, 11, 23, 11, 0).time()  # within tidal.lunch (11:00-14:00)
    before = (start - monday).total_seconds() / 60

    page = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(page, county.url, "wang")
        section = page.get_by_role("region", name="午休安排（错峰）")
        row = section.locator("tr[data-window='W01']")
        expect(row).to_contain_text("社保1号窗")
        expect(row).to_contain_text("张敏")
        expect(row).to_contain_text(f"{start:%H:%M}–")
        expect(row).to_contain_text("社保2号窗（李娜）顶岗")
        expect(row).to_have_attribute("data-state", "planned")
        expect(section).to_contain_text("尚无该工作日的客流记录")  # a new box: planned without history, and says so

        dev.walk(before - 5)  # on to five minutes before it (the hall's clock follows plausible steps only)
        for i in range(12):  # twelve people for social insurance just before 张敏's lunch
            number = f"A{i:03d}"
            dev.send("ticket_machine", "TM01", before - 5 + i / 10, type="ticket.issued", ticket_id=f"t-{number}",
                     number=number, service="SB", channel="walk_in")  # fmt: skip
        publisher.wait()
        wait_until(lambda: county.get("/api/hall")["services"] and sum(  # type: ignore[index]
            s["waiting"] for s in county.get("/api/hall")["services"] if s["code"] == "SB"  # type: ignore[index]
        ) == 12, timeout=30, what="12 waiting for SB")  # fmt: skip
        # the clock reaches the break's start: 李娜 calls the first (eleven still wait)
        dev.send("window", "W02", before + 0.1, type="ticket.called", ticket_id="t-A000")
        publisher.wait()

        later = start + timedelta(minutes=15)
        expect(row).to_have_attribute(
            "data-state", "held", timeout=10_000
        )  # the live stream said so (its 30 s poll is later)
        expect(row).to_contain_text(f"推迟到 {later:%H:%M}")
        expect(row).to_contain_text("社会保险 11 人等候")
        expect(row).to_contain_text(f"{later:%H:%M}–")
        expect(row).to_contain_text(f"原定 {start:%H:%M}")
        shown = [c for c in county.get("/api/commands") if c["device"] == "W01"]  # type: ignore[union-attr]
        # the break's words reach W01's terminal as a nudge (the command a window terminal takes); W01 calling nobody
        # while twelve wait may also have earned it the idle-window nudge, depending on when the rules looked
        assert [c["type"] for c in shown if str(c["cmd_id"]).startswith("break-")] == ["nudge"], shown
        assert {c["type"] for c in shown} == {"nudge"}, shown

        section.get_by_role("button", name="明天（提前排好）").click()
        tomorrow = section.locator("tr[data-window='W01']")
        expect(section.get_by_role("button", name="明天（提前排好）")).to_have_attribute("aria-pressed", "true")
        expect(tomorrow).to_have_attribute("data-state", "planned")
        expect(tomorrow).not_to_contain_text("推迟")
        expect(section.locator("tbody tr")).to_have_count(8)  # every person with a lunch (covers_lunch: none)
    finally:
        page.context.close()
