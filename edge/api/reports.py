"""Routes of the `reports` tag: today's KPIs with the learned forecast, the KPIs per day over the last days and per
hour of one day (the trends), and one day's report (JSON, or CSV with its header in Chinese or English).

Must not count anything: edge.reports keeps the day's book (rules.kpi) and reads past days from the store; these
routes pick the days, check them, and shape the answer. A past day's report is rebuilt off the event loop within
`http.slow_request_s` (503 past it; the rebuild goes on and is kept, so asking again gets it). A range of days is
rebuilt one day after another and answered within `RANGE_WAIT_S` with the days done so far; the others are listed as
pending and go on being rebuilt.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from edge.api.deps import ALL, ApiState, State, needs
from edge.api.schemas import DayReportOut, KpiDayOut, KpiHoursOut, KpiRangeOut, KpiToday
from edge.auth import Role
from edge.reports import forecast
from rules.kpi import (
    WAIT_BUCKETS_MIN,
    CsvLanguage,
    DayReport,
    People,
    Performance,
    ServedFrom,
    csv_daily,
    csv_hourly,
    csv_staff,
    csv_windows,
)

router = APIRouter(tags=["reports"])
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # reports: days a hall's log can hold (and datetime can)
RANGE_DAYS = 31  # the most days the trends ask for at once
RANGE_WAIT_S = 2.0  # … and how long they wait for past days being rebuilt before drawing what is done (at most
# http.slow_request_s): a month of a busy hall takes longer, and the page asks again for the rest


def checked(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise HTTPException(422, f"day: {day} is out of range ({FIRST_DAY} to {LAST_DAY})")
    return day


async def day_report(state: ApiState, day: date) -> DayReport:
    checked(day)
    state.flush()  # (committed: what a rebuild reads on its own connection)
    known = state.reports.current(day, state.clock.now())
    if known is not None:
        return known
    store = state.current_store()
    rebuild = state.reports.rebuild(day, store.path if store is not None else None)
    try:
        return await asyncio.wait_for(rebuild, state.config.http.slow_request_s)
    except TimeoutError:
        raise HTTPException(503, "the report takes too long; try again") from None


def targets(state: ApiState) -> dict[str, float]:
    """The least each figure should reach, by its name in `Kpis`: the service level the tidal windows are opened to
    keep (`tidal.service_level`), as a percentage."""
    return {"sl_pct": round(state.config.tidal.service_level * 100, 1)}


def buckets() -> list[int | float | None]:
    """The wait histograms' bucket bounds in minutes; the last, unbounded one as null."""
    return [None if math.isinf(b) else b for b in WAIT_BUCKETS_MIN]


@router.get("/api/kpi/today", response_model=KpiToday, **needs(*ALL))
async def kpi_today(state: State) -> KpiToday:
    """Today's KPIs so far (SL15, P95 wait, no-show, utilisation, kiosks, device availability, satisfaction),
    people waiting every 5 min, tickets per 15 min with the learned forecast, and each service's waits."""
    now = state.clock.now()
    tz = state.tz
    report = await day_report(state, now.astimezone(tz).date())
    midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)
    slots = [midnight + timedelta(minutes=15 * k) for k in range(96)]
    services = [s.code for s in state.snapshot().services]
    decider = state.current_decider()
    rate = decider.demand.rate if decider else (lambda s, at: None)
    parts = {f.name: getattr(report, f.name) for f in fields(report) if f.name != "hours"}
    return KpiToday(
        **parts,
        buckets=buckets(),
        forecast=[(at.isoformat(), n) for at, n in forecast(rate, services, slots)],
        targets=targets(state),
    )


@router.get("/api/kpi/range", response_model=KpiRangeOut, **needs(*ALL))
async def kpi_range(state: State, days: Annotated[int, Query(ge=1, le=RANGE_DAYS)] = 7) -> KpiRangeOut:
    """The hall's KPIs per day over the last `days` days (at most 31), today so far last. Past days not at hand are
    rebuilt from the log off the event loop, one after another; the answer comes within 2 s (or
    `http.slow_request_s` if that is less) with the days done so far, the others listed in `pending` (their `hall`
    null): they go on being rebuilt, and asking again gets them."""
    now = state.clock.now()
    today = now.astimezone(state.tz).date()
    wanted = [checked(today - timedelta(days=back)) for back in range(days - 1, -1, -1)]
    state.flush()  # (committed: what a rebuild reads on its own connection)
    figures = {day: state.reports.figures(day, now) for day in wanted}
    missing = [day for day, hall in figures.items() if hall is None]
    if missing:
        store = state.current_store()
        job = state.reports.rebuild_days(missing, store.path if store is not None else None)
        done, _ = await asyncio.wait({job}, timeout=min(RANGE_WAIT_S, state.config.http.slow_request_s))
        if done and job.exception() is not None:
            raise HTTPException(503, "a past day could not be rebuilt from the log; see the gateway's log")
        figures |= {day: state.reports.figures(day, now) for day in missing}
    return KpiRangeOut(
        days=[KpiDayOut(day=day, hall=hall) for day, hall in figures.items()],
        pending=[day for day, hall in figures.items() if hall is None],
        target_wait_min=state.reports.target_wait_min,
        targets=targets(state),
    )


