"""The gateway's configuration: one YAML file, validated strictly at start-up, overridable by CLI flags.

Every section is a pydantic model with `extra="forbid"`, so a misspelt key is an error, and `load_config` reports
every problem with its field path before anything starts. Secrets (the MQTT password) come from a file or the
environment, never from the YAML itself.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cloud_sync.bundle import DEFAULT_KEY_ID, DEFAULT_MAX_STEP, KEY_ID, MAX_VERSION
from cloud_sync.delivery import EVERY_HALL, read_keys
from devices.broker_address import BrokerAddress
from devices.errors import ConfigError, Problem
from devices.mapping import VendorMapping
from devices.topics import DeviceType
from devices.validation import problems_from, read_yaml
from edge.auth import Account, Role, User
from edge.passwords import valid_hash
from rules.hall import (
    DeviceProfile,
    EntityCaps,
    HallProfile,
    ServiceProfile,
    StaffProfile,
    WindowProfile,
    ZoneProfile,
)
from rules.language import Role as NotifyRole
from rules.language import Severity
from rules.schedule import Span, staffed

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _one_line(v: str) -> str:
    bad = _UNPRINTABLE.search(v)
    if bad is not None:
        raise ValueError(f"a display name is one line of text: character U+{ord(bad.group()):04X} is not")
    return v


# A display name shown in place of an id (a wall tile, a window card, a report's row, a robot's line): trimmed, one
# line, 1–120 characters (an English window name runs long: "Talent and personnel / employment and
# entrepreneurship window 1"). HTML and a leading `=` are text (the pages set text, the CSV quotes a formula).
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), AfterValidator(_one_line)
]
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HallSection(_Section):
    id: Ident | None = Field(default=None, description="hall id, as in the MQTT topics (hall/<id>/…)")
    name: str | None = Field(default=None, description="display name (中文)")
    name_en: str | None = Field(default=None, description="display name in English")
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone; API times are given in it")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class MqttSection(_Section):
    url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt://host:port (mqtts:// for TLS)")
    client_id: str | None = Field(
        default=None, description="fixed id for the persistent session; default hallops-<hall>"
    )
    username: str | None = Field(default=None, description="the gateway's MQTT user, if the broker requires one")
    password_file: Path | None = Field(
        default=None, description="file holding the password (or env HALLOPS_MQTT_PASSWORD)"
    )
    tls_ca: Path | None = Field(
        default=None,
        description="CA file (PEM) the broker's certificate is checked against, e.g. the hall's own CA; implies TLS "
        "(default: the system's CAs for mqtts://)",
    )
    tls_cert: Path | None = Field(
        default=None,
        description="the gateway's client certificate (PEM), for a TLS listener that asks for one "
        "(`hallops certs device gateway <user>`); implies TLS",
    )
    tls_key: Path | None = Field(default=None, description="its private key (PEM), unless it is in tls_cert's file")
    keepalive_s: PositiveInt = Field(
        default=30, description="MQTT keep-alive; the broker notices a dead gateway in 1.5×"
    )
    reconnect_min_s: PositiveFloat = Field(default=0.5, description="first retry after the broker is lost")
    reconnect_max_s: PositiveFloat = Field(default=30.0, description="retries back off (doubling) up to this")

    @field_validator("url")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        BrokerAddress.parse(v)
        return v

    @field_validator("tls_ca")
    @classmethod
    def _ca_file(cls, v: Path | None) -> Path | None:
        if v is not None:
            BrokerAddress.parse("mqtts://127.0.0.1", v).tls_context()  # ValueError in plain words if unusable
        return v

    @model_validator(mode="after")
    def _client_certificate(self) -> MqttSection:
        if self.tls_cert is not None or self.tls_key is not None:
            # ValueError in plain words: a key without its certificate, a file missing, a key that does not match
            BrokerAddress.parse("mqtts://127.0.0.1", None, self.tls_cert, self.tls_key).tls_context()
        return self

    @property
    def address(self) -> BrokerAddress:
        """The broker's host, port and TLS (checked against `tls_ca`, if given, else the system's CAs; with the
        gateway's own certificate, if given)."""
        return BrokerAddress.parse(self.url, self.tls_ca, self.tls_cert, self.tls_key)

    @property
    def host(self) -> str:
        return self.address.host

    @property
    def port(self) -> int:
        return self.address.port

    @property
    def tls(self) -> bool:
        return self.address.tls

    def password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return os.environ.get("HALLOPS_MQTT_PASSWORD")


MAX_DAYS = 36_500  # storage.*_days at most: a hundred years (edge/retention.py clamps to it too)
MAX_MB = 100_000_000  # storage.*_mb at most: 100 TB


