"""The staff's lunch breaks in the gateway (错峰午休): what the planner is asked for a day, from the roster and the
demand profile; the plan itself is rules.rota's (`plan_breaks`), kept live by its `BreakKeeper`.

`plan_inputs` reads the decider's parts (cheap: the expected arrivals per service and 15-min slot are copied out), so
that `PlanInputs.plan` — a few seconds for a city hall — can run in a worker thread while the decider goes on.
`break_row` is a break as the API and the notifications show it; `break_words` what a break event says.

Who: every person of the roster with `lunch_min` and a post; their window pauses. What works over lunch: every
window that is someone's post, with its configured services (else its person's skills). The cover: their AB
partner's post, when the partner has one. Demand: the profile's expected arrivals for that weekday; a day it knows
nothing of (a new hall) is planned as if every window were UNKNOWN_LOAD busy over lunch — the breaks then spread
out, keep every service a window (窗口不断档) and AB partners apart — and the plan says so (`known_demand`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.decisions.settings import DeciderSettings
from rules.hall import HallProfile, HallSnapshot
from rules.rota import (
    BreakEvent,
    BreakEventKind,
    BreakKeeper,
    BreakNeed,
    BreakPlan,
    BreakSettings,
    BreakStatus,
    HoldSettings,
    plan_breaks,
    plan_slots,
)
from rules.schedule import staffed
from rules.tidal import SLOT_MIN, DemandProfile

log = logging.getLogger(__name__)

UNKNOWN_LOAD = 0.7  # how busy the windows are taken to be over lunch on a day the demand profile knows nothing of


@dataclass(frozen=True, slots=True)
class PlanInputs:
    day: date
    timezone: str
    windows: dict[str, tuple[str, ...]]
    needs: tuple[BreakNeed, ...]
    rates: dict[tuple[str, datetime], float]  # (service, slot start) → arrivals an hour
    aht_min: dict[str, float]
    settings: BreakSettings
    known_demand: bool

    def plan(self) -> BreakPlan:
        return plan_breaks(
            self.day,
            self.timezone,
            self.windows,
            self.needs,
            lambda service, at: self.rates.get((service, at), 0.0),
            self.aht_min,
            self.settings,
        )


def plan_inputs(
    settings: DeciderSettings, demand: DemandProfile, day: date, aht_min: Mapping[str, float]
) -> PlanInputs | None:
    """What `plan_breaks` needs for `day`; None when nobody's lunch is to be planned."""
    lunches = dict(settings.lunches)
    s = settings.lunch
    configured = {w.window_id: w for w in settings.profile.windows}
    # the posts staffed all through the lunch period (a window's configured shifts, when it has any, must cover it:
    # one closed for part of it is not counted on, as a window that works or as a cover)
    working = {w: p for w, p in configured.items() if not p.shifts or staffed(p.shifts, s.earliest, s.latest_end)}
    posts = {p.staff_id: p.post for p in settings.roster if p.post}
    windows: dict[str, tuple[str, ...]] = {}
    for person in settings.roster:
        post = person.post
        if post and post not in windows and (post in working or not configured):
            own = working[post].services if post in working else ()
            windows[post] = own or tuple(sorted(person.skills))
    needs = []
    for person in settings.roster:
        minutes = lunches.get(person.staff_id)
        if minutes is None or not person.post or person.post not in windows:
            continue
        cover = posts.get(person.partner) if person.partner else None
        cover = cover if cover in windows and cover != person.post else None
        needs.append(BreakNeed(person.post, minutes, person.staff_id, cover=cover))
    if not needs:
        return None
    slots, _ = plan_slots(day, settings.profile.timezone, s)
    services = sorted({c for svc in windows.values() for c in svc})
    aht = {c: aht_min[c] for c in services if c in aht_min}
    known = {(c, t): r for c in services for t in slots if (r := _rate(demand, c, t)) is not None}
    rates = known or {(c, t): r for c, r in _busy_rates(windows, aht).items() for t in slots}
    return PlanInputs(day, settings.profile.timezone, windows, tuple(needs), rates, aht, s, bool(known))


def _rate(demand: DemandProfile, service: str, at: datetime) -> float | None:
    """Arrivals per hour in `at`'s slot: learned — or, with the hall's bookings known, the learned walk-ins and the
    people booked for it when that is more (a noon with many appointments gets its lunches elsewhere; bookings still
    to be made, as a queue system publishing the day's at opening, do not make a day ahead look quiet)."""
    learned = demand.rate(service, at)
    bookings = demand.bookings
    walk_ins = demand.walk_in_rate(service, at)
    if learned is None or walk_ins is None or bookings is None or not bookings.active(at):
        return learned
    return max(learned, walk_ins + bookings.per_hour(service, at, SLOT_MIN))


