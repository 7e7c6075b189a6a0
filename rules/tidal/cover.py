"""AB-post cover (AB岗互补): a window paused while its people would wait past the target is covered by its person's AB
partner, when the partner's own window is quiet enough to spare them.

Owns `recommend_cover`. Must not word anything (edge/wording/tidal.py), remember anything between calls (tracker.py
keeps an approved cover apart from tidal openings: it is someone's own window, never closed by the recommender) or
move anyone (the gateway sends `window.assign` naming the partner; the queue system moves them, and gives the seat
back when the break ends).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import datetime

from rules.hall import HallSnapshot, WindowStatus, WindowView
from rules.rota.skills import SkillBook
from rules.tidal.demand import DemandProfile
from rules.tidal.model import Recommendation, RecommendationKind
from rules.tidal.projection import _plan
from rules.tidal.reason import CoverReason, Named, service_names
from rules.tidal.recommend import _natural, _rec_id, _recommendation
from rules.tidal.settings import TidalSettings


def recommend_cover(
    hall: HallSnapshot,
    skills: SkillBook,
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
    *,
    taken: Collection[str] = (),
    arriving: Mapping[str, Collection[str]] | None = None,
) -> list[Recommendation]:
    """Per paused window A (in natural order) whose services project tickets past the target: its last staff
    member's AB partner P, when P is logged in at an open, online window B whose own services project no late
    ticket and a first wait under a third of the target (the slack cross-skilled help asks for), and P can serve A's
    services — an opening of A with P (`n` = 1, serving A's services), its reason a `CoverReason`.

    `taken`: windows not to propose (approved and on their way, or covered already); a partner is sent at most once
    per call, and never from a window in `taken`. `arriving`: windows approved earlier and not open yet → what they
    will serve (`TidalTracker.arriving`): they count as capacity for A's services from `open_delay_min`."""
    incoming = {w: frozenset(s) for w, s in (arriving or {}).items()}
    at = {w.staff_id: w for w in hall.windows if w.staff_id and w.status is WindowStatus.OPEN}
    used = set(taken)
    sent: set[str] = set()
    bucket = str(int(now.timestamp() // (settings.id_bucket_min * 60)))
    out: list[Recommendation] = []
    for a in sorted(hall.windows, key=lambda w: _natural(w.window_id)):
        if a.window_id in used or a.status is not WindowStatus.PAUSED or a.online is False:
            continue
        if not a.staff_id or not a.services:
            continue
        partner = skills.partner(a.staff_id)
        b = at.get(partner) if partner else None
        if partner is None or b is None or partner in sent or b.window_id in used:
            continue
        if b.online is False or not skills.can_serve(partner, a.services):
            continue
        services = tuple(sorted(a.services))
        coming = sum(1 for svc in incoming.values() if set(services) <= svc)
        plan = _plan(hall, services, profile, settings, now, coming)
        if not plan.demand or plan.now.late <= 0:
            continue
        if not _quiet(hall, b, profile, settings, now):
            continue
        reason = CoverReason(
            names=service_names(plan.views),
            window=_window(a),
            covered=Named(a.staff_id, a.staff_name, a.staff_name_en),
            partner=Named(partner, b.staff_name, b.staff_name_en),
            partner_window=_window(b),
            horizon_min=settings.horizon_min,
            target_wait_min=settings.target_wait_min,
        )
        rec_id = _rec_id("cover", hall.hall_id, a.window_id, partner, bucket)
        out.append(
            _recommendation(
                rec_id,
                RecommendationKind.OPEN,
                hall,
                plan,
                services,
                (a.window_id,),
                (partner,),
                1,
                plan.current + 1,
                reason,
                settings,
                now,
                services,
            )
        )
        used.update((a.window_id, b.window_id))
        sent.add(partner)
    return out


def _quiet(
    hall: HallSnapshot, b: WindowView, profile: DemandProfile | None, settings: TidalSettings, now: datetime
) -> bool:
    """Can B spare its person? Its own services project no late ticket and a first wait under a third of the target
    (with B open: the wait its people face now, as cross-skilled help measures slack)."""
    if not b.services:
        return True
    own = _plan(hall, tuple(sorted(b.services)), profile, settings, now)
    first = own.now.first if math.isfinite(own.now.first) else math.inf
    return own.now.late == 0 and first < settings.target_wait_min / 3


def _window(w: WindowView) -> Named:
    return Named(w.window_id, w.name, w.name_en)
