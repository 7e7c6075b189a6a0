"""Camera sources and the per-camera reader: rate, newest-frame-only, offline and back-off, real-time video files,
snapshot folders and unreachable streams.

The reader's logic runs through `step()` with a fake clock and a fake source (a stand-in for the camera's I/O), so
no test sleeps for a timer; the sources themselves are tested on real files and a real (refused) RTSP port.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.config import CameraConfig
from vision.sources import (
    CameraReader,
    FrameSource,
    Image,
    SnapshotSource,
    SourceEnded,
    SourceError,
    StreamSource,
    VideoFileSource,
    open_source,
    redact,
)

REPO = Path(__file__).resolve().parents[3]
VTEST = REPO / ".cache" / "media" / "vtest.avi"  # 768×576, 10 fps, 795 frames (scripts/media.sh)
ZONES = {"queue-A": {"kind": "queue", "polygon": [[0, 0], [1, 0], [1, 1]]}}


def camera(source: str = "rtsp://10.0.0.21/sub", **kw: object) -> CameraConfig:
    return CameraConfig.model_validate({"source": source, "zones": ZONES, **kw})


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def picture(n: int) -> Image:
    return np.full((4, 6, 3), n % 256, dtype=np.uint8)


def fails(exc: Exception) -> Callable[[int], Image | None]:
    def script(n: int) -> Image | None:
        raise exc

    return script


class FakeSource:
    """A camera: frame n is a picture filled with n; `script` decides per read (picture, None, or an exception)."""

    live = False

    def __init__(self, script: Callable[[int], Image | None] | None = None) -> None:
        self.reads = 0
        self.closed = False
        self.script = script or picture

    def read(self, due: bool = True) -> Image | None:
        self.reads += 1
        return self.script(self.reads)

    def close(self) -> None:
        self.closed = True


class FakeOpener:
    """Opens `source` unless told to fail; records when it was called."""

    def __init__(self, clock: FakeClock, source: FakeSource | None = None) -> None:
        self.clock = clock
        self.source = source or FakeSource()
        self.failing = False
        self.calls: list[float] = []

    def __call__(self, cam: CameraConfig) -> FrameSource:
        self.calls.append(self.clock())
        if self.failing:
            raise SourceError(f"cannot open {cam.source}")
        return self.source


def reader(
    clock: FakeClock, opener: FakeOpener, *, fps: float = 1.0, offline_after_s: float = 10.0, retry_max_s: float = 60.0
) -> CameraReader:
    return CameraReader(
        "CAM-A",
        camera(fps=fps),
        offline_after_s=offline_after_s,
        retry_min_s=1.0,
        retry_max_s=retry_max_s,
        clock=clock,
        opener=opener,
    )


def run(cam: CameraReader, clock: FakeClock, until: float, *, tick: float | None = None) -> None:
    """Drive the reader as its thread would (waiting what step() asks), or every `tick` seconds."""
    while clock.t < until:
        delay = cam.step()
        clock.t += tick if tick is not None else max(delay, 1e-3)


# -- the reader ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fps", "tick", "expected"), [(1.0, 1.0, 10), (1.0, 0.1, 10), (2.0, 0.05, 20), (0.5, 0.5, 5)])
def test_frames_come_at_the_configured_rate_however_often_it_is_stepped(fps: float, tick: float, expected: int) -> None:
    clock = FakeClock(0.0)
    cam = reader(clock, FakeOpener(clock), fps=fps)
    frames = []
    per_s = round(1 / tick)
    for k in range(10 * per_s):
        clock.t = k / per_s  # exact at whole and half seconds
        cam.step()
        if (frame := cam.take()) is not None:
            frames.append(frame)
    assert len(frames) == expected
    assert [f.seq for f in frames] == list(range(1, expected + 1))
    assert frames[1].read_at - frames[0].read_at == pytest.approx(1 / fps)


def test_the_wait_step_asks_for_is_the_time_to_the_next_frame() -> None:
    clock = FakeClock(0.0)
    cam = reader(clock, FakeOpener(clock), fps=2.0)
    assert cam.step() == pytest.approx(0.5)
    clock.t = 0.2
    assert cam.step() == pytest.approx(0.3)


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_as_dropped() -> None:
    clock = FakeClock(0.0)
    cam = reader(clock, FakeOpener(clock))
    run(cam, clock, until=5.0)  # five frames, nobody taking them
    frame = cam.take()
    assert frame is not None
    assert frame.seq == 5
    assert int(frame.image[0, 0, 0]) == 5, "the newest picture, not the first"
    assert cam.dropped == 4
    assert cam.take() is None, "a frame is taken once"
    run(cam, clock, until=6.0)
    assert cam.take() is not None
    assert cam.dropped == 4


def test_a_source_that_cannot_open_is_offline_and_retried_at_1_2_4_up_to_the_cap() -> None:
    clock = FakeClock(0.0)
    opener = FakeOpener(clock)
    opener.failing = True
    cam = reader(clock, opener, retry_max_s=10.0)
    run(cam, clock, until=50.0)
    assert opener.calls == [0.0, 1.0, 3.0, 7.0, 15.0, 25.0, 35.0, 45.0]
    clock.t = 50.0
    status = cam.status()
    assert not status.online
    assert status.error == "cannot open rtsp://10.0.0.21/sub"
    assert status.retry_in_s == pytest.approx(5.0)
    assert status.last_frame_age_s is None


def test_after_the_source_comes_back_a_good_frame_puts_it_online_and_resets_the_backoff() -> None:
    clock = FakeClock(0.0)
    opener = FakeOpener(clock)
    opener.failing = True
    cam = reader(clock, opener)
    run(cam, clock, until=10.0)  # tries at 0, 1, 3, 7; the next one at 15
    opener.failing = False
    run(cam, clock, until=20.0)
    assert opener.calls[-1] == 15.0
    assert cam.status().online
    assert cam.status().error is None

    # the camera fails again: retried 1 s later, not 16
    opener.source.script = fails(SourceError("the stream stopped: rtsp://10.0.0.21/sub"))
    opener.failing = True
    del opener.calls[:]
    clock.t = 21.0
    cam.step()
    status = cam.status()
    assert not status.online
    assert status.error == "the stream stopped: rtsp://10.0.0.21/sub"
    assert status.retry_in_s == pytest.approx(1.0)
    assert opener.source.closed, "a failed source is closed before it is reopened"
    run(cam, clock, until=25.0)
    assert opener.calls == [22.0, 24.0]


def test_a_source_raising_something_unexpected_is_offline_and_retried_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(n: int) -> Image | None:
        if n == 2:
            raise ZeroDivisionError("a bug in the source")
        return picture(n)

    clock = FakeClock(0.0)
    opener = FakeOpener(clock, FakeSource(broken))
    cam = reader(clock, opener)
    with caplog.at_level(logging.WARNING):
        run(cam, clock, until=1.5)
    assert cam.status().error == "unexpected error: ZeroDivisionError('a bug in the source')"
    run(cam, clock, until=5.0)
    assert cam.status().online
    assert opener.calls == [0.0, 2.0]


def test_no_frame_for_offline_after_s_is_offline_without_any_error_from_the_source() -> None:
    clock = FakeClock(0.0)
    silent = False
    opener = FakeOpener(clock, FakeSource(lambda n: None if silent else picture(n)))
    cam = reader(clock, opener, offline_after_s=10.0)
    run(cam, clock, until=5.0)
    assert cam.status().online
    silent = True
    clock.t = 14.0
    assert cam.status().online, "the last frame was at 4 s: 10 s have not passed"
    run(cam, clock, until=16.0)
    status = cam.status()
    assert not status.online
    assert (status.error, status.error_code) == ("no frame for 10 s", "no_frames")
    assert status.retry_in_s is None, "the source is still open and still read"
    assert status.last_frame_age_s == pytest.approx(12.0)
    silent = False
    run(cam, clock, until=17.0)
    assert cam.status().online
    assert opener.calls == [0.0], "silence alone does not reopen the source"


def test_a_reader_stuck_in_its_source_is_reported_offline_by_status() -> None:
    clock = FakeClock(0.0)
    cam = reader(clock, FakeOpener(clock), offline_after_s=10.0)
    run(cam, clock, until=1.0)
    clock.t = 30.0  # no step: the thread would be blocked in read()
    status = cam.status()
    assert not status.online
    assert status.error == "no frame for 10 s"


def test_a_camera_slower_than_the_offline_limit_does_not_flap_between_frames() -> None:
    clock = FakeClock(0.0)
    cam = reader(clock, FakeOpener(clock), fps=0.05, offline_after_s=10.0)  # a frame every 20 s
    run(cam, clock, until=39.0)
    assert cam.status().online


def test_status_fps_is_the_rate_of_frames_delivered_in_the_last_10_s() -> None:
    clock = FakeClock(0.0)
    silent = False
    cam = reader(clock, FakeOpener(clock, FakeSource(lambda n: None if silent else picture(n))), fps=2.0)

    def until(t: float) -> None:
        while clock.t < t:
            clock.t += 0.5
            cam.step()

    until(20.0)
    assert cam.status().fps == pytest.approx(2.0)
    silent = True
    until(25.0)
    assert cam.status().fps == pytest.approx(1.0), "5 of the last 10 s had frames"
    until(40.0)
    assert cam.status().fps == 0.0


def test_transitions_are_logged_once_at_info_and_retries_are_not(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0.0)
    opener = FakeOpener(clock)
    opener.failing = True
    cam = reader(clock, opener)
    with caplog.at_level(logging.INFO, logger="vision.sources"):
        run(cam, clock, until=30.0)
        opener.failing = False
        run(cam, clock, until=40.0)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [
        "camera=CAM-A offline: cannot open rtsp://10.0.0.21/sub (retry in 1 s, backing off)",
        "camera=CAM-A online",
    ]


def test_one_failing_camera_does_not_hold_up_another() -> None:
    """Two real reader threads, each on its own fake clock that advances when the reader waits."""
    good_clock, bad_clock = FakeClock(0.0), FakeClock(0.0)
    enough = threading.Event()

    def counted(n: int) -> Image | None:
        if n >= 20:
            enough.set()
        return picture(n)

    good = FakeOpener(good_clock, FakeSource(counted))
    bad = FakeOpener(bad_clock)
    bad.failing = True

    def waiter(clock: FakeClock) -> Callable[[float], bool]:
        def wait(s: float) -> bool:
            clock.t += s
            time.sleep(0)  # let the other threads run (not a timer)
            return False

        return wait

    readers = [
        CameraReader(
            name,
            camera(),
            offline_after_s=10,
            retry_min_s=1,
            retry_max_s=60,
            clock=clock,
            opener=opener,
            wait=waiter(clock),
        )
        for name, clock, opener in (("CAM-A", good_clock, good), ("CAM-B", bad_clock, bad))
    ]
    for r in readers:
        r.start()
    try:
        assert enough.wait(10), "the good camera kept delivering"
    finally:
        for r in readers:
            r.stop()
    assert readers[0].status().online
    assert readers[0].take() is not None
    assert not readers[1].status().online
    assert readers[1].status().error == "cannot open rtsp://10.0.0.21/sub"
    assert len(bad.calls) >= 1
    assert good.source.closed, "stop() closes the source"


def test_stop_ends_the_thread_waiting_on_the_default_timer() -> None:
    opener = FakeOpener(FakeClock())
    opener.failing = True
    cam = CameraReader("CAM-A", camera(), offline_after_s=10, retry_min_s=60, retry_max_s=60, opener=opener)
    cam.start()
    started = time.monotonic()
    cam.stop()
    assert time.monotonic() - started < 5, "stop() interrupts the 60 s wait before the retry"


# -- real sources ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vtest() -> Path:
    if not VTEST.is_file():
        pytest.fail(f"real footage missing: {VTEST} (run scripts/media.sh)")
    return VTEST


def frame_of(path: Path, index: int) -> Image:
    """Frame `index` of a video, decoded from the start (the ground truth)."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        for _ in range(index + 1):
            ok, image = cap.read()
            assert ok
        return np.asarray(image, dtype=np.uint8)
    finally:
        cap.release()


