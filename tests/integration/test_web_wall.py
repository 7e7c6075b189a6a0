"""The wall screen (大屏) of the 60-window city hall, end to end: Debian's chromium (Playwright) against a city gateway
over a real mosquitto, fed by the simulated city hall from its Monday morning peak (with a rush at three services). On a
1920×1080 screen and on a 3840×2160 one, in Chinese and in English, the whole wall fits the screen without scrolling:
the headline figures, the alert strip and the services with the longest waits are always in view, in type readable
from across the hall; the floor is paged (a "page 1/2" indicator) and every window comes up on some page. Nothing on
it is an internal id (devices, rating pads, cameras, zones, staff logins) or a raw True/False/null, and axe passes.
The alerts the wall shows are those with public words (the gateway's `public` field); to see the strip full, the
page is also given a set of serious alerts whose staff text and labels are full of ids: only the public words show.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, Route, expect

from devices.simulator.scenario import Scenario, load_scenario
from edge.broker import MosquittoProcess
from tests.harness import HallopsProcess, simulator_process
from tests.integration.conftest import CST, HALL_SPEED, PASSWORD, ROOT, USERS, GatewayProcess
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_ui import sign_in

PEAK = datetime(2026, 11, 23, 9, 40, tzinfo=CST)  # a Monday morning: the peak, queues at several services
ROTATE_S = 3  # the wall's page time for the test (`#/wall?rotate=3`; 12 s by default)
SCREENSHOTS = Path("/tmp/ui19")
RAW = re.compile(r"\b(True|False|None|null|undefined|NaN)\b|\w+\.\w+ = ")


@pytest.fixture(scope="module")
def city() -> Scenario:
    return load_scenario("city")


@pytest.fixture
def city_hall(mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[GatewayProcess]:
    """The city hall's gateway (as `hallops demo --scenario city` configures it) and its simulated Monday morning, with
    a rush at three services from the start (the queues build within a few hall minutes, not an hour)."""
    from edge.demo import save, scenario_config  # noqa: PLC0415

    scenario = yaml.safe_load((ROOT / "devices/simulator/scenarios/city.yaml").read_text("utf-8"))
    scenario["incidents"] += [
        {"kind": "arrival_surge", "service": code, "at": "09:41", "duration": "60m", "factor": 20}
        for code in ("SB", "BDC", "JJ")
    ]
    rush = tmp_path / "city-rush.yaml"
    rush.write_text(yaml.safe_dump(scenario, allow_unicode=True), "utf-8")
    cfg = scenario_config(
        load_scenario(str(rush)), mosquitto.url, tmp_path / "gateway.db", ("127.0.0.1", 0), HALL_SPEED,
        users=USERS, password=PASSWORD,
    )  # fmt: skip
    gw = GatewayProcess(tmp_path, mosquitto.url, "--config", str(save(cfg, tmp_path / "gateway.yaml")), hall="city-01")
    gw.http.auth = httpx.BasicAuth("root", PASSWORD)
    gw.start()
    sim: HallopsProcess = simulator_process(tmp_path / "simulator.log", mosquitto.url, str(rush), HALL_SPEED, PEAK)
    sim.start()
    yield gw
    sim.kill9()
    gw.close()


def ids_pattern(city: Scenario) -> re.Pattern[str]:
    """Every internal id of the hall as a whole word: devices (TM01, EV02, K04, CS-A, CAM-3, the windows' W01),
    staff logins (S201) and camera zones (wait-a, seat-W04)."""
    ids = set(city.device_ids()) | {w.staff_id for w in city.windows}
    ids |= {z.id for cam in city.cameras for z in cam.zones}
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_-])({alternatives})(?![A-Za-z0-9_-])")


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not on screen"
    return found


def assert_inside(page: Page, selector: str) -> None:
    size = page.viewport_size
    assert size is not None
    b = box(page, selector)
    inside = b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= size["width"] + 0.5
    assert inside and b["y"] + b["height"] <= size["height"] + 0.5, f"{selector} at {b} is outside {size}"


def font_px(page: Page, selector: str) -> float:
    """The font size of the first element `selector` finds now (in one look: the wall re-renders every second)."""
    got = page.evaluate("(s) => parseFloat(getComputedStyle(document.querySelector(s)).fontSize)", selector)
    return float(got)


def check_fits_and_reads(page: Page, ids: re.Pattern[str]) -> None:
    """The wall as it is now: everything that matters inside the viewport, no scrolling, readable type, no ids."""
    size = page.viewport_size
    assert size is not None
    scale = size["height"] / 1080
    scroll = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight]"
    )
    assert scroll[0] <= scroll[2] and scroll[1] <= scroll[3], f"the wall scrolls: {scroll}"
    # every part and every tile of the page up now, in one look (the figures change every second, the page turns)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll(['#live', ...['ul', 'li', 'tr', 'p', 'section', 'h2:not(.sr-only)']
                                                  .map((tag) => `.wall-view ${tag}`)].join(', '))]
                 .map((e) => { const b = e.getBoundingClientRect();
                               return [e.className, e.textContent, b.left, b.top, b.right, b.bottom]; })"""
    )
    classes = " ".join(b[0] for b in boxes)
    for part in ("wall-kpis", "wall-alerts", "wall-queues", "wall-floor", "wall-tiles", "win"):
        assert part in classes
    assert len(boxes) > 30
    for _, text, left, top, right, bottom in boxes:
        assert left >= 0 and top >= 0 and right <= size["width"] + 0.5 and bottom <= size["height"] + 0.5, text
    # readable from across the hall (sizes at 1080 lines, twice that on a 4K screen)
    assert font_px(page, ".wall-kpis b") >= 40 * scale
    assert font_px(page, ".wall-waits td.longest") >= 26 * scale
    assert font_px(page, ".wall-waits tbody th") >= 20 * scale
    assert font_px(page, ".wall-alerts li, .wall-alerts .wall-none") >= 20 * scale
    assert font_px(page, ".wall-tiles .win .name") >= 19 * scale
    assert font_px(page, ".wall-tiles .win .number") >= 30 * scale
    # the worst first: the longest waits shown never grow down the list
    waits = [int(m) for m in re.findall(r"\d+", " ".join(page.locator(".wall-waits td.longest").all_inner_texts()))]
    assert waits == sorted(waits, reverse=True)
    text = page.locator("body").inner_text()
    assert not ids.search(text), f"an internal id on the wall: {ids.search(text)}"
    assert not RAW.search(text), f"machine text on the wall: {RAW.search(text)}"


