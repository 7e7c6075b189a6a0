"""Routes of the `reports` tag: today's KPIs with the learned forecast, and one day's report (JSON or CSV).

Must not count anything: edge.reports keeps the day's book (rules.kpi) and reads past days from the store; these
routes pick the day, check it, and shape the answer. A past day's report is rebuilt off the event loop within
`http.slow_request_s` (503 past it; the rebuild goes on and is kept, so asking again gets it).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse

from edge.api.deps import ALL, ApiState, State, needs
from edge.api.schemas import DayReportOut, KpiToday
from edge.auth import Role
from edge.reports import forecast
from rules.kpi import WAIT_BUCKETS_MIN, DayReport, csv_daily, csv_hourly

router = APIRouter(tags=["reports"])
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # reports: days a hall's log can hold (and datetime can)


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
        **parts, buckets=buckets(), forecast=[(at.isoformat(), n) for at, n in forecast(rate, services, slots)]
    )


@router.get("/api/reports/{day}", response_model=DayReportOut, **needs(Role.MANAGER))
async def report(day: date, state: State) -> DayReportOut:
    """One day's KPIs for the whole hall, per service, and per hour (hall and service rows). A past day's rebuild
    that takes longer than `http.slow_request_s` answers 503; it goes on, and asking again gets it."""
    r = await day_report(state, day)
    return DayReportOut(**{f.name: getattr(r, f.name) for f in fields(r)}, buckets=buckets())


@router.get("/api/reports/{day}/{kind}.csv", response_class=PlainTextResponse, **needs(Role.MANAGER))
async def report_csv(day: date, kind: Literal["daily", "hourly"], state: State) -> PlainTextResponse:
    """The day's report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names). A text cell
    that starts like a formula (= + - @, a tab or a carriage return) has a single quote put before it, so a
    spreadsheet shows it and does not run it; the figures stay numbers."""
    r = await day_report(state, day)
    text = csv_daily(r) if kind == "daily" else csv_hourly(r)
    return PlainTextResponse(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="hallops-{state.hall_id}-{day}-{kind}.csv"'},
    )
