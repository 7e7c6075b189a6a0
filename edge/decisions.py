"""Running the rules in the gateway: when to evaluate, and what to do with the decisions.

Evaluation happens after new messages (at most every `MIN_INTERVAL_S`), at the engine's next deadline (a `for`
elapsing, an escalation, a repeat — so an alert fires on time, not on the next tick), and at least once a second.
Each evaluation's outcome is written in one SQLite transaction: the engine's clocks, the alert history, and the
outbox rows that carry the notifications (MQTT alert topic, webhooks) and device commands. The outbox sender then
delivers them; the live stream (SSE) gets them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    CallAnnounceCommand,
    KioskRestartCommand,
    KioskSelfTestCommand,
    MessageShowCommand,
    NudgeCommand,
    RecallCommand,
    TicketIssued,
    TicketReactivateCommand,
    WindowAssignCommand,
    WindowClosed,
    WindowOpened,
    WindowPaused,
    WindowResumed,
)
from devices.topics import Channel, DeviceType, build_topic
from edge.audit import Entry
from edge.config import GatewayConfig
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import Clock, DeviceClock
from rules.engine import Act, Alert, AlertState, Decision, Notify, RuleEngine, Silence, in_schedule
from rules.firings import Firings, compare
from rules.hall import UNCOUNTED, HallProfile, HallSnapshot
from rules.language import CommandAction, RuleFile, Schedule
from rules.tickets import SlaPolicy, Ticket, TicketBook, TicketEvent
from rules.tidal import (
    DemandProfile,
    Recommendation,
    RecommendationKind,
    TidalEvent,
    TidalEventKind,
    TidalSettings,
    TidalTracker,
    recommend_open,
    window_capabilities,
)

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.2
MAX_SLEEP_S = 1.0
STATE_EVERY_S = 1.0
PROFILE_DAYS = 35
SHADOW_FIRINGS_KEPT = 5000  # the newest firings of a shadow version kept for its diff
TIDAL_EVERY_S = 60.0  # hall time between two runs of the tidal recommender over every service group
WINDOW_OPENS = frozenset({"window.opened", "window.resumed"})  # … and paused/closed: not open


@dataclass(slots=True)
class Batch:
    """What one evaluation produced, written in one transaction and then delivered."""

    outbox: list[tuple[str, str, bytes]] = field(default_factory=list)
    history: list[tuple[float, str, str, str, str, str]] = field(default_factory=list)
    records: list[tuple[str, str, str]] = field(default_factory=list)
    live: list[tuple[str, dict[str, object]]] = field(default_factory=list)


def decider_for(
    cfg: GatewayConfig,
    rules: RuleFile,
    store: Store,
    clock: Clock,
    snapshot: Callable[[datetime], HallSnapshot],
    *,
    stream: Broadcaster,
    on_outbox: Callable[[], None] = lambda: None,
    replay: Callable[[Batch], None] | None = None,
    partial: Callable[[datetime, Collection[str]], HallSnapshot] | None = None,
) -> Decider:
    """The decider a gateway with this configuration runs (live, or in a backtest with `replay`)."""
    assert cfg.hall.id is not None
    t = cfg.tidal
    return Decider(
        rules,
        store,
        clock,
        snapshot,
        profile=cfg.profile(),
        topic=cfg.notify.topic.replace("{hall}", cfg.hall.id),
        webhooks=list(cfg.notify.webhooks),
        tidal=TidalSettings(
            target_wait_min=t.target_wait_min,
            service_level=t.service_level,
            patience_min=t.patience_min,
            default_aht_min=cfg.default_aht_min,
            check_after_min=t.check_after_min,
        ),
        staff_pool=list(t.staff_pool),
        auto_approve=t.auto_approve,
        stream=stream,
        on_outbox=on_outbox,
        replay=replay,
        partial=partial,
    )


@dataclass(slots=True)
class Shadow:
    """A candidate rule version evaluated beside the active one on the same hall at the same moments, acting on
    nothing: its firings are only recorded, for the would-have-fired diff."""

    number: int
    engine: RuleEngine
    started_at: datetime
    firings: Firings

    def dump(self) -> dict[str, object]:
        return {"number": self.number, "started_at": self.started_at.isoformat(), "engine": self.engine.dump(),
                "firings": self.firings.dump()}  # fmt: skip


class Decider:
    def __init__(
        self,
        rules: RuleFile,
        store: Store,
        clock: Clock,
        snapshot: Callable[[datetime], HallSnapshot],
        *,
        profile: HallProfile,
        topic: str,
        webhooks: list[str],
        tidal: TidalSettings,
        staff_pool: list[str],
        auto_approve: bool,
        stream: Broadcaster,
        on_outbox: Callable[[], None],
        replay: Callable[[Batch], None] | None = None,
        partial: Callable[[datetime, Collection[str]], HallSnapshot] | None = None,
    ) -> None:
        """`replay`: a backtest's decider — it starts with no saved state and hands each evaluation's outcome to
        `replay` instead of storing or sending anything. `partial`: a snapshot of only some of the hall
        (HallState.partial), for evaluations of a few rules (`evaluate(only=…)`) that need no more."""
        self.engine = RuleEngine(rules, profile.timezone)
        self.shadow: Shadow | None = None
        self._replay = replay
        self._store = store
        self._clock = clock
        self._snapshot = snapshot
        self._partial = partial
        self._profile = profile
        self._hall = profile.hall_id
        self._tz = ZoneInfo(profile.timezone)
        self._topic = topic
        self._webhooks = webhooks
        self._stream = stream
        self._on_outbox = on_outbox
        self._staff_pool = staff_pool
        self._auto_approve = auto_approve
        self._event_types = {r.on.event for r in rules.rules if r.on is not None and r.enabled}
        self._pending: list[Decision] = []
        self._wake = asyncio.Event()
        self._last_eval = 0.0
        self._last_state = ""
        # a hash per part of the decision state ("engine", "tickets", "tidal"): the web UI re-reads a part when it
        # moves, whether or not the change was worth a notification (a pending alert, an info prompt)
        self.versions: dict[str, int] = {}
        self._audit: list[Entry] = []  # changes people made since the last write
        self._last_state_at = 0.0
        self._commands = 0
        self.evaluations = 0
        self.notifications = 0
        working = rules.schedules.get("opening_hours") or Schedule()
        self._opening_hours = working
        self._last_tidal: datetime | None = None
        self.tickets = TicketBook(working, profile.timezone, SlaPolicy())
        self.tidal = TidalTracker(tidal)
        self.demand = DemandProfile(profile.timezone)
        for name, load in (("engine", self._load_engine), ("tickets", self._load_tickets), ("tidal", self._load_tidal)):
            saved = store.decision_state(name) if replay is None else None
            if saved:
                load(saved)
        # learned from the log up to now (a backtest's replay starts at its period's beginning: nothing after it)
        until = clock.now().timestamp()
        since = until - PROFILE_DAYS * 86400.0
        for at, payload in store.issued_since(since, until):
            service = json.loads(payload).get("service")
            if isinstance(service, str):
                self.demand.add(service, datetime.fromtimestamp(at, UTC))
        for at, kind, device_id, payload in store.window_changes_since(since, until):
            window_id = json.loads(payload).get("window_id") or device_id
            self.demand.window(str(window_id), kind in WINDOW_OPENS, datetime.fromtimestamp(at, UTC))
        log.info(
            "decisions restored alerts=%d silences=%d tickets=%d tidal_pending=%d profile_days=%d",
            len(self.engine.alerts), len(self.engine.silences), len(self.tickets.tickets),
            len(self.tidal.pending()), len(self.demand.days),
        )  # fmt: skip

    def _load_engine(self, body: str) -> None:
        self.engine.load(json.loads(body))

    def _load_tickets(self, body: str) -> None:
        self.tickets.load(json.loads(body))

    def _load_tidal(self, body: str) -> None:
        self.tidal = TidalTracker.load(self.tidal.settings, body.encode())

    # -- input ------------------------------------------------------------------------------------------

    def on_message(self, msg: DeviceMessage) -> None:
        """From the ingest hot path: event rules react at once; everything else waits for the next evaluation."""
        if msg.channel is Channel.EVT:
            if msg.type in self._event_types:
                self._pending.extend(self.engine.on_message(msg, msg.at))
            if self.shadow is not None:
                self.shadow.engine.on_message(msg, msg.at)
            if isinstance(msg.payload, TicketIssued):
                self.demand.add(msg.payload.service, msg.at)
            elif isinstance(msg.payload, WindowOpened | WindowResumed | WindowPaused | WindowClosed):
                window_id = msg.payload.window_id or msg.device_id
                self.demand.window(window_id, msg.type in WINDOW_OPENS, msg.payload.ts)
        self.heard(msg.device_id)

    def heard(self, device_id: str) -> None:
        """A device spoke (all a heartbeat tells): what was predicted from its silence no longer holds."""
        self.engine.touched(device_id)
        if self.shadow is not None:
            self.shadow.engine.touched(device_id)
        self._wake.set()

    # -- rule versions ----------------------------------------------------------------------------------

    def reload(self, rules: RuleFile, *, adopt_shadow: bool = False) -> list[str]:
        """Use new rules now, keeping the clocks of the rules that did not change (RuleEngine.reload); returns the
        changed rule ids. `adopt_shadow`: the new rules are the shadow's, which ran them already (a promotion)."""
        adopt = self.shadow.engine if adopt_shadow and self.shadow is not None else None
        changed = self.engine.reload(rules, adopt)
        if adopt is not None:
            self.shadow = None
        self._event_types = {r.on.event for r in rules.rules if r.on is not None and r.enabled}
        self._wake.set()
        return changed

    def start_shadow(self, number: int, rules: RuleFile) -> None:
        """Evaluate `rules` beside the active ones from now on (the same shadow version carries on after a restart)."""
        saved = json.loads(self._store.decision_state("shadow") or "{}") if self._replay is None else {}
        engine = RuleEngine(rules, self._profile.timezone)
        if saved.get("number") == number:
            engine.load(saved["engine"])
            firings = Firings(datetime.fromisoformat(saved["started_at"]), datetime.max.replace(tzinfo=UTC))
            firings.load(saved["firings"])
            self.shadow = Shadow(number, engine, firings.start, firings)
        else:
            now = self._clock.now()
            self.shadow = Shadow(number, engine, now, Firings(now, datetime.max.replace(tzinfo=UTC)))
        self._wake.set()

    def stop_shadow(self) -> None:
        self.shadow = None

    def shadow_report(self) -> dict[str, object] | None:
        """The would-have-fired diff: the active version's firings since the shadow started against the shadow's."""
        if self.shadow is None:
            return None
        start, now = self.shadow.firings.start, self._clock.now()  # the start, or the oldest firing still kept
        active = Firings.from_history(self._store.alert_changes_between(start.timestamp(), math.inf), start,
                                      datetime.max.replace(tzinfo=UTC))  # fmt: skip
        # the same hall at the same moments: a firing of both is one at the same time (a second for rounding)
        found = compare(active.alerts, self.shadow.firings.alerts, tolerance_s=1.0)
        firing = [f"{a.rule_id} " + ",".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
                  for a in self.shadow.engine.alerts.values() if a.state is AlertState.FIRING]  # fmt: skip
        return {
            "number": self.shadow.number,
            "started_at": self.shadow.started_at.astimezone(self._tz).isoformat(),
            "compared_since": start.astimezone(self._tz).isoformat(),
            "now": now.astimezone(self._tz).isoformat(),
            "active_per_rule": active.per_rule(),
            "shadow_per_rule": self.shadow.firings.per_rule(),
            "shadow_firing": sorted(firing),
            "diff": found.to_dict(self._tz),
        }

    # -- people (the API) --------------------------------------------------------------------------------

    def engine_acknowledge(self, fingerprint: str, by: str) -> None:
        """Acknowledge and store/deliver the outcome at once (KeyError: no such firing alert)."""
        alert = self.engine.alerts.get(fingerprint)
        self._pending.extend(self.engine.acknowledge(fingerprint, by, self._clock.now()))
        rule = alert.rule_id if alert else ""
        self._audited(by, "alert.acknowledge", fingerprint, rule=rule, labels=alert.labels if alert else {})
        self.evaluate()

    def engine_silence(self, silence: Silence) -> None:
        self.engine.silence(silence)
        self._audited(silence.created_by, "silence.create", silence.id, rule=silence.rule, labels=silence.labels,
                      ends_at=silence.ends_at.isoformat(), comment=silence.comment)  # fmt: skip
        self.evaluate()

    def engine_expire_silence(self, silence_id: str, by: str = "system") -> None:
        self.engine.expire_silence(silence_id, self._clock.now())
        self._audited(by, "silence.end", silence_id)
        self.evaluate()

    def _audited(self, actor: str, action: str, subject: str, **detail: object) -> None:
        """A person's change, written to the audit log in the same transaction as the state it changed."""
        self._audit.append(Entry(time.time(), actor, action, subject, detail))

    def ticket_transition(self, ticket_id: str, action: str, by: str, note: str) -> Ticket:
        """acknowledge | start | resolve | close; raises TicketError for an unknown ticket or a wrong move."""
        now = self._clock.now()
        book = self.tickets
        events = {
            "acknowledge": lambda: book.acknowledge(ticket_id, by, now),
            "start": lambda: book.start(ticket_id, by, now),
            "resolve": lambda: book.resolve(ticket_id, by, note, now),
            "close": lambda: book.close(ticket_id, by, now),
        }[action]()
        self._audited(by, f"ticket.{action}", ticket_id, **({"note": note} if note else {}))
        self.evaluate(extra_tickets=events)
        return book.get(ticket_id)

    def recommendation_decision(self, rec_id: str, approve: bool, by: str, reason: str) -> Recommendation:
        """Approve (send the commands, notify) or reject a pending recommendation; ValueError if it is not pending."""
        now = self._clock.now()
        if approve:
            rec = self.tidal.approve(rec_id, by, now)
            self._audited(by, "recommendation.approve", rec_id, windows=list(rec.windows), services=list(rec.services))
            self.evaluate(approved=[(rec, by)])
        else:
            rec = self.tidal.reject(rec_id, by, reason, now)
            self._audited(by, "recommendation.reject", rec_id, reason=reason, services=list(rec.services))
            self.evaluate(rejected=[(rec, by, reason)])
        return rec

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sleep = self._sleep_for()
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)
                woken = True
            self._wake.clear()
            wait = MIN_INTERVAL_S - (loop.time() - self._last_eval)
            if woken and wait > 0:  # batch a burst of messages into one evaluation — but a deadline does not wait
                await asyncio.sleep(min(wait, self._sleep_for()))
            self._last_eval = loop.time()
            self.evaluate()

    def next_deadline(self) -> datetime | None:
        """The earliest time an evaluation is due: a rule's `for` elapsing, an SLA clock, a tidal check."""
        deadlines = [d for d in (self.engine.next_deadline(), self.tickets.next_deadline(),
                                 self.tidal.next_deadline()) if d is not None]  # fmt: skip
        return min(deadlines) if deadlines else None

    def has_pending(self) -> bool:
        """Event rules fired since the last evaluation, their decisions not yet carried out."""
        return bool(self._pending)

    def rules_due(self, at: datetime) -> set[str] | None:
        """The rules whose deadlines have come by `at` (None: all of them, a silence starts or ends)."""
        due = {rid for rid, t in self.engine.deadlines().items() if t <= at}
        return None if None in due else {rid for rid in due if rid is not None}

    def _sleep_for(self) -> float:
        due = self.next_deadline()
        if due is None:
            return MAX_SLEEP_S
        speed = self._clock.speed if isinstance(self._clock, DeviceClock) else 1.0
        ahead = (due - self._clock.now()).total_seconds() / speed
        return min(MAX_SLEEP_S, max(0.0, ahead))

    def evaluate(
        self,
        *,
        extra_tickets: list[TicketEvent] | None = None,
        approved: list[tuple[Recommendation, str]] | None = None,
        rejected: list[tuple[Recommendation, str, str]] | None = None,
        only: set[str] | None = None,
    ) -> list[Decision]:
        """One evaluation at the clock's now; its outcome stored and queued for delivery. `only`: of the rules,
        evaluate just these (a backtest meeting their deadlines; see RuleEngine.evaluate)."""
        now = self._clock.now()
        tickets_due, tidal_due = _due(self.tickets.next_deadline(), now), _due(self.tidal.next_deadline(), now)
        if only is not None and not only and not (self._pending or extra_tickets or approved or rejected
                                                  or tickets_due or tidal_due):  # fmt: skip
            return []  # a backtest's evaluation for the other version's deadline: nothing here is due
        hall = self._hall_for(now, only, tickets_due or tidal_due or bool(extra_tickets or approved or rejected))
        decisions = self._pending + self.engine.evaluate(hall, now, only)
        self._pending = []
        if hall.totals is UNCOUNTED and any(isinstance(d, Act) and d.action.command is None for d in decisions):
            hall = self._snapshot(now)  # a ticket to open or a window to recommend: they look at the whole hall
        if self.shadow is not None:
            self.shadow.engine.evaluate(hall, now, only)
            for changed in self.shadow.engine.take_changes():
                self.shadow.firings.observe(changed)
            if len(self.shadow.firings.alerts) > SHADOW_FIRINGS_KEPT:  # a shadow left running for weeks stays small
                self.shadow.firings.forget(len(self.shadow.firings.alerts) - SHADOW_FIRINGS_KEPT)
        self.evaluations += 1
        batch = Batch()
        for d in decisions:
            if isinstance(d, Notify):
                self._alert_note(batch, d)
            elif d.action.command is not None:
                if self._replay is None:  # a backtest sends nothing: the recorded devices answered already
                    batch.outbox.extend(self._commands_for(d.alert, d.action.command, hall, now))
            elif d.action.ticket is not None:
                for ev in self.tickets.on_alert(d, hall, now):
                    self._ticket_note(batch, ev)
            elif d.action.recommend == "tidal.open":
                self._recommend(batch, d.alert.labels.get("service"), hall, now)
        for alert in self.engine.take_changes():
            batch.history.append(
                (
                    now.timestamp(),
                    alert.fingerprint,
                    alert.rule_id,
                    alert.state.value,
                    alert.severity.value,
                    json.dumps(self.alert_json(alert), ensure_ascii=False),
                )
            )
            if alert.state is AlertState.RESOLVED:
                self.tickets.on_alert_resolved(alert.fingerprint, now)
        # a partial evaluation (a backtest meeting some rules' deadlines) moves the tickets and the tidal tracker
        # only when they have something due; the next full evaluation, at most a minute later, catches them up
        full = only is None
        ticking = (full or tickets_due
                   or any(isinstance(d, Act) and d.action.ticket is not None for d in decisions))  # fmt: skip
        for ev in [*(extra_tickets or []), *(self.tickets.tick(hall, now) if ticking else [])]:
            self._ticket_note(batch, ev)
        for rec, by in approved or []:
            self._approved(batch, rec, by, hall, now)
        for rec, by, reason in rejected or []:
            self._rec_note(batch, rec, "rejected", by=by, note=reason)
        for tev in self.tidal.check(hall, now, self.demand) if full or tidal_due else []:
            self._tidal_event(batch, tev, hall, now)
        # due a minute after the last run, or at once after the clock went back (a device clock's first device
        # message from an earlier day than the box's date; the box's clock stepped back by NTP): a negative gap
        # would otherwise hold the recommender off until the clock caught up again
        since = None if self._last_tidal is None else now - self._last_tidal
        if full and (since is None or not timedelta(0) <= since < timedelta(seconds=TIDAL_EVERY_S)):
            self._last_tidal = now
            if in_schedule(self._opening_hours, now.astimezone(self._tz)):
                self._recommend(batch, None, hall, now)
        self._store_and_send(batch, decisions, now)
        return decisions

    def _hall_for(self, now: datetime, only: set[str] | None, whole: bool) -> HallSnapshot:
        """The snapshot an evaluation looks at: the whole hall, or in a backtest, for a few rules (and no tickets,
        tidal checks or event-rule decisions due), only the kinds of subject those rules read."""
        if only is None or whole or self._partial is None or self._replay is None or self._pending:
            return self._snapshot(now)
        kinds = self.engine.needs(only)
        if kinds is None:
            return self._snapshot(now)
        return self._partial(now, {f"{kind.value}s" for kind in kinds})

    def _store_and_send(self, batch: Batch, decisions: list[Decision], now: datetime) -> None:
        if self._replay is not None:
            self._replay(batch)
            return
        states = {
            "engine": json.dumps(self.engine.dump(), ensure_ascii=False, sort_keys=True),
            "tickets": json.dumps(self.tickets.dump(), ensure_ascii=False, sort_keys=True),
            "tidal": self.tidal.dump().decode(),
            "shadow": json.dumps(self.shadow.dump() if self.shadow else {}, ensure_ascii=False, sort_keys=True),
        }
        fingerprint = "".join(states.values())
        self.versions = {name: hash(text) for name, text in states.items()}
        wall = datetime.now(UTC).timestamp()
        due = fingerprint != self._last_state and (
            decisions or batch.history or batch.records or wall - self._last_state_at >= STATE_EVERY_S
        )
        if batch.outbox or batch.history or batch.records or self._audit or due:
            audit, self._audit = self._audit, []
            self._store.write_decisions(states, batch.history, batch.outbox, wall, batch.records, audit)
            self._last_state, self._last_state_at = fingerprint, wall
        if batch.outbox:
            self._on_outbox()
        for event, body in batch.live:
            self._stream.publish(event, body)

    # -- what each kind of decision produces --------------------------------------------------------------

    def _deliver(self, batch: Batch, kind: str, body: dict[str, object]) -> None:
        self.notifications += 1
        if self._replay is not None:
            return  # a backtest tells nobody
        payload = json.dumps({"type": kind, **body}, ensure_ascii=False).encode()
        batch.outbox.append(("mqtt", f"{self._topic}/{kind}s", payload))
        batch.outbox.extend(("webhook", url, payload) for url in self._webhooks)
        batch.live.append((kind, body))

    def _alert_note(self, batch: Batch, note: Notify) -> None:
        self._deliver(batch, "alert", self.alert_json(note.alert, note) if self._replay is None else {})

    def _ticket_note(self, batch: Batch, ev: TicketEvent) -> None:
        body = self.ticket_json(ev.ticket)
        batch.records.append(("ticket", ev.ticket.id, json.dumps(body, ensure_ascii=False)))
        if ev.roles:
            note = {"event": ev.kind.value, "roles": [r.value for r in ev.roles], "by": ev.by, "note": ev.note}
            self._deliver(batch, "ticket", {**body, "notification": note})

    def _rec_note(self, batch: Batch, rec: Recommendation, event: str, *, by: str = "system", note: str = "",
                  roles: tuple[str, ...] = ("hall_manager",)) -> None:  # fmt: skip
        body = {**rec.to_dict(), "status": event, "decided_by": by if event in ("approved", "rejected") else None}
        batch.records.append(("recommendation", rec.id, json.dumps(body, ensure_ascii=False, default=str)))
        note_body = {"event": event, "roles": list(roles), "by": by, "note": note}
        self._deliver(batch, "recommendation", {**json.loads(json.dumps(body, default=str)), "notification": note_body})

    def _recommend(self, batch: Batch, service: str | None, hall: HallSnapshot, now: datetime) -> None:
        """Tidal openings for every service group (every minute), or for `service` (its tidal-open alert fired)."""
        recs = recommend_open(
            hall, window_capabilities(self._profile, hall), self.demand, self.tidal.settings, now,
            staff_pool=self._staff_pool, services={service} if service else None, arriving=self.tidal.arriving(),
        )  # fmt: skip
        for rec in self.tidal.offer(recs, now):
            self._rec_note(batch, rec, "offered")
            if self._auto_approve and rec.windows:
                approved = self.tidal.approve(rec.id, "policy:auto_approve", now)
                self._approved(batch, approved, "policy:auto_approve", hall, now)

    def _approved(self, batch: Batch, rec: Recommendation, by: str, hall: HallSnapshot, now: datetime) -> None:
        """Carry out an approved recommendation: tell the queue system and the windows, notify the staff."""
        qms = next((d.device_id for d in hall.devices if d.device_type is DeviceType.QMS), None)
        caps = window_capabilities(self._profile, hall)
        for i, window_id in enumerate(rec.windows):
            staff = rec.staff[i] if i < len(rec.staff) else None
            self._commands += 1
            cmd_id = f"{rec.id}-{self._commands}"
            serves = tuple(c for c in rec.serves if c in caps.get(window_id, rec.serves)) or rec.services
            services = ", ".join(serves)
            if qms is not None and rec.kind is RecommendationKind.OPEN:
                assign = WindowAssignCommand(ts=now, cmd_id=cmd_id, window_id=window_id, services=serves,
                                             staff_id=staff)  # fmt: skip
                topic = build_topic(self._hall, DeviceType.QMS, qms, Channel.CMD)
                batch.outbox.append(("mqtt", topic, assign.model_dump_json(exclude_none=True).encode()))
            if rec.kind is RecommendationKind.OPEN:
                text = f"潮汐窗口：请开放办理 {services} / tidal window: please open for {services}"
            else:
                text = f"请结束潮汐窗口 {services} / please close the tidal window"
            nudge = NudgeCommand(ts=now, cmd_id=f"{cmd_id}-n", waiting=sum(s.waiting for s in hall.services
                                 if s.code in rec.services), message=text)  # fmt: skip
            topic = build_topic(self._hall, DeviceType.WINDOW, window_id, Channel.CMD)
            batch.outbox.append(("mqtt", topic, nudge.model_dump_json(exclude_none=True).encode()))
        self._rec_note(batch, rec, "approved", by=by, roles=("hall_manager", "window_staff"))

    def _tidal_event(self, batch: Batch, ev: TidalEvent, hall: HallSnapshot, now: datetime) -> None:
        if ev.kind is TidalEventKind.CLOSE and ev.recommendation is not None:
            self._rec_note(batch, ev.recommendation, "offered")
        elif ev.kind is TidalEventKind.ESCALATE:
            body: dict[str, object] = {
                "rec_id": ev.rec_id, "services": list(ev.services), "windows": list(ev.windows),
                "windows_not_open": list(ev.windows_not_open), "reason_en": ev.reason_en, "reason_zh": ev.reason_zh,
                "wait_at_approval_min": ev.wait_at_approval_min, "wait_now_min": ev.wait_now_min,
                "notification": {"event": "escalated", "roles": ["hall_manager", "director"]},
            }  # fmt: skip
            self._deliver(batch, "recommendation", body)
        else:
            log.info("tidal check rec=%s: %s", ev.rec_id, ev.reason_en)

    # -- commands ---------------------------------------------------------------------------------------

    def _commands_for(
        self, alert: Alert, cmd: CommandAction, hall: HallSnapshot, now: datetime
    ) -> list[tuple[str, str, bytes]]:
        """The MQTT command messages a rule's command action means for this alert."""
        out: list[tuple[str, str, bytes]] = []
        window_id = alert.labels.get("window")
        window = next((w for w in hall.windows if w.window_id == window_id), None)
        targets: list[tuple[DeviceType, str]] = []
        if cmd.target == "call_screens":
            targets = [(d.device_type, d.device_id) for d in hall.devices if d.device_type is DeviceType.CALL_SCREEN]
        elif cmd.target == "qms":
            qms: list[tuple[DeviceType, str]] = [(d.device_type, d.device_id) for d in hall.devices
                                                 if d.device_type is DeviceType.QMS]  # fmt: skip
            targets = qms[:1]
        elif window_id is not None:
            targets = [(DeviceType.WINDOW, window_id)]
        elif "device" in alert.labels:
            targets = [(DeviceType(alert.labels["device_type"]), alert.labels["device"])]
        for device_type, device_id in targets:
            self._commands += 1
            cmd_id = f"{alert.fingerprint}-{self._commands}"
            model = self._command(cmd, cmd_id, alert, window, hall, now)
            if model is None:
                log.warning("command %s has nothing to act on for alert %s", cmd.type, alert.fingerprint)
                continue
            topic = build_topic(self._hall, device_type, device_id, Channel.CMD)
            out.append(("mqtt", topic, model.model_dump_json(exclude_none=True).encode()))
        return out

    @staticmethod
    def _command(
        cmd: CommandAction, cmd_id: str, alert: Alert, window: object, hall: HallSnapshot, now: datetime
    ) -> (
        NudgeCommand
        | RecallCommand
        | CallAnnounceCommand
        | MessageShowCommand
        | KioskRestartCommand
        | KioskSelfTestCommand
        | TicketReactivateCommand
        | None
    ):
        from rules.hall import WindowView  # noqa: PLC0415

        w = window if isinstance(window, WindowView) else None
        if cmd.type == "nudge":
            waiting = sum(s.waiting for s in hall.services if w is not None and s.code in w.services)
            return NudgeCommand(ts=now, cmd_id=cmd_id, waiting=waiting, message=cmd.message)
        if cmd.type == "recall":
            return RecallCommand(ts=now, cmd_id=cmd_id, ticket_id=w.current_ticket) if w and w.current_ticket else None
        if cmd.type == "call.announce":
            if w is None or w.current_number is None:
                return None
            return CallAnnounceCommand(ts=now, cmd_id=cmd_id, number=w.current_number, window_id=w.window_id)
        if cmd.type == "message.show":
            return MessageShowCommand(ts=now, cmd_id=cmd_id, text=cmd.message or alert.reason)
        if cmd.type == "restart":
            return KioskRestartCommand(ts=now, cmd_id=cmd_id)
        if cmd.type == "self_test":
            return KioskSelfTestCommand(ts=now, cmd_id=cmd_id)
        ticket = alert.labels.get("ticket")
        return TicketReactivateCommand(ts=now, cmd_id=cmd_id, ticket_id=ticket) if ticket else None

    # -- presentation -----------------------------------------------------------------------------------

    def alert_json(self, a: Alert, note: Notify | None = None) -> dict[str, object]:
        """The alert as the API, the MQTT alert topic, webhooks and the live stream show it."""
        rule = self.engine.rule(a.rule_id)

        def t(v: datetime | None) -> str | None:
            return v.astimezone(self._tz).isoformat() if v is not None else None

        body: dict[str, object] = {
            "hall": self._hall,
            "fingerprint": a.fingerprint,
            "rule": a.rule_id,
            "description": rule.description if rule else "",
            "severity": a.severity.value,
            "state": a.state.value,
            "labels": a.labels,
            "reason": a.reason,
            "evidence": {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in a.evidence.items()
            },
            "active_since": t(a.active_since),
            "fired_at": t(a.fired_at),
            "resolved_at": t(a.resolved_at),
            "acknowledged_at": t(a.acknowledged_at),
            "acknowledged_by": a.acknowledged_by,
            "escalation_level": a.escalation_level,
            "occurrences": a.occurrences,
            "muted_by": a.muted_by,
        }
        if note is not None:
            body["notification"] = {"reason": note.reason.value, "roles": [r.value for r in note.roles]}
        return body

    def ticket_json(self, t: Ticket) -> dict[str, object]:
        """A ticket as the API, the MQTT ticket topic, webhooks and the live stream show it."""
        return {f.name: _plain_json(getattr(t, f.name), self._tz) for f in fields(t)}


def _due(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now


def _plain_json(value: object, tz: ZoneInfo) -> object:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain_json(v, tz) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain_json(getattr(value, f.name), tz) for f in fields(value)}  # type: ignore[arg-type, unused-ignore]
    return value
