"""How signed rule bundles travel over MQTT between the city/province cluster and a hall's box.

    hallops rules push ─▶ cloud/halls/<hall>/rules/bundle (or cloud/halls/all/…)   retained, QoS 1, on the cluster
      ─▶ the hall's mosquitto bridges it in ─▶ the gateway's link ─▶ Receiver.offer ─▶ verify, check_newer
      ─▶ approval_needed? ─ no ─▶ RuleSink.apply_bundle (in force)
                          └ yes ─▶ RuleSink.hold_bundle (stored, waits for an administrator at the hall)
      ─▶ Report ─▶ cloud/halls/<hall>/rules/applied                                 retained, QoS 1, bridged out

This module owns the topics, the push (a short-lived paho client), the trusted keys as read from their files, the
report and the receiving side's decisions: what is applied, what waits for approval, what is refused and why, and
which deliveries are the same bundle again (a retained copy after a reconnect or a restart) and must not be applied
or reported in a loop. It stores nothing and opens no connection of its own on the receiving side: the gateway hands
it a `RuleSink` (its rule versions) and a `Publisher` (its MQTT link). Bundles never enter the device ingest path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from cloud_sync.bundle import (
    DEFAULT_MAX_STEP,
    FORMAT,
    KEY_ID,
    MAX_VERSION,
    Bundle,
    BundleError,
    TrustedKey,
    approval_needed,
    check_newer,
    valid_version,
    verify,
)
from devices.broker_address import BrokerAddress
from devices.errors import SyncError
from rules.language import RuleFile

log = logging.getLogger(__name__)

ROOT = "cloud/halls"
EVERY_HALL = "all"  # the topic level of a bundle signed for every hall ("*"); no hall may be called this
RETRY_S = 1.0  # an unsent report is tried again this often
_HALL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")  # a hall id, as the gateway's configuration allows


# -- topics -----------------------------------------------------------------------------------------------------


def bundle_topic(hall: str) -> str:
    """Where bundles for `hall` are pushed; hall "*" (every hall) is `cloud/halls/all/rules/bundle`."""
    return f"{ROOT}/{EVERY_HALL if hall == '*' else hall}/rules/bundle"


def applied_topic(hall: str) -> str:
    """Where `hall`'s gateway reports what it did with each bundle."""
    return f"{ROOT}/{hall}/rules/applied"


def bundle_topics(hall: str) -> tuple[str, str]:
    """What a hall's gateway listens to: its own bundles and those for every hall."""
    return bundle_topic(hall), bundle_topic("*")


def addressed_to(raw: bytes) -> tuple[str, int]:
    """(hall, version) a bundle names, read without trusting either — only the gateway's verification can — but
    enough to choose the topic. BundleError, in plain words, if it is not a signed bundle at all."""
    try:
        body = json.loads(raw)
        header, rules, signature = body["header"], body["rules"], body["signature"]
        if not (isinstance(header, dict) and isinstance(rules, str) and isinstance(signature, str)):
            raise TypeError
        base64.b64decode(signature, validate=True)
    except (ValueError, KeyError, TypeError):
        raise BundleError("not a signed rule bundle (make one with `hallops rules sign`)") from None
    if header.get("format") != FORMAT:
        raise BundleError(f"format {header.get('format')!r}; expected {FORMAT}")
    hall, version = header.get("hall"), header.get("version")
    if not valid_version(version):
        raise BundleError(f"version {version!r} is not a whole number from 1 to {MAX_VERSION}")
    assert isinstance(version, int)
    if not isinstance(hall, str) or hall == EVERY_HALL or (hall != "*" and not _HALL.match(hall)):
        raise BundleError(f"hall {hall!r} is not a hall id or * (every hall)")
    return hall, version


def public_key(text: str) -> str:
    """The trusted key as `verify` takes it (base64 of the 32 raw bytes `hallops rules keygen` writes to bundle.pub);
    ValueError in plain words otherwise."""
    key = text.strip()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True))
    except ValueError:  # binascii.Error is one
        raise ValueError(
            "not an Ed25519 public key (bundle.pub from `hallops rules keygen`: a line of base64)"
        ) from None
    return key


