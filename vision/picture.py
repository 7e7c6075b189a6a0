"""Pictures for people who set cameras up: one frame with the zones, the people found and the counts drawn on it.

The only code that makes an image to keep. People are always blurred first: the picture shows an installer where
the polygons lie on the floor, not who stood there. Frames are written only by `hallops vision snapshot` and by the
debug option (`debug.frames_dir`); the counting path never calls this.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from vision.config import CameraConfig, ZoneKind
from vision.counting import Count
from vision.detectors import Box

Image = npt.NDArray[np.uint8]

_COLOURS = {  # BGR
    ZoneKind.QUEUE: (0, 165, 255),
    ZoneKind.WAITING: (255, 160, 0),
    ZoneKind.KIOSK: (200, 0, 200),
    ZoneKind.STAFF_SEAT: (0, 200, 0),
}


def blur_people(image: Image, boxes: Sequence[Box]) -> Image:
    """A copy with every person's box pixelated beyond recognition (blocks of about a tenth of the box)."""
    out = image.copy()
    h, w = out.shape[:2]
    for b in boxes:
        x1, y1 = max(0, int(b.x1)), max(0, int(b.y1))
        x2, y2 = min(w, int(np.ceil(b.x2))), min(h, int(np.ceil(b.y2)))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        small = cv2.resize(region, (max(1, (x2 - x1) // 10), max(1, (y2 - y1) // 10)), interpolation=cv2.INTER_AREA)
        out[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return out


def annotate(image: Image, camera: CameraConfig, boxes: Sequence[Box], count: Count | None = None) -> Image:
    """People blurred, then each zone's polygon with its id and count, and each person's box and anchor point."""
    out = blur_people(image, boxes)
    h, w = out.shape[:2]
    for zone_id, zone in camera.zones.items():
        colour = _COLOURS[zone.kind]
        pts = np.array([[round(x * w), round(y * h)] for x, y in zone.polygon], dtype=np.int32)
        overlay = out.copy()
        cv2.fillPoly(overlay, [pts], colour)
        out = cv2.addWeighted(overlay, 0.15, out, 0.85, 0).astype(np.uint8)
        cv2.polylines(out, [pts], isClosed=True, color=colour, thickness=2)
        label = zone_id
        if count is not None:
            if zone.window is not None and zone.window in count.staff_present:
                label += " staffed" if count.staff_present[zone.window] else " empty"
            elif zone_id in count.zones:
                label += f": {count.zones[zone_id]}"
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
        cv2.putText(out, label, (x + 4, max(14, y + 16)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (x + 4, max(14, y + 16)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    for b in boxes:
        cv2.rectangle(out, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (255, 255, 255), 1)
        cv2.circle(out, (int((b.x1 + b.x2) / 2), int(b.y2)), 3, (0, 0, 255), -1)
    return out
