"""The web UI end to end: Debian's chromium (Playwright) against a gateway with users, fed by the simulated county
hall over a real mosquitto. The simulator obeys the gateway's commands, so approving a tidal window in the browser
opens that window in the simulated hall and the floor view shows it.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, PASSWORD, ROOT, USERS, GatewayProcess, wait_until

AFTERNOON = datetime(2026, 11, 23, 14, 30, tzinfo=CST)  # a Monday: the county hall's SB surge comes at 15:00
HALL_MS = 120_000  # the hall gets somewhere (an incident, the surge): tens of hall minutes, a hall minute a wall second


def sign_in(page: Page, base: str, user: str, password: str = PASSWORD) -> None:
    page.goto(base + "/")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_each_route_enforces_its_roles(hall: GatewayProcess, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    with httpx.Client(base_url=base, timeout=5) as anon:
        assert anon.get("/api/hall").status_code == 401
        assert anon.get("/api/health").status_code == 200  # monitoring needs no account
        assert anon.post("/api/session", json={"user": "wang", "password": "nope"}).status_code == 401
    # an integration's API token, made with the CLI on the running gateway's database
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "tokens",
            "create",
            "--user",
            "wang",
            "--label",
            "city",
            "--db",
            str(hall.db),
            "--config",
            str(tmp_path / "gateway.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    token = made.stdout.strip()
    with httpx.Client(base_url=base, timeout=5) as integration:
        assert integration.get("/api/hall", headers={"authorization": f"Bearer {token}"}).status_code == 200
        assert integration.get("/api/hall", headers={"authorization": "Bearer hot_guessed"}).status_code == 401
        # guessing passwords: the sixth try for a name is refused before it is checked, and says when to retry
        codes = [integration.post("/api/session", json={"user": "zhao", "password": f"guess{i}"}) for i in range(6)]
        assert [r.status_code for r in codes] == [401] * 5 + [429]
        assert 0 < int(codes[-1].headers["retry-after"]) <= 900
    as_ = {name: httpx.Client(base_url=base, timeout=5, auth=(name, PASSWORD)) for name in USERS}
    try:
        assert as_["wang"].get("/api/hall").status_code == 200
        denied = as_["li"].post("/api/recommendations/r1/approve", json={})
        assert denied.status_code == 403 and "manager" in denied.json()["detail"]
        silence = {"rule": "wait-30", "minutes": 30, "comment": "drill"}
        assert as_["li"].post("/api/silences", json=silence).status_code == 403  # a technician cannot mute alarms
        assert as_["wang"].get("/api/users").status_code == 403
        assert as_["wang"].post("/api/rules/check", content=b"rules: []").status_code == 403
        listed = as_["root"].get("/api/users").json()
        assert sorted(u["user"] for u in listed) == sorted(USERS) and {u["source"] for u in listed} == {"config"}
        # every API route says who may call it (the role table the UI and docs are built from)
        spec = as_["root"].get("/openapi.json").json()
        undeclared = [
            f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m, op in ops.items() if "x-roles" not in op
        ]
        assert undeclared == []
    finally:
        for c in as_.values():
            c.close()


def test_a_manager_and_a_technician_work_the_afternoon_in_the_browser(
    hall: GatewayProcess, browser: Browser, simulate: Callable[..., None]
) -> None:
    """14:30–15:10 of the county afternoon, about 40 s: a kiosk's print failures at 14:47 (an alert for the manager, a
    fault ticket for the technician), then the SB surge and the tidal recommendation at about 15:07."""
    base = f"http://127.0.0.1:{hall.port}"
    simulate("150m", AFTERNOON)
    # the manager's PC is set to another time zone: the page still shows the hall's time (Asia/Shanghai)
    manager = browser.new_context(
        locale="zh-CN", timezone_id="Europe/London", viewport={"width": 1600, "height": 1000}
    ).new_page()
    tech = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000}).new_page()
    try:
        sign_in(manager, base, "wang", "wrong password")
        expect(manager.get_by_role("alert").first).to_have_text("用户名或密码错误")
        sign_in(manager, base, "wang")
        expect(manager.get_by_role("link", name="大厅")).to_be_visible()
        expect(manager.get_by_role("link", name="管理")).to_have_count(0)  # no admin view for a manager
        expect(manager.locator("#floor .win")).to_have_count(12)
        afternoon = re.compile(r"2026/11/23.* 1[4-7]:\d\d:\d\d")  # the hall's time, not 06:xx in London
        expect(manager.locator("#clock")).to_contain_text(afternoon)

        # 1. an incident reaches the alert feed within seconds of firing, and the manager takes it
        conditions = {r["id"] for r in hall.get("/api/rules") if r["kind"] == "condition"}  # type: ignore[union-attr]

        def firing() -> list[dict[str, object]]:  # a condition (events end when taken): it stays, acknowledged
            rows = hall.get("/api/alerts")
            assert isinstance(rows, list)
            return [a for a in rows if a["state"] == "firing" and a["rule"] in conditions and a["severity"] != "info"]

        wait_until(firing, timeout=HALL_MS / 1000, what="a firing alert")
        fired = firing()[0]
        seen = time.monotonic()
        item = manager.locator(f"li.alert[data-fingerprint='{fired['fingerprint']}']")
        expect(item).to_be_visible(timeout=5_000)
        shown_after_s = time.monotonic() - seen
        item.get_by_role("button", name="确认").click()
        expect(item).to_have_attribute("data-state", "acknowledged")
        assert hall.get(f"/api/alerts/{fired['fingerprint']}")["alert"]["acknowledged_by"] == "wang"  # type: ignore[index]
        assert shown_after_s < 5

        # 2. while the surge builds, the technician works the fault ticket from acknowledge to resolve
        sign_in(tech, base, "li")
        first = tech.locator("li.ticket").first
        expect(first).to_be_visible(timeout=HALL_MS)
        ticket_id = first.get_attribute("data-ticket")
        card_t = tech.locator(f"li.ticket[data-ticket='{ticket_id}']")
        card_t.get_by_role("button", name="响应").click()
        expect(tech.locator("#mine").locator(f"li.ticket[data-ticket='{ticket_id}']")).to_be_visible()
        card_t.get_by_role("button", name="详情").click()
        expect(card_t.locator(".tdetail")).to_contain_text("最近上报")
        card_t.get_by_role("button", name="解决").click()  # without a note: refused in the page
        expect(tech.locator("#toast")).to_have_text("请填写处理说明")
        card_t.get_by_label("处理说明").fill("换纸并清理卡纸")
        card_t.get_by_role("button", name="解决").click()
        expect(card_t).to_have_count(0)  # resolved tickets leave the active lists
        # (read at once: a fault still firing re-opens its ticket 10 hall minutes after it was marked resolved)
        done = hall.get(f"/api/tickets/{ticket_id}")
        assert done["status"] == "resolved" and done["resolved_by"] == "li"  # type: ignore[index]
        assert done["resolution_note"] == "换纸并清理卡纸"  # type: ignore[index]

        # 3. the SB surge brings a tidal recommendation; approving it opens the window on the floor
        card = manager.locator("li.rec").first
        expect(card).to_be_visible(timeout=HALL_MS)
        rec = hall.get("/api/recommendations")[0]  # type: ignore[index]
        window = rec["windows"][0]
        tile = manager.locator(f".win[data-window='{window}']")
        expect(tile).to_have_attribute("data-state", "closed")
        card.get_by_role("button", name="批准").click()
        expect(tile).not_to_have_attribute("data-state", "closed")
        expect(tile).to_contain_text(re.compile("办理中|空闲"))

        # every change above is in the audit log, by who made it, and the chain verifies
        audit = hall.get("/api/audit")
        assert audit["intact"] is True  # type: ignore[index]
        done_by = {(e["actor"], e["action"]) for e in audit["entries"]}  # type: ignore[index]
        assert {
            ("wang", "alert.acknowledge"),
            ("wang", "recommendation.approve"),
            ("li", "ticket.acknowledge"),
            ("li", "ticket.resolve"),
        } <= done_by

        # 4. the day's report: the page's table and the CSV a manager downloads agree with the live hall
        manager.goto(f"{base}/#/reports")
        hall_row = manager.locator("#daily tbody tr").first
        expect(hall_row.locator("th")).to_have_text("全厅")
        with manager.expect_download() as download:
            manager.get_by_role("link", name="下载 CSV").first.click()
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")  # with a BOM, for spreadsheet programs
        rows = list(csv.DictReader(io.StringIO(text)))
        issued_now = sum(s["issued_today"] for s in hall.get("/api/hall")["services"])  # type: ignore[index]
        issued = "取号（张）"  # the header in the page's language, with its unit
        assert rows[0]["业务代码"] == "" and 0 < int(rows[0][issued]) <= issued_now
        assert int(rows[0][issued]) == sum(int(r[issued]) for r in rows[1:])
        shown = int(hall_row.locator("td").first.inner_text())  # the page was loaded a moment before the CSV
        assert 0 < shown <= int(rows[0][issued])
        manager.goto(f"{base}/#/floor")

        # 5. the language switch changes the text, and is remembered
        manager.get_by_role("button", name="language").click()
        expect(manager.locator("#alerts h2")).to_have_text("Alerts")
        expect(manager.locator("html")).to_have_attribute("lang", "en")
        manager.reload()
        expect(manager.locator("#queues h2")).to_have_text("Queues by service")
    finally:
        manager.context.close()
        tech.context.close()


def test_the_page_recovers_by_itself_after_a_gateway_restart(
    hall: GatewayProcess, page: Page, simulate: Callable[..., None]
) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    simulate("150m", AFTERNOON)
    sign_in(page, base, "wang")
    live = page.locator("#live")
    expect(live).to_have_text("实时")
    clock = page.locator("#clock")
    expect(clock).not_to_be_empty()

    assert hall.stop() == 0
    expect(live).to_have_text("重新连接中…")
    before = clock.text_content()
    hall.start()
    expect(live).to_have_text("实时")  # reconnected, and still signed in (sessions are stored)
    expect(page.locator("form.login")).to_have_count(0)
    expect(clock).not_to_have_text(before or "")  # the hall moves on again


VIEWS = ("floor", "wall", "tech", "admin", "reports")
# what each view shows once its live data is in: the page is checked as a user would see it
SHOWN = {
    "floor": ".part-charts figure",  # the KPIs came (the charts are drawn from them), after the hall and the alerts
    "wall": ".wall-floor .win",
    "tech": "li.ticket",  # the kiosk's fault ticket
    "admin": "#admin-audit tbody tr",  # the audit log is loaded last
    "reports": "#daily tbody tr",
}


def test_every_view_passes_axe_and_works_from_the_keyboard(
    hall: GatewayProcess, page: Page, simulate: Callable[..., None]
) -> None:
    """From 14:40: the kiosk's print failures at 14:47 (a warning on the floor, a fault ticket); the keyboard takes the
    alarm well before it ends by itself (at 15:11)."""
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415

    base = f"http://127.0.0.1:{hall.port}"
    simulate("150m", AFTERNOON + timedelta(minutes=10))
    page.goto(base + "/")
    found = {"login": Axe().run(page).response["violations"]}
    sign_in(page, base, "root")
    expect(page.locator("#nav a")).to_have_count(len(VIEWS))

    def alarms() -> list[str]:  # alerts above the info-level floor prompts (those are folded away)
        rows = hall.get("/api/alerts")
        assert isinstance(rows, list)
        return [str(a["fingerprint"]) for a in rows if a["state"] == "firing" and a["severity"] != "info"]

    wait_until(alarms, timeout=HALL_MS / 1000, what="an alarm to show")

    def check(view: str, *also: Locator) -> None:
        page.goto(f"{base}/#/{view}")
        expect(page.locator(".view")).to_be_visible()
        for shown in (page.locator(SHOWN[view]).first, *also):
            expect(shown).to_be_visible()
        found[view] = Axe().run(page).response["violations"]

    # the floor with the alarm firing (its acknowledge button on the page), before the keyboard takes it
    check("floor", page.locator(f"li.alert[data-fingerprint='{alarms()[0]}'][data-state='firing']"))

    # an alert can be acknowledged with the keyboard, and the live refresh does not steal the focus
    ack = page.locator(".part-alerts > ul.alerts button", has_text="确认").first
    expect(ack).to_be_visible()
    for _ in range(300):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "确认":
            break
    key = page.evaluate("document.activeElement.dataset.key")
    clock = page.locator("#clock")
    for _ in range(2):  # two live updates of the floor
        expect(clock).not_to_have_text(clock.inner_text())
    assert page.evaluate("document.activeElement.dataset.key") == key
    page.keyboard.press("Enter")
    fingerprint = key.removeprefix("ack-")
    expect(page.locator(f"li.alert[data-fingerprint='{fingerprint}']")).not_to_have_attribute("data-state", "firing")

    # keyboard only: skip link first, then the views; Enter opens one
    page.goto(f"{base}/#/floor")
    page.reload()  # focus starts at the top of a freshly loaded page
    expect(page.locator(".floor-view")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("跳到内容")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("大厅")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("工单")
    page.keyboard.press("Enter")
    expect(page.locator(".tech-view")).to_be_visible()

    for view in VIEWS[1:]:
        check(view)
    problems = {v: [(x["id"], x["impact"], x["nodes"][0]["target"]) for x in f] for v, f in found.items() if f}
    assert problems == {}, "WCAG problems (labels, contrast, ARIA) per view"


def test_without_users_the_gateway_refuses_the_lan_and_says_how_to_add_an_administrator(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "gateway.db"
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "gateway",
            "--broker",
            mosquitto.url,
            "--hall",
            "h1",
            "--db",
            str(db),
            "--http",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "users" in refused.stderr and f"hallops users add NAME --role administrator --db {db}" in refused.stderr
