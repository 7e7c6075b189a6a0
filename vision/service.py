"""`hallops vision`: the box's cameras → people per zone and staff at each seat → `occupancy` on MQTT.

    camera source ─▶ CameraReader (thread: newest frame only) ─┐
    camera source ─▶ CameraReader ─────────────────────────────┼─▶ inference workers (one detector each, a core each)
                                                               │     ─▶ Counter ─▶ Smoother ─▶ occupancy (evt)
    every camera's status ─▶ state (online, fps, frame age), retained; its last will says offline if we die

Each camera is its own MQTT client, with its own broker user (its device credentials from `hallops devices add`),
so the broker's ACL lets it publish only under its own topics, and its last will marks it offline if this process
dies. A slow detector drops frames instead of queueing them: the readers keep only the newest frame, and a worker
takes whichever camera has one. A camera whose source fails is reported offline (state `online: false` with the
reason as its error code) and retried with backoff by its reader; the others go on. Frames never leave the
process; only counts do (and, with `debug.frames_dir`, an occasional frame with the people blurred).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.topics import Channel, DeviceType, build_topic
from vision.config import MqttConfig, VisionConfig
from vision.counting import Count, Counter, Smoother
from vision.detectors import Box, Detector, load_detector
from vision.picture import annotate
from vision.sources import CameraReader, Frame

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.02  # a worker that found no new frame looks again this soon
STATUS_EVERY_S = 0.5  # how often the state loop looks at the cameras (it publishes on change or every state_every_s)
FPS_WINDOW_S = 10.0
STATS_EVERY_S = 60.0
WILL = b'{"v": 1, "online": false}'


class Link(Protocol):
    """Where one camera's messages go (an MQTT client in production)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...

    def close(self) -> None: ...


