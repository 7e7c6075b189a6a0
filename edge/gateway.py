"""The gateway process: MQTT in, hall state, storage — the composition root of hallops.

    broker ─▶ MqttLink ─▶ handle(): decode (contract) ─▶ HallState.apply ─▶ batch
                                 └─ PayloadError ─▶ counted + dead letter
    queue drained (or batch full) ─▶ flush(): one SQLite transaction (events, dead letters, maybe state) ─▶ PUBACK

With trusted keys configured (`rules.bundle_public_key`, `rules.bundle_keys`), the link also hears the signed rule
bundles pushed from the cloud (cloud_sync/delivery.py); they go to the bundle receiver, never through `handle()`, and
a genuine, newer one becomes a rule version — in force at once, or, when it reaches the public or devices' service,
stored for an administrator at the hall to activate (`BundleSink`).

`Gateway` is an async context manager: entering restores the hall from the saved state plus the events logged after
it and starts the link and the housekeeping task; leaving stops them and saves. `handle` is the hot path and is
synchronous: nothing on it awaits, so a batch is applied and committed atomically with respect to the event loop.

What never stops ingest (docs/deploy.md, "When something goes wrong while it runs"):
- a message that cannot be decoded, validated, applied or stored because of what it says is a dead letter with a
  reason (and a field path where there is one), acknowledged, and ingest goes on — whatever the exception;
- a storage fault (a full disk, a lock another process holds, an I/O error) is not the message's fault: nothing is
  acknowledged, the link leaves the broker (which keeps queueing for our persistent session), the batch is kept,
  writes are retried with back-off, health says `storage_error` with the cause, and ingest resumes by itself;
- every background task runs under `edge.supervisor`: a task that dies of anything unhandled stops the gateway with
  exit 1 (`fatal`) so that systemd restarts it — never up but deaf;
- while the gateway hears nothing (starting, broker away, storage pause), the hall model is told it is blind
  (`HallState.blind`): the gateway's own deafness never counts as a device's silence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from cloud_sync.bundle import Bundle
from cloud_sync.delivery import Receiver, bundle_topics, read_keys
from cloud_sync.wire import Stream
from devices.codec import DeviceMessage, check_time, decode
from devices.contract import Retirement
from devices.errors import PayloadError
from devices.mapping import match, subscription_filter, translate
from devices.topics import ROOT, Channel, hall_filter
from edge.anchor import Anchor, Unavailable, publisher_for
from edge.backup import before_upgrade
from edge.clock import ClockSteps, DeviceClock, SystemClock
from edge.cloud import CloudSync
from edge.config import GatewayConfig, bundle_key_files
from edge.decisions import Decider, decider_for
from edge.liveness import Liveness, Watch
from edge.memory import give_back
from edge.mqtt import MqttLink
from edge.outbox import OutboxSender
from edge.ratelimit import RateLimiter
from edge.reports import Reports, day_span
from edge.store import CloudRecord, EventBatch, Rejected, Store
from edge.store.faults import describe, is_storage_fault
from edge.stream import Broadcaster
from edge.supervisor import Supervisor, Worker
from edge.upkeep import Upkeep
from edge.versions import RuleVersions, content_hash
from rules.clock import Clock
from rules.hall import Applied, GatewayView, HallSnapshot, HallState
from rules.language import BUILTIN, RuleFile, builtin_rules, load_rules

log = logging.getLogger(__name__)

MAX_BATCH = 2000  # commit at least this often under a flood
_CONTRACT_TOPICS = f"{ROOT}/"  # every hall's; anything else is a vendor's topic, or one we never subscribed to
LIVE_EVERY_S = 1.0  # the web UI's floor view follows the hall at this pace
BUNDLE_ACTOR = "cloud"  # who activates a bundle's rules, in the audit log
CONFIG_USERS = "config_users"  # meta: the config file's users (no hashes) as of the last start, for `users list`
STORE_BUSY_S = 1.0
HEARING_GRACE_S = 10.0  # after the broker answers: still deaf this long, while the queued backlog comes in
STALL_S = 30.0  # a task that loops every second and has not come round for this long is stalled
GIVE_BACK_EVERY_S = 60.0  # the allocator's free pages returned this often (edge/memory.py)
STORAGE_RETRY_MIN_S = 0.5
STORAGE_RETRY_MAX_S = 30.0


@dataclass(slots=True)
class Counters:
    """Since the gateway started."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0  # commands (ours echoed back), topics we never subscribed to (amqtt's retained leak), a retained
    # state cleared for a device the hall does not know
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class StorageHealth:
    """Whether ingest's writes succeed: the cause and since when while they fail, and how often they failed."""

    cause: str | None = None  # while writes fail: `OperationalError: database or disk is full`
    since: datetime | None = None
    attempts: int = 0  # writes tried since it began
    faults: int = 0  # times a fault began, since the gateway started
    next_try: float = 0.0  # monotonic


