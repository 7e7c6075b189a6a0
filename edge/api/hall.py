"""Routes of the `hall` tag: the hall now (totals, services, windows, devices, zones) and one device in detail.

Must not compute the hall: the gateway's snapshot (rules.hall) is the hall; these routes only select from it and,
for one device, add its recent messages and tickets from the store and the decision layer.
"""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, HTTPException

from edge.api.deps import ALL, State, needs
from edge.api.schemas import DeviceDetail, RecentMessage
from edge.api.tickets import named
from rules.hall import DeviceView, HallSnapshot, ServiceView, WindowView, ZoneView

router = APIRouter(tags=["hall"])


@router.get("/api/hall", response_model=HallSnapshot, **needs(*ALL))
async def hall(state: State) -> HallSnapshot:
    """The whole hall now: totals, services (queues), windows, devices, zones."""
    return state.snapshot()


@router.get("/api/services", response_model=list[ServiceView], **needs(*ALL))
async def services(state: State) -> tuple[ServiceView, ...]:
    """Per service: waiting tickets, longest and projected wait, arrivals and completions, mean service time."""
    return state.snapshot().services


@router.get("/api/windows", response_model=list[WindowView], **needs(*ALL))
async def windows(state: State) -> tuple[WindowView, ...]:
    """Per window: status, staff, current ticket, idle and pause clocks, staff presence from cameras."""
    return state.snapshot().windows


@router.get("/api/devices", response_model=list[DeviceView], **needs(*ALL))
async def devices(state: State) -> tuple[DeviceView, ...]:
    """Per device: online, last seen, health and the problems behind it."""
    return state.snapshot().devices


@router.get("/api/zones", response_model=list[ZoneView], **needs(*ALL))
async def zones(state: State) -> tuple[ZoneView, ...]:
    """People counted per camera zone."""
    return state.snapshot().zones


@router.get("/api/devices/{device_id}", response_model=DeviceDetail, **needs(*ALL))
async def device(device_id: str, state: State) -> DeviceDetail:
    """One device for the technician: its state now, its latest messages of the last 24 h (heartbeats left out)
    and its tickets."""
    view = next((d for d in state.snapshot().devices if d.device_id == device_id), None)
    if view is None:
        raise HTTPException(404, f"no device {device_id}")
    state.flush()
    store = state.current_store()
    since = state.clock.now().timestamp() - 86400
    recent = [
        RecentMessage(at=datetime.fromtimestamp(ev.at, state.tz).isoformat(), type=ev.type, payload=_short(ev.payload))
        for ev in (store.events.of_device(device_id, since) if store else [])
    ]
    d = state.decider()
    tickets = [d.ticket_json(t) for t in d.tickets.tickets if t.device == device_id]
    ids = {t["id"] for t in tickets}
    if store is not None:
        for body in store.decisions.records("ticket", 500):
            item = json.loads(body)
            if item.get("device") == device_id and item["id"] not in ids:
                tickets.append(item)
    tickets.sort(key=lambda t: str(t.get("opened_at")), reverse=True)
    return DeviceDetail(device=view, recent=recent, tickets=named(tickets, state))


def _short(payload: bytes, limit: int = 400) -> str:
    text = payload.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"
