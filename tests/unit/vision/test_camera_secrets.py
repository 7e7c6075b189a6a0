"""A camera's password: kept in a credentials file only its owner may read, put into the stream's URL when the stream
is opened, refused in a vision.yaml others may read, and never shown in a message or a log."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.errors import ConfigError
from vision import sources
from vision.config import CameraConfig, load_config
from vision.sources import SourceError, open_source, redact

ZONES = {"all": {"kind": "queue", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "rtsp://u:p@h/s?user=a&password=b&channel=1",
            "rtsp://u:***@h/s?user=a&password=***&channel=1",
        ),
        (
            "rtsp://admin:s3cret@10.0.0.21:554/Streaming/Channels/102",
            "rtsp://admin:***@10.0.0.21:554/Streaming/Channels/102",
        ),
        (
            "http://cam/snap.jpg?PWD=1&Passwd=2&pass=3&token=4&key=5&Secret=6&auth=7&signature=8",
            "http://cam/snap.jpg?PWD=***&Passwd=***&pass=***&token=***&key=***&Secret=***&auth=***&signature=***",
        ),
        (
            "https://cam/live?access_token=x&apiKey=y&X-Amz-Signature=z&stream=main&fps=5",
            "https://cam/live?access_token=***&apiKey=***&X-Amz-Signature=***&stream=main&fps=5",
        ),
        ("rtsp://u:p@h:notaport/s", "rtsp://u:***@h:notaport/s"),  # a URL OpenCV would refuse is still hidden
        ("rtsp://10.0.0.21/sub", "rtsp://10.0.0.21/sub"),
        # forms the review found shown in clear: in the path (cheap DVRs), path parameters, short and odd names
        (
            "rtsp://10.0.0.1/user=admin_password=secret_channel=1_stream=0.sdp",
            "rtsp://10.0.0.1/user=admin_password=***_channel=1_stream=0.sdp",
        ),
        ("rtsp://10.0.0.1/user=admin&password=s&channel=1", "rtsp://10.0.0.1/user=admin&password=***&channel=1"),
        ("rtsp://cam/s;password=x", "rtsp://cam/s;password=***"),
        ("rtsp://cam/s?loginPass=x&psw=y&u=admin&p=z&ch=2", "rtsp://cam/s?loginPass=***&psw=***&u=admin&p=***&ch=2"),
        ("rtsp://cam/cam/realmonitor?channel=1&subtype=0", "rtsp://cam/cam/realmonitor?channel=1&subtype=0"),
        ("/var/lib/hallops/snaps/CAM-A", "/var/lib/hallops/snaps/CAM-A"),
    ],
)
def test_a_url_is_shown_without_its_password_or_secret_parameters(url: str, shown: str) -> None:
    assert redact(url) == shown


def credentials(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "CAM-A.rtsp"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def vision_yaml(tmp_path: Path, camera: dict[str, object], mode: int = 0o600) -> Path:
    model = tmp_path / "person.onnx"
    model.write_bytes(b"not read by the config")
    path = tmp_path / "vision.yaml"
    doc = {"hall": "h1", "detector": {"model": str(model)}, "cameras": {"CAM-A": {**camera, "zones": ZONES}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    path.chmod(mode)
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return [(p.path, p.message) for p in raised.value.problems]


def test_the_stream_is_opened_with_the_user_and_password_of_the_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = credentials(tmp_path, "admin:p@ss:w/rd%\n")
    cfg = load_config(
        vision_yaml(tmp_path, {"source": "rtsp://cam1.local:554/stream", "credentials_file": str(secret)}, 0o644)
    )  # nothing secret in the YAML: others may read it
    opened: list[str] = []
    monkeypatch.setattr(sources, "StreamSource", opened.append)
    open_source(cfg.cameras["CAM-A"])
    secret.write_text("admin:rotated\n", encoding="utf-8")  # a new password is used at the next reconnect
    open_source(cfg.cameras["CAM-A"])
    assert opened == [
        "rtsp://admin:p%40ss:w%2Frd%25@cam1.local:554/stream",
        "rtsp://admin:rotated@cam1.local:554/stream",
    ]


def test_a_credentials_file_that_is_gone_is_a_source_that_cannot_open_named_without_secrets(tmp_path: Path) -> None:
    camera = CameraConfig.model_validate(
        {"source": "rtsp://cam1.local/s?token=t0", "credentials_file": str(tmp_path / "gone"), "zones": ZONES}
    )
    with pytest.raises(SourceError) as raised:
        open_source(camera)
    assert raised.value.code == "cannot_open"
    assert str(raised.value).startswith("cannot open rtsp://cam1.local/s?token=***: cannot read ")


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("admin:pw\n", 0o644, "may be read by group or others (mode 0644): chmod 600 it"),
        ("admin:pw\n", 0o640, "may be read by group or others (mode 0640)"),
        ("just-a-password\n", 0o600, "must hold one line, user:password"),
        ("admin:\n", 0o600, "must hold one line, user:password"),
        ("a:b\nc:d\n", 0o600, "must hold one line, user:password"),
    ],
)
def test_a_credentials_file_others_may_read_or_that_is_not_user_password_is_refused(
    tmp_path: Path, text: str, mode: int, message: str
) -> None:
    secret = credentials(tmp_path, text, mode)
    found = problems(vision_yaml(tmp_path, {"source": "rtsp://cam1.local/s", "credentials_file": str(secret)}))
    assert [(path, message in text) for path, text in found] == [("cameras.CAM-A.credentials_file", True)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("rtsp://admin@cam1.local/s", "the source has a user in it as well as a credentials_file"),
        ("/var/lib/hallops/snaps", "credentials_file is for a stream"),
    ],
)
def test_credentials_are_kept_in_one_place_and_only_for_a_stream(tmp_path: Path, source: str, message: str) -> None:
    secret = credentials(tmp_path, "admin:pw\n")
    found = problems(vision_yaml(tmp_path, {"source": source, "credentials_file": str(secret)}))
    assert [(path, message in text) for path, text in found] == [("cameras.CAM-A.credentials_file", True)]


@pytest.mark.parametrize("source", ["rtsp://admin:s3cret@cam1.local/s", "http://cam1.local/snap?channel=1&Password=x"])
@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_yaml_others_may_read_with_a_password_in_it_is_refused(tmp_path: Path, source: str, mode: int) -> None:
    found = problems(vision_yaml(tmp_path, {"source": source}, mode))
    assert len(found) == 1 and found[0][0] == "cameras.CAM-A.source"
    assert f"holds a password, and {tmp_path / 'vision.yaml'} may be read by group or others" in found[0][1]
    assert "s3cret" not in found[0][1] and "=x" not in found[0][1]


def test_a_yaml_with_a_password_in_it_loads_when_only_its_owner_may_read_it(tmp_path: Path) -> None:
    cfg = load_config(vision_yaml(tmp_path, {"source": "rtsp://admin:s3cret@cam1.local/s"}, 0o600))
    assert cfg.cameras["CAM-A"].stream_url() == "rtsp://admin:s3cret@cam1.local/s"