class Gateway:
    def __init__(self, cfg: GatewayConfig, *, clock: Clock | None = None) -> None:
        assert cfg.hall.id is not None, "load_config guarantees a hall id"
        self.cfg = cfg
        self.hall_id: str = cfg.hall.id
        device_clock = cfg.clock.mode == "device"
        self.clock: Clock = clock or (
            DeviceClock(cfg.clock.speed, cfg.clock.max_lead_s) if device_clock else SystemClock()
        )
        self._steps = ClockSteps()  # forward steps of the system clock: blind time (hall_for_rules)
        self.counters = Counters()
        self.watch = Watch(cfg.ingest.stale_after_s)  # connected since when, the newest device message: for the UI
        self.rates = RateLimiter(cfg.ingest.max_msgs_per_s_per_device, cfg.ingest.burst_per_device)
        self.state = HallState(cfg.profile())
        self.store: Store | None = None
        self.rules: RuleFile = load_rules(cfg.rules.file) if cfg.rules.file else builtin_rules()  # checked early
        self.rules_version = 0  # the rule version in force (edge/versions.py), known once the store is open
        self.versions: RuleVersions | None = None
        self.stream = Broadcaster()
        self.reports = Reports(cfg.profile(), cfg.tidal.target_wait_min, day_span(self.rules.schedules.get("hall_day")))
        self.decider: Decider | None = None
        self.sender: OutboxSender | None = None
        self.cloud: CloudSync | None = None  # the city/province tier (edge/cloud.py), when `cloud.url` is set
        self.upkeep: Upkeep | None = None  # retention, space given back, the disk budget (edge/upkeep.py)
        self.started_at = datetime.now(UTC)
        self._started_mono = time.monotonic()
        self._batch = EventBatch()  # events and dead letters handled since the last flush
        self._acks: list[tuple[int, int, int]] = []
        self._last_saved = 0.0
        self._last_commit = 0.0  # monotonic: when ingest last committed (`commit_due`)
        self._commit_soon = False  # commit with the next `commit_due`, whenever the last commit was (a new device)
        self._dirty = False
        self._reported: Counter[str] = Counter()
        self._crashes: Counter[str] = Counter()  # messages the model could not take, by exception type (logged once)
        self.storage = StorageHealth()
        self.supervisor = Supervisor(self._fatal)
        self.ingest: Worker = self.supervisor.worker("ingest")  # the MQTT link: paused while it cannot take messages
        self.fatal: str | None = None  # the task that died and why: the gateway is stopping with exit 1
        self.failed = asyncio.Event()
        # since when the gateway has heard nothing (hall time): from the end of the log until the broker first
        # answers, and whenever the link is down; that time is the gateway's blindness, not the devices' silence
        self._deaf_since: datetime | None = None
        self._deaf_until_heard = False  # a device clock: the deaf span ends with the first message after a connect
        self._hearing_since: datetime | None = None  # the broker answered (system clock): deaf for a grace after it
        self._save_soon = False  # save the hall state with the next commit (a deaf span just closed)
        self._had_log = False  # the database had events at start: the broker should have held our session
        self.sessions_lost = 0  # the broker came back without our session (what it held for us may be lost)
        self.session_lost_at: datetime | None = None
        trusted = read_keys(bundle_key_files(cfg.rules))  # checked by load_config
        self.link = MqttLink(
            cfg.mqtt,
            cfg.mqtt.client_id or f"hallops-{self.hall_id}",
            # every hall's contract topics: a device configured for another hall (or its id cased otherwise) is
            # counted and dead-lettered as `wrong_hall`, not unheard. A broker ACL that gives the gateway its own
            # hall only (`hallops devices add`) still grants this and delivers the hall's messages alone
            [hall_filter(None), *(subscription_filter(v) for v in cfg.vendor_mappings)],
            self.handle,
            self.commit_due,
            on_connection=self._on_connection,
            on_session=self._on_session,
            routes=dict.fromkeys(bundle_topics(self.hall_id), self._take_bundle) if trusted else None,
        )
        self.bundles: Receiver | None = None  # signed rule bundles from the cloud, when a trusted key is configured
        if trusted:
            self.bundles = Receiver(
                self.hall_id,
                trusted,
                BundleSink(self),
                self.link,
                now=lambda: datetime.now(ZoneInfo(cfg.hall.timezone)),
                max_step=cfg.rules.bundle_max_version_step,
            )

    # -- lifecycle --------------------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        # the audit head's publisher, with its key made (or refused: ConfigError) before anything is opened
        anchor = publisher_for(
            self.cfg,
            lambda: self.store.audit.head() if self.store else None,
            self.link,
            self._anchor_to_cloud if self.cfg.cloud.enabled else None,
        )
        self.open()
        assert self.decider is not None and self.sender is not None and self.upkeep is not None
        self.upkeep.convert_at_start()
        sup = self.supervisor
        sup.start(self.ingest, self.link.run())
        sup.start(sup.worker("housekeeping", STALL_S), self._housekeeping())
        self.upkeep.worker = sup.worker("upkeep", STALL_S)
        sup.start(self.upkeep.worker, self.upkeep.run())
        sup.start(sup.worker("live", STALL_S), self._live())
        self.decider.worker = sup.worker("decisions", STALL_S)
        sup.start(self.decider.worker, self.decider.run())
        self.sender.worker = sup.worker("outbox", STALL_S)
        sup.start(self.sender.worker, self.sender.run())
        if self.bundles is not None:
            bundles = sup.worker("bundles")  # it waits on the link's bundle topics: running from the start
            bundles.beat()
            sup.start(bundles, self.bundles.run())
        if self.cloud is not None:
            self.cloud.worker = sup.worker("cloud", STALL_S)
            sup.start(self.cloud.worker, self.cloud.run())
        if anchor is not None:
            anchor.worker = sup.worker("audit-anchor", STALL_S)
            sup.start(anchor.worker, anchor.run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.supervisor.stop()
        self.close()

    def _anchor_to_cloud(self, anchor: Anchor) -> None:
        """The audit chain's signed head, into the cloud outbox (docs/sync.md `anchor`)."""
        if self.store is None:
            raise Unavailable("the store is closed")
        body = {"count": anchor.count, "head": anchor.head, "key": anchor.key, "signature": anchor.signature}
        line = anchor.line()
        record = CloudRecord(Stream.AUDIT, self.clock.now().timestamp(), "anchor", json.dumps({**body, "line": line}))
        self.store.cloud.add([record])

    def _fatal(self, task: str, exc: BaseException) -> None:
        """A supervised task died: stop the gateway (edge.server) and exit non-zero, so systemd starts it again."""
        self.fatal = f"{task}: {describe(exc)}"
        self.failed.set()

    def open(self) -> None:
        """Open the store and restore the hall (no network): the saved state plus the events logged after it."""
        # a write waits at most this long for another process's lock: the event loop must not stall on it; a longer
        # lock is a storage fault (ingest pauses and retries) rather than a frozen gateway
        upgrade = before_upgrade(self.cfg.storage.path, self.cfg.storage.backups(), self.hall_id)
        self.store = Store(self.cfg.storage.path, busy_timeout_s=STORE_BUSY_S, before_upgrade=upgrade)
        self.store.cloud.enabled = self.cfg.cloud.enabled  # nothing is kept for a cloud the hall does not have
        self.upkeep = Upkeep(self.cfg.storage, self.store, self.clock)
        self.upkeep.paused = lambda: self.storage.cause is not None
        configured = {name: {"role": u.role, "name": u.name} for name, u in self.cfg.users.items()}
        self.store.meta.set(CONFIG_USERS, json.dumps(configured, ensure_ascii=False))
        after = 0
        try:
            saved = self.store.events.saved_state()
            if saved is not None:
                self.state, after = HallState.load(self.cfg.profile(), saved.body), saved.event_id
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("saved hall state unreadable (%s); rebuilding from the whole event log", exc)
            self.state, after, saved = HallState(self.cfg.profile()), 0, None
        newest = self.store.events.newest_at()
        if newest is not None and isinstance(self.clock, DeviceClock):  # it resumes at the hall time it had
            self.clock.restore(datetime.fromtimestamp(newest, UTC))
        # deaf from the last thing logged until the broker answers (a device clock: until the first message tells
        # the hall time again, as the devices' time went on while the gateway was down): a restart is never a
        # device's silence
        self._had_log = newest is not None
        heard = newest if isinstance(self.clock, DeviceClock) else self._last_listening()
        if heard is not None:
            self._deaf_since = datetime.fromtimestamp(heard, UTC)
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
        # a part that was rebuilt from the log (a file of an earlier release, another configuration) is saved with the
        # next snapshot or at close, so that the next start finds it
        self._dirty = replayed > 0 or saved is None or saved.kpi is None or saved.demand is None
        self.reports.restore(self.store, self.clock.now(), saved)
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
            self.hall_for_rules,
            stream=self.stream,
            on_outbox=lambda: self.sender.wake() if self.sender else None,
            saved=saved,
        )
        # what ingest heard is committed before a decision is: a decision's time then proves the gateway heard, and
        # kept, everything until then (`_last_listening`) — the heartbeats in between are QoS 0, never sent again
        self.decider.before_write = self.flush
        self.sender = OutboxSender(self.store, self.link, webhooks=self.cfg.notify.webhooks, hall=self.cfg.profile())
        shadow = self.versions.shadow_number()
        if shadow is not None:
            self.decider.start_shadow(shadow, self.versions.get(shadow).rules)
        if self.cfg.cloud.enabled:
            self.cloud = CloudSync(self.cfg, self.store, self.snapshot, self.reports, self.clock, self.cloud_status)

    def _last_listening(self) -> float | None:
        """The last moment the store shows the gateway listening: its newest logged event or saved state, or its
        newest decision (an alert that fired on a device's silence proves the gateway heard nothing from it until
        then; ingest commits what it heard before every decision is written, so nothing heard before it is lost)."""
        assert self.store is not None
        times = [t for t in (self.store.events.last_heard(), self.store.decisions.last_written()) if t is not None]
        return max(times) if times else None

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
        """Take one MQTT message: validate, apply to the hall, queue for the log. Never raises: a message that breaks
        anything on its way in is a dead letter (`unprocessable`), and ingest goes on."""
        self.counters.received += 1
        if isinstance(self.clock, DeviceClock):
            received_at = self.clock.now()  # a last will is stamped in hall time, like everything else
        if qos:
            self._acks.append((self.link.generation, mid, qos))
        try:
            self._take(topic, payload, received_at)
        except Exception as exc:  # whatever a message does to the model, ingest goes on
            self._unprocessable(topic, payload, received_at, exc)
        if self._batch.events + len(self._batch.rejected) >= MAX_BATCH:  # a flood of refused messages commits too
            self.flush()

    def commit_due(self) -> None:
        """The link's queue ran dry (or housekeeping's second came round): commit if `storage.commit_every_s` has
        passed since the last commit. A commit writes whole pages (the log's, its indexes', the WAL's and, at the
        checkpoint, the file's): a second's few messages in one transaction cost far less flash than one each.
        Nothing is acknowledged before its commit, so waiting loses nothing; `flush()` commits at once."""
        if self._commit_soon or time.monotonic() - self._last_commit >= self.cfg.storage.commit_every_s:
            self.flush()

    def _take(self, topic: str, payload: bytes, received_at: datetime) -> None:
        try:
            if not topic.startswith(_CONTRACT_TOPICS):  # (vendor topics are never under `hall/`: load_config)
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
        if isinstance(msg.payload, Retirement):
            self._retire(msg, topic, payload)
            return
        ingest = self.cfg.ingest
        # a device clock: the devices' time is the hall's, with no box clock to hold it against (a lone outlier
        # cannot move the clock, DeviceClock); the first message is stamped with the time it brings, not the box's
        if isinstance(self.clock, DeviceClock) and self.clock.anchor is None:
            self.clock.observe(msg.at, msg.device_id)
            msg = replace(msg, received_at=self.clock.now())
        try:
            if not isinstance(self.clock, DeviceClock):
                check_time(msg.at, msg.received_at, ingest.plausible_past_s, ingest.plausible_future_s)
            self.state.admit(msg)  # nothing unconfigured, nothing beyond the caps (rules/hall/admission.py)
            if msg.channel is Channel.CMD_ACK and self.decider is not None:
                self.decider.commands.check_ack(msg)  # an answer to another device's command: out of scope
        except PayloadError as exc:
            self._reject(topic, payload, received_at, exc)
            return
        # the hall's time goes on whether or not this message is taken: a device clock that heard only the messages
        # the rate limit let through stopped after a backlog had spent every device's allowance, and with it every
        # refill — nothing was taken again (the soak: a whole day refused after a broker restart)
        self._observe(msg)
        if not self.rates.take(msg.device_id, msg.received_at.timestamp()):
            self._rate_limited(msg, topic, payload, received_at)
            return
        if not self.state.heard_of(msg.device_id):
            # a device heard for the first time is committed at once, not with the next batch: its heartbeats are QoS 0,
            # so a crash before that commit would forget it — and a device that died meanwhile would never be missed
            self._commit_soon = True
        if self.state.apply(msg) is Applied.DUPLICATE:
            self.counters.duplicates += 1
            return
        self.watch.heard(msg.received_at)
        if self._deaf_until_heard:
            self._blind_until(self.clock.now())
            self._deaf_since, self._deaf_until_heard = None, False
        self.counters.accepted += 1
        self._dirty = True
        if self.decider is not None:
            self.decider.on_message(msg)
        self.reports.apply(msg)
        if self.cloud is not None:
            self._batch.cloud.extend(self.cloud.export.observe(msg))
        self._batch.add(
            msg.received_at.timestamp(),
            msg.at.timestamp(),
            msg.device_type.value,
            msg.device_id,
            msg.channel.value,
            msg.type,
            msg.seq,
            topic,
            payload,
        )

    def _rate_limited(self, msg: DeviceMessage, topic: str, payload: bytes, received_at: datetime) -> None:
        """Over its device's rate: counted; a dead letter only once a second per device (edge/ratelimit.py)."""
        if self.rates.keep(msg.device_id, msg.received_at.timestamp()):
            limit = f"{self.rates.rate:g} messages a second (burst {self.rates.burst:g})"
            self._reject(
                topic, payload, received_at, PayloadError("rate_limited", f"{msg.device_id} sends over {limit}")
            )
        else:
            self.counters.rejected["rate_limited"] += 1
            self.watch.refused("rate_limited")

    def _retire(self, msg: DeviceMessage, topic: str, payload: bytes) -> None:
        """A device's retained state was cleared: it is retired (`HallState.retire`), counted as accepted and logged,
        so that a replay of the log retires it again. Nothing to admit (it only takes away); a device the hall does
        not know is ignored."""
        if not self.state.retire(msg.device_id):
            self.counters.ignored += 1
            return
        log.info("device retired hall=%s device=%s (its retained state was cleared)", self.hall_id, msg.device_id)
        self.rates.forget(msg.device_id)
        self.counters.accepted += 1
        self._dirty = True
        if self.decider is not None:
            self.decider.on_message(msg)
        self.reports.apply(msg)  # as a replay of the log does
        at = msg.received_at.timestamp()
        self._batch.add(at, at, msg.device_type.value, msg.device_id, msg.channel.value, msg.type, None, topic, payload)

    def _unprocessable(self, topic: str, payload: bytes, received_at: datetime, exc: Exception) -> None:
        """A message that raised on its way in (a bug, or a value nothing foresaw): kept as a dead letter with the
        exception, logged with its traceback the first time for each kind of exception."""
        kind = type(exc).__name__
        self._crashes[kind] += 1
        if self._crashes[kind] == 1:
            log.error("message not processable topic=%s (%s); kept as a dead letter", topic, kind, exc_info=exc)
        self._reject(topic, payload, received_at, PayloadError("unprocessable", describe(exc)))

    def _reject(self, topic: str, payload: bytes, received_at: datetime, exc: PayloadError) -> None:
        self.counters.rejected[exc.reason] += 1
        self.watch.refused(exc.reason)
        self._batch.reject(Rejected(received_at.timestamp(), topic, exc.reason, exc.path, exc.detail, payload))
        log.debug("rejected topic=%s reason=%s path=%s detail=%s", topic, exc.reason, exc.path, exc.detail)

    def _observe(self, msg: DeviceMessage) -> None:
        """A device clock follows the devices' time, but one device alone cannot make it jump (DeviceClock)."""
        if isinstance(self.clock, DeviceClock):
            self.clock.observe(msg.at, msg.device_id)

    def flush(self, save_state: bool = False) -> None:
        """Commit what was handled since the last flush, then acknowledge it to the broker. Never raises: a storage
        fault pauses ingest (`_storage_failed`) and the batch waits for the next try."""
        if self.store is None:
            return
        now = time.monotonic()
        self._last_commit = now
        if self.storage.cause is not None and now < self.storage.next_try:
            return
        self._commit_soon = False
        save = self._dirty and (
            save_state or self._save_soon or now - self._last_saved >= self.cfg.storage.snapshot_every_s
        )
        if self._batch or save or self.storage.cause is not None:
            try:
                self._write(*self._saved_parts() if save else (None, None, None))
            except Exception as exc:
                if not is_storage_fault(exc):
                    raise
                self._storage_failed(exc)
                return
            if save:
                self._last_saved = now
                self._dirty = self._save_soon = False
        if self.storage.cause is not None:
            self._storage_recovered()
        if self._acks:
            self.link.ack(self._acks)
            self._acks.clear()

    def _saved_parts(self) -> tuple[bytes, bytes | None, bytes | None]:
        """What a save keeps, as of the last event handled: the hall state, today's KPI book, the demand profile."""
        demand = self.decider.demand.dump() if self.decider is not None else None
        return self.state.dump(), self.reports.dump(), demand

    def _write(self, state: bytes | None, kpi: bytes | None = None, demand: bytes | None = None) -> None:
        """The batch (and the state, with today's KPI book and the demand profile), in one transaction; a row the
        store cannot hold (not a storage fault) makes the batch go row by row, and that row a dead letter."""
        assert self.store is not None
        try:
            self.store.events.write(self._batch, state, datetime.now(UTC).timestamp(), kpi, demand)
        except Exception as exc:
            if is_storage_fault(exc):
                raise
            self._write_singly(exc)
            if state is not None:
                self.store.events.write(EventBatch(), state, datetime.now(UTC).timestamp(), kpi, demand)
        self._batch.clear()

    def _write_singly(self, first: Exception) -> None:
        assert self.store is not None
        log.error("a batch could not be stored (%s); storing it row by row", describe(first))
        batch, rows = self._batch, self._batch.rows()
        done = 0
        try:
            for row in rows:
                try:
                    self.store.events.write(EventBatch.of_rows([row]))
                except Exception as exc:
                    if is_storage_fault(exc):
                        raise
                    received_at, topic, payload = row[0], row[7], row[8]
                    self.counters.accepted -= 1
                    self.counters.rejected["unstorable"] += 1
                    dead = Rejected(received_at, topic, "unstorable", "", describe(exc), payload)
                    self.store.events.write(EventBatch.of([], [dead]))
                done += 1
            rest = EventBatch.of([], batch.rejected)
            rest.cloud.extend(batch.cloud)
            self.store.events.write(rest)
        except Exception:
            del rows[:done]  # what was written stays written; the rest waits with the batch
            raise

    def _storage_failed(self, exc: BaseException) -> None:
        s = self.storage
        cause = describe(exc)
        if s.cause is None:
            s.since, s.attempts = datetime.now(UTC), 0
            s.faults += 1
            log.error(
                "ingest paused: the store refuses writes (%s) db=%s; nothing is acknowledged, the broker keeps the "
                "messages, retrying",
                cause,
                self.cfg.storage.path,
            )
            self.link.hold()  # leave the broker: our persistent session queues what comes meanwhile
        s.cause = cause
        s.attempts += 1
        s.next_try = time.monotonic() + min(STORAGE_RETRY_MAX_S, STORAGE_RETRY_MIN_S * 2 ** min(s.attempts, 10))
        self.ingest.pause("storage_error", cause)

    def _storage_recovered(self) -> None:
        s = self.storage
        assert s.since is not None
        log.warning(
            "ingest resumes: the store takes writes again after %.0f s (%d attempts)",
            (datetime.now(UTC) - s.since).total_seconds(),
            s.attempts,
        )
        s.cause, s.since, s.attempts = None, None, 0
        self.link.release()  # the link reconnects; ingest runs again once it is subscribed (`_on_connection`)

    def _on_connection(self, up: bool) -> None:
        """The link connected (subscribed) or lost the broker: ingest runs, or the gateway is deaf from now on."""
        now = self.clock.now()
        self.watch.connected(up, now)
        if up:
            if isinstance(self.clock, DeviceClock):
                self._deaf_until_heard = True  # the devices' clock tells how long the gateway was away
            else:
                # the deaf span so far is saved at once (a kill -9 soon after must not forget it), and lasts a little
                # longer: HEARING_GRACE_S for what was queued to arrive
                self._blind_until(now)
                self.flush(save_state=True)
                self._hearing_since = now
            if self.storage.cause is None:
                self.ingest.resume()
        else:
            self._blind_until(now)
            self._deaf_since, self._hearing_since = now, None
            if self.storage.cause is None:
                self.ingest.pause("broker_disconnected", f"no connection to the broker at {self.cfg.mqtt.url}")

    def _on_session(self, present: bool) -> None:
        """The broker answered a connection without our session: after an earlier connection, or on the first one
        when the database shows the gateway ran before, whatever the broker held for us may be gone. Counted in
        health, logged, and an alert (`broker-session-lost`) — never silent."""
        if present or (self.link.connects <= 1 and not self._had_log):
            return
        self.sessions_lost += 1
        self.session_lost_at = self.clock.now()
        log.error(
            "the broker has lost the gateway's session (lost=%d): messages it queued while the gateway was away may "
            "be lost; check the broker's persistence (docs/deploy.md)",
            self.sessions_lost,
        )

    def _blind_until(self, now: datetime) -> None:
        """Tell the hall model the gateway was deaf from `_deaf_since` until `now` — and, once the broker answered,
        until HEARING_GRACE_S after that: the time for what the broker queued, and for the next heartbeats, to come
        in (a busy box takes seconds), so that a restart never makes a heartbeating device look silent."""
        if self._deaf_since is None:
            return
        heard = self._hearing_since
        end = now if heard is None else min(now, heard + timedelta(seconds=HEARING_GRACE_S))
        if end > self._deaf_since:
            self.state.blind(self._deaf_since.timestamp(), end.timestamp())
            self._dirty = True  # the next save keeps the span: a restart after it must still forgive it
        if heard is not None and now >= heard + timedelta(seconds=HEARING_GRACE_S):
            self._deaf_since = self._hearing_since = None
            self._save_soon = True  # the whole span, with the next commit

    def hall_for_rules(self, now: datetime) -> HallSnapshot:
        """The hall as the rules see it: while the gateway hears nothing, that time is blind, not silent; so is the
        time a forward step of the box's clock skipped."""
        self._blind_until(now)
        step = self._steps.skipped(now) if isinstance(self.clock, SystemClock) else None
        if step is not None:
            self.state.blind(step[0].timestamp(), step[1].timestamp())
            self._dirty = True
            log.warning(
                "the box's clock stepped forward %.0f s (%s → %s): that time is not counted as the devices' silence",
                (step[1] - step[0]).total_seconds(),
                step[0].isoformat(timespec="seconds"),
                step[1].isoformat(timespec="seconds"),
            )
        hall = self.state.snapshot(now)
        storage = self.storage.cause or (self.decider.storage_fault if self.decider else None)
        disk = self.upkeep.status if self.upkeep else None
        disk_pct = round(disk.assessment.share * 100, 1) if disk is not None else None
        if storage is not None or self.session_lost_at is not None or disk_pct is not None:
            hall = replace(hall, gateway=GatewayView(storage, self.session_lost_at, disk_pct))
        return hall

    # -- housekeeping -----------------------------------------------------------------------------------

    async def _live(self) -> None:
        """Once a second, while a web page listens: the hall snapshot on the live stream (waits grow by the clock
        even when no message arrives, so it is sent on every tick, not only after a change), whether the gateway
        hears the hall (`liveness`), and which parts of the decision state moved (`changed`: engine = alerts,
        tickets, tidal = recommendations)."""
        dump = TypeAdapter(HallSnapshot).dump_json
        dump_liveness = TypeAdapter(Liveness).dump_json
        seen: dict[str, int] = {}
        worker = self.supervisor.workers["live"]
        while True:
            worker.beat()
            await asyncio.sleep(LIVE_EVERY_S)
            if not self.stream.subscribers:
                continue
            self.stream.publish_json("hall", dump(self.snapshot()).decode())
            self.stream.publish_json("liveness", dump_liveness(self.liveness()).decode())
            versions = self.decider.versions if self.decider else {}
            moved = sorted(k for k, v in versions.items() if seen.get(k) != v)
            if moved:
                seen = dict(versions)
                self.stream.publish("changed", moved)

    async def _housekeeping(self) -> None:
        """Once a second: commit stragglers (and retry a paused store), save the state when due, cap the dead
        letters (retention of the rest: edge/upkeep.py); once a minute, give the memory a burst freed back. A storage
        fault here waits for the next round; anything else is fatal."""
        worker = self.supervisor.workers["housekeeping"]
        gave_back = time.monotonic()
        while True:
            worker.beat()
            await asyncio.sleep(1.0)
            self.commit_due()
            self._report_rejections()
            if time.monotonic() - gave_back >= GIVE_BACK_EVERY_S:
                give_back()
                gave_back = time.monotonic()
            if self.store is None or self.storage.cause is not None:
                continue
            try:
                self.follow_rules()
                self.store.dead_letters.prune(self.cfg.storage.dead_letter_limit)
            except Exception as exc:
                if not is_storage_fault(exc):
                    raise
                log.warning("housekeeping skipped a round: %s", describe(exc))

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

    def cloud_status(self) -> dict[str, object]:
        """The gateway's part of the hall's status for the fleet view (docs/sync.md): today's figures, what is open,
        what is down, the rules in force, whether it hears the hall."""
        now = self.clock.now()
        local = now.astimezone(ZoneInfo(self.cfg.hall.timezone))
        today = self.reports.current(local.date(), local)
        hall = self.snapshot()
        alerts: Counter[str] = Counter()
        overdue = 0
        if self.decider is not None:
            for a in self.decider.engine.alerts.values():
                if a.state.value in ("firing", "acknowledged"):
                    alerts[a.severity.value] += 1
            overdue = sum(1 for t in self.decider.tickets.tickets if t.active and (t.ack_overdue or t.resolve_overdue))
        k = today.hall if today is not None else None
        return {
            "name": self.cfg.hall.name,
            "name_en": self.cfg.hall.name_en,
            "timezone": self.cfg.hall.timezone,
            "rule_version": self.rules_version,
            "hearing": self.liveness().state.value,
            "today": {
                "issued": k.issued if k else 0,
                "served": k.served if k else 0,
                "sl_pct": k.sl_pct if k else None,
                "p95_wait_min": k.p95_wait_min if k else None,
                "max_wait_min": k.max_wait_min if k else None,
            },
            "waiting": hall.totals.waiting,
            "alerts": dict(alerts),
            "devices_down": hall.totals.devices_offline,
            "tickets_overdue": overdue,
        }

    def liveness(self) -> Liveness:
        """Whether the gateway hears the hall now (edge/liveness.py), for the web UI's header and /api/health."""
        local = self.clock.now().astimezone(ZoneInfo(self.cfg.hall.timezone))
        return self.watch.read(local, self.rules.schedules.get("hall_day"), self.storage.cause is not None)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started_mono