class MqttLink:
    """One camera's MQTT connection: its own user and password, its last will on its own state topic. Connects in
    the background and reconnects by itself; messages published meanwhile wait in a bounded queue."""

    def __init__(self, cfg: MqttConfig, hall: str, camera_id: str) -> None:
        self.camera_id = camera_id
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"hallops-vision-{hall}-{camera_id}", protocol=mqtt.MQTTv311
        )
        if cfg.password_dir is not None:
            password = (cfg.password_dir / camera_id).read_text(encoding="utf-8").strip()
            self._client.username_pw_set(camera_id, password)
        self._client.will_set(build_topic(hall, DeviceType.CAMERA, camera_id, Channel.STATE), WILL, qos=1, retain=True)
        self._client.reconnect_delay_set(1, 30)
        self._client.max_queued_messages_set(1000)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        broker = cfg.address_of(camera_id)
        if (tls := broker.tls_context()) is not None:
            self._client.tls_set_context(tls)
        self._client.connect_async(broker.host, broker.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()
        self._last: mqtt.MQTTMessageInfo | None = None

    def _connected(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused camera=%s reason=%s", self.camera_id, reason)
        else:
            log.info("connected to the broker camera=%s", self.camera_id)

    def _disconnected(self, client: mqtt.Client, userdata: object, flags: object, reason: object, _p: object) -> None:
        log.warning("lost the broker camera=%s reason=%s (reconnecting)", self.camera_id, reason)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self._last = self._client.publish(topic, payload, qos=qos, retain=retain)

    def close(self) -> None:
        """Disconnect after the last message went out (a clean stop is not a death: no will)."""
        if self._last is not None and self._client.is_connected():
            with contextlib.suppress(RuntimeError, ValueError):
                self._last.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(slots=True)
class _Camera:
    """One camera inside the service: its reader, zones, smoothing window, link and counters."""

    camera_id: str
    reader: CameraReader
    counter: Counter
    smoother: Smoother
    link: Link
    evt_topic: str
    state_topic: str
    busy: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0
    analysed: deque[float] = field(default_factory=deque)  # when frames were analysed (the clock)
    detect_s: float = 0.0  # seconds spent detecting since the last stats line …
    detected: int = 0  # … over this many frames
    online: bool | None = None
    state_at: float = float("-inf")
    debug_at: float = float("-inf")
    last: Count | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class VisionService:
    """All cameras of one box. `start()`, then `stop()` (or use it as a context manager)."""

    def __init__(
        self,
        cfg: VisionConfig,
        *,
        detector_factory: Callable[[], Detector] | None = None,
        reader_factory: Callable[[str], CameraReader] | None = None,
        link_factory: Callable[[str], Link] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cfg = cfg
        self._clock, self._wall = clock, wall
        self._detector_factory = detector_factory or (lambda: load_detector(cfg.detector))
        make_reader = reader_factory or (
            lambda cid: CameraReader(
                cid,
                cfg.cameras[cid],
                offline_after_s=cfg.offline_after_s,
                retry_min_s=cfg.retry_min_s,
                retry_max_s=cfg.retry_max_s,
                clock=clock,
            )
        )
        make_link = link_factory or (lambda cid: MqttLink(cfg.mqtt, cfg.hall, cid))
        self._cameras = [
            _Camera(
                cid,
                make_reader(cid),
                Counter(cam),
                Smoother(cfg.smoothing_s),
                make_link(cid),
                build_topic(cfg.hall, DeviceType.CAMERA, cid, Channel.EVT),
                build_topic(cfg.hall, DeviceType.CAMERA, cid, Channel.STATE),
            )
            for cid, cam in cfg.cameras.items()
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._turn = 0
        self._turn_lock = threading.Lock()

    def __enter__(self) -> VisionService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        cv2.setNumThreads(1)  # OpenCV's pool is process-wide: each worker has its core; a second thread per frame costs
        detectors = [self._detector_factory() for _ in range(self.cfg.worker_count)]  # fail here, not in a thread
        log.info("vision: %d cameras, %d workers, detector %s", len(self._cameras), len(detectors), detectors[0].name)
        for cam in self._cameras:
            cam.reader.start()
        for i, detector in enumerate(detectors):
            self._spawn(f"vision-worker-{i}", self._work, detector)
        self._spawn("vision-state", self._watch)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Stop reading and analysing; each camera says it is offline (retained), as its will would."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        for cam in self._cameras:
            cam.reader.stop()
            self._publish_state(cam, online=False, code="stopped")
            cam.link.close()

    # -- analysing ------------------------------------------------------------------------------------------

    def _work(self, detector: Detector) -> None:
        while not self._stop.is_set():
            if not self.step(detector):
                self._stop.wait(IDLE_WAIT_S)

    def step(self, detector: Detector) -> bool:
        """Analyse the newest frame of the next camera that has one (cameras take turns); False if none had."""
        n = len(self._cameras)
        with self._turn_lock:
            start = self._turn
            self._turn = (self._turn + 1) % n
        for i in range(n):
            cam = self._cameras[(start + i) % n]
            if not cam.busy.acquire(blocking=False):
                continue  # another worker is on this camera: its frames stay in order
            try:
                frame = cam.reader.take()
                if frame is not None:
                    self._analyse(cam, frame, detector)
                    return True
            finally:
                cam.busy.release()
        return False

    def _analyse(self, cam: _Camera, frame: Frame, detector: Detector) -> None:
        began = time.perf_counter()
        boxes = detector.detect(frame.image)
        cam.detect_s += time.perf_counter() - began
        cam.detected += 1
        h, w = frame.image.shape[:2]
        count = cam.smoother.add(frame.read_at, cam.counter.count(boxes, w, h))
        cam.last = count
        now = self._clock()
        cam.analysed.append(now)
        ts = self._wall() - timedelta(seconds=max(0.0, now - frame.read_at))
        body = {
            "v": 1,
            "ts": ts.isoformat(),
            "seq": cam.next_seq(),
            "type": "occupancy",
            "zones": count.zones,
            "staff_present": count.staff_present,
        }
        cam.link.publish(cam.evt_topic, json.dumps(body).encode(), qos=1)
        debug = self.cfg.debug
        if debug.frames_dir is not None and now - cam.debug_at >= debug.every_s:
            cam.debug_at = now
            self._write_debug(debug.frames_dir, cam, frame, boxes, count)

    def _write_debug(self, folder: Path, cam: _Camera, frame: Frame, boxes: Sequence[Box], count: Count) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        picture = annotate(frame.image, self.cfg.cameras[cam.camera_id], boxes, count)
        path = folder / f"{cam.camera_id}-{self._wall():%Y%m%dT%H%M%S}.jpg"
        cv2.imwrite(str(path), picture)

    # -- state ----------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        last_stats = self._clock()
        while not self._stop.wait(STATUS_EVERY_S):
            self.check_cameras()
            now = self._clock()
            if now - last_stats >= STATS_EVERY_S:
                self._log_stats()
                last_stats = now

    def check_cameras(self) -> None:
        """Publish each camera's state when it went on- or offline, and every `state_every_s` anyway."""
        now = self._clock()
        for cam in self._cameras:
            status = cam.reader.status()
            if status.online == cam.online and now - cam.state_at < self.cfg.state_every_s:
                continue
            if not status.online and cam.online:
                cam.smoother.clear()  # what it saw before says nothing about now
                log.warning("camera offline camera=%s reason=%s", cam.camera_id, status.error)
            elif status.online and cam.online is False:
                log.info("camera back online camera=%s", cam.camera_id)
            self._publish_state(cam, online=status.online, code=status.error_code, age=status.last_frame_age_s)

    def fps(self, cam: _Camera) -> float:
        """Frames analysed per second over the last ten seconds."""
        now = self._clock()
        while cam.analysed and cam.analysed[0] < now - FPS_WINDOW_S:
            cam.analysed.popleft()
        return len(cam.analysed) / FPS_WINDOW_S

    def _publish_state(self, cam: _Camera, *, online: bool, code: str | None = None, age: float | None = None) -> None:
        cam.online, cam.state_at = online, self._clock()
        body: dict[str, object] = {
            "v": 1,
            "ts": self._wall().isoformat(),
            "seq": cam.next_seq(),
            "online": online,
            "fps": round(self.fps(cam), 2),
        }
        if age is not None:
            body["last_frame_age_s"] = round(max(0.0, age), 1)
        if not online:
            body["error_code"] = code or "no_frames"  # the sentence saying why is in the log
        cam.link.publish(cam.state_topic, json.dumps(body).encode(), qos=1, retain=True)

    def _log_stats(self) -> None:
        for cam in self._cameras:
            ms = 1000 * cam.detect_s / cam.detected if cam.detected else 0.0
            log.info(
                "camera=%s fps=%.2f dropped=%d detect_ms=%.0f", cam.camera_id, self.fps(cam), cam.reader.dropped, ms
            )
            cam.detect_s, cam.detected = 0.0, 0

    def counts(self) -> dict[str, Count | None]:
        """Each camera's latest smoothed count (for the snapshot command and tests)."""
        return {cam.camera_id: cam.last for cam in self._cameras}
