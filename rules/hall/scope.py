"""What each device may change besides itself (device scope): a device's credentials make it trusted for what
belongs to it, not for the rest of the hall.

- ticket machine: the tickets it issued. A ticket belongs to the device whose `ticket.issued` the hall took in —
  or, when a ticket machine's `ticket.cancelled` or `ticket.reactivated` came before any issue (events arrive late:
  a machine replays its queue after an outage), to that machine, and its issue is then taken from it alone. Its
  `ticket.issued`, `ticket.cancelled`, `ticket.reactivated` and `appointment.checked_in` naming another device's
  ticket are refused (`ticket_id`); naming a ticket the hall does not know is taken in.
- window terminal: its own window. The codec refuses a `window_id` other than its device id (`device_mismatch`), and
  none of its other fields names a window.
- evaluator (rating pad): the windows its configuration binds it to (`devices.<id>.windows`). Without a binding it
  binds itself to the first window it rates that no other pad rates (one pad per window, a window bound in the
  configuration to another pad excluded); a rating of any other window is refused (`window_id`).
- camera: the zones and seats its configuration lists (`devices.<id>.zones`, `devices.<id>.seats`, each on its
  own). Where it lists none of a kind: any zone or seat that is neither listed for another camera nor reported by
  another camera before (the first reporter owns it); others are refused (`zones.<id>`, `staff_present.<id>`).
- qms: the whole hall (it reports for every machine and window); kiosk and call screen: only themselves.

Owns `Scope` — `check` raises PayloadError `out_of_scope` with the field path and changes nothing — and
`note_owner`, which records after a message is applied what it made its device the owner of: a ticket's issuer, a
window's rating pad, a seat's camera (a zone's is its record's `camera_id`). They live in the records, so they are
saved with the hall state and rebuilt by a replay of the event log, which applies without asking. Pure: no I/O, no
clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from devices.codec import DeviceMessage
from devices.contract import (
    Occupancy,
    RatingSkipped,
    RatingSubmitted,
    TicketCancelled,
    TicketIssued,
    TicketReactivated,
)
from devices.errors import PayloadError
from devices.topics import DeviceType
from rules.hall.profile import HallProfile
from rules.hall.records import HallRecords, TicketRecord, WindowRecord, ZoneRecord


class Scope:
    """What the configuration binds each evaluator and camera to; `check` a message against it and the records."""

    def __init__(self, profile: HallProfile) -> None:
        self._pads = _bound(profile, DeviceType.EVALUATOR, "windows")
        self._zones = _bound(profile, DeviceType.CAMERA, "zones")
        self._seats = _bound(profile, DeviceType.CAMERA, "seats")
        self._window_pads = _holders(self._pads)
        self._zone_cameras = _holders(self._zones)
        self._seat_cameras = _holders(self._seats)

    def check(self, msg: DeviceMessage, records: HallRecords) -> None:
        """Raise PayloadError `out_of_scope` if the event `msg` changes what does not belong to its device."""
        kind, device_id, p = msg.device_type, msg.device_id, msg.payload
        if kind is DeviceType.TICKET_MACHINE:
            ticket_id = p.named_ticket
            if ticket_id is not None:
                _own_ticket(device_id, ticket_id, records.tickets)
        elif kind is DeviceType.EVALUATOR and isinstance(p, RatingSubmitted | RatingSkipped):
            self._rates(device_id, p.window_id, records.windows)
        elif kind is DeviceType.CAMERA and isinstance(p, Occupancy):
            if p.zones:
                self._counts(device_id, p.zones, records.zones)
            if p.staff_present:
                self._watches(device_id, p.staff_present, records.windows)

    def _rates(self, pad: str, window_id: str, windows: Mapping[str, WindowRecord]) -> None:
        bound = self._pads.get(pad)
        if bound is not None:
            if window_id not in bound:
                raise _refused(
                    f"window {window_id!r} is not one of evaluator {pad!r}'s (devices.{pad}.windows)", "window_id"
                )
            return
        others = self._window_pads.get(window_id)
        if others:
            raise _refused(
                f"window {window_id!r} is rated by evaluator {_listing(others)} (devices.<id>.windows); one pad per "
                "window",
                "window_id",
            )
        w = windows.get(window_id)
        if w is not None and w.rating_pad == pad:
            return
        if w is not None and w.rating_pad is not None:
            raise _refused(
                f"window {window_id!r} is rated by evaluator {w.rating_pad!r}, the first to rate it; one pad per "
                "window (bind pads in devices.<id>.windows)",
                "window_id",
            )
        for other in windows.values():  # a pad's first rating of a window only: not once per rating
            if other.rating_pad == pad:
                raise _refused(
                    f"evaluator {pad!r} rates {other.window_id!r}, the first window it rated (bind it to more in "
                    f"devices.{pad}.windows)",
                    "window_id",
                )

    def _counts(self, camera: str, zones: Collection[str], known: Mapping[str, ZoneRecord]) -> None:
        mine = self._zones.get(camera)
        if mine is not None:
            if not mine.issuperset(zones):  # the usual answer without a loop: a camera reports once a second
                zone_id = next(z for z in zones if z not in mine)
                raise _refused(
                    f"zone {zone_id!r} is not one of camera {camera!r}'s (devices.{camera}.zones)", f"zones.{zone_id}"
                )
            return
        _not_listed_for_others(camera, zones, self._zone_cameras, "zone", "zones", "zones.{}")
        for zone_id in zones:
            z = known.get(zone_id)
            if z is not None and z.camera_id != camera:
                raise _refused(
                    f"zone {zone_id!r} is reported by camera {z.camera_id!r}, the first to report it "
                    "(devices.<id>.zones)",
                    f"zones.{zone_id}",
                )

    def _watches(self, camera: str, seats: Collection[str], windows: Mapping[str, WindowRecord]) -> None:
        mine = self._seats.get(camera)
        if mine is not None:
            if not mine.issuperset(seats):
                window_id = next(w for w in seats if w not in mine)
                raise _refused(
                    f"the seat of window {window_id!r} is not one of camera {camera!r}'s (devices.{camera}.seats)",
                    f"staff_present.{window_id}",
                )
            return
        _not_listed_for_others(camera, seats, self._seat_cameras, "the seat of window", "seats", "staff_present.{}")
        for window_id in seats:
            w = windows.get(window_id)
            if w is not None and w.seat_camera is not None and w.seat_camera != camera:
                raise _refused(
                    f"the seat of window {window_id!r} is reported by camera {w.seat_camera!r}, the first to report "
                    "it (devices.<id>.seats)",
                    f"staff_present.{window_id}",
                )


def note_owner(msg: DeviceMessage, records: HallRecords) -> None:
    """After the event `msg` was applied: record what it made its device the owner of, where nobody was — the issuer
    of a ticket it issued (or, from a ticket machine, cancelled or reactivated before its issue came), the rating pad
    of a window it rated; and a seat's camera, the latest to report it (as a zone's `camera_id`)."""
    p = msg.payload
    if isinstance(p, TicketIssued) or (
        msg.device_type is DeviceType.TICKET_MACHINE and isinstance(p, TicketCancelled | TicketReactivated)
    ):
        t = records.tickets.get(p.ticket_id)
        if t is not None and t.issuer is None:
            t.issuer = msg.device_id
    elif isinstance(p, RatingSubmitted | RatingSkipped):
        w = records.windows.get(p.window_id)
        if w is not None and w.rating_pad is None:
            w.rating_pad = msg.device_id
    elif isinstance(p, Occupancy):
        windows, camera = records.windows, msg.device_id
        for window_id in p.staff_present:
            w = windows.get(window_id)
            if w is not None:
                w.seat_camera = camera


def _own_ticket(device_id: str, ticket_id: str, tickets: Mapping[str, TicketRecord]) -> None:
    t = tickets.get(ticket_id)
    if t is not None and t.issuer is not None and t.issuer != device_id:
        raise _refused(
            f"ticket {ticket_id!r} belongs to {t.issuer!r}, which issued it (or named it first); a ticket machine "
            "changes only its own tickets",
            "ticket_id",
        )


def _not_listed_for_others(
    device_id: str, ids: Collection[str], holders: Mapping[str, tuple[str, ...]], noun: str, key: str, path: str
) -> None:
    if holders and not holders.keys().isdisjoint(ids):
        entity_id = next(i for i in ids if i in holders)
        raise _refused(
            f"{noun} {entity_id!r} is listed for camera {_listing(holders[entity_id])} (devices.<id>.{key}), not "
            f"for {device_id!r}",
            path.format(entity_id),
        )


def _bound(profile: HallProfile, kind: DeviceType, field: str) -> dict[str, frozenset[str]]:
    """Per configured device of `kind`, the ids its configuration lists in `field` (devices listing none left out)."""
    bound = {}
    for d in profile.devices:
        ids: tuple[str, ...] | None = getattr(d, field)
        if d.device_type is kind and ids is not None:
            bound[d.device_id] = frozenset(ids)
    return bound


def _holders(bound: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Per id, the devices whose configuration lists it."""
    holders: dict[str, list[str]] = {}
    for device_id, ids in bound.items():
        for entity_id in ids:
            holders.setdefault(entity_id, []).append(device_id)
    return {k: tuple(v) for k, v in holders.items()}


def _listing(ids: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in sorted(ids))


def _refused(detail: str, path: str) -> PayloadError:
    return PayloadError("out_of_scope", detail, path)


__all__ = ["Scope", "note_owner"]
