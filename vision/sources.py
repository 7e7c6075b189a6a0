"""Camera frames: opening a camera's source, reading it at its rate, and whether the camera is online.

Three kinds of source, all read with OpenCV:

- a stream (`rtsp://…`, `http://…`; use the camera's sub-stream): read continuously so that the decoder keeps up,
  a frame decoded only when one is due;
- a video file: played as if it were a camera, in real time (the frame shown is the one the file has at the time
  elapsed since opening), looping if the camera says `loop: true`;
- a directory the camera drops JPEG/PNG snapshots in: the newest one, when it is newer than the last.

A `CameraReader` runs one thread per camera. It keeps only the newest frame (a slow detector takes the latest and
the ones it missed are counted in `dropped`, never queued), reports the camera offline when its source fails or
sends nothing for `offline_after_s`, and reopens a failed source with doubling back-off. A camera's failure stays
in its own thread. Timing uses an injected clock and wait, so the logic runs in tests without sleeping.

This module never writes, moves or deletes a frame or a file: frames stay in memory and never leave the process.
It knows nothing of detection, zones or MQTT.

Why about 530 lines: three sources (stream, video file, snapshot folder) behind one `FrameSource` protocol and
the reader that drives any of them; each source is small, and they share the reader's back-off and offline rules.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import cv2
import numpy as np
import numpy.typing as npt

from devices.errors import HallOpsError
from vision.config import CameraConfig, redact

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]  # BGR, height × width × 3
Clock = Callable[[], float]  # monotonic seconds

SNAPSHOT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
OPEN_TIMEOUT_MS = 5000  # a stream that does not answer within this is "cannot open"
READ_TIMEOUT_MS = 5000  # a stream that stalls this long is lost (and stop() may wait this long)
STALL_S = 0.9 * READ_TIMEOUT_MS / 1000  # a grab that took this long ran into the read timeout
FPS_WINDOW_S = 10.0
_MAX_GRAB_AHEAD = 60  # a video file: further than this many frames ahead, seeking is cheaper than decoding forward
_IDLE_S = 60.0  # how long the thread sleeps when there is nothing left to do (a video that ended)


class SourceError(HallOpsError):
    """A camera's source cannot be opened or has gone: the message says why in a plain sentence, `code` in a word
    (the camera state's `error_code`: cannot_open, source_removed, stream_lost, unreadable, video_ended)."""

    def __init__(self, message: str, code: str = "unreadable") -> None:
        super().__init__(message)
        self.code = code


class SourceEnded(SourceError):
    """A video file without `loop` reached its end: the camera goes offline for good, no retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "video_ended")


@dataclass(frozen=True, slots=True)
class Frame:
    image: Image  # BGR H×W×3
    read_at: float  # the reader's clock (monotonic seconds) when it was read
    seq: int  # per camera, increasing from 1


@dataclass(frozen=True, slots=True)
class CameraStatus:
    online: bool
    fps: float  # frames delivered per second over the last FPS_WINDOW_S
    last_frame_age_s: float | None  # None: no frame yet
    error: str | None  # why it is offline, in a plain sentence; None when online
    retry_in_s: float | None  # when the source is reopened; None when it is open (or will not be reopened)
    error_code: str | None = None  # the reason in a word (SourceError.code, or no_frames); None when online


class FrameSource(Protocol):
    """One opened source. `read()` blocks at most about a second."""

    @property
    def live(self) -> bool:
        """True for a stream: read() must be called continuously (it waits for the stream's next frame)."""
        ...

    def read(self, due: bool = True) -> Image | None:
        """The current frame, or None when there is nothing new. `due=False` (live sources only): keep up with the
        stream without decoding. Raises SourceError when the source is gone."""
        ...

    def close(self) -> None: ...


def open_source(camera: CameraConfig, clock: Clock = time.monotonic) -> FrameSource:
    """Open a camera's source by its kind. Raises SourceError (plain message) when it cannot be opened. A stream's
    credentials file is read at every opening: a reconnect after a password change uses the new one."""
    if camera.is_stream:
        try:
            url = camera.stream_url()
        except ValueError as exc:
            raise SourceError(f"cannot open {redact(camera.source)}: {exc}", "cannot_open") from None
        return StreamSource(url)
    path = Path(camera.source)
    if path.is_dir():
        return SnapshotSource(path)
    if path.is_file():
        return VideoFileSource(path, loop=camera.loop, clock=clock)
    raise SourceError(f"no such file or folder: {path}", "source_removed")


def _as_image(obj: object) -> Image | None:
    """An OpenCV result as a BGR uint8 image (grey and BGRA converted), or None when it is not a picture."""
    if not isinstance(obj, np.ndarray) or obj.dtype != np.uint8 or obj.size == 0:
        return None
    if obj.ndim == 2:
        obj = cv2.cvtColor(obj, cv2.COLOR_GRAY2BGR)
    elif obj.ndim == 3 and obj.shape[2] == 4:
        obj = cv2.cvtColor(obj, cv2.COLOR_BGRA2BGR)
    elif obj.ndim != 3 or obj.shape[2] != 3:
        return None
    return cast(Image, obj)


class StreamSource:
    """An RTSP/HTTP stream through FFmpeg. Every frame is grabbed (so the decoder never falls behind the camera and
    a stall is noticed); only due frames are converted to pictures."""

    live = True

    def __init__(self, url: str) -> None:
        self._name = redact(url)
        params: list[int] = []
        for prop, value in (
            ("CAP_PROP_OPEN_TIMEOUT_MSEC", OPEN_TIMEOUT_MS),
            ("CAP_PROP_READ_TIMEOUT_MSEC", READ_TIMEOUT_MS),
        ):
            if hasattr(cv2, prop):
                params += [getattr(cv2, prop), value]
        try:
            self._cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
            opened = self._cap.isOpened()
        except cv2.error as exc:
            raise SourceError(f"cannot open {self._name}: {exc}", "cannot_open") from None
        if not opened:
            self._cap.release()
            raise SourceError(f"cannot open {self._name}", "cannot_open")

    def read(self, due: bool = True) -> Image | None:
        try:
            began = time.monotonic()
            grabbed = self._cap.grab()
            if time.monotonic() - began >= STALL_S:
                # a camera that stops sending but keeps the connection (a pulled cable) times out here; after it
                # FFmpeg still hands over frames it had buffered, which would make the camera flap back online
                raise SourceError(f"the stream stalled: nothing from {self._name} for {STALL_S:.1f} s", "stream_lost")
            if not grabbed:
                raise SourceError(f"the stream stopped: {self._name}", "stream_lost")
            if not due:
                return None
            ok, picture = self._cap.retrieve()
        except cv2.error as exc:
            raise SourceError(f"the stream failed: {self._name}: {exc}", "stream_lost") from None
        image = _as_image(picture) if ok else None
        if image is None:
            raise SourceError(f"cannot decode a frame from {self._name}")
        return image

    def close(self) -> None:
        self._cap.release()


class VideoFileSource:
    """A video file played as a camera in real time: read() returns the frame at (time since opening) × the file's
    own frame rate. At the end it starts again when `loop`, else raises SourceEnded. A removed file is a lost
    source even though the open handle could still read it (Linux keeps an unlinked file readable)."""

    live = False

    def __init__(self, path: Path, *, loop: bool, clock: Clock) -> None:
        self._path = path
        self._loop = loop
        self._clock = clock
        try:
            self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
            opened = self._cap.isOpened()
        except cv2.error as exc:
            raise SourceError(f"cannot open video file {path}: {exc}", "cannot_open") from None
        if not opened:
            self._cap.release()
            raise SourceError(f"cannot open video file {path} (not a video OpenCV can read?)", "cannot_open")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.file_fps = fps if math.isfinite(fps) and fps > 0 else 25.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count: int | None = count if count > 0 else None  # learned at the end when the header has no count
        self._next = 0  # index of the frame a plain read would return
        self._last: tuple[int, Image] | None = None
        self._opened_at = clock()

    def read(self, due: bool = True) -> Image | None:
        if not self._path.exists():
            raise SourceError(f"file removed: {self._path}", "source_removed")
        if not due:
            return None
        index = int((self._clock() - self._opened_at) * self.file_fps)
        if self._count is not None and index >= self._count:
            if not self._loop:
                raise SourceEnded(f"the video ended: {self._path}")
            index %= self._count
        if self._last is not None and self._last[0] == index:
            return self._last[1].copy()  # asked faster than the file's frame rate: the same frame again
        image = self._frame_at(index)
        if image is None:
            if index == 0:
                raise SourceError(f"cannot read a frame from {self._path}")
            self._count = index  # the file has fewer frames than its header said: its end is here
            return self.read(due)
        self._last = (index, image)
        return image

    def _frame_at(self, index: int) -> Image | None:
        try:
            ahead = index - self._next
            if ahead < 0 or ahead > _MAX_GRAB_AHEAD:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            else:
                for _ in range(ahead):
                    if not self._cap.grab():
                        return None
            ok, picture = self._cap.read()
        except cv2.error as exc:
            raise SourceError(f"cannot read {self._path}: {exc}") from None
        self._next = index + 1
        return _as_image(picture) if ok else None

    def close(self) -> None:
        self._cap.release()


class SnapshotSource:
    """A directory a camera drops snapshots in (JPEG/PNG). read() returns the newest by modification time when it
    is newer than the last one returned, else None. Hidden files (`.x.jpg`, half-uploaded) are ignored; a file that
    does not decode yet is tried again on the next read."""

    live = False

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise SourceError(f"no such folder: {path}", "source_removed")
        self._path = path
        self._last: tuple[int, str] | None = None  # (mtime_ns, name) of the last snapshot returned

    def read(self, due: bool = True) -> Image | None:
        if not due:
            return None
        newest: tuple[int, str] | None = None
        try:
            with os.scandir(self._path) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in SNAPSHOT_SUFFIXES:
                        continue
                    try:
                        if not entry.is_file():
                            continue
                        key = (entry.stat().st_mtime_ns, entry.name)
                    except FileNotFoundError:
                        continue  # removed while we looked
                    if newest is None or key > newest:
                        newest = key
        except FileNotFoundError:
            raise SourceError(f"folder removed: {self._path}", "source_removed") from None
        except OSError as exc:
            raise SourceError(f"cannot list {self._path}: {exc.strerror or exc}") from None
        if newest is None or (self._last is not None and newest <= self._last):
            return None
        try:
            image = _as_image(cv2.imread(str(self._path / newest[1]), cv2.IMREAD_COLOR))
        except cv2.error:
            image = None
        if image is None:
            log.debug("snapshot %s does not decode (yet)", self._path / newest[1])
            return None
        self._last = newest
        return image

    def close(self) -> None:
        pass


class CameraReader:
    """One thread per camera: opens its source, reads at `camera.fps`, keeps only the newest frame, marks itself
    offline on a SourceError or after `offline_after_s` without a frame, and reopens a failed source after
    `retry_min_s`, doubling up to `retry_max_s` (back to `retry_min_s` after a good frame).

    `step()` is one turn of the thread's loop; tests drive it with a fake clock and opener instead of the thread.
    """

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig,
        *,
        offline_after_s: float,
        retry_min_s: float,
        retry_max_s: float,
        clock: Clock = time.monotonic,
        opener: Callable[[CameraConfig], FrameSource] | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._camera = camera
        self._period = 1.0 / camera.fps
        # a camera slower than the offline limit would flap between its frames
        self._offline_after_s = max(offline_after_s, 2 * self._period)
        self._retry_min_s = retry_min_s
        self._retry_max_s = max(retry_max_s, retry_min_s)
        self._clock = clock
        self._opener = opener or (lambda cam: open_source(cam, clock))
        self._stopping = threading.Event()
        self._wait = wait or self._stopping.wait
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # owned by the stepping thread
        self._source: FrameSource | None = None
        self._retry_at = -math.inf
        self._backoff = retry_min_s
        self._next_due = -math.inf
        self._ended = False
        self._announced: bool | None = None  # the online state last logged at INFO
        # shared with take()/status(), under _lock
        self._started_at: float | None = None
        self._online = False
        self._error: str | None = "waiting for the first frame"
        self._code: str | None = "no_frames"
        self._last_frame_at: float | None = None
        self._recent: deque[float] = deque()  # read_at of frames delivered in the last FPS_WINDOW_S
        self._latest: Frame | None = None
        self._seq = 0
        self._dropped = 0

    # -- the thread ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"camera {self.camera_id}: the reader is already started")
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2 * READ_TIMEOUT_MS / 1000) -> None:
        """Stop the thread and close the source. A stream stuck in FFmpeg is given up to `timeout_s` to return."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning(
                    "camera=%s reader did not stop within %.0f s (stuck in the source)", self.camera_id, timeout_s
                )
                return
        self._close_source()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    delay = self.step()
                except Exception:  # a bug must not end the camera's thread silently; step() handles source errors
                    log.exception("camera=%s reader step failed", self.camera_id)
                    delay = self._retry_max_s
                if self._wait(delay) or self._stopping.is_set():
                    break
        finally:
            self._close_source()

    # -- one turn -----------------------------------------------------------------------------------------------

    def step(self) -> float:
        """Open, read or wait as due; returns the seconds until the next step has something to do."""
        now = self._clock()
        with self._lock:
            if self._started_at is None:
                self._started_at = now
        if self._ended:
            return _IDLE_S
        if self._source is None:
            if now < self._retry_at:
                return self._retry_at - now
            try:
                self._source = self._opener(self._camera)
            except Exception as exc:
                self._fail(exc, now)
                return self._until_retry()
            log.debug("camera=%s source opened", self.camera_id)
            self._next_due = now
        source = self._source
        due = now >= self._next_due
        if due or source.live:
            try:
                image = source.read(due)
            except Exception as exc:
                self._fail(exc, self._clock())
                return self._until_retry()
            if due:
                self._next_due += self._period
                if self._next_due <= now:  # fell behind (a slow source): no burst to catch up
                    self._next_due = now + self._period
            if image is not None:
                self._deliver(image, self._clock())
        self._check_silence(self._clock())
        return 0.0 if source.live else max(0.0, self._next_due - self._clock())

    def _until_retry(self) -> float:
        return _IDLE_S if self._ended else max(0.0, self._retry_at - self._clock())

    def _deliver(self, image: Image, at: float) -> None:
        with self._lock:
            self._seq += 1
            if self._latest is not None:
                self._dropped += 1
            self._latest = Frame(image=image, read_at=at, seq=self._seq)
            self._last_frame_at = at
            self._recent.append(at)
            self._trim(at)
            self._online = True
            self._error = self._code = None
        self._backoff = self._retry_min_s
        self._announce(True, None)

    def _fail(self, exc: Exception, now: float) -> None:
        self._close_source()
        if isinstance(exc, SourceError):
            reason, code = str(exc), exc.code
        else:  # not wrapped by the source: keep the thread alive and say what happened
            log.warning("camera=%s source raised %r", self.camera_id, exc, exc_info=exc)
            reason, code = f"unexpected error: {exc!r}", "unreadable"
        if isinstance(exc, SourceEnded):
            self._ended = True
            self._retry_at = math.inf
        else:
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, self._retry_max_s)
        with self._lock:
            self._online = False
            self._error, self._code = reason, code
        self._announce(False, reason)

    def _check_silence(self, now: float) -> None:
        with self._lock:
            since = self._last_frame_at if self._last_frame_at is not None else self._started_at
            if since is None or now - since <= self._offline_after_s:
                return
            reason = f"no frame for {self._offline_after_s:g} s"
            if not self._online and self._error == reason:
                return
            self._online = False
            self._error, self._code = reason, "no_frames"
        self._announce(False, reason)

    def _announce(self, online: bool, reason: str | None) -> None:
        if online == self._announced:
            if not online:
                log.debug("camera=%s still offline: %s", self.camera_id, reason)
            return
        self._announced = online
        if online:
            log.info("camera=%s online", self.camera_id)
        elif self._ended:
            log.info("camera=%s offline: %s", self.camera_id, reason)
        elif self._source is None:
            retry_in = max(0.0, self._retry_at - self._clock())
            log.info("camera=%s offline: %s (retry in %.0f s, backing off)", self.camera_id, reason, retry_in)
        else:
            log.info("camera=%s offline: %s", self.camera_id, reason)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception:
                log.warning("camera=%s closing the source failed", self.camera_id, exc_info=True)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - FPS_WINDOW_S:
            self._recent.popleft()

    # -- for the consumer (any thread) --------------------------------------------------------------------------

    def take(self) -> Frame | None:
        """The newest frame not taken yet, then None until a new one is read."""
        with self._lock:
            frame, self._latest = self._latest, None
            return frame

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before anyone took them."""
        with self._lock:
            return self._dropped

    def status(self) -> CameraStatus:
        now = self._clock()
        with self._lock:
            self._trim(now)
            age = None if self._last_frame_at is None else max(0.0, now - self._last_frame_at)
            online = self._online and age is not None and age <= self._offline_after_s
            error, code = self._error, self._code
            if self._online and not online:  # the thread is stuck waiting for the source and has not noticed yet
                error, code = f"no frame for {self._offline_after_s:g} s", "no_frames"
            retry = None
            if not online and self._source is None and math.isfinite(self._retry_at):
                retry = max(0.0, self._retry_at - now)
            return CameraStatus(
                online=online,
                fps=len(self._recent) / FPS_WINDOW_S,
                last_frame_age_s=age,
                error=None if online else error,
                retry_in_s=retry,
                error_code=None if online else code,
            )
