"""Real parts for the integration tests, the benchmarks and the screenshot script: `hallops …` commands (the
gateway, the simulator, vision) started as an operator would, an MQTT listener that notes when each message
arrived, Debian's headless chromium, and `wait_until` for a condition on a real system.

The broker is `edge.broker.MosquittoProcess` (product code: the demo runs it too). Everything here listens on
127.0.0.1 and waits on conditions with a bound (a port answering, a count reached), never on the box being idle.
It owns how the parts are started, watched and stopped; it must not decide what a test asserts or what a benchmark
measures. Imported as `tests.harness`: pytest puts the checkout on sys.path, bench/ and scripts/ put it there
themselves.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import free_port, wait_for_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ROOT = Path(__file__).resolve().parents[1]
HALLOPS = (sys.executable, "-m", "edge.cli")  # `hallops` of this checkout, in the interpreter that runs us
CHROMIUM = Path("/usr/bin/chromium")


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `check` every 50 ms until it is true; after `timeout` s fail with a sentence naming `what`."""
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


class HallopsProcess:
    """`hallops <args>` in its own process, run from the checkout, stdout and stderr appended to `log`.

    `start()` may follow `stop()` or `kill9()` (a restart). Leaving a `with` block stops it."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self.args = [*HALLOPS, *args]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log.open("ab") as out:  # the child keeps its own copy of the file
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, cwd=ROOT)
        return self

    def stop(self, timeout: float = 15.0) -> int:
        """Ctrl-C (SIGINT), as an operator stops it, then SIGKILL if it is still there after `timeout` s.
        Returns its exit status (negative: the signal that ended it); 0 if it was not started."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def kill9(self) -> None:
        """SIGKILL, as a power cut: nothing flushed, no goodbye to the broker (which then publishes any last will)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def simulator_process(
    log: Path, broker_url: str, scenario: str, speed: float, start: datetime, seed: int = 1
) -> HallopsProcess:
    """`hallops simulate` of a packaged scenario from `start` at `speed`, its staff and queue system obeying the
    gateway's commands (as in `hallops demo`); start it with `with`."""
    return HallopsProcess(
        log,
        "simulate",
        "--broker",
        broker_url,
        "--scenario",
        scenario,
        "--seed",
        str(seed),
        "--speed",
        str(speed),
        "--start",
        start.isoformat(),
        "--obey-commands",
    )