@pytest.fixture
def video(vtest: Path) -> Iterator[Callable[..., VideoFileSource]]:
    opened: list[VideoFileSource] = []

    def open_video(path: Path = vtest, *, loop: bool = False, clock: FakeClock) -> VideoFileSource:
        source = open_source(camera(str(path), loop=loop), clock)
        assert isinstance(source, VideoFileSource)
        opened.append(source)
        return source

    yield open_video
    for s in opened:
        s.close()


def test_a_video_file_plays_in_real_time(video: Callable[..., VideoFileSource], vtest: Path) -> None:
    clock = FakeClock(100.0)
    source = video(clock=clock)
    first = source.read()
    assert first is not None
    assert first.shape == (576, 768, 3)
    assert first.dtype == np.uint8
    clock.t = 102.5
    image = source.read()
    assert image is not None
    assert np.array_equal(image, frame_of(vtest, 25)), "2.5 s at the file's 10 fps is its frame 25"


def test_a_reader_samples_a_video_file_at_the_camera_rate(vtest: Path) -> None:
    clock = FakeClock(0.0)
    cam = CameraReader("CAM-A", camera(str(vtest)), offline_after_s=10, retry_min_s=1, retry_max_s=60, clock=clock)
    try:
        frames = []
        for t in range(4):
            clock.t = float(t)
            cam.step()
            frame = cam.take()
            assert frame is not None
            frames.append(frame)
    finally:
        cam.stop()
    assert np.array_equal(frames[3].image, frame_of(vtest, 30)), "1 fps from a 10 fps file: every tenth frame"
    assert cam.status().online