class StorageSection(_Section):
    path: Path = Field(default=Path("hallops.db"), description="the SQLite file: event log, state, dead letters")
    retention_days: PositiveInt = Field(
        default=90,
        le=MAX_DAYS,
        description="event-log rows older than this are deleted (hourly, in small batches; the disk budget may "
        "shorten it, said in the log and /api/health)",
    )
    alert_history_days: PositiveInt = Field(
        default=365, le=MAX_DAYS, description="alert changes (the alert history) older than this are deleted"
    )
    outbox_days: PositiveInt = Field(
        default=30,
        le=MAX_DAYS,
        description="notifications sent (or given up) longer ago than this are deleted; one still to be delivered "
        "never is",
    )
    records_days: PositiveInt = Field(
        default=365,
        le=MAX_DAYS,
        description="closed tickets and decided tidal recommendations last changed longer ago than this are "
        "deleted; a ticket that is not closed never is",
    )
    dead_letter_limit: PositiveInt = Field(default=10_000, description="rejected messages kept for inspection")
    disk_budget_mb: float = Field(
        default=32_768,
        ge=16,
        le=MAX_MB,
        allow_inf_nan=False,
        description="disk the database (the file of `path`, its -wal and -shm) may use: a warning at 80 % and 95 %, "
        "and beyond it the oldest events are deleted until it is under 90 % (never open tickets, what waits for the "
        "cloud, or the audit chain). Backups and other files beside it are reported apart, not counted: no event "
        "is deleted for them (leave room for them on the disk, docs/deploy.md)",
    )
    disk_free_min_mb: PositiveFloat = Field(
        default=1024,
        le=MAX_MB,
        allow_inf_nan=False,
        description="a warning when the filesystem of the data directory has less free space than this",
    )
    vacuum_at_start_mb: NonNegativeFloat = Field(
        default=256,
        le=MAX_MB,
        allow_inf_nan=False,
        description="a file of an earlier release (no incremental vacuum) up to this size is rewritten once at start "
        "so that it can give space back (a larger one: `hallops db vacuum` with the gateway stopped); 0: never",
    )
    snapshot_every_s: PositiveFloat = Field(
        default=300.0,
        description="how often the hall state is saved (a restart replays the events logged since: 5 minutes of a "
        "city hall is well under a second)",
    )
    commit_every_s: PositiveFloat = Field(
        default=10.0,
        description="ingest commits at most this often (and after 2,000 messages); what it has not committed it has "
        "not acknowledged either, so a crash loses nothing — fewer, larger commits spare the box's flash",
    )
    backups_dir: Path | None = Field(
        default=None,
        description="where `hallops backup` writes and the gateway keeps its pre-upgrade backups (docs/backup.md); "
        "default: backups/ beside path",
    )

    def backups(self) -> Path:
        """The folder of the hall's backups."""
        return self.backups_dir if self.backups_dir is not None else self.path.parent / "backups"


