"""Open and close recommendations (潮汐窗口建议): which service groups get more windows now, which ones and with whom,
and which tidal windows may close again.

Owns `recommend_open`, `recommend_close`, `spare`, `service_groups`, `window_capabilities` and how a recommendation
is put together (its id, its numbers, its reason as a code and numbers). Must not word the reason (edge/wording/
tidal.py) or remember anything between calls (tracker.py does).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules.hall import HallProfile, HallSnapshot, WindowStatus, WindowView
from rules.rota.skills import SkillBook
from rules.tidal.demand import DemandProfile
from rules.tidal.model import OpenedWindow, Recommendation, RecommendationKind, group_key
from rules.tidal.projection import _after, _Plan, _plan, _project_plan, _service_level
from rules.tidal.reason import CloseReason, OpenReason, Reason, service_names
from rules.tidal.settings import TidalSettings


def window_capabilities(profile: HallProfile, hall: HallSnapshot) -> dict[str, frozenset[str]]:
    """Which services each window can serve: the configured `WindowProfile.services` plus what it serves now (or,
    for a window the configuration does not list, was seen serving). A configured window that has closed keeps only
    its configured services: what it served with someone sent there for the day (a tidal opening for another
    group, `window.assign`) left with them."""
    configured = {w.window_id for w in profile.windows}
    caps: dict[str, set[str]] = {w.window_id: set(w.services) for w in profile.windows}
    for w in hall.windows:
        if w.window_id not in configured or w.status is not WindowStatus.CLOSED:
            caps.setdefault(w.window_id, set()).update(w.services)
    return {wid: frozenset(s) for wid, s in caps.items()}


def service_groups(hall: HallSnapshot, windows: Mapping[str, Collection[str]]) -> list[tuple[str, ...]]:
    """Services grouped by the set of windows that can serve them (事项组): identical sets pool into one queue.

    Services no window can serve stay on their own. Groups and the services in them are sorted.
    """
    by_set: dict[frozenset[str], list[str]] = {}
    alone: list[tuple[str, ...]] = []
    for s in hall.services:
        capable = frozenset(wid for wid, caps in windows.items() if s.code in caps)
        if capable:
            by_set.setdefault(capable, []).append(s.code)
        else:
            alone.append((s.code,))
    return sorted([tuple(sorted(codes)) for codes in by_set.values()] + alone)


def _natural(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key: "W2" before "W10"."""
    return tuple((int(part), "") if part.isdigit() else (0, part) for part in re.split(r"(\d+)", name))


