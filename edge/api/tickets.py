"""Routes of the `tickets` tag: fault and rectification tickets (the active ones and the stored history), and moving
one on (acknowledge → start → resolve → close).

Must not decide anything: the decision layer's ticket book owns the tickets, their SLA clocks, who may move a taken
ticket on, and the audit of every move; these routes read it and the store's records, and hand it people's moves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from edge.api.deps import ALL, ApiState, State, needs, who
from edge.api.schemas import TicketBody, TicketOut
from edge.auth import Role, User
from edge.wording.alerts import ticket_words
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
    resolved_on: Annotated[
        date | None,
        Query(description="only those resolved on this day of the hall (YYYY-MM-DD), resolved or closed since"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TicketOut]:
    """Fault and rectification tickets, the most urgent first (overdue, then by the nearest SLA due time); with
    `resolved_on`, the latest resolved first. `kind=device_fault` is the technicians' list, `kind=rectification`
    (bad ratings, 差评整改) the hall manager's."""
    d = state.decider()
    store = state.current_store()
    rows = [d.ticket_json(t) for t in d.tickets.tickets]
    if resolved_on is not None and status == "active":
        status = "all"  # a resolved ticket is not active: the day asks for the resolved and closed ones
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

    if resolved_on is None:
        rows.sort(key=urgency)
    else:
        rows = [r for r in rows if _day(r.get("resolved_at"), state) == resolved_on]
        rows.sort(key=lambda r: str(r["resolved_at"]), reverse=True)
    return named(rows[:limit], state)


def named(rows: Iterable[dict[str, object]], state: ApiState) -> list[TicketOut]:
    """The tickets with the display names of the people they name (王经理 for wang), for the UI to show."""
    people = {a.user.name: a.user.display for a, _ in state.auth.accounts() if a.user.display}
    rows = [_worded(r, state) for r in rows]
    out = []
    for r in rows:
        steps = r.get("history")
        logins = {r.get(k) for k in ("acknowledged_by", "started_by", "resolved_by", "closed_by")}
        logins |= {s.get("by") for s in steps if isinstance(s, dict)} if isinstance(steps, list) else set()
        out.append(TicketOut.model_validate({**r, "names": {n: people[n] for n in logins if n in people}}))
    return out


def _worded(r: dict[str, object], state: ApiState) -> dict[str, object]:
    """A ticket with its words (`text`, `problem`: {zh, en}); a record stored before tickets had them gets them
    rendered now (edge/wording), from its rules' titles and the hall's names."""
    if isinstance(r.get("text"), dict) and isinstance(r.get("problem"), dict):
        return r
    d = state.decider()
    faults = r.get("faults")
    ids = [str(r.get("rule_id") or "")]
    ids += (
        [str(f["rule_id"]) for f in faults if isinstance(f, dict) and "rule_id" in f]
        if isinstance(faults, list)
        else []
    )
    behind = [(rid, d.engine.rule(rid)) for rid in dict.fromkeys(ids)]

    def text(key: str) -> str | None:
        value = r.get(key)
        return value if isinstance(value, str) else None

    words, problem = ticket_words(
        str(r.get("kind")),
        behind,
        text("device"),
        text("device_type"),
        text("window"),
        text("rating_ticket"),
        state.config.profile(),
    )
    return {**r, "text": words, "problem": problem}


def _day(at: object, state: ApiState) -> date | None:
    return datetime.fromisoformat(at).astimezone(state.tz).date() if isinstance(at, str) else None


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
        return named([json.loads(stored)], state)[0]
    return named([d.ticket_json(current)], state)[0]


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
    return named([d.ticket_json(moved)], state)[0]
