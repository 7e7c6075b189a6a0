"""The administrator's view end to end, in Debian's chromium (Playwright), in both languages: users managed in the
page (added, changed, given a new password, removed; refusals said in words; the configuration file's users read
only), the city hall's 158 devices searched and filtered, and the audit log in words with its anchor state and more
rows on demand. Each panel passes axe, and none shows null, undefined, true/false or `key = value` text.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from edge.broker import MosquittoProcess
from tests.integration.conftest import (
    CST,
    PASSWORD,
    GatewayProcess,
    Publisher,
    demo_gateway,
    wait_until,
)
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_ui import sign_in

NEW_PASSWORD = "tidal window 7 kiosk"
RAW = re.compile(r"\b(null|undefined|NaN|None|True|False|true|false)\b|\S+ = \S+")
PANELS = ("#admin-devices", "#admin-users", "#admin-audit")


def raw_text(page: Page) -> list[str]:
    """Machine text in the administrator's panels of this part: JSON literals, Python literals, `key = value`."""
    found = []
    for panel in PANELS:
        text = page.locator(panel).inner_text()
        found += [f"{panel}: …{text[max(0, m.start() - 60) : m.end() + 20]}…" for m in RAW.finditer(text)]
    return found


def english(page: Page) -> None:
    page.add_init_script("localStorage.setItem('hallops.lang', 'en')")


def open_admin(page: Page, hall: GatewayProcess, user: str = "root", password: str = PASSWORD) -> None:
    page.goto(f"http://127.0.0.1:{hall.port}/")
    page.locator("#login-user").fill(user)  # in either language
    page.locator("#login-password").fill(password)
    page.locator("form.login button[type=submit]").click()
    expect(page.locator("#nav a[href='#/admin']")).to_be_visible()
    page.goto(f"http://127.0.0.1:{hall.port}/#/admin")


def can_sign_in(hall: GatewayProcess, user: str, password: str) -> bool:
    r = httpx.post(f"{hall.url}/api/session", json={"user": user, "password": password}, timeout=10)
    return r.status_code == 200


