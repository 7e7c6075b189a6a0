"""The hall's records as JSON (schema 2), for the gateway's state snapshot beside the event log, and back.

Owns the on-disk format: `dump` writes it, `load_into` reads it into freshly made records. A store saved by an
earlier release must still open (tests/system/test_saved_state.py), so the format changes only with a new
`SCHEMA_VERSION` and a reader for the old one. Must not decide anything about the hall: it copies records.

Schema 2 (issue 16) adds `blind`, the spans the gateway was not listening (`[[start, end], …]`); schema 1 is read as
a gateway that was never deaf. A record's field added with a default needs no new schema: a state saved before it
reads as the default — a ticket's `issuer`, a window's `rating_pad` and `seat_camera` (issue 17, device scope) as
not known, so the first device to name them owns them again. So a ticket's `events` (issue 17: its course,
`rules.hall.course`), which a ticket saved before reads as the events its other fields stand for. A device's `seen` is
saved per counter epoch (`SeqRanges.dump`, issue 17); the form before epochs (`{"ranges", "latest_at"}`) reads as one.
"""

from __future__ import annotations

import json
from collections import deque

from devices.topics import DeviceType
from rules.hall.course import TicketEvent
from rules.hall.dedup import SeqRanges
from rules.hall.records import (
    AHT_SAMPLES,
    DeviceRecord,
    HallRecords,
    ServiceRecord,
    TicketRecord,
    TicketStatus,
    WindowRecord,
    ZoneRecord,
)
from rules.hall.snapshot import WindowStatus

SCHEMA_VERSION = 2  # 1: no `blind` (read)
_READABLE = (1, SCHEMA_VERSION)


def dump(records: HallRecords) -> bytes:
    """The records as compact JSON."""
    body = {
        "schema": SCHEMA_VERSION,
        "day": records.day,
        "services": [_dump_service(s) for s in records.services.values()],
        "windows": [_slot_values(w) for w in records.windows.values()],
        "devices": [_dump_device(d) for d in records.devices.values()],
        "zones": [_slot_values(z) for z in records.zones.values()],
        "tickets": [_slot_values(t) for t in records.tickets.values()],
        "blind": records.blind.dump(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_into(records: HallRecords, data: bytes) -> None:
    """Fill `records` (made from the current profile, nothing applied yet) with what `dump` wrote: services keep
    the profile's and add the saved ones, saved windows and devices replace the profile's of the same id."""
    body = json.loads(data)
    if body.get("schema") not in _READABLE:
        raise ValueError(f"state snapshot schema {body.get('schema')!r} is not one of {_READABLE}")
    records.day = body["day"]
    for start, end in body.get("blind", []):
        records.blind.add(float(start), float(end))
    tickets = records.tickets
    for raw in body["tickets"]:
        raw["status"] = TicketStatus(raw["status"])
        raw["events"] = [TicketEvent(*e) for e in raw.get("events", ())]
        t = TicketRecord(**raw)
        tickets[t.ticket_id] = t
    for raw in body["services"]:
        svc = records.services.get(raw["code"])
        if svc is None:
            svc = records.services[raw["code"]] = ServiceRecord(raw["code"])
        svc.waiting = {k: tickets[k] for k in raw["waiting"] if k in tickets}
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
        records.windows[raw["window_id"]] = WindowRecord(**raw)
    for raw in body["devices"]:
        raw["device_type"] = DeviceType(raw["device_type"])
        raw["errors"] = deque(raw["errors"])
        raw["kiosk_sessions"] = deque((a, o) for a, o in raw["kiosk_sessions"])
        raw["seen"] = SeqRanges.load(raw["seen"])
        records.devices[raw["device_id"]] = DeviceRecord(**raw)
    for raw in body["zones"]:
        records.zones[raw["zone_id"]] = ZoneRecord(**raw)


def _slot_values(obj: object) -> dict[str, object]:
    """A slotted record's fields by name."""
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def _dump_service(s: ServiceRecord) -> dict[str, object]:
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


def _dump_device(d: DeviceRecord) -> dict[str, object]:
    raw = _slot_values(d)
    raw["errors"] = list(d.errors)
    raw["kiosk_sessions"] = list(d.kiosk_sessions)
    raw["seen"] = d.seen.dump()
    return raw