def read_keys(entries: Iterable[tuple[str, Path, date | None]]) -> dict[str, TrustedKey]:
    """The trusted keys by id, from (id, path of `<id>.pub`, last day trusted) as `rules.bundle_public_key` and
    `rules.bundle_keys` name them; ValueError naming the file (or the id used twice) otherwise."""
    keys: dict[str, TrustedKey] = {}
    for key_id, path, not_after in entries:
        if not KEY_ID.match(key_id):
            raise ValueError(f"key id {key_id!r}: letters, digits, '.', '_' or '-', up to 64")
        if key_id in keys:
            raise ValueError(f"key id {key_id!r} is used twice")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise ValueError(f"no such file: {path}") from None
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        try:
            keys[key_id] = TrustedKey(key_id, public_key(text), not_after)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return keys


# -- the push (where bundles are made) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broker:
    """The cloud cluster's MQTT endpoint, as the one pushing sees it: its address and our credentials."""

    address: BrokerAddress
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(
        cls, url: str, username: str | None = None, password: str | None = None, tls_ca: Path | None = None
    ) -> Broker:
        """mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS (default port 8883; a CA file implies TLS too); ValueError
        in plain words otherwise (`BrokerAddress.parse`)."""
        return cls(BrokerAddress.parse(url, tls_ca), username, password)


