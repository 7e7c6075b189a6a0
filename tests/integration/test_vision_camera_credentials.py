"""A camera that asks for a password (RTSP Basic authentication, GStreamer's RTSP server on 127.0.0.1): the stream
opens with the user and password of the camera's credentials file — one with '@', ':', '/' and '%' in it — and a
wrong password is a camera that cannot open, said without the password."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.broker import free_port, wait_for_port
from tests.integration.test_vision import HALVES
from tests.integration.test_vision_rtsp import DEBIAN_PYTHON, SERVER
from tests.media import VTEST
from vision.config import CameraConfig
from vision.sources import SourceError, open_source

PASSWORD = "p@ss:w/rd%"


@pytest.fixture
def camera_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "RTSP_CAMERA_CREDENTIALS": f"admin:{PASSWORD}"}
    with (tmp_path / "rtsp.log").open("ab") as out:
        proc = subprocess.Popen(
            [str(DEBIAN_PYTHON), str(SERVER), str(VTEST), str(port)], stdout=out, stderr=out, env=env
        )
    try:
        wait_for_port(port, timeout=15)
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        proc.kill()
        proc.wait(10)


def camera(tmp_path: Path, url: str, credentials: str) -> CameraConfig:
    secret = tmp_path / "CAM-A.rtsp"
    secret.write_text(credentials + "\n", encoding="utf-8")
    secret.chmod(0o600)
    return CameraConfig.model_validate({"source": url, "credentials_file": str(secret), "zones": HALVES})


def test_the_stream_opens_with_the_credentials_file_and_not_with_a_wrong_password(
    tmp_path: Path, camera_url: str
) -> None:
    source = open_source(camera(tmp_path, camera_url, f"admin:{PASSWORD}"))
    try:
        image = source.read()
        assert image is not None and image.shape == (576, 768, 3)
    finally:
        source.close()
    with pytest.raises(SourceError) as refused:
        open_source(camera(tmp_path, camera_url, "admin:wrong-password"))
    assert refused.value.code == "cannot_open"
    assert "wrong-password" not in str(refused.value) and str(refused.value).startswith("cannot open rtsp://admin:***@")
