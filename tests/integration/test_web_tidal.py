"""Tidal cards that are true (issue 19), end to end: Debian's chromium (Playwright) against the county demo hall's
gateway over a real mosquitto, the hall's devices played by the test so the situation is exact. Social insurance
(SB) has every window that can serve it open and busy, with 30 people waiting: no window can be proposed. Real
estate (BDC) has one window open and 30 waiting: closed BDC windows are proposed.

The manager sees the same steady-state number in each card's text and its bullet; rejects the BDC card with a reason
in the page's own dialog (no native browser dialog); and, on the SB card, has no Approve button (it would change
nothing) but "assign a window", picks 医保窗, and then sees it under the tidal windows in effect, assigned by 王经理.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Locator, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, GatewayProcess, Publisher, demo_gateway, wait_until
from tests.integration.test_web_ui import sign_in

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)  # the county hall is open
SPEED = 5  # hall seconds per second: a recommendation holds 10 hall minutes, two real minutes here
HALL = "county-01"


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    """The county demo hall's gateway with USERS; its device clock runs on between the test's messages."""
    return demo_gateway(gateway_factory, mosquitto.url, tmp_path, speed=SPEED, max_lead_s=86_400)


class Devices:
    """The county hall's devices as the test plays them."""

    def __init__(self, publisher: Publisher) -> None:
        self.pub = publisher
        self.seq: dict[str, int] = {}

    def send(self, kind: str, device: str, t: float, on: str = "evt", **fields: object) -> None:
        self.seq[device] = self.seq.get(device, 0) + 1
        body = {"v": 1, "ts": (MONDAY_10 + timedelta(seconds=t)).isoformat(), "seq": self.seq[device], **fields}
        self.pub.send(f"hall/{HALL}/{kind}/{device}/{on}", json.dumps(body))

    def morning(self) -> None:
        for i in range(1, 13):
            self.send("window", f"W{i:02d}", 0, on="state", online=True)
        opened = {"W01": ["SB"], "W02": ["SB", "YB"], "W11": ["SB", "YB"], "W12": ["SB"], "W04": ["BDC"], "W03": ["YB"]}
        for w, services in opened.items():
            self.send("window", w, 1, type="window.opened", staff_id=f"S10{w[1:]}", services=services)
        for i in range(30):
            for code, prefix in (("SB", "A"), ("BDC", "C")):
                ticket = f"{prefix}{i:03d}"
                self.send(
                    "ticket_machine",
                    "TM01",
                    5 + i,
                    type="ticket.issued",
                    ticket_id=f"t-{ticket}",
                    number=ticket,
                    service=code,
                    channel="walk_in",
                )
        for w, ticket in (("W01", "A000"), ("W02", "A001"), ("W11", "A002"), ("W12", "A003"), ("W04", "C000")):
            self.send("window", w, 40, type="ticket.called", ticket_id=f"t-{ticket}")
        self.pub.wait()


def steady_numbers(card: Locator) -> tuple[int, int]:
    """The steady-state window count in the card's text and in its bullet."""
    (text,) = re.findall(r"稳态需 (\d+) 个窗口", card.locator("p").first.inner_text())
    (bullet,) = re.findall(r"稳态需 (\d+) 个窗口", card.locator(".numbers li", has_text="稳态需").inner_text())
    return int(text), int(bullet)


