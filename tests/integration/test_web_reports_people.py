"""The report page's per-window and per-staff tables in Debian's chromium (Playwright), against the simulated county
hall as `hallops demo` plays it (issue 19): both tables show every window and every staff member who signed in, with
the figures' units in the headers; the windows' served add up to the hall's; AHT, idle time and satisfaction are
plausible; a column header sorts the rows; the misses are said in words; a service row whose served and issued count
different tickets says why; no machine text in Chinese or English, and axe finds nothing.
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page

from devices.simulator.scenario import load_scenario
from edge.demo import DEMO_PASSWORD
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_scan import VISIBLE_TEXT, demo_hall, machine_text

DESK = {"width": 1600, "height": 1000}
PHONE = {"width": 390, "height": 844}


def open_reports(browser: Browser, base: str, lang: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=viewport)
    r = httpx.post(f"{base}/api/session", json={"user": "manager", "password": DEMO_PASSWORD}, timeout=10)
    r.raise_for_status()
    context.add_cookies([{"name": "hallops_session", "value": r.cookies["hallops_session"], "url": base}])
    page = context.new_page()
    page.goto(base + "/")
    page.evaluate(f"localStorage.setItem('hallops.lang', '{lang}')")
    page.goto(base + "/#/reports")
    page.reload()  # (the language is read at start)
    page.locator("#report-staff table.people tbody tr").first.wait_for(timeout=30_000)
    return page


def column(page: Page, table: str, kpi: str) -> list[str]:
    """The text of a column's cells, top to bottom, without the "below target" word."""
    return page.eval_on_selector_all(
        f"#report-{table} table.people tbody td[data-kpi='{kpi}']",
        "(tds) => tds.map((td) => td.firstChild ? td.firstChild.textContent.trim() : '')",
    )


def heads(page: Page, table: str) -> list[str]:
    """A table's column headers, without the sort mark (▲ ▼) of the column it is sorted by."""
    return page.eval_on_selector_all(
        f"#report-{table} thead th", "(ths) => ths.map((th) => th.querySelector('button').firstChild.textContent)"
    )


def numbers(cells: list[str]) -> list[float | None]:
    return [None if c == "—" else float(c) for c in cells]


def consistent(page: Page) -> tuple[int, list[int]]:
    """The hall's served (the daily table's first row) and the windows' served, from one load of the page: the hall
    is live, so a ticket completed between the page's requests is reloaded away (at most a few times)."""
    for _ in range(5):
        hall = int(page.locator("#daily tbody tr").first.locator("td[data-kpi='served']").evaluate(
            "(td) => td.firstChild.textContent"))  # fmt: skip
        windows = [int(x) for x in column(page, "windows", "served")]
        if sum(windows) == hall:
            return hall, windows
        page.reload()
        page.locator("#report-staff table.people tbody tr").first.wait_for(timeout=30_000)
    return hall, windows


def test_the_report_shows_each_window_and_staff_member_plausibly_in_both_languages(browser: Browser) -> None:
    scenario = load_scenario("county")
    with demo_hall("county", minutes=90, prefix="hallops-reports") as base:
        page = open_reports(browser, base, "zh", DESK)
        try:
            zh = heads(page, "windows")
            assert zh[:4] == ["窗口", "工作人员", "办结（张）", "平均办理时长（分钟）"]
            assert "空闲时长（分钟）" in zh and "暂停（次）" in zh and "暂停时长（分钟）" in zh
            assert "满意率（%）" in zh and "评价（条）" in zh
            assert page.locator("#report-windows th[aria-sort='ascending']").inner_text().startswith("窗口")
            # every window of the hall has a row, by its name; the staff who signed in, by the roster's names
            names = page.eval_on_selector_all("#report-windows tbody th", "(ths) => ths.map((th) => th.innerText)")
            assert sorted(names) == sorted(w.name for w in scenario.windows)
            staff = page.eval_on_selector_all("#report-staff tbody th", "(ths) => ths.map((th) => th.innerText)")
            assert set(staff) <= {w.staff_name for w in scenario.windows} and len(staff) >= 6

            hall, windows = consistent(page)
            assert hall > 20 and sum(windows) == hall, (hall, windows)
            assert sum(int(x) for x in column(page, "staff", "served")) == hall
            ahts = [a for a in numbers(column(page, "windows", "aht")) if a is not None]
            assert ahts and all(1 <= a <= 60 for a in ahts), ahts
            idle, opened = numbers(column(page, "windows", "idle")), numbers(column(page, "windows", "open"))
            assert all(
                i is not None and o is not None and 0 <= i <= o <= 24 * 60 for i, o in zip(idle, opened, strict=True)
            )
            satisfied = [s for s in numbers(column(page, "windows", "satisfaction")) if s is not None]
            assert satisfied and all(0 <= s <= 100 for s in satisfied)

            # a miss is said in words next to the figure and listed over the table
            for cell in page.locator("#report-windows td.miss").all():
                assert cell.locator(".miss-word").inner_text() == "未达标"
            listed = page.locator("#report-windows p.misses, #report-windows p.note").first.inner_text()
            assert listed.startswith(("未达标：", "全部达标", "办结计在"))

            # sorting: by served, the most first; again, the other way
            page.locator("#report-windows th button[data-sort='served']").click()
            assert page.locator("#report-windows th[aria-sort='descending']").inner_text().startswith("办结")
            served = [int(x) for x in column(page, "windows", "served")]
            assert served == sorted(served, reverse=True)
            page.keyboard.press("Enter")  # (the button keeps the focus)
            served = [int(x) for x in column(page, "windows", "served")]
            assert served == sorted(served)

            # a row that served more than it issued says why, with the day's counts of each reason
            why = httpx.get(
                f"{base}/api/reports/{page.locator('#report-day').input_value()}/served",
                auth=("manager", DEMO_PASSWORD),
                timeout=10,
            ).json()["rows"]
            notes = page.locator("#daily ol.notes li").all_inner_texts()
            more = [row for row in why if row["served"] > row["issued"]]
            assert len(notes) == len(more), (notes, more)
            for row, note in zip(more, notes, strict=True):
                if row["transferred_in"]:
                    assert f"{row['transferred_in']} 张从其他业务转入" in note, (row, note)
                if row["before"]:
                    assert f"{row['before']} 张前一日或开始记录前取的号" in note, (row, note)

            assert machine_text(page.evaluate(VISIBLE_TEXT), "zh") == []
            assert axe_violations(page) == []
        finally:
            page.context.close()

        page = open_reports(browser, base, "en", PHONE)
        try:
            en = heads(page, "staff")
            assert en[:4] == ["Staff", "Windows", "Served (tickets)", "Average handling time (min)"]
            assert "Idle (min)" in en and "Paused (min)" in en and "Satisfaction (%)" in en
            text = page.locator("#report-windows").inner_text()
            assert re.search(r"is marked “off target”", text) and "未达标" not in text
            for cell in page.locator("#report-staff td.miss").all():
                assert cell.locator(".miss-word").inner_text() == "off target"
            assert machine_text(page.evaluate(VISIBLE_TEXT), "en") == []
            wide = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
            assert wide[0] <= wide[1], wide  # the wide tables scroll inside their own region
            assert axe_violations(page) == []
        finally:
            page.context.close()
