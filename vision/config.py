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
        credentials_file: /etc/hallops/cameras/CAM-A.rtsp   # `user:password` for the stream, mode 600
        fps: 1
        zones:
          queue-A: {kind: queue, polygon: [[0.05, 0.55], [0.45, 0.55], [0.45, 1.0], [0.05, 1.0]]}
          W01-seat: {kind: staff_seat, window: W01, polygon: [[0.6, 0.2], [0.8, 0.2], [0.8, 0.5], [0.6, 0.5]]}

Coordinates are normalised to the frame (0..1, x to the right, y down), so a polygon survives a change of stream
resolution. A person is in a floor zone when the bottom centre of their box (where they stand) is inside it, and in
a staff seat when the centre of their box is (a seated person's feet are under the desk).

A camera's password belongs in its `credentials_file` (its owner's only), not in this file: a `source` that carries
one (`rtsp://admin:pw@…`, `?password=…`) is refused while the YAML file may be read by group or others. `redact()` is
how every URL is shown in messages and logs: no password, and no query parameter that looks like a secret.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from devices.broker_address import BrokerAddress
from devices.errors import ConfigError, Problem
from devices.validation import problems_from, read_yaml

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

# query parameters whose value is a secret, by a word of their name (`password`, `api_key`, `X-Amz-Signature`)
SECRET_WORDS = frozenset({"p", "pw", "psw", "pass", "pwd", "auth", "sig", "credential", "credentials", "session"})
SECRET_ENDINGS = ("password", "passwd", "passphrase", "pass", "pwd", "psw", "token", "key", "secret", "signature")
# name=value anywhere after the host: query (`?password=`), path parameters (`/s;password=`) and the path itself
# (cheap DVRs: `/user=admin_password=secret_channel=1_stream=0.sdp`, pairs joined by `_`). A value ends at a URL
# delimiter or where the next `_name=` pair starts.
_PAIR = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9.\-]*)=(.*?)(?=[&;/#?]|_[A-Za-z][A-Za-z0-9]*=|$)")
HIDDEN = "***"
USERINFO_SAFE = "!$&'()*+,;="  # RFC 3986 sub-delims: allowed as they are in a URL's user and password


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
    credentials_file: Path | None = Field(
        default=None,
        description="a stream's user and password, one line `user:password`, in a file only its owner may read "
        "(mode 600); read each time the stream is opened, so a changed password needs no restart",
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

    @field_validator("credentials_file")
    @classmethod
    def _one_place_for_credentials(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        source = info.data.get("source")  # (absent when the source itself was refused)
        if v is None or not isinstance(source, str):
            return v
        if "://" not in source:
            raise ValueError("credentials_file is for a stream (rtsp://, http://…), not a file or folder")
        if "@" in urlsplit(source).netloc:
            raise ValueError("the source has a user in it as well as a credentials_file: keep them in the file")
        return v

    @property
    def is_stream(self) -> bool:
        return "://" in self.source

    def stream_url(self) -> str:
        """The URL the stream is opened with: `source`, with the user and password of `credentials_file` put in.
        ValueError in plain words when the file cannot be read or used."""
        if self.credentials_file is None:
            return self.source
        user, password = read_credentials(self.credentials_file)
        parts = urlsplit(self.source)
        # percent-encoded only where the URL needs it ('@', '/', '%'…): FFmpeg decodes them, older ones did not
        userinfo = f"{quote(user, safe=USERINFO_SAFE)}:{quote(password, safe=USERINFO_SAFE + ':')}"
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


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


def read_credentials(path: Path) -> tuple[str, str]:
    """`user:password` from a camera's credentials file (the password may hold ':'). ValueError in plain words when
    the file is missing, may be read by group or others, or is not one such line."""
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise ValueError(
            f"{path} may be read by group or others (mode {mode:04o}): chmod 600 it, owned by the user that runs "
            "hallops vision"
        )
    lines = [line for line in text.splitlines() if line.strip()]
    user, colon, password = (lines[0] if len(lines) == 1 else "").partition(":")
    if not colon or not user or not password:
        raise ValueError(f"{path} must hold one line, user:password")
    return user, password


def has_secret(url: str) -> bool:
    """True if the URL carries a password or a query parameter that looks like a secret."""
    return redact(url) != url


def redact(url: str) -> str:
    """The URL without its password and secret query values (`rtsp://admin:***@10.0.0.21/s?token=***&channel=1`),
    for messages and logs. Anything that is not a URL comes back as it is."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # (an unbalanced IPv6 bracket): shown as scheme and a placeholder, it cannot leak
        return f"{url.split('://', 1)[0]}://{HIDDEN}"
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{host}"
    path, query, fragment = (_PAIR.sub(_redact_pair, part) for part in (parts.path, parts.query, parts.fragment))
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query, fragment=fragment))


def _redact_pair(match: re.Match[str]) -> str:
    name = match.group(1)
    words = [w for w in re.split(r"[^a-z0-9]+", unquote(name).lower()) if w]
    if any(w in SECRET_WORDS or w.endswith(SECRET_ENDINGS) for w in words):
        return f"{name}={HIDDEN}"
    return match.group(0)


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
        if cam.credentials_file is not None:
            try:
                read_credentials(cam.credentials_file)
            except ValueError as exc:
                problems.append(Problem(f"cameras.{cam_id}.credentials_file", str(exc)))
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


def _exposed_secrets(cfg: VisionConfig, path: Path) -> list[Problem]:
    """A source with a password in it, in a YAML file that group or others may read: refused, whoever reads it."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return []
    if not mode & 0o077:
        return []
    return [
        Problem(
            f"cameras.{cam_id}.source",
            f"holds a password, and {path} may be read by group or others (mode {mode:04o}): put `user:password` in "
            "a credentials_file (mode 600; docs/vision.md), or chmod 600 this file",
        )
        for cam_id, cam in cfg.cameras.items()
        if cam.is_stream and has_secret(cam.source)
    ]


def load_config(path: Path) -> VisionConfig:
    """Read and validate the file. Raises ConfigError listing every problem with its path."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [Problem("", "the file must be a YAML mapping (key: value)")])
    try:
        cfg = VisionConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), problems_from(exc)) from None
    problems = _cross_check(cfg) + _exposed_secrets(cfg, path)
    if problems:
        raise ConfigError(str(path), problems)
    return cfg
