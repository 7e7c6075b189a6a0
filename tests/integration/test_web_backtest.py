"""Backtests in the administrator's view, end to end: Debian's chromium (Playwright) against a secured county gateway
that recorded twenty minutes of the county afternoon. The form starts on the recorded day (not an empty yesterday);
the result says which span was replayed of the period asked and shows, per rule and in words, the replay of the
version in force against what the gateway recorded — in Chinese and in English; a period with nothing recorded says
so and offers the recorded one; and the gateway's own log gets no line of what the replay decided.
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
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_ui import sign_in

START = datetime(2026, 11, 23, 14, 30, tzinfo=CST)  # a Monday afternoon of the county hall
MINUTES = 20
# what each replay's decision layer logs as it starts (the live one once, at the gateway's start): a replay's lines
# in the gateway's log would be among them (its tickets opened read as the live ones, which go on beside it)
REPLAY_LINES = ("decisions restored", "demand profile restored")
MACHINE_TEXT = re.compile(r"\b\w+=\w|\b(True|False|null|undefined)\b")


def record(hall: GatewayProcess, mosquitto: MosquittoProcess) -> None:
    """The county afternoon from START for MINUTES, at 600×, until the gateway has taken every message."""
    command = ["simulate", "--broker", mosquitto.url, "--scenario", "county", "--seed", "1", "--speed", "600"]
    command += ["--start", START.isoformat(), "--duration", f"{MINUTES}m"]
    sim = subprocess.run(
        [sys.executable, "-m", "edge.cli", *command], capture_output=True, cwd=ROOT, timeout=120, check=False
    )
    assert sim.returncode == 0, sim.stderr.decode(errors="replace")[-3000:]
    end = START + timedelta(minutes=MINUTES)
    sent = sum(1 for m in HallSimulation(load_scenario("county"), 1, START, end).messages() if m.kind != "connect")
    wait_until(lambda: hall.accepted() >= sent, timeout=60, what="the gateway to take the simulated events")


def test_a_backtest_replays_the_recorded_span_and_shows_it_against_what_was_recorded(
    hall: GatewayProcess, page: Page, mosquitto: MosquittoProcess
) -> None:
    record(hall, mosquitto)
    period = hall.get("/api/rules/backtest/period")
    assert isinstance(period, dict) and period["from"] == "2026-11-23T00:00", period
    live_tickets = [t["id"] for t in hall.get("/api/tickets?status=all")]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{hall.port}"
    sign_in(page, base, "root")
    expect(page.get_by_role("link", name="管理")).to_be_visible()
    page.goto(f"{base}/#/admin")
    form = page.get_by_role("region", name="回测")

    # 1. the form starts on the recorded day, up to its newest event, and says what the log holds
    expect(form.get_by_label("开始")).to_have_value("2026-11-23T00:00")
    expect(form.get_by_label("结束")).to_have_value(period["to"])
    expect(form.locator("#bt-recorded")).to_contain_text("有事件记录的时间：11/23 14:30 至 ")

    # 2. the whole day asked: the recorded span replayed, and said so
    form.get_by_label("结束").fill("2026-11-24T00:00")
    logged = len(hall.output())
    form.get_by_role("button", name="运行回测").click()
    span = form.locator("#bt-span")
    expect(span).to_contain_text("回放了 11/23 14:30 至 ", timeout=120_000)
    expect(span).to_contain_text("（所选 11/23 00:00 至 11/24 00:00 中有事件记录的部分）")

    # 3. the replay of the version in force against what the gateway recorded, per rule and in words
    r = hall.http.post(
        "/api/rules/backtest", json={"from": "2026-11-23T00:00", "to": "2026-11-24T00:00", "version": 1}, timeout=60
    )
    assert r.status_code == 200, r.text
    api = r.json()
    assert api["recorded"]["alerts"] > 0, "twenty minutes of the afternoon fire something"
    fidelity = form.locator("#bt-fidelity")
    active = versions_active(hall)
    expect(fidelity.locator("h3")).to_have_text(f"回放与网关实际记录对比（版本 {active}）")
    f = api["replay_vs_recorded"]
    expect(fidelity.locator("#bt-fidelity-verdict")).to_have_text(
        f"回放与网关实际记录一致：{f['both']} 条告警都在 2 分钟内对上。"
        if f["same"]
        else f"回放与网关实际记录不完全一致：{parts(f['both'], len(f['only_active']), len(f['only_candidate']))}"
        "（对上指 2 分钟内触发）。"
    )
    rules = {*api["recorded"]["alerts_per_rule"], *api["active"]["alerts_per_rule"], *f["per_rule"]}
    expected = {
        rule: [
            str(api["recorded"]["alerts_per_rule"].get(rule, 0)),
            str(api["active"]["alerts_per_rule"].get(rule, 0)),
            in_words(f["per_rule"].get(rule, {})),
        ]
        for rule in rules
    }
    shown = {
        row.get_attribute("data-rule"): row.locator("td").all_inner_texts()
        for row in fidelity.locator("#bt-fidelity-rules tbody tr").all()
    }
    assert shown == expected
    text = form.locator("#bt-result").inner_text()
    assert not MACHINE_TEXT.search(text), MACHINE_TEXT.search(text)
    assert axe_violations(page) == [], "WCAG problems with a backtest and its comparison shown"

    # 4. nothing of what the replay decided reached the gateway's log; the live tickets are as they were
    added = hall.output()[logged:]
    assert "backtest replayed 2026-11-23T14:30" in added
    assert [line for line in added.splitlines() if any(x in line for x in REPLAY_LINES)] == []
    assert all(t["id"].startswith("BT-") for run in ("active", "candidate") for t in api[run]["tickets"])
    assert [t["id"] for t in hall.get("/api/tickets?status=all")] == live_tickets  # type: ignore[union-attr]

    # 5. in English
    page.locator("#lang").click()
    form = page.get_by_role("region", name="Backtest")
    span, fidelity = form.locator("#bt-span"), form.locator("#bt-fidelity")
    expect(span).to_contain_text("Replayed 23/11, 14:30 to ")
    expect(fidelity.locator("h3")).to_have_text(f"The replay against what the gateway recorded (version {active})")
    expect(fidelity.locator("#bt-fidelity-rules caption")).to_have_text("Per rule: fired live and in the replay")
    expect(form.get_by_role("status")).to_have_text(re.compile(r"^Backtest done in [0-9.]+ s$"))
    text = form.locator("#bt-result").inner_text()
    assert not re.search(r"[\u4e00-\u9fff]", text), "Chinese left in the English backtest"
    assert not MACHINE_TEXT.search(text)
    assert axe_violations(page) == [], "WCAG problems with the English backtest"


def test_a_period_with_nothing_recorded_says_so_and_offers_the_recorded_one(
    hall: GatewayProcess, page: Page, mosquitto: MosquittoProcess
) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    sign_in(page, base, "root")
    expect(page.get_by_role("link", name="管理")).to_be_visible()
    page.goto(f"{base}/#/admin")
    form = page.get_by_role("region", name="回测")
    status = form.get_by_role("status")

    # 1. a gateway that has recorded nothing yet says so before and after a run
    expect(form.locator("#bt-recorded")).to_have_text("还没有记录任何设备事件")
    form.get_by_role("button", name="运行回测").click()
    expect(status).to_contain_text("没有记录的设备事件，无法回测。")
    expect(form.locator("#bt-nothing")).to_have_text("还没有记录任何设备事件")

    # 2. with a recorded afternoon, yesterday has nothing: the page says what the log holds and offers that day
    record(hall, mosquitto)
    period = hall.get("/api/rules/backtest/period")
    assert isinstance(period, dict)
    page.reload()
    form.get_by_label("开始").fill("2026-11-22T00:00")
    form.get_by_label("结束").fill("2026-11-23T00:00")
    form.get_by_role("button", name="运行回测").click()
    expect(status).to_have_text("所选时段 2026-11-22 00:00 至 2026-11-23 00:00 没有记录的设备事件，无法回测。")
    nothing = form.locator("#bt-nothing")
    expect(form.locator("#bt-recorded")).to_contain_text("有事件记录的时间：11/23 14:30 至 ")
    latest = nothing.get_by_role("button", name=f"改为回测 2026-11-23 00:00 至 {period['to'].replace('T', ' ')}")
    assert axe_violations(page) == [], "WCAG problems with nothing recorded shown"
    latest.click()
    expect(form.locator("#bt-span")).to_contain_text("回放了 11/23 14:30", timeout=120_000)
    expect(form.get_by_label("开始")).to_have_value("2026-11-23T00:00")

    # 3. the same in English, and a period the wrong way round is refused in the page
    page.locator("#lang").click()
    form = page.get_by_role("region", name="Backtest")
    form.get_by_label("From").fill("2026-11-22T00:00")
    form.get_by_label("To").fill("2026-11-23T00:00")
    form.get_by_role("button", name="Run backtest").click()
    expect(form.get_by_role("status")).to_have_text(
        "Nothing was recorded from 2026-11-22 00:00 to 2026-11-23 00:00: there is nothing to replay."
    )
    expect(form.locator("#bt-recorded")).to_contain_text("Events recorded from 23/11, 14:30 to ")
    expect(form.locator("#bt-nothing")).to_have_text(
        f"Backtest 2026-11-23 00:00 to {period['to'].replace('T', ' ')} instead"
    )
    form.get_by_label("To").fill("2026-11-21T00:00")
    form.get_by_role("button", name="Run backtest").click()
    expect(form.get_by_role("status")).to_have_text("The end must be after the start")


def versions_active(hall: GatewayProcess) -> int:
    listed = hall.get("/api/rules/versions")
    assert isinstance(listed, dict)
    return int(listed["active"])


def in_words(p: dict[str, int]) -> str:
    """A rule's line of the comparison as the page words it in Chinese."""
    both, live, replay = p.get("both", 0), p.get("only_active", 0), p.get("only_candidate", 0)
    return f"一致，{both} 条都对上" if not live and not replay else parts(both, live, replay)


def parts(both: int, live: int, replay: int) -> str:
    """Matched, only in the replay, only live: the counts that are not zero, in words."""
    said = [
        f"{both} 条对上" if both else "",
        f"{replay} 条仅回放触发" if replay else "",
        f"{live} 条仅网关实际触发" if live else "",
    ]
    return "，".join(x for x in said if x)
