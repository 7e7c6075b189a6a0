"""Routes of the `commands` tag: the commands the gateway sent the hall's devices, and whether each was heard back.

Must not decide anything: the decision layer's command tracker (rules/commands.py, `Decider.commands`) sends,
re-sends and gives up; this route only reads it.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from edge.api.deps import ALL, State, needs
from edge.api.schemas import CommandOut
from rules.commands import TrackedCommand

router = APIRouter(tags=["commands"])


@router.get("/api/commands", response_model=list[CommandOut], **needs(*ALL))
async def commands(
    state: State,
    status: Annotated[Literal["pending", "acknowledged", "failed", "unacknowledged", "all"], Query()] = "all",
    device: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[CommandOut]:
    """Recent device commands, newest first, with their acknowledgement status: every one still pending and the
    settled ones of the last 24 h (at most 1,000 kept)."""
    rows = [
        c
        for c in reversed(state.decider().commands.commands)
        if status in ("all", c.status.value) and device in (None, c.device_id)
    ]
    return [_out(c, state) for c in rows[:limit]]


def _out(c: TrackedCommand, state: State) -> CommandOut:
    tz = state.tz
    return CommandOut(
        cmd_id=c.cmd_id,
        device=c.device_id,
        device_type=c.device_type,
        type=c.type,
        status=c.status,
        attempts=c.attempts,
        sent_at=c.sent_at.astimezone(tz),
        last_sent_at=c.last_sent_at.astimezone(tz),
        next_at=c.next_at.astimezone(tz) if c.next_at else None,
        settled_at=c.settled_at.astimezone(tz) if c.settled_at else None,
        error=c.error,
        superseded=c.superseded,
        payload=json.loads(c.payload),
    )
