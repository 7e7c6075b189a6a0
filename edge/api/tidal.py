"""Routes of the `tidal` tag: tidal-window recommendations (潮汐窗口), pending and stored, deciding on one, assigning a
window to an opening that proposed none, and the tidal windows in effect.

Must not decide anything: the decision layer's tidal tracker owns the recommendations, and carries out (commands,
notifications) and audits an approval or an assignment; these routes read it and the store's records, check the
manager's word against the hall (422 with the field's path) and hand it over (409 when the recommendation is no
longer pending).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from edge.api.deps import ALL, State, needs, who
from edge.api.schemas import DecisionBody, RecommendationOut
from edge.auth import Role
from edge.wording.tidal import recommendation_json
from rules.hall import HallSnapshot
from rules.tidal import projected_wait_min

router = APIRouter(tags=["tidal"])


class AssignBody(BaseModel):
    """The window (and staff) the manager sends to serve an opening that proposed no window."""

    model_config = ConfigDict(extra="forbid")
    window: str = Field(min_length=1, max_length=64, description="the window to open (a window id of the hall)")
    staff: str | None = Field(default=None, min_length=1, max_length=64, description="who serves there (optional)")
    by: str | None = Field(default=None, min_length=1, max_length=64)


class CandidateWindow(BaseModel):
    window_id: str
    name: str | None = Field(description="the window's display name (窗口 5), null when the hall names none")
    status: str = Field(description="closed, paused or open (open: nobody at the counter)")
    staff_id: str | None = Field(description="who was last at it")
    staff_name: str | None = Field(description="… their display name, when known")
    configured: bool = Field(description="its configured services already include the recommendation's")


class CandidateStaff(BaseModel):
    staff_id: str
    name: str | None = Field(description="display name, when known")


class AssignCandidatesOut(BaseModel):
    """What a manager can pick from for an opening that proposed no window."""

    rec_id: str
    services: list[str]
    windows: list[CandidateWindow]
    staff: list[CandidateStaff]


class TidalWindowOut(BaseModel):
    """A tidal window in effect: opened by an approved recommendation or assigned by the manager, and its effect."""

    window_id: str
    window_name: str | None
    services: list[str] = Field(description="the service group it was opened for")
    serves: list[str] = Field(description="what it was told to call")
    staff_id: str | None
    staff_name: str | None
    rec_id: str
    since: str = Field(description="when it was approved or assigned (ISO 8601, hall time)")
    by: str = Field(description="who approved or assigned it (login; empty in states saved before issue 19)")
    by_name: str | None = Field(description="… their display name")
    assigned: bool = Field(description="picked by the manager (assign a window), not proposed by the recommender")
    by_command: bool = Field(description="the queue system was told to open it; false: opened by hand")
    seen_open: bool = Field(description="the hall has reported it open since")
    wait_before_min: float | None = Field(description="the group's projected wait when approved (null: unbounded)")
    wait_now_min: float | None = Field(description="… and now (null: unbounded, no open window serves the group)")
    cover: bool = Field(
        default=False,
        description="an AB-post cover (AB岗顶岗): the partner sent to a paused window, not a tidal window to close",
    )


def _names(state: State) -> dict[str, str]:
    """Staff id → the roster's name (`staff:`), else the display name of the user of that name."""
    names = {a.user.name: a.user.display for a, _ in state.auth.accounts() if a.user.display}
    names.update({p.staff_id: p.name for p in state.reports.profile.staff})
    return names


def _window_names(hall: HallSnapshot) -> dict[str, str | None]:
    return {w.window_id: w.name for w in hall.windows}


