"""The HTTP API (FastAPI, OpenAPI at /docs) and the live page, built by `create_app(gateway)`.

Read-only for now: health with the ingest counters, the hall snapshot and its parts, the dead letters. Times are
RFC 3339 in the hall's time zone. The app holds the gateway it was made for; there are no globals.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from edge.gateway import Gateway
from rules.hall import DeviceView, HallSnapshot, ServiceView, WindowView, ZoneView

VERSION = "0.1.0"


class IngestCounters(BaseModel):
    received: int
    accepted: int
    duplicates: int
    ignored: int
    rejected_total: int
    rejected: dict[str, int]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    hall: str
    version: str
    broker_connected: bool
    broker_connects: int
    started_at: datetime
    uptime_s: float
    counters: IngestCounters
    events_logged: int
    dead_letters: dict[str, int]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    path: str
    detail: str
    size: int
    payload: str  # the first bytes as text (undecodable bytes replaced)


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(
        title="hallops gateway",
        version=VERSION,
        description="Live state of one government service hall (政务服务大厅), from its devices' MQTT telemetry.",
    )
    tz = ZoneInfo(gateway.cfg.hall.timezone)
    page = resources.files("edge").joinpath("web/index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/api/health", response_model=Health, tags=["gateway"])
    async def health() -> Health:
        """Whether ingest is working: broker connection and message counters since start."""
        c = gateway.counters
        store = gateway.store
        return Health(
            status="ok" if gateway.link.connected else "degraded",
            hall=gateway.hall_id,
            version=VERSION,
            broker_connected=gateway.link.connected,
            broker_connects=gateway.link.connects,
            started_at=gateway.started_at.astimezone(tz),
            uptime_s=round(gateway.uptime_s, 3),
            counters=IngestCounters(
                received=c.received,
                accepted=c.accepted,
                duplicates=c.duplicates,
                ignored=c.ignored,
                rejected_total=sum(c.rejected.values()),
                rejected=dict(c.rejected),
            ),
            events_logged=store.count_events() if store else 0,
            dead_letters=store.dead_letter_counts() if store else {},
        )

    @app.get("/api/hall", response_model=HallSnapshot, tags=["hall"])
    async def hall() -> HallSnapshot:
        """The whole hall now: totals, services (queues), windows, devices, zones."""
        return gateway.snapshot()

    @app.get("/api/services", response_model=list[ServiceView], tags=["hall"])
    async def services() -> tuple[ServiceView, ...]:
        """Per service: waiting tickets, longest and projected wait, arrivals and completions, mean service time."""
        return gateway.snapshot().services

    @app.get("/api/windows", response_model=list[WindowView], tags=["hall"])
    async def windows() -> tuple[WindowView, ...]:
        """Per window: status, staff, current ticket, idle and pause clocks, staff presence from cameras."""
        return gateway.snapshot().windows

    @app.get("/api/devices", response_model=list[DeviceView], tags=["hall"])
    async def devices() -> tuple[DeviceView, ...]:
        """Per device: online, last seen, health and the problems behind it."""
        return gateway.snapshot().devices

    @app.get("/api/zones", response_model=list[ZoneView], tags=["hall"])
    async def zones() -> tuple[ZoneView, ...]:
        """People counted per camera zone."""
        return gateway.snapshot().zones

    @app.get("/api/dead-letters", response_model=list[DeadLetterOut], tags=["gateway"])
    async def dead_letters(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        reason: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[DeadLetterOut]:
        """Rejected messages, newest first, with the reason and the field path."""
        gateway.flush()
        store = gateway.store
        rows = store.dead_letters(limit, reason) if store else []
        return [
            DeadLetterOut(
                id=r.id,
                received_at=datetime.fromtimestamp(r.received_at, tz),
                topic=r.topic,
                reason=r.reason,
                path=r.path,
                detail=r.detail,
                size=r.size,
                payload=r.payload.decode("utf-8", errors="replace"),
            )
            for r in rows
        ]

    return app
