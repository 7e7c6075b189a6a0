"""`hallops vision` as deployed: real footage → the real person detector → a real mosquitto → the gateway's hall.

Camera CAM-A is a folder the camera drops snapshots in; the test drops the hand-labelled frames of vtest.avi into it
one by one, and the gateway's occupancy of the two zones (the left and right halves of the picture) must follow the
people in each frame. Camera CAM-B plays vtest.avi in real time; the file is then removed (the camera unplugged):
the gateway must see CAM-B offline and the decision layer raise its device-offline alert, while CAM-A goes on."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import cv2
import yaml

from edge.broker import MosquittoProcess
from rules.language import BUILTIN
from tests.integration.conftest import GatewayProcess, wait_until
from tests.media import VTEST, person_model, vtest_labels

HALVES = {
    "left": {"kind": "waiting", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
    "right": {"kind": "waiting", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
}


OFFLINE_MIN = 0.05  # the test's device-offline threshold: 3 s of wall time instead of the pack's 30 s


def always_on_rules(tmp_path: Path) -> Path:
    """The built-in pack, with device-offline watching around the clock (the test runs whenever CI does) and firing
    after OFFLINE_MIN (the gateway runs on the wall clock; the threshold itself is the rule engine's, unit-tested)."""
    pack = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    rule = next(r for r in pack["rules"] if r["id"] == "device-offline")
    rule.pop("during")
    offline = next(c for c in rule["when"]["any"] if c["metric"] == "device.offline_min")
    offline["value"] = OFFLINE_MIN
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_counts_follow_the_footage_and_an_unplugged_camera_raises_an_alert(
    mosquitto: MosquittoProcess,
    gateway_factory: Callable[..., GatewayProcess],
    vision: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    snapshots, video = tmp_path / "cam-a", tmp_path / "cam-b.avi"
    snapshots.mkdir()
    video.write_bytes(VTEST.read_bytes())
    (tmp_path / "vision.yaml").write_text(
        yaml.safe_dump(
            {
                "hall": "h1",
                "mqtt": {"url": mosquitto.url},
                "detector": {"backend": "onnx", "model": str(person_model()), "input_size": 640},
                "workers": 1,
                "smoothing_s": 0,  # each snapshot is its own count
                "state_every_s": 2,
                "offline_after_s": 30,  # the snapshots come every few seconds
                "cameras": {
                    "CAM-A": {"source": str(snapshots), "fps": 2, "zones": HALVES},
                    "CAM-B": {"source": str(video), "fps": 1, "loop": True, "zones": {"plaza": HALVES["left"]}},
                },
            }
        ),
        encoding="utf-8",
    )
    config = tmp_path / "gw.yaml"
    config.write_text(f"rules:\n  file: {always_on_rules(tmp_path)}\n", encoding="utf-8")
    gw = gateway_factory(mosquitto.url, "--config", str(config)).start()
    proc = vision()

    def drop(image: object, name: str) -> None:
        """As a camera uploads: written under a hidden name, then renamed (the reader never sees half a file)."""
        time.sleep(0.05)  # a newer modification time than the last snapshot's
        cv2.imwrite(str(snapshots / f".{name}"), image)
        (snapshots / f".{name}").rename(snapshots / name)

    def zones() -> dict[str, tuple[int, datetime]]:
        views = gw.get("/api/zones")
        assert isinstance(views, list)
        return {v["zone_id"]: (v["count"], datetime.fromisoformat(v["updated_at"])) for v in views}

    def device(device_id: str) -> dict[str, object]:
        views = gw.get("/api/hall")
        assert isinstance(views, dict)
        return next((d for d in views["devices"] if d["device_id"] == device_id), {})

    def counted_since(t: datetime) -> bool:
        now = zones()
        return all(z in now and now[z][1] >= t for z in ("left", "right"))

    wait_until(lambda: "plaza" in zones(), timeout=60, what="CAM-B's first count (the detector loaded)")
    assert proc.poll() is None

    # 1. the gateway's zones follow the people in each frame dropped into CAM-A's folder
    labels = vtest_labels()
    cap = cv2.VideoCapture(str(VTEST))
    errors, seen = [], []
    for index in range(max(labels) + 1):
        ok, image = cap.read()
        assert ok
        if index not in labels:
            continue
        dropped = datetime.now(UTC)
        drop(image, f"{index:04d}.jpg")
        wait_until(partial(counted_since, dropped), timeout=20, what=f"the gateway's counts for frame {index}")
        now = zones()
        truth = {"left": sum(x < 384 for x, _ in labels[index]), "right": sum(x >= 384 for x, _ in labels[index])}
        errors += [abs(now[z][0] - truth[z]) for z in truth]
        seen.append((index, now["left"][0], now["right"][0], truth))
    cap.release()
    assert sum(errors) / len(errors) <= 1.0, seen  # per zone, against the hand labels
    assert sum(now_left + now_right for _, now_left, now_right, _ in seen) > 40, seen  # people, not zeros

    assert device("CAM-B").get("online") is True

    # 2. CAM-B unplugged: offline, and the decision layer's alert; CAM-A goes on counting
    unplugged = datetime.now(UTC)
    video.unlink()
    wait_until(lambda: device("CAM-B").get("online") is False, timeout=30, what="CAM-B reported offline")
    alerts = lambda: [a for a in gw.get("/api/alerts?state=firing") if a["rule"] == "device-offline"]  # type: ignore[union-attr]  # noqa: E731
    wait_until(
        lambda: any(a["labels"].get("device") == "CAM-B" for a in alerts()),
        timeout=90,
        what="the device-offline alert for CAM-B",
    )
    assert not any(a["labels"].get("device") == "CAM-A" for a in alerts())
    drop(cv2.imread(str(snapshots / "0000.jpg")), "after.jpg")
    wait_until(lambda: zones()["left"][1] > unplugged, timeout=20, what="CAM-A still counting")
    assert device("CAM-A").get("online") is True
    assert proc.poll() is None, "one camera's loss does not stop the process"
