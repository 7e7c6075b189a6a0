"""The audit chain's anchor: its head (hall, rows, last hash, time) signed with the box's Ed25519 key and copied off
the database — to an append-only file, to syslog, to the cloud over the gateway's MQTT link.

edge/audit.py finds an edited or deleted row; it cannot find a chain rewritten from the altered row onwards together
with the head in meta, because everything it checks is in the same file. A head published earlier can: the row it
names must still be there with the hash it had. An anchor is one JSON line, the same on every destination:

    {"at": "2026-11-23T02:05:00+00:00", "count": 42, "format": "hallops-audit-head/1", "hall": "county-01",
     "head": "<sha256 of row 42>", "key": "<key id>", "signature": "<base64 Ed25519 over the rest>"}

`key` is the id of the signing key (the first 16 hex digits of the SHA-256 of its public half), so that anchors made
before a key rotation still verify with the old public key. The signature shows who published a line; what defeats
someone who holds the box's key (root) is that the lines already published elsewhere cannot be taken back.

Owns the anchor's format, the key file, the check of anchors against the chain, the destinations (`FileSink`,
`SyslogSink`, `MqttSink`) and the periodic `AnchorPublisher`. It must not judge the chain itself (edge.audit.verify)
nor write to it (edge.store.audit).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud_sync.delivery import ROOT
from devices.errors import ConfigError, Problem
from edge.config import GatewayConfig
from edge.store.faults import describe
from edge.supervisor import Worker

log = logging.getLogger(__name__)

MARKER = "hallops-audit-head"  # in every anchor line: how one is found among a syslog file's other lines
FORMAT = f"{MARKER}/1"
RETRY_S = 5.0  # a head a destination did not take is tried again this often
PUBLISH_TIMEOUT_S = 10.0  # the broker's PUBACK for a head
TAIL_BYTES = 64 * 1024  # the newest anchor is looked for in this much of the end of the file (a line is ~300 bytes)


def head_topic(hall: str) -> str:
    """Where a hall's gateway publishes its signed audit head (retained), for the bridge to carry to the cloud."""
    return f"{ROOT}/{hall}/audit/head"


def default_key_path(db: Path) -> Path:
    """The anchor key beside the database when `audit.anchor_key` is not set: hallops.db → hallops-audit.key."""
    return db.with_name(f"{db.stem}-audit.key")


# -- keys -------------------------------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as the verifier's --pubkey file holds it: one line of base64 (as bundle.pub)."""
    return base64.b64encode(public.public_bytes_raw()).decode()


def read_public(text: str) -> Ed25519PublicKey:
    """A public key from `public_text`; ValueError in plain words otherwise."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except ValueError:  # binascii.Error is one
        raise ValueError("not an Ed25519 public key (from `hallops audit pubkey`: a line of base64)") from None


def create_key(path: Path) -> Ed25519PrivateKey:
    """A new key written to `path`, made 0600 before the secret is in it; FileExistsError if the file exists."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(base64.b64encode(key.private_bytes_raw()).decode() + "\n")
    return key


def read_key(path: Path) -> Ed25519PrivateKey:
    """The key in `path`; OSError if it cannot be read, ValueError in plain words if it is not a key."""
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise ValueError(f"{path} is not an audit anchor key (`hallops audit keygen` makes one)") from None