def recommend_open(  # noqa: PLR0913 - the hall, its windows and staff, and the settings: the recommender's inputs
    hall: HallSnapshot,
    windows: Mapping[str, Collection[str]],
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
    *,
    staff_pool: Sequence[str] = (),
    services: Collection[str] | None = None,
    reserved: Collection[str] = (),
    arriving: Mapping[str, Collection[str]] | None = None,
    skills: SkillBook | None = None,
) -> list[Recommendation]:
    """Tidal-window openings for the service groups where another window would call late tickets in time.

    `windows`: window id → services it can serve (`window_capabilities`). `staff_pool`: staff who may be sent to a
    tidal window, in order of preference (the configured tidal pool, and/or the staff last logged in at the candidate
    windows); staff at an open or paused window are skipped. `services`: only groups containing one of these (e.g.
    the `service` label of a `tidal-open` alert). `reserved`: windows not to propose. `arriving`: windows approved
    earlier and not open yet → the services they will serve (`TidalTracker.arriving`); they are not proposed again
    and count as capacity from `open_delay_min` for every group they serve.

    A group is considered when people wait or tickets were issued in the last hour. The projection (`_project`)
    counts the tickets — waiting now or arriving within the horizon — that would wait past the target; windows are
    added one at a time while each brings at least `min_tickets_helped` of them within it (at most `max_windows`).
    Groups are served most urgent first, and a window proposed for one group counts for the later groups it also
    serves (with `pool_services` it serves every service it can). Each window and staff member is proposed at most
    once per call.

    `skills`: who can serve what (rules/rota). With it, a closed window may be proposed for a group its configuration
    does not list when a free member of the staff pool can serve the whole group (the queue system is told which
    services it calls: `window.assign`), and each window is paired with a pool member who can serve the group — or,
    at a window configured for the group, one the skills model knows nothing of (a pool member without a roster
    entry, as without skills). Nobody known not to serve the group is named.
    """
    views = {w.window_id: w for w in hall.windows}
    busy_staff = {
        w.staff_id for w in hall.windows if w.staff_id and w.status in (WindowStatus.OPEN, WindowStatus.PAUSED)
    }
    wanted = None if services is None else set(services)
    incoming: dict[str, frozenset[str]] = {w: frozenset(svc) for w, svc in (arriving or {}).items()}
    groups = [g for g in service_groups(hall, windows) if wanted is None or wanted & set(g)]

    def coming(group: tuple[str, ...]) -> int:
        return sum(1 for svc in incoming.values() if set(group) <= svc)

    first = [_plan(hall, g, profile, settings, now, coming(g)) for g in groups]
    first.sort(key=lambda p: (-p.now.late_min, -p.now.worst, -p.backlog, p.services))
    taken_windows = set(reserved) | set(incoming)
    taken_staff = set(busy_staff)
    out: list[Recommendation] = []
    for earlier in first:
        if not earlier.demand:
            continue
        plan = earlier  # unless windows proposed for earlier groups serve this one too:
        if coming(earlier.services) != earlier.arriving:
            plan = _plan(hall, earlier.services, profile, settings, now, coming(earlier.services))
        worth = _worth_opening(plan, settings)
        if worth == 0:
            continue
        group = set(plan.services)
        free = [s for s in staff_pool if s not in taken_staff]
        skilled = [s for s in free if skills is not None and skills.can_serve(s, group)]
        candidates = [
            views[wid]
            for wid, caps in windows.items()
            if wid in views
            and wid not in taken_windows
            and (group <= set(caps) or skilled)
            and _closed_and_online(views[wid], settings)
        ]
        candidates.sort(
            key=lambda w: (
                not group <= set(windows[w.window_id]),  # windows configured for the group first
                w.status is WindowStatus.PAUSED,
                len(windows[w.window_id]),
                _natural(w.window_id),
            )
        )
        chosen_w: list[str] = []
        staff_l: list[str] = []
        unstaffed: list[str] = []  # configured for the group, nobody free who can serve it: assign by hand
        # at a window configured for the group: anyone who can serve it, or a pool member nothing is known of (the
        # configured pool, as without skills); elsewhere only someone who can
        able = free if skills is None else [s for s in free if s in skilled or not skills.knows(s)]
        for w in candidates:
            if len(chosen_w) + len(unstaffed) == worth:
                break
            configured = group <= set(windows[w.window_id])
            who = next((s for s in (able if configured else skilled) if s not in staff_l), None)
            if who is None and not configured:
                continue  # nobody free can serve the group there
            if who is None:
                unstaffed.append(w.window_id)
            else:
                chosen_w.append(w.window_id)
                staff_l.append(who)
        chosen, staff = tuple(chosen_w + unstaffed), tuple(staff_l)  # staff in the windows' order; may be shorter
        can = {
            wid: _can_serve(wid, windows, staff_l[i] if i < len(staff_l) else None, skills)
            for i, wid in enumerate(chosen)
        }
        serves = plan.services
        if settings.pool_services and chosen:
            serves = tuple(sorted(set().union(*can.values()) | group))
        taken_windows.update(chosen)
        taken_staff.update(staff)
        for wid in chosen:
            incoming[wid] = frozenset(can[wid] & set(serves))
        n = len(chosen) if chosen else worth
        configured_n = sum(1 for w in candidates if group <= set(windows[w.window_id]))
        usable = configured_n + min(len(skilled), len(candidates) - configured_n)  # others need someone who can
        rec = _open_recommendation(hall, plan, chosen, staff, n, worth, usable, serves, settings, now)
        out.append(rec)
    return out


def _can_serve(
    window: str, windows: Mapping[str, Collection[str]], staff: str | None, skills: SkillBook | None
) -> frozenset[str]:
    """What `window` can serve with `staff` at it: its configuration's services, and the person's skills."""
    out = set(windows.get(window, ()))
    if skills is not None and staff is not None:
        out |= skills.skills(staff)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class AssignCandidate:
    """A window the manager could assign to a group the recommender found no window for ("assign a window")."""

    window_id: str
    status: WindowStatus
    staff_id: str | None  # who was last at it
    configured: bool  # its configured services already include the whole group


