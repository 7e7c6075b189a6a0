"""Alerts people can work, in the browser (issue 19): Debian's chromium (Playwright) against a gateway fed by the
simulated county morning over a real mosquitto. Each alert card says how long ago it began ("12 分钟前") with the full
time in its tooltip; the floor view's alert history lists the morning's alerts in words, and narrowing it by
severity or by a search leaves only the matching rows — in Chinese and in English, with no machine text."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from playwright.sync_api import Browser, Page, Route, expect

from tests.integration.conftest import CST, GatewayProcess, wait_until
from tests.integration.test_web_ui import sign_in

MORNING = datetime(2026, 11, 23, 9, 0, tzinfo=CST)  # a Monday: TM02 low on paper at 09:10, out of paper 09:40–10:05
RAW = re.compile(r"\b[a-z_]+\.[a-z_]+ *=|\b(True|False|null|undefined|NaN)\b|\(\w+=\w+")


def rows(page: Page) -> list[dict[str, str]]:
    return page.locator("#alert-history tbody tr").evaluate_all(
        "trs => trs.map(r => ({severity: r.dataset.severity, text: r.innerText}))"
    )


def test_alerts_show_their_age_and_the_history_filters_and_searches_in_words(
    hall: GatewayProcess, browser: Browser, simulate: Callable[..., None]
) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    simulate("150m", MORNING)

    def paper_out_recorded() -> bool:  # the major alert of the morning (09:40) is in the history
        page = hall.get("/api/alerts/history?severity=major")
        return any(i["rule"] == "printer-paper-out" for i in page["items"])  # type: ignore[call-overload, index]

    wait_until(paper_out_recorded, 180, "TM02 out of paper (09:40) in the alert history")
    page = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(page, base, "wang")
        # 1. every alert card says how long ago it began, the full time in its tooltip
        cards = page.locator("#alerts li.alert")
        expect(cards.first).to_be_visible()
        began = page.locator("#alerts li.alert .began")
        expect(began).to_have_count(cards.count())
        expect(began.first.locator(".ago")).to_have_text(re.compile(r"^(刚刚|\d.*前)$"))
        expect(began.first).to_have_attribute("title", re.compile(r"^开始于 \d\d/\d\d \d\d:\d\d$"))

        # 2. the history: the morning's alerts in words, newest first
        history = page.locator("#alert-history")
        history.scroll_into_view_if_needed()
        expect(history.get_by_role("heading", name="告警记录")).to_be_visible()
        expect(history.locator("tbody tr").nth(3)).to_be_visible()
        everything = rows(page)
        assert {r["severity"] for r in everything} >= {"major", "info"}

        # by severity: only the major ones, fewer rows
        history.get_by_label("级别").select_option(label="重要")
        expect(history.locator("tbody tr:not([data-severity=major])")).to_have_count(0)
        major = rows(page)
        assert 0 < len(major) < len(everything)
        assert all("重要" in r["text"] for r in major)
        assert any("缺纸" in r["text"] for r in major), major

        # by a search over the words people read: only the paper alerts. The unfiltered list asked for on the way
        # (severity back to "all") is answered late, after the search's: the manager still sees the search's rows.
        held: list[Route] = []

        def answer_late(route: Route) -> None:
            if "q=" in route.request.url:
                route.continue_()
            else:
                held.append(route)

        page.route("**/api/alerts/history?*", answer_late)
        history.get_by_label("级别").select_option(label="全部")
        history.get_by_label("搜索").fill("纸")
        history.get_by_role("button", name="查询").click()
        expect(history.locator(".history-rows")).to_have_attribute("aria-busy", "false")
        paper = rows(page)
        assert 0 < len(paper) < len(everything)
        assert all("纸" in r["text"] and "TM02" in r["text"] for r in paper), paper
        assert held, "the unfiltered list was asked for"
        with page.expect_response(lambda r: "/api/alerts/history?" in r.url and "q=" not in r.url):
            for route in held:
                route.continue_()
        page.unroute("**/api/alerts/history?*")
        page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # the late answer has been handled
        after = rows(page)
        assert 0 < len(after) < len(everything)
        assert all("纸" in r["text"] for r in after), after

        # no machine text anywhere in the panel, in either language
        text = history.inner_text()
        assert not RAW.search(text), RAW.search(text)
        page.locator("#lang").click()
        expect(history.get_by_role("heading", name="Alert history")).to_be_visible()
        expect(history.locator("tbody tr").first).to_contain_text(re.compile("paper", re.IGNORECASE))
        expect(page.locator("#alerts li.alert .began .ago").first).to_have_text(re.compile(r"^(just now|\d.* ago)$"))
        text = history.inner_text()
        assert not RAW.search(text), RAW.search(text)
        assert not re.search(r"[\u4e00-\u9fff]", page.locator("#alert-history thead").inner_text())
    finally:
        page.context.close()
