"""Routes of the `tidal` tag: tidal-window recommendations (潮汐窗口), pending and stored, and deciding on one.

Must not decide anything: the decision layer's tidal tracker owns the recommendations, and carries out (commands,
notifications) and audits an approval; these routes read it and the store's records, and hand it the manager's word.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from edge.api.deps import ALL, State, needs, who
from edge.api.schemas import DecisionBody, RecommendationOut
from edge.auth import Role
from edge.wording.tidal import recommendation_json

router = APIRouter(tags=["tidal"])


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
    or reject a pending recommendation."""
    d = state.decider()
    try:
        rec = d.recommendation_decision(rec_id, decision == "approve", who(request, body.by), body.reason)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RecommendationOut.model_validate(
        {**json.loads(json.dumps(recommendation_json(rec), default=str)), "status": f"{decision}d"}
    )