def assign_candidates(
    hall: HallSnapshot, windows: Mapping[str, Collection[str]], services: Collection[str], taken: Collection[str] = ()
) -> list[AssignCandidate]:
    """The windows a manager could send to serve `services` when none can be proposed: closed or paused ones and
    open ones with nobody at the counter that do not serve the group yet, online (or without a terminal of their
    own), and not `taken` (tidal windows already approved). Windows configured for the group come first, then
    closed before paused before idle, in natural order. The queue system is told which services to call, so a
    window whose configuration lacks the group can still serve it when its staff can."""
    group = set(services)
    order = {WindowStatus.CLOSED: 0, WindowStatus.PAUSED: 1, WindowStatus.OPEN: 2}
    out: list[AssignCandidate] = []
    for w in hall.windows:
        if w.window_id in taken or w.online is False or w.status not in order:
            continue
        if w.status is WindowStatus.OPEN and (w.current_ticket is not None or group <= set(w.services)):
            continue
        configured = group <= set(windows.get(w.window_id, ()))
        out.append(AssignCandidate(w.window_id, w.status, w.staff_id, configured))
    out.sort(key=lambda c: (not c.configured, order[c.status], _natural(c.window_id)))
    return out


def assign_staff(hall: HallSnapshot, staff_pool: Sequence[str], candidates: Sequence[AssignCandidate]) -> list[str]:
    """Staff who could be sent with an assigned window: the tidal pool, then whoever was last at a candidate window,
    without anyone now at an open or paused window."""
    busy = {w.staff_id for w in hall.windows if w.staff_id and w.status in (WindowStatus.OPEN, WindowStatus.PAUSED)}
    out: list[str] = []
    for s in [*staff_pool, *(c.staff_id for c in candidates if c.staff_id)]:
        if s and s not in busy and s not in out:
            out.append(s)
    return out


def _worth_opening(plan: _Plan, s: TidalSettings) -> int:
    """How many more windows the group should get now (at most `max_windows`): each one must bring at least
    `min_tickets_helped` tickets that the projection has waiting past the target within it — or, when the queue is
    so long that they stay late anyway, save at least `min_minutes_saved` minutes of waiting past it."""
    k, now = 0, plan.now
    while k < s.max_windows and now.late > 0:
        after = _after(plan, plan.current + k + 1, s)
        # no window serves the group: waiting tickets would never be called; expected arrivals count as tickets
        never = math.inf if plan.backlog else 0.0
        saved = now.late_min - after.late_min if math.isfinite(now.late_min) else never
        if now.late - after.late < s.min_tickets_helped and saved < s.min_minutes_saved:
            break
        k, now = k + 1, after
    return k


def _closed_and_online(w: WindowView, settings: TidalSettings) -> bool:
    if w.online is False:
        return False
    return w.status is WindowStatus.CLOSED or (settings.include_paused and w.status is WindowStatus.PAUSED)


def _open_recommendation(  # noqa: PLR0913 - the plan and everything its reason reports
    hall: HallSnapshot,
    plan: _Plan,
    chosen: tuple[str, ...],
    staff: tuple[str, ...],
    n: int,
    wanted: int,
    candidates: int,
    serves: tuple[str, ...],
    settings: TidalSettings,
    now: datetime,
) -> Recommendation:
    bucket = int(now.timestamp() // (settings.id_bucket_min * 60))
    rec_id = _rec_id("open", hall.hall_id, group_key(plan.services), ",".join(chosen), str(bucket))
    reason = OpenReason(
        names=service_names(plan.views),
        horizon_min=settings.horizon_min,
        target_wait_min=settings.target_wait_min,
        service_level=settings.service_level,
        max_abandonment=None if settings.patience_min is None else settings.max_abandonment,
        wanted=wanted,
        candidates=candidates,
    )
    return _recommendation(
        rec_id,
        RecommendationKind.OPEN,
        hall,
        plan,
        plan.services,
        chosen,
        staff,
        n,
        plan.current + n,
        reason,
        settings,
        now,
        serves,
    )


def _rec_id(*parts: str) -> str:
    return "tidal-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 2)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def recommend_close(
    hall: HallSnapshot,
    opened: Sequence[OpenedWindow],
    quiet_since: Mapping[str, datetime],
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
) -> list[Recommendation]:
    """Close recommendations (one window per group per call) for tidal windows that are no longer needed.

    `quiet_since`: per `group_key`, since when the group has been quiet without interruption (`TidalTracker` keeps
    it). The most recently opened idle window of the group is proposed when the group has been quiet for
    `close_after_min` and the projection without it has no more tickets past the target — for the group, and for
    the other services it serves when it was opened pooled.
    """
    views = {w.window_id: w for w in hall.windows}
    groups: dict[str, list[OpenedWindow]] = {}
    for ow in opened:
        view = views.get(ow.window_id)
        if view is not None and view.status is WindowStatus.OPEN:
            groups.setdefault(group_key(ow.services), []).append(ow)
    out: list[Recommendation] = []
    for key, members in sorted(groups.items()):
        since = quiet_since.get(key)
        if since is None or now - since < timedelta(minutes=settings.close_after_min):
            continue
        last = _next_to_close(members, views)
        if not spare(hall, last, profile, settings, now):
            continue
        plan = _plan(hall, last.services, profile, settings, now)
        out.append(_close_recommendation(hall, plan, last, since, settings, now))
    return out


