"""Counting people per zone and staff at each seat from boxes, and smoothing over a few seconds (pure; no frames)."""

from __future__ import annotations

import pytest

from vision.config import CameraConfig
from vision.counting import Count, Counter, Smoother, inside
from vision.detectors import Box

SQUARE = ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6))
L_SHAPE = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.2), (0.2, 0.2), (0.2, 0.5), (0.0, 0.5))


@pytest.mark.parametrize(
    ("x", "y", "polygon", "expected"),
    [
        (0.4, 0.4, SQUARE, True),
        (0.1, 0.4, SQUARE, False),
        (0.4, 0.7, SQUARE, False),
        (0.1, 0.1, L_SHAPE, True),
        (0.3, 0.3, L_SHAPE, False),  # in the L's notch
        (0.1, 0.45, L_SHAPE, True),
    ],
)
def test_inside(x: float, y: float, polygon: tuple[tuple[float, float], ...], expected: bool) -> None:
    assert inside(x, y, polygon) is expected


CAMERA = CameraConfig.model_validate(
    {
        "source": "rtsp://127.0.0.1/sub",
        "zones": {
            "queue-A": {"kind": "queue", "polygon": [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]},
            "waiting": {"kind": "waiting", "polygon": [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]},
            "W01-seat": {
                "kind": "staff_seat",
                "window": "W01",
                "polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 0.4], [0.0, 0.4]],
            },
            "W02-seat": {
                "kind": "staff_seat",
                "window": "W02",
                "polygon": [[0.5, 0.0], [1.0, 0.0], [1.0, 0.4], [0.5, 0.4]],
            },
        },
    }
)


def person(x: float, feet: float, height: float = 100, width: float = 40) -> Box:
    """A standing person on a 1000×1000 frame: centre x, feet at y."""
    return Box(x - width / 2, feet - height, x + width / 2, feet, 0.9)


def test_a_person_counts_where_they_stand_and_a_clerk_where_they_sit() -> None:
    boxes = [
        person(200, 900),  # queue
        person(300, 700),  # queue
        person(450, 560),  # queue: head above the line, feet inside — they stand in the queue
        person(700, 800),  # waiting
        person(250, 300, height=160),  # W01's seat: box centre (250, 220) inside the seat, feet (300) inside too
        person(700, 480, height=300),  # box centre (700, 330) in W02's seat, though the feet are under the desk
    ]
    assert Counter(CAMERA).count(boxes, 1000, 1000) == Count({"queue-A": 3, "waiting": 1}, {"W01": True, "W02": True})


def test_an_empty_frame_counts_zero_and_empty_seats() -> None:
    assert Counter(CAMERA).count([], 640, 360) == Count({"queue-A": 0, "waiting": 0}, {"W01": False, "W02": False})


def test_zones_are_in_fractions_of_the_frame_whatever_its_size() -> None:
    small = [Box(40, 100, 60, 170, 0.8)]  # on a 320×180 frame: feet at (50/320, 170/180) = (0.16, 0.94): queue
    assert Counter(CAMERA).count(small, 320, 180).zones == {"queue-A": 1, "waiting": 0}


def test_counts_are_the_median_of_the_window_and_a_seat_the_majority() -> None:
    smoother = Smoother(window_s=4.0)

    def frame(t: float, queue: int, staffed: bool) -> Count:
        return smoother.add(t, Count({"queue-A": queue}, {"W01": staffed}))

    assert frame(0, 5, True) == Count({"queue-A": 5}, {"W01": True})
    assert frame(1, 9, False) == Count({"queue-A": 5}, {"W01": True}), "one odd frame moves nothing"
    assert frame(2, 5, True).zones == {"queue-A": 5}
    assert frame(3, 6, False) == Count({"queue-A": 5}, {"W01": True}), "seen in 2 of 4 frames: still there"
    assert frame(4, 6, False) == Count({"queue-A": 6}, {"W01": False}), "seen in 2 of 5: left the seat"
    assert frame(9, 7, True) == Count({"queue-A": 7}, {"W01": True}), "frames older than 4 s are forgotten"


def test_a_window_of_zero_seconds_passes_each_frame_through() -> None:
    smoother = Smoother(window_s=0.0)
    assert smoother.add(0, Count({"q": 3}, {})).zones == {"q": 3}
    assert smoother.add(1, Count({"q": 8}, {})).zones == {"q": 8}


def test_after_an_outage_the_old_frames_do_not_speak_for_now() -> None:
    smoother = Smoother(window_s=10.0)
    for t in range(5):
        smoother.add(t, Count({"q": 9}, {}))
    smoother.clear()
    assert smoother.add(5, Count({"q": 1}, {})).zones == {"q": 1}
