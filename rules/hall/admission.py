"""Which windows, services, zones and devices a message may name: the hall's admission of what it has not seen.

Every id a message names would otherwise become a record the hall keeps for good (a window, a service queue, a zone,
a device) — one 64 KiB camera message names thousands. So each kind comes from the configuration or is learned
under a cap (`HallProfile.caps`, from `ingest.max_*`):

- windows: named by a window event (its `window_id`, or the terminal's device id), a rating's `window_id`, a
  camera's `staff_present` keys and a window terminal's device id; only the configured ones when `windows:` lists
  any, else learned up to `caps.windows`;
- services: named by `service` (ticket.issued, appointment.checked_in and .booked, ticket.reactivated, kiosk.session),
  `services` (window.opened, or the window's own when it lists none) and `to_service` (ticket.transferred); only
  the configured ones when `services:` lists any, else learned up to `caps.services`;
- zones: named by a camera's `zones` keys; learned up to `caps.zones` (the configuration lists none);
- devices: named by the topic; of a type the configuration lists devices of (`devices:`), only those; every type
  together up to `caps.devices`.

Owns `Admission`: `check` refuses a message (PayloadError `unknown_window`, `unknown_service`, `unknown_device` or
`entity_cap`, with the field path; then `out_of_scope`, a device changing what is not its own: `rules.hall.scope`)
before anything of it is applied, so a message is taken whole or not at all;
`prune` drops from restored records what the configuration no longer admits (a state saved before the caps, or
under another configuration). Pure: no I/O, no clock; it changes records only in `prune`, applying is
`rules.hall.state`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from devices.codec import DeviceMessage
from devices.contract import (
    WINDOW_EVENTS,
    AppointmentBooked,
    AppointmentCheckedIn,
    KioskSession,
    Occupancy,
    RatingSkipped,
    RatingSubmitted,
    TicketIssued,
    TicketReactivated,
    TicketTransferred,
    WindowOpened,
)
from devices.errors import PayloadError
from devices.topics import Channel, DeviceType
from rules.hall.profile import HallProfile
from rules.hall.records import DeviceRecord, HallRecords
from rules.hall.scope import Scope

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class _Kind:
    """One kind of entity: the configured ids (None: the configuration lists none, so they are learned) and the cap."""

    noun: str  # "window"
    section: str  # the configuration's key listing them
    cap_key: str  # the configuration's key of the cap
    configured: frozenset[str] | None
    cap: int

    def admit(self, ids: Collection[str], known: Mapping[str, object], path: str | Callable[[str], str]) -> None:
        """Refuse the first of `ids` that is not configured, or that would be learned past the cap together with the
        others before it; `path` is its field path (or makes it from the id)."""
        configured = self.configured
        # the usual answer first, without a loop in Python: a camera names every zone and seat once a second
        if configured.issuperset(ids) if configured is not None else len(known) + len(ids) <= self.cap:
            return
        new: set[str] = set()
        for entity_id in ids:
            where = path if isinstance(path, str) else path(entity_id)
            if configured is not None:
                if entity_id not in configured:
                    raise PayloadError(
                        f"unknown_{self.noun}",
                        f"{self.noun} {entity_id!r} is not one of the {len(configured)} in the configuration "
                        f"({self.section}:)",
                        where,
                    )
            elif entity_id not in known:
                new.add(entity_id)
                if len(known) + len(new) > self.cap:
                    raise PayloadError("entity_cap", _beyond(self.noun, entity_id, self.cap, self.cap_key), where)

    def kept(self, records: dict[str, _R]) -> set[str]:
        """Drop from `records` what is not configured, or what is past the cap (the latest learned go first); the
        ids dropped."""
        if self.configured is not None:
            dropped = {k for k in records if k not in self.configured}
        else:
            dropped = set(list(records)[self.cap :])
        for k in dropped:
            del records[k]
        return dropped


class Admission:
    """What one hall's configuration admits; `check` a message against the records before it is applied."""

    def __init__(self, profile: HallProfile) -> None:
        caps = profile.caps
        self._windows = _Kind(
            "window", "windows", "ingest.max_windows", _listed(w.window_id for w in profile.windows), caps.windows
        )
        self._services = _Kind(
            "service", "services", "ingest.max_services", _listed(s.code for s in profile.services), caps.services
        )
        self._zones = _Kind("zone", "zones", "ingest.max_zones", None, caps.zones)
        self._max_devices = caps.devices
        by_type: dict[DeviceType, set[str]] = {}
        for d in profile.devices:
            by_type.setdefault(d.device_type, set()).add(d.device_id)
        self._devices_by_type = {kind: frozenset(ids) for kind, ids in by_type.items()}
        self._configured_devices = frozenset(d.device_id for d in profile.devices)
        self._scope = Scope(profile)

    def check(self, msg: DeviceMessage, records: HallRecords) -> None:
        """Raise PayloadError if `msg` names an entity this hall does not admit, or changes what is not its device's;
        nothing is changed either way."""
        if msg.device_id not in records.devices:
            self._check_device(msg.device_type, msg.device_id, records.devices)
        if msg.channel is not Channel.EVT:
            return  # a state, heartbeat or acknowledgement names only its device (a quota's services are not kept)
        p = msg.payload
        windows, services = self._windows, self._services
        match p:
            case Occupancy():
                self._zones.admit(p.zones, records.zones, lambda zone_id: f"zones.{zone_id}")
                windows.admit(p.staff_present, records.windows, lambda window_id: f"staff_present.{window_id}")
            case TicketIssued() | AppointmentCheckedIn() | AppointmentBooked() | TicketReactivated() | KioskSession():
                if p.service is not None:
                    services.admit((p.service,), records.services, "service")
            case RatingSubmitted() | RatingSkipped():
                windows.admit((p.window_id,), records.windows, "window_id")
            case _ if isinstance(p, WINDOW_EVENTS):
                window_id = p.window_id or msg.device_id
                windows.admit((window_id,), records.windows, "window_id" if p.window_id else "")
                if isinstance(p, WindowOpened):
                    if p.services:
                        codes = p.services
                        services.admit(codes, records.services, lambda code: f"services[{codes.index(code)}]")
                    else:  # it opens for the services it had (configured, or named when it last opened)
                        w = records.windows.get(window_id)
                        services.admit(w.services if w is not None else (), records.services, "services")
                elif isinstance(p, TicketTransferred):
                    services.admit((p.to_service,), records.services, "to_service")
            case _:
                pass
        self._scope.check(msg, records)

    def _check_device(self, device_type: DeviceType, device_id: str, known: Mapping[str, DeviceRecord]) -> None:
        listed = self._devices_by_type.get(device_type)
        if listed is not None and device_id not in listed:
            raise PayloadError(
                "unknown_device",
                f"{device_type.value} {device_id!r} is not one of the {len(listed)} {device_type.value} devices in "
                "the configuration (devices:)",
            )
        windows = self._windows.configured
        if device_type is DeviceType.WINDOW and windows is not None and device_id not in windows:
            raise PayloadError(
                "unknown_window",
                f"window terminal {device_id!r} is not one of the {len(windows)} windows in the configuration "
                "(windows:)",
            )
        if len(known) >= self._max_devices:
            raise PayloadError("entity_cap", _beyond("device", device_id, self._max_devices, "ingest.max_devices"))

    def prune(self, records: HallRecords) -> None:
        """Drop from `records` (just restored) what this configuration does not admit: windows, services and devices
        it does not list where it lists that kind, and what lies past a cap (the latest learned first). A ticket of
        a dropped service goes with it (it would otherwise bring the service back when it is called)."""
        self._windows.kept(records.windows)
        dropped = self._services.kept(records.services)
        if dropped:
            tickets = records.tickets
            for ticket_id in [k for k, t in tickets.items() if t.service in dropped]:
                del tickets[ticket_id]
        self._zones.kept(records.zones)
        devices = records.devices
        windows = self._windows.configured
        for device_id, d in list(devices.items()):
            listed = self._devices_by_type.get(d.device_type)
            if (listed is not None and device_id not in listed) or (
                d.device_type is DeviceType.WINDOW and windows is not None and device_id not in windows
            ):
                del devices[device_id]
        learned = [k for k in devices if k not in self._configured_devices]  # (configured ones are never dropped)
        for device_id in learned[max(0, self._max_devices - (len(devices) - len(learned))) :]:
            del devices[device_id]


def _listed(ids: Iterable[str]) -> frozenset[str] | None:
    """The configured ids of a kind, None when the configuration lists none (the kind is learned)."""
    return frozenset(ids) or None


def _beyond(noun: str, entity_id: str, cap: int, key: str) -> str:
    return f"{noun} {entity_id!r} would be one more than the {cap} {noun}s this hall keeps at most ({key})"


__all__ = ["Admission"]