class HttpSection(_Section):
    host: str = Field(default="127.0.0.1", description="address of the API and page; 0.0.0.0 for the whole LAN")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(default=8080, description="0 picks a free port")
    session_hours: PositiveFloat = Field(default=12, description="a web sign-in lasts this long (one working day)")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed; none by "
        "default: the caller is the address that connected",
    )
    max_body_bytes: PositiveInt = Field(
        default=1024 * 1024, description="a request body larger than this is refused (413) before it is read"
    )
    max_connections: PositiveInt = Field(
        default=256,
        description="open HTTP connections at most (the box keeps its files; at most half the process's open-file "
        "limit): at the limit a new one replaces the longest idle one, or is closed at once when all are busy",
    )
    max_connections_per_client: PositiveInt = Field(
        default=32, description="open HTTP connections from one address at most (a browser opens about 6)"
    )
    header_timeout_s: PositiveFloat = Field(
        default=10.0, description="a connection that has not sent a whole request head within this is closed"
    )
    body_timeout_s: PositiveFloat = Field(
        default=30.0,
        description="a request body must arrive whole within this of its head (else 408 and the connection closed): "
        "1 MiB takes under a second on a hall's LAN",
    )
    streams_per_user: PositiveInt = Field(
        default=4, description="live streams (open pages) one signed-in user may hold at once"
    )
    max_streams: PositiveInt = Field(default=64, description="live streams the gateway serves at once")
    slow_request_s: PositiveFloat = Field(
        default=30.0,
        description="time limit of slow requests done off the event loop (a past day's report, a rule check); "
        "past it the answer is 503",
    )
    api_docs: bool = Field(
        default=True,
        description="serve the API documentation at /docs (from the package, for signed-in users); false hides "
        "/docs and /openapi.json",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (10.0.0.5, 10.0.0.0/24)") from None
        return v


class IngestSection(_Section):
    max_payload_bytes: PositiveInt = Field(default=64 * 1024, description="larger messages are rejected (too_large)")
    plausible_past_s: PositiveFloat = Field(
        default=2 * 86400.0,
        description="a message dated more than this before the gateway's clock is rejected (implausible_time); "
        "long enough for a device to replay what it queued through a day's outage",
    )
    plausible_future_s: PositiveFloat = Field(
        default=3600.0,
        description="a message dated more than this after the gateway's clock is rejected (implausible_time): "
        "only a wrong device clock is ahead, and within the hour the rolling-hour statistics stay true",
    )
    max_windows: PositiveInt = Field(
        default=500, description="windows the hall learns from messages at most, when windows: lists none (entity_cap)"
    )
    max_services: PositiveInt = Field(
        default=500, description="services the hall learns from messages at most, when services: lists none"
    )
    max_zones: PositiveInt = Field(
        default=200, description="camera zones the hall learns from messages at most (zones are never configured)"
    )
    max_devices: PositiveInt = Field(
        default=2000, description="devices the hall keeps at most, configured ones included (entity_cap)"
    )
    max_msgs_per_s_per_device: PositiveFloat = Field(
        default=50.0,
        description="messages a second one device may send, on average; beyond it they are refused (rate_limited). "
        "A camera sends 1-2, a window terminal a few a minute",
    )
    burst_per_device: PositiveInt = Field(
        default=10000,
        description="messages one device may send at once above its rate: a ticket machine replaying the queue it "
        "kept through an outage (a busy machine issues 1,000-2,000 tickets a day)",
    )
    stale_after_s: PositiveFloat = Field(
        default=60.0,
        description="while the hall is open (the rules' hall_day), the web UI says its figures are stale after this "
        "long without a message from any device: two missed heartbeats of every device at the contract's 30 s",
    )


class ClockSection(_Section):
    mode: Literal["system", "device"] = Field(
        default="system",
        description="system: the box's clock; device: follow the devices' timestamps (simulations, replays)",
    )
    speed: PositiveFloat = Field(default=1.0, description="with mode=device: hall seconds per wall second")
    max_lead_s: PositiveFloat = Field(
        default=20.0,
        description="with mode=device: how far (hall seconds) the clock may run past the newest message; "
        "a lagging source then stalls the clock instead of making every device look silent",
    )


class BundleKey(_Section):
    id: Annotated[str, Field(pattern=KEY_ID.pattern)] = Field(
        description="the key's id, as `hallops rules keygen --id` made it and `hallops rules sign --key-id` names it"
    )
    key: Path = Field(description="its public key file (<id>.pub from `hallops rules keygen`)")
    not_after: date | None = Field(
        default=None, description="the last day (hall time) bundles signed with it are taken; none: until removed"
    )


class RulesSection(_Section):
    file: Path | None = Field(default=None, description="a rule YAML (docs/rules.md); default: the built-in pack")
    backtest_limit_s: PositiveFloat = Field(
        default=300.0,
        description="a backtest asked for over the API stops after this long and answers 503 (one runs at a time); "
        "`hallops rules backtest` has no limit",
    )
    bundle_public_key: Path | None = Field(
        default=None,
        description="the trusted key (bundle.pub) of signed rule bundles, with the key id 'default'; set (or "
        "bundle_keys), the gateway also takes bundles from cloud/halls/<hall>/rules/bundle and "
        "cloud/halls/all/rules/bundle on its broker (docs/bundles.md)",
    )
    bundle_keys: list[BundleKey] = Field(
        default_factory=list,
        description="trusted keys of signed rule bundles, by id, beside bundle_public_key; to rotate, add the new "
        "key, sign with it, then remove the old one or let its not_after pass (docs/bundles.md)",
    )
    bundle_max_version_step: Annotated[int, Field(ge=1, le=MAX_VERSION)] = Field(
        default=DEFAULT_MAX_STEP,
        description="a bundle's version may exceed the one taken last by at most this; a bigger jump is refused "
        "(one wrong number must not block every later bundle)",
    )


MIN_SECRET_CHARS = 16


def read_secret(path: Path) -> bytes:
    """The secret in a file that only its owner may read or change (mode 0600 or stricter), without surrounding white
    space. ValueError in plain words otherwise: a secret that others on the box can read is not the endpoint's alone,
    and one they can change signs what they like."""
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            secret = f.read(4096).strip()
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ValueError(f"{path} is open to others than its owner (mode {mode:o}); chmod 600 {path}")
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"{path} holds under {MIN_SECRET_CHARS} characters; write one with `openssl rand -hex 32`")
    return secret


_PHONE = re.compile(r"\+?[0-9]{5,15}")


def read_phones(path: Path) -> tuple[str, ...]:
    """The phone numbers in a file, one a line (`#` starts a comment; spaces and dashes inside a number are dropped).
    ValueError in plain words if the file is open to others on the box (the numbers are staff's personal data), holds
    a line that is not a number (told by its line number: the line itself stays out of the log) or no number at
    all."""
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            text = f.read(65536).decode("utf-8")
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    if mode & 0o007:
        raise ValueError(f"{path} is open to others (mode {mode:o}); chmod 640 {path}")
    phones: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        number = line.split("#", 1)[0].replace(" ", "").replace("-", "")
        if not number:
            continue
        if not _PHONE.fullmatch(number):
            raise ValueError(f"{path} line {n} is not a phone number (digits, optionally a leading +)")
        phones.append(number)
    if not phones:
        raise ValueError(f"{path} holds no phone number")
    return tuple(phones)


def read_url(path: Path) -> str:
    """The http(s) address in a private file (mode 0600): a group robot's address is its credential (WeCom's `key=`,
    DingTalk's `access_token=`, Feishu's hook id), so it is kept out of the YAML like any secret."""
    url = read_secret(path).decode("utf-8", "replace")
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{path} does not hold an http(s) URL")
    return url


NotifyFormat = Literal["json", "wecom", "dingtalk", "feishu", "sms"]
ROBOTS = ("wecom", "dingtalk", "feishu")


