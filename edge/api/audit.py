"""Routes of the `audit` tag: the newest changes people made, and whether the audit log's hash chain still verifies.

Must not write to the audit log: the decision layer, edge.versions and edge.auth append to it where the change is
made; this route only reads and verifies (edge.audit), and checks the chain against the newest anchor in
`audit.anchor_file` (edge.anchor).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from edge.anchor import check, key_id, key_path, newest_anchor, read_key
from edge.api.deps import STARTING, State, needs
from edge.api.schemas import AuditAnchorOut, AuditEntryOut, AuditOut
from edge.audit import verify
from edge.auth import Role
from edge.config import GatewayConfig

router = APIRouter(tags=["audit"])


@router.get("/api/audit", response_model=AuditOut, **needs(Role.ADMINISTRATOR))
async def audit(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> AuditOut:
    """The newest changes people made (acknowledgements, silences, approvals, ticket moves, users…), newest
    first, and whether the whole hash chain still verifies."""
    store = state.current_store()
    if store is None:
        raise HTTPException(503, STARTING)
    state.flush()
    chain = store.audit.rows()
    findings = [str(f) for f in verify(chain, store.audit.head())]
    anchor = _newest_anchor(state.config, {r.id: r.hash for r in chain})
    if anchor is not None and anchor.problem is not None:
        findings.append(f"the newest anchor ({anchor.at}, row {anchor.count}): {anchor.problem}")
    return AuditOut(
        intact=not findings,
        findings=findings,
        anchor=anchor,
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


def _newest_anchor(cfg: GatewayConfig, hashes: dict[int, str]) -> AuditAnchorOut | None:
    """The newest anchor of this hall in `audit.anchor_file` checked against the chain (`hashes`: row id → hash) and
    the box's own key; None when no file is configured or it holds none yet."""
    path, hall = cfg.audit.anchor_file, cfg.hall.id
    if path is None or hall is None:
        return None
    try:
        found = newest_anchor(path, hall)
        public = read_key(key_path(cfg)).public_key()
    except FileNotFoundError:
        return None  # nothing published yet
    except (OSError, ValueError) as exc:
        return AuditAnchorOut(at=None, count=None, matches=False, problem=f"cannot be read: {exc}")
    if found is None:
        return None
    problems = check([found], hashes, {key_id(public): public})
    anchor = found[1]
    problem = problems[0].problem if problems else None
    return AuditAnchorOut(at=anchor.at, count=anchor.count, matches=problem is None, problem=problem)
