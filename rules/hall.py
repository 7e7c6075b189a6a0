"""The live model of the hall (大厅实时模型): contract messages in, a snapshot out, time injected.

Owns the facts the rules reason about — per service the waiting tickets, longest and projected wait, arrivals and
completions over rolling windows and the mean service time; per window its status, staff, current ticket and
idle/pause clocks; per device online, last seen and health; per zone the occupancy. Pure: no I/O, no clock of its
own (every time comes from a message or from the `now` passed to `snapshot`), so the same messages always give the
same hall — live, after a restart, or in a backtest. `dump()`/`HallState.load()` give the state as JSON so the
gateway can persist it beside the event log.

Messages from different devices may arrive out of order (a call before the issue it answers); tickets are keyed by
id, so either order ends in the same state. Duplicates (the same device, seq and ts, as QoS 1 redelivery produces)
are recognised and not applied twice.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    AppointmentCheckedIn,
    CallScreenState,
    CameraState,
    DeviceState,
    DisplayError,
    DisplayStatus,
    EvaluatorState,
    KioskError,
    KioskHelpRequested,
    KioskSession,
    KioskState,
    Occupancy,
    PrinterStatus,
    RatingSkipped,
    RatingSubmitted,
    ServiceCompleted,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketChannel,
    TicketIssued,
    TicketMachineState,
    TicketNoShow,
    TicketReactivated,
    TicketTransferred,
    WindowClosed,
    WindowOpened,
    WindowPaused,
    WindowResumed,
)
from devices.topics import Channel, DeviceType

ROLLING_S = 3600.0  # arrivals/completions/waits are kept for the last hour
AHT_SAMPLES = 30  # mean service time over the last 30 completions
AHT_MIN_SAMPLES = 5  # below this the configured default is used
MAX_SEQ_RANGES = 512  # per device: how fragmented the record of seen `seq` numbers may get
TERMINAL_TICKET_KEEP_S = 4 * 3600.0
SCHEMA_VERSION = 1


# ---------------------------------------------------------------------------------------------- profile (input)


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    code: str
    name: str | None = None
    name_en: str | None = None
    default_aht_s: float | None = None  # None: the hall's default


@dataclass(frozen=True, slots=True)
class WindowProfile:
    window_id: str
    name: str | None = None
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    device_id: str
    device_type: DeviceType
    name: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class HallProfile:
    """What the configuration says about the hall; everything else is learned from the messages."""

    hall_id: str
    timezone: str = "Asia/Shanghai"
    name: str | None = None
    name_en: str | None = None
    default_aht_s: float = 600.0  # mean service time assumed until AHT_MIN_SAMPLES completions are seen
    services: tuple[ServiceProfile, ...] = ()
    windows: tuple[WindowProfile, ...] = ()
    devices: tuple[DeviceProfile, ...] = ()


# ---------------------------------------------------------------------------------------------- states


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # still waiting when the hall's day ended


class WindowStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"
    OFFLINE = "offline"  # the window terminal is offline (shown instead of its last status)


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAULT = "fault"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class Applied(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


_TERMINAL = frozenset({TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.CANCELLED, TicketStatus.EXPIRED})


# ---------------------------------------------------------------------------------------------- internal records
# Times inside are float seconds since the epoch (UTC): cheap to compare and to store as JSON.


@dataclass(slots=True)
class _Ticket:
    ticket_id: str
    service: str | None
    number: str | None = None
    channel: str = TicketChannel.WALK_IN.value
    issued_at: float | None = None
    status: TicketStatus = TicketStatus.WAITING
    window_id: str | None = None
    called_at: float | None = None
    started_at: float | None = None
    attempts: int = 0
    ended_at: float | None = None


@dataclass(slots=True)
class _Service:
    code: str
    waiting: dict[str, _Ticket] = field(default_factory=dict)
    arrivals: deque[float] = field(default_factory=deque)
    completions: deque[float] = field(default_factory=deque)
    waits: deque[tuple[float, float]] = field(default_factory=deque)  # (called at, wait s)
    service_times: deque[float] = field(default_factory=lambda: deque(maxlen=AHT_SAMPLES))
    calls: deque[float] = field(default_factory=deque)  # first calls
    no_shows: deque[float] = field(default_factory=deque)
    issued_today: int = 0
    completed_today: int = 0
    no_shows_today: int = 0


@dataclass(slots=True)
class _ServicePart:
    """The part of a service's view that changes only with the service (kept between snapshots until it does),
    and its mean wait of the last hour (kept until a wait leaves the hour)."""

    name: str | None
    name_en: str | None
    issued: list[float]  # the waiting tickets' issue times, oldest first
    timeless: bool  # False: a ticket waits with no issue time (it counts as issued now): not kept
    by_channel: dict[str, int]
    oldest: str | None
    aht: float
    learned: bool
    mean_wait: float | None = None
    mean_wait_at: float = math.inf
    mean_wait_until: float = -math.inf


@dataclass(slots=True)
class _Window:
    window_id: str
    status: WindowStatus = WindowStatus.CLOSED
    staff_id: str | None = None
    services: tuple[str, ...] = ()
    current_ticket: str | None = None
    serving_since: float | None = None
    idle_since: float | None = None
    paused_since: float | None = None
    pause_reason: str | None = None
    status_since: float | None = None
    last_call_at: float | None = None
    staff_present: bool | None = None
    staff_seen_at: float | None = None
    served_today: int = 0
    rated_today: int = 0
    rating_skipped_today: int = 0


class SeqRanges:
    """Which `seq` numbers of one device were applied, as sorted closed ranges — usually a single one.

    QoS 1 redelivers whatever was not acknowledged when a connection broke, which after a broker restart can be
    thousands of messages; remembering the numbers as ranges recognises all of them in constant memory. A lower
    number with a newer timestamp than anything seen means the device restarted its counter: start afresh.
    """

    __slots__ = ("latest_at", "ranges")

    def __init__(self, ranges: list[list[int]] | None = None, latest_at: float = float("-inf")) -> None:
        self.ranges: list[list[int]] = ranges or []
        self.latest_at = latest_at

    def add(self, seq: int, at: float) -> bool:
        """Record `seq`; False if it was already there (a duplicate)."""
        r = self.ranges
        if r and seq < r[-1][1] and at > self.latest_at:
            r.clear()  # the device's counter restarted
        self.latest_at = max(self.latest_at, at)
        i = bisect_left(r, [seq + 1]) - 1  # the last range starting at or before seq
        if i >= 0 and r[i][0] <= seq <= r[i][1]:
            return False
        joins_left = i >= 0 and r[i][1] == seq - 1
        joins_right = i + 1 < len(r) and r[i + 1][0] == seq + 1
        if joins_left and joins_right:
            r[i][1] = r[i + 1][1]
            del r[i + 1]
        elif joins_left:
            r[i][1] = seq
        elif joins_right:
            r[i + 1][0] = seq
        else:
            r.insert(i + 1, [seq, seq])
            if len(r) > MAX_SEQ_RANGES:
                del r[0]
        return True

    def dump(self) -> dict[str, object]:
        return {"ranges": self.ranges, "latest_at": self.latest_at if self.ranges else None}

    @classmethod
    def load(cls, raw: dict[str, object]) -> SeqRanges:
        ranges = raw["ranges"]
        latest = raw["latest_at"]
        assert isinstance(ranges, list)
        return cls([list(x) for x in ranges], float(latest) if isinstance(latest, int | float) else float("-inf"))


@dataclass(slots=True)
class _Device:
    device_id: str
    device_type: DeviceType
    online: bool = False
    last_seen: float | None = None
    online_since: float | None = None  # since when `online` has its current value
    printer: str | None = None
    paper_pct: int | None = None
    display: str | None = None
    error_code: str | None = None
    battery_pct: int | None = None
    fps: float | None = None
    display_error: str | None = None  # from a display.error event, cleared by a healthy state
    last_error: str | None = None
    last_error_at: float | None = None
    errors: deque[float] = field(default_factory=deque)
    kiosk_sessions: deque[tuple[float, str]] = field(default_factory=deque)
    help_requests: int = 0
    seen: SeqRanges = field(default_factory=SeqRanges)


@dataclass(slots=True)
class _Zone:
    zone_id: str
    camera_id: str
    count: int
    updated_at: float


# ---------------------------------------------------------------------------------------------- views (output)


@dataclass(frozen=True, slots=True)
class ServiceView:
    code: str
    name: str | None
    name_en: str | None
    waiting: int
    waiting_by_channel: dict[str, int]
    longest_wait_s: float | None
    oldest_ticket: str | None
    waits_s: tuple[float, ...]  # how long each waiting ticket has waited so far, longest first
    projected_wait_s: float | None  # for a ticket issued now; None when no open window can serve it
    capable_windows: int  # open (not paused) windows that serve this service
    serving: int
    arrivals_15m: int
    arrivals_60m: int
    completions_15m: int
    completions_60m: int
    mean_service_s: float  # learned AHT, or the default
    aht_learned: bool
    mean_wait_60m_s: float | None
    calls_60m: int
    no_shows_60m: int
    issued_today: int
    completed_today: int
    no_shows_today: int


@dataclass(frozen=True, slots=True)
class WindowView:
    window_id: str
    name: str | None
    status: WindowStatus
    online: bool | None  # None: no terminal of its own (reported by a qms)
    staff_id: str | None
    services: tuple[str, ...]
    current_ticket: str | None
    current_number: str | None
    current_service: str | None
    serving_since: datetime | None
    idle_since: datetime | None
    paused_since: datetime | None
    pause_reason: str | None
    status_since: datetime | None
    last_call_at: datetime | None
    calling_since: datetime | None  # the current ticket was called and nobody has come yet
    staff_present: bool | None
    served_today: int
    rated_today: int
    rating_skipped_today: int


@dataclass(frozen=True, slots=True)
class DeviceView:
    device_id: str
    device_type: DeviceType
    name: str | None
    location: str | None
    online: bool
    since: datetime | None
    last_seen: datetime | None
    health: Health
    problems: tuple[str, ...]
    printer: str | None
    paper_pct: int | None
    display: str | None
    errors_15m: int
    last_error: str | None
    kiosk_sessions_60m: int
    kiosk_abandons_60m: int


@dataclass(frozen=True, slots=True)
class ZoneView:
    zone_id: str
    camera_id: str
    count: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HallTotals:
    waiting: int
    longest_wait_s: float | None
    windows_open: int
    windows_paused: int
    windows_closed: int
    windows_offline: int
    devices_online: int
    devices_offline: int
    devices_faulty: int
    people_counted: int


@dataclass(frozen=True, slots=True)
class HallSnapshot:
    hall_id: str
    name: str | None
    name_en: str | None
    timezone: str
    at: datetime
    totals: HallTotals
    services: tuple[ServiceView, ...]
    windows: tuple[WindowView, ...]
    devices: tuple[DeviceView, ...]
    zones: tuple[ZoneView, ...]


# ---------------------------------------------------------------------------------------------- the model


class HallState:
    """The hall as the messages describe it. `apply` each accepted message in arrival order; `snapshot(now)`."""

    def __init__(self, profile: HallProfile) -> None:
        self.profile = profile
        self.tz = ZoneInfo(profile.timezone)
        self._services: dict[str, _Service] = {}
        self._windows: dict[str, _Window] = {}
        self._devices: dict[str, _Device] = {}
        self._zones: dict[str, _Zone] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._day: str | None = None  # the hall's local date of the newest message
        self._day_ends = -math.inf  # … and when it ends
        self._applied = 0
        # a device's view, kept while its state is unchanged (no message of its own since) and no error or kiosk
        # session has aged out of its rolling counts (a heartbeat changes only its last seen): device id → (its
        # count of messages other than heartbeats, built at, valid until, last seen, view)
        self._device_versions: dict[str, int] = {}
        self._device_views: dict[str, tuple[int, float, float, float | None, DeviceView]] = {}
        self._dts: dict[float, datetime] = {}
        self._spoke: set[str] = set()  # devices with a message since the last snapshot
        self._listed: list[DeviceView] = []  # the last snapshot's devices, in id order
        self._listed_ids: dict[str, int] = {}
        self._listed_until = -math.inf  # when one of them next ages (an error or kiosk session leaves its window)
        self._listed_at = -math.inf
        # a window's view is kept until the window, its terminal or its current ticket changes (a message names it)
        self._window_list: list[WindowView] = []  # the last snapshot's windows, in id order
        self._window_ids: dict[str, int] = {}
        self._windows_touched: set[str] = set()  # windows (and devices) changed since the last snapshot
        self._tickets_touched: set[str] = set()  # tickets changed since the last snapshot
        self._service_parts: dict[str, _ServicePart] = {}  # service code → its view's part kept until it changes
        self._zone_kept: dict[str, ZoneView] = {}  # zone → its view, until a camera reports it again
        self._zone_order: list[str] = []
        self._service_profiles = {s.code: s for s in profile.services}
        self._window_profiles = {w.window_id: w for w in profile.windows}
        self._device_profiles = {d.device_id: d for d in profile.devices}
        for s in profile.services:
            self._service(s.code)
        for w in profile.windows:
            self._window(w.window_id).services = w.services
        for d in profile.devices:
            self._device(d.device_id, d.device_type)

    # -- input ------------------------------------------------------------------------------------------

    def apply(self, msg: DeviceMessage) -> Applied:
        """Fold one accepted message into the hall. Returns DUPLICATE (and changes nothing) for a redelivery."""
        if msg.channel is Channel.HB:
            return self.heartbeat(msg.device_id, msg.device_type, msg.seq, msg.at.timestamp())
        at = msg.at.timestamp()
        device = self._device(msg.device_id, msg.device_type)
        if msg.seq is not None and not device.seen.add(msg.seq, at):
            return Applied.DUPLICATE
        self._device_versions[msg.device_id] = self._device_versions.get(msg.device_id, 0) + 1
        self._spoke.add(msg.device_id)
        online = device.online
        self._roll_day(at)
        p = msg.payload
        if msg.channel is Channel.STATE:
            assert isinstance(p, DeviceState)
            self._apply_state(device, p, at)
        else:
            self._seen(device, at)
            if msg.channel is Channel.EVT:
                ticket_id = p.__dict__.get("ticket_id")
                if ticket_id is not None:
                    self._tickets_touched.add(ticket_id)
                    ticket = self._tickets.get(ticket_id)
                    if ticket is not None and ticket.service is not None:  # its queue, if it waits in one
                        self._service_parts.pop(ticket.service, None)
                self._apply_event(msg, device, at)
        if device.online is not online:
            self._windows_touched.add(msg.device_id)  # a window's terminal went offline or came back
        self._counted(at)
        return Applied.APPLIED

    def heartbeat(self, device_id: str, device_type: DeviceType, seq: int | None, at: float) -> Applied:
        """A heartbeat (`hb`): the device is alive at `at`, nothing more — what `apply` does with one, without the
        message (a backtest replays a logged heartbeat from its row: seven in ten of a hall's messages)."""
        device = self._device(device_id, device_type)
        if seq is not None and not device.seen.add(seq, at):
            return Applied.DUPLICATE
        self._spoke.add(device_id)  # its view: a new last seen; anything else only if it was offline
        self._roll_day(at)
        if not device.online:
            self._device_versions[device_id] = self._device_versions.get(device_id, 0) + 1
            self._windows_touched.add(device_id)
        self._seen(device, at)
        self._counted(at)
        return Applied.APPLIED

    def _counted(self, at: float) -> None:
        self._applied += 1
        if self._applied % 2000 == 0:
            self._forget_old_tickets(at)

    def _apply_event(self, msg: DeviceMessage, device: _Device, at: float) -> None:
        p = msg.payload
        window_id = p.__dict__.get("window_id") or msg.device_id
        match p:
            case TicketIssued():
                self._issue(p.ticket_id, p.service, p.number, p.channel.value, at)
            case AppointmentCheckedIn():
                self._service(p.service)
            case TicketCancelled():
                self._end_ticket(p.ticket_id, TicketStatus.CANCELLED, at)
            case TicketReactivated():
                self._reactivate(p.ticket_id, p.service, at)
            case WindowOpened():
                w = self._window(window_id)
                self._set_status(w, WindowStatus.OPEN, at)
                w.staff_id = p.staff_id
                if p.services:
                    w.services = p.services
                for code in w.services:
                    self._service(code)
                w.paused_since = None
                w.pause_reason = None
                if w.current_ticket is None:
                    w.idle_since = at
            case WindowClosed():
                w = self._window(window_id)
                self._set_status(w, WindowStatus.CLOSED, at)
                w.idle_since = w.paused_since = None
                w.pause_reason = None
            case WindowPaused():
                w = self._window(window_id)
                self._set_status(w, WindowStatus.PAUSED, at)
                w.paused_since = at
                w.pause_reason = p.reason
                w.idle_since = None
            case WindowResumed():
                w = self._window(window_id)
                self._set_status(w, WindowStatus.OPEN, at)
                w.paused_since = None
                w.pause_reason = None
                if w.current_ticket is None:
                    w.idle_since = at
            case TicketCalled():
                self._call(self._window(window_id), p.ticket_id, p.attempt, at)
            case ServiceStarted():
                self._start(self._window(window_id), p.ticket_id, at)
            case ServiceCompleted():
                self._complete(self._window(window_id), p.ticket_id, p.duration_s, at)
            case TicketNoShow():
                w = self._window(window_id)
                t = self._end_ticket(p.ticket_id, TicketStatus.NO_SHOW, at)
                if t is not None and t.service is not None:
                    svc = self._service(t.service)
                    svc.no_shows_today += 1
                    _push(svc.no_shows, at)
                self._free_window(w, p.ticket_id, at)
            case TicketTransferred():
                self._transfer(p.ticket_id, p.to_service, at)
                self._free_window(self._window(window_id), p.ticket_id, at)
            case DisplayError():
                device.display_error = p.code.value
                device.last_error, device.last_error_at = p.code.value, at
            case KioskError():
                device.last_error, device.last_error_at = p.code, at
                _push(device.errors, at)
            case KioskSession():
                device.kiosk_sessions.append((at, p.outcome.value))
                while device.kiosk_sessions[0][0] < at - 2 * ROLLING_S:
                    device.kiosk_sessions.popleft()
                if p.service is not None:
                    self._service(p.service)
            case KioskHelpRequested():
                device.help_requests += 1
            case RatingSubmitted():
                self._window(p.window_id).rated_today += 1
            case RatingSkipped():
                self._window(p.window_id).rating_skipped_today += 1
            case Occupancy():
                for zone_id, count in p.zones.items():
                    self._zones[zone_id] = _Zone(zone_id, msg.device_id, count, at)
                    self._zone_kept.pop(zone_id, None)
                for wid, present in p.staff_present.items():
                    seat = self._windows.get(wid)  # a camera reports every seat every few seconds; few change
                    if seat is None or seat.staff_present is not present:
                        seat = self._window(wid)
                        seat.staff_present = present
                    seat.staff_seen_at = at
            case _:
                pass

    def _apply_state(self, device: _Device, p: DeviceState, at: float) -> None:
        if p.online != device.online or device.online_since is None:
            device.online_since = at
        device.online = p.online
        if not p.online:
            return  # a last will is the broker speaking, not the device: last seen and health stay as they were
        device.last_seen = max(device.last_seen or at, at)
        device.error_code = p.error_code
        if isinstance(p, TicketMachineState | KioskState):
            device.printer = p.printer.value if p.printer else None
            device.paper_pct = p.paper_pct
        if isinstance(p, CallScreenState):
            device.display = p.display.value if p.display else None
            if p.display in (None, DisplayStatus.OK):
                device.display_error = None
        if isinstance(p, EvaluatorState):
            device.battery_pct = p.battery_pct
        if isinstance(p, CameraState):
            device.fps = p.fps

    # -- tickets ----------------------------------------------------------------------------------------

    def _issue(self, ticket_id: str, service: str, number: str, channel: str, at: float) -> None:
        svc = self._service(service)
        _push(svc.arrivals, at)
        svc.issued_today += 1
        t = self._tickets.get(ticket_id)
        if t is None:
            t = self._tickets[ticket_id] = _Ticket(ticket_id, service, number, channel, at)
            svc.waiting[ticket_id] = t
            return
        # the call, transfer or cancellation arrived first: complete the record, do not queue it again (and a
        # transfer's queue is newer news than the issue's)
        t.service = t.service or service
        t.number, t.channel, t.issued_at = number, channel, at
        if t.called_at is not None and t.attempts >= 1:
            svc.waits.append((t.called_at, max(0.0, t.called_at - at)))

    def _reactivate(self, ticket_id: str, service: str | None, at: float) -> None:
        t = self._tickets.get(ticket_id)
        if t is None:
            t = self._tickets[ticket_id] = _Ticket(ticket_id, service, issued_at=at)
        code = service or t.service
        if code is None:
            return
        t.service = code
        t.status = TicketStatus.WAITING
        t.channel = TicketChannel.GREEN_CHANNEL.value
        t.window_id = None
        t.ended_at = None
        self._service(code).waiting[ticket_id] = t

    def _call(self, w: _Window, ticket_id: str, attempt: int, at: float) -> None:
        t = self._tickets.get(ticket_id)
        if t is None:  # called before we saw it issued
            t = self._tickets[ticket_id] = _Ticket(ticket_id, None, status=TicketStatus.CALLED)
        if t.service is not None:
            svc = self._service(t.service)
            if svc.waiting.pop(ticket_id, None) is not None and t.issued_at is not None:
                _push(svc.calls, at)
                svc.waits.append((at, max(0.0, at - t.issued_at)))
                while svc.waits[0][0] < at - 2 * ROLLING_S:
                    svc.waits.popleft()
        if t.status is not TicketStatus.SERVING:
            t.status = TicketStatus.CALLED
        t.called_at = at
        t.attempts = max(t.attempts, attempt)
        t.window_id = w.window_id
        t.ended_at = None
        w.current_ticket = ticket_id
        w.last_call_at = at
        w.idle_since = None

    def _start(self, w: _Window, ticket_id: str, at: float) -> None:
        t = self._tickets.get(ticket_id)
        if t is None:
            t = self._tickets[ticket_id] = _Ticket(ticket_id, None)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.status = TicketStatus.SERVING
        t.started_at = at
        t.window_id = w.window_id
        w.current_ticket = ticket_id
        w.serving_since = at
        w.idle_since = None

    def _complete(self, w: _Window, ticket_id: str, duration_s: float | None, at: float) -> None:
        t = self._tickets.get(ticket_id)
        service = t.service if t is not None else None
        if duration_s is None and t is not None and t.started_at is not None:
            duration_s = max(0.0, at - t.started_at)
        self._end_ticket(ticket_id, TicketStatus.DONE, at)
        if service is not None:
            svc = self._service(service)
            _push(svc.completions, at)
            svc.completed_today += 1
            if duration_s is not None:
                svc.service_times.append(duration_s)
        w.served_today += 1
        self._free_window(w, ticket_id, at)

    def _transfer(self, ticket_id: str, to_service: str, at: float) -> None:
        t = self._tickets.get(ticket_id)
        if t is None:
            t = self._tickets[ticket_id] = _Ticket(ticket_id, to_service, issued_at=at)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.service = to_service
        t.status = TicketStatus.WAITING
        t.window_id = None
        self._service(to_service).waiting[ticket_id] = t

    def _end_ticket(self, ticket_id: str, status: TicketStatus, at: float) -> _Ticket | None:
        t = self._tickets.get(ticket_id)
        if t is None:
            t = self._tickets[ticket_id] = _Ticket(ticket_id, None)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.status = status
        t.ended_at = at
        return t

    def _free_window(self, w: _Window, ticket_id: str, at: float) -> None:
        if w.current_ticket == ticket_id:
            w.current_ticket = None
            w.serving_since = None
            if w.status is WindowStatus.OPEN:
                w.idle_since = at

    # -- housekeeping -----------------------------------------------------------------------------------

    def _roll_day(self, at: float) -> None:
        """A new local day: yesterday's tickets still waiting are expired and the daily counters restart."""
        if at < self._day_ends:
            return  # the same day (or an earlier one) as the newest message: asked for every message
        local = datetime.fromtimestamp(at, self.tz)
        day = local.date().isoformat()
        if self._day is not None and day < self._day:
            return
        self._day_ends = datetime.combine(local.date() + timedelta(days=1), time(), self.tz).timestamp()
        if self._day is None or day == self._day:
            self._day = day
            return
        self._day = day
        for svc in self._services.values():
            for t in svc.waiting.values():
                t.status = TicketStatus.EXPIRED
                t.ended_at = at
            svc.waiting.clear()
            svc.issued_today = svc.completed_today = svc.no_shows_today = 0
        for w in self._windows.values():
            w.served_today = w.rated_today = w.rating_skipped_today = 0
        self._windows_touched.update(self._windows)
        self._service_parts.clear()

    def _forget_old_tickets(self, at: float) -> None:
        horizon = at - TERMINAL_TICKET_KEEP_S
        stale = [k for k, t in self._tickets.items() if t.status in _TERMINAL and (t.ended_at or 0) < horizon]
        for k in stale:
            del self._tickets[k]
        self._tickets_touched.update(stale)  # a window still naming one shows no number for it now

    def _set_status(self, w: _Window, status: WindowStatus, at: float) -> None:
        if w.status is not status:
            w.status = status
            w.status_since = at

    def _seen(self, device: _Device, at: float) -> None:
        if not device.online:
            device.online = True
            device.online_since = at
        device.last_seen = max(device.last_seen or at, at)

    def _service(self, code: str) -> _Service:
        """The service, to change it (every change goes through here: its view's kept part is dropped)."""
        self._service_parts.pop(code, None)
        svc = self._services.get(code)
        if svc is None:
            svc = self._services[code] = _Service(code)
        return svc

    def _window(self, window_id: str) -> _Window:
        """The window, to change it (every change of a window goes through here: its view is built again)."""
        self._windows_touched.add(window_id)
        w = self._windows.get(window_id)
        if w is None:
            w = self._windows[window_id] = _Window(window_id)
        return w

    def _device(self, device_id: str, device_type: DeviceType) -> _Device:
        d = self._devices.get(device_id)
        if d is None:
            d = self._devices[device_id] = _Device(device_id, device_type)
            self._windows_touched.add(device_id)  # a window's own terminal, first heard of
        return d

    # -- output -----------------------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> HallSnapshot:
        """The whole hall as of `now` (times in the hall's time zone)."""
        return self._snapshot(now, None)

    def partial(self, now: datetime, parts: Collection[str]) -> HallSnapshot:
        """Only some of the hall as of `now`: the windows, and of "services", "devices", "zones" those named; the
        others empty and the totals zero. For a backtest evaluating a few rules at their deadline, which read
        nothing else (RuleEngine.needs); anything else wants `snapshot`."""
        return self._snapshot(now, parts)

    def _snapshot(self, now: datetime, parts: Collection[str] | None) -> HallSnapshot:
        t = now.timestamp()
        windows = self._window_views()
        services: tuple[ServiceView, ...] = ()
        if parts is None or "services" in parts:
            capable: dict[str, int] = {}
            serving: dict[str, int] = {}
            for wv in windows:
                if wv.status is WindowStatus.OPEN:
                    for code in wv.services:
                        capable[code] = capable.get(code, 0) + 1
                if wv.current_ticket and wv.current_service is not None:
                    serving[wv.current_service] = serving.get(wv.current_service, 0) + 1
            services = tuple(self._service_view(s, t, capable.get(s.code, 0), serving.get(s.code, 0))
                             for s in self._sorted_services())  # fmt: skip
        devices = self._device_views_at(t) if parts is None or "devices" in parts else ()
        zones = self._zone_views() if parts is None or "zones" in parts else ()
        p = self.profile
        totals = UNCOUNTED if parts is not None else _totals(services, windows, devices, zones)
        return HallSnapshot(
            p.hall_id, p.name, p.name_en, p.timezone, now.astimezone(self.tz), totals, services, windows, devices, zones
        )

    def _zone_views(self) -> tuple[ZoneView, ...]:
        """Every zone's view, rebuilding those a camera reported since the last snapshot."""
        if len(self._zone_order) != len(self._zones):
            self._zone_order = sorted(self._zones)
        views = self._zone_kept
        for zone_id in self._zone_order:
            if zone_id not in views:
                z = self._zones[zone_id]
                at = self._dt(z.updated_at)
                assert at is not None
                views[zone_id] = ZoneView(z.zone_id, z.camera_id, z.count, at)
        return tuple(views[zone_id] for zone_id in self._zone_order)

    def _window_views(self) -> tuple[WindowView, ...]:
        """Every window's view, rebuilding only those changed since the last snapshot: the window itself (every
        change goes through `_window`), its terminal (a message from it) or its current ticket (a message naming
        the ticket, or the ticket forgotten). A window's view does not depend on the time."""
        if len(self._window_list) != len(self._windows):
            order = sorted(self._windows)  # a new window: list them all again
            self._window_ids = {window_id: i for i, window_id in enumerate(order)}
            self._window_list = [self._window_view(self._windows[window_id]) for window_id in order]
        else:
            touched = self._windows_touched
            if self._tickets_touched:
                touched |= {w.window_id for w in self._windows.values() if w.current_ticket in self._tickets_touched}
            ids = self._window_ids
            for window_id in touched:
                i = ids.get(window_id)
                if i is not None:
                    self._window_list[i] = self._window_view(self._windows[window_id])
        self._windows_touched = set()
        self._tickets_touched = set()
        return tuple(self._window_list)

    def _sorted_services(self) -> list[_Service]:
        return sorted(self._services.values(), key=lambda s: s.code)

    def _service_view(self, s: _Service, now: float, capable: int, serving: int) -> ServiceView:
        kept = self._service_parts.get(s.code)
        if kept is None:
            kept = self._service_part(s, now)
            if kept.timeless:
                self._service_parts[s.code] = kept
        issued = kept.issued
        if not (kept.mean_wait_at <= now < kept.mean_wait_until):
            since = now - ROLLING_S
            recent = [w for (c, w) in s.waits if c >= since]
            kept.mean_wait = sum(recent) / len(recent) if recent else None
            kept.mean_wait_at = now
            kept.mean_wait_until = min((c + ROLLING_S for c, _ in s.waits if c >= since), default=math.inf)
        aht = kept.aht
        # Projected wait for a ticket issued now: the queue ahead shared over the open windows that serve the
        # service (research/queue-and-staffing.md §6.3, EWT = queue length × AHT ÷ open capable counters).
        waiting = len(issued)
        projected = waiting * aht / capable if capable else (0.0 if not waiting else None)
        return ServiceView(
            code=s.code,
            name=kept.name,
            name_en=kept.name_en,
            waiting=waiting,
            waiting_by_channel=kept.by_channel,
            longest_wait_s=max(0.0, now - issued[0]) if issued else None,
            oldest_ticket=kept.oldest,
            waits_s=tuple(max(0.0, now - i) for i in issued),  # the oldest ticket first: the longest wait
            projected_wait_s=projected,
            capable_windows=capable,
            serving=serving,
            arrivals_15m=_count_since(s.arrivals, now - 900),
            arrivals_60m=_count_since(s.arrivals, now - ROLLING_S),
            completions_15m=_count_since(s.completions, now - 900),
            completions_60m=_count_since(s.completions, now - ROLLING_S),
            mean_service_s=aht,
            aht_learned=kept.learned,
            mean_wait_60m_s=kept.mean_wait,
            calls_60m=_count_since(s.calls, now - ROLLING_S),
            no_shows_60m=_count_since(s.no_shows, now - ROLLING_S),
            issued_today=s.issued_today,
            completed_today=s.completed_today,
            no_shows_today=s.no_shows_today,
        )

    def _service_part(self, s: _Service, now: float) -> _ServicePart:
        """What a service's view takes from its queue and its learned handling time, until the service changes."""
        prof = self._service_profiles.get(s.code)
        tickets = s.waiting.values()
        by_channel: dict[str, int] = {}
        for tk in tickets:
            by_channel[tk.channel] = by_channel.get(tk.channel, 0) + 1
        oldest = min(tickets, key=lambda t: t.issued_at or now, default=None)
        times = [t.issued_at for t in tickets]
        learned = len(s.service_times) >= AHT_MIN_SAMPLES
        default = (prof.default_aht_s if prof and prof.default_aht_s else None) or self.profile.default_aht_s
        aht = sum(s.service_times) / len(s.service_times) if learned else default
        return _ServicePart(prof.name if prof else None, prof.name_en if prof else None,
                            sorted(now if t is None else t for t in times), None not in times, by_channel,
                            oldest.number if oldest else None, aht, learned)  # fmt: skip

    def _window_view(self, w: _Window) -> WindowView:
        prof = self._window_profiles.get(w.window_id)
        terminal = self._devices.get(w.window_id)
        online = terminal.online if terminal is not None and terminal.device_type is DeviceType.WINDOW else None
        status = WindowStatus.OFFLINE if online is False else w.status
        current = self._tickets.get(w.current_ticket) if w.current_ticket else None
        return WindowView(
            window_id=w.window_id,
            name=prof.name if prof else None,
            status=status,
            online=online,
            staff_id=w.staff_id,
            services=w.services,
            current_ticket=w.current_ticket,
            current_number=current.number if current else None,
            current_service=current.service if current else None,
            serving_since=self._dt(w.serving_since),
            idle_since=self._dt(w.idle_since) if status is WindowStatus.OPEN else None,
            paused_since=self._dt(w.paused_since),
            pause_reason=w.pause_reason,
            status_since=self._dt(w.status_since),
            last_call_at=self._dt(w.last_call_at),
            calling_since=self._dt(w.last_call_at) if current and current.status is TicketStatus.CALLED else None,
            staff_present=w.staff_present,
            served_today=w.served_today,
            rated_today=w.rated_today,
            rating_skipped_today=w.rating_skipped_today,
        )

    def _device_views_at(self, now: float) -> tuple[DeviceView, ...]:
        """Every device's view, rebuilding only those that sent a message since the last snapshot or whose rolling
        counts aged (a city hall has 158 devices and evaluates every few seconds; a few dozen change in between)."""
        if len(self._listed) != len(self._devices) or now < self._listed_at:
            order = sorted(self._devices)  # a new device, or an earlier moment than the last: list them all again
            self._listed_ids = {device_id: i for i, device_id in enumerate(order)}
            self._listed = [self._device_view(self._devices[device_id], now) for device_id in order]
        else:
            changed = self._spoke if now < self._listed_until else self._listed_ids
            for device_id in changed:
                self._listed[self._listed_ids[device_id]] = self._device_view(self._devices[device_id], now)
        self._spoke = set()
        self._listed_at = now
        self._listed_until = min((kept[2] for kept in self._device_views.values()), default=math.inf)
        return tuple(self._listed)

    def _device_view(self, d: _Device, now: float) -> DeviceView:
        version = self._device_versions.get(d.device_id, 0)
        kept = self._device_views.get(d.device_id)
        if kept is not None and kept[0] == version and kept[1] <= now < kept[2]:
            if kept[3] == d.last_seen:
                return kept[4]
            view = _last_seen(kept[4], self._dt(d.last_seen))  # only heartbeats since: the rest holds
            self._device_views[d.device_id] = (version, kept[1], kept[2], d.last_seen, view)
            return view
        view = self._build_device_view(d, now)
        ages = [t + 900 for t in d.errors if t >= now - 900] + [t + ROLLING_S for t, _ in d.kiosk_sessions
                                                                 if t >= now - ROLLING_S]  # fmt: skip
        self._device_views[d.device_id] = (version, now, min(ages, default=math.inf), d.last_seen, view)
        return view

    def _build_device_view(self, d: _Device, now: float) -> DeviceView:
        prof = self._device_profiles.get(d.device_id)
        problems: list[str] = []
        degraded: list[str] = []
        if d.printer in (PrinterStatus.PAPER_OUT, PrinterStatus.JAM):
            problems.append(f"printer.{d.printer}")
        elif d.printer == PrinterStatus.PAPER_LOW:
            degraded.append("printer.paper_low")
        if d.display not in (None, DisplayStatus.OK):
            problems.append(f"display.{d.display}")
        if d.display_error and f"display.{d.display_error}" not in problems:
            problems.append(f"display.{d.display_error}")
        if d.error_code:
            problems.append(f"error.{d.error_code}")
        if d.battery_pct is not None and d.battery_pct < 15:
            degraded.append("battery.low")
        if d.last_seen is None and not d.online:
            health = Health.UNKNOWN
        elif not d.online:
            health = Health.OFFLINE
        elif problems:
            health = Health.FAULT
        elif degraded:
            health = Health.DEGRADED
        else:
            health = Health.OK
        return DeviceView(
            device_id=d.device_id,
            device_type=d.device_type,
            name=prof.name if prof else None,
            location=prof.location if prof else None,
            online=d.online,
            since=self._dt(d.online_since),
            last_seen=self._dt(d.last_seen),
            health=health,
            problems=tuple(problems + degraded),
            printer=d.printer,
            paper_pct=d.paper_pct,
            display=d.display,
            errors_15m=_count_since(d.errors, now - 900),
            last_error=d.last_error,
            kiosk_sessions_60m=sum(1 for t, _ in d.kiosk_sessions if t >= now - ROLLING_S),
            kiosk_abandons_60m=sum(1 for t, o in d.kiosk_sessions if t >= now - ROLLING_S and o == "abandon"),
        )

    def _dt(self, t: float | None) -> datetime | None:
        if t is None:
            return None
        at = self._dts.get(t)  # the same moments (a window's serving-since, a device's last message) recur in
        if at is None:  # every snapshot until they change; datetimes are immutable, so they are shared
            if len(self._dts) > 50_000:
                self._dts.clear()
            at = self._dts[t] = datetime.fromtimestamp(t, self.tz)
        return at

    # -- persistence ------------------------------------------------------------------------------------

    def dump(self) -> bytes:
        """The whole state as JSON, for the gateway's state snapshot."""
        body = {
            "schema": SCHEMA_VERSION,
            "day": self._day,
            "services": [_dump_service(s) for s in self._services.values()],
            "windows": [_plain(w) for w in self._windows.values()],
            "devices": [_dump_device(d) for d in self._devices.values()],
            "zones": [_plain(z) for z in self._zones.values()],
            "tickets": [_plain(t) for t in self._tickets.values()],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def load(cls, profile: HallProfile, data: bytes) -> HallState:
        """Rebuild a state written by `dump` (the profile comes from the current configuration)."""
        body = json.loads(data)
        if body.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"state snapshot schema {body.get('schema')!r} is not {SCHEMA_VERSION}")
        state = cls(profile)
        state._day = body["day"]
        for raw in body["tickets"]:
            raw["status"] = TicketStatus(raw["status"])
            t = _Ticket(**raw)
            state._tickets[t.ticket_id] = t
        for raw in body["services"]:
            svc = state._service(raw["code"])
            svc.waiting = {k: state._tickets[k] for k in raw["waiting"] if k in state._tickets}
            svc.arrivals = deque(raw["arrivals"])
            svc.completions = deque(raw["completions"])
            svc.waits = deque((c, w) for c, w in raw["waits"])
            svc.service_times = deque(raw["service_times"], maxlen=AHT_SAMPLES)
            svc.calls = deque(raw["calls"])
            svc.no_shows = deque(raw["no_shows"])
            svc.issued_today = raw["issued_today"]
            svc.completed_today = raw["completed_today"]
            svc.no_shows_today = raw["no_shows_today"]
        for raw in body["windows"]:
            raw["status"] = WindowStatus(raw["status"])
            raw["services"] = tuple(raw["services"])
            state._windows[raw["window_id"]] = _Window(**raw)
        for raw in body["devices"]:
            raw["device_type"] = DeviceType(raw["device_type"])
            raw["errors"] = deque(raw["errors"])
            raw["kiosk_sessions"] = deque((a, o) for a, o in raw["kiosk_sessions"])
            raw["seen"] = SeqRanges.load(raw["seen"])
            state._devices[raw["device_id"]] = _Device(**raw)
        for raw in body["zones"]:
            state._zones[raw["zone_id"]] = _Zone(**raw)
        return state


def _count_since(times: deque[float], since: float) -> int:
    """How many of the (roughly ascending) times are at or after `since`; drops the older ones."""
    while times and times[0] < since - ROLLING_S:
        times.popleft()
    if not times or times[0] >= since:
        return len(times)
    return len(times) - bisect_left(times, since)


UNCOUNTED = HallTotals(0, None, 0, 0, 0, 0, 0, 0, 0, 0)  # a partial snapshot's totals: not counted


def _totals(services: tuple[ServiceView, ...], windows: tuple[WindowView, ...], devices: tuple[DeviceView, ...],
            zones: tuple[ZoneView, ...]) -> HallTotals:  # fmt: skip
    statuses = dict.fromkeys(WindowStatus, 0)
    for wv in windows:
        statuses[wv.status] += 1
    longest = [s.longest_wait_s for s in services if s.longest_wait_s is not None]
    online = faulty = 0
    for d in devices:
        online += d.online
        faulty += d.health is Health.FAULT
    return HallTotals(
        waiting=sum(s.waiting for s in services),
        longest_wait_s=max(longest) if longest else None,
        windows_open=statuses[WindowStatus.OPEN],
        windows_paused=statuses[WindowStatus.PAUSED],
        windows_closed=statuses[WindowStatus.CLOSED],
        windows_offline=statuses[WindowStatus.OFFLINE],
        devices_online=online,
        devices_offline=len(devices) - online,
        devices_faulty=faulty,
        people_counted=sum(z.count for z in zones),
    )


def _last_seen(v: DeviceView, last_seen: datetime | None) -> DeviceView:
    """The view with a new last seen (`dataclasses.replace` takes twice as long: a city hall does this 30 times a
    second in a backtest)."""
    return DeviceView(device_id=v.device_id, device_type=v.device_type, name=v.name, location=v.location,
                      online=v.online, since=v.since, last_seen=last_seen, health=v.health, problems=v.problems,
                      printer=v.printer, paper_pct=v.paper_pct, display=v.display, errors_15m=v.errors_15m,
                      last_error=v.last_error, kiosk_sessions_60m=v.kiosk_sessions_60m,
                      kiosk_abandons_60m=v.kiosk_abandons_60m)  # fmt: skip


def _plain(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def _dump_service(s: _Service) -> dict[str, object]:
    return {
        "code": s.code,
        "waiting": list(s.waiting),
        "arrivals": list(s.arrivals),
        "completions": list(s.completions),
        "waits": list(s.waits),
        "service_times": list(s.service_times),
        "calls": list(s.calls),
        "no_shows": list(s.no_shows),
        "issued_today": s.issued_today,
        "completed_today": s.completed_today,
        "no_shows_today": s.no_shows_today,
    }


def _dump_device(d: _Device) -> dict[str, object]:
    raw = _plain(d)
    raw["errors"] = list(d.errors)
    raw["kiosk_sessions"] = list(d.kiosk_sessions)
    raw["seen"] = d.seen.dump()
    return raw


def _push(times: deque[float], at: float) -> None:
    """Append a time and drop what fell out of the rolling hour (so memory stays bounded without snapshots)."""
    times.append(at)
    while times[0] < at - 2 * ROLLING_S:
        times.popleft()
