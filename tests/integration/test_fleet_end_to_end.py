"""The fleet view end to end (issue 21): three simulated halls, each with its own mosquitto, gateway and uplink,
through three NATS nodes and a consumer into PostgreSQL, read by `hallops cloud serve` in Debian's chromium. One
hall's link to the cloud is cut (a pulled cable, no goodbye): the office sees it cut off (失联) — never live — with the
records it is known to hold, growing in age, while the hall itself keeps them; the link returns, the hall catches
up and the office sees it online again without reloading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, expect

from devices.simulator import load_scenario
from devices.simulator.scenario import resolve_scenario_path
from edge.broker import MosquittoProcess
from edge.demo import scenario_config
from tests.harness import GatewayProcess, HallopsProcess, simulator_process, wait_until
from tests.integration.cloud_engines import NatsCluster, PostgresServer
from tests.integration.cloud_tier import CloudTier, Link
from tests.integration.conftest import CST
from tests.integration.test_fleet_view import serve_fleet, sign_in

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
SPEED = 20
STALE_S = 12  # the fleet's limit here (90 s in production): the halls report every 2 s in this test
HALLS = (("county-01", "示范县政务服务中心"), ("county-02", "东区分中心"), ("county-03", "西区分中心"))


class Hall:
    """One simulated hall: its mosquitto, its gateway (with the uplink through `link`) and its simulator."""

    def __init__(self, tmp: Path, hall: str, name: str, nats: NatsCluster, node: int) -> None:
        tmp.mkdir()
        self.id = hall
        self.broker = MosquittoProcess(persistent=True).__enter__()
        self.link = Link(nats.mqtt_port(node))
        text = resolve_scenario_path("county").read_text("utf-8")
        text = text.replace("id: county-01", f"id: {hall}").replace("name: 示范县政务服务中心", f"name: {name}")
        scenario = tmp / "scenario.yaml"
        scenario.write_text(text, "utf-8")
        cfg: dict[str, Any] = scenario_config(
            load_scenario(scenario), self.broker.url, tmp / "gateway.db", ("127.0.0.1", 0), SPEED
        ).model_dump(mode="json", exclude_none=True)
        cfg["cloud"] = {"url": f"mqtt://127.0.0.1:{self.link.port}", "status_every_s": 2, "resend_after_s": 10}
        config = tmp / "gateway.yaml"
        config.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
        self.gw = GatewayProcess(tmp, self.broker.url, "--config", str(config), hall=hall).start()
        self.sim: HallopsProcess = simulator_process(
            tmp / "simulator.log", self.broker.url, str(scenario), SPEED, MONDAY_9
        )
        self.sim.start()

    def backlog(self) -> int:
        cloud: dict[str, Any] = self.gw.health()["cloud"]  # type: ignore[assignment]
        return int(cloud["backlog"])

    def close(self) -> None:
        self.sim.stop()
        self.gw.close()
        self.link.close()
        self.broker.__exit__(None, None, None)


@pytest.fixture
def fleet_of_three(
    tmp_path: Path, nats_cluster: NatsCluster, postgres: PostgresServer
) -> Iterator[tuple[str, list[Hall], CloudTier]]:
    nats_cluster.wait_ready()
    tier = CloudTier(tmp_path, nats_cluster, postgres)
    halls: list[Hall] = []
    (tmp_path / "fleet").mkdir()
    serving = serve_fleet(postgres, tmp_path / "fleet", STALE_S)
    try:
        tier.consumers(1)
        base = next(serving)
        for i, (hall, name) in enumerate(HALLS):
            halls.append(Hall(tmp_path / hall, hall, name, nats_cluster, i))
        yield base, halls, tier
    finally:
        for h in halls:
            h.close()
        serving.close()
        tier.close()


def test_three_simulated_halls_one_cut_off_shown_stale_then_caught_up(
    fleet_of_three: tuple[str, list[Hall], CloudTier], browser: Browser
) -> None:
    base, halls, tier = fleet_of_three
    west = halls[2]
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        sign_in(page, base)
        rows = page.locator("table.fl-table tbody tr")
        expect(rows).to_have_count(3, timeout=120_000)
        for hall, name in HALLS:
            row = page.locator(f"tr[data-hall='{hall}']")
            expect(row).to_contain_text(name)
            expect(row).to_contain_text("在线", timeout=60_000)
        row = page.locator(f"tr[data-hall='{west.id}']")
        expect(row).to_contain_text("已全部上传", timeout=60_000)

        # the west hall's cable is pulled: the office sees it cut off, never live, with what it is known to hold
        west.link.cut()
        wait_until(lambda: west.backlog() > 0, 60, "the west hall to keep records for the cloud")
        # offline (离线: the engine published the link's will) or cut off (失联: silent past the limit) — never live
        expect(row).to_contain_text(re.compile("离线|失联"), timeout=STALE_S * 1000 + 30_000)
        expect(row).not_to_contain_text("在线")
        expect(row).to_contain_text(re.compile(r"无消息已"))
        # what it held is its last word, not a fact now
        expect(row.locator("td.fl-backlog")).to_have_text(re.compile(r"^(上次上报时已全部上传|至少 \d+ 条 · .*)$"))
        assert page.locator("table.fl-table tbody th").first.inner_text().strip() == "西区分中心"  # worst first
        silent = page.locator(f"tr[data-hall='{west.id}'] td").nth(0).inner_text()
        wait_until(
            lambda: page.locator(f"tr[data-hall='{west.id}'] td").nth(0).inner_text() != silent,
            30,
            "the time since it was heard to grow on the page",
        )
        held = west.backlog()
        wait_until(lambda: west.backlog() > held, 60, "the west hall's backlog to grow while cut off")
        for other in halls[:2]:  # the others stay live meanwhile
            expect(page.locator(f"tr[data-hall='{other.id}']")).to_contain_text("在线")

        # the cable is back: online again, and everything the hall held arrives
        west.link.restore()
        expect(row).to_contain_text("在线", timeout=90_000)
        expect(row).not_to_contain_text(re.compile("离线|失联"))
        wait_until(lambda: west.backlog() == 0, 120, "the west hall to catch up")
        expect(row.locator("td.fl-backlog")).to_have_text("已全部上传", timeout=60_000)
        # … in the city's database: every number the hall gave, in every stream
        numbered = {s["stream"]: s["last_seq"] for s in west.gw.health()["cloud"]["streams"]}  # type: ignore[index]

        def arrived() -> bool:
            city = dict(tier.sql("SELECT stream, seq FROM confirmed WHERE hall = %s", west.id))
            return all(city.get(stream, 0) >= n for stream, n in numbered.items())

        assert numbered
        wait_until(arrived, 60, "the city to confirm every number the west hall gave")
    finally:
        context.close()
