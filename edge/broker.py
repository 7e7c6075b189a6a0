"""A broker on 127.0.0.1 for the one-command demo and the tests: the system mosquitto, else amqtt in-process.

mosquitto is started with its own temporary config (loopback only, no persistence, log to stderr, queue limits
raised so a subscriber that falls behind loses nothing — research/infra.md §3.4). amqtt is the fallback when no
mosquitto is installed (`pip install hallops[embedded-broker]`); it leaks retained messages to clients that did not
subscribe to them, which the gateway tolerates by ignoring topics outside its own subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.02)


def mosquitto_path() -> str | None:
    return MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")


class MosquittoProcess:
    """A mosquitto listening on 127.0.0.1:`port`; `stop()` (or `kill()`) and `start()` again keep the port (broker
    restarts). With `persistent`, its sessions and queued messages are saved in `dir`/data and survive a restart.
    Lines in `extra_config` come last, so they override the defaults above (e.g. `autosave_interval`)."""

    def __init__(self, port: int | None = None, extra_config: str = "", *, persistent: bool = False) -> None:
        exe = mosquitto_path()
        if exe is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hallops-mosquitto-"))
        self.dir.chmod(0o755)  # mosquitto started as root drops to the mosquitto user
        self.config = self.dir / "mosquitto.conf"
        persistence = "persistence false\n"
        if persistent:  # sessions and queued QoS 1 messages survive a restart, as in production
            data = self.dir / "data"
            data.mkdir()
            data.chmod(0o777)
            persistence = f"persistence true\npersistence_location {data}/\n"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"{persistence}"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 10000\n"
            "max_packet_size 1048576\n" + extra_config
        )
        self.log = self.dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as err:
            # a session of its own: a terminal's Ctrl-C reaches hallops alone, which stops the simulator and the
            # gateway before the broker (killed first, it would cut every client off mid-shutdown)
            self._proc = subprocess.Popen(
                [self.exe, "-c", str(self.config)], stdout=err, stderr=err, start_new_session=True
            )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text(errors='replace')[-2000:]}") from None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (mosquitto does not fork)."""
        return self._proc.pid if self._proc is not None else None

    def reload(self) -> None:
        """Make mosquitto re-read its password file and ACL (SIGHUP), as `systemctl reload mosquitto` does."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut of the broker alone: nothing is saved since its last autosave."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class EmbeddedBroker:
    """The demo's broker: `async with EmbeddedBroker() as b: b.url`."""

    def __init__(self, port: int | None = None, prefer_mosquitto: bool = True) -> None:
        self.port = port or free_port()
        self.kind = ""
        self._mosquitto: MosquittoProcess | None = None
        self._amqtt: Any = None
        self._prefer_mosquitto = prefer_mosquitto

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        if self._prefer_mosquitto and mosquitto_path() is not None:
            self._mosquitto = MosquittoProcess(self.port)
            await asyncio.to_thread(self._mosquitto.start)
            self.kind = "mosquitto"
            return self
        try:
            from amqtt.broker import Broker  # noqa: PLC0415 - optional dependency, imported only when needed
        except ImportError:
            raise RuntimeError(
                "no MQTT broker available: install mosquitto (apt-get install mosquitto) "
                "or the embedded one (pip install 'hallops[embedded-broker]')"
            ) from None
        self._amqtt = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await self._amqtt.start()
        self.kind = "amqtt"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._mosquitto is not None:
            await asyncio.to_thread(self._mosquitto.__exit__)
        if self._amqtt is not None:
            # amqtt's shutdown waits for its client sessions and broadcast loop, which can hang under load
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._amqtt.shutdown(), timeout=5)
