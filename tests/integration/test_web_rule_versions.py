"""Rule versions in the administrator's view, end to end: Debian's chromium (Playwright) against a secured county
gateway. An administrator edits the rules in the page, saves a version, reads its diff, runs it in shadow, promotes it
and rolls back; and backtests a candidate over the events the simulated hall recorded, the page showing what the API
computes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta

from playwright.sync_api import Page, expect

from devices.simulator import HallSimulation, load_scenario
from edge.broker import MosquittoProcess
from tests.integration.conftest import CST, ROOT, GatewayProcess, wait_until
from tests.integration.test_web_ui import sign_in

WAIT_30 = 'when: {metric: queue.longest_wait_min, op: ">=", value: 30}'
WAIT_20 = 'when: {metric: queue.longest_wait_min, op: ">=", value: 20}'
TIDAL_15 = 'when: {metric: queue.projected_wait_min, op: ">=", value: 15}'
TIDAL_5 = 'when: {metric: queue.projected_wait_min, op: ">=", value: 5}'


def versions(hall: GatewayProcess) -> dict[str, object]:
    listed = hall.get("/api/rules/versions")
    assert isinstance(listed, dict)
    return listed


def axe_violations(page: Page) -> list[tuple[str, str, object]]:
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415

    found = Axe().run(page).response["violations"]
    return [(x["id"], x["impact"], [n["target"] for n in x["nodes"]]) for x in found]


def test_an_administrator_saves_shadows_promotes_and_rolls_back_a_rule_version(
    hall: GatewayProcess, page: Page
) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    first = versions(hall)["active"]
    assert isinstance(first, int)
    sign_in(page, base, "root")
    expect(page.get_by_role("link", name="管理")).to_be_visible()
    page.goto(f"{base}/#/admin")
    section = page.get_by_role("region", name="规则版本")
    expect(section.locator(f"tr[data-version='{first}'] .b-active")).to_have_text("在用")

    # 1. an invalid edit is refused with its line, like the checker shows it; a valid one becomes a new version
    editor = page.get_by_label("规则文件（当前生效内容，可修改后校验）")
    expect(editor).to_have_value(re.compile(re.escape(WAIT_30)))
    text = editor.input_value()
    editor.fill(text.replace(WAIT_30, WAIT_30.replace("30}", "-thirty}"), 1))
    page.get_by_label("版本备注").fill("等待预警提前到20分钟")
    page.get_by_role("button", name="保存为新版本").click()
    status = page.get_by_role("region", name="规则 YAML").get_by_role("status")
    expect(status).to_contain_text("未保存")
    line = text[: text.index(WAIT_30)].count("\n") + 1
    expect(page.locator("#rule-problems li").first).to_contain_text(f"第 {line} 行")
    assert versions(hall)["active"] == first and len(versions(hall)["versions"]) == 1  # type: ignore[arg-type]

    editor.fill(text.replace(WAIT_30, WAIT_20, 1))
    page.get_by_role("button", name="保存为新版本").click()
    new = first + 1
    expect(status).to_have_text(f"已保存为版本 {new}")
    row = section.locator(f"tr[data-version='{new}']")
    expect(row).to_contain_text("等待预警提前到20分钟")
    expect(row).to_contain_text("root")
    page.get_by_role("button", name="保存为新版本").click()  # the same text again: no copy
    expect(status).to_have_text(f"内容与版本 {new} 相同，未新建版本")

    # 2. its diff against the active version names the changed rule and shows the changed line
    row.get_by_role("button", name="查看差异").click()
    diff = page.locator("#version-diff")
    expect(diff.locator(".diff-ids.changed")).to_contain_text("wait-30")
    expect(diff.locator(".diff-ids.added")).to_contain_text("—")
    expect(diff.locator(".d-add")).to_contain_text([WAIT_20])
    expect(diff.locator(".d-del")).to_contain_text([WAIT_30])

    # 3. in shadow beside the active version: the panel shows it
    row.get_by_role("button", name="影子运行").click()
    ask = section.locator("form.ask")
    ask.get_by_label("备注（记入审计日志）").fill("先影子观察")
    assert axe_violations(page) == [], "WCAG problems with a diff and the comment form shown"
    ask.get_by_role("button", name="影子运行").click()
    shadow = page.get_by_role("region", name="影子运行")
    expect(shadow).to_be_visible()
    expect(shadow).to_contain_text(f"版本 {new} 自")
    expect(row.locator(".b-shadow")).to_have_text("影子")
    assert axe_violations(page) == [], "WCAG problems with the shadow panel shown"
    assert versions(hall)["shadow"] == new

    # 4. promoted in one step: it is the active version, the shadow is gone
    shadow.get_by_label("转正备注").fill("影子结果符合预期")
    shadow.get_by_role("button", name="转为在用").click()
    expect(row.locator(".b-active")).to_have_text("在用")
    expect(shadow).to_be_hidden()
    listed = versions(hall)
    assert listed["active"] == new and listed["shadow"] is None
    latest = listed["activations"][0]  # type: ignore[index]
    assert (latest["kind"], latest["number"], latest["by"], latest["comment"]) == (
        "promote",
        new,
        "root",
        "影子结果符合预期",
    )
    assert WAIT_20 in hall.http.get("/api/rules/source").text  # the gateway runs it

    # 5. rolled back: the version before is active again, and the activations say so
    section.get_by_role("button", name="回滚到上一版本").click()
    ask.get_by_label("备注（记入审计日志）").fill("回退")
    ask.get_by_role("button", name="回滚到上一版本").click()
    expect(section.locator(f"tr[data-version='{first}'] .b-active")).to_have_text("在用")
    expect(row.locator(".b-active")).to_have_count(0)
    expect(section.locator("#activations-table tbody tr").first).to_contain_text("回滚")
    listed = versions(hall)
    assert listed["active"] == first
    assert WAIT_30 in hall.http.get("/api/rules/source").text
    assert [a["kind"] for a in listed["activations"][:3]] == ["rollback", "promote", "shadow"]  # type: ignore[index]


def test_a_backtest_in_the_page_shows_what_the_api_computes(
    hall: GatewayProcess, page: Page, mosquitto: MosquittoProcess
) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    # the hall records an hour of the county afternoon (its SB surge starts at 15:00), at 600× speed
    start = datetime(2026, 11, 23, 14, 30, tzinfo=CST)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "simulate",
            "--broker",
            mosquitto.url,
            "--scenario",
            "county",
            "--seed",
            "1",
            "--speed",
            "600",
            "--start",
            start.isoformat(),
            "--duration",
            "60m",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    # both backtests below must replay the same events: the whole hour, once the gateway has taken every message
    hour = HallSimulation(load_scenario("county"), 1, start, start + timedelta(minutes=60)).messages()
    sent = sum(1 for m in hour if m.kind != "connect")  # what the devices published (and any last will)
    _, err = sim.communicate(timeout=120)
    assert sim.returncode == 0, err.decode(errors="replace")[-3000:]
    wait_until(lambda: hall.accepted() >= sent, timeout=60, what="the gateway to take the hour's events")
    # a candidate that recommends a tidal window at a shorter projected wait
    source = hall.http.get("/api/rules/source").text
    assert TIDAL_15 in source
    made = hall.http.post(
        "/api/rules/versions", json={"source": source.replace(TIDAL_15, TIDAL_5), "comment": "早开窗"}
    )
    assert made.status_code == 201
    candidate = made.json()["number"]

    sign_in(page, base, "root")
    expect(page.get_by_role("link", name="管理")).to_be_visible()
    page.goto(f"{base}/#/admin")
    form = page.get_by_role("region", name="回测")
    expect(form.get_by_label("候选")).to_have_value(str(candidate))  # the newest version not in force
    # the whole recording: a backtest replays what was recorded in the period, and on a loaded box the gateway takes
    # the hour's last messages (the SB surge among them) after 15:30 by its own clock
    period = {"from": "2026-11-23T14:30", "to": "2026-11-23T18:00"}
    form.get_by_label("开始").fill(period["from"])
    form.get_by_label("结束").fill(period["to"])
    # the Run button says it is busy while the backtest runs (watched as it happens: a backtest can be quick)
    page.evaluate("""() => { window.seen = new Set(); new MutationObserver(() => {
        const b = document.getElementById("bt-run"); if (b) window.seen.add(`${b.disabled} ${b.textContent}`);
    }).observe(document.getElementById("admin-backtest"), {subtree: true, childList: true, attributes: true}); }""")
    form.get_by_role("button", name="运行回测").click()
    table = form.locator("#bt-rules")
    expect(table).to_be_visible(timeout=120_000)  # an hour replayed twice takes seconds; only a broken one takes this
    assert "true 回测中…" in page.evaluate("[...window.seen]")
    expect(form.get_by_role("button", name="运行回测")).to_be_enabled()

    r = hall.http.post("/api/rules/backtest", json={**period, "version": candidate}, timeout=60)
    assert r.status_code == 200, r.text
    api = r.json()
    assert api["events"] > 1000 and api["active"]["alerts"], "an hour of the hall should fire something"
    expected = {
        rule: [
            api["active"]["alerts_per_rule"].get(rule, 0),
            api["candidate"]["alerts_per_rule"].get(rule, 0),
            *(api["diff"]["per_rule"].get(rule, {}).get(k, 0) for k in ("both", "only_active", "only_candidate")),
        ]
        for rule in {*api["active"]["alerts_per_rule"], *api["candidate"]["alerts_per_rule"], *api["diff"]["per_rule"]}
    }
    shown = {
        row.get_attribute("data-rule"): [int(c) for c in row.locator("td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    }
    assert shown == expected
    assert expected["tidal-open"][1] > expected["tidal-open"][0] and expected["tidal-open"][4] > 0  # it differs
    assert axe_violations(page) == [], "WCAG problems with a backtest shown"
    totals = form.locator("#bt-totals")
    for what in ("tickets", "recommendations"):
        cells = totals.locator(f"tr[data-total='{what}'] td").all_inner_texts()
        assert [int(c) for c in cells] == [len(api["active"][what]), len(api["candidate"][what])]
    expect(form.locator("#bt-result .summary")).to_contain_text(f"{api['events']} 条事件")
    assert len(form.locator("#bt-only-candidate li").all()) == len(api["diff"]["only_candidate"])