@router.get("/api/kpi/hours/{day}", response_model=KpiHoursOut, **needs(*ALL))
async def kpi_hours(day: date, state: State) -> KpiHoursOut:
    """One day's KPIs for the whole hall, per hour with any activity (what the trends show of a day). A past day's
    rebuild that takes longer than `http.slow_request_s` answers 503; it goes on, and asking again gets it."""
    r = await day_report(state, day)
    return KpiHoursOut(
        day=r.day,
        target_wait_min=r.target_wait_min,
        targets=targets(state),
        hours=tuple(k for k in r.hours if k.service is None),
    )


@router.get("/api/reports/{day}", response_model=DayReportOut, **needs(Role.MANAGER))
async def report(day: date, state: State) -> DayReportOut:
    """One day's KPIs for the whole hall, per service, and per hour (hall and service rows). A past day's rebuild
    that takes longer than `http.slow_request_s` answers 503; it goes on, and asking again gets it."""
    r = await day_report(state, day)
    return DayReportOut(**{f.name: getattr(r, f.name) for f in fields(r)}, buckets=buckets(), targets=targets(state))


class PeopleOut(BaseModel):
    """One day's per-window or per-staff performance (rules.kpi.People), with the names to show."""

    day: date
    generated_at: datetime
    rows: tuple[Performance, ...] = Field(description="per window (or staff member), by id; minutes and percentages")
    aht_median_min: float | None = Field(description="the median of the rows' average handling times")
    aht_miss_factor: float = Field(description="a row's AHT above this many times the median is a miss (`aht`)")
    satisfaction_target_pct: float = Field(description="a satisfaction below this is a miss (`satisfaction`)")
    window_names: dict[str, str] = Field(description="window id → its configured name, where it has one")
    staff_names: dict[str, str] = Field(
        description="staff id → the roster's name (staff:), else the display name of the user of that name"
    )


class ServedFromOut(BaseModel):
    """Why a row served more (or fewer) than it issued: the hall's row, then each service's (rules.kpi.ServedFrom)."""

    day: date
    rows: tuple[ServedFrom, ...]
    service_names: dict[str, str]


def names(state: ApiState) -> tuple[dict[str, str], dict[str, str]]:
    """Window id → configured name; staff id → the roster's name (`staff:`), else the display name of the user whose
    name it is (王芳 for S201)."""
    profile = state.reports.profile
    windows = {w.window_id: w.name for w in profile.windows if w.name}
    staff = {a.user.name: a.user.display for a, _ in state.auth.accounts() if a.user.display}
    staff.update({p.staff_id: p.name for p in profile.staff})
    return windows, staff


def people(state: ApiState, r: DayReport, of: People) -> PeopleOut:
    windows, staff = names(state)
    named = {s for row in of.rows for s in row.staff}
    return PeopleOut(
        day=r.day,
        generated_at=r.generated_at,
        rows=of.rows,
        aht_median_min=of.aht_median_min,
        aht_miss_factor=of.aht_miss_factor,
        satisfaction_target_pct=of.satisfaction_target_pct,
        window_names=windows,
        staff_names={k: v for k, v in staff.items() if k in named},
    )


@router.get("/api/reports/{day}/windows", response_model=PeopleOut, **needs(Role.MANAGER))
async def report_windows(day: date, state: State) -> PeopleOut:
    """One day's performance per window: tickets served, average handling time (AHT), open, serving and idle time,
    pauses (count and minutes) and ratings (count, satisfied %), each with its misses (`aht`: above 1.5 × the
    median; `satisfaction`: below the target). Every configured window has a row."""
    r = await day_report(state, day)
    return people(state, r, r.windows)


@router.get("/api/reports/{day}/staff", response_model=PeopleOut, **needs(Role.MANAGER))
async def report_staff(day: date, state: State) -> PeopleOut:
    """One day's performance per staff member (the `staff_id` a window signed in with), as `…/windows`: what they did
    at every window they worked at. A row with id null: served at a window nobody signed in to."""
    r = await day_report(state, day)
    return people(state, r, r.staff)


@router.get("/api/reports/{day}/served", response_model=ServedFromOut, **needs(Role.MANAGER))
async def report_served(day: date, state: State) -> ServedFromOut:
    """Why served and issued differ, for the hall and per service: of the tickets served, how many were issued
    before the day (or before the log began) and how many were transferred in from another service; and how many of
    those issued were transferred out."""
    r = await day_report(state, day)
    return ServedFromOut(day=r.day, rows=r.served_from, service_names=r.service_names)


@router.get("/api/reports/{day}/{kind}.csv", response_class=PlainTextResponse, **needs(Role.MANAGER))
async def report_csv(
    day: date, kind: Literal["daily", "hourly", "windows", "staff"], state: State, lang: CsvLanguage = "zh"
) -> PlainTextResponse:
    """The day's report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names), its header in
    `lang` (zh, en) with each figure's unit, e.g. 服务水平（15分钟内叫号，%）: `daily` (the hall, then each service),
    `hourly`, `windows` and `staff` (per window and per staff member, by name, the misses in words). A text cell that
    starts like a formula (= + - @, a tab or a carriage return) has a single quote put before it, so a spreadsheet
    shows it and does not run it; the figures stay numbers."""
    r = await day_report(state, day)
    if kind in ("windows", "staff"):
        windows, staff = names(state)
        text = (csv_windows if kind == "windows" else csv_staff)(r, lang, windows, staff)
    else:
        text = csv_daily(r, lang) if kind == "daily" else csv_hourly(r, lang)
    return PlainTextResponse(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="hallops-{state.hall_id}-{day}-{kind}.csv"'},
    )
