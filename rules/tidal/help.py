"""Cross-skilled help (跨岗支援): an open window whose own queue is quiet also calls a late group's tickets, when the
person at it can serve that group. No window opens and nobody moves: it costs no window-hours.

Owns `Help`, `recommend_help` and `help_over`. Must not word anything (edge/wording/tidal.py) or remember which
windows help (the caller keeps that and asks `help_over` when to send them back).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from rules.hall import HallSnapshot, WindowStatus
from rules.rota.skills import SkillBook
from rules.tidal.demand import DemandProfile
from rules.tidal.projection import _after, _Plan, _plan, _project_plan
from rules.tidal.recommend import _finite, _natural, service_groups
from rules.tidal.settings import TidalSettings


@dataclass(frozen=True, slots=True)
class Help:
    """`window_id` (with `staff_id` at it) also calls `services` until sent back to `own`."""

    window_id: str
    staff_id: str
    services: tuple[str, ...]  # the late group it helps
    own: tuple[str, ...]  # what it served before, and goes back to
    serves: tuple[str, ...]  # what it calls meanwhile: its own and the group's
    late: int  # the group's tickets projected past the target without the help
    late_after: int  # … with it
    wait_min: float | None  # the group's projected wait now (None: no window serves it)
    wait_after_min: float | None
    own_wait_min: float  # the helper's own services' projected wait (its slack)


def recommend_help(
    hall: HallSnapshot,
    windows: Mapping[str, Collection[str]],
    skills: SkillBook,
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
    *,
    taken: Collection[str] = (),
) -> list[Help]:
    """For each group with tickets projected past the target, most late first, the open window best placed to help
    (or, when nobody can serve the whole group, the first of its late services someone can):
    the person at it can serve the whole group, its own services project no late ticket and a first wait under a
    third of the target, and one more window would bring a late ticket within the target (or save a target's worth
    of minutes past it): unlike an opening, help costs no window-hours, so one person spared a long wait is enough.
    The idlest such window (none at the counter first), in natural order. `windows`: window id → services it can
    serve (configured); `taken`: windows not to ask (helping already, or just proposed to open). One window per
    group and per call."""
    busy_with: dict[tuple[str, ...], float] = {}
    plans = []
    for group in service_groups(hall, windows):
        plan = _plan(hall, group, profile, settings, now)
        if plan.demand and plan.now.late > 0:
            plans.append(plan)
    plans.sort(key=lambda p: (-p.now.late, -p.now.late_min, p.services))
    used = set(taken)
    out: list[Help] = []

    def slack_of(services: tuple[str, ...]) -> float:
        if services not in busy_with:
            mine = _plan(hall, services, profile, settings, now)
            busy_with[services] = math.inf if mine.now.late > 0 else mine.now.first
        return busy_with[services]

    def helper(plan: _Plan) -> Help | None:
        after = _after(plan, plan.current + 1, settings)
        saved = plan.now.late_min - after.late_min if math.isfinite(plan.now.late_min) else math.inf
        if after.late >= plan.now.late and saved < settings.target_wait_min:
            return None  # help costs no window-hours: one ticket brought within the target is worth it
        wanted = set(plan.services)
        best: tuple[tuple[object, ...], Help] | None = None
        for w in hall.windows:
            if (
                w.window_id in used
                or w.status is not WindowStatus.OPEN
                or w.online is False
                or not w.staff_id
                or not w.services
                or wanted <= set(w.services)
                or not skills.can_serve(w.staff_id, wanted)
            ):
                continue
            own = tuple(sorted(w.services))
            slack = slack_of(own)
            if not slack < settings.target_wait_min / 3:
                continue
            key = (w.current_ticket is not None, slack, _natural(w.window_id))
            if best is None or key < best[0]:
                best = (
                    key,
                    Help(
                        window_id=w.window_id,
                        staff_id=w.staff_id,
                        services=plan.services,
                        own=own,
                        serves=tuple(sorted(set(own) | wanted)),
                        late=plan.now.late,
                        late_after=after.late,
                        wait_min=_finite(plan.now.first),
                        wait_after_min=_finite(after.first),
                        own_wait_min=round(slack, 2),
                    ),
                )
        return best[1] if best else None

    for plan in plans:
        found = helper(plan)
        if found is None and len(plan.services) > 1:  # nobody can serve the whole group: its late services alone
            for code in plan.services:
                alone = _plan(hall, (code,), profile, settings, now)
                if alone.demand and alone.now.late > 0 and (found := helper(alone)) is not None:
                    break
        if found is not None:
            used.add(found.window_id)
            out.append(found)
    return out


def help_over(
    hall: HallSnapshot, helping: Help, profile: DemandProfile | None, settings: TidalSettings, now: datetime
) -> bool:
    """Should the helper go back to its own services only? When its own services project a late ticket, or the
    group it helps would have none late without it."""
    own = _plan(hall, helping.own, profile, settings, now)
    if own.now.late > 0:
        return True
    group = _plan(hall, helping.services, profile, settings, now)
    if helping.window_id not in group.window_ids:
        return True  # it no longer serves the group (closed, paused, reassigned)
    keep = [i for i, w in enumerate(group.window_ids) if w != helping.window_id]
    without = _project_plan(group, settings, [group.free_at[i] for i in keep], [group.leaves[i] for i in keep])
    return without.late == 0 and group.backlog == 0