class Webhook(_Section):
    url: str | None = Field(default=None, description="where each notification is POSTed (http or https)")
    url_file: Path | None = Field(
        default=None,
        description="instead of url: a file (mode 0600) holding the address, for a group robot whose address is its "
        "credential (docs/deploy.md, Phones and group robots)",
    )
    format: NotifyFormat = Field(
        default="json",
        description="json: the notification as the API shows it; wecom, dingtalk, feishu: a message to the group "
        "robot of WeCom (企业微信), DingTalk (钉钉) or Feishu/Lark (飞书) in its documented body; sms: a request "
        "to an SMS gateway (numbers from phones_file, an Idempotency-Key header)",
    )
    secret_file: Path | None = Field(
        default=None,
        description="file (mode 0600) holding a signing secret, 16 characters or more. json and sms: this endpoint's "
        "own, each POST then carries X-Hallops-Timestamp and X-Hallops-Signature (docs/deploy.md, Webhooks); without "
        "it the POSTs are unsigned and the gateway says so at start. dingtalk, feishu: the robot's own secret "
        "(DingTalk 加签: the SEC… line; Feishu 签名校验); wecom robots have none",
    )
    phones_file: Path | None = Field(
        default=None,
        description="sms only, and required there unless roles is [citizen]: a file (not open to others) of the phone "
        "numbers to text, one a line, so that no number is in the YAML; read at each send",
    )
    roles: list[NotifyRole] = Field(
        default_factory=list,
        description="only notifications for one of these roles (the rules' `to:`, e.g. [technician] for the "
        "technicians' group); empty: all",
    )
    severity: list[Severity] = Field(
        default_factory=list,
        description="only alerts of these severities and tickets of the matching priority (critical = P1, major = P2, "
        "warning = P3); recommendations have none and pass; empty: all",
    )

    @property
    def target(self) -> str:
        """What the outbox rows name this endpoint by: its URL, or the file holding it (so the address is in no row)."""
        return self.url if self.url is not None else str(self.url_file)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @field_validator("url_file")
    @classmethod
    def _private_url(cls, v: Path | None) -> Path | None:
        if v is not None:
            read_url(v)
        return v

    @field_validator("secret_file")
    @classmethod
    def _private_secret(cls, v: Path | None) -> Path | None:
        if v is not None:
            read_secret(v)  # refused at start, with the field path, rather than at the first notification
        return v

    @field_validator("phones_file")
    @classmethod
    def _phones(cls, v: Path | None) -> Path | None:
        if v is not None:
            read_phones(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Webhook:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("give either url or url_file")
        if self.format == "wecom" and self.secret_file is not None:
            raise ValueError("a WeCom robot signs nothing (its key is in its address): drop secret_file, use url_file")
        if self.phones_file is not None and self.format != "sms":
            raise ValueError("phones_file goes with format: sms")
        if self.format == "sms" and self.phones_file is None and set(self.roles) != {"citizen"}:
            raise ValueError(
                "an sms endpoint needs phones_file (the staff numbers to text); only one that serves just the "
                "citizen re-call (roles: [citizen]) goes without: the SMS gateway knows the citizen's number"
            )
        return self


class NotifySection(_Section):
    topic: str = Field(
        default="hallops/{hall}",
        description="MQTT topic prefix for notifications (QoS 1): <prefix>/alerts, /tickets, /recommendations, "
        "/breaks (lunch breaks due or held back), /guides (the mobile post: proposed, posted, back)",
    )
    webhooks: list[Webhook] = Field(
        default_factory=list,
        description="endpoints that receive every notification as a JSON POST, with retries: each a URL (unsigned) "
        "or {url, secret_file} (signed with HMAC-SHA256; docs/deploy.md, Webhooks); with `format:` a WeCom, "
        "DingTalk or Feishu group robot or an SMS gateway (docs/deploy.md, Phones and group robots)",
    )

    @field_validator("webhooks", mode="before")
    @classmethod
    def _bare_urls(cls, v: object) -> object:
        # a bare URL, the form of earlier releases, is an endpoint without a secret
        return [{"url": item} if isinstance(item, str) else item for item in v] if isinstance(v, list) else v

    @field_validator("webhooks")
    @classmethod
    def _one_secret_per_url(cls, v: list[Webhook]) -> list[Webhook]:
        targets = [w.target for w in v]
        for target in targets:
            if targets.count(target) > 1:
                raise ValueError(f"{target!r} is listed twice (the sender finds an endpoint's settings by it)")
        return v


class TidalSection(_Section):
    target_wait_min: PositiveFloat = Field(default=15, description="the wait a tidal window must keep a queue under")
    service_level: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.8, description="share of tickets called within the target wait"
    )
    patience_min: PositiveFloat | None = Field(
        default=None, description="mean patience; set it to model people leaving (Erlang A)"
    )
    staff_pool: list[Ident] = Field(default_factory=list, description="staff ids who can be called to a tidal window")
    auto_approve: bool = Field(default=False, description="open recommended windows without waiting for the manager")
    check_after_min: PositiveFloat = Field(
        default=10, description="after opening, the projected wait must fall within this; else escalate"
    )
    appointment_boost_min: Annotated[float, Field(ge=0, le=120)] = Field(
        default=10,
        description="how many minutes of waiting the queue system calls an appointment (预约) ahead of the walk-ins; "
        "the sizing counts the bookings the qms publishes (appointment.booked) with that head start, so the "
        "walk-ins' waits stay within the target too",
    )
    lunch: str = Field(
        default="11:00-14:00",
        description="the period the staff's lunch breaks (staff.<id>.lunch_min) are planned in: each starts and "
        "ends within it; a break is held back 15 min (at most twice) while its window's queue is long",
    )

    @field_validator("lunch")
    @classmethod
    def _lunch_span(cls, v: str) -> str:
        try:
            span = Span.parse(v)
        except ValueError:
            span = None
        if span is None or span.end is None:
            raise ValueError(f"{v!r} must be HH:MM-HH:MM within one day (by 23:59), the start before the end")
        return v

    def lunch_span(self) -> tuple[time, time]:
        span = Span.parse(self.lunch)
        assert span.end is not None
        return span.start, span.end


