"""The hall as a manager and the rules see it at one moment: the snapshot and its views (the model's output).

Owns the frozen view types (`ServiceView`, `WindowView`, `DeviceView`, `ZoneView`, `HallTotals`, `HallSnapshot`),
the statuses they show (`WindowStatus`, `Health`) and `UNCOUNTED`. Plain values: building them is
`rules.hall.views`; nothing here may compute, cache or know the fold's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from devices.topics import DeviceType


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
    name_en: str | None = None  # the configured English name
    staff_name: str | None = None  # the roster's name of `staff_id` (staff views; never the wall)
    staff_name_en: str | None = None
    shifts: tuple[tuple[time, time], ...] = ()  # its configured staffed periods (hall time): window.shift_missed_min


@dataclass(frozen=True, slots=True)
class DeviceView:
    device_id: str
    device_type: DeviceType
    name: str | None
    location: str | None  # the configured one; else as the device reports it
    reported_location: str | None  # as the device's last online state reported it (its `location`)
    firmware: str | None
    online: bool
    since: datetime | None
    last_seen: datetime | None  # when it was last heard: what people read
    # what its silence counts from: `last_seen` moved on by the time since then that the gateway itself was not
    # listening (a heartbeat the gateway could not hear is not one the device missed). For the rules
    # (`device.silent_s`), not shown by the API, whose answer stays what it was
    silent_since: Annotated[datetime | None, Field(exclude=True)]
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
    name: str | None = None  # the configured display names
    name_en: str | None = None


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
class GatewayView:
    """What the gateway knows about itself that a rule may alert on (edge/gateway.py fills it in; a backtest and
    the hall model alone leave it empty)."""

    storage_error: str | None = None  # while the database refuses writes: the cause (ingest is paused)
    session_lost_at: datetime | None = None  # when the broker last came back without our session
    disk_budget_pct: float | None = None  # the data directory's share of its disk budget (%), once measured


NO_GATEWAY = GatewayView()


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
    # for the rules (hall.storage_error, hall.broker_session_lost_min); /api/health tells people
    gateway: Annotated[GatewayView, Field(exclude=True)] = NO_GATEWAY


UNCOUNTED = HallTotals(0, None, 0, 0, 0, 0, 0, 0, 0, 0)  # a partial snapshot's totals: not counted
