"""What the vision service publishes, driven step by step: a camera's newest frame → one occupancy message with the
smoothed counts and the frame's time; a camera going offline → a retained state saying why, and its old frames
forgotten; cameras take turns. The camera's reader and its MQTT link are replaced by doubles (they are I/O, tested
on their own and in tests/integration/test_vision.py); the detector by a script of boxes per frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media import VOC, voc_people
from vision.config import VisionConfig
from vision.counting import Count
from vision.detectors import Box
from vision.picture import annotate
from vision.service import VisionService
from vision.sources import CameraStatus, Frame

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
QUEUE = {"kind": "queue", "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
SEAT = {"kind": "staff_seat", "window": "W01", "polygon": [[0, 0], [1, 0], [1, 0.45], [0, 0.45]]}


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Reader:
    """A camera reader double: frames the test hands it, a status the test sets."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.state = CameraStatus(True, 1.0, 0.2, None, None)
        self.dropped = 0

    def take(self) -> Frame | None:
        frame, self.frame = self.frame, None
        return frame

    def status(self) -> CameraStatus:
        return self.state

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 10) -> None: ...


class Link:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object], bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.sent.append((topic, json.loads(payload), retain))

    def close(self) -> None: ...


class Script:
    """A detector that finds, in each frame, the people the test scripted for it (keyed by the frame's seq)."""

    name = "script"

    def __init__(self) -> None:
        self.people: dict[int, list[Box]] = {}

    def detect(self, frame: np.ndarray) -> list[Box]:  # type: ignore[type-arg]
        return self.people[int(frame[0, 0, 0])]


def standing(n: int) -> list[Box]:
    """n people standing in the queue (bottom half) of a 100×100 frame."""
    return [Box(10 * i, 40, 10 * i + 8, 90, 0.9) for i in range(n)]


SITTING = Box(40, 10, 60, 40, 0.8)  # centre (50, 25): in the seat


@pytest.fixture
def hall(tmp_path: Path) -> tuple[VisionService, dict[str, Reader], dict[str, Link], Clock]:
    cfg = VisionConfig.model_validate(
        {
            "hall": "h1",
            "detector": {"backend": "hog"},
            "smoothing_s": 3,
            "state_every_s": 10,
            "cameras": {
                "CAM-A": {"source": "rtsp://127.0.0.1/a", "zones": {"queue-A": QUEUE, "W01-seat": SEAT}},
                "CAM-B": {"source": "rtsp://127.0.0.1/b", "zones": {"waiting": QUEUE}},
            },
        }
    )
    readers = {c: Reader() for c in cfg.cameras}
    links = {c: Link() for c in cfg.cameras}
    clock = Clock()
    service = VisionService(
        cfg,
        reader_factory=readers.__getitem__,
        link_factory=links.__getitem__,  # type: ignore[arg-type]
        clock=clock,
        wall=lambda: T0 + timedelta(seconds=clock.t - 100),
    )
    return service, readers, links, clock


def frame(seq: int, read_at: float) -> Frame:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[0, 0, 0] = seq
    return Frame(image, read_at, seq)


def test_each_new_frame_is_one_occupancy_message_with_smoothed_counts_at_the_frames_time(
    hall: tuple[VisionService, dict[str, Reader], dict[str, Link], Clock],
) -> None:
    service, readers, links, clock = hall
    detector = Script()
    seen = []
    for seq, (people, sitting) in enumerate([(3, True), (9, False), (3, True), (4, True)], start=1):
        clock.t += 1
        detector.people[seq] = standing(people) + ([SITTING] if sitting else [])
        readers["CAM-A"].frame = frame(seq, read_at=clock.t - 0.5)
        assert service.step(detector)
        topic, body, retained = links["CAM-A"].sent[-1]
        assert (topic, retained, body["type"], body["seq"]) == ("hall/h1/camera/CAM-A/evt", False, "occupancy", seq)
        assert body["ts"] == (T0 + timedelta(seconds=clock.t - 100.5)).isoformat(), "stamped when the frame was read"
        seen.append((body["zones"], body["staff_present"]))
    assert seen == [
        ({"queue-A": 3}, {"W01": True}),
        ({"queue-A": 3}, {"W01": True}),  # one frame of 9 is not a crowd; one frame away is not an empty seat
        ({"queue-A": 3}, {"W01": True}),
        ({"queue-A": 3}, {"W01": True}),  # 3, 9, 3, 4 within the 3 s window: the median is 3
    ]
    assert not service.step(detector), "no new frame: nothing analysed, nothing sent"
    assert len(links["CAM-A"].sent) == 4 and links["CAM-B"].sent == []


