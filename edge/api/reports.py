"""Routes of the `reports` tag: today's KPIs with the learned forecast, and one day's report (JSON or CSV).

Must not count anything: edge.reports keeps the day's book (rules.kpi) and reads past days from the store; these
routes pick the day, check it, and shape the answer.
"""

from __future__ import annotations

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


def day_report(state: ApiState, day: date) -> DayReport:
    checked(day)
    state.flush()
    return state.reports.report(day, state.clock.now(), state.current_store())


def buckets() -> list[int | float | None]:
    """The wait histograms' bucket bounds in minutes; the last, unbounded one as null."""
    return [None if math.isinf(b) else b for b in WAIT_BUCKETS_MIN]


@router.get("/api/kpi/today", response_model=KpiToday, **needs(*ALL))
async def kpi_today(state: State) -> KpiToday:
    """Today's KPIs so far (SL15, P95 wait, no-show, utilisation, kiosks, device availability, satisfaction),
    people waiting every 5 min, tickets per 15 min with the learned forecast, and each service's waits."""
    now = state.clock.now()
    tz = state.tz
    report = day_report(state, now.astimezone(tz).date())
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
    """One day's KPIs for the whole hall, per service, and per hour (hall and service rows)."""
    r = day_report(state, day)
    return DayReportOut(**{f.name: getattr(r, f.name) for f in fields(r)}, buckets=buckets())


@router.get("/api/reports/{day}/{kind}.csv", response_class=PlainTextResponse, **needs(Role.MANAGER))
async def report_csv(day: date, kind: Literal["daily", "hourly"], state: State) -> PlainTextResponse:
    """The day's report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names)."""
    r = day_report(state, day)
    text = csv_daily(r) if kind == "daily" else csv_hourly(r)
    return PlainTextResponse(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="hallops-{state.hall_id}-{day}-{kind}.csv"'},
    )
