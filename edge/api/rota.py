"""Routes of the `rota` tag: the staff's lunch breaks (错峰午休) — today's plan as it stands live, and tomorrow's,
planned a day ahead.

Must not plan or move a break: the decision layer's `LunchBreaks` (edge/decisions/breaks.py) does; this reads it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from edge.api.deps import State, needs, who
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


class ServiceBookingsOut(BaseModel):
    service: str
    name: str | None
    name_en: str | None
    booked: int = Field(description="appointments booked for the day (waiting, come and no-shows)")
    arrived: int = Field(description="booked people who came (checked in, or took an appointment ticket)")
    waiting: int = Field(description="booked, not come yet, the slot (with 30 min grace) not over")
    no_show: int = Field(description="not come by 30 min after the slot's end")
    next_hour: int = Field(description="of those waiting: slots started (not come yet) or starting within the hour")


class BookingsOut(BaseModel):
    day: str
    known: bool = Field(
        description="the queue system publishes the bookings (one heard within 7 days): the tidal sizing adds them "
        "to the walk-ins; false: none are known, the learned demand stands for them"
    )
    show_share: float = Field(description="share of bookings that come, learned over 4 weeks (from 9 in 10)")
    early_min: float = Field(description="minutes before their slot booked people come, on average (negative: late)")
    refused: dict[str, int] = Field(
        description="bookings and cancellations refused since the start, by reason: not_owner (another device's "
        "booking), slot_over, too_far_ahead (over 14 days), too_many (20,000 waiting), too_many_in_slot (200 of one "
        "service in one 15-min slot), already_arrived"
    )
    services: list[ServiceBookingsOut]


@router.get("/api/rota/appointments", response_model=BookingsOut, **needs(Role.MANAGER, Role.ADMINISTRATOR))
async def appointments(state: State) -> BookingsOut:
    """Today's appointments (预约) per service: booked, come, still to come, no-shows, and due within the hour."""
    d = state.decider()
    now = state.clock.now()
    names = {s.code: s for s in state.config.profile().services}
    return BookingsOut(
        day=now.astimezone(state.tz).date().isoformat(),
        known=d.bookings.active(now),
        show_share=round(d.bookings.show_share, 3),
        early_min=round(d.bookings.early_min, 1),
        refused=dict(d.bookings.refused),
        services=[
            ServiceBookingsOut(
                name=getattr(names.get(b.service), "name", None),
                name_en=getattr(names.get(b.service), "name_en", None),
                **asdict(b),
            )
            for b in d.bookings.day(now)
        ],
    )


class GuideRow(BaseModel):
    staff_id: str
    staff_name: str | None
    staff_name_en: str | None
    zone: str | None = Field(description="the waiting zone to go to (null: the hall's queue area)")
    zone_name: str | None
    zone_name_en: str | None
    services: list[str] = Field(description="the services whose arrivals jumped")
    service_names: list[str]
    service_names_en: list[str]
    arrivals_15m: int = Field(description="tickets for them in the last 15 min")
    live_rate_per_h: float
    usual_rate_per_h: float | None = Field(description="the learned rate of the same weekday and time (null: none)")
    growth_15m: int = Field(description="the queue's growth in the last 15 min (arrivals − completions)")
    waiting: int


class GuideProposed(GuideRow):
    at: str = Field(description="when it was proposed (it is withdrawn 10 min later if not taken up)")
    text_zh: str
    text_en: str


class GuidePosted(GuideRow):
    since: str


class GuidesOut(BaseModel):
    enabled: bool = Field(description="the roster has a mobile post (staff.<id>.kind: mobile) to send")
    proposed: GuideProposed | None = Field(description="a guide proposed for a jump in arrivals, waiting for you")
    posted: list[GuidePosted] = Field(description="guides in the queue area now, called back when arrivals calm")


@router.get("/api/rota/guides", response_model=GuidesOut, **needs(Role.MANAGER, Role.ADMINISTRATOR))
async def guides(state: State) -> GuidesOut:
    """The mobile post (流动岗): a guide proposed when arrivals jump, and the guides posted to the queue area."""
    return GuidesOut.model_validate(state.decider().guides_now())


@router.post("/api/rota/guides/{staff_id}/{action}", response_model=GuideRow, **needs(Role.MANAGER))
async def guide_action(
    staff_id: str, action: Literal["post", "decline", "recall"], request: Request, state: State
) -> GuideRow:
    """Send the proposed guide (`post`), not now (`decline`: not proposed again for 30 min), or call a guide back
    (`recall`). 409 when there is no such proposal or guide."""
    try:
        row = state.decider().guide_decision(staff_id, action, who(request, None))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return GuideRow.model_validate(row)