def break_row(s: BreakStatus, profile: HallProfile, partner_of: Mapping[str, str], timezone: str) -> dict[str, object]:
    """A break as the API, the live stream and the MQTT topic show it (hall time, ISO 8601), with display names.
    `partner_of`: staff id → their AB partner's (who covers from the cover window)."""
    zone = ZoneInfo(timezone)
    windows = {w.window_id: w for w in profile.windows}
    staff = {p.staff_id: p for p in profile.staff}
    services = {c.code: c for c in profile.services}
    b = s.planned
    cover_staff = partner_of.get(b.staff_id) if b.cover and b.staff_id else None

    def person(sid: str | None) -> tuple[str | None, str | None]:
        p = staff.get(sid) if sid else None
        return (p.name, p.name_en) if p else (None, None)

    def window(wid: str | None) -> tuple[str | None, str | None]:
        w = windows.get(wid) if wid else None
        return (w.name, w.name_en) if w else (None, None)

    def iso(t: datetime | None) -> str | None:
        return t.astimezone(zone).isoformat() if t else None

    return {
        "window_id": b.window_id,
        "window_name": window(b.window_id)[0],
        "window_name_en": window(b.window_id)[1],
        "staff_id": b.staff_id,
        "staff_name": person(b.staff_id)[0],
        "staff_name_en": person(b.staff_id)[1],
        "start": iso(s.start),
        "end": iso(s.end),
        "planned_start": iso(b.start),
        "planned_end": iso(b.end),
        "minutes": round((b.end - b.start).total_seconds() / 60),
        "state": s.state.value,
        "holds": s.holds,
        "began": iso(s.began),
        "cover_window_id": b.cover,
        "cover_window_name": window(b.cover)[0],
        "cover_window_name_en": window(b.cover)[1],
        "cover_staff_id": cover_staff,
        "cover_staff_name": person(cover_staff)[0],
        "cover_staff_name_en": person(cover_staff)[1],
        "held_by": [
            {
                "service": code,
                "name": services[code].name if code in services else None,
                "name_en": services[code].name_en if code in services else None,
                "waiting": waiting,
                "wait_min": wait,
            }
            for code, waiting, wait in s.held_by
        ],
    }


def break_words(row: Mapping[str, object], kind: BreakEventKind) -> tuple[str, str]:
    """What a break event says (Chinese, English): to the window's terminal, the manager's page and the MQTT topic."""

    def name(key: str, en: bool) -> str:
        return str(row.get(f"{key}_name_en" if en else f"{key}_name") or row.get(f"{key}_name") or row[f"{key}_id"])

    def hhmm(key: str) -> str:
        return datetime.fromisoformat(str(row[key])).strftime("%H:%M")

    who_zh = f"{name('window', False)}（{name('staff', False)}）" if row.get("staff_id") else name("window", False)
    who_en = f"{name('window', True)} ({name('staff', True)})" if row.get("staff_id") else name("window", True)
    if kind is BreakEventKind.HELD:
        held = row.get("held_by") or []
        parts_zh, parts_en = [], []
        for h in held if isinstance(held, list) else []:
            svc_zh, svc_en = h.get("name") or h["service"], h.get("name_en") or h.get("name") or h["service"]
            wait = h.get("wait_min")
            parts_zh.append(
                f"{svc_zh} {h['waiting']} 人等候" + (f"，预计等候 {wait:g} 分钟" if wait is not None else "")
            )
            parts_en.append(
                f"{h['waiting']} waiting for {svc_en}" + (f", projected {wait:g} min" if wait is not None else "")
            )
        return (
            f"{who_zh}午休推迟到 {hhmm('start')}（{'；'.join(parts_zh)}）",
            f"{who_en}: lunch break moved to {hhmm('start')} ({'; '.join(parts_en)})",
        )
    cover_zh = cover_en = ""
    if row.get("cover_window_id"):
        by_zh = f"{name('cover_window', False)}" + (
            f"（{name('cover_staff', False)}）" if row.get("cover_staff_id") else ""
        )
        by_en = f"{name('cover_window', True)}" + (
            f" ({name('cover_staff', True)})" if row.get("cover_staff_id") else ""
        )
        cover_zh, cover_en = f"；{by_zh}顶岗", f"; {by_en} covers"
    return (
        f"{who_zh}午休时间到：办完手上业务后暂停，{hhmm('end')} 前回来{cover_zh}",
        f"{who_en}: lunch break due — pause after the ticket in hand, back by {hhmm('end')}{cover_en}",
    )


def _busy_rates(windows: Mapping[str, tuple[str, ...]], aht_min: Mapping[str, float]) -> dict[str, float]:
    """Arrivals an hour that keep the windows UNKNOWN_LOAD busy (each window's time shared evenly among its
    services): what a day without recorded demand is planned for, so that the breaks spread out."""
    share: dict[str, float] = {}
    for services in windows.values():
        for c in services:
            share[c] = share.get(c, 0.0) + 1 / len(services)
    return {c: UNKNOWN_LOAD * n * 60 / aht_min[c] for c, n in share.items() if c in aht_min}


def attempt(inputs: PlanInputs) -> BreakPlan | ValueError:
    """The plan, or why it cannot be made (inputs the planner refuses)."""
    try:
        return inputs.plan()
    except ValueError as exc:
        return exc


