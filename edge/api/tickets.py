"""Routes of the `tickets` tag: fault and rectification tickets (the active ones and the stored history), and moving
one on (acknowledge → start → resolve → close).

Must not decide anything: the decision layer's ticket book owns the tickets, their SLA clocks, who may move a taken
ticket on, and the audit of every move; these routes read it and the store's records, and hand it people's moves.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from edge.api.deps import ALL, State, needs, who
from edge.api.schemas import TicketBody, TicketOut
from edge.auth import Role, User
from rules.tickets import TicketAssignedError, TicketTransitionError, UnknownTicketError

router = APIRouter(tags=["tickets"])


@router.get("/api/tickets", response_model=list[TicketOut], **needs(*ALL))
async def tickets(
    state: State,
    status: Annotated[
        Literal["active", "open", "acknowledged", "in_progress", "resolved", "closed", "all"], Query()
    ] = "active",
    priority: Annotated[Literal["P1", "P2", "P3"] | None, Query()] = None,
    kind: Annotated[Literal["device_fault", "rectification"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TicketOut]:
    """Fault and rectification tickets, the most urgent first (overdue, then by the nearest SLA due time)."""
    d = state.decider()
    store = state.current_store()
    rows = [d.ticket_json(t) for t in d.tickets.tickets]
    if store is not None and status not in ("active", "open", "acknowledged", "in_progress"):
        seen = {r["id"] for r in rows}
        rows += [r for r in map(json.loads, store.decisions.records("ticket", limit * 4)) if r["id"] not in seen]
    active = {"open", "acknowledged", "in_progress"}
    wanted = active if status == "active" else {"open", *active, "resolved", "closed"} if status == "all" else {status}
    rows = [r for r in rows if r["status"] in wanted]
    rows = [r for r in rows if (priority is None or r["priority"] == priority) and (kind is None or r["kind"] == kind)]

    def urgency(r: dict[str, object]) -> tuple[int, str]:
        overdue = bool(r.get("ack_overdue") or r.get("resolve_overdue"))
        due = r.get("ack_due") if r.get("status") == "open" else r.get("resolve_due")
        return (0 if overdue else 1, str(due or "9999"))

    rows.sort(key=urgency)
    return [TicketOut.model_validate(r) for r in rows[:limit]]


@router.get("/api/tickets/{ticket_id}", response_model=TicketOut, **needs(*ALL))
async def ticket(ticket_id: str, state: State) -> TicketOut:
    d = state.decider()
    try:
        current = d.tickets.get(ticket_id)
    except LookupError:
        store = state.current_store()
        stored = store.decisions.record("ticket", ticket_id) if store else None
        if stored is None:
            raise HTTPException(404, f"no ticket {ticket_id}") from None
        return TicketOut.model_validate(json.loads(stored))
    return TicketOut.model_validate(d.ticket_json(current))


@router.post("/api/tickets/{ticket_id}/{action}", response_model=TicketOut, **needs(Role.TECHNICIAN, Role.MANAGER))
async def ticket_action(
    ticket_id: str,
    action: Literal["acknowledge", "start", "resolve", "close"],
    body: TicketBody,
    request: Request,
    state: State,
) -> TicketOut:
    """Move a ticket on: acknowledge → start → resolve (with a note) → close. A ticket a technician acknowledged or
    started is theirs: another technician gets 403 naming them (a manager or an administrator may move it on)."""
    d = state.decider()
    if action == "resolve" and not body.note.strip():
        raise HTTPException(422, "note: say what was done to resolve it")
    user: User = request.state.user
    try:
        moved = d.ticket_transition(
            ticket_id, action, who(request, body.by), body.note, overseer=user.role is not Role.TECHNICIAN
        )
    except UnknownTicketError as exc:
        raise HTTPException(404, str(exc)) from None
    except TicketAssignedError as exc:
        raise HTTPException(403, str(exc)) from None
    except TicketTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    return TicketOut.model_validate(d.ticket_json(moved))