def test_an_administrator_manages_users_in_the_page(hall: GatewayProcess, browser: Browser, page: Page) -> None:
    open_admin(page, hall)
    users = page.get_by_role("region", name="用户")
    status = users.locator("#users-status")
    # the configuration file's users are listed, read only
    wang = users.locator("tr[data-user='wang']")
    expect(wang).to_contain_text("王经理")
    expect(wang).to_contain_text("配置文件")
    expect(wang).to_contain_text("来自配置文件，只读")
    expect(wang.get_by_role("button")).to_have_count(0)

    # 1. added, after the policy's refusals said in words
    add = users.get_by_role("form", name="添加用户")
    add.get_by_label("用户名").fill("zhao")
    add.get_by_label("姓名").fill("赵工")
    add.get_by_label("角色").select_option("technician")
    expect(add).to_contain_text("密码至少 10 个字符、5 个不同的字符")
    for password, said in [
        ("zhao12345", "密码太短：至少需要 10 个字符"),
        ("Password123!", "这是最常见的密码之一"),
        ("zhao!!!!!!!!", "密码不能是用户名"),
    ]:
        add.get_by_label("初始密码").fill(password)
        add.get_by_role("button", name="添加").click()
        expect(status).to_contain_text(said)
    add.get_by_label("用户名").fill("wang")
    add.get_by_label("初始密码").fill(NEW_PASSWORD)
    add.get_by_role("button", name="添加").click()
    expect(status).to_have_text("用户名 wang 已存在")
    assert axe_violations(page) == [], "WCAG problems with the users panel and a refusal shown"
    add.get_by_label("用户名").fill("zhao")
    add.get_by_label("初始密码").fill(NEW_PASSWORD)
    add.get_by_role("button", name="添加").click()
    expect(status).to_have_text("已添加用户 zhao（运维）")
    zhao = users.locator("tr[data-user='zhao']")
    expect(zhao).to_contain_text("赵工")
    expect(zhao).to_contain_text("数据库")
    assert can_sign_in(hall, "zhao", NEW_PASSWORD)

    # 2. a new role and name, in the page's own form
    zhao.get_by_role("button", name="修改 zhao").click()
    edit = users.get_by_role("form", name="修改用户 zhao")
    expect(edit.get_by_label("姓名")).to_be_focused()
    page.keyboard.press("Escape")  # from the keyboard: Escape closes the form, back on the row's button
    expect(edit).to_have_count(0)
    expect(zhao.get_by_role("button", name="修改 zhao")).to_be_focused()
    page.keyboard.press("Enter")
    expect(edit.get_by_label("姓名")).to_be_focused()
    edit.get_by_label("姓名").fill("赵经理")
    edit.get_by_label("角色").select_option("manager")
    edit.get_by_role("button", name="保存").click()
    expect(status).to_have_text("已保存对 zhao 的修改")
    expect(zhao).to_contain_text("大厅负责人")
    expect(zhao).to_contain_text("赵经理")
    listed = {u["user"]: u for u in hall.http.get("/api/users").json()}
    assert (listed["zhao"]["role"], listed["zhao"]["name"], listed["zhao"]["source"]) == (
        "manager",
        "赵经理",
        "database",
    )

    # 3. a new password ends zhao's session, open in another browser
    other = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1600, "height": 1000})
    try:
        theirs = other.new_page()
        sign_in(theirs, f"http://127.0.0.1:{hall.port}", "zhao", NEW_PASSWORD)
        expect(theirs.locator("#nav a[href='#/floor']")).to_be_visible()  # a manager now
        zhao.get_by_role("button", name="重置 zhao 的密码").click()
        reset = users.get_by_role("form", name="为 zhao 设置新密码")
        expect(reset).to_contain_text("已登录的会话全部结束")
        reset.get_by_label("新密码").fill("zhao")
        reset.get_by_role("button", name="设置密码").click()
        expect(status).to_have_text("密码太短：至少需要 10 个字符")
        assert axe_violations(page) == [], "WCAG problems with the password form open"
        reset.get_by_label("新密码").fill("kiosk paper 42 jam")
        reset.get_by_role("button", name="设置密码").click()
        expect(status).to_have_text("已为 zhao 设置新密码，其已登录的会话已结束")
        expect(theirs.locator("form.login")).to_be_visible()  # the stream says signed_out: the sign-in form
    finally:
        other.close()
    assert not can_sign_in(hall, "zhao", NEW_PASSWORD) and can_sign_in(hall, "zhao", "kiosk paper 42 jam")

    # 4. removed, after a question in the page
    zhao.get_by_role("button", name="删除 zhao").click()
    remove = users.get_by_role("form", name="删除用户 赵经理（zhao）？")
    expect(remove).to_contain_text("API 令牌会一并失效")
    remove.get_by_role("button", name="删除").click()
    expect(status).to_have_text("已删除用户 zhao")
    expect(zhao).to_have_count(0)
    assert not can_sign_in(hall, "zhao", "kiosk paper 42 jam")

    # 5. the audit log says each change in words, by the administrator's name
    audit = page.get_by_role("region", name="审计日志")
    rows = audit.locator("#audit-table tbody tr")
    expect(rows.first).to_contain_text("删除用户")
    words = [r.split("\t") for r in rows.all_inner_texts()]
    by_action = {w[2]: w for w in words}
    for action in ("添加用户", "更改角色", "更改姓名", "重置密码", "删除用户"):
        assert by_action[action][1] == "管理员（root）", by_action[action]
        assert by_action[action][3] == "zhao", by_action[action]  # zhao is gone: the name alone
    assert by_action["更改角色"][4] == "角色：大厅负责人；原为运维"
    assert by_action["添加用户"][4] == "角色：运维；姓名：赵工"
    assert by_action["登录"][3] == "管理员（root）" and by_action["登录"][4].startswith("来自 127.0.0.1")
    expect(audit.locator("#audit-anchor")).to_have_text("尚无外部锚点：未配置 audit.anchor_file，或还没有发布过")
    assert axe_violations(page) == [], "WCAG problems with the audit log"
    assert raw_text(page) == []

    # 6. in English
    page.get_by_role("button", name="language").click()
    users = page.get_by_role("region", name="Users")
    expect(users.locator("tr[data-user='wang']")).to_contain_text("from the configuration file, read-only")
    add = users.get_by_role("form", name="Add a user")
    expect(add).to_contain_text("A password has at least 10 characters and 5 different ones")
    add.get_by_label("User name").fill("qian")
    add.get_by_label("First password").fill("Password123!")
    add.get_by_role("button", name="Add").click()
    expect(users.locator("#users-status")).to_contain_text("That is one of the most common passwords")
    audit = page.get_by_role("region", name="Audit log")
    removed = audit.locator("tr[data-action='user.remove']")
    expect(removed).to_contain_text("removed a user")
    expect(removed).to_contain_text("管理员 (root)")
    expect(audit.locator("tr[data-action='session.sign_in_failed']").first).to_contain_text("someone not signed in")
    assert axe_violations(page) == [], "WCAG problems in English"
    assert raw_text(page) == []


