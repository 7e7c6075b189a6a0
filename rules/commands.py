"""Commands heard back (指令回执): every command the gateway sends a device, tracked until the device answers.

    sent(command, now) → on_ack(message, now) → due(now): what to send again now, and what gave up

A command waits `waits[0]` for its acknowledgement (`cmd/ack`), and is sent again — the same `cmd_id`, the same
bytes — after each wait but the last; after the last wait it is `unacknowledged` (while its device is offline it is
held instead: see `due`). With the default waits (10 s, 20 s, 40 s) that is three sends and an answer expected
within 70 s of the first. An answer counts only from the device the command went to (a device is trusted for itself,
never for another's commands); its first answer settles the command (`acknowledged`, or `failed` with the device's
error), a repeat changes nothing, and an answer after the gateway gave up still counts (the device did act, late).
A failed or unacknowledged command is `superseded` once a later command of its type to its device is acknowledged:
the device hears and does that again.

The rules see every tracked command as a subject (`command.status`, `command.unsupported`, `command.superseded` in
rules/metrics.py) through `GatewayWithCommands`, the gateway's view with the commands added; the built-in pack
alerts on the unanswered and the refused ones. Memory is bounded: a settled command is forgotten `keep` after it
settled, and at most `cap` commands are kept (the oldest settled one goes first). `dump()`/`load()` carry the
commands and the id counter across a restart.

Owns `CommandTracker` and what it keeps. Pure: time is passed in; must not send anything (the decider does) or build
a command's payload (edge/decisions/commands.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import TypeAdapter

from devices.codec import DeviceMessage
from devices.contract import CommandAck
from devices.errors import PayloadError
from devices.topics import DeviceType
from rules.hall import GatewayView

log = logging.getLogger(__name__)

ACK_WAITS_S = (10.0, 20.0, 40.0)  # after each send: how long the device has to answer (seconds of the clock passed in)
KEEP = timedelta(hours=24)  # a settled command is listed (and its alert lasts) this long
MAX_KEPT = 1000  # commands kept at most; a city hall sends a few hundred a day
SCHEMA_VERSION = 1


class CommandStatus(StrEnum):
    PENDING = "pending"  # sent, no answer yet: it will be sent again, or give up
    ACKNOWLEDGED = "acknowledged"  # the device answered ok
    FAILED = "failed"  # the device answered ok: false (its error says why)
    UNACKNOWLEDGED = "unacknowledged"  # no answer after every send


class AckOutcome(StrEnum):
    """What an acknowledgement did."""

    TAKEN = "taken"  # it settled its command
    REPEATED = "repeated"  # its command was answered already: nothing changes
    UNKNOWN = "unknown"  # no such command (never sent, or forgotten)
    NOT_ITS_OWN = "not_its_own"  # the command went to another device: not trusted


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCommand:
    """A command as sent: the device it went to, its type (`nudge`, `restart`, …) and the MQTT message."""

    cmd_id: str
    device_type: DeviceType
    device_id: str
    type: str
    topic: str
    payload: str  # the JSON sent, byte for byte the same on every send


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedCommand(DeviceCommand):
    """A command sent and what became of it. Replaced, never changed, so an unchanged one is the same object."""

    sent_at: datetime  # the first send
    last_sent_at: datetime
    attempts: int  # sends so far
    status: CommandStatus
    next_at: datetime | None  # pending: when it is sent again, or gives up
    settled_at: datetime | None = None  # when it got its status (the answer, or giving up)
    error: str | None = None  # failed: the device's error
    superseded: bool = False  # failed or unacknowledged, and a later command of its type to its device was acknowledged


@dataclass(frozen=True, slots=True)
class GatewayWithCommands(GatewayView):
    """The gateway's view with the commands it tracks: how the rules see them (`rules.metrics`, subject `command`)."""

    commands: tuple[TrackedCommand, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _TrackerState:
    """A `CommandTracker` as saved."""

    schema: int = SCHEMA_VERSION
    next_number: int = 1
    commands: tuple[TrackedCommand, ...] = ()


_STATE = TypeAdapter(_TrackerState)
_SENT = tuple(f.name for f in fields(DeviceCommand))


class CommandTracker:
    def __init__(self, waits: Sequence[float] = ACK_WAITS_S, *, keep: timedelta = KEEP, cap: int = MAX_KEPT) -> None:
        if not waits or any(w <= 0 for w in waits):
            raise ValueError(f"the acknowledgement waits must be one or more positive seconds, not {list(waits)}")
        self.waits = tuple(timedelta(seconds=w) for w in waits)
        self.keep = keep
        self.cap = cap
        self._commands: dict[str, TrackedCommand] = {}  # by cmd_id, oldest sent first
        self._next_number = 1
        self.numbers: Iterator[int] = self._count()  # a command's id ends with the next of these (across restarts)
        self.version = 0  # moves with every change: the decider saves it, the web UI re-reads it
        self._deadline: datetime | None = None
        self._deadline_known = True

    def _count(self) -> Iterator[int]:
        while True:
            number = self._next_number
            self._next_number += 1
            self.version += 1
            yield number

    # -- reading ------------------------------------------------------------------------------------------

    @property
    def commands(self) -> tuple[TrackedCommand, ...]:
        """Every command kept, oldest sent first."""
        return tuple(self._commands.values())

    def get(self, cmd_id: str) -> TrackedCommand | None:
        return self._commands.get(cmd_id)

    def gateway_view(self, gateway: GatewayView) -> GatewayWithCommands:
        """`gateway` (the snapshot's) with the commands, for the rules."""
        return GatewayWithCommands(
            gateway.storage_error, gateway.session_lost_at, gateway.disk_budget_pct, commands=self.commands
        )

    def next_deadline(self) -> datetime | None:
        """The next time `due` has something to do: a send, a command giving up, a settled one to forget."""
        if not self._deadline_known:
            times = [c.next_at if c.next_at is not None else self._forget_at(c) for c in self._commands.values()]
            self._deadline = min((t for t in times if t is not None), default=None)
            self._deadline_known = True
        return self._deadline

    # -- what happens -------------------------------------------------------------------------------------

    def sent(self, command: DeviceCommand, now: datetime) -> None:
        """The command was sent for the first time."""
        self._put(
            TrackedCommand(
                **{name: getattr(command, name) for name in _SENT},
                sent_at=now,
                last_sent_at=now,
                attempts=1,
                status=CommandStatus.PENDING,
                next_at=now + self.waits[0],
            )
        )
        while len(self._commands) > self.cap:
            self._drop_oldest()

    def check_ack(self, msg: DeviceMessage) -> None:
        """Raise PayloadError `out_of_scope` (path `cmd_id`) for an answer to a command that went to another device:
        a device is trusted for itself only, so such an answer is refused at the door, counted and kept as a dead
        letter, not just ignored. An answer to a command not (or no longer) tracked is let through."""
        ack = msg.payload
        command = self._commands.get(ack.cmd_id) if isinstance(ack, CommandAck) else None
        if command is not None and (command.device_type, command.device_id) != (msg.device_type, msg.device_id):
            raise PayloadError(
                "out_of_scope",
                f"command {command.cmd_id} went to {command.device_type.value} {command.device_id}, "
                f"not to {msg.device_type.value} {msg.device_id}",
                "cmd_id",
            )

    def on_ack(self, msg: DeviceMessage, now: datetime) -> AckOutcome:
        """An acknowledgement heard from `msg`'s device (its topic names it; the broker's ACL vouches for that)."""
        ack = msg.payload
        assert isinstance(ack, CommandAck), "on_ack takes cmd/ack messages"
        command = self._commands.get(ack.cmd_id)
        if command is None:
            return AckOutcome.UNKNOWN
        if (command.device_type, command.device_id) != (msg.device_type, msg.device_id):
            return AckOutcome.NOT_ITS_OWN
        if command.status in (CommandStatus.ACKNOWLEDGED, CommandStatus.FAILED):
            return AckOutcome.REPEATED
        status = CommandStatus.ACKNOWLEDGED if ack.ok else CommandStatus.FAILED
        settled = replace(command, status=status, next_at=None, settled_at=now, error=None if ack.ok else ack.error)
        self._put(self._settle(settled))
        if ack.ok:
            self._supersede_before(settled)
        return AckOutcome.TAKEN

    def due(self, now: datetime, offline: Collection[tuple[DeviceType, str]] = ()) -> list[TrackedCommand]:
        """Move every clock on to `now` and return the commands that moved: those to send again now (still pending,
        this attempt counted) and those whose last wait ended without an answer (unacknowledged). The settled ones
        kept long enough are forgotten. Idempotent for the same `now`.

        A command whose wait ends while its device is `offline` (type, id: its last will stands) is held — neither
        sent again nor given up, its wait starts over — for up to `keep` after its first send, and given up then:
        the broker keeps a QoS 1 command for a device's persistent session, and the device's own offline alert says
        what is wrong."""
        deadline = self.next_deadline()
        if deadline is None or deadline > now:
            return []
        moved: list[TrackedCommand] = []
        for command in list(self._commands.values()):
            if command.next_at is not None and command.next_at <= now:
                away = (command.device_type, command.device_id) in offline
                if away and now < command.sent_at + self.keep:
                    wait = self.waits[min(command.attempts, len(self.waits)) - 1]
                    self._put(replace(command, next_at=now + wait))
                elif not away and command.attempts < len(self.waits):
                    resent = replace(
                        command,
                        attempts=command.attempts + 1,
                        last_sent_at=now,
                        next_at=now + self.waits[command.attempts],
                    )
                    moved.append(resent)
                    self._put(resent)
                else:  # it became unacknowledged when its last wait ended, whenever that is noticed
                    given_up = replace(
                        command, status=CommandStatus.UNACKNOWLEDGED, next_at=None, settled_at=command.next_at
                    )
                    moved.append(self._settle(given_up))
                    self._put(moved[-1])
            elif (forget := self._forget_at(command)) is not None and forget <= now:
                del self._commands[command.cmd_id]
                self._changed()
        return moved

    # -- saving -------------------------------------------------------------------------------------------

    def dump(self) -> dict[str, object]:
        """The tracker as a JSON document: the id counter and every command kept."""
        state = _TrackerState(next_number=self._next_number, commands=self.commands)
        body: dict[str, object] = _STATE.dump_python(state, mode="json")
        return body

    @classmethod
    def load(
        cls,
        body: Mapping[str, object],
        now: datetime,
        waits: Sequence[float] = ACK_WAITS_S,
        *,
        keep: timedelta = KEEP,
        cap: int = MAX_KEPT,
    ) -> CommandTracker:
        """What `dump` wrote, at a restart at `now`. A pending command waits its current wait again from `now`: the
        answers the broker kept for the gateway while it was down come in first, so none gives up for want of them."""
        if body.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"command tracker schema {body.get('schema')!r} is not {SCHEMA_VERSION}")
        state = _STATE.validate_python(body)
        tracker = cls(waits, keep=keep, cap=cap)
        tracker._next_number = state.next_number
        for saved in state.commands:
            command = saved
            if saved.next_at is not None:
                wait = tracker.waits[min(saved.attempts, len(tracker.waits)) - 1]
                command = replace(saved, next_at=max(saved.next_at, now + wait))
            tracker._commands[command.cmd_id] = command
        tracker._deadline_known = False
        return tracker

    # -- inside -------------------------------------------------------------------------------------------

    def _put(self, command: TrackedCommand) -> None:
        self._commands[command.cmd_id] = command
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._deadline_known = False

    def _forget_at(self, command: TrackedCommand) -> datetime | None:
        return None if command.settled_at is None else command.settled_at + self.keep

    def _settle(self, command: TrackedCommand) -> TrackedCommand:
        """A command that failed or went unanswered is superseded at once if a later one of its kind succeeded."""
        if command.status is CommandStatus.ACKNOWLEDGED:
            return command
        later = any(
            c.status is CommandStatus.ACKNOWLEDGED and c.sent_at > command.sent_at for c in self._siblings(command)
        )
        return replace(command, superseded=later)

    def _supersede_before(self, acknowledged: TrackedCommand) -> None:
        for c in self._siblings(acknowledged):
            if (
                c.status in (CommandStatus.FAILED, CommandStatus.UNACKNOWLEDGED)
                and not c.superseded
                and c.sent_at < acknowledged.sent_at
            ):
                self._put(replace(c, superseded=True))

    def _siblings(self, command: TrackedCommand) -> list[TrackedCommand]:
        """The other commands of its type to its device."""
        key = (command.device_type, command.device_id, command.type)
        return [
            c
            for c in self._commands.values()
            if (c.device_type, c.device_id, c.type) == key and c.cmd_id != command.cmd_id
        ]

    def _drop_oldest(self) -> None:
        """Over the cap: the oldest settled command goes; only if none is settled, the oldest pending one."""
        victim = next((c for c in self._commands.values() if c.settled_at is not None), None)
        if victim is None:
            victim = next(iter(self._commands.values()))
            log.warning(
                "more than %d commands wait for their acknowledgement: command %s to %s %s is no longer tracked",
                self.cap,
                victim.cmd_id,
                victim.device_type.value,
                victim.device_id,
            )
        del self._commands[victim.cmd_id]
        self._changed()


__all__ = [
    "ACK_WAITS_S",
    "KEEP",
    "MAX_KEPT",
    "AckOutcome",
    "CommandStatus",
    "CommandTracker",
    "DeviceCommand",
    "GatewayWithCommands",
    "TrackedCommand",
]
