"""People per zone and staff at each seat, from one frame's person boxes; smoothed over a few seconds.

Pure: boxes, the frame's size and a clock reading in; counts out. It never sees a frame. A person stands in a floor
zone (queue, waiting, kiosk area) when the bottom centre of their box is inside the polygon, and sits in a staff seat
when the centre of their box is (see `vision.config`). Counts are the median over the smoothing window, so one
missed or doubled detection does not move the hall's numbers; a seat is staffed when someone sat in it in at least
half of the window's frames, so a clerk who bends down for a second is still there.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from vision.config import Anchor, CameraConfig, ZoneKind
from vision.detectors import Box

Polygon = tuple[tuple[float, float], ...]


def inside(x: float, y: float, polygon: Polygon) -> bool:
    """Is the point inside the polygon (even-odd rule; a point on the left or top edge is inside)?"""
    hit = False
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


@dataclass(frozen=True, slots=True)
class Count:
    """What one frame (or the smoothed window) says: people per zone, and per window whether its seat is taken."""

    zones: dict[str, int]
    staff_present: dict[str, bool]


@dataclass(frozen=True, slots=True)
class _Zone:
    zone_id: str
    polygon: Polygon
    anchor: Anchor
    window: str | None  # a staff seat's window


class Counter:
    """One camera's zones, ready to count boxes against."""

    def __init__(self, camera: CameraConfig) -> None:
        self._zones = tuple(
            _Zone(zid, tuple(z.polygon), z.point, z.window if z.kind is ZoneKind.STAFF_SEAT else None)
            for zid, z in camera.zones.items()
        )

    def count(self, boxes: Sequence[Box], width: int, height: int) -> Count:
        zones: dict[str, int] = {}
        staff: dict[str, bool] = {}
        points = {
            Anchor.FEET: [((b.x1 + b.x2) / 2 / width, b.y2 / height) for b in boxes],
            Anchor.CENTRE: [((b.x1 + b.x2) / 2 / width, (b.y1 + b.y2) / 2 / height) for b in boxes],
        }
        for z in self._zones:
            n = sum(1 for x, y in points[z.anchor] if inside(x, y, z.polygon))
            if z.window is not None:
                staff[z.window] = staff.get(z.window, False) or n > 0
            else:
                zones[z.zone_id] = n
        return Count(zones, staff)


class Smoother:
    """The median count per zone, and the majority for each seat, over the last `window_s` seconds of frames."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._frames: deque[tuple[float, Count]] = deque()

    def add(self, at: float, count: Count) -> Count:
        """Take a frame's count read at `at` (seconds, any monotonic clock); the smoothed count as of then."""
        self._frames.append((at, count))
        while self._frames and self._frames[0][0] < at - self.window_s:
            self._frames.popleft()
        frames = [c for _, c in self._frames]
        zones = {z: statistics.median_low([c.zones.get(z, 0) for c in frames]) for z in count.zones}
        staff = {w: 2 * sum(c.staff_present.get(w, False) for c in frames) >= len(frames) for w in count.staff_present}
        return Count(zones, staff)

    def clear(self) -> None:
        """Forget the window (the camera was offline: what it saw before says nothing about now)."""
        self._frames.clear()
