"""The fold of the hall model: each accepted contract message applied to the hall's records, in arrival order.

Owns `HallState` — `admit` (what a message may name: `rules.hall.admission`), `apply`/`heartbeat` (duplicates
recognised, the day rolled over, old tickets forgotten) and the records' changes — and `Applied`. The snapshot is
built by the `SnapshotBuilder` it owns, whose `Changes` it tells what changed; saving and restoring is
`rules.hall.persist`. Pure: no I/O and no clock of its own (every time comes from a message, or from the `now`
passed to `snapshot`).

Two clocks come with each message. Its `ts` (the device's clock) says when things happened: a ticket's issue, a
call, a handling time. Its `received_at` (the box's clock when it came; hall time in device-clock mode) says what
the hall knows when: a device's liveness (last seen), the hall's day (when waiting tickets expire and the daily
counters restart), when finished tickets are forgotten. A device clock hours off must not end the hall's day early
nor keep a dead device alive; a message dated before the hall's current day is history: it joins no queue and no
daily count.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection
from datetime import date, datetime, time, timedelta
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
from rules.hall import persist
from rules.hall.admission import Admission
from rules.hall.profile import HallProfile
from rules.hall.records import (
    ROLLING_S,
    DeviceRecord,
    HallRecords,
    ServiceRecord,
    TicketRecord,
    TicketStatus,
    WindowRecord,
    ZoneRecord,
)
from rules.hall.snapshot import HallSnapshot, WindowStatus
from rules.hall.views import SnapshotBuilder

TERMINAL_TICKET_KEEP_S = 4 * 3600.0

_TERMINAL = frozenset({TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.CANCELLED, TicketStatus.EXPIRED})


class Applied(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


class HallState:
    """The hall as the messages describe it. `apply` each accepted message in arrival order; `snapshot(now)`."""

    def __init__(self, profile: HallProfile) -> None:
        self.profile = profile
        self.tz = ZoneInfo(profile.timezone)
        self._records = HallRecords()
        self._admission = Admission(profile)
        self._day_starts = -math.inf  # when the hall's local day (`records.day`, by the box's clock) began …
        self._day_ends = -math.inf  # … and when it ends
        self._applied = 0
        self._views = SnapshotBuilder(profile, self.tz, self._records)
        self._changed = self._views.changes  # every change of a record is named here, for the views to rebuild
        for s in profile.services:
            self._service(s.code)
        for w in profile.windows:
            self._window(w.window_id).services = w.services
        for d in profile.devices:
            self._device(d.device_id, d.device_type)

    # -- input ------------------------------------------------------------------------------------------

    def admit(self, msg: DeviceMessage) -> None:
        """Raise PayloadError (`unknown_window`, `unknown_service`, `unknown_device`, `entity_cap`) if `msg` names a
        window, service, zone or device this hall does not take in (`rules.hall.admission`); changes nothing. The
        gateway asks before `apply`, so a message is applied whole or not at all. A replay of the event log does not
        ask: the log holds only messages admitted when they came."""
        self._admission.check(msg, self._records)

    def apply(self, msg: DeviceMessage) -> Applied:
        """Fold one accepted (and admitted) message into the hall. Returns DUPLICATE (and changes nothing) for a
        redelivery."""
        if msg.channel is Channel.HB:
            return self.heartbeat(
                msg.device_id, msg.device_type, msg.seq, msg.at.timestamp(), msg.received_at.timestamp()
            )
        at = msg.at.timestamp()
        heard = msg.received_at.timestamp()
        device = self._device(msg.device_id, msg.device_type)
        if msg.seq is not None and not device.seen.add(msg.seq, at):
            return Applied.DUPLICATE
        changed = self._changed
        changed.devices.add(msg.device_id)
        changed.heard.add(msg.device_id)
        online = device.online
        self._roll_day(heard)
        p = msg.payload
        if msg.channel is Channel.STATE:
            assert isinstance(p, DeviceState)
            self._apply_state(device, p, heard)
        else:
            self._seen(device, heard)
            if msg.channel is Channel.EVT:
                ticket_id = p.named_ticket
                if ticket_id is not None:
                    changed.tickets.add(ticket_id)
                    ticket = self._records.tickets.get(ticket_id)
                    if ticket is not None and ticket.service is not None:  # its queue, if it waits in one
                        changed.services.add(ticket.service)
                self._apply_event(msg, device, at)
        if device.online is not online:
            changed.windows.add(msg.device_id)  # a window's terminal went offline or came back
        self._counted(heard)
        return Applied.APPLIED

    def heartbeat(
        self, device_id: str, device_type: DeviceType, seq: int | None, at: float, received_at: float | None = None
    ) -> Applied:
        """A heartbeat (`hb`) sent at `at` (its `ts`) and heard at `received_at` (the box's clock; `at` if not
        given): the device is alive then, nothing more — what `apply` does with one, without the message (a backtest
        replays a logged heartbeat from its row: seven in ten of a hall's messages)."""
        heard = at if received_at is None else received_at
        device = self._device(device_id, device_type)
        if seq is not None and not device.seen.add(seq, at):
            return Applied.DUPLICATE
        changed = self._changed
        changed.heard.add(device_id)  # its view: a new last seen; anything else only if it was offline
        self._roll_day(heard)
        if not device.online:
            changed.devices.add(device_id)
            changed.windows.add(device_id)
        self._seen(device, heard)
        self._counted(heard)
        return Applied.APPLIED

    def _counted(self, heard: float) -> None:
        self._applied += 1
        if self._applied % 2000 == 0:
            self._forget_old_tickets(heard)

    def _today(self, at: float) -> bool:
        """Whether something that happened at `at` (device time) belongs to the hall's current day, not to one the
        box has already closed: only then does it join a queue or a daily count."""
        return at >= self._day_starts

    def _apply_event(self, msg: DeviceMessage, device: DeviceRecord, at: float) -> None:  # noqa: C901, PLR0912, PLR0915
        # one `match` over the contract's event types, each case a few lines: the fold reads as the contract's table
        p = msg.payload
        window_id = p.named_window or msg.device_id
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
                if t is not None and t.service is not None and self._today(at):
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
                w = self._window(p.window_id)
                if self._today(at):
                    w.rated_today += 1
            case RatingSkipped():
                w = self._window(p.window_id)
                if self._today(at):
                    w.rating_skipped_today += 1
            case Occupancy():
                for zone_id, count in p.zones.items():
                    self._records.zones[zone_id] = ZoneRecord(zone_id, msg.device_id, count, at)
                    self._changed.zones.add(zone_id)
                for wid, present in p.staff_present.items():
                    seat = self._records.windows.get(wid)  # a camera reports every seat every few seconds; few change
                    if seat is None or seat.staff_present is not present:
                        seat = self._window(wid)
                        seat.staff_present = present
                    seat.staff_seen_at = at
            case _:
                pass

    def _apply_state(self, device: DeviceRecord, p: DeviceState, heard: float) -> None:
        if p.online != device.online or device.online_since is None:
            device.online_since = heard
        device.online = p.online
        if not p.online:
            return  # a last will is the broker speaking, not the device: last seen and health stay as they were
        device.last_seen = heard
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
        today = self._today(at)
        if today:  # (an arrival of a closed day is in no rolling hour of this one)
            _push(svc.arrivals, at)
            svc.issued_today += 1
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, service, number, channel, at)
            if today:
                svc.waiting[ticket_id] = t
            else:  # issued on a day the hall has closed (a queue replayed after an outage): it waits no more
                t.status, t.ended_at = TicketStatus.EXPIRED, at
            return
        # the call, transfer or cancellation arrived first: complete the record, do not queue it again (and a
        # transfer's queue is newer news than the issue's)
        t.service = t.service or service
        t.number, t.channel, t.issued_at = number, channel, at
        if t.called_at is not None and t.attempts >= 1:
            svc.waits.append((t.called_at, max(0.0, t.called_at - at)))

    def _reactivate(self, ticket_id: str, service: str | None, at: float) -> None:
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, service, issued_at=at)
        code = service or t.service
        if code is None or not self._today(at):
            return
        t.service = code
        t.status = TicketStatus.WAITING
        t.channel = TicketChannel.GREEN_CHANNEL.value
        t.window_id = None
        t.ended_at = None
        self._service(code).waiting[ticket_id] = t

    def _call(self, w: WindowRecord, ticket_id: str, attempt: int, at: float) -> None:
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:  # called before we saw it issued
            t = tickets[ticket_id] = TicketRecord(ticket_id, None, status=TicketStatus.CALLED)
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

    def _start(self, w: WindowRecord, ticket_id: str, at: float) -> None:
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, None)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.status = TicketStatus.SERVING
        t.started_at = at
        t.window_id = w.window_id
        w.current_ticket = ticket_id
        w.serving_since = at
        w.idle_since = None

    def _complete(self, w: WindowRecord, ticket_id: str, duration_s: float | None, at: float) -> None:
        t = self._records.tickets.get(ticket_id)
        service = t.service if t is not None else None
        if duration_s is None and t is not None and t.started_at is not None:
            duration_s = max(0.0, at - t.started_at)
        self._end_ticket(ticket_id, TicketStatus.DONE, at)
        today = self._today(at)
        if service is not None:
            svc = self._service(service)
            if today:
                _push(svc.completions, at)
                svc.completed_today += 1
            if duration_s is not None:
                svc.service_times.append(duration_s)
        if today:
            w.served_today += 1
        self._free_window(w, ticket_id, at)

    def _transfer(self, ticket_id: str, to_service: str, at: float) -> None:
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, to_service, issued_at=at)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.service = to_service
        t.window_id = None
        if self._today(at):
            t.status = TicketStatus.WAITING
            self._service(to_service).waiting[ticket_id] = t
        else:
            t.status, t.ended_at = TicketStatus.EXPIRED, at

    def _end_ticket(self, ticket_id: str, status: TicketStatus, at: float) -> TicketRecord | None:
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, None)
        if t.service is not None:
            self._service(t.service).waiting.pop(ticket_id, None)
        t.status = status
        t.ended_at = at
        return t

    def _free_window(self, w: WindowRecord, ticket_id: str, at: float) -> None:
        if w.current_ticket == ticket_id:
            w.current_ticket = None
            w.serving_since = None
            if w.status is WindowStatus.OPEN:
                w.idle_since = at

    # -- housekeeping -----------------------------------------------------------------------------------

    def _roll_day(self, heard: float) -> None:
        """The box's local day changed since the last message (`heard`: when this one came): the tickets still
        waiting are expired and the daily counters restart. Asked for every message, so the day's bounds are kept.
        The box's day, not a device's: a device clock two hours ahead would otherwise end the day at 22:00. (A box
        clock set back across midnight starts the day again: the box's day is the hall's.)"""
        if self._day_starts <= heard < self._day_ends:
            return
        records = self._records
        day = datetime.fromtimestamp(heard, self.tz).date()
        self._enter_day(day)
        if records.day is None or day.isoformat() == records.day:
            records.day = day.isoformat()
            return
        records.day = day.isoformat()
        for svc in records.services.values():
            svc.waiting.clear()
            svc.issued_today = svc.completed_today = svc.no_shows_today = 0
        # every ticket still open ends with its day — waiting, and also called or served but never finished (a
        # window closed on it): expired, it is forgotten with the others, where an open one would be kept for good
        for t in records.tickets.values():
            if t.status not in _TERMINAL:
                t.status = TicketStatus.EXPIRED
                t.ended_at = heard
        for w in records.windows.values():
            w.served_today = w.rated_today = w.rating_skipped_today = 0
        self._changed.windows.update(records.windows)
        self._changed.services.update(records.services)

    def _enter_day(self, day: date) -> None:
        self._day_starts = datetime.combine(day, time(), self.tz).timestamp()
        self._day_ends = datetime.combine(day + timedelta(days=1), time(), self.tz).timestamp()

    def _forget_old_tickets(self, heard: float) -> None:
        horizon = heard - TERMINAL_TICKET_KEEP_S
        tickets = self._records.tickets
        stale = [k for k, t in tickets.items() if t.status in _TERMINAL and (t.ended_at or 0) < horizon]
        for k in stale:
            del tickets[k]
        self._changed.tickets.update(stale)  # a window still naming one shows no number for it now

    def _set_status(self, w: WindowRecord, status: WindowStatus, at: float) -> None:
        if w.status is not status:
            w.status = status
            w.status_since = at

    def _seen(self, device: DeviceRecord, heard: float) -> None:
        if not device.online:
            device.online = True
            device.online_since = heard
        # the box's clock, in the order it heard: the newest is the truth even if that clock was set back (a device's
        # own date, or a box clock that ran ahead once, must not keep it "last seen" in the future)
        device.last_seen = heard

    def _service(self, code: str) -> ServiceRecord:
        """The service, to change it (every change goes through here: its view's kept part is dropped)."""
        self._changed.services.add(code)
        services = self._records.services
        svc = services.get(code)
        if svc is None:
            svc = services[code] = ServiceRecord(code)
        return svc

    def _window(self, window_id: str) -> WindowRecord:
        """The window, to change it (every change of a window goes through here: its view is built again)."""
        self._changed.windows.add(window_id)
        windows = self._records.windows
        w = windows.get(window_id)
        if w is None:
            w = windows[window_id] = WindowRecord(window_id)
        return w

    def heard_of(self, device_id: str) -> bool:
        """Whether the device has been heard at all (configured devices are known before they speak)."""
        d = self._records.devices.get(device_id)
        return d is not None and d.last_seen is not None

    def _device(self, device_id: str, device_type: DeviceType) -> DeviceRecord:
        devices = self._records.devices
        d = devices.get(device_id)
        if d is None:
            d = devices[device_id] = DeviceRecord(device_id, device_type)
            self._changed.windows.add(device_id)  # a window's own terminal, first heard of
        return d

    # -- output -----------------------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> HallSnapshot:
        """The whole hall as of `now` (times in the hall's time zone)."""
        return self._views.build(now, None)

    def partial(self, now: datetime, parts: Collection[str]) -> HallSnapshot:
        """Only some of the hall as of `now`: the windows, and of "services", "devices", "zones" those named; the
        others empty and the totals zero. For a backtest evaluating a few rules at their deadline, which read
        nothing else (RuleEngine.needs); anything else wants `snapshot`."""
        return self._views.build(now, parts)

    # -- persistence ------------------------------------------------------------------------------------

    def dump(self) -> bytes:
        """The whole state as JSON, for the gateway's state snapshot."""
        return persist.dump(self._records)

    @classmethod
    def load(cls, profile: HallProfile, data: bytes) -> HallState:
        """Rebuild a state written by `dump` (the profile comes from the current configuration, and what it does not
        admit — a window it no longer lists, a zone past its cap — is dropped)."""
        state = cls(profile)
        records = state._records
        persist.load_into(records, data)
        state._admission.prune(records)
        if records.day is not None:
            state._enter_day(date.fromisoformat(records.day))
        return state

    # -- the gateway's own deafness ---------------------------------------------------------------------

    def blind(self, start: float, end: float) -> None:
        """The gateway was not listening in [start, end) (UNIX seconds, hall time): its process was down (from the
        newest time it logged to its start), its broker connection was lost (to the re-subscription) or its storage
        paused. A device's silence does not count that span (`DeviceView.silent_since`, `device.silent_s`): one
        silent before it stays as silent, one heard just before it gets its whole heartbeat timeout after it. Told
        again with a later end during a long outage, the spans merge; an empty span changes nothing. Kept (and saved)
        while they can still matter: not before the oldest device's last message, nor a day before the newest span's
        end."""
        spans = self._records.blind
        if not spans.add(start, end):
            return
        heard = [d.last_seen for d in self._records.devices.values() if d.last_seen is not None]
        spans.forget_before(min(heard, default=spans.end))
        self._changed.heard.update(self._records.devices)  # what every device's silence counts from may have moved


def _push(times: deque[float], at: float) -> None:
    """Append a time and drop what fell out of the rolling hour (so memory stays bounded without snapshots)."""
    times.append(at)
    while times[0] < at - 2 * ROLLING_S:
        times.popleft()
