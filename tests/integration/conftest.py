"""Real parts for integration tests: a mosquitto on 127.0.0.1, the gateway as its own process, a QoS 1 publisher.

mosquitto must be installed (the test command installs it); a missing broker is an error, not a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge.broker import MosquittoProcess, free_port, wait_for_port

pytestmark = pytest.mark.integration

CST = timezone(timedelta(hours=8))
ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    """A broker that keeps sessions and queued QoS 1 messages across a restart (as in production)."""
    with MosquittoProcess(persistent=True) as broker:
        yield broker


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll a condition on a real system (a process, a broker): integration tests only."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0)
    except TimeoutError:
        return False
    return True


class GatewayProcess:
    """`hallops gateway` in its own process, as an operator would run it."""

    def __init__(self, tmp: Path, broker_url: str, hall: str = "h1", *extra: str) -> None:
        self.db = tmp / "gateway.db"
        self.port = free_port()
        self.log = tmp / "gateway.log"
        self.args = [
            sys.executable, "-m", "edge.cli", "gateway",
            "--broker", broker_url, "--hall", hall, "--db", str(self.db),
            "--http", f"127.0.0.1:{self.port}", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, cwd=ROOT, env=os.environ.copy())
        proc = self.proc
        wait_until(lambda: proc.poll() is not None or _listening(self.port), timeout=30, what="the gateway's HTTP port")
        if proc.poll() is not None:
            raise AssertionError(f"the gateway exited with {proc.returncode}:\n{self.output()[-3000:]}")
        wait_until(lambda: self.health()["broker_connected"], what="the gateway to connect to the broker")
        return self

    def health(self) -> dict[str, object]:
        result: dict[str, object] = self.http.get("/api/health").json()
        return result

    def get(self, path: str) -> object:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def accepted(self) -> int:
        counters = self.health()["counters"]
        assert isinstance(counters, dict)
        return int(counters["accepted"])

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(15)
        self.proc = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(broker_url: str, *extra: str, hall: str = "h1") -> GatewayProcess:
        gw = GatewayProcess(tmp_path, broker_url, hall, *extra)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        if gw.proc is not None:
            gw.proc.kill()
            gw.proc.wait()
        gw.http.close()


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


class Listener:
    """Collects what the gateway publishes (alerts, commands) on a real subscription."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: list[tuple[str, dict[str, object]]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{port}-{time.time()}")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        for t in topics:
            self.client.subscribe(t, qos=1)
        self.client.loop_start()
        time.sleep(0.2)  # the SUBACK; a real subscription, nothing to mock

    def alerts(self, rule: str | None = None, reason: str | None = None) -> list[dict[str, object]]:
        out = [m for t, m in self.messages if t.startswith("hallops/") and t.endswith("/alerts")]
        out = [m for m in out if rule is None or m["rule"] == rule]
        return [m for m in out if reason is None or m["notification"]["reason"] == reason]  # type: ignore[index]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def listener(mosquitto: MosquittoProcess) -> Iterator[Listener]:
    """What the gateway publishes: notifications (hallops/#) and device commands."""
    lst = Listener(mosquitto.port, "hallops/#", "hall/+/+/+/cmd")
    yield lst
    lst.close()


def state_msg(device_type: str, device: str, seq: int, at: datetime, **fields: object) -> tuple[str, bytes]:
    body = {"v": 1, "ts": at.isoformat(), "seq": seq, "online": True, **fields}
    return f"hall/h1/{device_type}/{device}/state", json.dumps(body).encode()


def quiet_clock(tmp: Path, extra: str = "") -> str:
    """A gateway config whose device clock keeps running through quiet periods (tests that wait without traffic)."""
    path = tmp / "quiet-clock.yaml"
    path.write_text("clock: {max_lead_s: 86400}\n" + extra, encoding="utf-8")
    return str(path)


CHROMIUM = Path("/usr/bin/chromium")
EXPECT_MS = 30_000  # Playwright's 5 s is sized for an idle box: on a loaded one only a broken page waits this long


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (no browser download). Module-scoped: Playwright's sync
    API keeps an event loop running in this thread while it is open, and later tests call asyncio.run().
    `expect(...)` waits up to EXPECT_MS unless a test says otherwise."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed: scripts/setup.sh test installs it (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
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


@pytest.fixture
def hall(mosquitto: MosquittoProcess, gateway_factory: Callable[..., GatewayProcess], tmp_path: Path) -> GatewayProcess:
    """The county hall's gateway with USERS (password PASSWORD), device clock at HALL_SPEED (a lead of at most the
    default 20 s over the devices: a pause in the simulator on a loaded box must not make the whole hall look silent);
    `hall.http` signs in as root. Its config is `tmp_path / "gateway.yaml"`."""
    from devices.simulator.scenario import load_scenario  # noqa: PLC0415
    from edge.demo import save, scenario_config  # noqa: PLC0415

    cfg = scenario_config(load_scenario("county"), mosquitto.url, tmp_path / "gateway.db", ("127.0.0.1", 0), HALL_SPEED,
                          users=USERS, password=PASSWORD)  # fmt: skip
    gw = gateway_factory(mosquitto.url, "--config", str(save(cfg, tmp_path / "gateway.yaml")), hall="county-01")
    gw.http.auth = httpx.BasicAuth("root", PASSWORD)
    return gw.start()


@pytest.fixture
def vision(tmp_path: Path, mosquitto: MosquittoProcess) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `hallops vision --config tmp_path/vision.yaml` (log: tmp_path/vision.log); stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "vision.log").open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "vision", "--config",
                                     str(tmp_path / "vision.yaml")], stdout=out, stderr=out, cwd=ROOT,
                                    env=os.environ.copy())  # fmt: skip
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
