"""The web UI on a phone (390×844, Debian's chromium): the hall manager sees the alerts (then the tidal windows and the
rectification) before the floor, the technician the tickets first; nothing scrolls sideways; every button, link and
field a finger must hit is at least 44×44 px; the header (liveness chain, views, language, sign-out) stays compact.
Against the simulated county hall's morning, obeying the gateway, as in the demo.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from edge.broker import MosquittoProcess
from tests.harness import HallopsProcess, simulator_process
from tests.integration.conftest import HALL_SPEED, GatewayProcess, wait_until
from tests.integration.test_web_ui import sign_in

MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday: open, queues building
PHONE = {"width": 390, "height": 844}
TAP = 44  # px: the smallest target a finger hits reliably (WCAG 2.5.5)

# what is on the screen, top to bottom (not the document's order): the sections of the view and where they start
SECTIONS = """() => [...document.querySelectorAll('main section[id]')].filter((s) => s.getClientRects().length)
  .map((s) => [s.id, s.getBoundingClientRect().top]).sort((a, b) => a[1] - b[1])"""
# controls a finger must hit that are smaller than TAP in either direction (in the header and the view)
SMALL_TARGETS = f"""() => [...document.querySelectorAll(
    'header a, header button, header select, main a, main button, main select, main input, main summary')]
  .filter((e) => e.checkVisibility() && e.getClientRects().length)
  .map((e) => [e.outerHTML.slice(0, 90), e.getBoundingClientRect()])
  .filter(([, r]) => r.height < {TAP} - 0.5 || r.width < {TAP} - 0.5)
  .map(([html, r]) => `${{html}} ${{Math.round(r.width)}}×${{Math.round(r.height)}}`)"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE, has_touch=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def morning(hall: GatewayProcess, mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[GatewayProcess]:
    """The county hall's morning, played until the technician has a ticket to work."""
    sim: HallopsProcess = simulator_process(tmp_path / "simulator.log", mosquitto.url, "county", HALL_SPEED, MORNING)
    with sim:
        wait_until(
            lambda: any(tk["kind"] == "device_fault" for tk in hall.http.get("/api/tickets?status=active").json()),
            180,
            "a device ticket in the county hall",
        )
        yield hall


def no_sideways_scrolling(page: Page) -> None:
    width, screen = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= screen, f"the page is {width} px wide on a {screen} px phone"


def test_the_manager_sees_the_alerts_first_on_a_phone(morning: GatewayProcess, phone: Page) -> None:
    base = f"http://127.0.0.1:{morning.port}"
    sign_in(phone, base, "wang")
    expect(phone.locator("#kpi .kpi").first).to_be_visible()
    order = phone.evaluate(SECTIONS)
    names = [name for name, _ in order]
    # what the manager acts on leads: the alerts, the tidal windows, the rectification; the floor map after them
    assert names[:3] == ["alerts", "tidal", "rectify"], names
    assert names.index("floor") > names.index("kpi") > names.index("rectify")
    alerts_top = dict(order)["alerts"]
    assert alerts_top < 300, f"the alerts start at y={alerts_top}: the header takes the first screen"
    # the header is compact: the hall, the views with the language and sign-out, the clock and who, the chain
    assert phone.locator("header").bounding_box()["height"] < 240  # type: ignore[index]
    expect(phone.locator("#chain")).to_be_visible()
    expect(phone.get_by_role("button", name="退出")).to_be_in_viewport()
    for view in ("floor", "tech", "reports"):
        phone.get_by_role("link", name={"floor": "大厅", "tech": "工单", "reports": "报表"}[view]).click()
        expect(phone.locator(f"#nav a[href='#/{view}']")).to_have_attribute("aria-current", "page")
        phone.wait_for_timeout(1500)
        no_sideways_scrolling(phone)
        assert phone.evaluate(SMALL_TARGETS) == [], view
    # the floor map's tiles are smaller than on a desk: at least three windows a row
    phone.get_by_role("link", name="大厅").click()
    tiles = phone.locator("#floor .tiles").first.locator("li")
    expect(tiles.first).to_be_visible()
    # read in one go in the page: the floor may redraw its tiles between two calls from here
    tops = tiles.evaluate_all("els => els.slice(0, 3).map((e) => Math.round(e.getBoundingClientRect().y))")
    assert len(set(tops)) == 1, f"the first tiles are on rows {tops}"


def test_the_technician_sees_the_tickets_first_on_a_phone(morning: GatewayProcess, phone: Page) -> None:
    base = f"http://127.0.0.1:{morning.port}"
    sign_in(phone, base, "li")
    ticket = phone.locator("li.ticket").first
    expect(ticket).to_be_in_viewport()  # the first ticket on the first screen, under the header
    names = [name for name, _ in phone.evaluate(SECTIONS)]
    assert names[:3] == ["mine", "unassigned", "others"], names
    no_sideways_scrolling(phone)
    assert phone.evaluate(SMALL_TARGETS) == []
    # a ticket's details open on the phone and still fit the width
    ticket.get_by_role("button", name="详情").click()
    expect(ticket.locator(".tdetail")).to_be_visible()
    phone.wait_for_timeout(500)
    no_sideways_scrolling(phone)
    assert phone.evaluate(SMALL_TARGETS) == []
    # the device commands read as one card each, the device first, without a table wider than the phone
    commands = phone.locator("#commands table.commands tbody tr")
    wait_until(lambda: commands.count() > 0, 60, "a device command")
    first = commands.first
    expect(first).to_be_visible()
    # measured in one look: the list is re-drawn as commands come and go, and a row read in three steps may be gone
    card = first.evaluate(
        """tr => ({width: tr.getBoundingClientRect().width, device: tr.querySelector('th').getBoundingClientRect().y,
                 sent: tr.querySelector('td').getBoundingClientRect().y})"""
    )
    assert 0 < card["width"] <= PHONE["width"], card
    assert card["device"] < card["sent"], "the device is not the card's first line"
