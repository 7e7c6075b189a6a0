"""Device commands: what a rule's command action (an `Act`) or an approved tidal recommendation tells the hall's
devices, as the MQTT messages the decider sends and tracks until they are acknowledged (rules/commands.py).

Every command carries an id unique to the gateway (`<alert fingerprint or recommendation id>-<n>`, `n` drawn from the
command tracker's counter `numbers`, which carries on across restarts), so a device can tell a re-sent copy from a
new command. This module must not send or track anything or decide whether to act: the decider calls it for an Act
it carries out and for a recommendation someone approved.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from devices.contract import (
    AnyCommand,
    CallAnnounceCommand,
    KioskRestartCommand,
    KioskSelfTestCommand,
    MessageShowCommand,
    NudgeCommand,
    RecallCommand,
    TicketReactivateCommand,
    WindowAssignCommand,
)
from devices.topics import Channel, DeviceType, build_topic
from rules.commands import DeviceCommand
from rules.engine import Alert
from rules.hall import HallProfile, HallSnapshot, WindowView
from rules.language import CommandAction
from rules.tidal import CoverReason, Recommendation, RecommendationKind

log = logging.getLogger(__name__)


def alert_commands(
    alert: Alert, cmd: CommandAction, hall: HallSnapshot, now: datetime, *, hall_id: str, numbers: Iterator[int]
) -> list[DeviceCommand]:
    """The device commands a rule's command action means for this alert."""
    out: list[DeviceCommand] = []
    window_id = alert.labels.get("window")
    window = next((w for w in hall.windows if w.window_id == window_id), None)
    targets: list[tuple[DeviceType, str]] = []
    if cmd.target == "call_screens":
        targets = [(d.device_type, d.device_id) for d in hall.devices if d.device_type is DeviceType.CALL_SCREEN]
    elif cmd.target == "qms":
        qms: list[tuple[DeviceType, str]] = [
            (d.device_type, d.device_id) for d in hall.devices if d.device_type is DeviceType.QMS
        ]
        targets = qms[:1]
    elif window_id is not None:
        targets = [(DeviceType.WINDOW, window_id)]
    elif "device" in alert.labels:
        targets = [(DeviceType(alert.labels["device_type"]), alert.labels["device"])]
    for device_type, device_id in targets:
        cmd_id = f"{alert.fingerprint}-{next(numbers)}"
        model = _command(cmd, cmd_id, alert, window, hall, now)
        if model is None:
            log.warning("command %s has nothing to act on for alert %s", cmd.type, alert.fingerprint)
            continue
        out.append(_device_command(hall_id, device_type, device_id, model))
    return out


def _command(
    cmd: CommandAction, cmd_id: str, alert: Alert, w: WindowView | None, hall: HallSnapshot, now: datetime
) -> AnyCommand | None:
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


def recommendation_commands(
    rec: Recommendation,
    hall: HallSnapshot,
    caps: Mapping[str, Collection[str]],
    now: datetime,
    *,
    hall_id: str,
    numbers: Iterator[int],
    profile: HallProfile | None = None,
) -> list[DeviceCommand]:
    """An approved recommendation carried out: the queue system assigns the services to each window it opens, and
    each window's staff is nudged to open (or close) it, in words naming windows and services as the hall's
    configuration (`profile`) names them. `caps`: window id → the services it can serve."""
    out: list[DeviceCommand] = []
    windows = {w.window_id: w for w in profile.windows} if profile is not None else {}
    named = {s.code: s for s in profile.services} if profile is not None else {}

    def services_in(codes: Collection[str], en: bool) -> str:
        words = []
        for code in codes:
            s = named.get(code)
            words.append(code if s is None else ((s.name_en or s.name) if en else s.name) or code)
        return (", " if en else "、").join(words)

    def window_in(window_id: str, en: bool) -> str:
        w = windows.get(window_id)
        return window_id if w is None else ((w.name_en or w.name) if en else w.name) or window_id

    qms = next((d.device_id for d in hall.devices if d.device_type is DeviceType.QMS), None)
    for i, window_id in enumerate(rec.windows):
        staff = rec.staff[i] if i < len(rec.staff) else None
        cmd_id = f"{rec.id}-{next(numbers)}"
        serves = tuple(c for c in rec.serves if c in caps.get(window_id, rec.serves)) or rec.services
        zh, en = services_in(serves, False), services_in(serves, True)
        here_zh, here_en = window_in(window_id, False), window_in(window_id, True)
        if qms is not None and rec.kind is RecommendationKind.OPEN:
            assign = WindowAssignCommand(ts=now, cmd_id=cmd_id, window_id=window_id, services=serves, staff_id=staff)
            out.append(_device_command(hall_id, DeviceType.QMS, qms, assign))
        told = window_id  # whose terminal hears it: the window's, or for a cover the partner's (the window's is away)
        if isinstance(rec.reason, CoverReason):
            told = rec.reason.partner_window.id
            text = f"AB岗顶岗：请到 {here_zh} 办理 {zh} / AB cover: please go to {here_en} for {en}"
        elif rec.kind is RecommendationKind.OPEN:
            text = f"潮汐窗口：请开放 {here_zh} 办理 {zh} / tidal window: please open {here_en} for {en}"
        else:
            text = f"请关闭潮汐窗口 {here_zh}（{zh}）/ please close tidal window {here_en} ({en})"
        nudge = NudgeCommand(
            ts=now,
            cmd_id=f"{cmd_id}-n",
            waiting=sum(s.waiting for s in hall.services if s.code in rec.services),
            message=text,
        )
        out.append(_device_command(hall_id, DeviceType.WINDOW, told, nudge))
    return out


def break_command(
    window: WindowView, text: str, hall: HallSnapshot, now: datetime, *, hall_id: str, numbers: Iterator[int]
) -> DeviceCommand:
    """A lunch break due or held back, told on the window's staff terminal: a nudge with the words (the command a
    window terminal takes), counting the people waiting for its services."""
    waiting = sum(s.waiting for s in hall.services if s.code in window.services)
    nudge = NudgeCommand(ts=now, cmd_id=f"break-{next(numbers)}", waiting=waiting, message=text)
    return _device_command(hall_id, DeviceType.WINDOW, window.window_id, nudge)


def _device_command(
    hall_id: str,
    device_type: DeviceType,
    device_id: str,
    model: AnyCommand,
) -> DeviceCommand:
    return DeviceCommand(
        cmd_id=model.cmd_id,
        device_type=device_type,
        device_id=device_id,
        type=model.type,
        topic=build_topic(hall_id, device_type, device_id, Channel.CMD),
        payload=model.model_dump_json(exclude_none=True),
    )
