"""`hallops vision snapshot`: what an installer runs to check the polygons — and the plain answers to mistakes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from edge import cli
from edge.broker import free_port
from tests.media import ROOT, VTEST, person_model

HALVES = {
    "left": {"kind": "waiting", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
    "right": {"kind": "waiting", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
}


def hallops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def hallops_here(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The same command in this process: its exit code and what it wrote to stderr. For the answers Python gives,
    where the process boundary adds nothing (a new interpreter takes seconds to import OpenCV and ONNX Runtime)."""
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def config(tmp_path: Path, **camera: object) -> Path:
    path = tmp_path / "vision.yaml"
    cam = {"source": str(VTEST), "zones": HALVES, **camera}
    path.write_text(
        yaml.safe_dump(
            {"hall": "h1", "detector": {"backend": "onnx", "model": str(person_model())}, "cameras": {"CAM-A": cam}}
        ),
        encoding="utf-8",
    )
    return path


def test_a_snapshot_shows_the_zones_and_counts_the_people_with_nothing_else_written(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    before = set(tmp_path.rglob("*"))
    done = hallops("vision", "snapshot", "CAM-A", "--config", str(cfg), "--out", str(tmp_path / "a.jpg"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "a.jpg"}, "one picture, where asked, and nothing else"
    picture = cv2.imread(str(tmp_path / "a.jpg"))
    assert picture is not None and picture.shape == (576, 768, 3)
    # vtest.avi's first frame: three people, one on the left half and two on the right (hand labels)
    assert "3 people found; zones: left 1, right 2; seats: -" in done.stdout, done.stdout


def test_mistakes_get_a_plain_answer_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # where a snapshot would be written by default
    for name in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL"):  # `hallops vision` sets them; restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    cfg = config(tmp_path)
    code, err = hallops_here("vision", "--config", str(cfg), "snapshot", "CAM-Z", capsys=capsys)
    assert code == 2 and "no camera 'CAM-Z' in the config (cameras: CAM-A)" in err
    code, err = hallops_here("vision", "snapshot", "CAM-A", capsys=capsys)
    assert code == 2 and "--config FILE is required" in err
    bad = config(tmp_path, fps=0)
    code, err = hallops_here("vision", "--config", str(bad), capsys=capsys)
    assert code == 2 and "cameras.CAM-A.fps: Input should be greater than 0" in err
    assert list(tmp_path.glob("*.jpg")) == []


def test_an_unreachable_camera_is_one_plain_line_not_ffmpegs_chatter(tmp_path: Path) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/sub"  # nothing listens there
    cfg = config(tmp_path, source=url)
    done = hallops("vision", "snapshot", "CAM-A", "--config", str(cfg), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"hallops vision snapshot: cannot open {url}", done.stderr
    assert "Connection refused" not in done.stderr and "WARN" not in done.stderr, done.stderr
    loud = hallops("--log-level", "DEBUG", "vision", "snapshot", "CAM-A", "--config", str(cfg), cwd=tmp_path)
    assert loud.returncode == 1 and "Connection refused" in loud.stderr, "FFmpeg's own words when debugging"