def every_window_over_the_pages(page: Page, city: Scenario, page_word: re.Pattern[str], ids: re.Pattern[str]) -> int:
    """Watches the pages turn until every window has come up; returns how many pages there are. A page never shows
    a window twice, and the pages together show every window of the hall. Meanwhile, whatever alert the strip shows
    has no id in it."""
    indicator = page.locator(".wall-page")
    expect(indicator).to_have_text(page_word)
    pages = int(indicator.get_attribute("data-pages") or 0)
    assert pages >= 2  # 60 windows in readable type do not fit one screen
    numbers: set[int] = set()
    shown: set[str] = set()
    looks: list[tuple[int, int, int]] = []
    everything = {w.id for w in city.windows}
    deadline = time.monotonic() + ROTATE_S * (pages + 3) + 30
    while shown != everything and time.monotonic() < deadline:
        # one look at the page number, its words and its tiles (the page may turn between two looks)
        n, of, words, windows, strip = page.evaluate(
            """() => { const p = document.querySelector('.wall-page');
                       return [Number(p.dataset.page), Number(p.dataset.pages), p.textContent,
                               [...document.querySelectorAll('.wall-tiles .win')].map((w) => w.dataset.window),
                               document.querySelector('.wall-alerts').innerText]; }"""
        )
        assert not ids.search(strip) and not RAW.search(strip), f"the wall's alert strip: {strip}"
        looks.append((n, of, len(windows)))
        assert page_word.fullmatch(words) and 1 <= n <= of
        assert 0 < len(windows) < len(everything) and len(set(windows)) == len(windows)
        numbers.add(n)
        shown |= set(windows)
        page.wait_for_timeout(500)
    assert shown == everything, f"never shown: {sorted(everything - shown)}; looks (page, pages, tiles): {looks}"
    # the pages turned (a banner coming or going on a loaded box may change how many tiles fit: the wall re-pages,
    # staying with the windows shown, and the pages still cover every window)
    assert len(numbers) >= 2, looks
    return looks[-1][1]


def open_wall(page: Page, base: str, english: bool) -> None:
    sign_in(page, base, "wang")
    expect(page.locator("#floor .win").first).to_be_visible()
    if english:
        page.get_by_role("button", name="language").click()
    page.goto(f"{base}/#/wall?rotate={ROTATE_S}")
    expect(page.locator(".wall-tiles .win").first).to_be_visible()
    page.wait_for_function("performance.getEntriesByName('hallops:wall-ready').length > 0")
    # the morning queues: people wait, the worst waits are listed
    expect(page.locator(".wall-waits tbody tr").first).to_be_visible(timeout=90_000)


