"""The fold's own records of the hall: tickets, services, windows, devices and zones as the messages left them (and
when the gateway could not hear them).

Owns the mutable record types, `HallRecords` (the one copy of them that `HallState` writes, and that
`SnapshotBuilder` and `persist` only read or fill), `TicketStatus` (the status of a ticket record; no view shows
it) and the rolling horizon the records keep. Internal to `rules.hall`: no view, no I/O, no logic beyond the
records' shapes. Times inside are float seconds since the epoch (UTC): cheap to compare and to store as JSON.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

from devices.contract import TicketChannel
from devices.topics import DeviceType
from rules.hall.blind import BlindSpans
from rules.hall.dedup import SeqRanges
from rules.hall.snapshot import WindowStatus

if TYPE_CHECKING:  # (rules.hall.course reads TicketStatus from here)
    from rules.hall.course import TicketEvent

ROLLING_S = 3600.0  # arrivals/completions/waits are kept for the last hour
AHT_SAMPLES = 30  # mean service time over the last 30 completions


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # still waiting when the hall's day ended


# Plain pairs rather than dataclasses or NamedTuples: a snapshot iterates them by the hundred, and CPython unpacks
# an exact tuple about 3× faster than a NamedTuple (and builds one about 10× faster). Saved as JSON pairs.
Wait: TypeAlias = tuple[float, float]  # one ticket's wait when first called: (called at, wait s)
KioskVisit: TypeAlias = tuple[float, str]  # one kiosk session as it ended: (at, outcome)


@dataclass(slots=True)
class TicketRecord:
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
    issuer: str | None = None  # the device it belongs to (rules.hall.scope): its issuer, or the machine first naming it
    events: list[TicketEvent] = field(default_factory=list)  # its course so far (rules.hall.course)


@dataclass(slots=True)
class ServiceRecord:
    code: str
    waiting: dict[str, TicketRecord] = field(default_factory=dict)
    arrivals: deque[float] = field(default_factory=deque)
    completions: deque[float] = field(default_factory=deque)
    waits: deque[Wait] = field(default_factory=deque)
    service_times: deque[float] = field(default_factory=lambda: deque(maxlen=AHT_SAMPLES))
    calls: deque[float] = field(default_factory=deque)  # first calls
    no_shows: deque[float] = field(default_factory=deque)
    issued_today: int = 0
    completed_today: int = 0
    no_shows_today: int = 0


@dataclass(slots=True)
class WindowRecord:
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
    rating_pad: str | None = None  # the evaluator that rated it first (rules.hall.scope: one pad per window)
    seat_camera: str | None = None  # the camera that reported its staff seat last


@dataclass(slots=True)
class DeviceRecord:
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
    firmware: str | None = None  # as its last online state reported them
    location: str | None = None
    display_error: str | None = None  # from a display.error event, cleared by a healthy state
    last_error: str | None = None
    last_error_at: float | None = None
    errors: deque[float] = field(default_factory=deque)
    kiosk_sessions: deque[KioskVisit] = field(default_factory=deque)
    help_requests: int = 0
    seen: SeqRanges = field(default_factory=SeqRanges)


@dataclass(slots=True)
class ZoneRecord:
    zone_id: str
    camera_id: str
    count: int
    updated_at: float


@dataclass(slots=True)
class HallRecords:
    """Everything the fold has learned, keyed by id; the dicts are never replaced, only changed."""

    day: str | None = None  # the hall's local date of the newest message
    tickets: dict[str, TicketRecord] = field(default_factory=dict)
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    windows: dict[str, WindowRecord] = field(default_factory=dict)
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    zones: dict[str, ZoneRecord] = field(default_factory=dict)
    blind: BlindSpans = field(default_factory=BlindSpans)  # when the gateway itself was not listening
