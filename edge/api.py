"""The HTTP API (FastAPI, OpenAPI at /docs) and the web UI's files, built by `create_app(gateway)`.

Every route declares the roles that may call it (`needs(...)`, shown as `x-roles` in the OpenAPI document); the
administrator may call them all, `/api/health` is open for monitoring. Times are RFC 3339 in the hall's time zone.
The app holds the gateway it was made for; there are no globals.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Annotated, Any, Literal, TypedDict
from zoneinfo import ZoneInfo

import yaml
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from devices.errors import ConfigError, Problem
from devices.validation import line_of
from edge.audit import verify
from edge.auth import COOKIE, OPEN_USER, Auth, Role, Throttled, User
from edge.backtest import Result as BacktestResult
from edge.backtest import backtest
from edge.decisions import Decider
from edge.gateway import Gateway
from edge.reports import forecast
from edge.store import Store
from edge.versions import RuleVersions, parse_source
from edge.versions import diff as version_diff
from rules.engine import AlertState, Silence
from rules.hall import DeviceView, HallSnapshot, ServiceView, WindowView, ZoneView
from rules.kpi import WAIT_BUCKETS_MIN, DayReport, csv_daily, csv_hourly
from rules.language import RuleFile, parse_rules, summarise
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
    rules_version: int = Field(description="the rule version in force")
    rules_shadow: int | None = Field(description="the rule version running in shadow, if any")
    bundles: dict[str, int] | None = Field(description="signed rule bundles from the cloud since the start "
                                           "(received, applied, refused, repeated), when a key is configured")


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
    by: str | None = Field(
        default=None, min_length=1, max_length=64, description="who takes it; default (and with users: always) you"
    )


class SilenceBody(_Body):
    rule: str = Field(min_length=1, max_length=64, description="rule id; * and ? are wildcards")
    labels: dict[str, str] = Field(default_factory=dict, description="label values to match; wildcards allowed")
    minutes: float = Field(gt=0, le=7 * 24 * 60, description="how long, from now")
    by: str | None = Field(default=None, min_length=1, max_length=64)
    comment: str = Field(min_length=1, max_length=500, description="why (kept with the silence)")


class TicketBody(_Body):
    by: str | None = Field(default=None, min_length=1, max_length=64, description="the technician; default you")
    note: str = Field(default="", max_length=2000, description="what was done (required to resolve)")


class DecisionBody(_Body):
    by: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500, description="why (for a rejection)")


class LoginBody(_Body):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    user: str
    role: Role
    name: str | None
    open: bool = Field(description="no users configured: everyone on this machine is the administrator")
    hall: str
    hall_name: str | None
    hall_name_en: str | None
    timezone: str


class UserOut(BaseModel):
    user: str
    role: Role
    name: str | None
    source: Literal["config", "database"]


class RulesCheck(BaseModel):
    ok: bool
    rules: int
    problems: list[dict[str, object]] = Field(description="each with path, message and the YAML line (1-based)")


class VersionBody(_Body):
    source: str = Field(min_length=1, max_length=1 << 20, description="the rule file (YAML)")
    comment: str = Field(default="", max_length=500, description="what changed and why")


class CommentBody(_Body):
    comment: str = Field(default="", max_length=500)


class BacktestBody(_Body):
    from_: datetime = Field(alias="from", description="start (ISO 8601; without an offset: hall time)")
    to: datetime = Field(description="end (ISO 8601), at most 31 days after the start")
    version: int | None = Field(default=None, ge=1, description="the candidate: a stored version …")
    source: str | None = Field(default=None, min_length=1, max_length=1 << 20, description="… or a rule file (YAML)")
    against: int | None = Field(default=None, ge=1, description="compare with this version (default: the active)")


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


class _RouteRoles(TypedDict):
    dependencies: list[Any]
    openapi_extra: dict[str, Any]


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # reports: days a hall's log can hold (and datetime can)
ALL = (Role.MANAGER, Role.TECHNICIAN, Role.ADMINISTRATOR)
WEB = resources.files("edge").joinpath("web")


def create_app(gateway: Gateway, auth: Auth | None = None) -> FastAPI:
    app = FastAPI(
        title="hallops gateway",
        version=VERSION,
        description="Live state of one government service hall (政务服务大厅), from its devices' MQTT telemetry. "
        "Sign in with `POST /api/session` (a cookie) or send HTTP Basic credentials; each route lists its roles "
        "under `x-roles` (the administrator may call every route).",
    )
    tz = ZoneInfo(gateway.cfg.hall.timezone)
    page = WEB.joinpath("index.html").read_text(encoding="utf-8")
    auth = auth or Auth(gateway.cfg.accounts(), gateway.cfg.storage.path, gateway.cfg.http.session_hours)
    app.state.auth = auth  # the server closes its database connection on the way out

    def signed_in(request: Request) -> User:
        if auth.open:
            return OPEN_USER
        token = request.cookies.get(COOKIE)
        user = auth.session(token) if token else None
        header = request.headers.get("authorization", "")
        if user is None and header[:6].lower() == "basic ":
            user = auth.basic(header[6:].strip())
        if user is None and header[:7].lower() == "bearer ":
            user = auth.bearer(header[7:].strip())
        if user is None:
            raise HTTPException(401, "sign in first (POST /api/session, a bearer token, or HTTP Basic credentials)")
        return user

    def needs(*roles: Role) -> _RouteRoles:
        """The route's roles: checked on every call, and listed in the OpenAPI document."""
        wanted = frozenset(roles)

        def check(request: Request, user: User = Depends(signed_in)) -> User:  # noqa: B008 - a closure: Annotated cannot name it
            if not user.may(wanted):
                allowed = " or ".join(sorted({r.value for r in wanted} | {Role.ADMINISTRATOR.value}))
                raise HTTPException(403, f"this needs the {allowed} role; {user.name} is {user.role.value}")
            request.state.user = user  # for who(): the route need not look the session up again
            return user

        return {"dependencies": [Depends(check)], "openapi_extra": {"x-roles": sorted(r.value for r in wanted)}}

    def who(request: Request, by: str | None) -> str:
        """The name recorded for an action: the signed-in user (a body's `by` only when no users are configured)."""
        user: User = request.state.user
        return (by or "local") if user is OPEN_USER else user.name

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")

    @app.post("/api/session", response_model=Me, tags=["session"], openapi_extra={"x-roles": []})
    async def login(body: LoginBody, request: Request, response: Response) -> Me:
        """Sign in: sets an HttpOnly session cookie valid for `http.session_hours`. After 5 wrong passwords for a
        name, or from one address, within 15 min: 429 with Retry-After."""
        if auth.open:
            return me(OPEN_USER)
        try:
            result = auth.login(body.user, body.password, request.client.host if request.client else "")
        except Throttled as exc:
            raise HTTPException(429, str(exc), headers={"retry-after": str(math.ceil(exc.retry_after_s))}) from None
        if result is None:
            raise HTTPException(401, "wrong user name or password")
        user, token = result
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(auth.session_s),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return me(user)

    @app.get("/api/session", response_model=Me, tags=["session"], openapi_extra={"x-roles": sorted(ALL)})
    async def session(user: User = Depends(signed_in)) -> Me:  # noqa: B008 - as above
        """Who is signed in (401 when nobody)."""
        return me(user)

    @app.delete("/api/session", status_code=204, tags=["session"], openapi_extra={"x-roles": []})
    async def logout(request: Request, response: Response) -> None:
        token = request.cookies.get(COOKIE)
        if token:
            auth.logout(token)
        response.delete_cookie(COOKIE, path="/")

    def me(user: User) -> Me:
        h = gateway.cfg.hall
        return Me(user=user.name, role=user.role, name=user.display, open=auth.open, hall=gateway.hall_id,
                  hall_name=h.name, hall_name_en=h.name_en, timezone=h.timezone)  # fmt: skip

    @app.get("/api/health", response_model=Health, tags=["gateway"], openapi_extra={"x-roles": []})
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
            rules_version=gateway.rules_version,
            rules_shadow=gateway.decider.shadow.number if gateway.decider and gateway.decider.shadow else None,
            bundles=asdict(gateway.bundles.counters) if gateway.bundles is not None else None,
        )

    @app.get("/api/hall", response_model=HallSnapshot, tags=["hall"], **needs(*ALL))
    async def hall() -> HallSnapshot:
        """The whole hall now: totals, services (queues), windows, devices, zones."""
        return gateway.snapshot()

    @app.get("/api/services", response_model=list[ServiceView], tags=["hall"], **needs(*ALL))
    async def services() -> tuple[ServiceView, ...]:
        """Per service: waiting tickets, longest and projected wait, arrivals and completions, mean service time."""
        return gateway.snapshot().services

    @app.get("/api/windows", response_model=list[WindowView], tags=["hall"], **needs(*ALL))
    async def windows() -> tuple[WindowView, ...]:
        """Per window: status, staff, current ticket, idle and pause clocks, staff presence from cameras."""
        return gateway.snapshot().windows

    @app.get("/api/devices", response_model=list[DeviceView], tags=["hall"], **needs(*ALL))
    async def devices() -> tuple[DeviceView, ...]:
        """Per device: online, last seen, health and the problems behind it."""
        return gateway.snapshot().devices

    @app.get("/api/zones", response_model=list[ZoneView], tags=["hall"], **needs(*ALL))
    async def zones() -> tuple[ZoneView, ...]:
        """People counted per camera zone."""
        return gateway.snapshot().zones

    @app.get("/api/dead-letters", response_model=list[DeadLetterOut], tags=["gateway"], **needs(Role.TECHNICIAN))
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

    @app.get("/api/alerts", tags=["alerts"], **needs(*ALL))
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

    @app.get("/api/alerts/{fingerprint}", tags=["alerts"], **needs(*ALL))
    async def alert(fingerprint: str) -> dict[str, object]:
        """One alert (active, or its last state) and its history."""
        d = decider()
        history = [json.loads(b) for _, b in gateway.store.alert_history(50, fingerprint)] if gateway.store else []
        current = d.engine.alerts.get(fingerprint)
        if current is None and not history:
            raise HTTPException(404, f"no alert {fingerprint}")
        return {"alert": d.alert_json(current) if current else history[0], "history": history}

    @app.post("/api/alerts/{fingerprint}/ack", tags=["alerts"], **needs(Role.MANAGER))
    async def acknowledge(fingerprint: str, body: AckBody, request: Request) -> dict[str, object]:
        """Take an alert: it stops repeating and escalating; an event alert (a help request, a bad rating) ends."""
        d = decider()
        try:
            d.engine_acknowledge(fingerprint, who(request, body.by))
        except KeyError:
            raise HTTPException(404, f"no firing alert {fingerprint}") from None
        current = d.engine.alerts.get(fingerprint)
        return d.alert_json(current) if current else {"fingerprint": fingerprint, "state": "resolved"}

    @app.get("/api/silences", response_model=list[SilenceOut], tags=["alerts"], **needs(*ALL))
    async def silences() -> list[SilenceOut]:
        d = decider()
        now = gateway.clock.now()
        return [
            SilenceOut(id=s.id, rule=s.rule, labels=s.labels, starts_at=s.starts_at.astimezone(tz),
                       ends_at=s.ends_at.astimezone(tz), created_by=s.created_by, comment=s.comment,
                       active=s.starts_at <= now < s.ends_at)
            for s in d.engine.silences.values()
        ]  # fmt: skip

    @app.post("/api/silences", response_model=SilenceOut, status_code=201, tags=["alerts"], **needs(Role.MANAGER))
    async def add_silence(body: SilenceBody, request: Request) -> SilenceOut:
        """Mute matching alerts for a while (maintenance, a drill); they still show, marked as silenced."""
        d = decider()
        now = gateway.clock.now()
        s = Silence(uuid.uuid4().hex[:12], body.rule, body.labels, now, now + timedelta(minutes=body.minutes),
                    who(request, body.by), body.comment)  # fmt: skip
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

    @app.delete("/api/silences/{silence_id}", status_code=204, tags=["alerts"], **needs(Role.MANAGER))
    async def end_silence(silence_id: str, request: Request) -> None:
        try:
            decider().engine_expire_silence(silence_id, who(request, None))
        except KeyError:
            raise HTTPException(404, f"no silence {silence_id}") from None

    @app.get("/api/rules", response_model=list[RuleOut], tags=["rules"], **needs(*ALL))
    async def rules() -> list[RuleOut]:
        """The rules in force."""
        enabled = {r.id: (r.enabled, r.description) for r in gateway.rules.rules}
        return [
            RuleOut(id=x.id, description=enabled[x.id][1], severity=x.severity.value, kind=x.kind,
                    subject=x.subject, enabled=enabled[x.id][0])
            for x in summarise(gateway.rules)
        ]  # fmt: skip

    @app.get("/api/tickets", tags=["tickets"], **needs(*ALL))
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

    @app.get("/api/tickets/{ticket_id}", tags=["tickets"], **needs(*ALL))
    async def ticket(ticket_id: str) -> dict[str, object]:
        d = decider()
        try:
            return d.ticket_json(d.tickets.get(ticket_id))
        except LookupError:
            stored = gateway.store.record("ticket", ticket_id) if gateway.store else None
            if stored is None:
                raise HTTPException(404, f"no ticket {ticket_id}") from None
            return dict(json.loads(stored))

    @app.post("/api/tickets/{ticket_id}/{action}", tags=["tickets"], **needs(Role.TECHNICIAN, Role.MANAGER))
    async def ticket_action(
        ticket_id: str,
        action: Literal["acknowledge", "start", "resolve", "close"],
        body: TicketBody,
        request: Request,
    ) -> dict[str, object]:
        """Move a ticket on: acknowledge → start → resolve (with a note) → close."""
        d = decider()
        if action == "resolve" and not body.note.strip():
            raise HTTPException(422, "note: say what was done to resolve it")
        try:
            return d.ticket_json(d.ticket_transition(ticket_id, action, who(request, body.by), body.note))
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None
        except TicketTransitionError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/recommendations", tags=["tidal"], **needs(*ALL))
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

    @app.post("/api/recommendations/{rec_id}/{decision}", tags=["tidal"], **needs(Role.MANAGER))
    async def decide(
        rec_id: str, decision: Literal["approve", "reject"], body: DecisionBody, request: Request
    ) -> dict[str, object]:
        """Approve (the windows are opened: commands to the queue system and the window terminals, staff notified)
        or reject a pending recommendation."""
        d = decider()
        try:
            rec = d.recommendation_decision(rec_id, decision == "approve", who(request, body.by), body.reason)
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return {**json.loads(json.dumps(rec.to_dict(), default=str)), "status": f"{decision}d"}

    @app.get("/api/stream", tags=["live"], response_class=StreamingResponse, **needs(*ALL))
    async def stream() -> StreamingResponse:
        """Server-sent events: `alert`, `ticket`, `recommendation` for every notification; `hall` (the snapshot) once
        a second; `changed` with the parts of the decision state that moved (engine, tickets, tidal)."""

        async def frames() -> AsyncIterator[str]:
            async for frame in gateway.stream.frames():
                yield frame

        return StreamingResponse(frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @app.get("/api/devices/{device_id}", tags=["hall"], **needs(*ALL))
    async def device(device_id: str) -> dict[str, object]:
        """One device for the technician: its state now, its latest messages of the last 24 h (heartbeats left out)
        and its tickets."""
        view = next((d for d in gateway.snapshot().devices if d.device_id == device_id), None)
        if view is None:
            raise HTTPException(404, f"no device {device_id}")
        gateway.flush()
        store = gateway.store
        since = gateway.clock.now().timestamp() - 86400
        recent = [
            {"at": datetime.fromtimestamp(at, tz).isoformat(), "type": kind, "payload": _short(payload)}
            for at, kind, payload in (store.device_events(device_id, since) if store else [])
        ]
        d = decider()
        tickets = [d.ticket_json(t) for t in d.tickets.tickets if t.device == device_id]
        ids = {t["id"] for t in tickets}
        if store is not None:
            for body in store.records("ticket", 500):
                item = json.loads(body)
                if item.get("device") == device_id and item["id"] not in ids:
                    tickets.append(item)
        tickets.sort(key=lambda t: str(t.get("opened_at")), reverse=True)
        return {"device": TypeAdapter(DeviceView).dump_python(view, mode="json"), "recent": recent, "tickets": tickets}

    @app.get("/api/rules/source", response_class=PlainTextResponse, tags=["rules"], **needs(*ALL))
    async def rules_source() -> str:
        """The YAML of the rule version in force."""
        return versions().get(gateway.rules_version).source

    def versions() -> RuleVersions:
        if gateway.versions is None:
            raise HTTPException(503, "the gateway is starting")
        return gateway.versions

    def version(number: int) -> dict[str, object]:
        try:
            v = versions().get(number)
        except KeyError:
            raise HTTPException(404, f"no rule version {number}") from None
        return {**v.summary(), "source": v.source}

    def unprocessable(exc: ConfigError, text: str) -> HTTPException:
        problems = [{"path": p.path, "message": p.message, "line": line_of(text, p.path) if p.path else None}
                    for p in exc.problems]  # fmt: skip
        first = exc.problems[0] if exc.problems else Problem("", "invalid")
        where = f"source.{first.path}" if first.path else "source"
        return HTTPException(422, {"message": f"{where}: {first.message}", "problems": problems})

    @app.get("/api/rules/versions", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def rule_versions() -> dict[str, object]:
        """Every rule version (newest first), which is in force, which runs in shadow, and the activations."""
        v = versions()
        return {
            "active": gateway.rules_version,
            "shadow": v.shadow_number(),
            "versions": [x.summary() for x in reversed(v.all())],
            "activations": v.activations(50),
        }

    @app.post("/api/rules/versions", status_code=201, tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def add_rule_version(body: VersionBody, request: Request) -> dict[str, object]:
        """Store a rule file as a new immutable version (not put in force). The same YAML as an existing version
        returns that version with `created: false`. Invalid rules: 422 with every problem, its path and line."""
        try:
            v, created = versions().add(body.source, who(request, None), body.comment, "web")
        except ConfigError as exc:
            raise unprocessable(exc, body.source) from None
        return {**v.summary(), "created": created}

    @app.get("/api/rules/versions/{number}", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def rule_version(number: Annotated[int, FastPath(ge=1, le=2**31)]) -> dict[str, object]:
        """One version with its YAML."""
        return version(number)

    @app.get("/api/rules/versions/{number}/diff", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def rule_version_diff(
        number: Annotated[int, FastPath(ge=1, le=2**31)],
        against: Annotated[int | None, Query(ge=1, le=2**31, description="default: the version in force")] = None,
    ) -> dict[str, object]:
        """What changed from `against` to `number`: rules added, removed, changed, and the unified YAML diff."""
        try:
            old, new = versions().get(against or gateway.rules_version), versions().get(number)
        except KeyError as exc:
            raise HTTPException(404, f"no rule version {exc.args[0]}") from None
        return version_diff(old, new).to_dict()

    @app.post("/api/rules/versions/{number}/activate", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def activate_rule_version(
        number: Annotated[int, FastPath(ge=1, le=2**31)], body: CommentBody, request: Request
    ) -> dict[str, object]:
        """Put a version in force now; the rules that did not change keep their timers."""
        try:
            v = versions().activate(number, who(request, None), body.comment)
        except KeyError:
            raise HTTPException(404, f"no rule version {number}") from None
        gateway.follow_rules()
        return v.summary()

    @app.post("/api/rules/rollback", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def rollback_rules(body: CommentBody, request: Request) -> dict[str, object]:
        """Put back the version that was in force before the current one."""
        try:
            v = versions().rollback(who(request, None), body.comment)
        except LookupError as exc:
            raise HTTPException(409, str(exc)) from None
        gateway.follow_rules()
        return v.summary()

    @app.post("/api/rules/versions/{number}/shadow", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def shadow_rule_version(
        number: Annotated[int, FastPath(ge=1, le=2**31)], body: CommentBody, request: Request
    ) -> dict[str, object]:
        """Run a version in shadow: evaluated beside the active one on live data, acting on nothing."""
        try:
            versions().set_shadow(number, who(request, None), body.comment)
        except KeyError:
            raise HTTPException(404, f"no rule version {number}") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        gateway.follow_rules()
        return await shadow_report()

    @app.get("/api/rules/shadow", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def shadow_report() -> dict[str, object]:
        """The shadow version's would-have-fired diff against the active version since the shadow started."""
        report = decider().shadow_report()
        if report is None:
            raise HTTPException(404, "no rule version runs in shadow")
        return report

    @app.delete("/api/rules/shadow", status_code=204, tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def stop_shadow(request: Request) -> None:
        """Stop the shadow version."""
        if versions().shadow_number() is None:
            raise HTTPException(404, "no rule version runs in shadow")
        versions().set_shadow(None, who(request, None))
        gateway.follow_rules()

    @app.post("/api/rules/shadow/promote", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def promote_shadow(body: CommentBody, request: Request) -> dict[str, object]:
        """Put the shadow version in force in one step; its alerts of the changed rules carry over with their
        start times, so a condition that has held long enough fires at once."""
        number = versions().shadow_number()
        if number is None:
            raise HTTPException(404, "no rule version runs in shadow")
        v = versions().activate(number, who(request, None), body.comment, kind="promote")
        gateway.follow_rules()
        return v.summary()

    backtest_lock = asyncio.Lock()

    @app.post("/api/rules/backtest", tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def run_backtest(body: BacktestBody) -> dict[str, object]:
        """Replay the recorded events of a period through a candidate (a stored version or a rule file) and the
        active version (or `against`): what each would have fired, the tickets and recommendations, and the diff.
        One backtest at a time (409 while another runs)."""
        tz = ZoneInfo(gateway.cfg.hall.timezone)
        start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (body.from_, body.to))
        if end <= start:
            raise HTTPException(422, "to: must be after from")
        if end - start > timedelta(days=31):
            raise HTTPException(422, "to: a backtest covers at most 31 days")
        if (body.version is None) == (body.source is None):
            raise HTTPException(422, "version: give either version or source")
        try:
            base = versions().get(body.against or gateway.rules_version).rules
            if body.source is not None:
                try:
                    candidate = parse_source(body.source, "source")
                except ConfigError as exc:
                    raise unprocessable(exc, body.source) from None
            else:
                assert body.version is not None
                candidate = versions().get(body.version).rules
        except KeyError as exc:
            raise HTTPException(404, f"no rule version {exc.args[0]}") from None
        if backtest_lock.locked():
            raise HTTPException(409, "a backtest is running; try again when it is done")
        async with backtest_lock:
            gateway.flush()
            result = await asyncio.to_thread(backtest_in_thread, base, candidate, start, end)
        return result.to_dict(tz)

    def backtest_in_thread(base: RuleFile, candidate: RuleFile, start: datetime, end: datetime) -> BacktestResult:
        store = Store(gateway.cfg.storage.path)  # its own connection: the gateway's is not for other threads
        try:
            return backtest(gateway.cfg, store, base, candidate, start, end, parallel=end - start > timedelta(hours=12))
        finally:
            store.close()

    @app.post("/api/rules/check", response_model=RulesCheck, tags=["rules"], **needs(Role.ADMINISTRATOR))
    async def rules_check(request: Request) -> RulesCheck:
        """Validate a rule file (the request body, YAML text) without applying it: every problem with its field
        path and the line it is on."""
        raw = await request.body()
        if len(raw) > 1 << 20:
            raise HTTPException(413, "a rule file is at most 1 MiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HTTPException(422, f"body: not UTF-8 text (byte {exc.start})") from None
        try:
            parsed = parse_rules(yaml.safe_load(text), "body")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            return RulesCheck(ok=False, rules=0, problems=[{"path": "", "message": f"YAML syntax: {problem}",
                                                            "line": line}])  # fmt: skip
        except ConfigError as exc:
            return RulesCheck(
                ok=False,
                rules=0,
                problems=[{"path": p.path, "message": p.message, "line": line_of(text, p.path)} for p in exc.problems],
            )
        return RulesCheck(ok=True, rules=len(parsed.rules), problems=[])

    @app.get("/api/users", response_model=list[UserOut], tags=["session"], **needs(Role.ADMINISTRATOR))
    async def users() -> list[UserOut]:
        """Who may sign in: the database's users (`hallops users add`) and the configuration's `users:`."""
        return [
            UserOut(user=a.user.name, role=a.user.role, name=a.user.display, source=source)
            for a, source in auth.accounts()
        ]

    def checked(day: date) -> date:
        if not FIRST_DAY <= day <= LAST_DAY:
            raise HTTPException(422, f"day: {day} is out of range ({FIRST_DAY} to {LAST_DAY})")
        return day

    def day_report(day: date) -> dict[str, Any]:
        checked(day)
        gateway.flush()
        now = gateway.clock.now()
        report = gateway.reports.report(day, now, gateway.store)
        body: dict[str, Any] = TypeAdapter(DayReport).dump_python(report, mode="json")
        body["buckets"] = [None if math.isinf(b) else b for b in WAIT_BUCKETS_MIN]
        return body

    @app.get("/api/kpi/today", tags=["reports"], **needs(*ALL))
    async def kpi_today() -> dict[str, Any]:
        """Today's KPIs so far (SL15, P95 wait, no-show, utilisation, kiosks, device availability, satisfaction),
        people waiting every 5 min, tickets per 15 min with the learned forecast, and each service's waits."""
        now = gateway.clock.now()
        body = day_report(now.astimezone(tz).date())
        body.pop("hours", None)
        midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)
        slots = [midnight + timedelta(minutes=15 * k) for k in range(96)]
        services = [s.code for s in gateway.snapshot().services]
        rate = gateway.decider.demand.rate if gateway.decider else (lambda s, at: None)
        body["forecast"] = [(at.isoformat(), n) for at, n in forecast(rate, services, slots)]
        return body

    @app.get("/api/reports/{day}", tags=["reports"], **needs(Role.MANAGER))
    async def report(day: date) -> dict[str, Any]:
        """One day's KPIs for the whole hall, per service, and per hour (hall and service rows)."""
        return day_report(day)

    @app.get("/api/reports/{day}/{kind}.csv", response_class=PlainTextResponse, tags=["reports"], **needs(Role.MANAGER))
    async def report_csv(day: date, kind: Literal["daily", "hourly"]) -> PlainTextResponse:
        """The day's report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names)."""
        checked(day)
        gateway.flush()
        r = gateway.reports.report(day, gateway.clock.now(), gateway.store)
        text = csv_daily(r) if kind == "daily" else csv_hourly(r)
        return PlainTextResponse(
            "\ufeff" + text,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="hallops-{gateway.hall_id}-{day}-{kind}.csv"'},
        )

    @app.get("/api/audit", tags=["audit"], **needs(Role.ADMINISTRATOR))
    async def audit(limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, object]:
        """The newest changes people made (acknowledgements, silences, approvals, ticket moves, users…), newest
        first, and whether the whole hash chain still verifies."""
        store = gateway.store
        if store is None:
            raise HTTPException(503, "the gateway is starting")
        gateway.flush()
        findings = verify(store.audit_rows(), store.audit_head())
        return {
            "intact": not findings,
            "findings": [str(f) for f in findings],
            "entries": [
                {"id": r.id, "at": datetime.fromtimestamp(r.entry.at, tz).isoformat(), "actor": r.entry.actor,
                 "action": r.entry.action, "subject": r.entry.subject, "detail": r.entry.detail}
                for r in store.audit_rows(limit)
            ],
        }  # fmt: skip

    return app


def _short(payload: bytes, limit: int = 400) -> str:
    text = payload.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"