def test_an_administrator_may_not_remove_or_demote_themself(hall: GatewayProcess, page: Page) -> None:
    made = hall.http.post(
        "/api/users", json={"user": "ops", "name": "运维主管", "role": "administrator", "password": NEW_PASSWORD}
    )
    assert made.status_code == 201, made.text
    english(page)
    open_admin(page, hall, "ops", NEW_PASSWORD)
    users = page.get_by_role("region", name="Users")
    me = users.locator("tr[data-user='ops']")
    expect(me).to_contain_text("you")
    expect(me).to_contain_text("cannot remove yourself")
    expect(me.get_by_role("button", name="Remove ops")).to_have_count(0)
    me.get_by_role("button", name="Edit ops").click()
    edit = users.get_by_role("form", name="Edit user ops")
    expect(edit.get_by_label("Role")).to_be_disabled()
    expect(edit).to_contain_text("another administrator changes your own role")
    edit.get_by_label("Name").fill("运维组长")
    edit.get_by_role("button", name="Save").click()
    expect(users.locator("#users-status")).to_have_text("Changes to ops saved")
    expect(me).to_contain_text("运维组长")
    # the API refuses what the page does not offer, in words the page would show
    own = httpx.delete(f"{hall.url}/api/users/ops", auth=("ops", NEW_PASSWORD), timeout=10)
    assert own.status_code == 409 and own.json()["detail"]["reason"] == "self"
    assert axe_violations(page) == []
    assert raw_text(page) == []


@pytest.fixture
def city(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    publisher: Publisher,
    tmp_path: Path,
) -> GatewayProcess:
    """The city hall's gateway (158 configured devices) with USERS; a few devices report, the rest are unheard."""
    gw = demo_gateway(gateway_factory, mosquitto.url, tmp_path, "city")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
    states: list[tuple[str, str, dict[str, object]]] = [
        ("ticket_machine", "TM01", {"printer": "paper_out", "paper_pct": 0, "location": "1F-entrance"}),
        ("ticket_machine", "TM02", {"printer": "ok", "paper_pct": 80}),
        ("ticket_machine", "TM03", {}),
        ("call_screen", "CS-B", {"display": "blank"}),
        ("kiosk", "K07", {"printer": "ok", "error_code": "backend_timeout"}),
        ("window", "W01", {}),
        ("window", "W02", {}),
        ("evaluator", "EV01", {"battery_pct": 9}),
        ("ticket_machine", "TM03", {"online": False}),  # heard, then gone
    ]
    for seq, (kind, device, fields) in enumerate(states, 1):
        body = {"v": 1, "ts": (at + timedelta(seconds=seq)).isoformat(), "seq": seq, "online": True, **fields}
        publisher.send(f"hall/city-01/{kind}/{device}/state", json.dumps(body), retain=True)
    publisher.wait()
    wait_until(lambda: gw.accepted() >= len(states), timeout=30, what="the device states")
    return gw