def _recommendation(  # noqa: PLR0913 - a Recommendation's fields, built in one place
    rec_id: str,
    kind: RecommendationKind,
    hall: HallSnapshot,
    plan: _Plan,
    services: tuple[str, ...],
    windows: tuple[str, ...],
    staff: tuple[str, ...],
    n: int,
    after: int,
    reason: Reason,
    settings: TidalSettings,
    now: datetime,
    serves: tuple[str, ...] = (),
) -> Recommendation:
    """A recommendation with the numbers behind it, for `after` windows instead of the current ones."""
    projection = _after(plan, after, settings)
    return Recommendation(
        id=rec_id,
        kind=kind,
        hall_id=hall.hall_id,
        services=services,
        windows=windows,
        staff=staff,
        n=n,
        serves=serves or services,
        arriving=plan.arriving,
        current_servers=plan.current,
        needed_servers=plan.needed,
        erlang_servers=plan.erlang,
        backlog_servers=plan.by_backlog,
        model=settings.model,
        backlog=plan.backlog,
        late=plan.now.late,
        late_after=projection.late,
        in_service=plan.in_service,
        arrivals_live_per_h=round(plan.live, 3),
        arrivals_profile_per_h=None if plan.profile is None else round(plan.profile, 3),
        arrivals_per_h=round(plan.rate, 3),
        aht_min=round(plan.aht, 3),
        aht_learned=plan.learned,
        projected_wait_min=_finite(plan.now.first),
        projected_wait_after_min=_finite(projection.first),
        worst_wait_min=_finite(plan.now.worst),
        worst_wait_after_min=_finite(projection.worst),
        service_level_now=_round(_service_level(plan.current, plan, settings)),
        service_level_after=_round(_service_level(after, plan, settings)),
        reason=reason,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.valid_for_min),
        appointments=len(plan.booked),
    )


def _next_to_close(members: Sequence[OpenedWindow], views: Mapping[str, WindowView]) -> OpenedWindow:
    """Of a group's open tidal windows, the one a close would take: an idle one first, then the latest opened."""
    return max(members, key=lambda ow: (views[ow.window_id].current_ticket is None, ow.opened_at))


def spare(
    hall: HallSnapshot, ow: OpenedWindow, profile: DemandProfile | None, settings: TidalSettings, now: datetime
) -> bool:
    """Could the tidal window close now? The projection without it has no more tickets past the target — for its
    group, and for the other services it serves when it was opened pooled — and its group keeps a window (or one
    of its paused windows usually resumes within the horizon)."""
    plan = _plan(hall, ow.services, profile, settings, now)
    if (plan.current < 2 and not plan.returning) or _needed(plan, ow.window_id, settings):
        return False
    others = tuple(sorted(set(ow.serves) - set(ow.services)))
    return not (others and _needed(_plan(hall, others, profile, settings, now), ow.window_id, settings))


def _needed(plan: _Plan, window_id: str, s: TidalSettings) -> bool:
    """Would the group have more tickets waiting past the target without `window_id` (or `min_minutes_saved` more
    minutes of waiting past it)?"""
    if window_id not in plan.window_ids:
        return False
    keep = [i for i, w in enumerate(plan.window_ids) if w != window_id]
    without = _project_plan(plan, s, [plan.free_at[i] for i in keep], [plan.leaves[i] for i in keep])
    return without.late > plan.now.late or without.late_min > plan.now.late_min + s.min_minutes_saved


def _close_recommendation(
    hall: HallSnapshot, plan: _Plan, ow: OpenedWindow, since: datetime, s: TidalSettings, now: datetime
) -> Recommendation:
    reason = CloseReason(
        names=service_names(plan.views),
        horizon_min=s.horizon_min,
        target_wait_min=s.target_wait_min,
        quiet_min=(now - since).total_seconds() / 60,
        opened_at=ow.opened_at.astimezone(ZoneInfo(hall.timezone)),
    )
    return _recommendation(
        _rec_id("close", hall.hall_id, ow.window_id, ow.rec_id),
        RecommendationKind.CLOSE,
        hall,
        plan,
        ow.services,
        (ow.window_id,),
        (ow.staff_id,) if ow.staff_id else (),
        1,
        plan.current - 1,
        reason,
        s,
        now,
    )
