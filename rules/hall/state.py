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

A ticket keeps its events and is where they say, read in the order they happened (`rules.hall.course`): an event
heard late — an issue after the call, another window's call after the first window moved on — ends in the queues,
windows and counts that in-order delivery gives. One ticket is at one window: the newest call or start places it.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import Counter, deque
from collections.abc import Collection
from contextlib import suppress
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage
from devices.contract import (
    AppointmentBooked,
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
    Retirement,
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
from rules.hall.course import Course, Step, TicketEvent, Visit, add, course, leaving, saved_events
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
from rules.hall.scope import note_owner
from rules.hall.snapshot import HallSnapshot, WindowStatus
from rules.hall.views import SnapshotBuilder

TERMINAL_TICKET_KEEP_S = 4 * 3600.0

_ENDS = {TicketStatus.DONE: Step.COMPLETED, TicketStatus.NO_SHOW: Step.NO_SHOW, TicketStatus.CANCELLED: Step.CANCELLED}
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
        window, service, zone or device this hall does not take in (`rules.hall.admission`), or `out_of_scope` if it
        changes what is not its device's (`rules.hall.scope`); changes nothing. The gateway asks before `apply`, so a
        message is applied whole or not at all. A replay of the event log does not ask: the log holds only messages
        admitted when they came."""
        self._admission.check(msg, self._records)

    def apply(self, msg: DeviceMessage) -> Applied:
        """Fold one accepted (and admitted) message into the hall. Returns DUPLICATE (and changes nothing) for a
        redelivery."""
        if msg.channel is Channel.HB:
            return self.heartbeat(
                msg.device_id,
                msg.device_type,
                msg.seq,
                msg.at.timestamp(),
                msg.received_at.timestamp(),
                boot=getattr(msg.payload, "boot", None),
            )
        if msg.channel is Channel.STATE and isinstance(msg.payload, Retirement):
            self.retire(msg.device_id)
            return Applied.APPLIED
        at = msg.at.timestamp()
        heard = msg.received_at.timestamp()
        device = self._device(msg.device_id, msg.device_type)
        if msg.seq is not None and not device.seen.add(msg.seq, at, getattr(msg.payload, "boot", None)):
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
                note_owner(msg, self._records)  # whose the ticket, the window's rating pad, the seat (scope)
        if device.online is not online:
            changed.windows.add(msg.device_id)  # a window's terminal went offline or came back
        self._counted(heard)
        return Applied.APPLIED

    def heartbeat(
        self,
        device_id: str,
        device_type: DeviceType,
        seq: int | None,
        at: float,
        received_at: float | None = None,
        *,
        boot: str | None = None,
    ) -> Applied:
        """A heartbeat (`hb`) sent at `at` (its `ts`) and heard at `received_at` (the box's clock; `at` if not
        given): the device is alive then, nothing more — what `apply` does with one, without the message (a backtest
        replays a logged heartbeat from its row: seven in ten of a hall's messages). `boot` is its counter epoch
        (`rules.hall.dedup`); without it, the epoch its `at` falls in."""
        heard = at if received_at is None else received_at
        device = self._device(device_id, device_type)
        if seq is not None and not device.seen.add(seq, at, boot):
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

    def retire(self, device_id: str) -> bool:
        """The device is retired: its retained state was cleared (`devices.contract.Retirement`). What the hall
        learned of it goes — its record (health, last seen, the seqs it sent), the zones it counted, its hold on a
        window as rating pad or seat camera (`rules.hall.scope`), so that a replacement may take them over; the
        windows, services and tickets it named stay, they are the hall's. A device the configuration lists stays as
        the configuration describes it, never heard (health `unknown`), until the configuration drops it. False if
        the hall knows no such device (nothing changes)."""
        records = self._records
        if records.devices.pop(device_id, None) is None:
            return False
        configured = next((d for d in self.profile.devices if d.device_id == device_id), None)
        if configured is not None:
            records.devices[device_id] = DeviceRecord(device_id, configured.device_type)
        counted = [zone_id for zone_id, z in records.zones.items() if z.camera_id == device_id]
        for zone_id in counted:
            del records.zones[zone_id]
        for w in records.windows.values():
            if w.rating_pad == device_id:
                w.rating_pad = None
            if w.seat_camera == device_id:
                w.seat_camera = None
        self._changed.zones.update(counted)
        self._changed.windows.add(device_id)  # a window's terminal: the window shows no terminal now
        self._views.forget_device(device_id)
        return True

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
                self._issue(p.ticket_id, p.service, p.number, p.channel.value, at, msg.device_id)
            case AppointmentCheckedIn() | AppointmentBooked():
                self._service(p.service)  # a service named is a service kept: the admission's cap counts it
            case TicketCancelled():
                self._end_ticket(p.ticket_id, Step.CANCELLED, None, at, msg.device_id)
            case TicketReactivated():
                self._reactivate(p.ticket_id, p.service, at, msg.device_id)
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
                self._call(self._window(window_id), p.ticket_id, p.attempt, at, msg.device_id)
            case ServiceStarted():
                self._start(self._window(window_id), p.ticket_id, at, msg.device_id)
            case ServiceCompleted():
                self._complete(self._window(window_id), p.ticket_id, p.duration_s, at, msg.device_id)
            case TicketNoShow():
                self._end_ticket(p.ticket_id, Step.NO_SHOW, self._window(window_id), at, msg.device_id)
            case TicketTransferred():
                self._transfer(self._window(window_id), p.ticket_id, p.to_service, at, msg.device_id)
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
        device.firmware, device.location = p.firmware, p.location
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
    # Each ticket keeps its events (`rules.hall.course`); every event settles the difference between what they said
    # before and what they say now — its queue, its window, the counts — so an event heard late (a ticket machine
    # replaying its queue after a reconnect) lands where it would have in order.

    def _issue(self, ticket_id: str, service: str, number: str, channel: str, at: float, by: str) -> None:
        self._service(service)
        t = self._move(ticket_id, TicketEvent(at, Step.ISSUED, by, 0, None, service, channel))
        t.number = t.number or number

    def _reactivate(self, ticket_id: str, service: str | None, at: float, by: str) -> None:
        if service is not None:
            self._service(service)
        self._move(ticket_id, TicketEvent(at, Step.REACTIVATED, by, 0, None, service))

    def _call(self, w: WindowRecord, ticket_id: str, attempt: int, at: float, by: str) -> None:
        w.last_call_at = at
        self._move(ticket_id, TicketEvent(at, Step.CALLED, by, 0, w.window_id, None, attempt))

    def _start(self, w: WindowRecord, ticket_id: str, at: float, by: str) -> None:
        self._move(ticket_id, TicketEvent(at, Step.STARTED, by, 0, w.window_id))

    def _complete(self, w: WindowRecord, ticket_id: str, duration_s: float | None, at: float, by: str) -> None:
        self._move(ticket_id, TicketEvent(at, Step.COMPLETED, by, 0, w.window_id, None, duration_s))

    def _transfer(self, w: WindowRecord, ticket_id: str, to_service: str, at: float, by: str) -> None:
        self._service(to_service)
        self._move(ticket_id, TicketEvent(at, Step.TRANSFERRED, by, 0, w.window_id, to_service))

    def _end_ticket(self, ticket_id: str, step: Step, w: WindowRecord | None, at: float, by: str) -> None:
        """A no-show at window `w`, or a cancellation (no window)."""
        self._move(ticket_id, TicketEvent(at, step, by, 0, None if w is None else w.window_id))

    def _move(self, ticket_id: str, event: TicketEvent) -> TicketRecord:
        """Add one of the ticket's events; settle its queue, its window and the counts."""
        tickets = self._records.tickets
        t = tickets.get(ticket_id)
        if t is None:
            t = tickets[ticket_id] = TicketRecord(ticket_id, None)
        elif not t.events:
            t.events = _saved_events(t)  # a record saved by an earlier release, before tickets kept their events
        before = course(t.events)
        event = add(t.events, event)
        after = course(t.events)
        gone, new = Counter(_facts(before)), Counter(_facts(after))
        for fact in (gone - new).elements():
            self._count(fact, -1)
        for fact in (new - gone).elements():
            self._count(fact, 1)
        self._place(t, after, event)
        return t

    def _place(self, t: TicketRecord, c: Course, event: TicketEvent) -> None:
        """Put the ticket where its course says: its queue, or the window it is at (releasing the one it left)."""
        queue = t.service if t.status is TicketStatus.WAITING else None
        window = t.window_id
        status = c.status
        if c.is_open and (c.since is None or not self._today(c.since)):
            status = TicketStatus.EXPIRED  # it took that place on a day the hall has closed: it waits no more
        t.status = status
        t.service = c.service
        t.issued_at = c.issue.at if c.issue is not None else c.since if status is TicketStatus.WAITING else None
        if c.green:
            t.channel = TicketChannel.GREEN_CHANNEL.value
        elif c.issue is not None and isinstance(c.issue.value, str):
            t.channel = c.issue.value
        t.called_at, t.started_at, t.attempts = c.called_at, c.started_at, c.attempts
        t.ended_at = c.ended_at if status is not TicketStatus.EXPIRED else c.ended_at or c.since
        t.window_id = c.window if status is not TicketStatus.EXPIRED else None
        now_queue = t.service if status is TicketStatus.WAITING else None
        if queue is not None and queue != now_queue:
            self._service(queue).waiting.pop(t.ticket_id, None)
        if now_queue is not None:
            self._service(now_queue).waiting[t.ticket_id] = t
        left_at = event.at if c.since is None else max(event.at, c.since)
        if window is not None and window != t.window_id:
            self._free_window(self._window(window), t.ticket_id, left_at)  # one ticket at one window
        placed = event.step in (Step.CALLED, Step.STARTED) and event.window == t.window_id
        if t.window_id is not None and (placed or t.window_id != window):
            # (only then: a window that has called its next since keeps showing that one)
            w = self._window(t.window_id)
            w.current_ticket = t.ticket_id
            w.serving_since = t.started_at if status is TicketStatus.SERVING else None
            w.idle_since = None
        if event.step in (Step.CALLED, Step.STARTED) and event.window != t.window_id:
            # a window calling a ticket that has moved on since (heard late): it is done with its last one, and idle
            # since the ticket left it
            w = self._window(str(event.window))
            w.current_ticket = w.serving_since = None
            if w.status is WindowStatus.OPEN:
                w.idle_since = leaving(t.events, event.window, event.at, event.n) or left_at

    def _count(self, fact: Fact, sign: int) -> None:
        """Count one fact of a ticket's course (`_facts`) in, or (`sign` -1) out again."""
        match fact:
            case ("issued", str(code), float(at)):
                svc = self._service(code)
                if self._today(at):
                    svc.issued_today += sign
                    _tally(svc.arrivals, at, sign)
            case ("called", str(code), float(at), float(wait)):
                svc = self._service(code)
                _tally(svc.calls, at, sign)
                _tally(svc.waits, (at, wait), sign)
            case ("completed", Visit() as v, duration):
                today = self._today(v.at)
                if v.service is not None:
                    svc = self._service(v.service)
                    if today:
                        svc.completed_today += sign
                        _tally(svc.completions, v.at, sign)
                    if duration is not None:
                        _tally(svc.service_times, duration, sign)
                if v.window is not None and today:
                    self._window(v.window).served_today += sign
            case ("no_show", Visit() as v):
                if v.service is not None and self._today(v.at):
                    svc = self._service(v.service)
                    svc.no_shows_today += sign
                    _tally(svc.no_shows, v.at, sign)

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


Fact: TypeAlias = tuple[object, ...]


def _facts(c: Course) -> list[Fact]:
    """What a ticket's course counts in the hall's figures: its issue (issued today, arrivals), its first call (calls,
    and its wait — once both times are known — for the queue it was called from), its first completion (completed and
    served today, completions, handling times) and its first no-show."""
    facts: list[Fact] = []
    issue, call = c.issue, c.call
    if issue is not None and issue.service is not None:
        facts.append(("issued", issue.service, issue.at))
        if call is not None and call.service is not None:
            facts.append(("called", call.service, call.at, max(0.0, call.at - issue.at)))
    if c.completed is not None:
        facts.append(("completed", c.completed, c.duration_s))
    if c.no_show is not None:
        facts.append(("no_show", c.no_show))
    return facts


def _tally(kept: deque[Any], value: Any, sign: int) -> None:
    """Add a time (or a wait, by its time) to a rolling record, kept in time order (the views count from the newest
    end), or a handling time to the last few; or take it out again."""
    if sign > 0:
        if kept.maxlen is not None:  # the last few handling times, as heard
            kept.append(value)
            return
        if not kept or value >= kept[-1]:
            kept.append(value)
        else:  # heard late
            insort(kept, value)
        at = value[0] if isinstance(value, tuple) else value
        while (kept[0][0] if isinstance(kept[0], tuple) else kept[0]) < at - 2 * ROLLING_S:
            kept.popleft()  # out of the rolling hour
    else:
        with suppress(ValueError):  # already out of the rolling hour
            kept.remove(value)


def _saved_events(t: TicketRecord) -> list[TicketEvent]:
    """The events a ticket record saved by an earlier release stands for, as far as its fields tell (what their
    course counts, that release counted: `rules.hall.course.saved_events`)."""
    known = [x for x in (t.issued_at, t.called_at, t.started_at, t.ended_at) if x is not None]
    last = max(known, default=0.0)
    steps: list[tuple[float, Step, str | None, str | None, float | str | None]] = []
    if t.number is not None and t.issued_at is not None:
        steps.append((t.issued_at, Step.ISSUED, None, t.service, t.channel))
    if t.called_at is not None:
        steps.append((t.called_at, Step.CALLED, t.window_id, None, t.attempts or 1))
    if t.started_at is not None:
        steps.append((t.started_at, Step.STARTED, t.window_id, None, None))
    end = _ENDS.get(t.status)
    if end is not None:
        steps.append((t.ended_at or last, end, t.window_id, None, None))
    elif t.status is TicketStatus.WAITING and (t.called_at is not None or t.started_at is not None):
        steps.append((last, Step.TRANSFERRED, None, t.service, None))  # waiting again after a call
    return saved_events(steps)
