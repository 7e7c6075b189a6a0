"""The gateway process: MQTT in, hall state, storage — the composition root of hallops.

    broker ─▶ MqttLink ─▶ handle(): decode (contract) ─▶ HallState.apply ─▶ batch
                                 └─ PayloadError ─▶ counted + dead letter
    queue drained (or batch full) ─▶ flush(): one SQLite transaction (events, dead letters, maybe state) ─▶ PUBACK

With a trusted key configured (`rules.bundle_public_key`), the link also hears the signed rule bundles pushed from the
cloud (cloud_sync/delivery.py); they go to the bundle receiver, never through `handle()`, and a genuine, newer one
becomes a rule version in force at once (`BundleSink`).

`Gateway` is an async context manager: entering restores the hall from the saved state plus the events logged after
it and starts the link and the housekeeping task; leaving stops them and saves. `handle` is the hot path and is
synchronous: nothing on it awaits, so a batch is applied and committed atomically with respect to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from cloud_sync.bundle import Bundle
from cloud_sync.delivery import Receiver, bundle_topics, public_key
from devices.codec import DeviceMessage, decode
from devices.errors import PayloadError
from devices.mapping import match, subscription_filter, translate
from devices.topics import hall_filter
from edge.audit import Entry
from edge.clock import DeviceClock, SystemClock
from edge.config import GatewayConfig
from edge.decisions import Decider, decider_for
from edge.mqtt import MqttLink
from edge.outbox import OutboxSender
from edge.reports import Reports, day_span
from edge.store import EventBatch, Rejected, Store
from edge.stream import Broadcaster
from edge.versions import RuleVersions, content_hash
from rules.clock import Clock
from rules.hall import Applied, HallSnapshot, HallState
from rules.language import BUILTIN, RuleFile, builtin_rules, load_rules

log = logging.getLogger(__name__)

MAX_BATCH = 2000  # commit at least this often under a flood
LIVE_EVERY_S = 1.0  # the web UI's floor view follows the hall at this pace
BUNDLE_VERSION = "rules_bundle_version"  # meta: the signed bundle applied last (also `hallops rules apply`)
BUNDLE_ACTOR = "cloud"  # who activates a bundle's rules, in the audit log
CONFIG_USERS = "config_users"  # meta: the config file's users (no hashes) as of the last start, for `users list`


@dataclass(slots=True)
class Counters:
    """Since the gateway started."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0  # our own commands echoed back, topics we never subscribed to (amqtt's retained leak)
    rejected: Counter[str] = field(default_factory=Counter)


