"""`hallops vision`: run the cameras (`--config FILE`), or write one checked frame (`snapshot CAMERA`).

Owns the flags and the exit codes: 0 done, 1 the detector or a source failed, 2 bad configuration, 130 interrupted.
The `hallops` entry point (edge/cli/run.py) declares the flags and calls `run`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import cv2

from devices.errors import ConfigError
from vision.config import VisionConfig, load_config, redact
from vision.counting import Counter
from vision.detectors import DetectorError, load_detector
from vision.picture import annotate
from vision.service import VisionService
from vision.sources import SourceError, open_source

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SNAPSHOT_WAIT_S = 15.0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.config is None:
        _say("hallops vision: --config FILE is required (cameras, zones and detector; see docs/vision.md)")
        return EXIT_USAGE
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        _say(f"hallops vision: {exc}")
        return EXIT_USAGE
    if args.vision_command == "snapshot":
        return snapshot(cfg, args.camera, args.out or Path(f"snapshot-{args.camera}.jpg"))
    return serve(cfg)


def serve(cfg: VisionConfig) -> int:
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        service = VisionService(cfg)
        service.start()
    except (DetectorError, OSError) as exc:
        _say(f"hallops vision: {exc}")
        return EXIT_FAILED
    _say(f"hallops vision: {len(cfg.cameras)} camera(s) → {redact(cfg.mqtt.url)} as hall {cfg.hall}; Ctrl-C stops")
    try:
        stop.wait()
    finally:
        service.stop()
    return EXIT_OK


def snapshot(cfg: VisionConfig, camera_id: str, out: Path) -> int:
    """One frame of the camera, people found and counted, zones drawn, people blurred: for checking the polygons."""
    camera = cfg.cameras.get(camera_id)
    if camera is None:
        _say(f"hallops vision snapshot: no camera {camera_id!r} in the config (cameras: {', '.join(cfg.cameras)})")
        return EXIT_USAGE
    try:
        detector = load_detector(cfg.detector)
        source = open_source(camera)
    except (DetectorError, SourceError) as exc:
        _say(f"hallops vision snapshot: {exc}")
        return EXIT_FAILED
    try:
        deadline = time.monotonic() + SNAPSHOT_WAIT_S
        image = None
        while image is None and time.monotonic() < deadline:
            image = source.read()
            if image is None:
                time.sleep(0.1)  # a snapshot folder answers at once when it has nothing new
    except SourceError as exc:
        _say(f"hallops vision snapshot: {exc}")
        return EXIT_FAILED
    finally:
        source.close()
    if image is None:
        _say(f"hallops vision snapshot: no frame from {camera_id} in {SNAPSHOT_WAIT_S:.0f} s")
        return EXIT_FAILED
    boxes = detector.detect(image)
    h, w = image.shape[:2]
    count = Counter(camera).count(boxes, w, h)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), annotate(image, camera, boxes, count)):
        _say(f"hallops vision snapshot: cannot write {out} (use a .jpg or .png name in a writable folder)")
        return EXIT_FAILED
    zones = ", ".join(f"{z} {n}" for z, n in count.zones.items())
    seats = ", ".join(f"{win} {'staffed' if p else 'empty'}" for win, p in count.staff_present.items())
    print(f"{out}: {w}×{h}, {len(boxes)} people found; zones: {zones or '-'}; seats: {seats or '-'}")
    return EXIT_OK
