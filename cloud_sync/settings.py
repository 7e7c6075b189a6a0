"""The cloud tier's configuration (`hallops cloud consume --config F`): one YAML file, validated strictly.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is an error, and `load_settings` reports
every problem with its field path before anything connects. Secrets (the NATS password, the PostgreSQL password, the
time-series token) come from a file or the environment, never from the YAML itself. The time-series section is
optional: without it the consumer writes PostgreSQL only.

It must not connect, open a database or read anything but the files it names.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from cloud_sync.fleet import FleetSection
from devices.errors import ConfigError, Problem
from devices.validation import problems_from, read_yaml

NAME = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"  # a JetStream stream or consumer name (no '.', '*', '>')
GRADES: dict[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}  # 好差评 five grades


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(path: Path | None, env: str) -> str | None:
    if path is not None:
        return path.read_text(encoding="utf-8").strip()
    return os.environ.get(env) or None


def _readable(v: Path | None) -> Path | None:
    if v is not None and not v.is_file():
        raise ValueError(f"no such file: {v}")
    return v


def _nats_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls") or not parts.hostname:
        raise ValueError(f"{url!r} is not nats://host:port or tls://host:port")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"{url!r} has a bad port") from None
    return url


class NatsSection(_Section):
    servers: list[Annotated[str, AfterValidator(_nats_url)]] = Field(
        default=["nats://127.0.0.1:4222"], min_length=1, description="the cluster's client URLs (nats:// or tls://)"
    )
    user: str | None = Field(default=None, description="NATS user, if the cluster requires one")
    password_file: Path | None = Field(
        default=None, description="file holding the password (or env HALLOPS_NATS_PASSWORD)"
    )
    credentials: Path | None = Field(default=None, description="a NATS .creds file (JWT + NKey), instead of a user")
    tls_ca: Path | None = Field(default=None, description="CA file (PEM) the servers' certificates are checked against")
    tls_cert: Path | None = Field(default=None, description="the consumer's client certificate (PEM), if asked for")
    tls_key: Path | None = Field(default=None, description="its private key (PEM)")

    _files = field_validator("password_file", "credentials", "tls_ca", "tls_cert", "tls_key")(_readable)

    def password(self) -> str | None:
        return _secret(self.password_file, "HALLOPS_NATS_PASSWORD")

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls_ca is None and self.tls_cert is None and not any(s.startswith("tls://") for s in self.servers):
            return None
        ctx = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca else None)
        if self.tls_cert is not None:
            ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key) if self.tls_key else None)
        return ctx


class StreamSection(_Section):
    name: str = Field(default="HALLOPS_UP", pattern=NAME, description="the JetStream stream the halls' batches land in")
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(default=3, description="copies of the stream (R3 in a cluster)")
    duplicate_window_s: PositiveFloat = Field(default=120.0, description="JetStream's duplicate window (Nats-Msg-Id)")
    max_age_days: PositiveFloat = Field(default=14.0, description="messages older than this are dropped by the stream")
    retention: Literal["interest", "limits"] = Field(
        default="interest",
        description="interest: a message leaves the stream once the consumers have acknowledged it (the stream holds "
        "only what waits: a province's day is gigabytes); limits: kept until max_age_days or max_bytes. Fixed when "
        "the stream is made",
    )
    max_bytes: int = Field(default=-1, ge=-1, description="the stream's size limit (-1: none)")


class ConsumerSection(_Section):
    durable: str = Field(default="ingest", pattern=NAME, description="the durable pull consumer every instance shares")
    batch: Annotated[int, Field(ge=1, le=4096)] = Field(
        default=256, description="messages fetched and committed together"
    )
    ack_wait_s: PositiveFloat = Field(
        default=30.0, description="a message not acknowledged in this time goes to another instance"
    )
    max_ack_pending: PositiveInt = Field(default=4096, description="messages in flight over all instances")
    fetch_timeout_s: PositiveFloat = Field(default=1.0, description="how long one fetch waits for messages")
    provision_timeout_s: PositiveFloat = Field(
        default=90.0, description="how long start-up retries creating the stream and consumer (leader elections)"
    )
    counters_log_s: PositiveFloat = Field(default=60.0, description="the counters are logged this often")


class PostgresSection(_Section):
    dsn: str = Field(
        default="host=127.0.0.1 port=5432 dbname=hallops user=hallops",
        min_length=1,
        description="libpq connection string, without the password",
    )
    password_file: Path | None = Field(
        default=None, description="file holding the password (or env HALLOPS_PG_PASSWORD)"
    )
    dead_letters_kept: PositiveInt = Field(default=10000, description="the newest dead letters kept")

    _files = field_validator("password_file")(_readable)

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, v: str) -> str:
        if "password=" in v or "@" in urlsplit(v).netloc:
            raise ValueError("put the password in password_file or HALLOPS_PG_PASSWORD, not in the dsn")
        return v

    def password(self) -> str | None:
        return _secret(self.password_file, "HALLOPS_PG_PASSWORD")


class SeriesSection(_Section):
    url: str = Field(description="VictoriaMetrics or InfluxDB 2.x, http(s)://host:port (its /api/v2/write)")
    org: str = Field(default="hallops", min_length=1, description="InfluxDB organisation (VictoriaMetrics ignores it)")
    bucket: str = Field(default="hallops", min_length=1, description="InfluxDB bucket")
    token_file: Path | None = Field(default=None, description="file holding the token (or env HALLOPS_SERIES_TOKEN)")
    batch_size: PositiveInt = Field(default=5000, description="points per write")
    flush_interval_ms: PositiveInt = Field(default=1000, description="a partial batch is written after this")
    max_retries: Annotated[int, Field(ge=0)] = Field(default=5, description="a failed write is retried this often")
    retry_interval_ms: PositiveInt = Field(default=1000, description="first retry after; doubling up to 30 s")

    _files = field_validator("token_file")(_readable)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not http(s)://host:port")
        return v

    def token(self) -> str:
        return _secret(self.token_file, "HALLOPS_SERIES_TOKEN") or ""


Score = Annotated[int, Field(ge=1, le=5)]


class RatingsProfile(_Section):
    """How one provincial 好差评 system wants the ratings: grade names, 事项编码 per service, the halls' codes."""

    halls: list[Annotated[str, Field(pattern=NAME)]] | None = Field(
        default=None, description="the halls exported (default: every hall)"
    )
    grades: dict[Score, Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=lambda: dict(GRADES),
        description="the grade's name per score 1–5 (default 非常满意 … 非常不满意)",
    )
    grade_codes: dict[Score, Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=dict, description="the grade's code in the province's system, per score (optional)"
    )
    service_items: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict, description="the province's 事项编码 per queue service (over the hall's own)"
    )
    hall_codes: dict[str, Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=dict, description="the province's code of each hall (its 大厅/机构编码)"
    )
    timezone: str = Field(default="Asia/Shanghai", description="the day of `--day` is taken in this zone")

    @field_validator("grades")
    @classmethod
    def _five(cls, v: dict[int, str]) -> dict[int, str]:
        missing = sorted(set(GRADES) - set(v))
        if missing:
            raise ValueError(f"every score 1–5 needs a grade name; missing {missing}")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from None
        return v


class CloudSettings(_Section):
    nats: NatsSection = NatsSection()
    stream: StreamSection = StreamSection()
    consumer: ConsumerSection = ConsumerSection()
    postgres: PostgresSection = PostgresSection()
    series: SeriesSection | None = Field(default=None, description="the time-series store; none: PostgreSQL only")
    ratings_export: dict[Annotated[str, Field(pattern=NAME)], RatingsProfile] = Field(
        default_factory=dict, description="per province: how `hallops cloud ratings-export` shapes the ratings"
    )
    fleet: FleetSection = Field(
        default_factory=FleetSection, description="`hallops cloud serve`: the fleet view (docs/fleet.md)"
    )


def load_settings(path: Path) -> CloudSettings:
    """Read and validate the cloud tier's file. Raises ConfigError with every problem and its field path."""
    raw: object = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [Problem("", "the file must be a YAML mapping (key: value)")])
    try:
        return CloudSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), problems_from(exc)) from None


__all__ = [
    "GRADES",
    "CloudSettings",
    "ConsumerSection",
    "NatsSection",
    "PostgresSection",
    "RatingsProfile",
    "SeriesSection",
    "StreamSection",
    "load_settings",
]
