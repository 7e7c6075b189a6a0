"""The HTTP API (FastAPI, OpenAPI at /docs) and the live page, built by `create_app(gateway)`.

Read-only for now: health with the ingest counters, the hall snapshot and its parts, the dead letters. Times are
RFC 3339 in the hall's time zone. The app holds the gateway it was made for; there are no globals.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from importlib import resources
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.decisions import Decider
from edge.gateway import Gateway
from rules.engine import AlertState, Silence
from rules.hall import DeviceView, HallSnapshot, ServiceView, WindowView, ZoneView
from rules.language import summarise
from rules.tickets import TicketTransitionError, UnknownTicketError

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


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckBody(_Body):
    by: str = Field(min_length=1, max_length=64, description="who takes it (a name or user id)")


class SilenceBody(_Body):
    rule: str = Field(min_length=1, max_length=64, description="rule id; * and ? are wildcards")
    labels: dict[str, str] = Field(default_factory=dict, description="label values to match; wildcards allowed")
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long, from now")
    by: str = Field(min_length=1, max_length=64)
    comment: str = Field(min_length=1, max_length=500, description="why (kept with the silence)")


class TicketBody(_Body):
    by: str = Field(min_length=1, max_length=64, description="the technician (a name or user id)")
    note: str = Field(default="", max_length=2000, description="what was done (required to resolve)")


class DecisionBody(_Body):
    by: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500, description="why (for a rejection)")


class SilenceOut(BaseModel):
    id: str
    rule: str
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    active: bool


class RuleOut(BaseModel):
    id: str
    description: str
    severity: str
    kind: str
    subject: str
    enabled: bool


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

    def decider() -> Decider:
        if gateway.decider is None:
            raise HTTPException(503, "the gateway is starting")
        return gateway.decider

    @app.get("/api/alerts", tags=["alerts"])
    async def alerts(
        state: Annotated[Literal["active", "firing", "pending", "acknowledged", "resolved", "all"], Query()] = "active",
        severity: Annotated[str | None, Query(max_length=16)] = None,
        rule: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, object]]:
        """Alerts with their reason and evidence. `active` = pending, firing and acknowledged; `resolved` and `all`
        add the history (newest first)."""
        d = decider()
        rows = [d.alert_json(a) for a in d.engine.alerts.values()]
        if state in ("resolved", "all") and gateway.store is not None:
            seen = {str(r["fingerprint"]) for r in rows}
            for _, body in gateway.store.alert_history(limit * 4):
                item = json.loads(body)
                if item["state"] == "resolved" and item["fingerprint"] not in seen:
                    seen.add(item["fingerprint"])
                    rows.append(item)
        wanted = {
            "active": {"pending", "firing", "acknowledged"},
            "all": {s.value for s in AlertState},
        }.get(state, {state})
        rows = [r for r in rows if r["state"] in wanted]
        if severity:
            rows = [r for r in rows if r["severity"] == severity]
        if rule:
            rows = [r for r in rows if r["rule"] == rule]
        rows.sort(key=lambda r: str(r.get("fired_at") or r.get("active_since") or ""), reverse=True)
        return rows[:limit]

    @app.get("/api/alerts/{fingerprint}", tags=["alerts"])
    async def alert(fingerprint: str) -> dict[str, object]:
        """One alert (active, or its last state) and its history."""
        d = decider()
        history = [json.loads(b) for _, b in gateway.store.alert_history(50, fingerprint)] if gateway.store else []
        current = d.engine.alerts.get(fingerprint)
        if current is None and not history:
            raise HTTPException(404, f"no alert {fingerprint}")
        return {"alert": d.alert_json(current) if current else history[0], "history": history}

    @app.post("/api/alerts/{fingerprint}/ack", tags=["alerts"])
    async def acknowledge(fingerprint: str, body: AckBody) -> dict[str, object]:
        """Take an alert: it stops repeating and escalating; an event alert (a help request, a bad rating) ends."""
        d = decider()
        try:
            d.engine_acknowledge(fingerprint, body.by)
        except KeyError:
            raise HTTPException(404, f"no firing alert {fingerprint}") from None
        current = d.engine.alerts.get(fingerprint)
        return d.alert_json(current) if current else {"fingerprint": fingerprint, "state": "resolved"}

    @app.get("/api/silences", response_model=list[SilenceOut], tags=["alerts"])
    async def silences() -> list[SilenceOut]:
        d = decider()
        now = gateway.clock.now()
        return [
            SilenceOut(id=s.id, rule=s.rule, labels=s.labels, starts_at=s.starts_at.astimezone(tz),
                       ends_at=s.ends_at.astimezone(tz), created_by=s.created_by, comment=s.comment,
                       active=s.starts_at <= now < s.ends_at)
            for s in d.engine.silences.values()
        ]  # fmt: skip

    @app.post("/api/silences", response_model=SilenceOut, status_code=201, tags=["alerts"])
    async def add_silence(body: SilenceBody) -> SilenceOut:
        """Mute matching alerts for a while (maintenance, a drill); they still show, marked as silenced."""
        d = decider()
        now = gateway.clock.now()
        s = Silence(uuid.uuid4().hex[:12], body.rule, body.labels, now, now + timedelta(minutes=body.minutes),
                    body.by, body.comment)  # fmt: skip
        d.engine_silence(s)
        return SilenceOut(
            id=s.id,
            rule=s.rule,
            labels=s.labels,
            starts_at=s.starts_at.astimezone(tz),
            ends_at=s.ends_at.astimezone(tz),
            created_by=s.created_by,
            comment=s.comment,
            active=True,
        )

    @app.delete("/api/silences/{silence_id}", status_code=204, tags=["alerts"])
    async def end_silence(silence_id: str) -> None:
        try:
            decider().engine_expire_silence(silence_id)
        except KeyError:
            raise HTTPException(404, f"no silence {silence_id}") from None

    @app.get("/api/rules", response_model=list[RuleOut], tags=["alerts"])
    async def rules() -> list[RuleOut]:
        """The rules in force."""
        enabled = {r.id: (r.enabled, r.description) for r in gateway.rules.rules}
        return [
            RuleOut(id=x.id, description=enabled[x.id][1], severity=x.severity.value, kind=x.kind,
                    subject=x.subject, enabled=enabled[x.id][0])
            for x in summarise(gateway.rules)
        ]  # fmt: skip

    @app.get("/api/tickets", tags=["tickets"])
    async def tickets(
        status: Annotated[
            Literal["active", "open", "acknowledged", "in_progress", "resolved", "closed", "all"], Query()
        ] = "active",
        priority: Annotated[Literal["P1", "P2", "P3"] | None, Query()] = None,
        kind: Annotated[Literal["device_fault", "rectification"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, object]]:
        """Fault and rectification tickets, the most urgent first (overdue, then by the nearest SLA due time)."""
        d = decider()
        rows = [d.ticket_json(t) for t in d.tickets.tickets]
        if gateway.store is not None and status not in ("active", "open", "acknowledged", "in_progress"):
            seen = {r["id"] for r in rows}
            rows += [r for r in map(json.loads, gateway.store.records("ticket", limit * 4)) if r["id"] not in seen]
        active = {"open", "acknowledged", "in_progress"}
        wanted = (
            active if status == "active" else {"open", *active, "resolved", "closed"} if status == "all" else {status}
        )
        rows = [r for r in rows if r["status"] in wanted]
        rows = [
            r for r in rows if (priority is None or r["priority"] == priority) and (kind is None or r["kind"] == kind)
        ]

        def urgency(r: dict[str, object]) -> tuple[int, str]:
            overdue = bool(r.get("ack_overdue") or r.get("resolve_overdue"))
            due = r.get("ack_due") if r.get("status") == "open" else r.get("resolve_due")
            return (0 if overdue else 1, str(due or "9999"))

        rows.sort(key=urgency)
        return rows[:limit]

    @app.get("/api/tickets/{ticket_id}", tags=["tickets"])
    async def ticket(ticket_id: str) -> dict[str, object]:
        d = decider()
        try:
            return d.ticket_json(d.tickets.get(ticket_id))
        except LookupError:
            stored = gateway.store.record("ticket", ticket_id) if gateway.store else None
            if stored is None:
                raise HTTPException(404, f"no ticket {ticket_id}") from None
            return dict(json.loads(stored))

    @app.post("/api/tickets/{ticket_id}/{action}", tags=["tickets"])
    async def ticket_action(
        ticket_id: str, action: Literal["acknowledge", "start", "resolve", "close"], body: TicketBody
    ) -> dict[str, object]:
        """Move a ticket on: acknowledge → start → resolve (with a note) → close."""
        d = decider()
        if action == "resolve" and not body.note.strip():
            raise HTTPException(422, "note: say what was done to resolve it")
        try:
            return d.ticket_json(d.ticket_transition(ticket_id, action, body.by, body.note))
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None
        except TicketTransitionError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/recommendations", tags=["tidal"])
    async def recommendations(
        status: Annotated[Literal["pending", "all"], Query()] = "pending",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, object]]:
        """Tidal-window recommendations (潮汐窗口) with the numbers behind them; `pending` await a decision."""
        d = decider()
        pending = [{**r.to_dict(), "status": "pending"} for r in d.tidal.pending()]
        if status == "pending":
            return json.loads(json.dumps(pending, default=str))[:limit]  # type: ignore[no-any-return]
        stored = [json.loads(b) for b in gateway.store.records("recommendation", limit)] if gateway.store else []
        ids = {p["id"] for p in pending}
        return json.loads(json.dumps(pending, default=str)) + [r for r in stored if r["id"] not in ids][:limit]  # type: ignore[no-any-return]

    @app.post("/api/recommendations/{rec_id}/{decision}", tags=["tidal"])
    async def decide(rec_id: str, decision: Literal["approve", "reject"], body: DecisionBody) -> dict[str, object]:
        """Approve (the windows are opened: commands to the queue system and the window terminals, staff notified)
        or reject a pending recommendation."""
        d = decider()
        try:
            rec = d.recommendation_decision(rec_id, decision == "approve", body.by, body.reason)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return {**json.loads(json.dumps(rec.to_dict(), default=str)), "status": f"{decision}d"}

    @app.get("/api/stream", tags=["alerts"], response_class=StreamingResponse)
    async def stream() -> StreamingResponse:
        """Server-sent events: `alert` for every notification (firing, repeat, escalated, acknowledged, resolved)."""

        async def frames() -> AsyncIterator[str]:
            async for frame in gateway.stream.frames():
                yield frame

        return StreamingResponse(frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    return app
