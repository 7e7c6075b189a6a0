"""Routes of the `audit` tag: the newest changes people made, and whether the audit log's hash chain still verifies.

Must not write to the audit log: the decision layer, edge.versions and edge.auth append to it where the change is
made; this route only reads and verifies (edge.audit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from edge.api.deps import STARTING, State, needs
from edge.api.schemas import AuditEntryOut, AuditOut
from edge.audit import verify
from edge.auth import Role

router = APIRouter(tags=["audit"])


@router.get("/api/audit", response_model=AuditOut, **needs(Role.ADMINISTRATOR))
async def audit(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> AuditOut:
    """The newest changes people made (acknowledgements, silences, approvals, ticket moves, users…), newest
    first, and whether the whole hash chain still verifies."""
    store = state.current_store()
    if store is None:
        raise HTTPException(503, STARTING)
    state.flush()
    findings = verify(store.audit.rows(), store.audit.head())
    return AuditOut(
        intact=not findings,
        findings=[str(f) for f in findings],
        entries=[
            AuditEntryOut(
                id=r.id,
                at=datetime.fromtimestamp(r.entry.at, state.tz).isoformat(),
                actor=r.entry.actor,
                action=r.entry.action,
                subject=r.entry.subject,
                detail=dict(r.entry.detail),
            )
            for r in store.audit.rows(limit)
        ],
    )