def key_for(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """(the key in `path`, True if it was made just now because the file was missing)."""
    try:
        return read_key(path), False
    except FileNotFoundError:
        return create_key(path), True


# -- the anchor -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anchor:
    hall: str
    count: int  # rows in the chain when it was signed
    head: str  # the hash of row `count`
    at: str  # ISO 8601, UTC: as signed (a datetime would not round-trip to the same bytes)
    key: str  # the signing key's id
    signature: str  # base64

    def body(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "hall": self.hall,
            "count": self.count,
            "head": self.head,
            "at": self.at,
            "key": self.key,
        }

    def line(self) -> str:
        return json.dumps(self.body() | {"signature": self.signature}, sort_keys=True, separators=(",", ":"))

    def when(self) -> str:
        """Its time on this machine's clock, for people."""
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(self.at).astimezone().isoformat(timespec="seconds")
        return self.at


def _signed_bytes(body: Mapping[str, object]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign_head(key: Ed25519PrivateKey, hall: str, count: int, head: str, at: datetime) -> Anchor:
    unsigned = Anchor(hall, count, head, at.astimezone(UTC).isoformat(timespec="seconds"), key_id(key.public_key()), "")
    signature = base64.b64encode(key.sign(_signed_bytes(unsigned.body()))).decode()
    return Anchor(hall, count, head, unsigned.at, unsigned.key, signature)


def parse(text: str) -> Anchor:
    """The anchor in a line: the JSON object from its first `{` (a syslog line has the host and program before it).
    ValueError if it is not one."""
    body = json.loads(text[text.index("{") :].rstrip("\0 \r\n"))  # (a syslog datagram ends in a NUL)
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} line")
    count = body.get("count")
    fields = [body.get(k) for k in ("hall", "head", "at", "key", "signature")]
    if not (isinstance(count, int) and not isinstance(count, bool) and count >= 1) or not all(
        isinstance(f, str) for f in fields
    ):
        raise ValueError("a field is missing or of the wrong type")
    hall, head, at, key, signature = (str(f) for f in fields)
    return Anchor(hall, count, head, at, key, signature)


# -- checking ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnchorFinding:
    line: int  # in the anchor file, from 1
    anchor: Anchor | None  # None: the line could not be read
    problem: str

    def __str__(self) -> str:
        if self.anchor is None:
            return f"anchor file line {self.line}: {self.problem}"
        a = self.anchor
        return f"anchor of {a.when()} (row {a.count}, hall {a.hall}, line {self.line}): {self.problem}"


def read_anchors(lines: Iterable[str]) -> tuple[list[tuple[int, Anchor]], list[AnchorFinding]]:
    """The anchors in a file's lines, numbered from 1, and the lines that mention the format but cannot be read.
    Other lines (a syslog file's other programs) are not anchors and are skipped."""
    anchors, unreadable = [], []
    for number, text in enumerate(lines, 1):
        if MARKER not in text:
            continue
        try:
            anchors.append((number, parse(text)))
        except (ValueError, RecursionError):  # (RecursionError: JSON nested deeper than the parser goes)
            unreadable.append(AnchorFinding(number, None, "mentions an anchor but cannot be read (altered?)"))
    return anchors, unreadable


def signature_problem(anchor: Anchor, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    public = keys.get(anchor.key)
    if public is None:
        return f"signed with key {anchor.key}, which is not among the public keys given: its signature is not checked"
    try:
        public.verify(base64.b64decode(anchor.signature, validate=True), _signed_bytes(anchor.body()))
    except (InvalidSignature, ValueError):
        return f"its signature does not verify with key {anchor.key}: the line was forged or altered"
    return None


def check(
    anchors: Sequence[tuple[int, Anchor]], hashes: Mapping[int, str], keys: Mapping[str, Ed25519PublicKey]
) -> list[AnchorFinding]:
    """What does not match, anchor by anchor: a signature that does not verify, and a head that is no longer in the
    chain — `hashes` is the chain as it is now (row id → hash). A chain rewritten or cut since the anchor was
    published no longer has the anchored hash at the anchored row."""
    findings = []
    rows = max(hashes, default=0)
    for number, anchor in anchors:
        forged = signature_problem(anchor, keys)
        if forged is not None:
            findings.append(AnchorFinding(number, anchor, forged))
            continue
        now = hashes.get(anchor.count)
        if now is None:
            findings.append(
                AnchorFinding(
                    number,
                    anchor,
                    f"the chain has {rows} rows now but had {anchor.count} when anchored: rows were deleted since "
                    "(the chain was cut or rewritten)",
                )
            )
        elif now != anchor.head:
            findings.append(
                AnchorFinding(
                    number,
                    anchor,
                    f"row {anchor.count} is not the row anchored (its hash differs): rows up to it were changed or "
                    "deleted and the chain recomputed since",
                )
            )
    return findings


def newest_anchor(path: Path, hall: str) -> tuple[int, Anchor] | None:
    """The last anchor of `hall` in the end of the file (its line counted from the end: -1 is the last line)."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - TAIL_BYTES))
        tail = f.read().decode("utf-8", errors="replace").splitlines()
    anchors, _ = read_anchors(tail)
    ours = [(number - len(tail) - 1, a) for number, a in anchors if a.hall == hall]
    return ours[-1] if ours else None


# -- destinations -----------------------------------------------------------------------------------------------


class Unavailable(Exception):
    """The destination is away for a reason reported elsewhere (the broker link): the head waits, quietly."""


class Sink(Protocol):
    name: str

    async def send(self, anchor: Anchor) -> None:
        """Deliver the anchor, or raise (`Unavailable`: wait quietly; anything else: a fault worth reporting)."""
        ...


class FileSink:
    """Appends each anchor as a line and syncs it to disk. The file should be append-only for the service user
    (docs/audit.md): then a line once written stays."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, anchor: Anchor) -> None:
        await asyncio.to_thread(self._append, anchor.line() + "\n")

    def _append(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)  # public: heads are no secret
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class _Syslog(logging.handlers.SysLogHandler):
    """SysLogHandler that reports a failed send instead of printing it to stderr."""

    failure: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        self.failure = sys.exc_info()[1]


class SyslogSink:
    """Sends each anchor to syslog, facility auth (on Debian, /var/log/auth.log, root's; rsyslog can forward it to a
    log host off the box). `address`: a socket path (/dev/log) or host:port (UDP)."""

    name = "syslog"

    def __init__(self, address: str) -> None:
        self._handler = _Syslog(_syslog_address(address), facility=logging.handlers.SysLogHandler.LOG_AUTH)
        self._handler.setFormatter(logging.Formatter("hallops-audit: %(message)s"))

    async def send(self, anchor: Anchor) -> None:
        record = logging.LogRecord("hallops.audit", logging.INFO, __file__, 0, anchor.line(), None, None)
        self._handler.failure = None
        self._handler.emit(record)
        if self._handler.failure is not None:
            raise OSError(f"syslog did not take it: {self._handler.failure}")

    def close(self) -> None:
        self._handler.close()


def _syslog_address(address: str) -> str | tuple[str, int]:
    if address.startswith("/"):
        return address
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Link(Protocol):
    connected: bool

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


class MqttSink:
    """Publishes each anchor retained, QoS 1, on `cloud/halls/<hall>/audit/head` over the gateway's link, for the
    bridge to carry to the cloud; while the link is down the newest head waits."""

    name = "mqtt"

    def __init__(self, link: Link, hall: str) -> None:
        self._link = link
        self.topic = head_topic(hall)

    async def send(self, anchor: Anchor) -> None:
        if not self._link.connected:
            raise Unavailable("no connection to the broker")
        try:
            await asyncio.wait_for(
                self._link.publish(self.topic, anchor.line().encode(), qos=1, retain=True), PUBLISH_TIMEOUT_S
            )
        except Exception as exc:  # the link's own errors, reported by the link: the head waits for the broker
            raise Unavailable(str(exc) or type(exc).__name__) from None


class OutboxSink:
    """Adds each anchor to the cloud outbox (edge/store/cloud.py), for the uplink to carry to the city/province tier
    with everything else; it waits there, on disk, while the link is down."""

    name = "cloud"

    def __init__(self, add: Callable[[Anchor], None]) -> None:
        self._add = add

    async def send(self, anchor: Anchor) -> None:
        self._add(anchor)


# -- publishing -------------------------------------------------------------------------------------------------


Head = Callable[[], tuple[int, str] | None]  # (rows, the last row's hash), None before the first row (AuditLog.head)


class AnchorPublisher:
    """Every `every_s`, if the chain has grown since the last anchor (or none was made since the start), signs its
    head and hands it to every destination; one that does not take it keeps the newest head and is tried again every
    RETRY_S. A destination that fails for a reason of its own (a full disk, no syslog) pauses the worker with the
    cause, so /api/health shows it."""

    def __init__(
        self,
        hall: str,
        key: Ed25519PrivateKey,
        head: Head,
        sinks: Sequence[Sink],
        every_s: float,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hall = hall
        self._key = key
        self._head = head
        self.sinks = list(sinks)
        self._every_s = every_s
        self.worker: Worker | None = None  # set by the gateway: beats, and pauses while a destination fails
        self._wall = wall
        self._monotonic = monotonic
        self._due = float("-inf")
        self._signed: tuple[int, str] | None = None
        self.pending: dict[str, Anchor] = {}  # destination → the newest head it has not taken
        self._faults: dict[str, str] = {}  # destination → what went wrong (logged once per cause)

    async def run(self) -> None:
        while True:
            if self.worker is not None:
                self.worker.beat()
            await self.tick()
            await asyncio.sleep(min(self._every_s, RETRY_S))

    async def tick(self) -> None:
        """Sign the head when due and moved; deliver what waits."""
        now = self._monotonic()
        if now >= self._due:
            self._due = now + self._every_s
            head = self._read_head()
            if head is not None and head != self._signed:
                anchor = sign_head(self._key, self.hall, head[0], head[1], datetime.fromtimestamp(self._wall(), UTC))
                self._signed = head
                self.pending = {sink.name: anchor for sink in self.sinks}
                log.debug("audit head signed hall=%s rows=%d key=%s", self.hall, anchor.count, anchor.key)
        for sink in self.sinks:
            anchor_ = self.pending.get(sink.name)
            if anchor_ is not None:
                await self._deliver(sink, anchor_)

    def _read_head(self) -> tuple[int, str] | None:
        """The head, or None this round if the store cannot say: a storage fault (ingest reports it and the next
        round tries again) or a head in meta that is not a number (edited: `hallops audit verify` says so)."""
        try:
            return self._head()
        except Exception as exc:
            log.warning("audit head not read this round (%s); trying again in %.0f s", describe(exc), self._every_s)
            return None

    async def _deliver(self, sink: Sink, anchor: Anchor) -> None:
        try:
            await sink.send(anchor)
        except Unavailable as exc:
            log.debug("audit head for %s waits: %s", sink.name, exc)
            return
        except Exception as exc:
            cause = describe(exc)
            if self._faults.get(sink.name) != cause:
                log.error("audit head not sent to %s (%s); trying again every %.0f s", sink.name, cause, RETRY_S)
            self._faults[sink.name] = cause
            if self.worker is not None:
                self.worker.pause("anchor_failed", f"{sink.name}: {cause}")
            return
        if self.pending.get(sink.name) is anchor:
            del self.pending[sink.name]
        if self._faults.pop(sink.name, None) is not None:
            log.warning("audit head sent to %s again", sink.name)
            if not self._faults and self.worker is not None:
                self.worker.resume()


def sinks_for(cfg: GatewayConfig, link: Link, cloud: Callable[[Anchor], None] | None = None) -> list[Sink]:
    """The destinations `audit:` configures, in the order they are tried, and the cloud outbox when the hall has a
    cloud (`cloud`: adds an anchor to it)."""
    assert cfg.hall.id is not None
    a = cfg.audit
    sinks: list[Sink] = []
    if a.anchor_file is not None:
        sinks.append(FileSink(a.anchor_file))
    if a.anchor_syslog:
        sinks.append(SyslogSink(a.anchor_syslog_address))
    if a.anchor_mqtt:
        sinks.append(MqttSink(link, cfg.hall.id))
    if cloud is not None:
        sinks.append(OutboxSink(cloud))
    return sinks


def key_path(cfg: GatewayConfig) -> Path:
    return cfg.audit.anchor_key or default_key_path(cfg.storage.path)


def publisher_for(
    cfg: GatewayConfig, head: Head, link: Link, cloud: Callable[[Anchor], None] | None = None
) -> AnchorPublisher | None:
    """The gateway's publisher, with its key (made now if missing); None when `audit:` names no destination.
    ConfigError if the key file is there but unusable."""
    assert cfg.hall.id is not None
    sinks = sinks_for(cfg, link, cloud)
    if not sinks:
        return None
    path = key_path(cfg)
    try:
        key, made = key_for(path)
    except (OSError, ValueError) as exc:
        raise ConfigError("audit.anchor_key", [Problem("audit.anchor_key", str(exc))]) from None
    public = key.public_key()
    if made:
        log.warning(
            "audit anchor key made: %s (key %s); give its public key to whoever checks the anchors: %s",
            path,
            key_id(public),
            public_text(public),
        )
    log.info(
        "audit head anchored every %.0f s to %s, key %s",
        cfg.audit.anchor_every_s,
        ", ".join(s.name for s in sinks),
        key_id(public),
    )
    return AnchorPublisher(cfg.hall.id, key, head, sinks, cfg.audit.anchor_every_s)
