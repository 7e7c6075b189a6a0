"""How urgent a ticket is: the priority of a device fault from its operational impact, with the reason in words.

Owns `assess_priority` and its device-class tables (`_CORE`, `_POOLED`, `_MINOR`), `choose_priority` (the rule's
fixed priority, a bad rating, the impact, or the rule's severity), `group_by_type` and what counts as a working
device (`works`). Must not keep state between calls: a caller that assesses many devices of one snapshot groups
them once (`group_by_type`) and passes the grouping in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from devices.topics import DeviceType
from rules.hall import DeviceView, HallSnapshot, Health
from rules.language import Severity
from rules.schedule import Schedule, WorkingCalendar
from rules.tickets.model import TicketKind, TicketPriority

# How much the hall depends on a device class, and its name in a sentence.
_CORE = {  # the hall cannot issue, call or route numbers without them
    DeviceType.TICKET_MACHINE: "ticket machine",
    DeviceType.CALL_SCREEN: "call screen",
    DeviceType.QMS: "queue system",
    DeviceType.WINDOW: "window terminal",
}
_POOLED = {DeviceType.KIOSK: "kiosk"}  # self-service: citizens can use another one, or a window
_MINOR = {DeviceType.EVALUATOR: "evaluator", DeviceType.CAMERA: "camera"}  # service goes on without them
LAST_HOUR = timedelta(hours=1)
_HEALTHY = frozenset({Health.OK, Health.DEGRADED})
_PRIORITY_OF_SEVERITY = {
    Severity.CRITICAL: TicketPriority.P1,
    Severity.MAJOR: TicketPriority.P2,
    Severity.WARNING: TicketPriority.P3,
    Severity.INFO: TicketPriority.P3,
}

DevicesByType = Mapping[DeviceType, Sequence[DeviceView]]


def works(device: DeviceView) -> bool:
    """Online and healthy (a degraded device still serves)."""
    return device.online and device.health in _HEALTHY


def group_by_type(devices: Iterable[DeviceView]) -> dict[DeviceType, list[DeviceView]]:
    """The devices by type, in their order."""
    grouped: dict[DeviceType, list[DeviceView]] = {}
    for d in devices:
        grouped.setdefault(d.device_type, []).append(d)
    return grouped


def _name(device_type: DeviceType) -> str:
    return {**_CORE, **_POOLED, **_MINOR}.get(device_type, str(device_type))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith(("s", "sh", "ch")) else "s")


def _format_hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:.1f} h"


def assess_priority(
    device: DeviceView,
    hall: HallSnapshot,
    now: datetime,
    schedule: Schedule,
    tz: tzinfo,
    *,
    by_type: DevicesByType | None = None,
    faulty: Collection[str] = (),
) -> tuple[TicketPriority, str]:
    """The priority of a fault on `device` from its operational impact, with the reason in words.

    Class first: ticket machines, call screens, the queue system and window terminals are how the hall works — the
    last working one of its kind is P1 (nobody can take a number, or be called), one of several is P2. Kiosks are
    pooled self-service: the last working one is P2, one of several P3 while at least half of them still work.
    Evaluators and cameras never stop service: P3. Then time: in the last hour of opening time, after closing and
    before opening, the fault is one level less urgent (there is time to fix it before it hurts citizens), and
    `TicketBook.tick` re-assesses open tickets so that the priority rises again when the hall opens — at opening
    time, not at midnight, so nobody is paged for a P1 at 00:05. The lunch break is not "closed": the afternoon is
    ahead.

    `by_type` is `group_by_type(hall.devices)` when the caller has it already (every open ticket's priority is
    re-assessed on every tick); without it the hall's devices are grouped here. `faulty`: the devices whose fault is
    known otherwise (an open fault ticket whose alert is active) — a device silent past its heartbeat timeout still
    looks online and healthy in its view, since no last will came, yet it does not work."""
    cal = WorkingCalendar(schedule, tz)
    peers = (group_by_type(hall.devices) if by_type is None else by_type).get(device.device_type, [])
    total = len({d.device_id for d in peers} | {device.device_id})
    working = sum(1 for d in peers if d.device_id != device.device_id and works(d) and d.device_id not in faulty)
    name = _name(device.device_type)
    if device.device_type in _CORE:
        if working == 0:
            base, why = TicketPriority.P1, f"last working {name} of the hall"
        else:
            base, why = TicketPriority.P2, f"{working} of {_plural(total, name)} still work"
    elif device.device_type in _POOLED:
        if working == 0:
            base, why = TicketPriority.P2, f"last working {name} of the hall"
        elif working * 2 >= total:
            base, why = TicketPriority.P3, f"{working} of {_plural(total, name)} still work"
        else:
            base, why = TicketPriority.P2, f"only {working} of {_plural(total, name)} still work"
    else:
        article = "an" if name[0] in "aeiou" else "a"
        base, why = TicketPriority.P3, f"{article} {name} fault does not stop service"
    local = now.astimezone(cal.tz)
    left = cal.left_today(now)
    clock = local.strftime("%H:%M")
    opened_today = any(s <= now for s, _ in cal.spans(local.date()))
    if left <= timedelta(0):
        when, lower = f"{clock}, no opening time left today", True
    elif not opened_today:
        when, lower = f"{clock}, before opening", True
    elif left <= LAST_HOUR:
        when, lower = f"{clock}, the last hour of opening time ({_format_hours(left)} left)", True
    else:
        when, lower = f"{clock} with {_format_hours(left)} of opening time left today", False
    priority = base
    if lower and base is not TicketPriority.P3:
        priority = TicketPriority(f"P{base.rank + 1}")
        when += f" (lowered from {base})"
    return priority, f"{why}; {when}"


def choose_priority(  # noqa: PLR0913 - the rule's three, the device in its hall and time, and the known faults
    kind: TicketKind,
    fixed: str,
    severity: Severity,
    device: DeviceView | None,
    hall: HallSnapshot,
    now: datetime,
    schedule: Schedule,
    tz: tzinfo,
    faulty: Collection[str] = (),
) -> tuple[TicketPriority, str]:
    """A new ticket's priority and its reason: the rule's own (`fixed`, unless "auto"), a bad rating's, the device's
    impact (`assess_priority`), or, with no device to assess, the rule's severity."""
    if fixed != "auto":
        return TicketPriority(fixed), f"{fixed}, set by the rule"
    if kind is TicketKind.RECTIFICATION:
        return TicketPriority.P2, "bad rating (差评): rectify and revisit the citizen"
    if device is not None:
        return assess_priority(device, hall, now, schedule, tz, faulty=faulty)
    priority = _PRIORITY_OF_SEVERITY[severity]
    return priority, f"from the rule's severity ({severity}); no device to assess"
