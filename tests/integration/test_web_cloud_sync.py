"""The uplink to the city/province tier as the hall's administrator sees it (issue 21), in Debian's chromium: a real
gateway and simulated county hall, three NATS nodes, PostgreSQL and a consumer. While the cluster is up the page says
connected and nothing waits; when the whole cluster goes away it says not connected and shows the records waiting,
growing, with the oldest one's age — it never calls data "sent" that the city has not confirmed; when the cluster
returns the backlog drains and the page says so. A hall without a cloud shows no such section."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from edge.broker import MosquittoProcess
from tests.integration.cloud_engines import NatsCluster, PostgresServer
from tests.integration.cloud_tier import CloudTier
from tests.integration.conftest import CST, GatewayProcess, demo_gateway, wait_until
from tests.integration.test_web_admin_users import english, open_admin

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)


@pytest.fixture
def tier(tmp_path: Path, nats_cluster: NatsCluster, postgres: PostgresServer) -> Iterator[CloudTier]:
    nats_cluster.wait_ready()
    t = CloudTier(tmp_path, nats_cluster, postgres)
    yield t
    t.close()


def waiting(page: Page) -> int:
    text = page.locator("#cloud-backlog").inner_text()
    found = re.match(r"^(\d+) ", text)
    return int(found.group(1)) if found else 0


def test_the_administrator_sees_the_uplink_as_it_is_connected_cut_off_and_caught_up(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    simulate: Callable[..., None],
    tier: CloudTier,
    browser: Browser,
    tmp_path: Path,
) -> None:
    tier.consumers(1)
    gw = demo_gateway(gateway_factory, mosquitto.url, tmp_path, edit=tier.gateway_cloud)
    simulate("4h", MONDAY_9)
    page = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000}).new_page()
    try:
        open_admin(page, gw)
        panel = page.locator("#admin-cloud")
        expect(panel.get_by_role("heading", name="云端同步（市/省平台）")).to_be_visible(timeout=30_000)
        expect(page.locator("#cloud-link")).to_have_text(re.compile(r"^已连接 127\.0\.0\.1:\d+"), timeout=60_000)
        expect(page.locator("#cloud-backlog")).to_contain_text("平台最近确认于", timeout=60_000)
        # the whole cluster goes away: not connected, records wait and their number grows
        for i in range(3):
            tier.nats.kill(i)
        expect(page.locator("#cloud-link")).to_have_text(re.compile(r"^未连接 127\.0\.0\.1:\d+"), timeout=60_000)
        expect(page.locator("#cloud-backlog")).to_have_text(re.compile(r"^\d+ 条待平台确认"), timeout=60_000)
        first = waiting(page)
        wait_until(lambda: waiting(page) > first, 60, "the backlog to grow on the page")
        rows = page.locator("#cloud-streams tbody tr th").all_inner_texts()
        assert "告警变化" in rows and "采样（可丢弃）" in rows
        assert "已连接" not in page.locator("#admin-cloud").inner_text()
        # back: the backlog drains and the page says nothing waits
        for i in range(3):
            tier.nats.start(i)
        tier.nats.wait_ready()
        expect(page.locator("#cloud-link")).to_have_text(re.compile(r"^已连接"), timeout=120_000)
        expect(page.locator("#cloud-backlog")).to_have_text(re.compile(r"^没有待确认的数据"), timeout=120_000)
    finally:
        page.context.close()


def test_a_hall_without_a_cloud_shows_no_sync_section_and_english_words_for_one_that_has(
    hall: GatewayProcess,
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    browser: Browser,
    page: Page,
    tmp_path: Path,
) -> None:
    open_admin(page, hall)
    expect(page.locator("#admin-audit")).to_be_visible()
    expect(page.locator("#admin-cloud")).to_be_hidden()
    assert hall.health()["cloud"] is None
    # a hall pointed at a cluster that is not there (a port nobody listens on), in English
    from edge.broker import free_port  # noqa: PLC0415

    port = free_port()
    other = tmp_path / "other"
    other.mkdir()
    cut_off = demo_gateway(
        gateway_factory,
        mosquitto.url,
        other,
        edit=lambda cfg: cfg.update(cloud={"url": f"mqtt://127.0.0.1:{port}", "status_every_s": 2}),
    )
    en = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 1000}).new_page()
    try:
        english(en)
        open_admin(en, cut_off)
        expect(en.locator("#admin-cloud-h")).to_have_text("Cloud sync (city/province platform)", timeout=30_000)
        expect(en.locator("#cloud-link")).to_have_text(re.compile(rf"^Not connected to 127\.0\.0\.1:{port}"))
        expect(en.locator("#cloud-backlog")).to_contain_text("never confirmed by the platform yet")
    finally:
        en.context.close()
