"""Routes of the `rota` tag: the staff's lunch breaks (错峰午休) — today's plan as it stands live, and tomorrow's,
planned a day ahead.

Must not plan or move a break: the decision layer's `LunchBreaks` (edge/decisions/breaks.py) does; this reads it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from edge.api.deps import State, needs
from edge.auth import Role

router = APIRouter(tags=["rota"])


class HeldBy(BaseModel):
    service: str
    name: str | None
    name_en: str | None
    waiting: int = Field(description="tickets waiting for it when the break was held back")
    wait_min: float | None = Field(description="its projected wait then, minutes (null: no open window served it)")


class BreakOut(BaseModel):
    window_id: str
    window_name: str | None
    window_name_en: str | None
    staff_id: str | None = Field(description="whose break it is (the window is their post)")
    staff_name: str | None
    staff_name_en: str | None
    start: str = Field(description="when it starts now (ISO 8601, hall time): the planned start, moved by holds")
    end: str
    planned_start: str = Field(description="when the plan made a day ahead starts it")
    planned_end: str
    minutes: int
    state: Literal["planned", "due", "held", "on_break", "over", "missed"] = Field(
        description="planned: still to come; due: the window should pause after its ticket in hand; held: held back "
        "15 min while its queue is long; on_break: the window paused; over: open again (or closed); missed: its end "
        "passed and the window never paused for it"
    )
    holds: int = Field(description="how many times it was held back (at most 2: lunch is delayed, never cancelled)")
    began: str | None = Field(description="when the window paused for it")
    cover_window_id: str | None = Field(description="the AB partner's window, which serves this window's services")
    cover_window_name: str | None
    cover_window_name_en: str | None
    cover_staff_id: str | None
    cover_staff_name: str | None
    cover_staff_name_en: str | None
    held_by: list[HeldBy] = Field(description="the services whose queue held it back the last time")


class BreakDayOut(BaseModel):
    day: str
    planned: bool
    known_demand: bool = Field(
        description="planned from the weekday's recorded demand; false: no history yet, the breaks only keep every "
        "service a window and AB partners apart"
    )
    problem: Literal["none_to_plan", "pending", "failed"] | None = Field(
        description="none_to_plan: nobody has staff.<id>.lunch_min; pending: being planned; failed: see `detail`"
    )
    detail: str | None
    late_expected: float | None = Field(description="tickets the plan expects to be called past the target wait")
    breaks: list[BreakOut]


@router.get("/api/rota/breaks", response_model=BreakDayOut, **needs(Role.MANAGER, Role.ADMINISTRATOR))
async def breaks(state: State, day: Annotated[Literal["today", "tomorrow"], Query()] = "today") -> BreakDayOut:
    """The staff's lunch breaks of `day` (错峰午休): who pauses when, who covers, and how each stands now."""
    d = state.decider()
    when = state.clock.now().astimezone(state.tz).date() + timedelta(days=1 if day == "tomorrow" else 0)
    return BreakDayOut.model_validate(d.lunch.day(when))