class CommandsSection(_Section):
    ack_waits_s: list[PositiveFloat] = Field(
        default_factory=lambda: [10.0, 20.0, 40.0],
        min_length=1,
        max_length=10,
        description="seconds a device has to acknowledge a command after each send (real seconds, also with a "
        "sped-up device clock): it is sent again after each wait but the last, and after the last it is "
        "unacknowledged (an alert, docs/contract.md)",
    )


class AuditSection(_Section):
    anchor_key: Path | None = Field(
        default=None,
        description="the box's Ed25519 key that signs the audit chain's head, made (0600) at the first start if "
        "missing; `hallops audit pubkey` prints its public half for whoever checks the anchors. Default: "
        "<database>-audit.key beside storage.path",
    )
    anchor_every_s: PositiveFloat = Field(
        default=300.0, description="how often the head is signed and published, when the chain has grown since"
    )
    anchor_file: Path | None = Field(
        default=None,
        description="append each signed head to this file as a JSON line; make it append-only for the service "
        "user (docs/audit.md)",
    )
    anchor_syslog: bool = Field(default=False, description="also send each signed head to syslog, facility auth")
    anchor_syslog_address: str = Field(
        default="/dev/log", description="the syslog socket, or host:port for syslog over UDP"
    )
    anchor_mqtt: bool = Field(
        default=True,
        description="publish each signed head retained (QoS 1) on cloud/halls/<hall>/audit/head over the gateway's "
        "broker, for the cloud bridge to carry off the box",
    )

    @field_validator("anchor_syslog_address")
    @classmethod
    def _syslog_address(cls, v: str) -> str:
        if not v.startswith("/"):
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{v!r} is neither a socket path (/dev/log) nor host:port")
        return v


class CloudSection(_Section):
    """The uplink to the city/province tier (docs/sync.md); off while `url` is not set."""

    url: str | None = Field(
        default=None,
        description="the cloud engine's MQTT endpoint, mqtts://HOST:PORT (mqtt:// only on a trusted network); "
        "several nodes: one URL each in `urls`. Not set: nothing is kept for the cloud and nothing is sent",
    )
    urls: list[str] = Field(
        default_factory=list, description="more nodes of the same cluster, tried in turn after `url`"
    )
    client_id: str | None = Field(default=None, description="default hallops-uplink-<hall>")
    username: str | None = Field(default=None, description="the hall's user on the cloud engine (one per hall)")
    password_file: Path | None = Field(
        default=None, description="file holding its password (or env HALLOPS_CLOUD_PASSWORD)"
    )
    tls_ca: Path | None = Field(default=None, description="CA file (PEM) the engine's certificate is checked against")
    tls_cert: Path | None = Field(default=None, description="the hall's client certificate (PEM), if the engine asks")
    tls_key: Path | None = Field(default=None, description="its private key (PEM), unless it is in tls_cert's file")
    batch_records: PositiveInt = Field(default=200, le=5000, description="records in one message at most")
    max_records_per_s: PositiveFloat = Field(
        default=2000.0,
        description="the uplink's pace while it drains a backlog: fast enough to catch up many times faster than "
        "the hall produces, slow enough to leave the box and the link to live traffic",
    )
    in_flight: PositiveInt = Field(default=8, le=100, description="messages sent and not yet acknowledged, at most")
    resend_after_s: PositiveFloat = Field(
        default=60.0, description="what the cloud has not confirmed this long after it was sent is sent again"
    )
    status_every_s: PositiveFloat = Field(
        default=30.0, description="how often the hall's status goes to the fleet view"
    )
    telemetry_every_s: PositiveFloat = Field(
        default=60.0, ge=5.0, description="how often the hall is sampled for the time series (queues, windows, zones)"
    )
    budget_mb: PositiveFloat = Field(
        default=256.0,
        description="disk for what waits for the cloud: beyond it the oldest telemetry samples are dropped (and "
        "counted); alerts, tickets, ratings, audit entries, decisions, devices and hours never are",
    )
    keepalive_s: PositiveInt = Field(default=30, description="MQTT keep-alive with the engine")

    @field_validator("url")
    @classmethod
    def _engine_url(cls, v: str | None) -> str | None:
        if v is not None:
            BrokerAddress.parse(v)
        return v

    @field_validator("urls")
    @classmethod
    def _engine_urls(cls, v: list[str]) -> list[str]:
        for u in v:
            BrokerAddress.parse(u)
        return v

    @model_validator(mode="after")
    def _certificates(self) -> CloudSection:
        if self.urls and self.url is None:
            raise ValueError("`urls` lists more nodes: set `url` to the first")
        if self.url is not None and (self.tls_ca or self.tls_cert or self.tls_key):
            BrokerAddress.parse(self.url, self.tls_ca, self.tls_cert, self.tls_key).tls_context()
        return self

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def addresses(self) -> list[BrokerAddress]:
        urls = [self.url, *self.urls] if self.url else []
        return [BrokerAddress.parse(u, self.tls_ca, self.tls_cert, self.tls_key) for u in urls]

    def password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return os.environ.get("HALLOPS_CLOUD_PASSWORD")


