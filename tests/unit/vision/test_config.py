"""The vision config: a deployer's file either loads or says what is wrong where (field path and a plain reason)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.errors import ConfigError
from vision.config import Anchor, ZoneKind, load_config

SEAT = [[0.6, 0.2], [0.8, 0.2], [0.8, 0.5], [0.6, 0.5]]
QUEUE = [[0.05, 0.55], [0.45, 0.55], [0.45, 1.0], [0.05, 1.0]]


def write(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "vision.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def good(tmp_path: Path) -> dict[str, object]:
    model = tmp_path / "person.onnx"
    model.write_bytes(b"not read by the config")
    (tmp_path / "snaps").mkdir(exist_ok=True)
    return {
        "hall": "county-01",
        "detector": {"backend": "onnx", "model": str(model)},
        "cameras": {
            "CAM-A": {
                "source": "rtsp://10.0.0.21/sub",
                "zones": {
                    "queue-A": {"kind": "queue", "polygon": QUEUE},
                    "W01-seat": {"kind": "staff_seat", "window": "W01", "polygon": SEAT},
                },
            },
            "CAM-B": {
                "source": str(tmp_path / "snaps"),
                "fps": 0.5,
                "zones": {"waiting": {"kind": "waiting", "polygon": QUEUE}},
            },
        },
    }


def test_a_deployers_file_loads_with_its_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, good(tmp_path)))
    a, b = cfg.cameras["CAM-A"], cfg.cameras["CAM-B"]
    assert (a.fps, a.is_stream, b.fps, b.is_stream) == (1.0, True, 0.5, False)
    assert a.zones["W01-seat"].kind is ZoneKind.STAFF_SEAT and a.zones["W01-seat"].point is Anchor.CENTRE
    assert a.zones["queue-A"].point is Anchor.FEET
    assert (cfg.detector.input_size, cfg.detector.person_classes, cfg.smoothing_s) == (640, [0], 5.0)
    assert cfg.worker_count >= 1 and cfg.debug.frames_dir is None, "no frame is written unless asked"


def change(doc: dict[str, object], path: str, value: object) -> dict[str, object]:
    node: object = doc
    *parents, last = path.split(".")
    for key in parents:
        assert isinstance(node, dict)
        node = node[key]
    assert isinstance(node, dict)
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "where", "says"),
    [
        (
            "cameras.CAM-A.zones.queue-A.polygon",
            [[0.1, 0.1], [1.2, 0.1], [0.5, 0.9]],
            "cameras.CAM-A.zones.queue-A.polygon",
            "outside the frame",
        ),
        (
            "cameras.CAM-A.zones.queue-A.polygon",
            [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]],
            "cameras.CAM-A.zones.queue-A.polygon",
            "no area",
        ),
        ("cameras.CAM-A.zones.W01-seat.window", None, "cameras.CAM-A.zones.W01-seat", "names its window"),
        ("cameras.CAM-A.zones.queue-A.kind", "queeu", "cameras.CAM-A.zones.queue-A.kind", "queue"),
        ("cameras.CAM-A.fps", 0, "cameras.CAM-A.fps", "greater than 0"),
        ("cameras.CAM-A.source", "ftp://10.0.0.21/x", "cameras.CAM-A.source", "rtsp://"),
        ("cameras.CAM-B.source", "/no/such/folder", "cameras.CAM-B.source", "no such file or folder"),
        ("cameras.CAM-A.colour", "red", "cameras.CAM-A.colour", "unknown key"),
        ("detector.model", "/no/such/model.onnx", "detector.model", "never downloaded"),
        ("detector.model", None, "detector", "needs a model file"),
        ("detector.backend", "yolo", "detector.backend", "onnx"),
        ("mqtt", {"url": "tcp://x"}, "mqtt.url", "mqtt://HOST:PORT"),
        ("cameras", {}, "cameras", "at least 1"),
        ("hall", None, "hall", "Field required"),
    ],
)
def test_each_mistake_is_named_at_its_path(tmp_path: Path, path: str, value: object, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, change(good(tmp_path), path, value)))
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == where and says in m for p, m in problems), problems


def test_two_seat_zones_for_one_window_are_refused(tmp_path: Path) -> None:
    doc = good(tmp_path)
    doc = change(doc, "cameras.CAM-B.zones.seat-again", {"kind": "staff_seat", "window": "W01", "polygon": SEAT})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, doc))
    assert [p.path for p in caught.value.problems] == ["cameras.CAM-B.zones.seat-again.window"]
    assert "CAM-A/W01-seat" in caught.value.problems[0].message


def test_each_camera_needs_its_password_file_when_the_broker_wants_users(tmp_path: Path) -> None:
    doc = good(tmp_path)
    (tmp_path / "passwords").mkdir()
    (tmp_path / "passwords" / "CAM-A").write_text("s3cret\n", encoding="utf-8")
    doc = change(doc, "mqtt", {"url": "mqtt://127.0.0.1:1883", "password_dir": str(tmp_path / "passwords")})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, doc))
    assert [(p.path, p.message.split(" in ")[0]) for p in caught.value.problems] == [
        ("mqtt.password_dir", "no password file for CAM-B")
    ]
    (tmp_path / "passwords" / "CAM-B").write_text("other\n", encoding="utf-8")
    assert load_config(write(tmp_path, doc)).mqtt.password_dir == tmp_path / "passwords"


def test_a_file_that_is_not_a_mapping_is_refused_plainly(tmp_path: Path) -> None:
    path = tmp_path / "vision.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="YAML mapping"):
        load_config(path)