@dataclass(frozen=True, slots=True)
class DayPlan:
    plan: BreakPlan | None  # None: nobody's lunch to plan, or it failed (`failed` says why)
    known_demand: bool
    failed: str | None = None


class LunchBreaks:
    """The decider's lunch breaks: today's and tomorrow's plans (planned a day ahead) and today's kept live."""

    def __init__(self, settings: DeciderSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.profile.timezone)
        self.hold = HoldSettings(target_wait_min=settings.lunch.target_wait_min)
        self.plans: dict[date, DayPlan] = {}
        # each day's plan kept live, yesterday's too: a clock set back a day and on again finds its breaks as they
        # were (taken, missed), not announced again
        self.keepers: dict[date, BreakKeeper] = {}
        self.today: date | None = None  # the day of the last step
        self.saved: str | None = None  # the keeper's state from the last run, taken when today's plan is ready
        self.partner_of = {p.staff_id: p.partner for p in settings.roster if p.partner}

    @property
    def keeper(self) -> BreakKeeper | None:
        """Today's (the last step's day)."""
        return self.keepers.get(self.today) if self.today is not None else None

    @property
    def wanted(self) -> bool:
        return bool(self.settings.lunches)

    def days_to_plan(self, now: datetime) -> list[date]:
        """Today and tomorrow, those not planned yet (none when nobody's lunch is to be planned)."""
        if not self.wanted:
            return []
        today = now.astimezone(self.zone).date()
        kept = (today - timedelta(days=1), today, today + timedelta(days=1))
        self.plans = {d: p for d, p in self.plans.items() if d in kept}  # (a clock set back or on: others go)
        self.keepers = {d: k for d, k in self.keepers.items() if d in kept}
        return [d for d in kept[1:] if d not in self.plans]

    def inputs(self, day: date, demand: DemandProfile, hall: HallSnapshot) -> PlanInputs | None:
        aht = {s.code: s.mean_service_s / 60 for s in hall.services if s.mean_service_s > 0}
        return plan_inputs(self.settings, demand, day, aht)

    def planned(self, day: date, inputs: PlanInputs | None, made: BreakPlan | ValueError | None = None) -> None:
        """Take `day`'s plan: `made` from `inputs` elsewhere (`attempt` in a worker thread), or made here; a plan
        that failed is kept as its problem (logged), not tried again every second."""
        if inputs is None:
            self.plans[day] = DayPlan(None, False)
            return
        plan = attempt(inputs) if made is None else made
        if isinstance(plan, ValueError):
            log.error("lunch breaks of %s not planned: %s", day, plan)
            self.plans[day] = DayPlan(None, inputs.known_demand, str(plan))
            return
        self.plans[day] = DayPlan(plan, inputs.known_demand)
        log.info(
            "lunch breaks planned day=%s breaks=%d late_expected=%.1f known_demand=%s",
            day,
            len(plan.breaks),
            plan.late_planned,
            inputs.known_demand,
        )

    def step(self, hall: HallSnapshot, now: datetime) -> list[tuple[BreakEvent, dict[str, object]]]:
        """Today's breaks moved on to `now` (the keeper made from today's plan, once it is there): each event with
        its break as `break_row` shows it."""
        today = self.today = now.astimezone(self.zone).date()
        keeper = self.keepers.get(today)
        if keeper is None:
            day = self.plans.get(today)
            if day is None or day.plan is None:
                return []
            keeper = self.keepers[today] = BreakKeeper(day.plan, self.hold)
            if self.saved is not None:
                keeper.load(self.saved)  # the last run's, when it was today's
                self.saved = None
        return [(ev, self.row(ev.status)) for ev in keeper.step(hall, now)]

    def row(self, s: BreakStatus) -> dict[str, object]:
        return break_row(s, self.settings.profile, self.partner_of, self.settings.profile.timezone)

    def dump(self) -> str:
        return self.keeper.dump() if self.keeper is not None else ""

    def day(self, day: date) -> dict[str, object]:
        """A day's plan as the API shows it: today's as it stands live, another day's as planned."""
        planned = self.plans.get(day)
        if planned is None:
            problem: str | None = "none_to_plan" if not self.wanted else "pending"
        elif planned.plan is None:
            problem = "failed" if planned.failed else "none_to_plan"
        else:
            problem = None
        out: dict[str, object] = {
            "day": day.isoformat(),
            "planned": planned is not None and planned.plan is not None,
            "known_demand": planned.known_demand if planned else False,
            "problem": problem,  # none_to_plan (no staff.<id>.lunch_min), pending, failed (`detail`)
            "detail": planned.failed if planned else None,
            # what the plan expects: only from recorded demand (an assumed one's figure would mean nothing)
            "late_expected": planned.plan.late_planned if planned and planned.plan and planned.known_demand else None,
            "breaks": [],
        }
        if planned is None or planned.plan is None:
            return out
        keeper = self.keepers.get(day)
        statuses = (keeper or BreakKeeper(planned.plan, self.hold)).statuses()
        out["breaks"] = [self.row(s) for s in statuses]
        return out
