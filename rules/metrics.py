"""The metrics rules can name, read off a hall snapshot (`queue.projected_wait_min`, `window.idle_min`, …).

Each metric belongs to one kind of subject — a service's queue, a window, a device, a camera zone, a command the
gateway sent, or the hall — and yields, per subject, a value and the labels that identify it. Metrics that measure
"how long" also say since when, so that a threshold on them has a known crossing time: a condition that matured while
the gateway was down fires with its true start time. Pure: snapshot and time in, facts out.

Why about 530 lines: it is the catalogue of every metric a rule may name, one declaration each (subject, unit,
what of the hall it reads, how it is computed), which docs/rules.md is generated from; most of its length is that
table, one field per line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rules.commands import CommandStatus, GatewayWithCommands, TrackedCommand
from rules.hall import DeviceView, HallSnapshot, ServiceView, WindowStatus, WindowView, ZoneView
from rules.schedule import joined


class Subject(StrEnum):
    SERVICE = "service"
    WINDOW = "window"
    DEVICE = "device"
    ZONE = "zone"
    COMMAND = "command"  # a command the gateway sent a device (rules/commands.py)
    HALL = "hall"


class Kind(StrEnum):
    NUMBER = "number"
    BOOL = "bool"
    ENUM = "enum"


Value = float | bool | str | None
View = ServiceView | WindowView | DeviceView | ZoneView | TrackedCommand | HallSnapshot


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    subject: Subject
    kind: Kind
    unit: str
    description: str
    read: Callable[[View, HallSnapshot, datetime], Value]
    # for duration metrics: when the clock behind the value started (the value is minutes/seconds since then)
    since: Callable[[View, HallSnapshot, datetime], datetime | None] | None = None
    per_second: bool = False  # the value counts seconds (else minutes) since `since`
    choices: tuple[str, ...] = ()
    reads: frozenset[Subject] = frozenset()  # other kinds of subject `read` looks at in the hall, beyond its own

    @property
    def needs(self) -> frozenset[Subject] | None:
        """The kinds of subject a snapshot must hold for this metric (None: the whole hall, its totals too)."""
        return None if self.subject is Subject.HALL else self.reads | {self.subject}


def _minutes(start: datetime | None, now: datetime) -> float:
    return 0.0 if start is None else max(0.0, (now - start).total_seconds() / 60)


def _svc(v: View) -> ServiceView:
    assert isinstance(v, ServiceView)
    return v


def _win(v: View) -> WindowView:
    assert isinstance(v, WindowView)
    return v


def _dev(v: View) -> DeviceView:
    assert isinstance(v, DeviceView)
    return v


def _zone(v: View) -> ZoneView:
    assert isinstance(v, ZoneView)
    return v


def _command(v: View) -> TrackedCommand:
    assert isinstance(v, TrackedCommand)
    return v


def _projected(v: View, h: HallSnapshot, now: datetime) -> float:
    s = _svc(v)
    if s.projected_wait_s is None:
        return math.inf if s.waiting else 0.0
    return s.projected_wait_s / 60


def _oldest_issue(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    s = _svc(v)
    return None if s.longest_wait_s is None else now - timedelta(seconds=s.longest_wait_s)


def _capable_waiting(v: View, h: HallSnapshot, now: datetime) -> float:
    w = _win(v)
    return float(sum(s.waiting for s in h.services if s.code in w.services))


def _idle_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    w = _win(v)
    return w.idle_since if w.status is WindowStatus.OPEN and w.current_ticket is None else None


def _paused_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    w = _win(v)
    return w.paused_since if w.status is WindowStatus.PAUSED else None


def _shift_missed_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    """Since when the window has not been open (nor paused: someone is at it) in the staffed period it is in now
    (its configured `shifts`, hall time): the period's start, or its closing if later; None outside them."""
    w = _win(v)
    if not w.shifts or w.status in (WindowStatus.OPEN, WindowStatus.PAUSED, WindowStatus.OFFLINE):
        return None  # offline: its terminal is away (device-offline says so), whether it is open is not known
    local = now.astimezone(ZoneInfo(h.timezone))
    for start, end in joined(w.shifts):
        if start <= local.time() < end:
            began = datetime.combine(local.date(), start, local.tzinfo)
            return w.status_since if w.status_since is not None and w.status_since > began else began
    return None


