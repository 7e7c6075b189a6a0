"""Words, not machine text (issue 19), in the browser: Debian's chromium (Playwright) against the county gateway with
users, its devices played over a real mosquitto (tests/integration/test_web_technician.py's `Devices`).

TM02 runs out of paper, someone at K01 asks for help, W04 is rated 1. On the manager's floor each alert reads as a
sentence from its rule's template — the device by its kind, id and place, the window by its name, the time it began —
in Chinese and, after the language switch, in English; never `device.printer = paper_out (device=TM02, …)`; the
camera zones by name (等候区A), not `wait-a`; the window W04 in English by its English name, its staff member by the
roster's name (刘洋 / Liu Yang), not S1004. The
manager acknowledges the paper alert: it says 王经理, not `wang`. The wall screen shows the public words of the paper
alert (no device id), nothing of the rating and no staff name; the administrator's rule list names the rules in Chinese.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

from tests.integration.conftest import GatewayProcess, wait_until
from tests.integration.test_web_technician import Devices, devices, gateway  # noqa: F401 - fixtures used here
from tests.integration.test_web_ui import sign_in

CST = ZoneInfo("Asia/Shanghai")
MACHINE_TEXT = re.compile(r"\w+\.\w+ = |\(\w+=|\b(True|False|None|null|undefined)\b|paper_out|ticket_machine")


def alerts(gw: GatewayProcess) -> dict[str, dict[str, object]]:
    rows = gw.get("/api/alerts")
    assert isinstance(rows, list)
    return {str(a["rule"]): a for a in rows if a["state"] == "firing"}


def hhmm(iso: object) -> str:
    assert isinstance(iso, str)
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%H:%M")


def test_floor_alerts_read_as_words_in_both_languages_and_name_who_acknowledged_them(
    gateway: GatewayProcess,  # noqa: F811 - the fixture
    devices: Devices,  # noqa: F811 - the fixture
    browser: Browser,
) -> None:
    gw = gateway
    base = f"http://127.0.0.1:{gw.port}"
    for tm in ("TM01", "TM02"):
        devices.send("ticket_machine", tm, "state", online=True, printer="ok", paper_pct=60, firmware="TM-3.2.1")
    devices.send("kiosk", "K01", "state", online=True, printer="ok")
    devices.send("ticket_machine", "TM02", "state", online=True, printer="paper_out", paper_pct=0, firmware="TM-3.2.1")
    devices.send("kiosk", "K01", "evt", type="kiosk.help_requested")
    devices.send("window", "W04", "evt", type="window.opened", staff_id="S1004", services=["BDC"])
    devices.send("evaluator", "EV04", "evt", type="rating.submitted", window_id="W04", score=1)
    devices.send("camera", "CAM-A", "evt", type="occupancy", zones={"wait-a": 12, "self-service": 2})
    wanted = {"printer-paper-out", "kiosk-help-requested", "bad-rating"}
    wait_until(lambda: wanted <= set(alerts(gw)), what="the paper, help and rating alerts")
    firing = alerts(gw)
    at = {rule: hhmm(firing[rule]["active_since"]) for rule in wanted}
    paper_fp = firing["printer-paper-out"]["fingerprint"]

    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    wall = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1920, "height": 1080})
    screen = wall.new_page()
    try:
        sign_in(page, base, "wang")
        card = {rule: page.locator(f"li.alert[data-fingerprint='{firing[rule]['fingerprint']}']") for rule in wanted}
        expect(card["printer-paper-out"].locator(".reason")).to_have_text(
            f"取号机 TM02（1F-entrance-right）打印机缺纸，无法出票（{at['printer-paper-out']}起）"
        )
        expect(card["kiosk-help-requested"].locator(".reason")).to_have_text(
            f"自助终端 K01（1F-self-service）有群众求助（{at['kiosk-help-requested']}）"
        )
        expect(card["bad-rating"].locator(".reason")).to_have_text(
            f"不动产1号窗收到1分差评（{at['bad-rating']}）：请整改并回访"
        )
        reasons = page.locator("li.alert .reason").all_inner_texts()
        assert reasons and not [r for r in reasons if MACHINE_TEXT.search(r)], reasons
        expect(page.locator("ul.zones .zname")).to_have_text(["等候区A", "自助服务区"])  # not `wait-a`
        expect(page.locator("li.win[data-window='W04'] .staff")).to_have_text("刘洋")  # staff: the roster's name

        # the wall: the paper alert in public words, without the machine's id; the rating not at all
        sign_in(screen, base, "wang")
        screen.goto(f"{base}/#/wall")
        notices = screen.locator(".wall-alerts")
        expect(notices).to_contain_text("取号机（1F-entrance-right）暂停服务，请使用其他取号机")
        shown = notices.inner_text()
        assert "TM02" not in shown and "差评" not in shown and "EV04" not in shown and not MACHINE_TEXT.search(shown)
        assert "刘洋" not in screen.locator("body").inner_text()  # staff names are never on the wall

        # acknowledged: the manager by name
        page.locator(f"[data-key='ack-{paper_fp}']").click()
        expect(card["printer-paper-out"].locator(".acked")).to_have_text("已确认（王经理）")
        acked = gw.get(f"/api/alerts/{paper_fp}")
        assert isinstance(acked, dict)
        assert acked["alert"]["acknowledged_by"] == "wang" and acked["alert"]["names"] == {"wang": "王经理"}

        # the same alerts in English
        page.locator("#lang").click()
        expect(card["printer-paper-out"].locator(".reason")).to_have_text(
            "Ticket machine TM02 (1F-entrance-right): the printer is out of paper and prints nothing "
            f"(since {at['printer-paper-out']})"
        )
        expect(card["printer-paper-out"].locator(".acked")).to_have_text("acknowledged by 王经理")
        expect(page.locator("ul.zones .zname")).to_have_text(["Waiting area A", "Self-service area"])
        expect(card["kiosk-help-requested"].locator(".reason")).to_have_text(
            f"Someone at self-service kiosk K01 (1F-self-service) asks for help ({at['kiosk-help-requested']})"
        )
        expect(card["bad-rating"].locator(".reason")).to_have_text(
            f"Real estate registration window 1 was rated 1 of 5 ({at['bad-rating']}): rectify and call the "
            "citizen back"
        )
        expect(page.locator("li.win[data-window='W04'] .staff")).to_have_text("Liu Yang")  # the roster's, not S1004
        reasons = page.locator("li.alert .reason").all_inner_texts()
        assert reasons and not [r for r in reasons if MACHINE_TEXT.search(r)], reasons

        # the administrator's rule list names each rule in the page's language, not by its English description
        admin = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
        sign_in(admin, base, "root")
        admin.goto(f"{base}/#/admin")
        row = admin.locator("table.rules tbody tr", has=admin.locator("code", has_text=re.compile("^wait-60$")))
        expect(row.locator("td").last).to_have_text("等候超1小时")
        admin.context.close()
    finally:
        context.close()
        wall.close()