def test_the_city_halls_158_devices_are_searched_and_filtered(city: GatewayProcess, page: Page) -> None:
    devices = city.get("/api/devices")
    assert isinstance(devices, list) and len(devices) == 158
    open_admin(page, city)
    panel = page.get_by_role("region", name="设备登记")
    count = panel.locator("#dev-count")
    rows = panel.locator("#device-table tbody tr")
    expect(count).to_have_text(re.compile(r"^共 158 台设备，\d+ 台非正常$"))
    expect(rows).to_have_count(158)
    # by type, with the count each choice would show
    expect(panel.get_by_label("类型").locator("option[value='ticket_machine']")).to_have_text("取号机（4）")
    panel.get_by_label("类型").select_option("ticket_machine")
    expect(rows).to_have_count(4)
    expect(count).to_have_text(re.compile(r"^显示 4 台，共 158 台；其中 \d 台非正常$"))
    # … and by health: the one out of paper, in words
    expect(panel.get_by_label("状态").locator("option[value='fault']")).to_have_text("故障（1）")
    panel.get_by_label("状态").select_option("fault")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("TM01")
    expect(rows.first).to_contain_text("缺纸")
    panel.get_by_label("状态").select_option("offline")
    expect(rows).to_have_text([re.compile("TM03.*离线")])
    assert axe_violations(page) == [], "WCAG problems with the device filters set"
    panel.get_by_role("button", name="清除筛选").click()
    expect(rows).to_have_count(158)
    expect(panel.get_by_label("搜索")).to_be_focused()
    # a search by id, name or location; a window's devices; a floor
    panel.get_by_label("搜索").fill("cs-b")
    expect(rows).to_have_text([re.compile("CS-B.*叫号屏.*1F-B.*故障.*黑屏")])
    panel.get_by_label("搜索").fill("1F-A-0")
    expect(rows).to_have_count(9)  # W01–W09's terminals
    panel.get_by_label("搜索").fill("")
    panel.get_by_label("业务 / 窗口 / 楼层").select_option("window:W01")
    expect(rows).to_have_text([re.compile("W01.*窗口终端")])
    panel.get_by_label("业务 / 窗口 / 楼层").select_option("floor:3F")
    expect(count).to_have_text(re.compile(r"^显示 \d+ 台，共 158 台"))
    assert all("3F" in r for r in rows.all_inner_texts())
    panel.get_by_label("搜索").fill("K0")
    expect(panel.get_by_text("没有符合筛选条件的设备")).to_be_visible()  # the kiosks are on 1F and 2F
    expect(panel.locator("#device-table")).to_be_hidden()
    panel.get_by_role("button", name="清除筛选").click()

    # each keystroke filters the 158 at once: the table is redrawn in the same task as the input event
    timings = page.evaluate("""() => {
        const box = document.getElementById("dev-search"), out = [];
        for (const text of ["k", "k0", "k07", "", "1f", "1f-a", "", "tm", "w5", ""]) {
            const start = performance.now();
            box.value = text;
            box.dispatchEvent(new Event("input"));
            document.getElementById("device-table")?.offsetHeight;  // layout included
            out.push(performance.now() - start);
        }
        return out;
    }""")
    assert statistics.median(timings) < 100, timings  # 100 ms: where a person starts to notice a delay
    expect(rows).to_have_count(158)
    assert raw_text(page) == []

    # in English
    page.get_by_role("button", name="language").click()
    panel = page.get_by_role("region", name="Device registry")
    expect(panel.locator("#dev-count")).to_have_text(re.compile(r"^158 devices, \d+ not ok$"))
    panel.get_by_label("Search").fill("K07")
    expect(panel.locator("#device-table tbody tr")).to_have_text(
        [re.compile("K07.*kiosk.*device error backend_timeout")]
    )
    panel.get_by_label("Health").select_option("attention")
    expect(panel.locator("#dev-count")).to_have_text("Showing 1 of 158 devices; 1 of them not ok")
    assert axe_violations(page) == [], "WCAG problems in English"
    assert raw_text(page) == []


def test_the_audit_log_shows_more_rows_on_demand(hall: GatewayProcess, page: Page) -> None:
    made = hall.http.post("/api/users", json={"user": "zhao", "role": "technician", "password": NEW_PASSWORD})
    assert made.status_code == 201, made.text
    for n in range(60):  # sixty new names: sixty audit rows
        renamed = hall.http.patch("/api/users/zhao", json={"name": f"赵工{n}"})
        assert renamed.status_code == 200, renamed.text
    open_admin(page, hall)
    audit = page.get_by_role("region", name="审计日志")
    rows = audit.locator("#audit-table tbody tr")
    expect(rows).to_have_count(50)
    expect(audit.locator("#audit-count")).to_have_text("显示最新 50 条")
    first = rows.nth(1).inner_text().split("\t")  # (the newest: root signing in)
    assert first[1:] == ["管理员（root）", "更改姓名", "赵工59（zhao）", "姓名：赵工59；原姓名 赵工58"]
    audit.get_by_role("button", name="再显示 50 条").click()
    expect(audit.locator("#audit-count")).to_have_text(re.compile(r"^共 \d+ 条，已全部显示$"))
    assert 60 < rows.count() < 100
    expect(audit.get_by_role("button", name="再显示 50 条")).to_have_count(0)
    expect(audit.locator("tr[data-action='user.display']").last).to_contain_text("姓名：赵工0；原来没有姓名")
    assert axe_violations(page) == []
    assert raw_text(page) == []
