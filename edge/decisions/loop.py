"""The decider: when to evaluate the rules, the evaluation, and what each decision produces.

Evaluation happens after new messages (at most every `MIN_INTERVAL_S`), at the next deadline of the engine, the
tickets, the tidal tracker or the command tracker (a `for` elapsing, an escalation, a repeat, an SLA clock, a tidal
check, a command to send again — so an alert fires on time, not on the next tick), and at least once a second. Each
evaluation's outcome (a `Batch`) is written in one SQLite transaction: the decision state, the alert history, the
ticket and recommendation records, the outbox rows that carry the notifications (MQTT, webhooks) and device commands
(new ones, and the re-sends of those no device acknowledged yet), and the audit entries of the people's changes that
led to it. The outbox sender then delivers them; the live stream (SSE) gets them at once.

This module must not build device commands (commands.py), keep their acknowledgement clocks (rules/commands.py),
render alerts or tickets (records.py), or run a shadow's diff (shadow.py); it reads the store only to restore and to
report, and writes it once per evaluation.

Why about 750 lines: `Decider` is the one object that orders an evaluation (rules, tickets, tidal, shadow, commands
heard back) and its single write; what could leave it already has (commands, records, shadow, demand, settings).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import fnmatch
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import CommandAck
from devices.topics import Channel, DeviceType
from edge.audit import Entry
from edge.clock import DeviceClock
from edge.config import GatewayConfig
from edge.decisions.batch import Batch, LiveEvent
from edge.decisions.breaks import LunchBreaks, attempt, break_words
from edge.decisions.commands import alert_commands, break_command, recommendation_commands
from edge.decisions.demand import learn_after, learn_booking, learn_bookings, learn_history, learn_message
from edge.decisions.guides import GuideBoard, GuideOffer, guide_row, guide_words
from edge.decisions.records import (
    alert_json,
    alert_notification_id,
    recommendation_notification_id,
    recommendation_record,
    ticket_json,
    ticket_notification_id,
)
from edge.decisions.settings import DeciderSettings, settings_for, skill_book, tidal_pool
from edge.decisions.shadow import Shadow
from edge.store import AlertChange, OutboxMessage, Record, Store
from edge.store.events import SavedState
from edge.store.faults import describe, is_storage_fault
from edge.stream import Broadcaster
from edge.supervisor import Worker
from edge.wording.tidal import render_event
from rules.alerts import NotifyReason
from rules.clock import Clock
from rules.commands import AckOutcome, CommandStatus, CommandTracker, DeviceCommand, TrackedCommand
from rules.engine import Act, Alert, AlertState, Decision, Notify, RuleEngine, Silence, in_schedule
from rules.hall import UNCOUNTED, HallSnapshot, WindowStatus
from rules.language import Role, RuleFile, Schedule
from rules.rota import PostKind, SkillLearner
from rules.tickets import SlaPolicy, Ticket, TicketBook, TicketEvent
from rules.tidal import (
    AssignCandidate,
    Bookings,
    DemandProfile,
    GuidePost,
    GuideReason,
    GuideSettings,
    Recommendation,
    TidalEvent,
    TidalEventKind,
    TidalTracker,
    assign_candidates,
    assign_staff,
    guide_over,
    recommend_cover,
    recommend_guide,
    recommend_open,
    window_capabilities,
)

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.2
MAX_SLEEP_S = 1.0
MAX_REST_S = 5.0  # the longest rest after a long evaluation (a deadline waits at most this for it)
# The decision state is written with every decision (a notification, a ticket, a record, an audit entry) and
# otherwise at most this often: between decisions only clocks move (an alert's last-true time, a pending `for`),
# which the hall tells again after a restart. Writing it every second was 63 KB/s of flash on a city hall.
STATE_EVERY_S = 60.0
TIDAL_EVERY_S = 60.0  # hall time between two runs of the tidal recommender over every service group
BREAK_SOON = timedelta(minutes=15)  # a window whose lunch starts within this is not asked to cover another


def decider_for(  # noqa: PLR0913 - the configuration and the gateway's (or a backtest's) parts, each a keyword
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
    saved: SavedState | None = None,
) -> Decider:
    """The decider a gateway with this configuration runs (live, or in a backtest with `replay`), restored."""
    return Decider.restore(
        rules,
        store,
        clock,
        snapshot,
        settings_for(cfg),
        stream=stream,
        on_outbox=on_outbox,
        replay=replay,
        partial=partial,
        saved=saved,
    )


class Decider:
    def __init__(  # noqa: PLR0913 - the rules, the settings and the parts it works with; the wiring is keywords
        self,
        rules: RuleFile,
        store: Store,
        clock: Clock,
        snapshot: Callable[[datetime], HallSnapshot],
        settings: DeciderSettings,
        *,
        stream: Broadcaster,
        on_outbox: Callable[[], None],
        replay: Callable[[Batch], None] | None = None,
        partial: Callable[[datetime, Collection[str]], HallSnapshot] | None = None,
    ) -> None:
        """A decider with fresh clocks that has learned nothing yet (`restore` is the one the gateway runs).

        `replay`: a backtest's decider — it starts with no saved state and hands each evaluation's outcome to
        `replay` instead of storing or sending anything. `partial`: a snapshot of only some of the hall
        (HallState.partial), for evaluations of a few rules (`evaluate(only=…)`) that need no more."""
        profile = settings.profile
        self.engine = RuleEngine(rules, profile.timezone)
        self.shadow: Shadow | None = None
        self._replay = replay
        self._store = store
        self._clock = clock
        self._snapshot = snapshot
        self._partial = partial
        self._settings = settings
        self._profile = profile
        self._hall = profile.hall_id
        self._tz = ZoneInfo(profile.timezone)
        self._stream = stream
        self._on_outbox = on_outbox
        self.before_write: Callable[[], None] | None = None  # the gateway commits what ingest heard first
        self._event_types = {r.on.event for r in rules.rules if r.on is not None and r.enabled}
        self._pending: list[Decision] = []
        self._wake = asyncio.Event()
        self._last_eval = 0.0  # the loop's time when the last evaluation began
        self._last_cost = 0.0  # and how long it took
        self._written: dict[str, str] = {}  # each part of the decision state as written last
        self._tickets_written: int | None = None  # the ticket book's digest when it was written last
        # a hash per part of the decision state ("engine", "tickets", "tidal"): the web UI re-reads a part when it
        # moves, whether or not the change was worth a notification (a pending alert, an info prompt)
        self.versions: dict[str, int] = {}
        self._audit: list[Entry] = []  # changes people made since the last write
        # what evaluations decided while the store refused writes (a full disk, a lock held by another process): kept
        # in order and written first, with the next write that succeeds — a storage fault delays, never loses
        self._unwritten = Batch()
        self.storage_fault: str | None = None  # the cause, while writes fail
        self.worker: Worker | None = None  # the supervisor's account of the loop (edge/supervisor.py), when it runs
        self._last_state_at = 0.0
        self.commands = CommandTracker(settings.ack_waits_s)  # every command sent, until its device answers
        self._commands_written: int | None = None  # the tracker's version when it was written last
        self.evaluations = 0
        self.notifications = 0
        working = rules.schedules.get("opening_hours") or Schedule()
        self._last_tidal: datetime | None = None
        self.tickets = TicketBook(working, profile.timezone, SlaPolicy())
        self.tidal = TidalTracker(settings.tidal)
        self.bookings = Bookings(profile.timezone)  # the hall's appointments (预约): known future arrivals
        self.demand = DemandProfile(profile.timezone)
        self.demand.bookings = self.bookings
        self.skills = skill_book(settings)  # the roster's skills, and what people are seen serving from now on
        self.lunch = LunchBreaks(settings)  # today's and tomorrow's lunch plans, today's kept live
        self.guides = GuideBoard()  # the mobile post (流动岗): a guide proposed, the guides posted
        self._guide_settings = GuideSettings()
        self._mobile = any(s.kind is PostKind.MOBILE for s in settings.roster)  # anyone to send as a guide
        self._guide_said: list[tuple[str, dict[str, object]]] = []  # (event, row) of the manager's actions, to tell
        self._last_guide: datetime | None = None
        self._skill_seen = SkillLearner(self.skills)

    @classmethod
    def restore(  # noqa: PLR0913 - as __init__
        cls,
        rules: RuleFile,
        store: Store,
        clock: Clock,
        snapshot: Callable[[datetime], HallSnapshot],
        settings: DeciderSettings,
        *,
        stream: Broadcaster,
        on_outbox: Callable[[], None],
        replay: Callable[[Batch], None] | None = None,
        partial: Callable[[datetime, Collection[str]], HallSnapshot] | None = None,
        saved: SavedState | None = None,
    ) -> Decider:
        """A decider as the last run left it: the engine's, the tickets' and the tidal tracker's clocks as saved with
        the last decision (none for a backtest's, `replay`), and the demand profile — the one `saved` with the hall
        state and the events logged after it, else learned from the log up to the clock's now. The shadow carries on
        when the gateway starts it again (`start_shadow`)."""
        decider = cls(
            rules, store, clock, snapshot, settings, stream=stream, on_outbox=on_outbox, replay=replay, partial=partial
        )
        if replay is None:
            if part := store.decisions.state("engine"):
                decider.engine.load(join_state("engine", part, rows := store.decisions.states(ALERT_PART)))
                decider._written.update({"engine": part, **rows})
            if part := store.decisions.state("tickets"):
                decider.tickets.load(join_state("tickets", part, rows := store.decisions.states(TICKET_PART)))
                decider._written.update({"tickets": part, **rows})
            if part := store.decisions.state("tidal"):
                decider.tidal = TidalTracker.load(settings.tidal, part.encode())
            if part := store.decisions.state("skills"):
                try:  # who was seen serving what: learned again otherwise, three tickets a service at a time
                    decider.skills.load_seen(part)
                except ValueError as exc:
                    log.warning("saved skills not used (%s): learned again from the messages", exc)
            if part := store.decisions.state("guides"):
                try:
                    decider.guides = GuideBoard.load(part)
                except ValueError as exc:
                    log.warning("saved guides not used (%s)", exc)
            if part := store.decisions.state("breaks"):
                decider.lunch.saved = part  # taken when today's plan is there (a restart on another day: dropped)
            if part := store.decisions.state("commands"):
                saved_commands = join_state("commands", part, rows := store.decisions.states(COMMAND_PART))
                decider.commands = CommandTracker.load(saved_commands, clock.now(), settings.ack_waits_s)
                decider._written.update({"commands": part, **rows})
                decider._commands_written = decider.commands.version
        decider._learn(store, clock.now(), saved)
        for w in snapshot(clock.now()).windows:  # who sits where now: completions after the restart are credited
            if w.staff_id and w.status is not WindowStatus.CLOSED:
                decider._skill_seen.seat(w.window_id, w.staff_id)
        log.info(
            "decisions restored alerts=%d silences=%d tickets=%d tidal_pending=%d commands=%d profile_days=%d",
            len(decider.engine.alerts),
            len(decider.engine.silences),
            len(decider.tickets.tickets),
            len(decider.tidal.pending()),
            len(decider.commands.commands),
            len(decider.demand.days),
        )
        return decider

    def _learn(self, store: Store, now: datetime, saved: SavedState | None) -> None:
        """The demand profile: the saved one and what was logged after it, or five weeks of the log."""
        started = time.monotonic()
        if saved is not None and saved.demand is not None:
            try:
                profile = DemandProfile.load(saved.demand)
            except ValueError as exc:
                log.info("saved demand profile not used (%s); learning it from the log", exc)
            else:
                if not profile.split_known:  # its walk-in rate would count the booked people twice
                    log.info("saved demand profile not used (saved before appointments); learning it from the log")
                elif (profile.timezone, profile.weeks) == (self.demand.timezone, self.demand.weeks):
                    self.demand = profile
                    self.demand.bookings = self.bookings
                    read = learn_after(profile, store, saved.event_id)
                    seconds = time.monotonic() - started
                    log.info("demand profile restored from=saved events=%d seconds=%.2f", read, seconds)
                    self._learn_bookings(store, now)
                    return
        learn_history(self.demand, store, now)
        log.info("demand profile restored from=log seconds=%.2f", time.monotonic() - started)
        self._learn_bookings(store, now)

    def _learn_bookings(self, store: Store, now: datetime) -> None:
        started = time.monotonic()
        read = learn_bookings(self.bookings, store, now)
        seconds = time.monotonic() - started
        log.info("bookings restored events=%d waiting=%d seconds=%.2f", read, self.bookings.pending, seconds)

    # -- input ------------------------------------------------------------------------------------------

    def on_message(self, msg: DeviceMessage) -> None:
        """From the ingest hot path: event rules react at once, an acknowledgement settles its command; everything
        else waits for the next evaluation."""
        if msg.channel is Channel.EVT:
            if msg.type in self._event_types:
                self._pending.extend(self.engine.on_message(msg, msg.at))
            if self.shadow is not None:
                self.shadow.engine.on_message(msg, msg.at)
            learn_message(self.demand, msg)
            learn_booking(self.bookings, msg)
            self._skill_seen.learn(msg)
        elif msg.channel is Channel.CMD_ACK:
            self._acknowledged(msg)
        self.heard(msg.device_id)

    def _acknowledged(self, msg: DeviceMessage) -> None:
        ack = msg.payload
        assert isinstance(ack, CommandAck)
        outcome = self.commands.on_ack(msg, self._clock.now())
        device = f"{msg.device_type.value} {msg.device_id}"
        if outcome is AckOutcome.TAKEN and ack.ok:
            log.info("command %s acknowledged by %s", ack.cmd_id, device)
        elif outcome is AckOutcome.TAKEN:
            log.warning("command %s failed at %s: %s", ack.cmd_id, device, ack.error or "no error given")
        elif outcome is AckOutcome.NOT_ITS_OWN:
            command = self.commands.get(ack.cmd_id)
            owner = f"{command.device_type.value} {command.device_id}" if command else "?"
            log.warning("%s answered command %s, which went to %s: not taken", device, ack.cmd_id, owner)
        else:
            log.debug("%s answered command %s: %s", device, ack.cmd_id, outcome.value)

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
        saved = json.loads(self._store.decisions.state("shadow") or "{}") if self._replay is None else {}
        self.shadow = Shadow.start(number, rules, self._profile.timezone, saved, self._clock.now())
        self._wake.set()

    def stop_shadow(self) -> None:
        self.shadow = None

    def shadow_report(self) -> dict[str, object] | None:
        """The would-have-fired diff: the active version's firings since the shadow started against the shadow's."""
        if self.shadow is None:
            return None
        since = self.shadow.firings.start.timestamp()
        return self.shadow.report(self._store.decisions.alert_changes(since, math.inf), self._clock.now(), self._tz)

    # -- people (the API) --------------------------------------------------------------------------------

    def engine_acknowledge(self, fingerprint: str, by: str) -> None:
        """Acknowledge and store/deliver the outcome at once (KeyError: no such firing alert)."""
        alert = self.engine.alerts.get(fingerprint)
        self._pending.extend(self.engine.acknowledge(fingerprint, by, self._clock.now()))
        rule = alert.rule_id if alert else ""
        self._audited(by, "alert.acknowledge", fingerprint, rule=rule, labels=alert.labels if alert else {})
        self.evaluate()

    def engine_silence(self, silence: Silence) -> None:
        """Put a silence in force. ValueError (naming the field) when its `rule` matches no rule in force: a silence
        for a misspelt rule would mute nothing and be taken for one that does."""
        ids = sorted(r.id for r in self.engine.rules.rules)
        if not any(fnmatch.fnmatchcase(rule_id, silence.rule) for rule_id in ids):
            close = difflib.get_close_matches(silence.rule, ids, n=3)
            listed = ", ".join(ids[:20]) + (", …" if len(ids) > 20 else "")
            either = " or ".join([", ".join(close[:-1]), close[-1]] if len(close) > 1 else close)
            hint = f"did you mean {either}?" if close else f"rules in force: {listed or 'none'}"
            raise ValueError(f"rule: no rule in force matches {silence.rule!r} ({hint})")
        self.engine.silence(silence)
        self._audited(
            silence.created_by,
            "silence.create",
            silence.id,
            rule=silence.rule,
            labels=silence.labels,
            ends_at=silence.ends_at.isoformat(),
            comment=silence.comment,
        )
        self.evaluate()

    def engine_expire_silence(self, silence_id: str, by: str = "system") -> None:
        self.engine.expire_silence(silence_id, self._clock.now())
        self._audited(by, "silence.end", silence_id)
        self.evaluate()

    def _audited(self, actor: str, action: str, subject: str, **detail: object) -> None:
        """A person's change, written to the audit log in the same transaction as the state it changed."""
        self._audit.append(Entry(time.time(), actor, action, subject, detail))

    def ticket_transition(self, ticket_id: str, action: str, by: str, note: str, *, overseer: bool = False) -> Ticket:
        """acknowledge | start | resolve | close; raises TicketError for an unknown ticket, a wrong move, or someone
        other than its assignee starting or resolving a taken ticket (`overseer`: a hall manager or an administrator,
        who may)."""
        now = self._clock.now()
        book = self.tickets
        events = {
            "acknowledge": lambda: book.acknowledge(ticket_id, by, now),
            "start": lambda: book.start(ticket_id, by, now, overseer=overseer),
            "resolve": lambda: book.resolve(ticket_id, by, note, now, overseer=overseer),
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

    def recommendation_assign(self, rec_id: str, window_id: str, staff_id: str | None, by: str) -> Recommendation:
        """The manager assigns `window_id` (and `staff_id`) to an opening that proposed no window: carried out like an
        approval (the queue system told to open it) when the hall has a queue system, else recorded as opened by
        hand; either way followed as a tidal window and checked. ValueError if it is not a pending opening."""
        now = self._clock.now()
        hall = self._snapshot(now)
        by_command = any(d.device_type is DeviceType.QMS for d in hall.devices)
        rec = self.tidal.assign(rec_id, window_id, staff_id, by, now, by_command=by_command)
        self._audited(
            by,
            "recommendation.assign",
            rec_id,
            windows=[window_id],
            staff=staff_id,
            services=list(rec.services),
            by_command=by_command,
        )
        self.evaluate(approved=[(rec, by)])
        return rec

    def assign_candidates(self, rec_id: str) -> tuple[Recommendation, list[AssignCandidate], list[str]]:
        """For a pending opening: the windows that could be assigned to it and the staff who could be sent."""
        rec = next((r for r in self.tidal.pending() if r.id == rec_id), None)
        if rec is None:
            raise ValueError(f"no pending tidal recommendation {rec_id!r} (unknown, already decided or expired)")
        hall = self._snapshot(self._clock.now())
        taken = {ow.window_id for ow in self.tidal.opened()}
        windows = assign_candidates(hall, window_capabilities(self._profile, hall), rec.services, taken)
        return rec, windows, assign_staff(hall, self._settings.staff_pool, windows)

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.worker is not None:
                self.worker.beat()
            if not self.hall_time_known():
                # a device clock that has heard no device yet reads the box's date, not the hall's: a demo started at
                # 11:20 sent lunch-break nudges, the devices' answers set the hall's clock to the box's date, and the
                # replayed day behind it never moved it again. Nothing is decided until a device tells the time.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), MAX_SLEEP_S)
                self._wake.clear()
                continue
            sleep = self._sleep_for()
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)
                woken = True
            self._wake.clear()
            pause = rest_before_evaluating(woken, loop.time() - self._last_eval, self._last_cost, self._sleep_for())
            if pause > 0:
                await asyncio.sleep(pause)
            await self._plan_lunches()
            self._last_eval = loop.time()
            self.evaluate()
            self._last_cost = loop.time() - self._last_eval

    async def _plan_lunches(self) -> None:
        """Today's and tomorrow's lunch breaks, when not planned yet: the planner (seconds for a city hall) runs in
        a worker thread on a copy of what it needs, while the hall goes on."""
        now = self._clock.now()
        for day in self.lunch.days_to_plan(now):
            inputs = self.lunch.inputs(day, self.demand, self._snapshot(now))
            self.lunch.planned(day, inputs, await asyncio.to_thread(attempt, inputs) if inputs else None)

    def next_deadline(self) -> datetime | None:
        """The earliest time an evaluation is due: a rule's `for` elapsing, an SLA clock, a tidal check, a command to
        send again or to give up on."""
        deadlines = [
            d
            for d in (
                self.engine.next_deadline(),
                self.tickets.next_deadline(),
                self.tidal.next_deadline(),
                self.commands.next_deadline(),
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def has_pending(self) -> bool:
        """Event rules fired since the last evaluation, their decisions not yet carried out."""
        return bool(self._pending)

    def rules_due(self, at: datetime) -> set[str] | None:
        """The rules whose deadlines have come by `at` (None: all of them, a silence starts or ends)."""
        due = {rid for rid, t in self.engine.deadlines().items() if t <= at}
        return None if None in due else {rid for rid in due if rid is not None}

    def hall_time_known(self) -> bool:
        """The box's clock, or a device clock that has heard a device (or restored the log's time)."""
        return not isinstance(self._clock, DeviceClock) or self._clock.anchor is not None

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
        if (
            only is not None
            and not only
            and not (self._pending or extra_tickets or approved or rejected or tickets_due or tidal_due)
        ):
            return []  # a backtest's evaluation for the other version's deadline: nothing here is due
        hall = self._hall_for(now, only, tickets_due or tidal_due or bool(extra_tickets or approved or rejected))
        # before the rules look: a command that just gave up is alerted in this very evaluation
        moved = self._commands_due(hall, now)
        hall = self._with_commands(hall)
        decisions = self._pending + self.engine.evaluate(hall, now, only)
        self._pending = []
        if hall.totals is UNCOUNTED and any(isinstance(d, Act) and d.action.command is None for d in decisions):
            # a ticket to open or a window to recommend: they look at the whole hall
            hall = self._with_commands(self._snapshot(now))
        if self.shadow is not None:
            self.shadow.evaluate(hall, now, only)
        self.evaluations += 1
        batch = Batch()
        self._send_again(batch, moved)
        for d in decisions:
            if isinstance(d, Notify):
                self._alert_note(batch, d, hall)
            elif d.action.command is not None:
                if self._replay is None:  # a backtest sends nothing: the recorded devices answered already
                    numbers = self.commands.numbers
                    sent = alert_commands(d.alert, d.action.command, hall, now, hall_id=self._hall, numbers=numbers)
                    self._send(batch, sent, now)
            elif d.action.ticket is not None:
                for ev in self.tickets.on_alert(d, hall, now):
                    self._ticket_note(batch, ev)
            elif d.action.recommend == "tidal.open":
                self._recommend(batch, d.alert.labels.get("service"), hall, now)
        for alert in self.engine.take_changes():
            batch.history.append(
                AlertChange(
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
        ticking = full or tickets_due or any(isinstance(d, Act) and d.action.ticket is not None for d in decisions)
        for ev in [*(extra_tickets or []), *(self.tickets.tick(hall, now) if ticking else [])]:
            self._ticket_note(batch, ev)
        for rec, by in approved or []:
            self._approved(batch, rec, by, hall, now)
        for rec, by, reason in rejected or []:
            self._rec_note(batch, rec, "rejected", by=by, note=reason)
        for tev in self.tidal.check(hall, now, self.demand) if full or tidal_due else []:
            self._tidal_event(batch, tev, hall, now)
        self._keep_breaks(batch, hall, now)
        # due a minute after the last run, or at once after the clock went back (a device clock's first device
        # message from an earlier day than the box's date; the box's clock stepped back by NTP): a negative gap
        # would otherwise hold the recommender off until the clock caught up again
        since = None if self._last_tidal is None else now - self._last_tidal
        if full and (since is None or not timedelta(0) <= since < timedelta(seconds=TIDAL_EVERY_S)):
            self._last_tidal = now
            self.bookings.settle(now)  # a booking past its slot without a visit: a no-show
            if in_schedule(self._serving_hours(), now.astimezone(self._tz)):
                self._recommend(batch, None, hall, now)
        self._keep_guides(batch, hall, now)  # after the tidal pass: nobody proposed for a window is proposed as a guide
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

    def _commands_due(self, hall: HallSnapshot, now: datetime) -> list[TrackedCommand]:
        """The commands whose wait ended by `now`, moved on (rules/commands.py); those of offline devices are held."""
        due = self.commands.next_deadline()
        if due is None or due > now:
            return []
        return self.commands.due(now, {(d.device_type, d.device_id) for d in hall.devices if not d.online})

    def _with_commands(self, hall: HallSnapshot) -> HallSnapshot:
        """The hall with the commands sent to its devices (the rules' subjects of kind `command`)."""
        if not self.commands.commands:
            return hall
        return replace(hall, gateway=self.commands.gateway_view(hall.gateway))

    def _store_and_send(self, batch: Batch, decisions: list[Decision], now: datetime) -> None:
        if self._replay is not None:
            self._replay(batch)
            return
        self.versions = {
            "engine": self.engine.digest(),
            "tickets": self.tickets.digest(),
            "tidal": self.tidal.digest(),
            "shadow": self.shadow.number if self.shadow else 0,
            "commands": self.commands.version,
        }
        wall = datetime.now(UTC).timestamp()
        pending = self._unwritten
        pending.outbox.extend(batch.outbox)
        pending.history.extend(batch.history)
        pending.records.extend(batch.records)
        # written at once: what must be sent (notifications, device commands), the records of tickets and
        # recommendations, and what people changed; a change of state that tells nobody (a re-call rule resolving, an
        # alert pending) waits for the next of those or for STATE_EVERY_S — lost in a crash, it is decided again
        decided = bool(pending.outbox or pending.records or self._audit)
        if decided or self.storage_fault is not None or wall - self._last_state_at >= STATE_EVERY_S:
            self._write(pending, decided or bool(pending.history), wall)
        for live in batch.live:  # the web UI hears at once, even while the store refuses writes
            self._stream.publish(live.event, live.body)

    def _write(self, pending: Batch, decided: bool, wall: float) -> None:
        """The decision state (serialised only now: at a decision or once a STATE_EVERY_S) with what was decided,
        in one transaction; unchanged state with nothing decided is not written again."""
        states = {
            **split_state("engine", self.engine.dump()),
            "tidal": self.tidal.dump().decode(),
            "shadow": json.dumps(self.shadow.dump() if self.shadow else {}, ensure_ascii=False, sort_keys=True),
        }
        if self.lunch.keeper is not None:  # today's breaks as they stand (moved by holds, under way, over)
            states["breaks"] = self.lunch.dump()
        states["skills"] = self.skills.dump_seen()  # who was seen serving what (small: people × services)
        if self._mobile:
            states["guides"] = self.guides.dump()
        prefixes = [ALERT_PART]
        tickets = self.tickets.digest()
        if tickets != self._tickets_written:  # the book is the part that grows (open tickets): serialised on change
            states.update(split_state("tickets", self.tickets.dump()))
            prefixes.append(TICKET_PART)
        commands = self.commands.version
        if commands != self._commands_written:  # up to MAX_KEPT commands: serialised on change, a row each
            states.update(split_state("commands", self.commands.dump()))
            prefixes.append(COMMAND_PART)
        changed = {name: text for name, text in states.items() if self._written.get(name) != text}
        # the rows of a part serialised now whose item is gone (an alert ended, a ticket left the book)
        removed = [n for n in self._written if n.startswith(tuple(prefixes)) and n not in states]
        if not decided and self.storage_fault is None and not changed and not removed:
            self._last_state_at = wall
            return
        if self.before_write is not None:
            self.before_write()
        try:  # only the parts that changed: an alert firing rewrites its own row, not the others nor the tickets
            self._store.decisions.write(
                changed, pending.history, pending.outbox, wall, pending.records, self._audit, removed
            )
        except Exception as exc:
            if not is_storage_fault(exc):
                raise
            self._storage_failed(exc)
            return
        self._audit = []
        self._written.update(changed)
        for name in removed:
            del self._written[name]
        self._tickets_written = tickets
        self._commands_written = commands
        self._last_state_at = wall
        if pending.outbox:
            self._on_outbox()
        self._unwritten = Batch()
        if self.storage_fault is not None:
            held = len(pending.outbox) + len(pending.history) + len(pending.records)
            log.warning("decisions: the store takes writes again; %d held row(s) written", held)
            self.storage_fault = None
            if self.worker is not None:
                self.worker.resume()

    def _storage_failed(self, exc: BaseException) -> None:
        cause = describe(exc)
        if self.storage_fault is None:
            log.error(
                "decisions: the store refuses writes (%s); decisions are held in memory and written when it recovers",
                cause,
            )
        self.storage_fault = cause
        if self.worker is not None:
            self.worker.pause("storage_error", cause)

    # -- what each kind of decision produces --------------------------------------------------------------

    def _send(self, batch: Batch, commands: list[DeviceCommand], now: datetime) -> None:
        """Queue device commands, each tracked until its device acknowledges it (not a backtest's: nobody answers)."""
        for c in commands:
            batch.outbox.append(OutboxMessage("mqtt", c.topic, c.payload.encode()))
            if self._replay is None:
                self.commands.sent(c, now)

    def _send_again(self, batch: Batch, moved: list[TrackedCommand]) -> None:
        """The commands whose wait ended unanswered: sent again as they were, or given up (the rules alert)."""
        for c in moved:
            device = f"{c.device_type.value} {c.device_id}"
            if c.status is CommandStatus.PENDING:
                log.info("command %s (%s) to %s sent again: attempt %d", c.cmd_id, c.type, device, c.attempts)
                batch.outbox.append(OutboxMessage("mqtt", c.topic, c.payload.encode()))
            else:
                log.warning("command %s (%s) to %s unacknowledged after %d sends", c.cmd_id, c.type, device, c.attempts)

    def _deliver(self, batch: Batch, kind: str, body: dict[str, object], notification_id: str) -> None:
        """Queue a notification for every channel; `notification_id` is the same in all of them and in every
        repeated delivery (records.py), so a receiver can drop a repeat."""
        self.notifications += 1
        if self._replay is not None:
            return  # a backtest tells nobody
        body = self.notification(kind, body, notification_id)
        payload = json.dumps({"type": kind, **body}, ensure_ascii=False).encode()
        batch.outbox.append(OutboxMessage("mqtt", f"{self._settings.topic}/{kind}s", payload))
        batch.outbox.extend(OutboxMessage("webhook", url, payload) for url in self._settings.webhooks)
        batch.live.append(LiveEvent(kind, body))

    @staticmethod
    def notification(kind: str, body: dict[str, object], notification_id: str) -> dict[str, object]:
        """A notification of `kind` about `body` (an alert, a ticket, a recommendation as records.py shows it): its
        `id` is `notification_id` whatever its kind (docs/api.md, "Notifications and their ids"), so each event of
        a ticket has its own; a ticket's own id is then its `ticket_id`, a recommendation's its `rec_id`."""
        rest = dict(body)
        own = rest.pop("id", None)
        head: dict[str, object] = {"id": notification_id}
        if own is not None:
            head["ticket_id" if kind == "ticket" else "rec_id" if kind == "recommendation" else f"{kind}_id"] = own
        return {**head, **rest}

    def _alert_note(self, batch: Batch, note: Notify, hall: HallSnapshot) -> None:
        body = self.alert_json(note.alert, note) if self._replay is None else {}
        ended = note.reason in (NotifyReason.ACKNOWLEDGED, NotifyReason.RESOLVED)
        if body and Role.CITIZEN in note.roles and not ended:  # a re-call to the number's holder
            body["call"] = self._called(note.alert, hall)
        self._deliver(batch, "alert", body, alert_notification_id(note))

    @staticmethod
    def _called(alert: Alert, hall: HallSnapshot) -> dict[str, str] | None:
        """The number a notification to the citizen (its holder, by the hall's SMS gateway: edge/webhooks.py) calls
        again: the alert's ticket, or its window's current one; None when the window calls none now. The queue
        system's ticket id and the printed number, never a person's data (hallops holds none)."""
        window = alert.labels.get("window")
        w = next((w for w in hall.windows if w.window_id == window), None)
        ticket = alert.labels.get("ticket") or (w.current_ticket if w else None)
        if window is None or ticket is None:
            return None
        number = w.current_number if w is not None and w.current_ticket == ticket else None
        return {"ticket": ticket, "number": number or ticket, "window": window}

    def _ticket_note(self, batch: Batch, ev: TicketEvent) -> None:
        body = self.ticket_json(ev.ticket)
        batch.records.append(Record("ticket", ev.ticket.id, json.dumps(body, ensure_ascii=False)))
        if ev.roles:
            note = {"event": ev.kind.value, "roles": [r.value for r in ev.roles], "by": ev.by, "note": ev.note}
            self._deliver(batch, "ticket", {**body, "notification": note}, ticket_notification_id(ev.ticket, ev.kind))

    def _rec_note(
        self,
        batch: Batch,
        rec: Recommendation,
        event: str,
        *,
        by: str = "system",
        note: str = "",
        roles: tuple[str, ...] = ("hall_manager",),
    ) -> None:
        body = recommendation_record(rec, event, by)
        batch.records.append(Record("recommendation", rec.id, json.dumps(body, ensure_ascii=False, default=str)))
        note_body = {"event": event, "roles": list(roles), "by": by, "note": note}
        body = {**json.loads(json.dumps(body, default=str)), "notification": note_body}
        self._deliver(batch, "recommendation", body, recommendation_notification_id(rec.id, event))

    def _serving_hours(self) -> Schedule:
        """When the tidal recommender runs: the rules' `service_hours` (the opening hours with the lunch between them:
        people waiting over lunch are the lunch hole that AB-post covers fill), or `opening_hours` without one."""
        schedules = self.engine.rules.schedules
        return schedules.get("service_hours") or schedules.get("opening_hours") or Schedule()

    def _recommend(self, batch: Batch, service: str | None, hall: HallSnapshot, now: datetime) -> None:
        """Tidal openings for every service group (every minute), or for `service` (its tidal-open or
        queue-without-window alert fired); and AB-post covers of paused windows (recommend_cover), every minute or
        those serving `service`: a queue left without a window by a lunch break names the B post to call."""
        arriving = self.tidal.arriving()
        recs = recommend_open(
            hall,
            window_capabilities(self._profile, hall),
            self.demand,
            self.tidal.settings,
            now,
            staff_pool=tidal_pool(self._settings),
            services={service} if service else None,
            arriving=arriving,
            skills=self.skills,
        )
        # not proposed, and nobody sent from them: tidal windows (approved, or open already: a paused one is no
        # one's own window to cover) and the windows proposed just now
        taken = {*arriving, *(ow.window_id for ow in self.tidal.opened()), *(w for r in recs for w in r.windows)}
        if self.lunch.keeper is not None:  # nobody is sent from an open window whose lunch break is about to start
            open_now = {w.window_id for w in hall.windows if w.status is WindowStatus.OPEN}
            taken |= set(self.lunch.keeper.upcoming(now, BREAK_SOON)) & open_now
        covers = recommend_cover(
            hall, self.skills, self.demand, self.tidal.settings, now, taken=taken, arriving=arriving
        )
        covers = [c for c in covers if service is None or service in c.services]
        # an opening with no window to name ("nobody free") for services a cover now serves says nothing more
        covered = {c for r in covers for c in r.services}
        recs = [r for r in recs if r.windows or not set(r.services) <= covered] + covers
        for rec in self.tidal.offer(recs, now):
            self._rec_note(batch, rec, "offered")
            if self._settings.auto_approve and rec.windows:
                approved = self.tidal.approve(rec.id, "policy:auto_approve", now)
                self._approved(batch, approved, "policy:auto_approve", hall, now)

    def _keep_breaks(self, batch: Batch, hall: HallSnapshot, now: datetime) -> None:
        """Today's lunch breaks moved on: a break due or held back is told to its window's terminal (a nudge with
        the words, when it has one), the MQTT topic `<topic>/breaks` and the live stream (the manager's page). Not in a
        backtest (it tells nobody; only a backtest evaluates part of the rules)."""
        if self._replay is not None or not self.lunch.wanted:
            return
        today = now.astimezone(self._tz).date()
        if today in self.lunch.days_to_plan(now):  # the loop plans ahead in a thread; a test, or the first moments
            self.lunch.planned(today, self.lunch.inputs(today, self.demand, hall))
        windows = {w.window_id: w for w in hall.windows}
        for ev, row in self.lunch.step(hall, now):
            zh, en = break_words(row, ev.kind)
            nid = f"break:{row['window_id']}:{today}:{ev.kind.value}:{ev.status.holds}"
            body = {"type": "break", "id": nid, "event": ev.kind.value, **row, "text_zh": zh, "text_en": en}
            self.notifications += 1
            payload = json.dumps(body, ensure_ascii=False).encode()
            batch.outbox.append(OutboxMessage("mqtt", f"{self._settings.topic}/breaks", payload))
            batch.live.append(LiveEvent("break", body))
            view = windows.get(ev.status.planned.window_id)
            if view is not None and view.online is not None:  # a terminal of its own to show it on
                said = break_command(view, f"{zh} / {en}", hall, now, hall_id=self._hall, numbers=self.commands.numbers)
                self._send(batch, [said], now)

    def guide_decision(self, staff_id: str, action: str, by: str) -> dict[str, object]:
        """The manager's answer to a guide: `post` (send the proposed guide), `decline` (not now: not proposed again
        for 30 min) or `recall` (call a posted guide back); the guide's row. ValueError: nothing of that to answer."""
        now = self._clock.now()
        if action == "post":
            at = next((w for w in self._snapshot(now).windows if w.staff_id == staff_id and w.status is not
                       WindowStatus.CLOSED), None)  # fmt: skip
            if at is not None:
                raise ValueError(f"{staff_id!r} is at window {at.window_id} now: call them from there first")
            reason = self.guides.offer.proposal.reason if self.guides.offer else None
            self.guides.post(staff_id, now)
            event = "posted"
        elif action == "decline":
            reason = self.guides.decline(staff_id, now).reason
            event = "declined"
        elif action == "recall":  # the manager's call: not proposed again for 30 min either
            reason = self._why_sent(self.guides.recall(staff_id, now))
            event = "recalled"
        else:
            raise ValueError(f"unknown guide action {action!r}: post, decline or recall")
        assert reason is not None
        row = guide_row(staff_id, reason, self._profile, self._zone_names())
        self._audited(by, f"guide.{action}", staff_id, zone=reason.zone, services=[n.code for n in reason.names])
        self._guide_said.append((event, row))
        self.evaluate()
        return row

    def guides_now(self) -> dict[str, object]:
        """The guide proposed (waiting for the manager) and the guides posted, as the API shows them."""
        zones = self._zone_names()
        offer = self.guides.offer
        posts = []
        for staff_id, post in self.guides.posts.items():
            row = guide_row(staff_id, self._why_sent(post), self._profile, zones)
            posts.append({**row, "since": post.since.astimezone(self._tz).isoformat()})
        proposed = None
        if offer is not None:
            row = guide_row(offer.proposal.staff_id, offer.proposal.reason, self._profile, zones)
            zh, en = guide_words(row, "proposed")
            proposed = {**row, "at": offer.at.astimezone(self._tz).isoformat(), "text_zh": zh, "text_en": en}
        return {"enabled": self._mobile, "proposed": proposed, "posted": posts}

    def _why_sent(self, post: GuidePost) -> GuideReason:
        """Why a guide was sent (a board saved without it: no numbers, only who and where)."""
        if post.staff_id in self.guides.last:
            return self.guides.last[post.staff_id][1]
        return GuideReason(names=(), arrivals_15m=0, live_rate_per_h=0.0, usual_rate_per_h=None, growth_15m=0,
                           waiting=0, zone=post.zone, staff_id=post.staff_id)  # fmt: skip

    def _zone_names(self) -> dict[str, tuple[str, str | None]]:
        return {z.zone_id: (z.name or z.zone_id, z.name_en) for z in self._profile.zones}

    def _keep_guides(self, batch: Batch, hall: HallSnapshot, now: datetime) -> None:
        """The mobile post, once a minute in the service hours: guides whose arrivals are back to usual are called
        back, a proposal not taken up in 10 min is withdrawn, and a jump in arrivals proposes a free mobile-post
        person (posted at once with `tidal.auto_approve`). Each step, and the manager's answers, told on the MQTT
        topic `<topic>/guides` and the live stream (`guide`). Not in a backtest."""
        said, self._guide_said = self._guide_said, []
        if self._replay is not None or not self._mobile:
            return
        for event, row in said:
            self._guide_note(batch, event, row, now)
        since = None if self._last_guide is None else now - self._last_guide
        if since is not None and timedelta(0) <= since < timedelta(seconds=TIDAL_EVERY_S):
            return
        self._last_guide = now
        zones = self._zone_names()
        for staff_id, post in list(self.guides.posts.items()):
            check = guide_over(hall, post, self.demand, self._guide_settings, now)
            if not check.over:
                self.guides.posts[staff_id] = check.post
                continue
            self.guides.recall(staff_id, None)
            row = guide_row(staff_id, self._why_sent(post), self._profile, zones)
            self._guide_note(batch, "pulled" if check.pulled else "back", row, now)
        if (old := self.guides.expire(now)) is not None:  # not taken up: not proposed again for 30 min
            row = guide_row(old.proposal.staff_id, old.proposal.reason, self._profile, zones)
            self._guide_note(batch, "expired", row, now)
        if self.guides.offer is not None or not in_schedule(self._serving_hours(), now.astimezone(self._tz)):
            return
        taken = {s for r in self.tidal.pending() for s in r.staff} | self.guides.blocked(now)
        taken |= {ow.staff_id for ow in self.tidal.opened() if ow.staff_id}  # sent to a window, maybe on the way
        proposal = recommend_guide(
            hall, self.skills, self.demand, self._guide_settings, now, guiding=self.guides.posts, taken=taken
        )
        if proposal is None:
            return
        self.guides.offer = GuideOffer(proposal, now)
        row = guide_row(proposal.staff_id, proposal.reason, self._profile, zones)
        self._guide_note(batch, "proposed", row, now)
        if self._settings.auto_approve:
            self.guides.post(proposal.staff_id, now)
            self._guide_note(batch, "posted", row, now)

    def _guide_note(self, batch: Batch, event: str, row: dict[str, object], now: datetime) -> None:
        zh, en = guide_words(row, event)
        nid = f"guide:{row['staff_id']}:{now.isoformat()}:{event}"
        body = {"type": "guide", "id": nid, "event": event, **row, "text_zh": zh, "text_en": en}
        self.notifications += 1
        payload = json.dumps(body, ensure_ascii=False).encode()
        batch.outbox.append(OutboxMessage("mqtt", f"{self._settings.topic}/guides", payload))
        batch.live.append(LiveEvent("guide", body))

    def _approved(self, batch: Batch, rec: Recommendation, by: str, hall: HallSnapshot, now: datetime) -> None:
        """Carry out an approved recommendation: tell the queue system and the windows, notify the staff."""
        caps = dict(window_capabilities(self._profile, hall))
        for i, wid in enumerate(rec.windows):  # a window opened with someone who can serve more: theirs too
            if i < len(rec.staff):
                caps[wid] = caps.get(wid, frozenset()) | self.skills.skills(rec.staff[i])
        numbers, named = self.commands.numbers, self._profile
        commands = recommendation_commands(rec, hall, caps, now, hall_id=self._hall, numbers=numbers, profile=named)
        self._send(batch, commands, now)
        assigned = any(ow.rec_id == rec.id and ow.assigned for ow in self.tidal.opened())
        event = "assigned" if assigned else "approved"
        self._rec_note(batch, rec, event, by=by, roles=("hall_manager", "window_staff"))

    def _tidal_event(self, batch: Batch, ev: TidalEvent, hall: HallSnapshot, now: datetime) -> None:
        if ev.kind is TidalEventKind.CLOSE and ev.recommendation is not None:
            self._rec_note(batch, ev.recommendation, "offered")
        elif ev.kind is TidalEventKind.ESCALATE:
            words = render_event(ev)
            body: dict[str, object] = {
                "rec_id": ev.rec_id,
                "services": list(ev.services),
                "windows": list(ev.windows),
                "windows_not_open": list(ev.windows_not_open),
                "reason_en": words.en,
                "reason_zh": words.zh,
                "wait_at_approval_min": ev.wait_at_approval_min,
                "wait_now_min": ev.wait_now_min,
                "notification": {"event": "escalated", "roles": ["hall_manager", "director"]},
            }
            self._deliver(batch, "recommendation", body, recommendation_notification_id(ev.rec_id, "escalated"))
        else:
            log.info("tidal check rec=%s: %s", ev.rec_id, render_event(ev).en)

    # -- presentation -----------------------------------------------------------------------------------

    def alert_json(self, a: Alert, note: Notify | None = None) -> dict[str, object]:
        """The alert as the API, the MQTT alert topic, webhooks and the live stream show it."""
        rule = self.engine.rule(a.rule_id)
        return alert_json(
            a,
            description=rule.description if rule else "",
            hall=self._hall,
            tz=self._tz,
            note=note,
            rule=rule,
            profile=self._profile,
        )

    def ticket_json(self, t: Ticket) -> dict[str, object]:
        """A ticket as the API, the MQTT ticket topic, webhooks and the live stream show it."""
        rules = {rid: rule for rid in t.rules if (rule := self.engine.rule(rid)) is not None}
        return ticket_json(t, self._tz, rules=rules, profile=self._profile)


def _due(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now


ALERT_PART = "engine.alert:"  # one row of the decision state per open alert, named by its fingerprint
TICKET_PART = "tickets.ticket:"  # one row per ticket in the book, named by its id
COMMAND_PART = "commands.command:"  # one row per tracked device command, named by its cmd_id
# the parts saved as a row per item: the part's list, what names an item, the rows' prefix
_ROWS = {
    "engine": ("alerts", "fingerprint", ALERT_PART),
    "tickets": ("tickets", "id", TICKET_PART),
    "commands": ("commands", "cmd_id", COMMAND_PART),
}


def split_state(name: str, body: dict[str, object]) -> dict[str, str]:
    """A part of the decision state as rows: `name` (all but its list: a schema, the silences, a counter) and one
    row per item of its list, so that an alert or a ticket changing rewrites a few hundred bytes, not every open
    alert or ticket (issue 16: writes proportional to change)."""
    key, ident, prefix = _ROWS[name]
    items = body.get(key)
    parts = {name: json.dumps({k: v for k, v in body.items() if k != key}, ensure_ascii=False, sort_keys=True)}
    for item in items if isinstance(items, list) else ():
        parts[f"{prefix}{item[ident]}"] = json.dumps(item, ensure_ascii=False, sort_keys=True)
    return parts


def join_state(name: str, head: str, rows: Mapping[str, str]) -> dict[str, object]:
    """`split_state` put together again; a part saved whole by a release before holds its list itself."""
    key = _ROWS[name][0]
    body: dict[str, object] = json.loads(head)
    if key not in body:
        body[key] = [json.loads(rows[n]) for n in sorted(rows)]
    return body


def rest_before_evaluating(woken: bool, since_last_s: float, last_cost_s: float, next_due_s: float) -> float:
    """How long the loop waits before its next evaluation, `since_last_s` after the last one began.

    Woken by messages, it waits until MIN_INTERVAL_S has passed, batching a burst into one evaluation — unless a
    deadline is due sooner. And whatever woke it, the event loop gets at least as long as the last evaluation took
    (at most MAX_REST_S): evaluations back to back, each due at once (a big hall's state at a simulation's speed, an
    alert storm), would otherwise keep ingest, the web API and the broker's handshake waiting — a reconnect timed out
    again and again in the 7-day soak at 300 × (docs/reliability.md)."""
    batch = min(MIN_INTERVAL_S - since_last_s, next_due_s) if woken else 0.0
    rest = min(last_cost_s, MAX_REST_S) - (since_last_s - last_cost_s)
    return max(batch, rest, 0.0)
