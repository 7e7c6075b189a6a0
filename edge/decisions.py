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
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    CallAnnounceCommand,
    KioskRestartCommand,
    KioskSelfTestCommand,
    MessageShowCommand,
    NudgeCommand,
    RecallCommand,
    TicketReactivateCommand,
)
from devices.topics import Channel, DeviceType, build_topic
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import Clock, DeviceClock
from rules.engine import Alert, Decision, Notify, RuleEngine, Silence
from rules.hall import HallSnapshot
from rules.language import CommandAction, RuleFile

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.2
MAX_SLEEP_S = 1.0
STATE_EVERY_S = 1.0


class Decider:
    def __init__(
        self,
        rules: RuleFile,
        store: Store,
        clock: Clock,
        snapshot: Callable[[datetime], HallSnapshot],
        *,
        hall_id: str,
        timezone: str,
        alert_topic: str,
        webhooks: list[str],
        stream: Broadcaster,
        on_outbox: Callable[[], None],
    ) -> None:
        self.engine = RuleEngine(rules, timezone)
        self._store = store
        self._clock = clock
        self._snapshot = snapshot
        self._hall = hall_id
        self._tz = ZoneInfo(timezone)
        self._alert_topic = alert_topic
        self._webhooks = webhooks
        self._stream = stream
        self._on_outbox = on_outbox
        self._event_types = {r.on.event for r in rules.rules if r.on is not None and r.enabled}
        self._pending: list[Decision] = []
        self._wake = asyncio.Event()
        self._last_eval = 0.0
        self._last_state = ""
        self._last_state_at = 0.0
        self._commands = 0
        self.evaluations = 0
        self.notifications = 0
        saved = store.decision_state("engine")
        if saved:
            self.engine.load(json.loads(saved))
            log.info("rule engine restored alerts=%d silences=%d", len(self.engine.alerts), len(self.engine.silences))

    # -- input ------------------------------------------------------------------------------------------

    def on_message(self, msg: DeviceMessage) -> None:
        """From the ingest hot path: event rules react at once; everything else waits for the next evaluation."""
        if msg.channel is Channel.EVT and msg.type in self._event_types:
            self._pending.extend(self.engine.on_message(msg, msg.at))
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- people (the API) --------------------------------------------------------------------------------

    def engine_acknowledge(self, fingerprint: str, by: str) -> None:
        """Acknowledge and store/deliver the outcome at once (KeyError: no such firing alert)."""
        self._pending.extend(self.engine.acknowledge(fingerprint, by, self._clock.now()))
        self.evaluate()

    def engine_silence(self, silence: Silence) -> None:
        self.engine.silence(silence)
        self.evaluate()

    def engine_expire_silence(self, silence_id: str) -> None:
        self.engine.expire_silence(silence_id, self._clock.now())
        self.evaluate()

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sleep = self._sleep_for()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep)
            self._wake.clear()
            wait = MIN_INTERVAL_S - (loop.time() - self._last_eval)
            if wait > 0:
                await asyncio.sleep(wait)  # batch a burst of messages into one evaluation
            self._last_eval = loop.time()
            self.evaluate()

    def _sleep_for(self) -> float:
        deadline = self.engine.next_deadline()
        if deadline is None:
            return MAX_SLEEP_S
        speed = self._clock.speed if isinstance(self._clock, DeviceClock) else 1.0
        ahead = (deadline - self._clock.now()).total_seconds() / speed
        return min(MAX_SLEEP_S, max(0.0, ahead))

    def evaluate(self) -> list[Decision]:
        """One evaluation at the clock's now; its outcome stored and queued for delivery."""
        now = self._clock.now()
        hall = self._snapshot(now)
        decisions = self._pending + self.engine.evaluate(hall, now)
        self._pending = []
        self.evaluations += 1
        changes = self.engine.take_changes()
        outbox: list[tuple[str, str, bytes]] = []
        for d in decisions:
            if isinstance(d, Notify):
                body = self.alert_json(d.alert, d)
                payload = json.dumps(body, ensure_ascii=False).encode()
                outbox.append(("mqtt", self._alert_topic, payload))
                outbox.extend(("webhook", url, payload) for url in self._webhooks)
                self.notifications += 1
            elif d.action.command is not None:
                outbox.extend(self._commands_for(d.alert, d.action.command, hall, now))
            else:
                log.info("action not handled yet rule=%s fingerprint=%s action=%s", d.alert.rule_id,
                         d.alert.fingerprint, d.action.model_dump(exclude_none=True))  # fmt: skip
        history = [
            (now.timestamp(), a.fingerprint, a.rule_id, a.state.value, a.severity.value,
             json.dumps(self.alert_json(a), ensure_ascii=False))
            for a in changes
        ]  # fmt: skip
        state = json.dumps(self.engine.dump(), ensure_ascii=False, sort_keys=True)
        wall = datetime.now(UTC).timestamp()
        due = state != self._last_state and (decisions or changes or wall - self._last_state_at >= STATE_EVERY_S)
        if outbox or history or due:
            self._store.write_decisions({"engine": state}, history, outbox, wall)
            self._last_state, self._last_state_at = state, wall
        if outbox:
            self._on_outbox()
        for d in decisions:
            if isinstance(d, Notify):
                self._stream.publish("alert", self.alert_json(d.alert, d))
        return decisions

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
        rule = next((r for r in self.engine.rules.rules if r.id == a.rule_id), None)

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