class ServiceConfig(_Section):
    name: str | None = Field(default=None, description="display name, e.g. 社会保险")
    name_en: str | None = Field(default=None, description="display name in English")
    default_aht_min: PositiveFloat | None = Field(
        default=None, description="mean service time assumed until 5 completions have been seen"
    )
    service_item: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the province's item code (事项编码) of this service: sent with its 好差评 ratings to the cloud",
    )


class WindowConfig(_Section):
    name: str | None = Field(default=None, description="display name, e.g. 1号窗")
    name_en: DisplayName | None = Field(default=None, description="display name in English, e.g. Window 1")
    services: list[Ident] = Field(default_factory=list, description="services the window can serve")
    shifts: list[str] = Field(
        default_factory=list,
        max_length=24,
        description='staffed periods each day the hall works (its rules\' hall_day), e.g. ["12:00-13:30", '
        '"17:30-19:00"] for a lunch and evening window (延时服务): not open 5 min into one is the built-in '
        "window-not-open-on-time alert",
    )

    def shift_spans(self) -> tuple[tuple[time, time], ...]:
        out = []
        for s in self.shifts:
            span = Span.parse(s)
            assert span.end is not None  # checked by _shift_format
            out.append((span.start, span.end))
        return tuple(sorted(out))

    @field_validator("shifts")
    @classmethod
    def _shift_format(cls, v: list[str]) -> list[str]:
        for s in v:
            try:
                span = Span.parse(s)
            except ValueError:
                span = None
            if span is None or span.end is None:  # a shift ends by 23:59, unlike an opening span's 24:00
                raise ValueError(f"shift {s!r} must be HH:MM-HH:MM within one day (by 23:59), the start before the end")
        return v


class DeviceConfig(_Section):
    type: DeviceType = Field(description="the device type, as in its topics")
    name: str | None = Field(default=None, description="display name, e.g. 取号机 1")
    location: str | None = Field(default=None, description="location code (精准定位编号), e.g. 1F-A-03")
    windows: Annotated[list[Ident], Field(min_length=1)] | None = Field(
        default=None,
        description="evaluator only: the windows it rates (others are out_of_scope); "
        "unset: the first window it rates that no other pad rates",
    )
    zones: list[Ident] | None = Field(
        default=None,
        description="camera only: the zones it counts (others are out_of_scope); "
        "unset: those no other camera lists or reported first",
    )
    seats: list[Ident] | None = Field(
        default=None,
        description="camera only: the windows whose staff seat it watches (others are out_of_scope); "
        "unset: as for zones",
    )


class ZoneConfig(_Section):
    name: DisplayName = Field(description="display name, e.g. 等候区A (what the wall shows instead of the id)")
    name_en: DisplayName | None = Field(default=None, description="display name in English, e.g. Waiting area A")


class StaffConfig(_Section):
    name: DisplayName = Field(description="display name, e.g. 王芳 (staff views and reports; never the wall)")
    name_en: DisplayName | None = Field(default=None, description="display name in English, e.g. Wang Fang")
    post: Ident | None = Field(default=None, description="their own window (A post); its services are theirs to serve")
    skills: list[Ident] = Field(
        default_factory=list,
        max_length=200,
        description="services they can serve besides their post's (跨岗技能): the tidal recommender may send them to "
        "any window for these, or ask their window to help with them",
    )
    partner: Ident | None = Field(default=None, description="their AB partner's staff id (AB岗互补): covers them")
    lunch_min: int | None = Field(
        default=None,
        ge=15,
        le=180,
        description="their lunch break in minutes (午休): with a post, hallops plans when they take it so that the "
        "hall's breaks do not collide (错峰午休, within tidal.lunch), a day ahead, and keeps the plan live; none: "
        "not planned (they work through lunch, or the hall closes)",
    )
    kind: Literal["window", "comprehensive", "approver", "mobile"] = Field(
        default="window",
        description="window: at a window of their own; comprehensive: 综合窗口; approver: 后台审批 (back office), "
        "mobile: 流动岗 (a guide) — approvers and mobile posts may be called to a tidal window",
    )


class UserConfig(_Section):
    role: Literal["manager", "technician", "administrator"] = Field(description="what the user may do")
    password_hash: str = Field(description="an Argon2 hash from `hallops users hash` (never the password itself)")
    name: str | None = Field(default=None, description="display name, e.g. 王主任")

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, v: str) -> str:
        if not valid_hash(v):
            raise ValueError("must be an Argon2 hash ($argon2id$…); make one with `hallops users hash`")
        return v


