"""The pictures an installer sees (`hallops vision snapshot`, debug frames): people pixelated beyond recognition,
everything else as it was, zones drawn."""

from __future__ import annotations

import cv2
import numpy as np

from tests.media import VOC, voc_people
from vision.config import CameraConfig
from vision.counting import Count
from vision.detectors import Box
from vision.picture import annotate, blur_people


def test_each_person_is_pixelated_and_nothing_else_changes() -> None:
    image = cv2.imread(str(VOC / "2011_000003.jpg"))  # two people, labelled
    assert image is not None
    people = [Box(*box, 0.9) for box in voc_people("2011_000003")]
    out = blur_people(image, people)
    inside = np.zeros(image.shape[:2], dtype=bool)
    for b in people:
        x1, y1, x2, y2 = int(b.x1), int(b.y1), int(np.ceil(b.x2)), int(np.ceil(b.y2))
        inside[y1:y2, x1:x2] = True
        before, after = image[y1:y2, x1:x2], out[y1:y2, x1:x2]
        colours = len(np.unique(after.reshape(-1, 3), axis=0))
        blocks = max(1, (x2 - x1) // 10) * max(1, (y2 - y1) // 10)
        assert colours <= blocks, "one colour per block of about a tenth of the person"
        assert len(np.unique(before.reshape(-1, 3), axis=0)) > 20 * colours, "the original had the detail"
    assert np.array_equal(out[~inside], image[~inside]), "the rest of the picture is untouched"
    assert not np.array_equal(out, image)


def test_zones_are_drawn_with_their_counts_on_the_blurred_picture() -> None:
    image = np.full((360, 640, 3), 90, dtype=np.uint8)
    camera = CameraConfig.model_validate(
        {
            "source": "rtsp://127.0.0.1/x",
            "zones": {
                "queue-A": {"kind": "queue", "polygon": [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]]},
                "W01-seat": {
                    "kind": "staff_seat",
                    "window": "W01",
                    "polygon": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]],
                },
            },
        }
    )
    out = annotate(image, camera, [Box(100, 200, 140, 300, 0.9)], Count({"queue-A": 1}, {"W01": False}))
    changed = np.any(out != image, axis=2)
    assert changed[180, 64:320].any() and changed[36:144, 384].any(), "both polygons' edges are drawn"
    assert not changed[10:30, 10:30].any(), "away from zones and people the picture is as it was"
    assert out.shape == image.shape and out.dtype == np.uint8