class BundleSink:
    """The gateway's rule versions as the bundle receiver sees them (cloud_sync.delivery.RuleSink): taking a bundle
    is what `hallops rules apply` does (`RuleVersions.take_bundle`) — and then the gateway takes the rules up at
    once, or, for a bundle held for approval, when an administrator activates its version."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def _opened(self) -> tuple[Store, RuleVersions]:
        g = self._gateway
        assert g.store is not None and g.versions is not None, "bundles are taken only while the gateway runs"
        return g.store, g.versions

    def applied_bundle(self) -> int:
        _, versions = self._opened()
        return versions.applied_bundle()

    def rules_in_force(self) -> int:
        return self._gateway.rules_version

    def in_force(self) -> RuleFile:
        return self._gateway.rules

    def stored_rules(self, rules_yaml: str) -> int | None:
        store, _ = self._opened()
        rows = store.rule_versions.rows(content_hash=content_hash(rules_yaml))
        return rows[0].number if rows else None

    def apply_bundle(self, bundle: Bundle, topic: str) -> int:
        _, versions = self._opened()
        version = versions.take_bundle(
            bundle.rules_yaml, bundle.version, bundle.hall, BUNDLE_ACTOR, topic, rules=bundle.rules
        )
        self._gateway.follow_rules()
        return version.number

    def hold_bundle(self, bundle: Bundle, topic: str, reasons: list[str]) -> int:
        _, versions = self._opened()
        held = versions.take_bundle(
            bundle.rules_yaml, bundle.version, bundle.hall, BUNDLE_ACTOR, topic, reasons, rules=bundle.rules
        )
        return held.number