class GatewayProcess(HallopsProcess):
    """`hallops gateway` in its own process, as an operator would run it.

    Its files are `tmp/<name>.db` and `tmp/<name>.log`; its API listens on a free port (`port`, `url`) and `http` is
    a client for it. `--broker`, `--hall`, `--db` and `--http` are always given, so they override a `--config …`
    in `extra`. `start()` returns once /api/health says the broker is connected, or fails with the end of the log.
    For the benchmarks: `cpu_s()` since then, and `peak_rss` (bytes) over every look at `counters()`."""

    def __init__(
        self, tmp: Path, broker_url: str, *extra: str, hall: str = "h1", name: str = "gateway", log_level: str = ""
    ) -> None:
        self.db = tmp / f"{name}.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = ("--log-level", log_level) if log_level else ()
        super().__init__(
            tmp / f"{name}.log",
            *options,
            "gateway",
            "--broker",
            broker_url,
            "--hall",
            hall,
            "--db",
            str(self.db),
            "--http",
            f"127.0.0.1:{self.port}",
            *extra,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.peak_rss = 0
        self._usage: Any = None  # psutil.Process of the running gateway
        self._cpu_at_ready = 0.0

    def start(self) -> Self:
        proc = super().start().proc
        assert proc is not None
        self._usage = psutil.Process(proc.pid)  # this process's from now on, whether or not it gets ready
        try:
            wait_until(lambda: proc.poll() is not None or _listening(self.port), 30, "the gateway's HTTP port")
            wait_until(
                lambda: proc.poll() is not None or self.health()["broker_connected"],
                30,
                "the gateway to connect to the broker",
            )
            if proc.poll() is not None:
                raise AssertionError(f"the gateway exited with {proc.returncode}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.output()[-3000:]}") from None
        self._cpu_at_ready = self._cpu()  # start-up (imports, restore) is not the work a benchmark measures
        return self

    def health(self) -> dict[str, object]:
        result: dict[str, object] = self.http.get("/api/health").json()
        return result

    def get(self, path: str) -> object:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def counters(self) -> dict[str, Any]:
        """/api/health's counters; notes the gateway's resident memory in `peak_rss`."""
        if self.proc is not None and self._usage is not None:
            self.peak_rss = max(self.peak_rss, int(self._usage.memory_info().rss))
        counters = self.health()["counters"]
        assert isinstance(counters, dict)
        return counters

    def accepted(self) -> int:
        return int(self.counters()["accepted"])

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the running gateway has used since it was ready."""
        return self._cpu() - self._cpu_at_ready

    def _cpu(self) -> float:
        assert self._usage is not None, "the gateway is not running"
        times = self._usage.cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        """At the end of a test: kill it if it still runs (nothing left to check) and close the HTTP client."""
        self.kill9()
        self.http.close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.http.close()


@dataclass(frozen=True, slots=True)
class Heard:
    """One message as a `Listener` got it: when it arrived (`time.time()`, to compare with devices' `ts`)."""

    at: float
    topic: str
    payload: bytes


class Listener:
    """An MQTT subscriber on 127.0.0.1:`port` that keeps every message it gets, with its arrival time, in `heard`.

    `topics` are filters subscribed at QoS 1, or (filter, QoS) pairs. The constructor returns once the broker has
    acknowledged the subscription, so nothing published after it is missed. `close()` or leaving a `with` block
    disconnects."""

    def __init__(self, port: int, *topics: str | tuple[str, int]) -> None:
        self.heard: list[Heard] = []
        self._decoded: list[tuple[str, dict[str, object]]] = []
        connected, subscribed = threading.Event(), threading.Event()
        refused: list[str] = []

        def on_subscribe(client: Any, userdata: Any, mid: int, codes: list[Any], properties: Any) -> None:
            refused.extend(str(c) for c in codes if c.is_failure)
            subscribed.set()

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{port}-{time.time_ns()}")
        self.client.on_connect = lambda *a: connected.set()
        self.client.on_subscribe = on_subscribe
        # stamped on paho's network thread as the message is read, before anything else looks at it
        self.client.on_message = lambda c, u, m: self.heard.append(Heard(time.time(), m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not connected.wait(10):
            self.close()
            raise RuntimeError(f"the broker on 127.0.0.1:{port} did not accept the listener")
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # PUBACKs go out at once, not after a delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.subscribe([(t, 1) if isinstance(t, str) else t for t in topics])
        if not subscribed.wait(10) or refused:
            self.close()
            raise RuntimeError(f"the broker did not grant the subscription to {topics}: {refused or 'no SUBACK'}")

    @property
    def messages(self) -> list[tuple[str, dict[str, object]]]:
        """(topic, JSON body) of every message so far, in arrival order."""
        self._decoded.extend((h.topic, json.loads(h.payload)) for h in self.heard[len(self._decoded) :])
        return list(self._decoded)

    def alerts(self, rule: str | None = None, reason: str | None = None) -> list[dict[str, object]]:
        """Alert notifications (on hallops/<hall>/alerts), of `rule` and with notification reason `reason`."""
        out = [m for t, m in self.messages if t.startswith("hallops/") and t.endswith("/alerts")]
        out = [m for m in out if rule is None or m["rule"] == rule]
        return [m for m in out if reason is None or m["notification"]["reason"] == reason]  # type: ignore[index]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def chromium(pw: Playwright) -> Browser:
    """Debian's chromium, headless, driven by Playwright (no browser download)."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(
            "chromium is not installed: scripts/setup.sh test installs it (apt-get install chromium)"
        )
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