def _serving_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    return _win(v).serving_since


def _silent_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    # not `last_seen`: the time the gateway itself was not listening does not count against the device
    return _dev(v).silent_since


def _silent_s(v: View, h: HallSnapshot, now: datetime) -> float | None:
    since = _dev(v).silent_since
    return None if since is None else max(0.0, (now - since).total_seconds())


def _offline_since(v: View, h: HallSnapshot, now: datetime) -> datetime | None:
    d = _dev(v)
    return d.since if not d.online else None


def _offline_share(device_type: str) -> Callable[[View, HallSnapshot, datetime], Value]:
    def read(v: View, h: HallSnapshot, now: datetime) -> Value:
        of_type = [d for d in h.devices if d.device_type == device_type]
        return sum(1 for d in of_type if not d.online) / len(of_type) if of_type else 0.0

    return read


def _no_show_rate(v: View, h: HallSnapshot, now: datetime) -> float:
    s = _svc(v)
    return s.no_shows_60m / s.calls_60m if s.calls_60m >= 10 else 0.0


def _arrivals_trend(v: View, h: HallSnapshot, now: datetime) -> float:
    s = _svc(v)
    recent, before = s.arrivals_15m, s.arrivals_60m - s.arrivals_15m
    if recent < 8:
        return 0.0  # too few tickets to call anything a surge
    return (recent / 15) / max(before / 45, 1 / 45)


def _serving_ratio(v: View, h: HallSnapshot, now: datetime) -> float:
    w = _win(v)
    if w.serving_since is None:
        return 0.0
    aht = next((s.mean_service_s for s in h.services if s.code == w.current_service), None)
    return (now - w.serving_since).total_seconds() / aht if aht else 0.0


def _participation(v: View, h: HallSnapshot, now: datetime) -> float:
    w = _win(v)
    return w.rated_today / w.served_today if w.served_today >= 20 else 1.0


def _abandon_rate(v: View, h: HallSnapshot, now: datetime) -> float:
    d = _dev(v)
    return d.kiosk_abandons_60m / d.kiosk_sessions_60m if d.kiosk_sessions_60m >= 10 else 0.0


