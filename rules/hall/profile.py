"""What the configuration says about the hall (the model's input besides the messages): services, windows, devices,
the names of its camera zones and staff, and how many of each the hall may learn from messages when the
configuration lists none.

Owns the seven frozen profile types. Must not hold anything learned from the messages; that is the fold's
(`rules.hall.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from devices.topics import DeviceType


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
    name_en: str | None = None
    # its staffed periods each day the hall works (hall time): lunch, evening or weekend service (延时服务) included
    shifts: tuple[tuple[time, time], ...] = ()


@dataclass(frozen=True, slots=True)
class ZoneProfile:
    """A camera zone's display names (等候区A / Waiting area A): the configuration's, for people; the zone itself is
    learned from the cameras' counts."""

    zone_id: str
    name: str | None = None
    name_en: str | None = None


@dataclass(frozen=True, slots=True)
class StaffProfile:
    """A staff member's display names (the roster): what a window tile and a report show for the staff id that the
    window terminal reports. Never for the public."""

    staff_id: str
    name: str
    name_en: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """A configured device. What it may change besides itself (`rules.hall.scope`), where the configuration says:
    an evaluator's `windows`, a camera's `zones` and `seats` (window ids); None: not configured, learned instead."""

    device_id: str
    device_type: DeviceType
    name: str | None = None
    location: str | None = None
    windows: tuple[str, ...] | None = None
    zones: tuple[str, ...] | None = None
    seats: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class EntityCaps:
    """How many windows, services and zones the hall learns from messages at most, where the configuration lists
    none of that kind, and how many devices it keeps in all (configured ones counted). A message that would make it
    learn one more is refused (`entity_cap`): every id a message names would otherwise become a record kept for good,
    and one 64 KiB camera message names thousands. Far above the packaged city hall's 60 windows, 20 services, 73
    zones and 158 devices."""

    windows: int = 500
    services: int = 500
    zones: int = 200
    devices: int = 2000


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
    caps: EntityCaps = EntityCaps()
    zones: tuple[ZoneProfile, ...] = ()
    staff: tuple[StaffProfile, ...] = ()
