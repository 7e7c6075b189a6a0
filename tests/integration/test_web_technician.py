"""The technician's and the manager's ticket flows in the browser: Debian's chromium (Playwright) against the county
gateway with users, its devices played by this test over a real mosquitto, hall time at 20×.

TM02 runs low on paper, then out: one ticket, escalated (P3 → P2), its faults in words. K01 reports a burst of errors
and acknowledges its self-test; CS-A goes blank and never answers its restart. K02 goes offline and the technician
resolves its ticket: "resolved today" names 李工, not `li`. A bad rating at W04 is the manager's rectification ticket
on the floor view, not the technician's. Both languages, axe on the technician view with a device panel open and on
the floor with the rectification list.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import (
    MONDAY_10,
    GatewayProcess,
    Publisher,
    demo_gateway,
    wait_until,
)
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_ui import sign_in

HALL = "county-01"
SPEED = 20  # hall seconds a second
MACHINE_TEXT = re.compile(r"\b(True|False|null|undefined|None|NaN)\b|\w = \w|device_fault|rectification")


@pytest.fixture
def gateway(
    mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path
) -> GatewayProcess:
    """The county hall's gateway with USERS; commands settle within seconds (re-sent after 1 s, 1 s, given up after
    2 s more) and the hall's clock runs on between the test's messages, at SPEED: a heartbeat late by a second on a
    loaded box is not yet a silent device (90 s of hall time for a ticket machine)."""

    def commands_settle_soon(cfg: dict[str, Any]) -> None:
        cfg["commands"]["ack_waits_s"] = [1.0, 1.0, 2.0]

    return demo_gateway(
        gateway_factory, mosquitto.url, tmp_path, speed=SPEED, max_lead_s=86400, edit=commands_settle_soon
    )


class Devices:
    """The county hall's devices as this test plays them: each message stamped a moment after the hall's now, and a
    heartbeat every half second (ten hall seconds) from each device online, as a real one would send."""

    def __init__(self, mosquitto: MosquittoProcess, gw: GatewayProcess) -> None:
        self.gw = gw
        self.publisher = Publisher(mosquitto.port, "technician-test-devices")
        self.beats = Publisher(mosquitto.port, "technician-test-heartbeats")
        self.seqs: dict[str, int] = {}
        self.alive: dict[str, str] = {}  # device → its type
        self.lock = threading.Lock()
        self.started = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def now(self) -> datetime:
        if not self.started:  # the first device message sets the hall's clock
            self.started = True
            return MONDAY_10
        hall = self.gw.get("/api/hall")
        assert isinstance(hall, dict)
        return datetime.fromisoformat(str(hall["at"])) + timedelta(seconds=2)

    def send(self, kind: str, device: str, channel: str, **fields: object) -> None:
        at = self.now()
        with self.lock:
            seq = self.seqs[device] = self.seqs.get(device, 0) + 1
            if channel == "state" and not fields.get("online"):
                self.alive.pop(device, None)
            else:
                self.alive[device] = kind
        body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
        if channel == "cmd/ack":
            del body["seq"]
        self.publisher.send(f"hall/{HALL}/{kind}/{device}/{channel}", json.dumps(body).encode())
        self.publisher.wait()
        if not self.thread.is_alive():
            self.thread.start()

    def _beat(self) -> None:
        while not self.stopped.wait(0.5):
            at = self.now().isoformat()
            with self.lock:
                beats = []
                for device, kind in self.alive.items():
                    seq = self.seqs[device] = self.seqs[device] + 1
                    beats.append((f"hall/{HALL}/{kind}/{device}/hb", {"v": 1, "ts": at, "seq": seq}))
            for topic, body in beats:
                self.beats.send(topic, json.dumps(body).encode(), qos=0)

    def close(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(5)
        self.publisher.close()
        self.beats.close()


@pytest.fixture
def devices(gateway: GatewayProcess, mosquitto: MosquittoProcess) -> Iterator[Devices]:
    played = Devices(mosquitto, gateway)
    yield played
    played.close()


def tickets(gw: GatewayProcess, **query: str) -> list[dict[str, object]]:
    rows = gw.get("/api/tickets?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert isinstance(rows, list)
    return rows


def of_device(gw: GatewayProcess, device: str) -> list[dict[str, object]]:
    return [t for t in tickets(gw, status="all") if t["device"] == device]


def commands(gw: GatewayProcess, device: str) -> list[dict[str, object]]:
    rows = gw.get(f"/api/commands?device={device}")
    assert isinstance(rows, list)
    return rows


def visible_text(page: Page) -> str:
    return page.locator("main").inner_text()


def test_one_ticket_per_device_resolved_today_device_panel_and_commands_for_the_technician(
    gateway: GatewayProcess, devices: Devices, browser: Browser
) -> None:
    gw = gateway
    base = f"http://127.0.0.1:{gw.port}"
    for tm in ("TM01", "TM02"):
        devices.send("ticket_machine", tm, "state", online=True, printer="ok", paper_pct=60, firmware="TM-3.2.1")
    devices.send("kiosk", "K01", "state", online=True, printer="ok")
    devices.send("kiosk", "K02", "state", online=True, printer="ok")
    devices.send("call_screen", "CS-A", "state", online=True, display="ok")

    # 1. paper low, then out: one ticket, escalated
    devices.send("ticket_machine", "TM02", "state", online=True, printer="paper_low", paper_pct=8, firmware="TM-3.2.1")
    wait_until(lambda: of_device(gw, "TM02"), what="the paper-low ticket")
    devices.send("ticket_machine", "TM02", "state", online=True, printer="paper_out", paper_pct=0, firmware="TM-3.2.1")
    wait_until(lambda: len(of_device(gw, "TM02")[0]["faults"]) == 2, what="paper out to join the ticket")  # type: ignore[arg-type]
    [paper] = of_device(gw, "TM02")
    assert (paper["priority"], paper["kind"]) == ("P2", "device_fault"), paper["priority_reason"]

    # 2. K01's error burst: its self-test is acknowledged; CS-A goes blank and never answers its restart
    for _ in range(5):
        devices.send("kiosk", "K01", "evt", type="kiosk.error", code="print_fail")
    wait_until(lambda: commands(gw, "K01"), what="the self-test command")
    [selftest] = commands(gw, "K01")
    devices.send("kiosk", "K01", "cmd/ack", cmd_id=selftest["cmd_id"], ok=True)
    devices.send("call_screen", "CS-A", "state", online=True, display="blank")
    wait_until(lambda: [c for c in commands(gw, "CS-A") if c["status"] == "unacknowledged"], what="no answer")
    assert commands(gw, "K01")[0]["status"] == "acknowledged"

    # 3. a bad rating at W04: the manager's
    devices.send("evaluator", "EV04", "evt", type="rating.submitted", window_id="W04", score=1)
    wait_until(lambda: tickets(gw, kind="rectification"), what="the rectification ticket")
    [rating] = tickets(gw, kind="rectification")

    # 4. K02 goes offline: a ticket the technician resolves in the page
    devices.send("kiosk", "K02", "state", online=False)
    wait_until(lambda: of_device(gw, "K02"), what="the offline ticket")
    [offline] = of_device(gw, "K02")

    tech = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(tech, base, "li")
        view = tech.locator(".tech-view")
        card = view.locator(f"li.ticket[data-ticket='{paper['id']}']")
        expect(card).to_have_count(1)
        expect(view.locator("li.ticket", has_text="TM02")).to_have_count(1)  # one roll, one ticket
        expect(card.locator("h3")).to_have_text("取号机 TM02 · 1F-entrance-right")
        expect(card.locator(".faults li")).to_have_text(
            [re.compile(r"缺纸或卡纸 · \d\d:\d\d 起 · 仍未恢复"), re.compile(r"纸张将尽 · \d\d:\d\d 起 · 已恢复")]
        )
        expect(card.locator(".escalated")).to_have_text("同一设备的新故障已并入本工单，优先级 P3 → P2")
        expect(view.locator(f"[data-ticket='{rating['id']}']")).to_have_count(0)  # the manager's, not here

        # the device in words: no JSON
        card.get_by_role("button", name="详情").click()
        panel = card.locator(".device-panel")
        expect(panel.locator("dl.facts")).to_contain_text("取号机")
        expect(panel.locator("dl.facts")).to_contain_text("TM-3.2.1")
        expect(panel.locator("dl.facts")).to_contain_text("故障 缺纸")
        expect(panel).to_contain_text("最近上报")
        expect(panel).to_contain_text("状态：在线，缺纸，纸量 0%")
        assert "{" not in panel.inner_text() and '"' not in panel.inner_text()

        # the commands in words, with their age
        row = view.locator(f"table.commands tr[data-cmd='{selftest['cmd_id']}']")
        expect(row).to_contain_text("自检")
        expect(row).to_contain_text("已确认")
        expect(row).to_contain_text("前")
        screen = view.locator("table.commands tr[data-status='unacknowledged']", has_text="CS-A")
        expect(screen).to_contain_text("重启")
        expect(screen).to_contain_text("发送 3 次均无回执")

        # the technician resolves K02's ticket; the device comes back
        k02 = view.locator(f"li.ticket[data-ticket='{offline['id']}']")
        k02.get_by_role("button", name="响应").click()
        expect(view.locator("#mine").locator(f"li.ticket[data-ticket='{offline['id']}']")).to_be_visible()
        k02.get_by_label("处理说明").fill("重新插好网线")
        k02.get_by_role("button", name="解决").click()
        expect(k02).to_have_count(0)
        devices.send("kiosk", "K02", "state", online=True, printer="ok")
        done = view.locator(f"#resolved-today li[data-ticket='{offline['id']}']")
        expect(done).to_contain_text(re.compile(r"李工 于 \d\d:\d\d 解决 · 用时 \d+ 分钟 · 在解决时限（.+）内"))
        expect(done).to_contain_text("重新插好网线")
        assert "li 于" not in done.inner_text()

        assert axe_violations(tech) == []
        assert not MACHINE_TEXT.search(visible_text(tech)), visible_text(tech)

        # in English
        tech.get_by_role("button", name="language").click()
        expect(view.locator("#resolved-today h2")).to_have_text("Resolved today")
        expect(done).to_contain_text(re.compile(r"resolved by 李工 at \d\d:\d\d · took \d+ min"))
        card = view.locator(f"li.ticket[data-ticket='{paper['id']}']")
        expect(card.locator("h3")).to_have_text("ticket machine TM02 · 1F-entrance-right")
        expect(card.locator(".escalated")).to_have_text(
            "Another fault of this device joined this ticket: priority P3 → P2"
        )
        expect(card.locator(".faults li").first).to_contain_text("out of paper or jammed")
        expect(screen).to_contain_text("unacknowledged after 3 tries")
        expect(row).to_contain_text("self-test")
        expect(card.get_by_role("button", name="Details")).to_have_attribute("aria-expanded", "true")  # still open
        expect(card.locator(".device-panel")).to_contain_text("state: online, out of paper, paper 0%")
        assert axe_violations(tech) == []
        assert not MACHINE_TEXT.search(visible_text(tech)), visible_text(tech)
    finally:
        tech.context.close()


def test_bad_ratings_are_the_managers_on_the_floor_view(
    gateway: GatewayProcess, devices: Devices, browser: Browser
) -> None:
    gw = gateway
    base = f"http://127.0.0.1:{gw.port}"
    devices.send("evaluator", "EV04", "evt", type="rating.submitted", window_id="W04", score=1)
    wait_until(lambda: tickets(gw, kind="rectification"), what="the rectification ticket")
    [rating] = tickets(gw, kind="rectification")
    assert rating["id"] not in {t["id"] for t in tickets(gw, kind="device_fault")}

    manager = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    tech = browser.new_context(locale="zh-CN", viewport={"width": 1600, "height": 1000}).new_page()
    try:
        sign_in(manager, base, "wang")
        region = manager.get_by_role("region", name="差评整改")
        item = region.locator(f"li.rect[data-ticket='{rating['id']}']")
        expect(item).to_contain_text("不动产1号窗 差评")
        expect(item).to_contain_text("回访时限")
        assert axe_violations(manager) == []

        sign_in(tech, base, "li")  # the technician sees neither the list on the floor nor the ticket in theirs
        expect(tech.locator(".tech-view li.ticket").first).to_be_visible()  # (the hall's silent devices: faults)
        expect(tech.locator(f".tech-view [data-ticket='{rating['id']}']")).to_have_count(0)
        tech.goto(f"{base}/#/floor")
        expect(tech.locator(".floor-view")).to_be_visible()
        expect(tech.locator("#rectify")).to_have_count(0)

        manager.get_by_role("button", name="language").click()
        region = manager.get_by_role("region", name="Bad ratings to rectify")
        item = region.locator(f"li.rect[data-ticket='{rating['id']}']")
        expect(item).to_contain_text("Bad rating at")
        item.get_by_role("button", name="Rectified, citizen revisited").click()  # without a note: refused
        expect(manager.locator("#toast")).to_have_text("Say what was done")
        item.get_by_label("What was done, the revisit").fill("电话回访，已致歉并说明办理要求")
        item.get_by_role("button", name="Rectified, citizen revisited").click()
        expect(region).to_contain_text("No bad ratings to rectify")
        done = gw.get(f"/api/tickets/{rating['id']}")
        assert isinstance(done, dict) and done["resolved_by"] == "wang" and done["names"] == {"wang": "王经理"}
        assert axe_violations(manager) == []
    finally:
        manager.context.close()
        tech.context.close()