def test_the_city_wall_fits_1080p_and_4k_with_the_alerts_and_worst_waits_in_view(
    city_hall: GatewayProcess, browser: Browser, city: Scenario
) -> None:
    ids = ids_pattern(city)
    base = city_hall.url
    SCREENSHOTS.mkdir(exist_ok=True)

    # 1. 1920×1080, in Chinese, then in English
    hd = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1920, "height": 1080})
    page = hd.new_page()
    try:
        open_wall(page, base, english=False)
        expect(page.locator(".wall-alerts h2")).to_have_text("大厅提示")
        expect(page.locator(".wall-queues h2")).to_have_text("等待最久的业务")
        check_fits_and_reads(page, ids)
        every_window_over_the_pages(page, city, re.compile(r"第 \d/\d 页"), ids)
        assert axe_violations(page) == []
        page.screenshot(path=SCREENSHOTS / "wall-city-1080.png")

        page.get_by_role("button", name="language").click()
        expect(page.locator(".wall-queues h2")).to_have_text("Longest waits")
        expect(page.locator(".wall-waits tbody tr").first).to_be_visible()
        check_fits_and_reads(page, ids)
        every_window_over_the_pages(page, city, re.compile(r"Page \d/\d"), ids)
        assert axe_violations(page) == []
        page.screenshot(path=SCREENSHOTS / "wall-city-1080-en.png")
    finally:
        hd.close()

    # 2. 3840×2160: the same wall, twice the size
    uhd = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 3840, "height": 2160})
    page = uhd.new_page()
    try:
        open_wall(page, base, english=False)
        check_fits_and_reads(page, ids)
        every_window_over_the_pages(page, city, re.compile(r"第 \d/\d 页"), ids)
        assert axe_violations(page) == []
        page.screenshot(path=SCREENSHOTS / "wall-city-2160.png")
    finally:
        uhd.close()


def serious_alerts(city: Scenario) -> list[dict[str, object]]:
    """Serious alerts as the gateway sends them, their staff text and labels full of ids: five with public words, one
    without (a bad rating: never on the wall), one warning (not serious enough for the wall)."""
    first = city.windows[0]

    def alert(n: int, severity: str, public: dict[str, str] | None, **labels: str) -> dict[str, object]:
        at = datetime(2026, 11, 23, 11, 50 + n, tzinfo=CST).isoformat()
        return {
            "hall": "city-01", "fingerprint": f"f{n}", "rule": "wait-30", "severity": severity, "state": "firing",
            "labels": labels, "description": f"rule text {n} (device=TM02)",
            "reason": f"queue.longest_wait_min = 62 (service=SB, device=TM02, window={first.id})",
            "text": {"zh": f"TM02 与 {first.id}（{first.staff_id}）", "en": f"TM02 and {first.id} ({first.staff_id})"},
            "public": public, "evidence": {}, "active_since": at, "fired_at": at, "resolved_at": None,
            "acknowledged_at": None, "acknowledged_by": None, "escalation_level": 0, "occurrences": 1, "muted_by": None,
        }  # fmt: skip

    long_zh = "社会保险业务等候时间较长（已超过 60 分钟），正在增开窗口，请耐心等候，或使用自助终端办理"
    long_en = "Social insurance: waits are long (over 60 minutes); more windows are opening — please bear with us"
    return [
        alert(1, "critical", {"zh": long_zh, "en": long_en}, service="SB", device="TM02"),
        alert(2, "major", {"zh": "二楼取号机暂停服务，请到一楼取号", "en": "The 2F ticket machine is out of service"},
              device="TM02"),
        alert(3, "major", {"zh": "不动产登记等候较长", "en": "Real estate: long waits"}, service="BDC"),
        alert(4, "critical", {"zh": "车驾管业务等候较长", "en": "Vehicle licensing: long waits"}, service="JJ"),
        alert(5, "major", {"zh": "税务等候较长", "en": "Taxation: long waits"}, service="SW"),
        alert(6, "major", None, device="EV02", window=first.id),
        alert(7, "warning", {"zh": "提示：人较多", "en": "Busy"}, service="SB"),
    ]  # fmt: skip


def test_the_alert_strip_shows_only_public_words_and_stays_on_screen_when_full(
    city_hall: GatewayProcess, browser: Browser, city: Scenario
) -> None:
    ids = ids_pattern(city)
    body = json.dumps(serious_alerts(city))

    def alerts(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=body)

    shown = {
        "zh": ["车驾管业务等候较长", "社会保险业务等候时间较长", "税务等候较长"],
        "en": ["Vehicle licensing: long waits", "Social insurance: waits are long", "Taxation: long waits"],
    }
    for lang, more in (("zh", "另有 2 条提示"), ("en", "2 more notices")):
        ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1920, "height": 1080})
        page = ctx.new_page()
        page.route("**/api/alerts", alerts)
        try:
            open_wall(page, city_hall.url, english=lang == "en")
            items = page.locator(".wall-alerts-list li:not(.wall-more)")
            # the three most severe, newest first (critical 11:54, critical 11:51, major 11:55); the rest counted
            expect(items).to_have_count(3)
            for item, words in zip(items.all(), shown[lang], strict=True):
                expect(item).to_contain_text(words)
            expect(page.locator(".wall-alerts .wall-more")).to_have_text(more)
            for i in range(3):
                assert_inside(page, f".wall-alerts-list li >> nth={i}")
            check_fits_and_reads(page, ids)
            strip = page.locator(".wall-alerts").inner_text()
            assert "TM02" not in strip and "EV02" not in strip and "提示：人较多" not in strip
            assert axe_violations(page) == []
            if lang == "zh":
                page.screenshot(path=SCREENSHOTS / "wall-city-1080-alerts.png")
        finally:
            ctx.close()