def push(raw: bytes, broker: Broker, timeout_s: float = 10.0) -> str:
    """Publish a bundle retained, QoS 1, on the topic of the hall it names (every hall: `…/all/…`), and return the
    topic once the broker has acknowledged it (PUBACK). Retained, so a box that is offline now takes it when its
    bridge reconnects. BundleError if `raw` is not a signed bundle; SyncError if the broker cannot be reached,
    refuses us or the bundle, or does not acknowledge within `timeout_s`."""
    hall, _ = addressed_to(raw)
    topic = bundle_topic(hall)
    where = str(broker.address)
    deadline = time.monotonic() + timeout_s
    # MQTT 5: a broker that refuses the publish (an ACL) says so in the PUBACK instead of dropping it silently
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"hallops-push-{secrets.token_hex(4)}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.connect_timeout = max(0.1, timeout_s)
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    connack: list[ReasonCode | str] = []
    puback: list[ReasonCode] = []
    answered, acknowledged = threading.Event(), threading.Event()

    def on_connect(_c: object, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        connack.append(reason)
        answered.set()

    def on_disconnect(_c: object, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if not answered.is_set():
            connack.append(f"no MQTT broker answered at {where}: the connection was closed ({reason})")
            answered.set()
        acknowledged.set()

    def on_publish(_c: object, _u: object, _mid: int, reason: ReasonCode, _p: object) -> None:
        puback.append(reason)
        acknowledged.set()

    client.on_connect, client.on_disconnect, client.on_publish = on_connect, on_disconnect, on_publish
    try:
        if (tls := broker.address.tls_context()) is not None:
            client.tls_set_context(tls)
        client.connect(broker.address.host, broker.address.port, keepalive=30)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SyncError(f"cannot reach the broker at {where}: {exc}") from None
    client.loop_start()
    try:
        if not answered.wait(max(0.0, deadline - time.monotonic())):
            raise SyncError(f"no answer (CONNACK) from the broker at {where} within {timeout_s:g} s")
        reason = connack[0]
        if isinstance(reason, str):
            raise SyncError(reason)
        if reason.is_failure:
            raise SyncError(f"the broker at {where} refused the connection: {reason}")
        info = client.publish(topic, raw, qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise SyncError(f"could not publish to {where}: {mqtt.error_string(info.rc)}")
        if not acknowledged.wait(max(0.0, deadline - time.monotonic())):
            raise SyncError(f"the broker at {where} did not acknowledge the bundle within {timeout_s:g} s")
        if not puback:
            raise SyncError(f"the broker at {where} closed the connection before acknowledging the bundle")
        if puback[0].is_failure:
            raise SyncError(f"the broker at {where} refused the bundle on {topic}: {puback[0]}")
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
    return topic


# -- the receiving side (a hall's gateway) --------------------------------------------------------------------


class RuleSink(Protocol):
    """The gateway's rule versions, as the receiver needs them."""

    def applied_bundle(self) -> int:
        """The bundle version taken last — in force or waiting for approval (0: none yet)."""
        ...

    def rules_in_force(self) -> int:
        """The rule version in force."""
        ...

    def in_force(self) -> RuleFile:
        """The rules in force, to tell what a bundle changes."""
        ...

    def stored_rules(self, rules_yaml: str) -> int | None:
        """The rule version that already holds exactly this YAML, if any."""
        ...

    def apply_bundle(self, bundle: Bundle, topic: str) -> int:
        """Store the rules as a version, put it in force (audited), record the bundle version, take it up now;
        returns the rule version."""
        ...

    def hold_bundle(self, bundle: Bundle, topic: str, reasons: list[str]) -> int:
        """Store the rules as a version that is not put in force (audited with `reasons`) and record the bundle
        version: an administrator at the hall activates it, or not; returns the rule version."""
        ...


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


class Status(StrEnum):
    APPLIED = "applied"
    PENDING = "pending_approval"  # stored as a rule version; in force once an administrator at the hall activates it
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Report:
    """What a gateway did with one bundle, published retained on `cloud/halls/<hall>/rules/applied`. `rule_version`
    and `applied_version` describe the box afterwards: the rule version in force (unchanged when the bundle was
    refused or waits for approval) and the bundle version taken last (a bundle waiting for approval counts: the next
    one must be newer). `bundle_version` is what the bundle claimed (None when it could not be read)."""

    hall: str
    status: Status
    bundle_version: int | None
    rule_version: int
    applied_version: int
    reason: str
    at: datetime

    def to_json(self) -> bytes:
        body = {
            "hall": self.hall,
            "bundle_version": self.bundle_version,
            "rule_version": self.rule_version,
            "applied_version": self.applied_version,
            "status": self.status.value,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }
        return json.dumps(body, ensure_ascii=False).encode()


@dataclass(slots=True)
class BundleCounters:
    """Since the gateway started."""

    received: int = 0
    applied: int = 0
    pending: int = 0  # stored, waiting for an administrator at the hall
    refused: int = 0
    repeated: int = 0  # the same bundle again (a retained copy after a reconnect or a restart): nothing done
    unsent_reports: int = 0  # reports waiting for the broker


def claimed_version(raw: bytes) -> int | None:
    """The version a bundle claims, for the report of a refused one; never trusted for anything else."""
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        version = json.loads(raw)["header"]["version"]
        if isinstance(version, int) and not isinstance(version, bool):
            return version
    return None


@dataclass(frozen=True, slots=True)
class _Awaiting:
    """A bundle stored for approval: reported `applied` once its rule version is put in force at the hall."""

    bundle: int
    rule_version: int


class Receiver:
    """Takes bundles from the gateway's link, one at a time, off the ingest path: `offer` only queues (the newest
    per topic: a retained topic's newer bundle supersedes one not yet taken), `run` verifies, applies or holds for
    approval, and reports. Nothing it is given stops it: every failure becomes a refusal with a reason."""

    def __init__(
        self,
        hall: str,
        keys: Mapping[str, TrustedKey],
        sink: RuleSink,
        publisher: Publisher,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_step: int = DEFAULT_MAX_STEP,
    ) -> None:
        self.hall = hall
        self.counters = BundleCounters()
        self._keys = dict(keys)
        self._sink = sink
        self._publisher = publisher
        self._now = now
        self._max_step = max_step
        self._pending: dict[str, tuple[bytes, Callable[[], None]]] = {}
        self._taken: dict[str, bytes] = {}  # topic → digest of the last bundle handled there (reconnects re-deliver)
        self._seen_applied = False  # the re-delivery of the bundle taken last is reported once per start
        self._awaiting: _Awaiting | None = None
        self._unsent: Report | None = None
        self._wake = asyncio.Event()

    def offer(self, topic: str, payload: bytes, done: Callable[[], None] = lambda: None) -> None:
        """Queue a bundle from the broker; `done` (the acknowledgement) is called once it has been handled."""
        self.counters.received += 1
        superseded = self._pending.pop(topic, None)
        self._pending[topic] = (payload, done)
        if superseded is not None:
            log.debug("bundle superseded on %s before it was taken", topic)
            _call(superseded[1])
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_S)
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        """Take every queued bundle, notice an approval given at the hall, then send the report not yet sent (if the
        broker is there)."""
        while self._pending:
            topic = next(iter(self._pending))
            payload, done = self._pending.pop(topic)
            try:
                await self._take(topic, payload)
            except Exception:
                log.exception("bundle on %s could not be handled", topic)
            finally:
                _call(done)
        awaiting = self._awaiting
        if awaiting is not None and self._sink.rules_in_force() == awaiting.rule_version:
            self._awaiting = None
            self.counters.applied += 1
            log.info(
                "rules bundle %d approved at the hall: rule version %d in force", awaiting.bundle, awaiting.rule_version
            )
            self._report(Status.APPLIED, awaiting.bundle, "approved at the hall")
        if self._unsent is not None:
            await self._send(self._unsent)

    async def _take(self, topic: str, payload: bytes) -> None:
        digest = hashlib.sha256(payload).digest()
        if self._taken.get(topic) == digest:
            self.counters.repeated += 1
            log.debug("bundle on %s delivered again; already handled", topic)
            return
        applied = self._sink.applied_bundle()
        try:
            # the key, the signature, the expiry, the hall, the hash, the rules (CPU-bound; off the loop)
            bundle = await asyncio.to_thread(verify, payload, self._keys, self.hall, self._now())
        except BundleError as exc:
            self._refuse(topic, claimed_version(payload), str(exc))
            self._taken[topic] = digest
            return
        stored = self._sink.stored_rules(bundle.rules_yaml)
        if bundle.version == applied and stored is not None:
            self._again(topic, bundle, stored)
        else:
            try:
                check_newer(bundle.version, applied, self._max_step)
            except BundleError as exc:
                self._refuse(topic, bundle.version, str(exc))
            else:
                try:
                    self._accept(topic, bundle, applied)
                except Exception as exc:
                    log.exception("bundle %d on %s could not be applied", bundle.version, topic)
                    self._refuse(topic, bundle.version, f"the gateway could not apply it: {exc}")
                    return  # not remembered: a re-delivery is tried again
        self._taken[topic] = digest

    def _accept(self, topic: str, bundle: Bundle, applied: int) -> None:
        """Put a newer bundle in force, or store it for approval when it reaches the public or devices' service."""
        reasons = approval_needed(bundle.rules, self._sink.in_force())
        if reasons:
            number = self._sink.hold_bundle(bundle, topic, reasons)
            self._awaiting = _Awaiting(bundle.version, number)
            self.counters.pending += 1
            log.warning(
                "rules bundle %d from %s stored as rule version %d, NOT in force: an administrator at the hall must "
                "activate it (%s)",
                bundle.version,
                topic,
                number,
                "; ".join(reasons),
            )
            self._report(Status.PENDING, bundle.version, _waiting(number, reasons))
            return
        number = self._sink.apply_bundle(bundle, topic)
        self._awaiting = None
        self.counters.applied += 1
        log.info(
            "rules bundle %d applied from %s: rule version %d in force (was bundle %d)",
            bundle.version,
            topic,
            number,
            applied,
        )
        self._report(Status.APPLIED, bundle.version, "")

    def _again(self, topic: str, bundle: Bundle, stored: int) -> None:
        """The bundle taken last, delivered again (a retained copy after a restart): nothing to do but to say, once
        per start, where it stands."""
        self.counters.repeated += 1
        log.info("rules bundle %d on %s is the one taken already; nothing to do", bundle.version, topic)
        if self._seen_applied:
            return
        if self._sink.rules_in_force() == stored:
            self._report(Status.APPLIED, bundle.version, "already applied")
            return
        self._awaiting = _Awaiting(bundle.version, stored)
        reasons = approval_needed(bundle.rules, self._sink.in_force())
        self._report(Status.PENDING, bundle.version, _waiting(stored, reasons))

    def _refuse(self, topic: str, version: int | None, reason: str) -> None:
        self.counters.refused += 1
        log.warning("rules bundle %s on %s refused: %s", version if version is not None else "?", topic, reason)
        self._report(Status.REFUSED, version, reason)

    def _report(self, status: Status, version: int | None, reason: str) -> None:
        if status is not Status.REFUSED:
            self._seen_applied = True
        self._unsent = Report(
            self.hall, status, version, self._sink.rules_in_force(), self._sink.applied_bundle(), reason, self._now()
        )
        self.counters.unsent_reports = 1

    async def _send(self, report: Report) -> None:
        try:
            await self._publisher.publish(applied_topic(self.hall), report.to_json(), qos=1, retain=True)
        except Exception as exc:  # the link's own errors; the report waits for the broker (the newest one only)
            log.debug("bundle report not sent yet: %s", exc)
            return
        if self._unsent is report:
            self._unsent = None
            self.counters.unsent_reports = 0


def _waiting(number: int, reasons: list[str]) -> str:
    why = "; ".join(reasons) if reasons else "it is not the version in force"
    return f"stored as rule version {number}, waiting for an administrator at the hall to activate it: {why}"


def _call(done: Callable[[], None]) -> None:
    """An acknowledgement to the broker: its failure (the connection just went) must not stop the receiver."""
    try:
        done()
    except Exception:
        log.exception("could not acknowledge a bundle to the broker")