_STATUS = tuple(s.value for s in WindowStatus)
_HEALTH = ("ok", "degraded", "fault", "offline", "unknown")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # -- queues, per service
        Metric(
            "queue.waiting",
            Subject.SERVICE,
            Kind.NUMBER,
            "tickets",
            "tickets waiting to be called",
            lambda v, h, n: float(_svc(v).waiting),
        ),
        Metric(
            "queue.longest_wait_min",
            Subject.SERVICE,
            Kind.NUMBER,
            "min",
            "how long the longest-waiting ticket has waited",
            lambda v, h, n: _minutes(_oldest_issue(v, h, n), n),
            since=_oldest_issue,
        ),
        Metric(
            "queue.projected_wait_min",
            Subject.SERVICE,
            Kind.NUMBER,
            "min",
            "expected wait of a ticket issued now (infinite when people wait and no open window serves them)",
            _projected,
        ),
        Metric(
            "queue.capable_windows",
            Subject.SERVICE,
            Kind.NUMBER,
            "windows",
            "open windows that serve the service",
            lambda v, h, n: float(_svc(v).capable_windows),
        ),
        Metric(
            "queue.arrivals_15m",
            Subject.SERVICE,
            Kind.NUMBER,
            "tickets",
            "tickets issued in the last 15 min",
            lambda v, h, n: float(_svc(v).arrivals_15m),
        ),
        Metric(
            "queue.arrivals_60m",
            Subject.SERVICE,
            Kind.NUMBER,
            "tickets",
            "tickets issued in the last hour",
            lambda v, h, n: float(_svc(v).arrivals_60m),
        ),
        Metric(
            "queue.completions_60m",
            Subject.SERVICE,
            Kind.NUMBER,
            "tickets",
            "services completed in the last hour",
            lambda v, h, n: float(_svc(v).completions_60m),
        ),
        Metric(
            "queue.mean_service_min",
            Subject.SERVICE,
            Kind.NUMBER,
            "min",
            "mean handling time (learned, or the configured default)",
            lambda v, h, n: _svc(v).mean_service_s / 60,
        ),
        Metric(
            "queue.mean_wait_60m_min",
            Subject.SERVICE,
            Kind.NUMBER,
            "min",
            "mean wait of the tickets called in the last hour",
            lambda v, h, n: None if _svc(v).mean_wait_60m_s is None else (_svc(v).mean_wait_60m_s or 0) / 60,
        ),
        Metric(
            "queue.no_show_rate_60m",
            Subject.SERVICE,
            Kind.NUMBER,
            "share",
            "no-shows ÷ tickets called in the last hour (0 until 10 calls)",
            _no_show_rate,
        ),
        Metric(
            "queue.arrivals_trend",
            Subject.SERVICE,
            Kind.NUMBER,
            "ratio",
            "tickets per minute in the last 15 min ÷ in the 45 min before (1 = steady; 0 with few tickets)",
            _arrivals_trend,
        ),
        # -- windows
        Metric(
            "window.status",
            Subject.WINDOW,
            Kind.ENUM,
            "",
            "open, paused, closed or offline",
            lambda v, h, n: _win(v).status.value,
            choices=_STATUS,
        ),
        Metric(
            "window.idle",
            Subject.WINDOW,
            Kind.BOOL,
            "",
            "open with nobody at the counter",
            lambda v, h, n: _idle_since(v, h, n) is not None,
        ),
        Metric(
            "window.idle_min",
            Subject.WINDOW,
            Kind.NUMBER,
            "min",
            "open with nobody at the counter for",
            lambda v, h, n: _minutes(_idle_since(v, h, n), n),
            since=_idle_since,
        ),
        Metric(
            "window.paused_min",
            Subject.WINDOW,
            Kind.NUMBER,
            "min",
            "paused for",
            lambda v, h, n: _minutes(_paused_since(v, h, n), n),
            since=_paused_since,
        ),
        Metric(
            "window.shift_missed_min",
            Subject.WINDOW,
            Kind.NUMBER,
            "min",
            "not open this long into one of its staffed periods (windows.<id>.shifts: lunch, evening or weekend "
            "service, 延时服务); 0 outside them or while open or paused",
            lambda v, h, n: _minutes(_shift_missed_since(v, h, n), n),
            since=_shift_missed_since,
        ),
        Metric(
            "window.serving_min",
            Subject.WINDOW,
            Kind.NUMBER,
            "min",
            "time on the current ticket",
            lambda v, h, n: _minutes(_serving_since(v, h, n), n),
            since=_serving_since,
        ),
        Metric(
            "window.serving_ratio",
            Subject.WINDOW,
            Kind.NUMBER,
            "×",
            "time on the current ticket ÷ the mean service time of its service",
            _serving_ratio,
            reads=frozenset({Subject.SERVICE}),
        ),
        Metric(
            "window.capable_waiting",
            Subject.WINDOW,
            Kind.NUMBER,
            "tickets",
            "tickets waiting for the services this window serves",
            _capable_waiting,
            reads=frozenset({Subject.SERVICE}),
        ),
        Metric(
            "window.call_unanswered_s",
            Subject.WINDOW,
            Kind.NUMBER,
            "s",
            "seconds since the current ticket was called with nobody at the counter yet",
            lambda v, h, n: 60 * _minutes(_win(v).calling_since, n),
            since=lambda v, h, n: _win(v).calling_since,
            per_second=True,
        ),
        Metric(
            "window.rating_participation",
            Subject.WINDOW,
            Kind.NUMBER,
            "share",
            "ratings ÷ services completed today (1 until 20 services)",
            _participation,
        ),
        Metric(
            "window.staff_present",
            Subject.WINDOW,
            Kind.BOOL,
            "",
            "a camera sees staff at the seat",
            lambda v, h, n: _win(v).staff_present,
        ),
        # -- devices
        Metric(
            "device.online",
            Subject.DEVICE,
            Kind.BOOL,
            "",
            "connected (no last will since its last state)",
            lambda v, h, n: _dev(v).online,
        ),
        Metric(
            "device.offline_min",
            Subject.DEVICE,
            Kind.NUMBER,
            "min",
            "offline (last will) for",
            lambda v, h, n: _minutes(_offline_since(v, h, n), n),
            since=_offline_since,
        ),
        Metric(
            "device.silent_s",
            Subject.DEVICE,
            Kind.NUMBER,
            "s",
            "seconds since the device last sent anything (heartbeat, event or state), not counting the time the "
            "gateway itself was not listening (down, cut off from the broker, storage paused)",
            _silent_s,
            since=_silent_since,
            per_second=True,
        ),
        Metric(
            "device.health",
            Subject.DEVICE,
            Kind.ENUM,
            "",
            "ok, degraded, fault, offline or unknown",
            lambda v, h, n: _dev(v).health.value,
            choices=_HEALTH,
        ),
        Metric(
            "device.printer",
            Subject.DEVICE,
            Kind.ENUM,
            "",
            "printer status of a ticket machine or kiosk",
            lambda v, h, n: _dev(v).printer,
            choices=("ok", "paper_low", "paper_out", "jam"),
        ),
        Metric(
            "device.paper_pct",
            Subject.DEVICE,
            Kind.NUMBER,
            "%",
            "paper left",
            lambda v, h, n: None if _dev(v).paper_pct is None else float(_dev(v).paper_pct or 0),
        ),
        Metric(
            "device.display",
            Subject.DEVICE,
            Kind.ENUM,
            "",
            "what a call screen shows",
            lambda v, h, n: _dev(v).display,
            choices=("ok", "blank", "no_signal", "stale"),
        ),
        Metric(
            "device.display_error",
            Subject.DEVICE,
            Kind.BOOL,
            "",
            "a call screen reported a display error",
            lambda v, h, n: any(p.startswith("display.") for p in _dev(v).problems),
        ),
        Metric(
            "device.errors_15m",
            Subject.DEVICE,
            Kind.NUMBER,
            "errors",
            "error events in the last 15 min",
            lambda v, h, n: float(_dev(v).errors_15m),
        ),
        Metric(
            "device.kiosk_sessions_60m",
            Subject.DEVICE,
            Kind.NUMBER,
            "sessions",
            "kiosk sessions in the last hour",
            lambda v, h, n: float(_dev(v).kiosk_sessions_60m),
        ),
        Metric(
            "device.kiosk_abandon_rate_60m",
            Subject.DEVICE,
            Kind.NUMBER,
            "share",
            "abandoned ÷ all kiosk sessions in the last hour (0 until 10 sessions)",
            _abandon_rate,
        ),
        # -- zones
        Metric(
            "zone.count",
            Subject.ZONE,
            Kind.NUMBER,
            "people",
            "people a camera counts in the zone",
            lambda v, h, n: float(_zone(v).count),
        ),
        # -- commands the gateway sent, until they are forgotten a day after they settled (rules/commands.py)
        Metric(
            "command.status",
            Subject.COMMAND,
            Kind.ENUM,
            "",
            "pending (sent, waiting for the device's acknowledgement), acknowledged, failed (the device answered "
            "ok: false) or unacknowledged (no answer after every re-send)",
            lambda v, h, n: _command(v).status.value,
            choices=tuple(s.value for s in CommandStatus),
        ),
        Metric(
            "command.unsupported",
            Subject.COMMAND,
            Kind.BOOL,
            "",
            "the device answered that it does not take commands of this type (error `unsupported`)",
            lambda v, h, n: _command(v).error == "unsupported",
        ),
        Metric(
            "command.superseded",
            Subject.COMMAND,
            Kind.BOOL,
            "",
            "a later command of the same type to the same device was acknowledged",
            lambda v, h, n: _command(v).superseded,
        ),
        # -- the hall
        Metric(
            "hall.waiting",
            Subject.HALL,
            Kind.NUMBER,
            "tickets",
            "tickets waiting in all queues",
            lambda v, h, n: float(h.totals.waiting),
        ),
        Metric(
            "hall.windows_open",
            Subject.HALL,
            Kind.NUMBER,
            "windows",
            "open windows",
            lambda v, h, n: float(h.totals.windows_open),
        ),
        Metric(
            "hall.people_counted",
            Subject.HALL,
            Kind.NUMBER,
            "people",
            "people the cameras count in all zones (no value in a hall without cameras)",
            lambda v, h, n: float(h.totals.people_counted) if h.zones else None,
        ),
        Metric(
            "hall.call_screens_offline_share",
            Subject.HALL,
            Kind.NUMBER,
            "share",
            "share of call screens offline (0–1)",
            _offline_share("call_screen"),
        ),
        Metric(
            "hall.ticket_machines_offline_share",
            Subject.HALL,
            Kind.NUMBER,
            "share",
            "share of ticket machines offline (0–1)",
            _offline_share("ticket_machine"),
        ),
        # -- the gateway itself
        Metric(
            "hall.storage_error",
            Subject.HALL,
            Kind.BOOL,
            "",
            "the gateway's database refuses writes (a full disk, a lock, an I/O error): ingest is paused, nothing "
            "is acknowledged or lost, and it resumes by itself when the cause goes",
            lambda v, h, n: h.gateway.storage_error is not None,
        ),
        Metric(
            "hall.broker_session_lost_min",
            Subject.HALL,
            Kind.NUMBER,
            "min",
            "minutes since the broker came back without the gateway's session: what it held for the gateway may be "
            "lost (no value if that never happened since the gateway started)",
            lambda v, h, n: None if h.gateway.session_lost_at is None else _minutes(h.gateway.session_lost_at, n),
        ),
        Metric(
            "hall.disk_budget_pct",
            Subject.HALL,
            Kind.NUMBER,
            "%",
            "the gateway's data directory (database, backups, other files) as a share of storage.disk_budget_mb; "
            "beyond 100 the oldest events are deleted (no value until first measured, a minute after the start)",
            lambda v, h, n: h.gateway.disk_budget_pct,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One subject's value of one metric now."""

    labels: tuple[tuple[str, str], ...]
    value: Value
    since: datetime | None


def subjects(kind: Subject, hall: HallSnapshot) -> Iterator[tuple[tuple[tuple[str, str], ...], View]]:
    """Every subject of a kind with its identifying labels (sorted by label name)."""
    if kind is Subject.SERVICE:
        for s in hall.services:
            yield (("service", s.code),), s
    elif kind is Subject.WINDOW:
        for w in hall.windows:
            yield (("window", w.window_id),), w
    elif kind is Subject.DEVICE:
        for d in hall.devices:
            yield (("device", d.device_id), ("device_type", d.device_type.value)), d
    elif kind is Subject.ZONE:
        for z in hall.zones:
            yield (("camera", z.camera_id), ("zone", z.zone_id)), z
    elif kind is Subject.COMMAND:
        # the decider adds the commands to the snapshot it evaluates (a backtest's and the hall model's have none)
        for c in hall.gateway.commands if isinstance(hall.gateway, GatewayWithCommands) else ():
            labels = (("cmd_id", c.cmd_id), ("command", c.type), ("device", c.device_id))
            yield (*labels, ("device_type", c.device_type.value)), c
    else:
        yield (), hall


__all__ = ["METRICS", "Fact", "Kind", "Metric", "Subject", "Value", "View", "subjects"]