class Gateway:
    def __init__(self, cfg: GatewayConfig, *, clock: Clock | None = None) -> None:
        assert cfg.hall.id is not None, "load_config guarantees a hall id"
        self.cfg = cfg
        self.hall_id: str = cfg.hall.id
        device_clock = cfg.clock.mode == "device"
        self.clock: Clock = clock or (
            DeviceClock(cfg.clock.speed, cfg.clock.max_lead_s) if device_clock else SystemClock()
        )
        self.counters = Counters()
        self.state = HallState(cfg.profile())
        self.store: Store | None = None
        self.rules: RuleFile = load_rules(cfg.rules.file) if cfg.rules.file else builtin_rules()  # checked early
        self.rules_version = 0  # the rule version in force (edge/versions.py), known once the store is open
        self.versions: RuleVersions | None = None
        self.stream = Broadcaster()
        self.reports = Reports(cfg.profile(), cfg.tidal.target_wait_min, day_span(self.rules.schedules.get("hall_day")))
        self.decider: Decider | None = None
        self.sender: OutboxSender | None = None
        self.started_at = datetime.now(UTC)
        self._started_mono = time.monotonic()
        self._prefix = f"hall/{self.hall_id}/"
        self._batch = EventBatch()  # events and dead letters handled since the last flush
        self._acks: list[tuple[int, int, int]] = []
        self._last_saved = 0.0
        self._dirty = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: Counter[str] = Counter()
        key = cfg.rules.bundle_public_key
        self.link = MqttLink(
            cfg.mqtt,
            cfg.mqtt.client_id or f"hallops-{self.hall_id}",
            [hall_filter(self.hall_id), *(subscription_filter(v) for v in cfg.vendor_mappings)],
            self.handle,
            self.flush,
            routes=dict.fromkeys(bundle_topics(self.hall_id), self._take_bundle) if key else None,
        )
        self.bundles: Receiver | None = None  # signed rule bundles from the cloud, when a trusted key is configured
        if key is not None:
            self.bundles = Receiver(
                self.hall_id,
                public_key(key.read_text(encoding="utf-8", errors="replace")),  # checked by load_config
                BundleSink(self),
                self.link,
                now=lambda: datetime.now(ZoneInfo(cfg.hall.timezone)),
            )

    # -- lifecycle --------------------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        self.open()
        assert self.decider is not None and self.sender is not None
        self._tasks = [
            asyncio.create_task(self.link.run(), name="mqtt"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            asyncio.create_task(self._live(), name="live"),
            asyncio.create_task(self.decider.run(), name="decisions"),
            asyncio.create_task(self.sender.run(), name="outbox"),
        ]
        if self.bundles is not None:
            self._tasks.append(asyncio.create_task(self.bundles.run(), name="bundles"))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            # re-cancel: on Python 3.11 `asyncio.wait_for` (inside aiomqtt) can swallow a cancellation that lands
            # just as its inner future completes, and the task would then run on
            while not t.done():
                await asyncio.wait({t}, timeout=0.5)
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                t.result()
        self.close()

    def open(self) -> None:
        """Open the store and restore the hall (no network): the saved state plus the events logged after it."""
        self.store = Store(self.cfg.storage.path)
        configured = {name: {"role": u.role, "name": u.name} for name, u in self.cfg.users.items()}
        self.store.meta.set(CONFIG_USERS, json.dumps(configured, ensure_ascii=False))
        saved = self.store.events.saved_state()
        after = 0
        if saved is not None:
            after = saved.event_id
            try:
                self.state = HallState.load(self.cfg.profile(), saved.body)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("saved hall state unreadable (%s); rebuilding from the whole event log", exc)
                self.state, after = HallState(self.cfg.profile()), 0
        newest = self.store.events.newest_at()
        if newest is not None:  # a device clock resumes at the hall time it had, not the box's wall clock
            self._observe_at(datetime.fromtimestamp(newest, UTC))
        replayed = 0
        for ev in self.store.events.after(after):
            received = datetime.fromtimestamp(ev.received_at, UTC)
            msg = decode(ev.topic, ev.payload, received, max_bytes=1 << 30)
            if msg is not None:
                self.state.apply(msg)
                self._observe(msg)
                replayed += 1
        log.info(
            "hall restored hall=%s from_state=%s replayed_events=%d db=%s",
            self.hall_id,
            saved is not None,
            replayed,
            self.cfg.storage.path,
        )
        self._last_saved = time.monotonic()
        self._dirty = replayed > 0
        self.reports.restore(self.store, self.clock.now())
        self.versions = RuleVersions(self.store)
        path = self.cfg.rules.file
        version = self.versions.bootstrap((path or BUILTIN).read_text(encoding="utf-8"), str(path or "built-in pack"))
        self.rules, self.rules_version = version.rules, version.number
        log.info("rules in force: version %d (%s, %d rules)", version.number, version.origin, len(version.rules.rules))
        self.decider = decider_for(
            self.cfg,
            self.rules,
            self.store,
            self.clock,
            self.state.snapshot,
            stream=self.stream,
            on_outbox=lambda: self.sender.wake() if self.sender else None,
        )
        self.sender = OutboxSender(self.store, self.link)
        shadow = self.versions.shadow_number()
        if shadow is not None:
            self.decider.start_shadow(shadow, self.versions.get(shadow).rules)

    def close(self) -> None:
        if self.store is not None:
            self.flush(save_state=True)
            self.store.close()
            self.store = None

    # -- rule versions ----------------------------------------------------------------------------------

    def follow_rules(self) -> None:
        """Take up the version put in force (or in shadow) in the database — by the API or by the CLI."""
        if self.versions is None or self.decider is None:
            return
        active = self.versions.active_number()
        if active is not None and active != self.rules_version:
            shadowed = self.decider.shadow is not None and self.decider.shadow.number == active
            version = self.versions.get(active)
            changed = self.decider.reload(version.rules, adopt_shadow=shadowed)
            log.info(
                "rules version %d in force (was %d); changed rules: %s",
                active,
                self.rules_version,
                ", ".join(changed) or "none",
            )
            self.rules, self.rules_version = version.rules, active
        shadow = self.versions.shadow_number()
        running = self.decider.shadow.number if self.decider.shadow else None
        if shadow != running:
            if shadow is None:
                self.decider.stop_shadow()
            else:
                self.decider.start_shadow(shadow, self.versions.get(shadow).rules)
            log.info("rules version %s in shadow", shadow)

    def _take_bundle(self, topic: str, payload: bytes, received_at: datetime, mid: int = 0, qos: int = 0) -> None:
        """A rule bundle from the link: queued for the receiver (not counted, not logged as a device message), and
        acknowledged to the broker once it has been handled."""
        assert self.bundles is not None
        ack = (self.link.generation, mid, qos)
        self.bundles.offer(topic, payload, lambda: self.link.ack([ack]))

    # -- the hot path -----------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, received_at: datetime, mid: int = 0, qos: int = 0) -> None:
        """Take one MQTT message: validate, apply to the hall, queue for the log. Never raises for bad input."""
        self.counters.received += 1
        if isinstance(self.clock, DeviceClock):
            received_at = self.clock.now()  # a last will is stamped in hall time, like everything else
        if qos:
            self._acks.append((self.link.generation, mid, qos))
        try:
            if not topic.startswith(self._prefix):
                mapping = match(self.cfg.vendor_mappings, topic)
                if mapping is None:
                    self.counters.ignored += 1
                    return
                topic, payload = translate(mapping, topic, payload, self.hall_id)
            msg = decode(topic, payload, received_at, hall=self.hall_id, max_bytes=self.cfg.ingest.max_payload_bytes)
        except PayloadError as exc:
            self._reject(topic, payload, received_at, exc)
            return
        if msg is None:
            self.counters.ignored += 1
            return
        if self.state.apply(msg) is Applied.DUPLICATE:
            self.counters.duplicates += 1
            return
        self._observe(msg)
        self.counters.accepted += 1
        self._dirty = True
        if self.decider is not None:
            self.decider.on_message(msg)
        self.reports.apply(msg)
        self._batch.add(
            received_at.timestamp(),
            msg.at.timestamp(),
            msg.device_type.value,
            msg.device_id,
            msg.channel.value,
            msg.type,
            msg.seq,
            topic,
            payload,
        )
        if self._batch.events >= MAX_BATCH:
            self.flush()

    def _reject(self, topic: str, payload: bytes, received_at: datetime, exc: PayloadError) -> None:
        self.counters.rejected[exc.reason] += 1
        self._batch.reject(Rejected(received_at.timestamp(), topic, exc.reason, exc.path, exc.detail, payload))
        log.debug("rejected topic=%s reason=%s path=%s detail=%s", topic, exc.reason, exc.path, exc.detail)

    def _observe(self, msg: DeviceMessage) -> None:
        self._observe_at(msg.at)

    def _observe_at(self, at: datetime) -> None:
        if isinstance(self.clock, DeviceClock):
            self.clock.observe(at)

    def flush(self, save_state: bool = False) -> None:
        """Commit what was handled since the last flush, then acknowledge it to the broker."""
        if self.store is None:
            return
        now = time.monotonic()
        save = self._dirty and (save_state or now - self._last_saved >= self.cfg.storage.snapshot_every_s)
        if self._batch or save:
            self.store.events.write(self._batch, self.state.dump() if save else None, datetime.now(UTC).timestamp())
            self._batch.clear()
            if save:
                self._last_saved = now
                self._dirty = False
        if self._acks:
            self.link.ack(self._acks)
            self._acks.clear()

    # -- housekeeping -----------------------------------------------------------------------------------

    async def _live(self) -> None:
        """Once a second, while a web page listens: the hall snapshot on the live stream (waits grow by the clock
        even when no message arrives, so it is sent on every tick, not only after a change), and which parts of the
        decision state moved (`changed`: engine = alerts, tickets, tidal = recommendations)."""
        dump = TypeAdapter(HallSnapshot).dump_json
        seen: dict[str, int] = {}
        while True:
            await asyncio.sleep(LIVE_EVERY_S)
            if not self.stream.subscribers:
                continue
            self.stream.publish_json("hall", dump(self.snapshot()).decode())
            versions = self.decider.versions if self.decider else {}
            moved = sorted(k for k, v in versions.items() if seen.get(k) != v)
            if moved:
                seen = dict(versions)
                self.stream.publish("changed", moved)

    async def _housekeeping(self) -> None:
        """Once a second: commit stragglers, save the state when due, cap the dead letters; hourly: retention."""
        last_retention = -3600.0
        while True:
            await asyncio.sleep(1.0)
            self.flush()
            self.follow_rules()
            self._report_rejections()
            if self.store is None:
                continue
            self.store.dead_letters.prune(self.cfg.storage.dead_letter_limit)
            if time.monotonic() - last_retention >= 3600:
                last_retention = time.monotonic()
                horizon = datetime.now(UTC) - timedelta(days=self.cfg.storage.retention_days)
                gone = self.store.events.prune(horizon.timestamp())
                if gone:
                    log.info("retention removed events=%d older_than=%s", gone, horizon.isoformat())

    def _report_rejections(self) -> None:
        new = self.counters.rejected - self._reported
        if new:
            log.warning(
                "rejected %d message(s) since the last report: %s",
                sum(new.values()),
                ", ".join(f"{k}={v}" for k, v in sorted(new.items())),
            )
            self._reported = self.counters.rejected.copy()

    # -- reading ----------------------------------------------------------------------------------------

    def snapshot(self) -> HallSnapshot:
        return self.state.snapshot(self.clock.now())

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started_mono


class BundleSink:
    """The gateway's rule versions as the bundle receiver sees them (cloud_sync.delivery.RuleSink): applying a bundle
    is what `hallops rules apply` does — a version (origin `bundle:N`), its activation and `rules.apply_bundle` in the
    audit log, the applied bundle version in meta — and then the gateway takes the rules up at once."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def _opened(self) -> tuple[Store, RuleVersions]:
        g = self._gateway
        assert g.store is not None and g.versions is not None, "bundles are taken only while the gateway runs"
        return g.store, g.versions

    def applied_bundle(self) -> int:
        store, _ = self._opened()
        return int(store.meta.get(BUNDLE_VERSION) or 0)

    def rules_in_force(self) -> int:
        return self._gateway.rules_version

    def stored_rules(self, rules_yaml: str) -> int | None:
        store, _ = self._opened()
        rows = store.rule_versions.rows(content_hash=content_hash(rules_yaml))
        return rows[0].number if rows else None

    def apply_bundle(self, bundle: Bundle, topic: str) -> int:
        store, versions = self._opened()
        was = self.applied_bundle()
        label = f"bundle:{bundle.version}"
        version, _ = versions.add(bundle.rules_yaml, label, f"signed bundle {bundle.version}", label)
        versions.activate(version.number, BUNDLE_ACTOR, f"signed bundle {bundle.version} from {topic}")
        store.meta.set(BUNDLE_VERSION, str(bundle.version))
        detail = {
            "hall": bundle.hall,
            "rules": len(bundle.rules.rules),
            "was": was,
            "rule_version": version.number,
            "via": topic,
        }
        store.audit.append([Entry(time.time(), BUNDLE_ACTOR, "rules.apply_bundle", str(bundle.version), detail)])
        self._gateway.follow_rules()
        return version.number