@pytest.mark.parametrize("loop", [True, False])
def test_at_the_end_a_video_loops_or_ends(video: Callable[..., VideoFileSource], vtest: Path, loop: bool) -> None:
    clock = FakeClock(0.0)
    source = video(clock=clock, loop=loop)
    clock.t = 79.4
    assert source.read() is not None, "frame 794, the last"
    clock.t = 80.25  # 802 frames in: 7 past the end
    if loop:
        image = source.read()
        assert image is not None
        assert np.array_equal(image, frame_of(vtest, 7))
    else:
        with pytest.raises(SourceEnded, match=r"^the video ended: "):
            source.read()


def test_a_video_that_ended_leaves_the_camera_offline_for_good(vtest: Path) -> None:
    clock = FakeClock(0.0)
    opener_calls: list[float] = []

    def opener(cam: CameraConfig) -> FrameSource:
        opener_calls.append(clock())
        return open_source(cam, clock)

    cam = CameraReader(
        "CAM-A", camera(str(vtest)), offline_after_s=10, retry_min_s=1, retry_max_s=60, clock=clock, opener=opener
    )
    cam.step()
    clock.t = 80.0
    cam.step()
    clock.t = 200.0
    cam.step()
    cam.stop()
    status = cam.status()
    assert not status.online
    assert (status.error, status.error_code) == (f"the video ended: {vtest}", "video_ended")
    assert status.retry_in_s is None
    assert opener_calls == [0.0]


