"""The fleet view end to end: a real PostgreSQL with the ledger's schema, three halls' records and statuses committed
through the ledger's own commit path (as `hallops cloud consume` commits them), `hallops cloud serve` as its own
process, and Debian's headless chromium signing in as the city office's manager.

What the office must see: the three halls worst first, in Chinese and in English; the hall that is cut off shown as
cut off (失联) with how long it has been silent, its figures dated, and the age of its backlog growing while it stays
silent — never as online; then, when its status comes again with a backlog it is catching up, online again without
a reload, and once that backlog is uploaded, in its place by its figures. Drilling down into a hall shows today's
hours, its open alerts and their history, its tickets and its devices down. On a phone nothing scrolls sideways.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import yaml
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect

from cloud_sync import wire
from cloud_sync.ledger import Ledger, Rows, add_batch
from edge.auth import Auth, Role
from edge.broker import free_port
from tests.harness import HallopsProcess, wait_until
from tests.integration.cloud_engines import PostgresServer, postgres  # noqa: F401 - the fixture
from tests.integration.test_web_rule_versions import axe_violations
from tests.integration.test_web_scan import VISIBLE_TEXT, machine_text

PASSWORD = "city office password"
SHANGHAI = ZoneInfo("Asia/Shanghai")
STALE_S = 90
T = TypeVar("T")

HALLS = {  # id: (name, name_en)
    "city-01": ("市民中心", "Civic Centre"),
    "city-02": ("东区分中心", "East District"),
    "city-03": ("西区分中心", "West District"),
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    """An asyncio call from a test that has Playwright's sync API (an event loop) running in its thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def status(hall: str, at: float, sl: float, backlog: int = 0, oldest_s: float = 0.0, **body: Any) -> wire.Status:
    name, name_en = HALLS[hall]
    return wire.Status.model_validate(
        {
            "format": wire.STATUS_FORMAT,
            "hall": hall,
            "at": at,
            "online": True,
            "body": {
                "name": name,
                "name_en": name_en,
                "timezone": "Asia/Shanghai",
                "rule_version": 7,
                "hearing": "live",
                "today": {"issued": 420, "served": 380, "sl_pct": sl, "p95_wait_min": 24.5, "max_wait_min": 41.0},
                "waiting": 18,
                "backlog": backlog,
                "oldest_s": oldest_s,
                "confirmed": {},
                **body,
            },
        }
    )


def batch(hall: str, stream: wire.Stream, kind: str, bodies: list[dict[str, Any]], at: float) -> wire.Batch:
    records = [{"seq": i + 1, "at": at, "kind": kind, "body": b} for i, b in enumerate(bodies)]
    return wire.Batch.model_validate(
        {
            "format": wire.BATCH_FORMAT,
            "hall": hall,
            "stream": stream.value,
            "lo": 0,
            "hi": len(records),
            "sent_at": at,
            "records": records,
        }
    )


async def commit(dsn: str, batches: list[wire.Batch], statuses: list[wire.Status]) -> None:
    """What a consumer does with a fetched group: the rows of each batch, one transaction (cloud_sync/ledger.py)."""
    ledger = await Ledger.connect(dsn)
    try:
        rows = Rows()
        for b in batches:
            raw = wire.encode(b.model_dump(mode="json"))
            add_batch(rows, b, wire.subject(wire.up_topic(b.hall, b.stream)), raw)
        await ledger.commit(batches, rows, [], time.time())
        for s in statuses:  # each received when its box said it (a box whose clock is right)
            await ledger.commit([], Rows(), [s], s.at)
    finally:
        await ledger.close()


