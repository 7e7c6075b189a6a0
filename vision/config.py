"""`hallops vision` configuration: the broker, the detector, and per camera its source, rate and polygon zones.

One YAML file, validated at start with every problem's path (`cameras.CAM-A.zones.W01-seat.window: …`):

    hall: county-01
    mqtt: {url: mqtt://127.0.0.1:1883, password_dir: /etc/hallops/cameras}   # <dir>/<camera id>: its password
    # TLS, where the hall LAN is not trusted: {url: mqtts://10.0.0.2:8883, tls_ca: /etc/hallops/ca.crt, …}, and
    # client certificates instead of passwords, where the listener asks for them: {…, cert_dir: /etc/hallops/cameras}
    detector: {backend: onnx, model: /var/lib/hallops/models/person.onnx, input_size: 640}
    cameras:
      CAM-A:
        source: rtsp://10.0.0.21/sub        # the camera's sub-stream; or a video file, or a directory of snapshots
        fps: 1
        zones:
          queue-A: {kind: queue, polygon: [[0.05, 0.55], [0.45, 0.55], [0.45, 1.0], [0.05, 1.0]]}
          W01-seat: {kind: staff_seat, window: W01, polygon: [[0.6, 0.2], [0.8, 0.2], [0.8, 0.5], [0.6, 0.5]]}

Coordinates are normalised to the frame (0..1, x to the right, y down), so a polygon survives a change of stream
resolution. A person is in a floor zone when the bottom centre of their box (where they stand) is inside it, and in
a staff seat when the centre of their box is (a seated person's feet are under the desk).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.broker_address import BrokerAddress
from devices.errors import ConfigError, Problem
from devices.validation import problems_from, read_yaml

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneKind(StrEnum):
    QUEUE = "queue"  # 排队区: people standing in line
    WAITING = "waiting"  # 等候区: seats
    KIOSK = "kiosk"  # 自助区
    STAFF_SEAT = "staff_seat"  # the seat behind a window: is anyone there


class Anchor(StrEnum):
    FEET = "feet"  # bottom centre of the box
    CENTRE = "centre"


class ZoneConfig(_Section):
    kind: ZoneKind = Field(description="queue | waiting | kiosk | staff_seat")
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="corners [x, y] in 0..1 of the frame's width and height, in order"
    )
    window: Ident | None = Field(default=None, description="staff_seat only: the window whose seat this is")
    anchor: Anchor | None = Field(
        default=None,
        description="feet | centre: the point of a person inside (default: feet; seats: centre)",
    )

    @field_validator("polygon")
    @classmethod
    def _normalised(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (x, y) in enumerate(v):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"corner {i} ({x}, {y}) is outside the frame: use 0..1 of its width and height")
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(v, v[1:] + v[:1], strict=True)) / 2
        if abs(area) < 1e-6:
            raise ValueError("the corners enclose no area (all on one line?)")
        return v

    @model_validator(mode="after")
    def _seat_has_window(self) -> ZoneConfig:
        if self.kind is ZoneKind.STAFF_SEAT and self.window is None:
            raise ValueError("a staff_seat zone names its window (window: W01)")
        if self.kind is not ZoneKind.STAFF_SEAT and self.window is not None:
            raise ValueError("only a staff_seat zone names a window")
        return self

    @property
    def point(self) -> Anchor:
        return self.anchor or (Anchor.CENTRE if self.kind is ZoneKind.STAFF_SEAT else Anchor.FEET)


class CameraConfig(_Section):
    source: str = Field(
        description="rtsp://… (use the camera's sub-stream), a video file, or a directory the camera drops snapshots in"
    )
    fps: PositiveFloat = Field(default=1.0, le=30, description="frames analysed per second")
    loop: bool = Field(default=False, description="a video file: start again at its end (demos and tests)")
    zones: dict[Ident, ZoneConfig] = Field(min_length=1, description="zone id → zone; ids as the gateway knows them")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if "://" in v and urlsplit(v).scheme not in ("rtsp", "rtsps", "http", "https"):
            raise ValueError("a stream is rtsp://, rtsps://, http:// or https://; anything else is a file or folder")
        return v

    @property
    def is_stream(self) -> bool:
        return "://" in self.source


class DetectorConfig(_Section):
    backend: Literal["onnx", "ultralytics", "hog"] = Field(
        default="onnx", description="onnx (ONNX Runtime, the default) | ultralytics (optional extra) | hog (no weights)"
    )
    model: Path | None = Field(default=None, description="local model file (.onnx or .pt); never downloaded")
    input_size: PositiveInt = Field(default=640, le=1920, description="the model's square input, pixels")
    person_classes: list[int] = Field(default=[0], min_length=1, description="class ids counted as a person")
    confidence: float = Field(default=0.25, gt=0, lt=1, description="minimum score of a detection")
    iou: float = Field(default=0.45, gt=0, lt=1, description="overlap above which two boxes are one person")
    threads: PositiveInt = Field(default=1, le=16, description="threads per inference worker (1 is best per CPU)")

    @model_validator(mode="after")
    def _needs_model(self) -> DetectorConfig:
        if self.backend != "hog" and self.model is None:
            raise ValueError(f"the {self.backend} backend needs a model file (detector.model: /path/to/model)")
        return self


class MqttConfig(_Section):
    url: str = Field(
        default="mqtt://127.0.0.1:1883", description="the hall's broker, mqtt://HOST:PORT (mqtts:// for TLS)"
    )
    tls_ca: Path | None = Field(
        default=None,
        description="CA certificate(s) of the broker (PEM), e.g. the hall's own CA; implies TLS "
        "(without it, mqtts:// trusts the system's CAs)",
    )
    password_dir: Path | None = Field(
        default=None,
        description="directory with one file per camera id holding its password (from `hallops devices add`); "
        "each camera connects as its own MQTT user",
    )
    cert_dir: Path | None = Field(
        default=None,
        description="instead of passwords, for a TLS listener that asks for client certificates: directory with "
        "<camera id>.crt and <camera id>.key per camera (`hallops certs device camera <id>`); implies TLS",
    )
    keepalive_s: PositiveInt = Field(default=30, description="MQTT keep-alive")

    @field_validator("url")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        BrokerAddress.parse(v)
        return v

    @property
    def address(self) -> BrokerAddress:
        """The broker's host, port and TLS (with `tls_ca`, if given)."""
        return BrokerAddress.parse(self.url, self.tls_ca)

    def address_of(self, camera_id: str) -> BrokerAddress:
        """How one camera reaches the broker: `address`, with the camera's own certificate if `cert_dir` is set."""
        if self.cert_dir is None:
            return self.address
        cert, key = self.cert_dir / f"{camera_id}.crt", self.cert_dir / f"{camera_id}.key"
        return BrokerAddress.parse(self.url, self.tls_ca, cert, key)


