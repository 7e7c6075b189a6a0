"""Routes of the `gateway` tag: whether ingest works (`/api/health`, open for monitoring) and the messages it
rejected (dead letters).

Must not change anything: these routes only read the gateway's counters and its store.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from edge.api.deps import VERSION, State, needs
from edge.api.schemas import DeadLetterOut, Health, IngestCounters
from edge.auth import Role

router = APIRouter(tags=["gateway"])


@router.get("/api/health", response_model=Health, openapi_extra={"x-roles": []})
async def health(state: State) -> Health:
    """Whether ingest is working: broker connection and message counters since start."""
    c = state.counters
    store = state.current_store()
    decider = state.current_decider()
    return Health(
        status="ok" if state.link.connected else "degraded",
        hall=state.hall_id,
        version=VERSION,
        broker_connected=state.link.connected,
        broker_connects=state.link.connects,
        started_at=state.started_at.astimezone(state.tz),
        uptime_s=round(state.uptime_s(), 3),
        counters=IngestCounters(
            received=c.received,
            accepted=c.accepted,
            duplicates=c.duplicates,
            ignored=c.ignored,
            rejected_total=sum(c.rejected.values()),
            rejected=dict(c.rejected),
        ),
        events_logged=store.events.count() if store else 0,
        dead_letters=store.dead_letters.counts() if store else {},
        rules_version=state.rules_version(),
        rules_shadow=decider.shadow.number if decider and decider.shadow else None,
        bundles=asdict(state.bundles.counters) if state.bundles is not None else None,
    )


@router.get("/api/dead-letters", response_model=list[DeadLetterOut], **needs(Role.TECHNICIAN))
async def dead_letters(
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: Annotated[str | None, Query(max_length=64)] = None,
) -> list[DeadLetterOut]:
    """Rejected messages, newest first, with the reason and the field path."""
    state.flush()
    store = state.current_store()
    rows = store.dead_letters.newest(limit, reason) if store else []
    return [
        DeadLetterOut(
            id=r.id,
            received_at=datetime.fromtimestamp(r.received_at, state.tz),
            topic=r.topic,
            reason=r.reason,
            path=r.path,
            detail=r.detail,
            size=r.size,
            payload=r.payload.decode("utf-8", errors="replace"),
        )
        for r in rows
    ]