def east_district(now: float) -> list[wire.Batch]:
    """city-02's records: a critical alert firing (and its history), an overdue ticket, a device down, two hours."""
    local = datetime.fromtimestamp(now, SHANGHAI)
    hour = local.replace(minute=0, second=0, microsecond=0)
    began = (local - timedelta(minutes=25)).isoformat()
    words = {"zh": "取号机 TM02 离线已 25 分钟", "en": "Ticket machine TM02 offline for 25 min"}
    title = {"zh": "设备离线", "en": "Device offline"}
    alert = {"title": title, "text": words, "active_since": began}
    alerts = [
        {"fingerprint": "fp-tm02", "rule": "device-offline", "state": state, "severity": "critical", "alert": alert}
        for state in ("pending", "firing")
    ]
    ticket = {
        "id": "T-20261207-3",
        "kind": "device_fault",
        "priority": "P1",
        "status": "open",
        "device": "TM02",
        "opened_at": began,
        "ack_due": (local - timedelta(minutes=10)).isoformat(),
        "resolve_due": (local + timedelta(hours=2)).isoformat(),
        "ack_overdue": False,
        "resolve_overdue": False,
        "text": {"zh": "取号机 TM02 故障：离线", "en": "Ticket machine TM02 fault: offline"},
    }
    device = {"device": "TM02", "device_type": "ticket_machine", "up": False, "since": began, "reason": None}
    hours = [
        {
            "start": start.isoformat(),
            "issued": 60 + i,
            "served": 52 + i,
            "sl_pct": 66.5 + i,
            "p95_wait_min": 27.0,
            "mean_wait_min": 11.5,
            "max_wait_min": 41.0,
            "satisfaction_pct": 97.0,
        }
        for i, start in enumerate([hour - timedelta(hours=1), hour])
        if start.date() == local.date()
    ]
    return [
        batch("city-02", wire.Stream.ALERTS, "alert", alerts, now),
        batch("city-02", wire.Stream.TICKETS, "ticket", [ticket], now),
        batch("city-02", wire.Stream.DEVICES, "availability", [device], now),
        batch("city-02", wire.Stream.KPIS, "kpi_hour", hours, now),
    ]


@pytest.fixture
def fleet(postgres: PostgresServer, tmp_path: Path) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    """`hallops cloud serve` over the test PostgreSQL (`serve_fleet`). Yields the page's base URL."""
    yield from serve_fleet(postgres, tmp_path, STALE_S)


