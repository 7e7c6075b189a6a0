"""Honest liveness, end to end: Debian's chromium (Playwright) against a county gateway over a real mosquitto, fed by
the simulated hall. The header of every view says the state of the whole chain — the page's stream to the gateway,
the gateway's link to the broker, the newest device message's age — and when the figures are not live, a banner in
the page's language says what is wrong and since when, and the figures are greyed: on the manager's floor (Chinese)
and on the wall screen (English) alike. The broker killed and back, the devices silent, a device the gateway refuses
talking on while the others are silent, the gateway stopped.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from edge.broker import MosquittoProcess
from tests.harness import HallopsProcess, simulator_process
from tests.integration.conftest import HALL_SPEED, GatewayProcess, Publisher, demo_gateway
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_ui import AFTERNOON, sign_in

STALE_AFTER_S = 8  # ingest.stale_after_s of this hall: the simulated devices speak many times a second
NOTICED_MS = 10_000  # "within a few seconds", with room for a loaded box
CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def county(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    """The county hall's gateway (as conftest's `hall`), its figures stale after STALE_AFTER_S of device silence."""

    def stale_soon(cfg: dict[str, Any]) -> None:
        cfg["ingest"]["stale_after_s"] = STALE_AFTER_S
        cfg["mqtt"]["reconnect_max_s"] = 1.0  # back at once when the broker is (the test's pace, not what it checks)

    return demo_gateway(gateway_factory, mosquitto.url, tmp_path, edit=stale_soon)


@pytest.fixture
def devices(mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[Callable[[datetime], HallopsProcess]]:
    """Starts the county hall's afternoon from a time (a Monday afternoon: the hall is open) until the test stops it.
    The simulated devices give up when the broker goes away: after it comes back, they are started again."""
    started: list[HallopsProcess] = []

    def start(at: datetime) -> HallopsProcess:
        started.append(simulator_process(tmp_path / "simulator.log", mosquitto.url, "county", HALL_SPEED, at))
        return started[-1].start()

    yield start
    for sim in started:
        sim.kill9()


def liveness(gw: GatewayProcess) -> dict[str, object]:
    said = gw.health()["liveness"]
    assert isinstance(said, dict)
    return said


def hhmm(iso: object) -> str:
    assert isinstance(iso, str)
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%H:%M")


def test_the_header_and_a_banner_say_what_the_page_cannot_see_on_the_floor_and_on_the_wall(
    county: GatewayProcess,
    devices: Callable[[datetime], HallopsProcess],
    mosquitto: MosquittoProcess,
    page: Page,
    browser: Browser,
) -> None:
    base = county.url
    wall = browser.new_context(locale="en-GB", timezone_id="Asia/Shanghai", viewport={"width": 1920, "height": 1080})
    screen = wall.new_page()
    devices(AFTERNOON)
    try:
        sign_in(page, base, "wang")
        expect(page.locator("#floor .win")).to_have_count(12)
        sign_in(screen, base, "wang")
        screen.get_by_role("button", name="language").click()
        screen.goto(f"{base}/#/wall")
        expect(screen.locator(".wall-floor .win").first).to_be_visible()

        # 0. all good: live, every link of the chain connected, no banner, nothing greyed
        pill, chain, banner, main = (page.locator(s) for s in ("#live", "#chain", "#liveness-banner", "#main"))
        w_pill, w_chain, w_banner, w_main = (
            screen.locator(s) for s in ("#live", "#chain", "#liveness-banner", "#main")
        )
        expect(pill).to_have_text("实时")
        expect(chain.locator("li")).to_have_text(
            ["网关 已连接", "消息服务器 已连接", re.compile(r"^设备消息 \d+ 秒前$")]
        )
        expect(banner).to_be_hidden()
        expect(main).not_to_have_class(re.compile("not-live"))
        expect(w_pill).to_have_text("live")
        expect(w_chain.locator("li")).to_have_text(
            ["Gateway connected", "Broker connected", re.compile(r"^Devices last message \d+ s ago$")]
        )
        expect(w_banner).to_be_hidden()

        # 1. the broker killed: within seconds the banner says the gateway lost it, since when, and the figures' time
        mosquitto.kill()
        killed = time.monotonic()
        expect(banner).to_contain_text("网关与消息服务器的连接已中断", timeout=NOTICED_MS)
        noticed_s = time.monotonic() - killed
        expect(w_banner).to_contain_text("The gateway lost the message broker", timeout=NOTICED_MS)
        said = liveness(county)
        assert (said["state"], said["cause"], said["broker_connected"]) == ("broken", "broker", False)
        figures = hhmm(said["device_at"])
        expect(banner).to_have_text(re.compile(rf"^网关与消息服务器的连接已中断 \d+ 秒：显示的是 {figures} 的数据$"))
        expect(w_banner).to_have_text(
            re.compile(rf"^The gateway lost the message broker \d+ s ago: figures are from {figures}$")
        )
        expect(main).to_have_class(re.compile("not-live"))
        expect(w_main).to_have_class(re.compile("not-live"))
        expect(pill).to_have_text("非实时")
        expect(w_pill).to_have_text("not live")
        expect(chain.locator("li").nth(1)).to_have_text(re.compile(r"^消息服务器 中断 \d+ 秒$"))
        expect(w_chain.locator("li").nth(1)).to_have_text(re.compile(r"^Broker lost \d+ s ago$"))
        assert axe_violations(page) == []
        assert axe_violations(screen) == []

        # 2. the broker back, and the devices with it: the banner goes, the figures are live again
        mosquitto.start()
        hall_at = county.get("/api/hall")["at"]  # type: ignore[index]
        sim = devices(datetime.fromisoformat(hall_at) + timedelta(minutes=1))
        expect(banner).to_be_hidden(timeout=NOTICED_MS * 2)
        expect(w_banner).to_be_hidden()
        expect(main).not_to_have_class(re.compile("not-live"))
        expect(pill).to_have_text("实时")
        expect(w_pill).to_have_text("live")

        # 3. the devices fall silent while the hall is open: stale, with the age of the newest message
        sim.kill9()
        expect(banner).to_contain_text("大厅营业中，已", timeout=(STALE_AFTER_S * 1000) + NOTICED_MS)
        said = liveness(county)
        assert (said["state"], said["cause"], said["hall_open"]) == ("stale", "devices", True)
        figures = hhmm(said["device_at"])
        expect(banner).to_have_text(
            re.compile(rf"^大厅营业中，已 \d+ 秒未收到任何设备消息：显示的是 {figures} 的数据$")
        )
        expect(w_banner).to_have_text(
            re.compile(rf"^No device message for \d+ s while the hall is open: figures are from {figures}$")
        )
        expect(main).to_have_class(re.compile("not-live"))
        expect(w_main).to_have_class(re.compile("not-live"))
        expect(pill).to_have_text("数据滞后")
        expect(w_pill).to_have_text("stale")
        expect(chain.locator("li")).to_have_text(
            ["网关 已连接", "消息服务器 已连接", re.compile(r"^设备消息 \d+ 秒前$")]
        )
        assert axe_violations(page) == []

        # 3b. a kiosk the configuration does not know talks on: nothing is taken, still stale, but the banner says the
        # devices talk and the gateway refuses what they say, and why — not that the hall is silent
        talking = threading.Event()
        talking.set()
        hall_id = county.health()["hall"]
        kiosk = Publisher(mosquitto.port, "unknown-kiosk")

        def talk() -> None:
            seq = 0
            while talking.is_set():
                seq += 1
                at = county.get("/api/hall")["at"]  # type: ignore[index]
                body = {"v": 1, "ts": at, "seq": seq, "type": "kiosk.error", "code": "E1"}
                kiosk.send(f"hall/{hall_id}/kiosk/K99/evt", json.dumps(body))
                time.sleep(0.5)  # a device's pace, not a wait for the test

        talker = threading.Thread(target=talk, daemon=True)
        talker.start()
        try:
            refused = "大厅营业中，设备在发消息，但已 "
            expect(banner).to_contain_text(refused, timeout=NOTICED_MS)
            said = liveness(county)
            assert (said["state"], said["cause"], said["refused_reason"]) == ("stale", "refused", "unknown_device")
            assert said["device_at"] is not None and hhmm(said["device_at"]) == figures  # the figures did not move
            expect(banner).to_have_text(
                re.compile(
                    rf"^{refused}[^，]+没有一条被接收（最近被拒的原因：设备不在配置中）：显示的是 {figures} 的数据$"
                )
            )
            expect(w_banner).to_have_text(
                re.compile(
                    r"^Devices are sending, but none of their messages was taken for .+ while the hall is open "
                    rf"\(the newest refused: a device not in the configuration\): figures are from {figures}$"
                )
            )
            expect(chain.locator("li").nth(2)).to_have_text(re.compile(r"^设备消息 .+前，此后 \d+ 条被拒收$"))
            expect(pill).to_have_text("数据滞后")
        finally:
            talking.clear()
            talker.join()
            kiosk.close()
        # it falls silent too: the hall is silent again
        expect(banner).to_contain_text("大厅营业中，已", timeout=(STALE_AFTER_S * 1000) + NOTICED_MS)

        # 4. the gateway stopped: the page's own link is broken, and what lies behind it is unknown, not "connected"
        assert county.stop() == 0
        expect(banner).to_contain_text("与网关的连接已中断", timeout=NOTICED_MS)
        expect(banner).to_have_text(re.compile(r"^与网关的连接已中断 \d+ 秒：显示的是 \d\d:\d\d 的数据$"))
        figures = re.findall(r"(\d\d:\d\d) 的数据", banner.inner_text())
        assert figures and f" {figures[0]}:" in page.locator("#clock").inner_text()  # the last snapshot's time
        expect(w_banner).to_have_text(
            re.compile(r"^The connection to the gateway was lost \d+ s ago: figures are from \d\d:\d\d$")
        )
        expect(pill).to_have_text("重新连接中…")
        expect(chain.locator("li")).to_have_text(
            [re.compile(r"^网关 中断 \d+ 秒$"), "消息服务器 未知", "设备消息 未知"]
        )
        expect(w_chain.locator("li")).to_have_text(
            [re.compile(r"^Gateway lost \d+ s ago$"), "Broker unknown", "Devices unknown"]
        )
        expect(main).to_have_class(re.compile("not-live"))
        expect(w_main).to_have_class(re.compile("not-live"))
        assert noticed_s < NOTICED_MS / 1000
    finally:
        wall.close()
