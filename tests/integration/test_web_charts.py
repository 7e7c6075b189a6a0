"""The KPI trends and the report page in Debian's chromium (Playwright), against a county gateway whose log holds
eight past days and this morning: axes with nice ticks on their gridlines, nothing drawn outside a chart at a desk
and on a phone, a tooltip with the value, its unit and its slot under the pointer and the keyboard, today / 7 days /
30 days with a day opening its hours, and the report's headers with units, its misses in words and why a day served
more tickets than it issued — in Chinese and in English, each state checked with axe.

The past is written into the gateway's file before it starts (the gateway itself, in-process, on a manual clock);
the hall is in a time zone where it is about noon now (`midday_zone`), so "today" has a morning whenever this runs.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from devices.simulator.scenario import load_scenario
from edge.broker import MosquittoProcess
from edge.config import GatewayConfig
from edge.demo import save, scenario_config
from edge.gateway import Gateway
from rules.clock import FixedClock
from tests.integration.conftest import PASSWORD, USERS, GatewayProcess, midday_zone
from tests.integration.test_web_ui import sign_in

ISSUED = [6, 9, 4, 12, 7, 10, 5, 8]  # SB tickets per past day, eight days ago first
LATE_DAY = 3  # three days ago every SB ticket waited 25 min: the day's SL misses its 80 % target
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1600, "height": 1000}


class Seeder:
    """The county gateway in-process on a manual clock, writing what its devices said into its file."""

    def __init__(self, cfg: GatewayConfig, tz: ZoneInfo) -> None:
        self.tz = tz
        self.clock = FixedClock(datetime.now(tz))
        self.gateway = Gateway(cfg, clock=self.clock)
        self.seqs: dict[str, int] = {}

    def send(self, kind: str, device: str, at: datetime, **fields: object) -> None:
        self.clock.set(at)
        seq = self.seqs[device] = self.seqs.get(device, 0) + 1
        body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
        self.gateway.handle(f"hall/county-01/{kind}/{device}/evt", json.dumps(body).encode(), at)

    def issue(self, at: datetime, ticket: str, service: str) -> None:
        self.send("ticket_machine", "TM01", at, type="ticket.issued", ticket_id=ticket, number=ticket, service=service)

    def serve(self, at: datetime, window: str, ticket: str) -> None:
        self.send("window", window, at, type="ticket.called", window_id=window, ticket_id=ticket)
        self.send("window", window, at + timedelta(minutes=2), type="service.completed", window_id=window,
                  ticket_id=ticket)  # fmt: skip

    def morning(self, day: date, issued: int, wait_min: float) -> None:
        """W01 opens at 08:30; from 09:00 an SB ticket every 6 min, each called after `wait_min`."""
        at = datetime.combine(day, time(8, 30), self.tz)
        self.send("window", "W01", at, type="window.opened", window_id="W01", services=["SB"])
        for i in range(issued):
            issued_at = at + timedelta(minutes=30 + 6 * i)
            self.issue(issued_at, f"{day:%m%d}-{i}", "SB")
            self.serve(issued_at + timedelta(minutes=wait_min), "W01", f"{day:%m%d}-{i}")


def seed(cfg: GatewayConfig, tz: ZoneInfo) -> date:
    """Eight past days and this morning; returns the hall's today. The day before yesterday ends with three GJJ
    tickets taken just before midnight, served yesterday morning; yesterday an SB ticket is transferred to SW and
    served there."""
    today = datetime.now(tz).date()
    s = Seeder(cfg, tz)
    s.gateway.open()
    try:
        for back, n in zip(range(8, 0, -1), ISSUED, strict=True):
            day = today - timedelta(days=back)
            s.morning(day, n, 25 if back == LATE_DAY else 4)
        before = datetime.combine(today - timedelta(days=2), time(23, 46), tz)  # (not waiting 15 min by midnight)
        for i in range(3):
            s.issue(before + timedelta(minutes=i), f"G{i}", "GJJ")
        yesterday = datetime.combine(today - timedelta(days=1), time(8, 31), tz)
        s.send("window", "W10", yesterday, type="window.opened", window_id="W10", services=["GJJ"])
        for i in range(3):
            s.serve(yesterday + timedelta(minutes=1 + 3 * i), "W10", f"G{i}")
        at = yesterday + timedelta(hours=2)
        s.send("window", "W07", at, type="window.opened", window_id="W07", services=["SW"])
        s.issue(at, "T1", "SB")
        s.send("window", "W01", at + timedelta(minutes=3), type="ticket.called", window_id="W01", ticket_id="T1")
        s.send("window", "W01", at + timedelta(minutes=6), type="ticket.transferred", window_id="W01",
               ticket_id="T1", to_service="SW")  # fmt: skip
        s.serve(at + timedelta(minutes=8), "W07", "T1")
        s.morning(today, 11, 4)
        s.gateway.flush()
    finally:
        s.gateway.close()
    return today


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> Iterator[tuple[GatewayProcess, date]]:
    """The county gateway (users as in test_web_ui, the box's clock) on a log of eight past days and this morning."""
    zone = midday_zone()
    base = scenario_config(
        load_scenario("county"), mosquitto.url, tmp_path / "gateway.db", ("127.0.0.1", 0), 1, users=USERS,
        password=PASSWORD,
    )  # fmt: skip
    raw = base.model_dump(mode="json", exclude_none=True)
    raw["hall"]["timezone"] = zone
    raw["clock"] = {"mode": "system"}
    cfg = GatewayConfig.model_validate(raw)
    today = seed(cfg, ZoneInfo(zone))
    gw = gateway_factory(mosquitto.url, "--config", str(save(cfg, tmp_path / "gateway.yaml")), hall="county-01")
    gw.http.auth = httpx.BasicAuth("wang", PASSWORD)
    yield gw.start(), today


# -- what the page draws, measured in the page ---------------------------------------------------------------------

GEOMETRY = """(svg) => {
  const box = svg.getBoundingClientRect();
  const inside = (r) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5
    && r.bottom <= box.bottom + 0.5;
  const drawn = [...svg.querySelectorAll("text, rect, line, path, circle")].filter((e) => !e.closest("[hidden]"));
  const grid = [...svg.querySelectorAll("line.grid")].map((l) => l.getBoundingClientRect().top);
  return {
    box: [box.left, box.right, innerWidth],
    outside: drawn.filter((e) => !inside(e.getBoundingClientRect())).map((e) => e.outerHTML.slice(0, 120)),
    ticks: [...svg.querySelectorAll("text.ytick")].map((t) => {
      const r = t.getBoundingClientRect();
      return { label: t.textContent, value: Number(t.dataset.value),
        offGrid: Math.min(...grid.map((y) => Math.abs(y - (r.top + r.height / 2)))) };
    }),
  };
}"""


def nice(step: float) -> bool:
    """1, 2 or 5 × 10^k."""
    k = 10 ** int(f"{step:e}".split("e")[1])
    return round(step / k, 6) in (1, 2, 5)


def check_charts(page: Page, view: str) -> None:
    """Every chart on the page: ticks evenly spaced from 0 in nice steps, labelled plainly, on their gridlines; and
    nothing drawn outside its chart, nor the chart outside the page."""
    charts = page.locator(".part-charts svg.chart")
    expect(charts.first).to_be_visible()
    page.wait_for_timeout(300)  # (drawn again at its laid-out width by a ResizeObserver)
    for i in range(charts.count()):
        g = charts.nth(i).evaluate(GEOMETRY)
        where = f"{view}, chart {i}"
        assert g["outside"] == [], f"{where}: drawn outside the chart"
        left, right, width = g["box"]
        assert left >= 0 and right <= width, f"{where}: the chart runs off the page"
        ticks = g["ticks"]
        if not ticks:
            continue  # (the stacked bars have no value axis)
        values = [t["value"] for t in ticks]
        step = values[1] - values[0]
        assert values[0] == 0 and nice(step), f"{where}: ticks {values}"
        assert all(abs((b - a) - step) < 1e-9 for a, b in itertools.pairwise(values)), where
        assert all(re.fullmatch(r"\d+(\.\d)?", t["label"]) for t in ticks), f"{where}: labels {ticks}"
        assert all(t["offGrid"] < 1.5 for t in ticks), f"{where}: a label off its gridline {ticks}"


def axe_violations(page: Page, part: str) -> list[tuple[str, str, object]]:
    """What axe finds wrong in one part of the page (the parts others build are checked by their own tests)."""
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415

    found = Axe().run(page, context=part).response["violations"]
    return [(x["id"], x["impact"], [n["target"] for n in x["nodes"]]) for x in found]


def tip_of(page: Page, chart: Locator) -> Locator:
    tip = chart.locator("xpath=..").locator(".chart-tip")
    expect(tip).to_be_visible()
    inside = tip.evaluate("""(t) => {
      const b = t.parentElement.getBoundingClientRect(), r = t.getBoundingClientRect();
      return r.left >= b.left - 0.5 && r.right <= b.right + 0.5 && r.top >= b.top - 0.5 && r.bottom <= b.bottom + 0.5;
    }""")
    assert inside, "the tooltip stays within its chart"
    return tip


def top_tick(chart: Locator) -> float:
    return float(chart.locator("text.ytick").last.get_attribute("data-value") or "nan")


# -- the tests -------------------------------------------------------------------------------------------------------


def test_the_trends_read_true_fit_every_screen_and_open_a_day_hour_by_hour(
    county: tuple[GatewayProcess, date], browser: Browser
) -> None:
    hall, today = county
    base = f"http://127.0.0.1:{hall.port}"
    kpi = hall.get("/api/kpi/today")
    week = hall.get("/api/kpi/range?days=7")
    assert isinstance(kpi, dict) and isinstance(week, dict) and week["pending"] == []
    # the GJJ tickets issued the day before yesterday, the SB ticket yesterday that SW served, and this morning's
    assert [d["hall"]["issued"] for d in week["days"]] == [*ISSUED[2:6], ISSUED[6] + 3, ISSUED[7] + 1, 11]
    context = browser.new_context(locale="zh-CN", viewport=DESK)
    page = context.new_page()
    try:
        sign_in(page, base, "wang")
        section = page.locator("#charts")
        expect(section.get_by_role("heading")).to_have_text("趋势")

        # today: the axes cover the data with nice ticks, and nothing is clipped, at a desk and on a phone
        waiting = section.get_by_role("group", name=re.compile("^全天等待人数"))
        arrivals = section.get_by_role("group", name=re.compile("^取号量与预测"))
        expect(arrivals).to_be_visible()
        check_charts(page, "today, desk")
        most = max(n for _, n in kpi["waiting"])
        assert most <= top_tick(waiting) < 2.5 * most or top_tick(waiting) == 1
        peak = max([n for _, n in kpi["arrivals"]] + [n for _, n in kpi["forecast"]])
        assert peak <= top_tick(arrivals) < 2.5 * peak

        # a tooltip under the pointer: the exact figure, its unit and its 15-min slot
        slot, n = next((at, n) for at, n in kpi["arrivals"] if n > 0)
        hhmm = datetime.fromisoformat(slot).strftime("%H:%M")
        mark = arrivals.locator(f".mark[aria-label^='{hhmm}–']")
        mark.hover()
        expect(tip_of(page, arrivals)).to_have_text(re.compile(rf"^{hhmm}–\d\d:\d\d：取号 {n} 张"))
        # … and from the keyboard: one tab stop per chart, the arrows move along it
        page.mouse.move(0, 0)
        first = arrivals.locator(".mark").first
        first.focus()
        expect(first).to_have_attribute("tabindex", "0")
        page.keyboard.press("ArrowRight")
        second = arrivals.locator(".mark").nth(1)
        expect(second).to_be_focused()
        expect(tip_of(page, arrivals)).to_have_text(second.get_attribute("aria-label") or "")
        assert arrivals.locator(".mark[tabindex='0']").count() == 1
        assert axe_violations(page, "#charts") == [], "WCAG problems in today's trends, a tooltip shown"

        # 7 days: a bar per day, today last; the day that missed its SL target says so; a day opens its hours
        section.get_by_role("button", name="近7天").click()
        expect(section.get_by_role("button", name="近7天")).to_have_attribute("aria-pressed", "true")
        issued = section.get_by_role("group", name=re.compile("^每日取号与办结"))
        expect(issued.locator(".mark")).to_have_count(7)
        labels = issued.locator(".mark").evaluate_all("(ms) => ms.map((m) => m.getAttribute('aria-label'))")
        expected = [d["hall"]["issued"] for d in week["days"]]
        assert [int(re.search(r"取号 (\d+) 张", a).group(1)) for a in labels] == expected  # type: ignore[union-attr]
        sl = section.get_by_role("group", name=re.compile(r"^服务水平（15分钟内叫号，%）：目标 80%，1 处未达标"))
        late = (today - timedelta(days=LATE_DAY)).day
        expect(sl.locator(".mark")).to_have_count(7)
        missed = sl.locator(".mark[aria-label*='未达目标 80%']")
        expect(missed).to_have_count(1)
        assert f"{late}日" in (missed.get_attribute("aria-label") or "")
        check_charts(page, "7 days, desk")
        assert axe_violations(page, "#charts") == [], "WCAG problems in the 7-day trends"
        day_bar = issued.locator(".mark[role='button']").nth(7 - LATE_DAY - 1)
        day_bar.click()
        expect(section.get_by_role("heading", name=re.compile(rf"{late}日.* 每小时"))).to_be_visible()
        hours = section.get_by_role("group", name=re.compile("^每小时取号与办结"))
        expect(hours.locator(".mark[aria-label^='09:00–10:00：取号']")).to_have_count(1)
        expect(section.get_by_role("button", name="返回近7天")).to_be_focused()
        check_charts(page, "a day's hours, desk")
        assert axe_violations(page, "#charts") == [], "WCAG problems in a day's hours"
        section.get_by_role("button", name="返回近7天").click()
        expect(issued.locator(".mark")).to_have_count(7)

        # 30 days, and the phone
        section.get_by_role("button", name="近30天").click()
        expect(section.get_by_role("group", name=re.compile("^每日取号与办结")).locator(".mark")).to_have_count(30)
        check_charts(page, "30 days, desk")
        page.set_viewport_size(PHONE)
        check_charts(page, "30 days, phone")
        section.get_by_role("button", name="今天").click()
        expect(arrivals).to_be_visible()
        check_charts(page, "today, phone")

        # in English: the same charts, English words and units
        page.get_by_role("button", name="language").click()
        expect(section.get_by_role("heading")).to_have_text("Trends")
        arrivals_en = section.get_by_role("group", name=re.compile("^Tickets vs forecast"))
        arrivals_en.locator(f".mark[aria-label^='{hhmm}–']").focus()
        expect(tip_of(page, arrivals_en)).to_have_text(re.compile(rf"^{hhmm}–\d\d:\d\d: {n} tickets issued"))
        check_charts(page, "today, phone, English")
        section.get_by_role("button", name="7 days").click()
        expect(
            section.get_by_role("group", name=re.compile(r"^Service level \(called within 15 min, %\)"))
        ).to_be_visible()
        check_charts(page, "7 days, phone, English")
        page.set_viewport_size(DESK)
        check_charts(page, "7 days, desk, English")
        assert axe_violations(page, "#charts") == [], "WCAG problems in the English 7-day trends"
    finally:
        context.close()


def test_the_report_names_units_marks_misses_in_words_and_explains_more_served_than_issued(
    county: tuple[GatewayProcess, date], browser: Browser
) -> None:
    hall, today = county
    base = f"http://127.0.0.1:{hall.port}"
    context = browser.new_context(locale="zh-CN", viewport=DESK, accept_downloads=True)
    page = context.new_page()
    try:
        sign_in(page, base, "wang")
        page.goto(f"{base}/#/reports")
        day = page.get_by_label("日期")

        # the day the SL missed: the figure says so in words, and the summary names the rows
        day.fill(str(today - timedelta(days=LATE_DAY)))
        daily = page.locator("#daily")
        hall_row = daily.locator("tbody tr").first
        expect(hall_row.locator("td[data-kpi='sl']")).to_have_text("0.0 未达标")
        expect(hall_row.locator("td[data-kpi='sl']")).to_have_class(re.compile(r"\bmiss\b"))
        expect(daily.locator("p.misses")).to_have_text("未达标：全厅、社会保险")
        expect(page.locator(".target-note")).to_contain_text("服务水平不低于 80%")

        # yesterday: more served than issued, for the hall and for taxation, each with its reason in one line
        day.fill(str(today - timedelta(days=1)))
        expect(daily.locator("tbody tr").first.locator("td[data-kpi='sl']")).to_have_text("100.0")
        expect(daily.locator("p.note", has_text="全部达标")).to_be_visible()
        notes = daily.locator("ol.notes li")
        expect(notes).to_have_count(2)
        expect(notes.first).to_have_text(re.compile(r"^全厅办结 12 张多于取号 9 张：前一天取号、今天办结的号"))
        expect(notes.nth(1)).to_have_text(re.compile(r"^税务办结 1 张多于取号 0 张：从其他业务转来"))
        served = daily.locator("tbody tr").first.locator("td[data-kpi='served']")
        expect(served).to_have_attribute("aria-describedby", notes.first.get_attribute("id") or "")
        expect(page.locator("#hourly p.note").last).to_contain_text("取号和等待计在取号的时段")

        # the page's headers are the CSV's, with units
        heads = daily.locator("thead th").all_inner_texts()
        assert heads[:4] == ["业务", "取号（张）", "办结（张）", "服务水平（15分钟内叫号，%）"]
        with page.expect_download() as download:
            daily.get_by_role("link", name="下载 CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        header = next(csv.reader(io.StringIO(text)))
        assert set(heads[1:]) <= set(header)
        assert axe_violations(page, "main") == [], "WCAG problems in the report"

        # in English, and on a phone (the table scrolls within its own box)
        page.get_by_role("button", name="language").click()
        expect(daily.locator("thead th").nth(3)).to_have_text("Service level (called within 15 min, %)")
        expect(notes.first).to_have_text(re.compile(r"^The hall served 12 tickets but issued 9: "))
        with page.expect_download() as download:
            daily.get_by_role("link", name="Download CSV").click()
        header = next(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
        assert set(daily.locator("thead th").all_inner_texts()[1:]) <= set(header)
        page.set_viewport_size(PHONE)
        assert page.locator(".reports-view").evaluate("(v) => v.getBoundingClientRect().right") <= PHONE["width"]
        box = daily.locator(".table-scroll")
        scrolls = box.evaluate("(box) => box.scrollWidth > box.clientWidth")
        assert scrolls, "the wide table scrolls in its own box, the page does not"
        # readable: a figure on one line, a heading broken only between words, not squeezed a letter a line
        tall = box.evaluate(
            """(box) => [...box.querySelectorAll('td.num')].filter((td) => {
                 const text = document.createRange();
                 text.selectNodeContents(td);
                 let lines = 0, bottom = -Infinity;  // (a rect below the line before starts a line)
                 for (const r of [...text.getClientRects()].filter((r) => r.height).sort((a, b) => a.top - b.top)) {
                   if (r.top >= bottom - 1) lines += 1;
                   bottom = r.top >= bottom - 1 ? r.bottom : Math.max(bottom, r.bottom);
                 }
                 return lines > 1;
               }).length"""
        )
        assert tall == 0, f"{tall} figures wrapped over lines in the phone's table"
        words = box.evaluate("(box) => [...box.querySelectorAll('th')].map((th) => getComputedStyle(th).overflowWrap)")
        assert "anywhere" not in words, "headings break inside words"
        # reachable by keyboard, named, and a visible cue that there is more to the right
        assert box.get_attribute("tabindex") == "0" and box.get_attribute("aria-label")
        box.focus()
        assert box.evaluate("(box) => document.activeElement === box")
        cue = box.evaluate("(box) => getComputedStyle(box).backgroundImage")
        assert cue.count("gradient") >= 2, f"no shade at the scrolling edge: {cue}"
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        assert box.evaluate("(box) => box.scrollLeft") > 0, "the arrow key scrolls the focused table"
        assert axe_violations(page, "main") == [], "WCAG problems in the English report on a phone"
    finally:
        context.close()