def serve_fleet(postgres: PostgresServer, tmp_path: Path, stale_s: float) -> Iterator[str]:  # noqa: F811
    """`hallops cloud serve` with users wang (manager) and root (administrator) from its YAML and li (technician) in
    its sessions file, a hall stale after `stale_s`; the ledger's schema is created by the ledger itself. Yields the
    page's base URL."""
    run(commit(postgres.dsn, [], []))  # Ledger.connect creates the schema
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # cheap: the test signs in often
    # the fleet reads as a role of its own that may only read (docs/fleet.md)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as admin:
        admin.execute("CREATE ROLE fleet_reader LOGIN PASSWORD 'reader-secret'")
    with psycopg.connect(postgres.dsn, autocommit=True) as owner:
        owner.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO fleet_reader")
    (tmp_path / "reader-password").write_text("reader-secret")
    port = free_port()
    server = f"host=127.0.0.1 port={postgres.port} dbname={PostgresServer.DATABASE}"
    config = {
        "postgres": {"dsn": f"{server} user={PostgresServer.ROLE}"},  # the consumers'; the fleet has its own
        "fleet": {
            "dsn": f"{server} user=fleet_reader",
            "password_file": str(tmp_path / "reader-password"),
            "host": "127.0.0.1",
            "port": port,
            "stale_after_s": stale_s,
            "poll_s": 1,
            "sessions_db": str(tmp_path / "fleet.db"),
            "users": {
                "wang": {"role": "manager", "password_hash": hasher.hash(PASSWORD), "name": "王主任"},
                "root": {"role": "administrator", "password_hash": hasher.hash(PASSWORD)},
            },
        },
    }
    # a technician added to the fleet's own file, as `hallops users add li --role technician --db fleet.db` does
    added = Auth({}, tmp_path / "fleet.db", hasher=hasher)
    added.add_user("li", Role.TECHNICIAN, PASSWORD, "李工")
    added.close()
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    base = f"http://127.0.0.1:{port}"
    with HallopsProcess(tmp_path / "fleet.log", "cloud", "serve", "--config", str(path)) as proc:

        def healthy() -> bool:
            assert proc.proc is not None and proc.proc.poll() is None, proc.output()
            try:
                return httpx.get(f"{base}/api/fleet/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "the fleet view to answer")
        yield base


def sign_in(page: Page, base: str, user: str = "wang") -> None:
    page.goto(base + "/")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def hall_names(page: Page) -> list[str]:
    return [n.strip() for n in page.locator("table.fl-table tbody th").all_inner_texts()]


def seconds_in(text: str) -> int:
    """'… 6 分 40 秒' / '… 6 min 40 s' → 400 (the backlog's age as the page says it)."""
    m = re.search(r"(\d+)\s*(?:分|min)\s*(\d+)\s*(?:秒|s)\b", text) or re.search(r"(\d+)\s*(?:秒|s)\b", text)
    assert m is not None, text
    return int(m[1]) * 60 + int(m[2]) if m.lastindex == 2 else int(m[1])


def test_the_fleet_shows_three_halls_worst_first_and_a_hall_cut_off_until_it_catches_up(
    fleet: str,
    postgres: PostgresServer,  # noqa: F811 - the fixture imported above
    browser: Browser,
) -> None:
    now = time.time()
    run(
        commit(
            postgres.dsn,
            east_district(now),
            [
                status("city-01", now, sl=92.0),
                status("city-02", now, sl=71.0, devices_down=1, tickets_overdue=1),
                # cut off 5 minutes ago with 40 records waiting, the oldest then 100 s old
                status("city-03", now - 300, sl=88.0, backlog=40, oldest_s=100),
            ],
        )
    )
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        with httpx.Client(base_url=fleet, timeout=10) as anon:
            assert anon.get("/api/fleet/halls").status_code == 401
            assert anon.get("/api/fleet/halls/city-01", auth=("wang", "wrong")).status_code == 401
            assert anon.get("/api/fleet/halls/city..01", auth=("wang", PASSWORD)).status_code in (404, 422)
            assert anon.get("/api/fleet/halls/nowhere", auth=("root", PASSWORD)).status_code == 404
            assert anon.get("/openapi.json", auth=("root", PASSWORD)).json()["info"]["title"] == "hallops fleet"
            refused = anon.get("/api/fleet/halls", auth=("li", PASSWORD))  # a technician does not watch the fleet
            assert refused.status_code == 403 and "manager" in refused.json()["detail"]
            assert anon.get("/api/fleet/halls", auth=("root", PASSWORD)).status_code == 200

        sign_in(page, fleet)
        expect(page.locator("#who")).to_have_text("王主任 · 大厅负责人")
        expect(page.locator("table.fl-table tbody tr")).to_have_count(3)
        # worst first: the hall cut off, then the one with a critical alert, then by SL15
        assert hall_names(page) == ["西区分中心", "东区分中心", "市民中心"]
        cut = page.locator("tr[data-hall='city-03']")
        expect(cut).to_contain_text("失联")
        expect(cut).not_to_contain_text("在线")
        expect(cut).to_contain_text(re.compile(r"无消息已 5 分 \d+ 秒"))
        expect(cut).to_contain_text("至少 40 条")
        expect(page.locator("#fl-summary")).to_have_text("共 3 个大厅：在线 2，失联 1，离线或未上报 0")
        east = page.locator("tr[data-hall='city-02']")
        expect(east).to_contain_text("紧急 1")
        expect(east).to_contain_text("71.0%")
        expect(page.locator("tr[data-hall='city-01']")).to_contain_text("已全部上传")
        assert findings_on(page, "zh") == []

        # its backlog ages while it stays silent (from 400 s at the start), without a reload
        backlog = cut.locator("td.fl-backlog")
        first = seconds_in(backlog.inner_text())
        assert first >= 400
        wait_until(lambda: seconds_in(backlog.inner_text()) >= first + 2, 30, "the cut-off hall's backlog to age")

        # English
        page.locator("#lang").click()  # "English"
        expect(cut).to_contain_text("Cut off")
        expect(cut).to_contain_text(re.compile(r"silent for 5 min \d+ s"))
        expect(cut).to_contain_text("at least 40 records")
        assert hall_names(page) == ["West District", "East District", "Civic Centre"]
        expect(east).to_contain_text("critical 1")

        # it comes back with what it held meanwhile: online, catching up …
        run(commit(postgres.dsn, [], [status("city-03", time.time(), sl=85.0, backlog=250, oldest_s=420)]))
        expect(cut).to_contain_text("Online · catching up")
        expect(cut).to_contain_text("250 records")
        expect(cut).not_to_contain_text("Cut off")
        # … and once uploaded, in its place by its figures (SL 85 % is below the Civic Centre's 92 %)
        run(commit(postgres.dsn, [], [status("city-03", time.time(), sl=85.0, backlog=0)]))
        expect(cut).to_contain_text("All uploaded")
        expect(page.locator("#fl-summary")).to_have_text("3 halls: 3 online, 0 cut off, 0 offline or never reported")
        assert hall_names(page) == ["East District", "West District", "Civic Centre"]

        # drill down: today's hours, the open alert and its history, the overdue ticket, the device down
        page.locator("#lang").click()  # "中文"
        page.get_by_role("link", name="东区分中心").click()
        expect(page.locator("#fl-hall-h")).to_have_text("东区分中心")
        hours = page.locator("#fl-hours tbody tr")
        expect(hours.first).to_be_visible()
        local_hour = datetime.fromtimestamp(now, SHANGHAI).strftime("%H:00")
        expect(page.locator("#fl-hours")).to_contain_text(local_hour)
        expect(page.locator("#fl-open")).to_contain_text("取号机 TM02 离线已 25 分钟")
        expect(page.locator("#fl-open")).to_contain_text("紧急")
        expect(page.locator("#fl-history li")).to_have_count(2)
        expect(page.locator("#fl-tickets")).to_contain_text("取号机 TM02 故障：离线")
        expect(page.locator("#fl-tickets")).to_contain_text("已超时")
        expect(page.locator("#fl-devices")).to_contain_text("TM02")
        expect(page.locator("#fl-devices")).to_contain_text("取号机")
        assert findings_on(page, "zh") == []
        page.get_by_role("link", name="← 全部大厅").click()
        expect(page.locator("table.fl-table tbody tr")).to_have_count(3)

        # the ledger's database goes away: the page says it cannot read, and since when its figures are
        postgres.stop()
        expect(page.locator("#live")).to_have_text("无法读取")
        expect(page.locator(".fl-banner")).to_contain_text("无法读取最新数据（数据库无响应）")
        postgres.start()
        expect(page.locator("#live")).to_have_text("数据已更新")
        expect(page.locator(".fl-banner")).to_have_count(0)
    finally:
        context.close()


def test_the_fleet_view_on_a_phone_reads_as_words_does_not_scroll_sideways_and_passes_axe(
    fleet: str,
    postgres: PostgresServer,  # noqa: F811 - the fixture imported above
    browser: Browser,
) -> None:
    now = time.time()
    run(
        commit(
            postgres.dsn,
            east_district(now),
            [status("city-02", now, sl=71.0), status("city-03", now - 600, sl=88.0, backlog=1200, oldest_s=3000)],
        )
    )
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 390, "height": 844})
    page = context.new_page()
    findings: list[str] = []
    try:
        sign_in(page, fleet)
        for lang, cut_off in (("zh", "失联"), ("en", "Cut off")):
            page.goto(fleet + "/#/")
            expect(page.locator("tr[data-hall='city-03']")).to_contain_text(cut_off)
            findings += [f"{lang} overview: {f}" for f in findings_on(page, lang)]
            page.locator("a[href='#/hall/city-02']").click()
            expect(page.locator("#fl-open li")).to_have_count(1)
            findings += [f"{lang} hall: {f}" for f in findings_on(page, lang)]
            page.locator("#lang").click()
    finally:
        context.close()
    assert findings == []


def findings_on(page: Page, lang: str) -> list[str]:
    """On the page as it is now: sideways scrolling, machine text where people read, and what axe finds (as
    tests/integration/test_web_scan.py scans the hall's UI)."""
    found = machine_text(page.evaluate(VISIBLE_TEXT), lang)
    wide = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    if wide[0] > wide[1]:
        found.append(f"sideways scrolling: the page is {wide[0]} px wide on a {wide[1]} px screen")
    found += [f"axe {rule} ({impact}): {nodes}" for rule, impact, nodes in axe_violations(page)]
    return found
