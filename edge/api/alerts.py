"""Routes of the `alerts` tag: alerts (active, and the history of resolved ones), acknowledging, and silences.

Must not decide anything: the decision layer (edge.decisions.Decider) owns the alerts and silences and audits every
change people make; these routes read it and the store's alert history, and hand it people's actions.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from edge.api.deps import ALL, ApiState, State, needs, who
from edge.api.schemas import AckBody, AlertDetail, AlertEnded, AlertOut, SilenceBody, SilenceOut
from edge.auth import Role
from edge.wording.alerts import alert_body_words
from rules.engine import AlertState, Silence

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts", response_model=list[AlertOut], **needs(*ALL))
async def alerts(
    state: State,
    status: Annotated[  # the query's `state` (the name `state` is the API's state here)
        Literal["active", "firing", "pending", "acknowledged", "resolved", "all"], Query(alias="state")
    ] = "active",
    severity: Annotated[str | None, Query(max_length=16)] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Alerts with their reason and evidence. `active` = pending, firing and acknowledged; `resolved` and `all`
    add the history (newest first)."""
    d = state.decider()
    store = state.current_store()
    rows = [d.alert_json(a) for a in d.engine.alerts.values()]
    if status in ("resolved", "all") and store is not None:
        seen = {str(r["fingerprint"]) for r in rows}
        for change in store.decisions.alert_history(limit * 4):
            item = json.loads(change.body)
            if item["state"] == "resolved" and item["fingerprint"] not in seen:
                seen.add(item["fingerprint"])
                rows.append(item)
    wanted = {
        "active": {"pending", "firing", "acknowledged"},
        "all": {s.value for s in AlertState},
    }.get(status, {status})
    rows = [r for r in rows if r["state"] in wanted]
    if severity:
        rows = [r for r in rows if r["severity"] == severity]
    if rule:
        rows = [r for r in rows if r["rule"] == rule]
    rows.sort(key=lambda r: str(r.get("fired_at") or r.get("active_since") or ""), reverse=True)
    return worded(rows[:limit], state)


def worded(rows: list[dict[str, object]], state: ApiState) -> list[AlertOut]:
    """The alerts with their words (a record stored before alerts had `text` gets them rendered now, by
    edge/wording) and the display name of who acknowledged each (`names`: login → 王经理), for the UI to show."""
    d = state.decider()
    people = {a.user.name: a.user.display for a, _ in state.auth.accounts() if a.user.display}
    profile = state.config.profile() if any(not isinstance(r.get("text"), dict) for r in rows) else None
    out = []
    for row in rows:
        r = dict(row)
        if not isinstance(r.get("text"), dict):
            r |= alert_body_words(r, d.engine.rule(str(r.get("rule"))), profile, state.tz).json()
        login = r.get("acknowledged_by")
        r["names"] = {login: people[login]} if isinstance(login, str) and login in people else {}
        out.append(AlertOut.model_validate(r))
    return out


@router.get("/api/alerts/{fingerprint}", response_model=AlertDetail, **needs(*ALL))
async def alert(fingerprint: str, state: State) -> AlertDetail:
    """One alert (active, or its last state) and its history."""
    d = state.decider()
    store = state.current_store()
    changes = store.decisions.alert_history(50, fingerprint) if store else []
    history = worded([json.loads(c.body) for c in changes], state)
    current = d.engine.alerts.get(fingerprint)
    if current is None and not history:
        raise HTTPException(404, f"no alert {fingerprint}")
    return AlertDetail(alert=worded([d.alert_json(current)], state)[0] if current else history[0], history=history)


@router.post("/api/alerts/{fingerprint}/ack", response_model=AlertOut | AlertEnded, **needs(Role.MANAGER))
async def acknowledge(fingerprint: str, body: AckBody, request: Request, state: State) -> AlertOut | AlertEnded:
    """Take an alert: it stops repeating and escalating; an event alert (a help request, a bad rating) ends."""
    d = state.decider()
    try:
        d.engine_acknowledge(fingerprint, who(request, body.by))
    except KeyError:
        raise HTTPException(404, f"no firing alert {fingerprint}") from None
    current = d.engine.alerts.get(fingerprint)
    if current is None:
        return AlertEnded(fingerprint=fingerprint, state="resolved")
    return worded([d.alert_json(current)], state)[0]


@router.get("/api/silences", response_model=list[SilenceOut], **needs(*ALL))
async def silences(state: State) -> list[SilenceOut]:
    d = state.decider()
    now = state.clock.now()
    tz = state.tz
    return [
        SilenceOut(
            id=s.id,
            rule=s.rule,
            labels=s.labels,
            starts_at=s.starts_at.astimezone(tz),
            ends_at=s.ends_at.astimezone(tz),
            created_by=s.created_by,
            comment=s.comment,
            active=s.starts_at <= now < s.ends_at,
        )
        for s in d.engine.silences.values()
    ]


@router.post("/api/silences", response_model=SilenceOut, status_code=201, **needs(Role.MANAGER))
async def add_silence(body: SilenceBody, request: Request, state: State) -> SilenceOut:
    """Mute matching alerts for a while (maintenance, a drill); they still show, marked as silenced. A `rule`
    that matches no rule in force is refused (422, with the names closest to it)."""
    d = state.decider()
    now = state.clock.now()
    s = Silence(
        uuid.uuid4().hex[:12],
        body.rule,
        body.labels,
        now,
        now + timedelta(minutes=body.minutes),
        who(request, body.by),
        body.comment,
    )
    try:
        d.engine_silence(s)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return SilenceOut(
        id=s.id,
        rule=s.rule,
        labels=s.labels,
        starts_at=s.starts_at.astimezone(state.tz),
        ends_at=s.ends_at.astimezone(state.tz),
        created_by=s.created_by,
        comment=s.comment,
        active=True,
    )


@router.delete("/api/silences/{silence_id}", status_code=204, **needs(Role.MANAGER))
async def end_silence(silence_id: str, request: Request, state: State) -> None:
    try:
        state.decider().engine_expire_silence(silence_id, who(request, None))
    except KeyError:
        raise HTTPException(404, f"no silence {silence_id}") from None
