"""`hallops vision` on an IP camera: a real RTSP server → the real person detector → a real mosquitto → the gateway.

The camera is GStreamer's RTSP server streaming vtest.avi as live H.264 on 127.0.0.1 (tests/integration/rtsp_camera.py).
The gateway's two zones (the left and right halves of the picture) must be counted from the stream; killing the
server (the camera unplugged) must show the camera offline at the gateway and raise the decision layer's
device-offline alert; starting it again must bring the camera back through the reader's retries, without touching
`hallops vision`, and resolve the alert.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from edge.broker import MosquittoProcess, free_port, wait_for_port
from tests.integration.conftest import GatewayProcess, wait_until
from tests.integration.test_vision import HALVES, always_on_rules
from tests.media import VTEST, person_model

DEBIAN_PYTHON = Path("/usr/bin/python3")  # GStreamer's Python bindings are Debian's (python3-gi)
SERVER = Path(__file__).with_name("rtsp_camera.py")


class RtspCamera:
    """The camera's RTSP server as its own process, on a fixed port so that it can be killed and started again."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(DEBIAN_PYTHON), str(SERVER), str(VTEST), str(self.port)], stdout=out, stderr=out
            )
        try:
            wait_for_port(self.port, timeout=15)
        except TimeoutError:
            pytest.fail(
                f"the RTSP server is not listening (scripts/setup.sh test installs gir1.2-gst-rtsp-server-1.0 "
                f"and gstreamer1.0-libav):\n{self.log.read_text()[-2000:]}"
            )

    def hang(self) -> None:
        """A pulled cable: the connection stays open and nothing comes."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def revive(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Unplugged: the process dies at once, its connections with it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[RtspCamera]:
    cam = RtspCamera(tmp_path / "rtsp.log")
    yield cam
    if cam.proc is not None:
        cam.kill()


def test_an_rtsp_camera_is_counted_and_its_loss_and_return_reach_the_gateway(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    vision: Callable[[], subprocess.Popen[bytes]],
    camera: RtspCamera,
    tmp_path: Path,
) -> None:
    camera.start()
    (tmp_path / "vision.yaml").write_text(
        yaml.safe_dump(
            {
                "hall": "h1",
                "mqtt": {"url": mosquitto.url},
                "detector": {"backend": "onnx", "model": str(person_model()), "input_size": 640},
                "workers": 1,
                "smoothing_s": 0,
                "state_every_s": 2,
                "offline_after_s": 10,
                "retry_min_s": 1,
                "retry_max_s": 2,  # the camera is back within seconds of the server
                "cameras": {"CAM-R": {"source": camera.url, "fps": 2, "zones": HALVES}},
            }
        ),
        encoding="utf-8",
    )
    config = tmp_path / "gw.yaml"
    config.write_text(f"rules:\n  file: {always_on_rules(tmp_path)}\n", encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    proc = vision()

    def zones() -> dict[str, tuple[int, datetime]]:
        views = gw.get("/api/zones")
        assert isinstance(views, list)
        return {v["zone_id"]: (v["count"], datetime.fromisoformat(v["updated_at"])) for v in views}

    def online() -> object:
        views = gw.get("/api/hall")
        assert isinstance(views, dict)
        return next((d for d in views["devices"] if d["device_id"] == "CAM-R"), {}).get("online")

    def alerted() -> bool:
        firing = gw.get("/api/alerts?state=firing")
        assert isinstance(firing, list)
        return any(a["rule"] == "device-offline" and a["labels"].get("device") == "CAM-R" for a in firing)

    def counted_since(t: datetime) -> bool:
        now = zones()
        return all(z in now and now[z][1] >= t for z in ("left", "right"))

    # 1. the stream is counted, frame after frame: both halves reach the gateway, and people are seen
    started = datetime.now(UTC)
    wait_until(lambda: counted_since(started), timeout=60, what="CAM-R's first counts (the detector loaded)")
    first = max(at for _, at in zones().values())
    wait_until(lambda: counted_since(first + timedelta(microseconds=1)), timeout=10, what="CAM-R's next counts")
    wait_until(lambda: sum(count for count, _ in zones().values()) > 0, timeout=10, what="a person counted")
    assert online() is True
    assert not alerted()

    # 2. the camera hangs (a pulled cable): offline once its read times out, and it stays offline — no frames the
    # decoder had buffered may bring it back online for a moment
    camera.hang()
    hung = time.monotonic()
    wait_until(lambda: online() is False, timeout=15, what="CAM-R reported offline while hung")
    assert time.monotonic() - hung < 8, "a stalled stream is noticed by its read timeout (5 s)"
    seen = []
    while time.monotonic() - hung < 15:
        seen.append(online())
        time.sleep(0.5)
    assert seen == [False] * len(seen), "offline, without flapping back online"
    camera.revive()
    wait_until(lambda: online() is True, timeout=30, what="CAM-R back after the hang")

    # 3. the camera unplugged: offline at the gateway, and the decision layer's alert
    camera.kill()
    unplugged = time.monotonic()
    wait_until(lambda: online() is False, timeout=15, what="CAM-R reported offline")
    assert time.monotonic() - unplugged < 5, "a closed stream is noticed at once, not after offline_after_s"
    wait_until(alerted, timeout=60, what="the device-offline alert for CAM-R")
    assert proc.poll() is None, "a lost camera does not stop the process"

    # 4. the camera back: the reader's retries find it, and counting resumes
    camera.start()
    back = datetime.now(UTC)
    wait_until(lambda: online() is True, timeout=20, what="CAM-R back online")
    wait_until(lambda: counted_since(back), timeout=20, what="CAM-R counting again")
    wait_until(lambda: not alerted(), timeout=10, what="the device-offline alert resolved")
    assert proc.poll() is None
