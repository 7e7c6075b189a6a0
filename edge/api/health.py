"""Routes of the `gateway` tag: whether ingest works (`/api/health`, open for monitoring) and the messages it
rejected (dead letters).

Must not change anything: these routes only read the gateway's counters and its store.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from edge.api.deps import ApiState, State, needs
from edge.api.schemas import (
    CloudOut,
    CloudStreamOut,
    DeadLetterOut,
    DiskOut,
    Health,
    IngestCounters,
    LivenessOut,
    StorageOut,
    TaskHealth,
)
from edge.auth import Role
from edge.release import VERSION
from edge.supervisor import WorkerReport, WorkerState

router = APIRouter(tags=["gateway"])


@router.get("/api/health", response_model=Health, openapi_extra={"x-roles": []})
async def health(state: State) -> Health:
    """Whether ingest is working: broker connection, each background task, storage, and message counters since
    start. `ok` only when all of it works. `liveness` is what the web UI's header says: live, stale or broken, since
    when, and the newest device message's age."""
    c = state.counters
    store = state.current_store()
    decider = state.current_decider()
    tasks = state.supervisor.report()
    status, problems = _status(state, tasks)
    s = state.storage
    return Health(
        status=status,
        problems=problems,
        hall=state.hall_id,
        version=VERSION,
        broker_connected=state.link.connected,
        broker_connects=state.link.connects,
        broker_sessions_lost=state.sessions_lost(),
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
        tasks=[
            TaskHealth(
                name=t.name,
                state=t.state.value,
                reason=t.reason,
                detail=t.detail,
                since_s=round(t.since_s, 3),
                beat_age_s=None if t.beat_age_s is None else round(t.beat_age_s, 3),
            )
            for t in tasks
        ],
        storage=StorageOut(
            ok=s.cause is None,
            cause=s.cause,
            since=s.since.astimezone(state.tz) if s.since else None,
            attempts=s.attempts,
            faults=s.faults,
        ),
        liveness=LivenessOut(**asdict(state.liveness())),
        cloud=_cloud(state),
        disk=_disk(state),
    )


def _disk(state: ApiState) -> DiskOut | None:
    d = state.disk()
    if d is None:
        return None
    u = d.usage
    return DiskOut(
        level=d.assessment.level.value,
        used_bytes=u.used,
        budget_bytes=d.budget,
        share=round(d.assessment.share, 4),
        db_bytes=u.db,
        db_free_bytes=u.db_free,
        wal_bytes=u.wal,
        backups_bytes=u.backups,
        other_bytes=u.other,
        filesystem_free_bytes=u.filesystem_free,
        free_min_bytes=d.free_min,
        auto_vacuum=d.auto_vacuum,
        events=u.events,
        bytes_per_event=round(u.bytes_per_event, 1),
        days_fit=None if d.days_fit is None else round(d.days_fit, 1),
        oldest_event_at=None if d.oldest_event_at is None else datetime.fromtimestamp(d.oldest_event_at, state.tz),
        budget_pruned=d.budget_pruned,
        measured_at=d.measured_at.astimezone(state.tz),
    )


def _cloud(state: ApiState) -> CloudOut | None:
    cloud = state.current_cloud()
    store = state.current_store()
    if cloud is None or store is None:
        return None
    up, now = cloud.uplink, time.time()
    streams = store.cloud.states()
    oldest = [s.oldest_at for s in streams if s.oldest_at is not None]

    def when(t: float | None) -> datetime | None:
        return datetime.fromtimestamp(t, state.tz) if t is not None else None

    c = up.counters
    return CloudOut(
        connected=up.connected,
        endpoint=up.endpoint,
        connected_since=when(up.connected_since),
        last_error=up.last_error,
        last_confirmation_at=when(up.last_confirmation_at),
        backlog=sum(s.held for s in streams),
        backlog_bytes=sum(s.held_bytes for s in streams),
        budget_bytes=int(state.config.cloud.budget_mb * 1024 * 1024),
        oldest_s=round(now - min(oldest), 1) if oldest else None,
        dropped=sum(s.dropped for s in streams),
        streams=[
            CloudStreamOut(
                stream=s.stream.value,
                last_seq=s.last_seq,
                confirmed=s.confirmed,
                held=s.held,
                held_bytes=s.held_bytes,
                dropped=s.dropped,
                oldest_s=round(now - s.oldest_at, 1) if s.oldest_at is not None else None,
            )
            for s in streams
        ],
        counters={
            "connects": c.connects,
            "batches": c.batches,
            "records": c.records,
            "resent": c.resent,
            "confirmations": c.confirmations,
            "confirmed_records": c.confirmed_records,
            "statuses": c.statuses,
            "refused": sum(c.refused.values()),
        },
    )


def _status(state: ApiState, tasks: list[WorkerReport]) -> tuple[str, list[str]]:
    """The one word a monitor reads, and the reasons behind it (the worst wins: failed, storage_error, degraded)."""
    fatal = state.fatal()
    if fatal is not None:
        return "failed", [f"a task died: {fatal}"]
    problems = [
        f"{t.name}: {t.state.value}" + (f" ({t.reason}: {t.detail})" if t.reason else "")
        for t in tasks
        if t.state is not WorkerState.RUNNING
    ]
    if not state.link.connected:
        problems.insert(0, "not connected to the broker")
    waiting = _cloud_waiting(state)
    if waiting is not None:
        problems.append(waiting)
    disk = state.disk()
    if disk is not None:
        problems.extend(disk.assessment.problems)
    if state.storage.cause is not None or any(t.reason == "storage_error" for t in tasks):
        return "storage_error", problems
    return ("degraded" if problems else "ok"), problems


CLOUD_LATE_S = 900.0  # the cloud tier may be away for a while (the hall works offline); this long is worth a word


def _cloud_waiting(state: ApiState) -> str | None:
    """A word when the city/province tier has confirmed nothing for CLOUD_LATE_S while records wait for it."""
    cloud, store = state.current_cloud(), state.current_store()
    if cloud is None or store is None:
        return None
    streams = store.cloud.states()
    if cloud.export.over_budget:
        held = sum(s.held_bytes for s in streams) / 1048576
        return (
            f"cloud outbox over its budget ({held:.0f} MB of {state.config.cloud.budget_mb:g} MB) with records that "
            "are never dropped: the cloud has not confirmed them"
        )
    oldest = [s.oldest_at for s in streams if s.oldest_at is not None]
    if not oldest or time.time() - min(oldest) < CLOUD_LATE_S:
        return None
    held = sum(s.held for s in streams)
    minutes = (time.time() - min(oldest)) / 60
    link = "connected" if cloud.uplink.connected else "not connected"
    return f"cloud uplink ({link}): {held} records wait for the cloud, the oldest for {minutes:.0f} min"


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