class GatewayConfig(_Section):
    hall: HallSection = HallSection()
    mqtt: MqttSection = MqttSection()
    storage: StorageSection = StorageSection()
    http: HttpSection = HttpSection()
    ingest: IngestSection = IngestSection()
    clock: ClockSection = ClockSection()
    rules: RulesSection = RulesSection()
    notify: NotifySection = NotifySection()
    tidal: TidalSection = TidalSection()
    commands: CommandsSection = CommandsSection()
    audit: AuditSection = AuditSection()
    cloud: CloudSection = CloudSection()
    default_aht_min: PositiveFloat = Field(
        default=10.0, description="mean service time of a service not yet learned and not configured"
    )
    services: dict[Ident, ServiceConfig] = Field(default_factory=dict, description="services by code (事项/业务类型)")
    windows: dict[Ident, WindowConfig] = Field(default_factory=dict, description="windows by id (= terminal device id)")
    devices: dict[Ident, DeviceConfig] = Field(
        default_factory=dict, description="devices by id: names, locations, what each may change (device scope)"
    )
    zones: dict[Ident, ZoneConfig] = Field(
        default_factory=dict,
        description="camera zones by id (as the cameras report them): their display names; a zone without one is "
        "named from its id where it follows the usual pattern (wait-a: 等候区A), else by 区域 and its id for the "
        "staff and 部分区域 (one area) on the wall",
    )
    staff: dict[Ident, StaffConfig] = Field(
        default_factory=dict,
        description="the staff roster by staff id (as the window terminals report it): display names for the window "
        "tiles and the per-staff report (before a user's display name whose user name is the staff id); never the wall",
    )
    vendor_mappings: list[VendorMapping] = Field(
        default_factory=list, description="field mappings for vendor devices (docs/contract.md)"
    )
    users: dict[Ident, UserConfig] = Field(
        default_factory=dict,
        description="who may sign in to the web UI and API; none: open to this machine only (loopback)",
    )

    def accounts(self) -> dict[str, Account]:
        """The `users:` section as accounts to sign in with."""
        return {name: Account(User(name, Role(u.role), u.name), u.password_hash) for name, u in self.users.items()}

    def profile(self) -> HallProfile:
        assert self.hall.id is not None
        return HallProfile(
            hall_id=self.hall.id,
            timezone=self.hall.timezone,
            name=self.hall.name,
            name_en=self.hall.name_en,
            default_aht_s=self.default_aht_min * 60,
            services=tuple(
                ServiceProfile(code, s.name, s.name_en, s.default_aht_min * 60 if s.default_aht_min else None)
                for code, s in self.services.items()
            ),
            windows=tuple(
                WindowProfile(wid, w.name, tuple(w.services), w.name_en, w.shift_spans())
                for wid, w in self.windows.items()
            ),
            devices=tuple(
                DeviceProfile(
                    did,
                    d.type,
                    d.name,
                    d.location,
                    windows=_ids(d.windows),
                    zones=_ids(d.zones),
                    seats=_ids(d.seats),
                )
                for did, d in self.devices.items()
            ),
            caps=EntityCaps(
                windows=self.ingest.max_windows,
                services=self.ingest.max_services,
                zones=self.ingest.max_zones,
                devices=self.ingest.max_devices,
            ),
            zones=tuple(ZoneProfile(zid, z.name, z.name_en) for zid, z in self.zones.items()),
            staff=tuple(StaffProfile(sid, p.name, p.name_en) for sid, p in self.staff.items()),
        )


def _cross_check_staff(cfg: GatewayConfig) -> list[Problem]:
    problems = []
    for sid, person in cfg.staff.items():
        if person.post is not None and cfg.windows and person.post not in cfg.windows:
            problems.append(Problem(f"staff.{sid}.post", f"{person.post!r} is not a configured window"))
        if person.partner is not None and (person.partner == sid or person.partner not in cfg.staff):
            problems.append(Problem(f"staff.{sid}.partner", f"{person.partner!r} is not another person of the roster"))
        for i, code in enumerate(person.skills):
            if cfg.services and code not in cfg.services:
                problems.append(Problem(f"staff.{sid}.skills[{i}]", f"{code!r} is not a configured service"))
    return problems + _cross_check_lunches(cfg)


def _cross_check_lunches(cfg: GatewayConfig) -> list[Problem]:
    """A planned lunch needs a post (the window that pauses), one per window, and must fit tidal.lunch."""
    problems = []
    start, end = cfg.tidal.lunch_span()
    period = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    lunching: dict[str, str] = {}
    for sid, person in cfg.staff.items():
        if person.lunch_min is None:
            continue
        where = f"staff.{sid}.lunch_min"
        if person.post is None:
            problems.append(Problem(where, "a planned lunch needs a post (staff.<id>.post): the window that pauses"))
        elif person.post in lunching:
            other = lunching[person.post]
            problems.append(Problem(where, f"{person.post} is also {other}'s post, with a planned lunch"))
        else:
            lunching[person.post] = sid
        if person.lunch_min > period:
            problems.append(Problem(where, f"{person.lunch_min} min does not fit tidal.lunch ({cfg.tidal.lunch})"))
        window = cfg.windows.get(person.post) if person.post else None
        if window is not None and window.shifts and not staffed(window.shift_spans(), start, end):
            shifts = ", ".join(window.shifts)
            problems.append(
                Problem(where, f"{person.post}'s shifts ({shifts}) do not cover tidal.lunch ({cfg.tidal.lunch})")
            )
    return problems