def test_tidal_cards_say_one_number_reject_in_the_page_and_assign_a_window_when_none_can_be_proposed(
    county: GatewayProcess, publisher: Publisher, browser: Browser
) -> None:
    Devices(publisher).morning()

    def pending() -> dict[str, dict[str, object]]:
        rows = county.get("/api/recommendations")
        assert isinstance(rows, list)
        return {"+".join(r["services"]): r for r in rows}

    wait_until(lambda: {"SB", "BDC"} <= set(pending()), timeout=60, what="recommendations for SB and BDC")
    recs = pending()
    sb, bdc = recs["SB"], recs["BDC"]
    assert sb["windows"] == [] and bdc["windows"], "SB: no window can be proposed; BDC: closed windows can"
    assert sb["backlog_servers"] > sb["erlang_servers"]  # type: ignore[operator]  # where the old card said two numbers

    page = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    native: list[str] = []

    def dialog_opened(d: Dialog) -> None:
        native.append(d.type)
        d.dismiss()

    page.on("dialog", dialog_opened)
    try:
        sign_in(page, county.url, "wang")
        sb_card = page.locator(f"li.rec[data-rec='{sb['id']}']")
        bdc_card = page.locator(f"li.rec[data-rec='{bdc['id']}']")
        expect(sb_card).to_be_visible()
        expect(bdc_card).to_be_visible()

        # 1. one number: the text's "稳态需 N 个窗口" is the bullet's, on both cards
        for card, rec in ((sb_card, sb), (bdc_card, bdc)):
            said, shown = steady_numbers(card)
            assert said == shown == rec["erlang_servers"], (said, shown, rec["erlang_servers"])
        expect(sb_card).to_contain_text(f"需 {sb['backlog_servers']} 个窗口")  # the larger count, named as itself

        # 2. reject in the page's own dialog: Esc cancels and gives the focus back; a reason is required
        reject = bdc_card.get_by_role("button", name="驳回")
        reject.click()
        dialog = page.get_by_role("dialog", name="驳回潮汐建议")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_label("驳回原因")).to_be_focused()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(reject).to_be_focused()
        expect(bdc_card).to_be_visible()
        reject.click()
        dialog.get_by_role("button", name="驳回").click()
        expect(dialog.get_by_role("alert")).to_have_text("请填写驳回原因")
        expect(dialog.get_by_label("驳回原因")).to_have_attribute("maxlength", "500")
        dialog.get_by_label("驳回原因").fill("不动产窗口人员在开会")
        dialog.get_by_role("button", name="驳回").click()
        expect(dialog).to_have_count(0)
        expect(bdc_card).to_have_count(0)
        rejected = [e for e in county.get("/api/audit")["entries"] if e["action"] == "recommendation.reject"]  # type: ignore[index]
        assert [(e["actor"], e["subject"], e["detail"]["reason"]) for e in rejected] == [
            ("wang", bdc["id"], "不动产窗口人员在开会")
        ]

        # 3. no window can be proposed for SB: no Approve that would change nothing, but "assign a window"
        expect(sb_card.get_by_role("button", name="批准")).to_have_count(0)
        sb_card.get_by_role("button", name="指派窗口").click()
        dialog = page.get_by_role("dialog", name=re.compile("指派窗口"))
        expect(dialog).to_be_visible()
        windows = dialog.get_by_label("窗口", exact=True)
        options = windows.locator("option").all_inner_texts()
        assert any(o.startswith("医保窗（开放、无人办理") for o in options), options
        assert not any(o.startswith(("社保1号窗", "综合受理窗")) for o in options), "busy windows are not offered"
        windows.select_option(label=next(o for o in options if o.startswith("医保窗")))
        dialog.get_by_role("button", name="指派").click()
        expect(dialog).to_have_count(0)
        expect(sb_card).to_have_count(0)

        # … recorded (who, which window) and shown under the tidal windows in effect
        active = page.locator(".tidal-active li.tidal-win[data-window='W03']")
        expect(active).to_be_visible()
        expect(active).to_contain_text("医保窗")
        expect(active).to_contain_text("社会保险")
        expect(active).to_contain_text("王经理 指派")
        expect(active).to_contain_text("批准时")
        stored = county.get("/api/recommendations?status=all")
        assert [(r["status"], r["windows"], r["decided_by"]) for r in stored if r["id"] == sb["id"]] == [  # type: ignore[union-attr]
            ("assigned", ["W03"], "wang")
        ]
        audit = county.get("/api/audit")["entries"]  # type: ignore[index]
        assert [(e["actor"], e["detail"]["windows"]) for e in audit if e["action"] == "recommendation.assign"] == [
            ("wang", ["W03"])
        ]
        assert native == [], f"a native browser dialog opened: {native}"
    finally:
        page.context.close()