def test_a_removed_video_file_is_a_lost_source(
    video: Callable[..., VideoFileSource], vtest: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "cam.avi"
    shutil.copyfile(vtest, copy)
    source = video(copy, clock=FakeClock())
    assert source.read() is not None
    copy.unlink()
    with pytest.raises(SourceError, match=rf"^file removed: {re.escape(str(copy))}$") as removed:
        source.read()
    assert removed.value.code == "source_removed"
    with pytest.raises(SourceError, match=r"^no such file or folder: "):
        open_source(camera(str(copy)))


def test_a_file_that_is_not_a_video_cannot_be_opened(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.avi"
    bogus.write_text("not a video\n")
    with pytest.raises(SourceError, match=r"^cannot open video file "):
        open_source(camera(str(bogus)))


def write_snapshot(folder: Path, name: str, value: int, mtime: float) -> None:
    path = folder / name
    assert cv2.imwrite(str(path), np.full((48, 64, 3), value, dtype=np.uint8))
    os.utime(path, (mtime, mtime))  # explicit times: no sleeping to make one file newer than another


def test_a_snapshot_folder_gives_each_newest_picture_once(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots"
    folder.mkdir()
    write_snapshot(folder, "a.png", 10, mtime=1_000)
    write_snapshot(folder, "b.png", 20, mtime=1_001)
    (folder / "notes.txt").write_text("not a picture")
    source = open_source(camera(str(folder)))
    assert isinstance(source, SnapshotSource)
    image = source.read()
    assert image is not None
    assert image.shape == (48, 64, 3)
    assert int(image[0, 0, 0]) == 20, "the newest"
    assert source.read() is None, "nothing newer"
    write_snapshot(folder, "c.jpg", 30, mtime=999)
    assert source.read() is None, "an older file arriving late is not newer"
    write_snapshot(folder, ".d.png", 40, mtime=1_005)  # an upload in progress, by convention hidden
    (folder / "e.jpg").write_bytes(b"\xff\xd8 half a jpeg")
    os.utime(folder / "e.jpg", (1_006, 1_006))
    assert source.read() is None, "a picture that does not decode yet is not a frame"
    write_snapshot(folder, "e.jpg", 50, mtime=1_006)
    image = source.read()
    assert image is not None
    assert abs(int(image[0, 0, 0]) - 50) <= 2, "the upload finished: it is read now (JPEG is lossy)"
    shutil.rmtree(folder)
    with pytest.raises(SourceError, match=rf"^folder removed: {re.escape(str(folder))}$"):
        source.read()
    source.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_stream_fails_quickly_and_keeps_its_password_out_of_the_message() -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/x"
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        open_source(camera(url))
    assert time.monotonic() - started < 5
    assert (str(raised.value), raised.value.code) == (f"cannot open {redact(url)}", "cannot_open")
    assert "s3cret" not in str(raised.value)
    assert redact(url).startswith("rtsp://admin:***@127.0.0.1:")


def test_a_stream_is_grabbed_frame_by_frame_and_decoded_only_when_due(tmp_path: Path) -> None:
    """FFmpeg reads a local clip through the same grab/retrieve path as an RTSP stream."""
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for value in (0, 100, 200):
        writer.write(np.full((48, 64, 3), value, dtype=np.uint8))
    writer.release()
    source = StreamSource(str(clip))
    try:
        assert source.live
        assert source.read(due=False) is None, "frame 0 grabbed, not decoded"
        image = source.read(due=True)
        assert image is not None
        assert image.shape == (48, 64, 3)
        assert abs(int(image[0, 0, 0]) - 100) <= 2, "the frame grabbed now, not an old one"
        assert source.read(due=False) is None
        with pytest.raises(SourceError, match=r"^the stream stopped: "):
            source.read(due=False)
    finally:
        source.close()