def _cross_check(cfg: GatewayConfig) -> list[Problem]:
    problems = _cross_check_staff(cfg)
    if cfg.hall.id is None:
        problems.append(Problem("hall.id", "required (in the file or with --hall)"))
    if cfg.services:
        for wid, w in cfg.windows.items():
            for i, code in enumerate(w.services):
                if code not in cfg.services:
                    problems.append(Problem(f"windows.{wid}.services[{i}]", f"unknown service {code!r}"))
    for did, d in cfg.devices.items():
        if d.type is DeviceType.WINDOW and cfg.windows and did not in cfg.windows:
            problems.append(Problem(f"devices.{did}", "a window terminal's id must be one of the windows"))
        problems += _scope_problems(cfg, did, d)
    if cfg.rules.file is not None and not cfg.rules.file.exists():
        problems.append(Problem("rules.file", f"no such file: {cfg.rules.file}"))
    if bundle_key_files(cfg.rules):
        problems += _bundle_key_problems(cfg)
    return problems


def unreadable_secrets(cfg: GatewayConfig) -> list[Problem]:
    """The files a starting gateway reads that it cannot (missing, a folder, not its user's to read), with their field
    paths: said at start (exit 2) instead of by an ingest task dying at every restart. Not part of loading a
    configuration: `hallops setup` checks a file before it writes the password; `hallops backup` works without it."""
    problems = []
    if cfg.mqtt.password_file is not None:
        try:
            cfg.mqtt.password()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(Problem("mqtt.password_file", f"cannot read {cfg.mqtt.password_file}: {why}"))
    return problems


# what a device's configuration may bind it to (rules.hall.scope), by key: the one type that has it, and what for
_SCOPE_KEYS = {
    "windows": (DeviceType.EVALUATOR, "only an evaluator (rating pad) is bound to windows"),
    "zones": (DeviceType.CAMERA, "only a camera is bound to zones"),
    "seats": (DeviceType.CAMERA, "only a camera is bound to staff seats"),
}


def _scope_problems(cfg: GatewayConfig, did: str, d: DeviceConfig) -> list[Problem]:
    problems = []
    for key, (kind, only) in _SCOPE_KEYS.items():
        ids: list[str] | None = getattr(d, key)
        if ids is None:
            continue
        if d.type is not kind:
            problems.append(Problem(f"devices.{did}.{key}", f"{only} ({did!r} is of type {d.type.value})"))
        elif key != "zones" and cfg.windows:
            for i, wid in enumerate(ids):
                if wid not in cfg.windows:
                    problems.append(Problem(f"devices.{did}.{key}[{i}]", f"unknown window {wid!r}"))
    return problems


def _ids(ids: list[str] | None) -> tuple[str, ...] | None:
    return None if ids is None else tuple(ids)


def bundle_key_files(rules: RulesSection) -> list[tuple[str, Path, date | None]]:
    """Every trusted key of rule bundles as (id, public key file, last day trusted): `bundle_public_key` is the key
    'default', then `bundle_keys`."""
    default = [] if rules.bundle_public_key is None else [(DEFAULT_KEY_ID, rules.bundle_public_key, None)]
    return default + [(k.id, k.key, k.not_after) for k in rules.bundle_keys]


def _bundle_key_problems(cfg: GatewayConfig) -> list[Problem]:
    problems = []
    paths = [] if cfg.rules.bundle_public_key is None else ["rules.bundle_public_key"]
    paths += [f"rules.bundle_keys[{i}]" for i in range(len(cfg.rules.bundle_keys))]
    seen: set[str] = set()
    for path, (key_id, file, not_after) in zip(paths, bundle_key_files(cfg.rules), strict=True):
        if key_id in seen:
            what = "rules.bundle_public_key" if key_id == DEFAULT_KEY_ID else "another entry"
            problems.append(Problem(f"{path}.id", f"key id {key_id!r} is used twice (also by {what})"))
        seen.add(key_id)
        try:
            read_keys([(key_id, file, not_after)])
        except ValueError as exc:
            problems.append(Problem(path if path == "rules.bundle_public_key" else f"{path}.key", str(exc)))
    if cfg.hall.id == EVERY_HALL:
        problems.append(
            Problem(
                "hall.id",
                f"{EVERY_HALL!r} is the topic of the bundles for every hall; choose another id to take rule bundles",
            )
        )
    return problems


def exposure(cfg: GatewayConfig, has_users: bool) -> list[Problem]:
    """An API without users is open to anyone who reaches it: allowed on loopback only. `has_users` counts the
    database's users too (`hallops users add`), which the configuration file alone cannot see."""
    if has_users or cfg.http.host in LOOPBACK:
        return []
    return [
        Problem(
            "users",
            f"required when the API listens on {cfg.http.host} (without users it is open to anyone): "
            f"hallops users add NAME --role administrator --db {cfg.storage.path}",
        )
    ]


def load_config(path: Path | None, overrides: dict[str, dict[str, object]] | None = None) -> GatewayConfig:
    """Read, merge the flag overrides into, and validate the configuration. Raises ConfigError with every problem."""
    source = str(path) if path else "command-line flags"
    raw: object = read_yaml(path) if path else {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [Problem("", "the file must be a YAML mapping (key: value)")])
    for section, values in (overrides or {}).items():
        merged = dict(raw.get(section) or {})
        merged.update({k: v for k, v in values.items() if v is not None})
        raw[section] = merged
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, problems_from(exc)) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg
