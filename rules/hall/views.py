"""Building the hall's snapshot from the fold's records, keeping each view until what it shows changes.

Owns `SnapshotBuilder`: the incremental view caches (a city hall has 158 devices and evaluates every few seconds;
a few dozen things change in between), `Changes` (what the fold changed since the last snapshot: the fold adds to
it, the builder drains it into its caches) and the snapshot (`build`, whole or partial). Reads the records, never
changes what they mean: the only writes are dropping rolling times that left the hour. No clock of its own: `now`
is passed in.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from zoneinfo import ZoneInfo

from devices.contract import DisplayStatus, PrinterStatus
from devices.topics import DeviceType
from rules.hall.profile import HallProfile
from rules.hall.records import (
    ROLLING_S,
    DeviceRecord,
    HallRecords,
    ServiceRecord,
    TicketStatus,
    WindowRecord,
)
from rules.hall.snapshot import (
    UNCOUNTED,
    DeviceView,
    HallSnapshot,
    HallTotals,
    Health,
    ServiceView,
    WindowStatus,
    WindowView,
    ZoneView,
)

AHT_MIN_SAMPLES = 5  # below this the configured default is used


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
class Changes:
    """What the fold changed since the snapshot last looked, as ids. The fold adds to these sets on the ingest path
    (a set's `add`, where a method call per change would cost more than the change); `SnapshotBuilder.build` drains
    them into its caches."""

    devices: set[str] = field(default_factory=set)  # a message other than a heartbeat, or one bringing it back
    heard: set[str] = field(default_factory=set)  # any message at all (a heartbeat changes only the last seen)
    windows: set[str] = field(default_factory=set)  # the window, or the device of its id (its terminal) came or went
    tickets: set[str] = field(default_factory=set)  # changed or forgotten: a window naming one is built again
    services: set[str] = field(default_factory=set)  # its queue, counts or handling time
    zones: set[str] = field(default_factory=set)  # a camera reported it


@dataclass(slots=True)
class _KeptDeviceView:
    """A device's view, kept while its state is unchanged (no message of its own since) and no error or kiosk
    session has aged out of its rolling counts (a heartbeat changes only its last seen, a span the gateway was deaf
    only what its silence counts from)."""

    built_at: float
    valid_until: float  # when an error or kiosk session leaves its rolling window
    last_seen: float | None
    silent_since: float | None
    view: DeviceView


_VALID_UNTIL = attrgetter("valid_until")  # in C: every snapshot asks it of every device's kept view


class SnapshotBuilder:
    """The snapshot of one hall's records, rebuilding only the views whose inputs changed since the last one (the
    fold names them in `changes`)."""

    def __init__(self, profile: HallProfile, tz: ZoneInfo, records: HallRecords) -> None:
        self._profile = profile
        self._tz = tz
        self._records = records
        self._service_profiles = {s.code: s for s in profile.services}
        self._window_profiles = {w.window_id: w for w in profile.windows}
        self._device_profiles = {d.device_id: d for d in profile.devices}
        self._zone_profiles = {z.zone_id: z for z in profile.zones}
        self._staff_profiles = {p.staff_id: p for p in profile.staff}
        self.changes = Changes()
        self._device_views: dict[str, _KeptDeviceView] = {}
        self._datetimes: dict[float, datetime] = {}
        self._device_list: list[DeviceView] = []  # the last snapshot's devices, in id order
        self._device_ids: dict[str, int] = {}
        self._device_list_until = -math.inf  # when one of them next ages (an error or kiosk session leaves its window)
        self._device_list_at = -math.inf
        # a window's view is kept until the window, its terminal or its current ticket changes (a message names it)
        self._window_list: list[WindowView] = []  # the last snapshot's windows, in id order
        self._window_ids: dict[str, int] = {}
        self._service_parts: dict[str, _ServicePart] = {}  # service code → its view's part kept until it changes
        self._zone_kept: dict[str, ZoneView] = {}  # zone → its view, until a camera reports it again
        self._zone_order: list[str] = []

    def forget_device(self, device_id: str) -> None:
        """A device retired (`HallState.retire`): its kept view goes, and the next snapshot lists the devices and the
        zones afresh (ids went, and others may come before it)."""
        self._device_views.pop(device_id, None)
        self._device_list_at = math.inf  # as for an earlier moment than the last: every device listed again
        self._zone_order = []

    # -- the snapshot -----------------------------------------------------------------------------------

    def build(self, now: datetime, parts: Collection[str] | None) -> HallSnapshot:
        """The hall as of `now`: whole (`parts` None), or only the windows and the named parts (see
        `HallState.partial`)."""
        t = now.timestamp()
        self._drop_changed()
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
            services = tuple(
                self._service_view(s, t, capable.get(s.code, 0), serving.get(s.code, 0))
                for s in self._sorted_services()
            )
        devices = self._device_views_at(t) if parts is None or "devices" in parts else ()
        zones = self._zone_views() if parts is None or "zones" in parts else ()
        p = self._profile
        totals = UNCOUNTED if parts is not None else _totals(services, windows, devices, zones)
        at = now.astimezone(self._tz)
        return HallSnapshot(p.hall_id, p.name, p.name_en, p.timezone, at, totals, services, windows, devices, zones)

    def _drop_changed(self) -> None:
        """Drop the kept device views, service parts and zone views of what changed (windows are rebuilt by
        `_window_views`, which drains its own)."""
        changes = self.changes
        if changes.devices:
            for device_id in changes.devices:
                self._device_views.pop(device_id, None)
            changes.devices = set()
        if changes.services:
            for code in changes.services:
                self._service_parts.pop(code, None)
            changes.services = set()
        if changes.zones:
            for zone_id in changes.zones:
                self._zone_kept.pop(zone_id, None)
            changes.zones = set()

    def _zone_views(self) -> tuple[ZoneView, ...]:
        """Every zone's view, rebuilding those a camera reported since the last snapshot."""
        zones = self._records.zones
        if len(self._zone_order) != len(zones):
            self._zone_order = sorted(zones)
        views = self._zone_kept
        for zone_id in self._zone_order:
            if zone_id not in views:
                z = zones[zone_id]
                at = self._local_datetime(z.updated_at)
                assert at is not None
                named = self._zone_profiles.get(zone_id)
                views[zone_id] = ZoneView(
                    z.zone_id,
                    z.camera_id,
                    z.count,
                    at,
                    name=named.name if named else None,
                    name_en=named.name_en if named else None,
                )
        return tuple(views[zone_id] for zone_id in self._zone_order)

    def _window_views(self) -> tuple[WindowView, ...]:
        """Every window's view, rebuilding only those changed since the last snapshot: the window itself (every
        change goes through `HallState._window`), its terminal (a message from it) or its current ticket (a message
        naming the ticket, or the ticket forgotten). A window's view does not depend on the time."""
        records = self._records.windows
        if len(self._window_list) != len(records):
            order = sorted(records)  # a new window: list them all again
            self._window_ids = {window_id: i for i, window_id in enumerate(order)}
            self._window_list = [self._window_view(records[window_id]) for window_id in order]
        else:
            changes = self.changes
            touched = changes.windows
            if changes.tickets:
                touched |= {w.window_id for w in records.values() if w.current_ticket in changes.tickets}
            ids = self._window_ids
            for window_id in touched:
                i = ids.get(window_id)
                if i is not None:
                    self._window_list[i] = self._window_view(records[window_id])
        self.changes.windows = set()
        self.changes.tickets = set()
        return tuple(self._window_list)

    def _sorted_services(self) -> list[ServiceRecord]:
        return sorted(self._records.services.values(), key=lambda s: s.code)

    def _service_view(self, s: ServiceRecord, now: float, capable: int, serving: int) -> ServiceView:
        kept = self._service_parts.get(s.code)
        if kept is None:
            kept = self._service_part(s, now)
            if kept.timeless:
                self._service_parts[s.code] = kept
        issued = kept.issued
        if not (kept.mean_wait_at <= now < kept.mean_wait_until):
            since = now - ROLLING_S
            recent = [wait_s for (called_at, wait_s) in s.waits if called_at >= since]
            kept.mean_wait = sum(recent) / len(recent) if recent else None
            kept.mean_wait_at = now
            kept.mean_wait_until = min(
                (called_at + ROLLING_S for called_at, _ in s.waits if called_at >= since), default=math.inf
            )
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

    def _service_part(self, s: ServiceRecord, now: float) -> _ServicePart:
        """What a service's view takes from its queue and its learned handling time, until the service changes."""
        prof = self._service_profiles.get(s.code)
        tickets = s.waiting.values()
        by_channel: dict[str, int] = {}
        for tk in tickets:
            by_channel[tk.channel] = by_channel.get(tk.channel, 0) + 1
        oldest = min(tickets, key=lambda t: t.issued_at or now, default=None)
        times = [t.issued_at for t in tickets]
        learned = len(s.service_times) >= AHT_MIN_SAMPLES
        default = (prof.default_aht_s if prof and prof.default_aht_s else None) or self._profile.default_aht_s
        aht = sum(s.service_times) / len(s.service_times) if learned else default
        return _ServicePart(
            prof.name if prof else None,
            prof.name_en if prof else None,
            sorted(now if t is None else t for t in times),
            None not in times,
            by_channel,
            oldest.number if oldest else None,
            aht,
            learned,
        )

    def _window_view(self, w: WindowRecord) -> WindowView:
        prof = self._window_profiles.get(w.window_id)
        terminal = self._records.devices.get(w.window_id)
        online = terminal.online if terminal is not None and terminal.device_type is DeviceType.WINDOW else None
        status = WindowStatus.OFFLINE if online is False else w.status
        current = self._records.tickets.get(w.current_ticket) if w.current_ticket else None
        staff = self._staff_profiles.get(w.staff_id) if w.staff_id else None
        return WindowView(
            window_id=w.window_id,
            name=prof.name if prof else None,
            name_en=prof.name_en if prof else None,
            staff_name=staff.name if staff else None,
            staff_name_en=staff.name_en if staff else None,
            status=status,
            online=online,
            staff_id=w.staff_id,
            services=w.services,
            current_ticket=w.current_ticket,
            current_number=current.number if current else None,
            current_service=current.service if current else None,
            serving_since=self._local_datetime(w.serving_since),
            idle_since=self._local_datetime(w.idle_since) if status is WindowStatus.OPEN else None,
            paused_since=self._local_datetime(w.paused_since),
            pause_reason=w.pause_reason,
            status_since=self._local_datetime(w.status_since),
            last_call_at=self._local_datetime(w.last_call_at),
            calling_since=(
                self._local_datetime(w.last_call_at) if current and current.status is TicketStatus.CALLED else None
            ),
            staff_present=w.staff_present,
            served_today=w.served_today,
            rated_today=w.rated_today,
            rating_skipped_today=w.rating_skipped_today,
            shifts=prof.shifts if prof else (),
        )

    def _device_views_at(self, now: float) -> tuple[DeviceView, ...]:
        """Every device's view, rebuilding only those that sent a message since the last snapshot or whose rolling
        counts aged (a city hall has 158 devices and evaluates every few seconds; a few dozen change in between)."""
        devices = self._records.devices
        if len(self._device_list) != len(devices) or now < self._device_list_at:
            order = sorted(devices)  # a new device, or an earlier moment than the last: list them all again
            self._device_ids = {device_id: i for i, device_id in enumerate(order)}
            self._device_list = [self._device_view(devices[device_id], now) for device_id in order]
        else:
            # every device also when the last list was made inside a span the gateway was deaf: the silences it
            # showed stopped growing at that moment, and grow again once the span is over
            aged = now >= self._device_list_until or self._device_list_at < self._records.blind.end
            changed = self._device_ids if aged else self.changes.heard
            for device_id in changed:
                self._device_list[self._device_ids[device_id]] = self._device_view(devices[device_id], now)
        self.changes.heard = set()
        self._device_list_at = now
        self._device_list_until = min(map(_VALID_UNTIL, self._device_views.values()), default=math.inf)
        return tuple(self._device_list)

    def _device_view(self, d: DeviceRecord, now: float) -> DeviceView:
        kept = self._device_views.get(d.device_id)  # dropped when the device's state changed
        silent_since = self._silent_since(d.last_seen, now)
        if kept is not None and kept.built_at <= now < kept.valid_until:
            if kept.last_seen == d.last_seen and kept.silent_since == silent_since:
                return kept.view
            # only heartbeats (or the gateway's deafness) since: the rest holds
            kept.view = _with_last_seen(
                kept.view, self._local_datetime(d.last_seen), self._local_datetime(silent_since)
            )
            kept.last_seen, kept.silent_since = d.last_seen, silent_since
            return kept.view
        view = self._build_device_view(d, now, silent_since)
        ages = [t + 900 for t in d.errors if t >= now - 900] + [
            t + ROLLING_S for t, _ in d.kiosk_sessions if t >= now - ROLLING_S
        ]
        valid_until = min(ages, default=math.inf)
        self._device_views[d.device_id] = _KeptDeviceView(now, valid_until, d.last_seen, silent_since, view)
        return view

    def _silent_since(self, last_seen: float | None, now: float) -> float | None:
        """What a device's silence counts from: its last seen, moved on by the time since then (up to `now`) that
        the gateway was not listening. A device silent before the gateway went deaf stays as silent as it was;
        one heard just before is given its whole heartbeat timeout once the gateway listens again."""
        blind = self._records.blind
        if last_seen is None or last_seen >= blind.end:  # nearly always: heard since the gateway last listened
            return last_seen
        return last_seen + blind.missed(last_seen, now)

    def _build_device_view(self, d: DeviceRecord, now: float, silent_since: float | None) -> DeviceView:
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
            location=prof.location if prof and prof.location else d.location,
            reported_location=d.location,
            firmware=d.firmware,
            online=d.online,
            since=self._local_datetime(d.online_since),
            last_seen=self._local_datetime(d.last_seen),
            silent_since=self._local_datetime(silent_since),
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

    def _local_datetime(self, t: float | None) -> datetime | None:
        """`t` as a datetime in the hall's time zone, shared between snapshots."""
        if t is None:
            return None
        at = self._datetimes.get(t)  # the same moments (a window's serving-since, a device's last message) recur in
        if at is None:  # every snapshot until they change; datetimes are immutable, so they are shared
            if len(self._datetimes) > 50_000:
                self._datetimes.clear()
            at = self._datetimes[t] = datetime.fromtimestamp(t, self._tz)
        return at


def _count_since(times: deque[float], since: float) -> int:
    """How many of the (roughly ascending) times are at or after `since`; drops the older ones."""
    while times and times[0] < since - ROLLING_S:
        times.popleft()
    if not times or times[0] >= since:
        return len(times)
    return len(times) - bisect_left(times, since)


def _totals(
    services: tuple[ServiceView, ...],
    windows: tuple[WindowView, ...],
    devices: tuple[DeviceView, ...],
    zones: tuple[ZoneView, ...],
) -> HallTotals:
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


def _with_last_seen(v: DeviceView, last_seen: datetime | None, silent_since: datetime | None) -> DeviceView:
    """The view with a new last seen and silence (`dataclasses.replace` takes twice as long: a city hall does this 30
    times a second in a backtest)."""
    return DeviceView(
        device_id=v.device_id,
        device_type=v.device_type,
        name=v.name,
        location=v.location,
        reported_location=v.reported_location,
        firmware=v.firmware,
        online=v.online,
        since=v.since,
        last_seen=last_seen,
        silent_since=silent_since,
        health=v.health,
        problems=v.problems,
        printer=v.printer,
        paper_pct=v.paper_pct,
        display=v.display,
        errors_15m=v.errors_15m,
        last_error=v.last_error,
        kiosk_sessions_60m=v.kiosk_sessions_60m,
        kiosk_abandons_60m=v.kiosk_abandons_60m,
    )
