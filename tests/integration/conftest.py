"""Fixtures for integration tests on real parts: a mosquitto on 127.0.0.1, the gateway as its own process, a QoS 1
publisher, a listener, a headless chromium. The parts themselves are in tests/harness.py (the benchmarks use them
too); the names tests import from here are re-exported.

mosquitto must be installed (the test command installs it); a missing broker is an error, not a skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge.broker import MosquittoProcess
from tests.harness import ROOT, GatewayProcess, HallopsProcess, Listener, chromium, wait_until
from tests.integration.cloud_engines import nats_cluster, postgres, victoria  # noqa: F401 - the cloud tier's fixtures

__all__ = ["ROOT", "GatewayProcess", "Listener", "wait_until"]  # re-exported: the tests import them from here

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    """A broker that keeps sessions and queued QoS 1 messages across a restart (as in production)."""
    with MosquittoProcess(persistent=True) as broker:
        yield broker


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(broker_url: str, *extra: str, hall: str = "h1") -> GatewayProcess:
        gw = GatewayProcess(tmp_path, broker_url, *extra, hall=hall)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.close()


class Publisher:
    """A device-side QoS 1 publisher with a persistent session: paho queues and re-sends across broker restarts."""

    def __init__(self, port: int, client_id: str = "test-device") -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(0.05, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def send(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.infos.append(self.client.publish(topic, payload, qos=qos, retain=retain))

    def wait(self, timeout: float = 30.0) -> None:
        # paho keeps QoS 1 messages published while the broker is away (rc=NO_CONN) and sends them on reconnect,
        # and marks them published on PUBACK; is_published()/wait_for_publish() give up on them because of that rc
        wait_until(lambda: all(i._published for i in self.infos), timeout, "the broker to acknowledge")
        self.infos.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto: MosquittoProcess) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.port)
    yield pub
    pub.close()


def event(kind: str, device: str, seq: int | str, at: datetime, /, **fields: object) -> tuple[str, bytes]:
    """A contract event as a device would publish it."""
    body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
    return f"hall/h1/{kind}/{device}/evt", json.dumps(body).encode()


MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)  # inside the built-in pack's opening hours


@pytest.fixture
def listener(mosquitto: MosquittoProcess) -> Iterator[Listener]:
    """What the gateway publishes: notifications (hallops/#) and device commands."""
    lst = Listener(mosquitto.port, "hallops/#", "hall/+/+/+/cmd")
    yield lst
    lst.close()


def state_msg(device_type: str, device: str, seq: int, at: datetime, **fields: object) -> tuple[str, bytes]:
    body = {"v": 1, "ts": at.isoformat(), "seq": seq, "online": True, **fields}
    return f"hall/h1/{device_type}/{device}/state", json.dumps(body).encode()


def midday_zone(now: datetime | None = None) -> str:
    """A time zone where it is about noon now: a test whose device times span the last hour never meets the hall's
    midnight (where the day rolls, by the box's clock, and what waits expires), whenever the suite runs."""
    offset = 12 - (now or datetime.now(UTC)).hour  # -11 … +12 hours from UTC
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # (the Etc zones' signs are POSIX's: inverted)


@pytest.fixture
def midday(tmp_path: Path) -> str:
    """A gateway config whose hall is in `midday_zone()`."""
    path = tmp_path / "midday.yaml"
    path.write_text(f"hall: {{timezone: {midday_zone()}}}\n", encoding="utf-8")
    return str(path)


def quiet_clock(tmp: Path, extra: str = "") -> str:
    """A gateway config whose device clock keeps running through quiet periods (tests that wait without traffic)."""
    path = tmp / "quiet-clock.yaml"
    path.write_text("clock: {max_lead_s: 86400}\n" + extra, encoding="utf-8")
    return str(path)


EXPECT_MS = 30_000  # Playwright's 5 s is sized for an idle box: on a loaded one only a broken page waits this long


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (no browser download). Module-scoped: Playwright's sync
    API keeps an event loop running in this thread while it is open, and later tests call asyncio.run().
    `expect(...)` waits up to EXPECT_MS unless a test says otherwise."""
    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as pw:
        b = chromium(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1600, "height": 1000})
    yield context.new_page()
    context.close()


# A gateway with users, configured from the simulated county hall (the web UI and API tests).
PASSWORD = "correct horse battery"
USERS = {"wang": ("manager", "王经理"), "li": ("technician", "李工"), "root": ("administrator", "管理员")}
HALL_SPEED = 60  # its device clock: simulations fed to it run at this pace


def demo_gateway(
    make: Callable[..., GatewayProcess],
    broker_url: str,
    tmp_path: Path,
    scenario: str = "county",
    speed: float = HALL_SPEED,
    *,
    edit: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> GatewayProcess:
    """The started gateway of a packaged demo hall (`scenario`) with USERS (password PASSWORD), its device clock at
    `speed`; `make` is the `gateway_factory` fixture (which stops it). `options` go to edge.demo.scenario_config
    (e.g. `max_lead_s`); `edit` may change the configuration's JSON before it is written to
    `tmp_path / "gateway.yaml"`. `gw.http` signs in as root."""
    from devices.simulator.scenario import load_scenario  # noqa: PLC0415
    from edge.demo import scenario_config  # noqa: PLC0415

    cfg = scenario_config(
        load_scenario(scenario),
        broker_url,
        tmp_path / "gateway.db",
        ("127.0.0.1", 0),
        speed,
        users=USERS,
        password=PASSWORD,
        **options,
    ).model_dump(mode="json", exclude_none=True)
    if edit is not None:
        edit(cfg)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    gw = make(broker_url, "--config", str(path), hall=cfg["hall"]["id"])
    gw.http.auth = httpx.BasicAuth("root", PASSWORD)
    return gw.start()


@pytest.fixture
def hall(mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path) -> GatewayProcess:
    """The county hall's gateway with USERS (password PASSWORD), device clock at HALL_SPEED (a lead of at most the
    default 20 s over the devices: a pause in the simulator on a loaded box must not make the whole hall look silent);
    `hall.http` signs in as root. Its config is `tmp_path / "gateway.yaml"`."""
    return demo_gateway(gateway_factory, mosquitto.url, tmp_path)


@pytest.fixture
def simulate(mosquitto: MosquittoProcess, tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Starts the simulated county hall (or `scenario`: a packaged name or a file; seed 1, obeying the gateway) at `at`
    for a duration, its clock at HALL_SPEED (or `speed`); stopped when the test ends. Give it a duration well past
    what the test needs: on a loaded box the test takes longer, and a hall that ends under it falls silent (every
    device offline)."""
    running: list[subprocess.Popen[bytes]] = []

    def start(duration: str, at: datetime, scenario: str = "county", speed: float = HALL_SPEED) -> None:
        with (tmp_path / "simulator.log").open("wb") as log:  # the child keeps its own copy of the file
            running.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "edge.cli",
                        "simulate",
                        "--broker",
                        mosquitto.url,
                        "--scenario",
                        scenario,
                        "--seed",
                        "1",
                        "--speed",
                        str(speed),
                        "--start",
                        at.isoformat(),
                        "--duration",
                        duration,
                        "--obey-commands",
                    ],
                    stdout=log,
                    stderr=log,
                    cwd=ROOT,
                )
            )

    yield start
    for proc in running:
        proc.kill()
        proc.wait()


@pytest.fixture
def vision(tmp_path: Path, mosquitto: MosquittoProcess) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `hallops vision --config tmp_path/vision.yaml` (log: tmp_path/vision.log); stopped after the test."""
    started: list[HallopsProcess] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(HallopsProcess(tmp_path / "vision.log", "vision", "--config", str(tmp_path / "vision.yaml")))
        proc = started[-1].start().proc
        assert proc is not None
        return proc

    yield start
    for vision in started:
        vision.stop()
