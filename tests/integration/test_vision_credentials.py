"""`hallops vision` on a broker that wants users: each camera connects as its own broker user (the credentials
`hallops devices add` made, one password file per camera), so mosquitto's generated ACL lets it speak under its own
topics — and a camera with a wrong password is refused, without disturbing the one that is right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoProcess
from edge.credentials import Registry
from tests.integration.conftest import ROOT, wait_until
from tests.integration.test_vision import HALVES
from tests.media import VTEST, person_model


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, dict[str, str]]]:
    server = MosquittoProcess()
    files = server.dir  # readable by the mosquitto user, which the broker drops to
    registry = Registry(tmp_path / "gateway.db", files / "passwd", files / "acl")
    passwords = {
        d: registry.add(d, t, "h1")
        for d, t in (("hallops-gateway", "gateway"), ("CAM-A", "camera"), ("CAM-B", "camera"))
    }
    server.config.write_text(
        server.config.read_text().replace("allow_anonymous true\n", "allow_anonymous false\n")
        + f"password_file {files / 'passwd'}\nacl_file {files / 'acl'}\n"
    )
    server.start()
    yield server, passwords
    registry.close()
    server.stop()


def test_each_camera_speaks_as_its_own_broker_user(
    broker: tuple[MosquittoProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = broker
    secrets = tmp_path / "cameras"
    secrets.mkdir()
    (secrets / "CAM-A").write_text(passwords["CAM-A"] + "\n", encoding="utf-8")
    (secrets / "CAM-B").write_text("not-the-password\n", encoding="utf-8")
    snaps = {cam: tmp_path / cam for cam in ("CAM-A", "CAM-B")}
    ok, image = cv2.VideoCapture(str(VTEST)).read()
    assert ok
    for folder in snaps.values():
        folder.mkdir()
        cv2.imwrite(str(folder / "0000.jpg"), image)
    config = tmp_path / "vision.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hall": "h1",
                "mqtt": {"url": server.url, "password_dir": str(secrets)},
                "detector": {"backend": "onnx", "model": str(person_model())},
                "workers": 1,
                "offline_after_s": 60,
                "cameras": {cam: {"source": str(folder), "zones": HALVES} for cam, folder in snaps.items()},
            }
        ),
        encoding="utf-8",
    )

    heard: list[tuple[str, dict[str, object]]] = []
    gateway = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-gateway")
    gateway.username_pw_set("hallops-gateway", passwords["hallops-gateway"])
    gateway.on_message = lambda _c, _u, m: heard.append((m.topic, json.loads(m.payload)))
    gateway.connect("127.0.0.1", server.port)
    gateway.subscribe("hall/h1/#", qos=1)
    gateway.loop_start()
    log = tmp_path / "vision.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "vision", "--config", str(config)],
            stdout=out,
            stderr=out,
            cwd=ROOT,
            env=os.environ.copy(),
        )
    try:
        wait_until(
            lambda: any(t == "hall/h1/camera/CAM-A/evt" for t, _ in heard),
            timeout=60,
            what="CAM-A's occupancy, published as CAM-A",
        )
        [count] = [m for t, m in heard if t == "hall/h1/camera/CAM-A/evt"][:1]
        assert count["type"] == "occupancy" and count["zones"] == {"left": 1, "right": 2}  # vtest's first frame
        wait_until(
            lambda: "broker refused camera=CAM-B" in log.read_text(errors="replace"),
            timeout=20,
            what="the broker refusing CAM-B's wrong password, said in the log",
        )
        time.sleep(2)  # CAM-A goes on meanwhile; CAM-B never gets a word through
        assert not any("/CAM-B/" in t for t, _ in heard)
        assert proc.poll() is None, "a refused camera does not stop the others"
    finally:
        proc.terminate()
        proc.wait(15)
        gateway.loop_stop()
        gateway.disconnect()
    assert any(t == "hall/h1/camera/CAM-A/state" and m["online"] is False for t, m in heard), "stopping says offline"