def test_an_offline_camera_says_why_retained_and_its_old_frames_do_not_count_after(
    hall: tuple[VisionService, dict[str, Reader], dict[str, Link], Clock],
) -> None:
    service, readers, links, clock = hall
    detector = Script()
    service.check_cameras()  # first look: both online
    assert [(b["online"], r) for _, b, r in links["CAM-A"].sent] == [(True, True)]
    for seq in (1, 2):
        clock.t += 1
        detector.people[seq] = standing(6)
        readers["CAM-A"].frame = frame(seq, clock.t)
        service.step(detector)
    clock.t += 1
    readers["CAM-A"].state = CameraStatus(False, 0.0, 12.0, "file removed: /srv/cam-a.avi", 1.0, "source_removed")
    service.check_cameras()
    topic, body, retained = links["CAM-A"].sent[-1]
    assert (topic, retained) == ("hall/h1/camera/CAM-A/state", True)
    assert (body["online"], body["error_code"], body["last_frame_age_s"]) == (False, "source_removed", 12.0)
    assert len(links["CAM-B"].sent) == 1, "the other camera is not disturbed (and not re-announced early)"
    service.check_cameras()
    assert len(links["CAM-A"].sent) == 4, "said once, not every half second"
    clock.t += 1
    readers["CAM-A"].state = CameraStatus(True, 1.0, 0.1, None, None)
    service.check_cameras()
    detector.people[3] = standing(1)
    readers["CAM-A"].frame = frame(3, clock.t)
    service.step(detector)
    assert links["CAM-A"].sent[-1][1]["zones"] == {"queue-A": 1}, "after the outage, not the median with before"
    clock.t += 10
    service.check_cameras()
    assert [b["online"] for _, b, _ in links["CAM-B"].sent] == [True, True], "every state_every_s anyway"


def test_cameras_take_turns_so_a_busy_one_does_not_starve_the_others(
    hall: tuple[VisionService, dict[str, Reader], dict[str, Link], Clock],
) -> None:
    service, readers, links, clock = hall
    detector = Script()
    for seq in range(1, 7):
        detector.people[seq] = standing(1)
        for reader in readers.values():
            reader.frame = frame(seq, clock.t)  # both always have a new frame
        service.step(detector)
    assert [len(link.sent) for link in links.values()] == [3, 3]


def test_frames_are_written_only_with_the_debug_option_and_then_with_people_blurred(tmp_path: Path) -> None:
    image = cv2.imread(str(VOC / "2011_000006.jpg"))  # four people, labelled
    assert image is not None
    people = [Box(*box, 0.9) for box in voc_people("2011_000006")]

    def run(debug: dict[str, object]) -> Link:
        cfg = VisionConfig.model_validate(
            {
                "hall": "h1",
                "detector": {"backend": "hog"},
                "debug": debug,
                "cameras": {"CAM-A": {"source": "rtsp://127.0.0.1/a", "zones": {"queue-A": QUEUE}}},
            }
        )
        reader, link, clock = Reader(), Link(), Clock()
        service = VisionService(
            cfg,
            reader_factory=lambda _: reader,
            link_factory=lambda _: link,  # type: ignore[arg-type,return-value]
            clock=clock,
            wall=lambda: T0,
        )
        detector = Script()
        detector.people[7] = people
        marked = image.copy()
        marked[0, 0, 0] = 7
        reader.frame = Frame(marked, clock.t, 7)
        assert service.step(detector)
        return link

    before = set(tmp_path.rglob("*"))
    run({})
    assert set(tmp_path.rglob("*")) == before, "no frame written without the debug option"
    link = run({"frames_dir": str(tmp_path / "debug")})
    [written] = (tmp_path / "debug").iterdir()
    picture = cv2.imread(str(written))
    assert written.name == "CAM-A-20261123T090000.jpg" and picture.shape == image.shape
    assert link.sent[-1][1]["zones"] == {"queue-A": 3}, "the counts go out as usual"  # 3 of 4 stand in the lower half
    camera = VisionConfig.model_validate(
        {
            "hall": "h1",
            "detector": {"backend": "hog"},
            "cameras": {"CAM-A": {"source": "rtsp://127.0.0.1/a", "zones": {"queue-A": QUEUE}}},
        }
    ).cameras["CAM-A"]
    marked = image.copy()
    marked[0, 0, 0] = 7
    expected = annotate(marked, camera, people, Count({"queue-A": 3}, {}))  # people blurred (see test_picture.py)
    assert np.abs(picture.astype(int) - expected.astype(int)).mean() < 3, "the annotated, blurred frame (as JPEG)"