@router.get(
    "/api/recommendations", response_model=list[RecommendationOut], response_model_exclude_unset=True, **needs(*ALL)
)
async def recommendations(
    state: State,
    status: Annotated[Literal["pending", "all"], Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RecommendationOut]:
    """Tidal-window recommendations (潮汐窗口) with the numbers behind them; `pending` await a decision."""
    d = state.decider()
    pending = json.loads(
        json.dumps([{**recommendation_json(r), "status": "pending"} for r in d.tidal.pending()], default=str)
    )
    if status == "pending":
        rows = pending[:limit]
    else:
        store = state.current_store()
        stored = [json.loads(b) for b in store.decisions.records("recommendation", limit)] if store else []
        ids = {p["id"] for p in pending}
        rows = pending + [r for r in stored if r["id"] not in ids][:limit]
    return [RecommendationOut.model_validate(r) for r in rows]


@router.get("/api/tidal/windows", response_model=list[TidalWindowOut], **needs(*ALL))
async def tidal_windows(state: State) -> list[TidalWindowOut]:
    """The tidal windows in effect (approved or assigned, not closed since) and the AB-post covers (`cover`), with
    who decided and the group's projected wait then and now."""
    d = state.decider()
    hall = state.snapshot()
    now = state.clock.now()
    names, windows = _names(state), _window_names(hall)
    out = []
    covers = {id(ow) for ow in d.tidal.covers()}
    for ow in sorted((*d.tidal.opened(), *d.tidal.covers()), key=lambda o: (o.opened_at, o.window_id)):
        out.append(
            TidalWindowOut(
                window_id=ow.window_id,
                window_name=windows.get(ow.window_id),
                services=list(ow.services),
                serves=list(ow.serves or ow.services),
                staff_id=ow.staff_id,
                staff_name=names.get(ow.staff_id) if ow.staff_id else None,
                rec_id=ow.rec_id,
                since=ow.opened_at.astimezone(state.tz).isoformat(),
                by=ow.approved_by,
                by_name=names.get(ow.approved_by),
                assigned=ow.assigned,
                by_command=ow.by_command,
                seen_open=ow.seen_open,
                wait_before_min=ow.wait_before_min,
                wait_now_min=projected_wait_min(hall, ow.services, d.tidal.settings, now),
                cover=id(ow) in covers,
            )
        )
    return out


@router.get("/api/recommendations/{rec_id}/candidates", response_model=AssignCandidatesOut, **needs(Role.MANAGER))
async def candidates(rec_id: str, state: State) -> AssignCandidatesOut:
    """For a pending opening: the windows that could be assigned to it (closed, paused, or open with nobody at the
    counter; configured for its services first) and the staff who could be sent (the tidal pool, then whoever was
    last at those windows). 409 when it is no longer pending."""
    d = state.decider()
    try:
        rec, windows, staff = d.assign_candidates(rec_id)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    names, window_names = _names(state), _window_names(state.snapshot())
    return AssignCandidatesOut(
        rec_id=rec.id,
        services=list(rec.services),
        windows=[
            CandidateWindow(
                window_id=c.window_id,
                name=window_names.get(c.window_id),
                status=str(c.status),
                staff_id=c.staff_id,
                staff_name=names.get(c.staff_id) if c.staff_id else None,
                configured=c.configured,
            )
            for c in windows
        ],
        staff=[CandidateStaff(staff_id=s, name=names.get(s)) for s in staff],
    )


@router.post(
    "/api/recommendations/{rec_id}/assign",
    response_model=RecommendationOut,
    response_model_exclude_unset=True,
    **needs(Role.MANAGER),
)
async def assign(rec_id: str, body: AssignBody, request: Request, state: State) -> RecommendationOut:
    """Assign a window (and optionally its staff) to an opening that proposed none: carried out like an approval
    when the hall has a queue system to tell, else recorded as opened by hand; either way audited
    (`recommendation.assign`), followed as a tidal window and checked. 422 (with the field) for a window the hall
    does not have or that cannot be assigned now, or staff nobody knows; 409 when the recommendation is no longer
    pending."""
    d = state.decider()
    try:
        _, windows, staff = d.assign_candidates(rec_id)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    hall = state.snapshot()
    known = {w.window_id for w in hall.windows}
    errors = []
    if body.window not in known:
        errors.append(_error("window", f"the hall has no window {body.window!r}", "unknown_window"))
    elif body.window not in {c.window_id for c in windows}:
        errors.append(_error("window", f"window {body.window!r} is busy or already a tidal window", "window_taken"))
    seen = {w.staff_id for w in hall.windows if w.staff_id}
    if body.staff is not None and body.staff not in set(staff) | seen:
        errors.append(_error("staff", f"no staff {body.staff!r} is known to the hall", "unknown_staff"))
    elif body.staff is not None and body.staff not in staff:
        errors.append(_error("staff", f"staff {body.staff!r} is at an open window", "staff_busy"))
    if errors:
        raise RequestValidationError(errors)
    try:
        rec = d.recommendation_assign(rec_id, body.window, body.staff, who(request, body.by))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RecommendationOut.model_validate(
        {**json.loads(json.dumps(recommendation_json(rec), default=str)), "status": "assigned"}
    )


def _error(field: str, msg: str, kind: str) -> dict[str, object]:
    return {"loc": ("body", field), "msg": msg, "type": kind}


@router.post(
    "/api/recommendations/{rec_id}/{decision}",
    response_model=RecommendationOut,
    response_model_exclude_unset=True,
    **needs(Role.MANAGER),
)
async def decide(
    rec_id: str, decision: Literal["approve", "reject"], body: DecisionBody, request: Request, state: State
) -> RecommendationOut:
    """Approve (the windows are opened: commands to the queue system and the window terminals, staff notified)
    or reject a pending recommendation. 409 when it is no longer pending, or for an opening that proposes no
    window (assign one: `POST …/assign`)."""
    d = state.decider()
    try:
        rec = d.recommendation_decision(rec_id, decision == "approve", who(request, body.by), body.reason)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RecommendationOut.model_validate(
        {**json.loads(json.dumps(recommendation_json(rec), default=str)), "status": f"{decision}d"}
    )