class DebugConfig(_Section):
    frames_dir: Path | None = Field(
        default=None, description="write analysed frames here, people blurred (debugging only; off by default)"
    )
    every_s: PositiveFloat = Field(default=60.0, description="at most one debug frame per camera this often")


class VisionConfig(_Section):
    hall: Ident = Field(description="hall id, as in the MQTT topics (hall/<id>/camera/<camera>/…)")
    mqtt: MqttConfig = MqttConfig()
    detector: DetectorConfig = Field(description="the person detector (backend and local model file)")
    workers: PositiveInt | None = Field(
        default=None, le=64, description="inference workers (default: the box's cores); a busy detector drops frames"
    )
    smoothing_s: float = Field(default=5.0, ge=0, le=300, description="counts are the median over this many seconds")
    state_every_s: PositiveFloat = Field(default=10.0, description="camera state (online, fps, frame age) this often")
    offline_after_s: PositiveFloat = Field(default=10.0, description="no frame for this long: the camera is offline")
    retry_min_s: PositiveFloat = Field(default=1.0, description="first retry of a lost source")
    retry_max_s: PositiveFloat = Field(default=60.0, description="retries back off (doubling) up to this")
    debug: DebugConfig = DebugConfig()
    cameras: dict[Ident, CameraConfig] = Field(min_length=1, description="camera id (its device id) → camera")

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)


def _cross_check(cfg: VisionConfig) -> list[Problem]:
    problems = []
    seats: dict[str, str] = {}
    for cam_id, cam in cfg.cameras.items():
        for zone_id, zone in cam.zones.items():
            if zone.window is None:
                continue
            if zone.window in seats:
                where = f"cameras.{cam_id}.zones.{zone_id}.window"
                problems.append(Problem(where, f"window {zone.window} already has a seat zone ({seats[zone.window]})"))
            seats[zone.window] = f"{cam_id}/{zone_id}"
        if not cam.is_stream and not Path(cam.source).exists():
            problems.append(Problem(f"cameras.{cam_id}.source", f"no such file or folder: {cam.source}"))
    if cfg.detector.model is not None and not cfg.detector.model.is_file():
        problems.append(
            Problem(
                "detector.model",
                f"no such model file: {cfg.detector.model} (models are never "
                "downloaded: copy one to the box, see docs/vision.md)",
            )
        )
    folder = cfg.mqtt.password_dir
    if folder is not None:
        missing = [c for c in cfg.cameras if not (folder / c).is_file()]
        if missing:
            problems.append(
                Problem(
                    "mqtt.password_dir",
                    f"no password file for {', '.join(missing)} in {folder} "
                    "(hallops devices add prints each camera's password once)",
                )
            )
    if cfg.mqtt.tls_ca is not None:
        if not cfg.mqtt.tls_ca.is_file():
            problems.append(Problem("mqtt.tls_ca", f"no such file: {cfg.mqtt.tls_ca}"))
        else:
            try:
                cfg.mqtt.address.tls_context()
            except ValueError as exc:
                problems.append(Problem("mqtt.tls_ca", str(exc)))
    if cfg.mqtt.cert_dir is not None and not any(p.path == "mqtt.tls_ca" for p in problems):
        for camera_id in cfg.cameras:
            try:
                cfg.mqtt.address_of(camera_id).tls_context()
            except ValueError as exc:  # names the files: missing, unreadable, or a key of another certificate
                problems.append(Problem("mqtt.cert_dir", f"camera {camera_id}: {exc}"))
    if cfg.retry_max_s < cfg.retry_min_s:
        problems.append(Problem("retry_max_s", "must be at least retry_min_s"))
    return problems


def load_config(path: Path) -> VisionConfig:
    """Read and validate the file. Raises ConfigError listing every problem with its path."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [Problem("", "the file must be a YAML mapping (key: value)")])
    try:
        cfg = VisionConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), problems_from(exc)) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(str(path), problems)
    return cfg
