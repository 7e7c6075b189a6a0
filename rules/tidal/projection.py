"""The sizing (排队推演): a deterministic projection of a service group's queue onto its windows, and the plan that
sizes it — how many windows keep every wait within the target, what Erlang C/A says for the arrival rate, what the
learned window hours say about windows leaving or coming back.

Owns `_Plan`, `_Projection`, `_plan`, `_project`, `_servers_for_backlog`, the windows' free times and usual hours, and
`projected_wait_min` (the number the check after an opening compares). Must not decide what to recommend
(recommend.py) or keep state (tracker.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rules.hall import HallSnapshot, ServiceView, WindowStatus
from rules.staffing import evaluate_erlang_a, evaluate_erlang_c, servers_for_target
from rules.tidal.demand import SLOT_MIN, DemandProfile, blended_rate, live_rate
from rules.tidal.settings import TidalSettings

RESIDUAL_FLOOR = 0.25  # a service past its mean still needs at least this share of an AHT (long-tailed services)
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class _Plan:
    services: tuple[str, ...]
    views: tuple[ServiceView, ...]
    backlog: int
    in_service: int
    arrivals_15m: int
    arrivals_60m: int
    free_at: tuple[float, ...]  # minutes until each open (or arriving) window can call its next ticket, ascending
    arriving: int  # of which windows on their way (free at open_delay_min)
    window_ids: tuple[str | None, ...]  # per free_at entry: the window (None: one on its way)
    leaves: tuple[float, ...]  # per free_at entry: minutes until it usually stops (inf: not within the horizon)
    returning: tuple[float, ...]  # paused windows that usually resume within the horizon: minutes until then
    arrivals_for: float  # minutes of arrivals to project: the horizon, or less when the hall usually closes sooner
    live: float
    profile: float | None
    rate: float  # blended, per hour (with the bookings known: of the walk-ins, the bookings are in `booked`)
    booked: tuple[float, ...]  # minutes from now at which booked people are expected (appointments, 预约)
    booked_rate: float  # … per hour over the horizon
    boost: float  # how many minutes of waiting an appointment is called ahead of (the queue system's call policy)
    aht: float  # arrival-weighted: for new arrivals and the Erlang count
    backlog_aht: float  # waiting-weighted: for the tickets already waiting
    learned: bool
    erlang: int
    by_backlog: int
    waited: tuple[float, ...]  # minutes each waiting ticket has waited, longest first
    now: _Projection  # with the open windows

    @property
    def current(self) -> int:
        return len(self.free_at)

    @property
    def total_rate(self) -> float:
        """Arrivals per hour with the booked ones (what Erlang sizes for)."""
        return self.rate + self.booked_rate

    @property
    def needed(self) -> int:
        return max(self.erlang, self.by_backlog)

    @property
    def demand(self) -> bool:
        """Something is actually happening: people wait, tickets were issued in the last hour, or booked people are
        due within the horizon."""
        return self.backlog > 0 or self.arrivals_60m > 0 or bool(self.booked)


def _aht_of(view: ServiceView, settings: TidalSettings) -> tuple[float, bool]:
    if view.aht_learned:
        return view.mean_service_s / 60.0, True
    return settings.aht_defaults_min.get(view.code, settings.default_aht_min), False


def _backlog_aht(views: Sequence[ServiceView], settings: TidalSettings) -> float:
    """Mean service time of the waiting tickets (each service's own AHT, weighted by its queue)."""
    ahts = [_aht_of(v, settings)[0] for v in views]
    waiting = sum(v.waiting for v in views)
    if waiting:
        return sum(a * v.waiting for a, v in zip(ahts, views, strict=True)) / waiting
    return sum(ahts) / len(ahts) if ahts else settings.default_aht_min


def _free_at(hall: HallSnapshot, services: Collection[str], settings: TidalSettings, now: datetime) -> list[float]:
    """Per open window serving any of `services`: minutes until it is free (remaining service of its ticket)."""
    return sorted(f for _, f in _free_by_window(hall, services, settings, now))


def _free_by_window(
    hall: HallSnapshot, services: Collection[str], settings: TidalSettings, now: datetime
) -> list[tuple[str, float]]:
    """(window, minutes until free) per open window serving any of `services`, soonest free first."""
    views = {s.code: s for s in hall.services}
    out: list[tuple[str, float]] = []
    wanted = set(services)
    for w in hall.windows:
        if w.status is not WindowStatus.OPEN or wanted.isdisjoint(w.services):
            continue
        if w.current_ticket is None:
            out.append((w.window_id, 0.0))
            continue
        view = views.get(w.current_service or "")
        aht = _aht_of(view, settings)[0] if view else settings.default_aht_min
        if w.serving_since is None:  # called, not started yet: the whole service is ahead
            out.append((w.window_id, aht))
        else:
            elapsed = max(0.0, (now - w.serving_since).total_seconds() / 60.0)
            out.append((w.window_id, max(aht - elapsed, RESIDUAL_FLOOR * aht)))
    return sorted(out, key=lambda wf: (wf[1], wf[0]))


def _hours(
    hall: HallSnapshot, services: Collection[str], profile: DemandProfile | None, settings: TidalSettings, now: datetime
) -> tuple[dict[str, float], tuple[float, ...]]:
    """What the learned window hours say about the next `horizon_min`: open windows of the group that usually stop
    (window → minutes until then), and paused windows that usually resume (minutes until then). A window counts as
    usually open in a slot when it was on at least half of the same weekdays; only changes from the usual state of
    the current (or, for a break starting now, the previous) slot count, so an unusual pause or an unusual opening
    today predicts nothing."""
    if profile is None:
        return {}, ()
    leaves: dict[str, float] = {}
    back: list[float] = []
    slot_start = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % SLOT_MIN)
    ahead = [
        slot_start + timedelta(minutes=SLOT_MIN * k) for k in range(1, math.ceil(settings.horizon_min / SLOT_MIN) + 1)
    ]
    ahead = [t for t in ahead if (t - now).total_seconds() / 60 < settings.horizon_min]
    wanted = set(services)
    for w in hall.windows:
        if w.status not in (WindowStatus.OPEN, WindowStatus.PAUSED) or wanted.isdisjoint(w.services):
            continue
        usual_now = profile.usually_open(w.window_id, now)
        if usual_now is None:
            continue
        if w.status is WindowStatus.OPEN and usual_now >= 0.5:
            stop = next((t for t in ahead if (profile.usually_open(w.window_id, t) or 0.0) < 0.5), None)
            if stop is not None:
                leaves[w.window_id] = (stop - now).total_seconds() / 60
        elif w.status is WindowStatus.OPEN:
            before = profile.usually_open(w.window_id, now - timedelta(minutes=SLOT_MIN))
            if before is not None and before >= 0.5:
                leaves[w.window_id] = 0.0  # its break starts in this slot: it goes once its ticket is done
        elif w.status is WindowStatus.PAUSED and usual_now < 0.5:
            start = next((t for t in ahead if (profile.usually_open(w.window_id, t) or 0.0) >= 0.5), None)
            if start is not None:
                back.append((start - now).total_seconds() / 60)
    return leaves, tuple(sorted(back))


@dataclass(frozen=True, slots=True)
class _Projection:
    first: float  # wait of a ticket issued now (inf: no window)
    worst: float  # longest wait of a ticket issued within the horizon
    late: int  # tickets (waiting now or issued within the horizon) whose whole wait exceeds the target
    late_min: float  # their minutes beyond the target, summed


def _project(  # noqa: PLR0913 - the projection's inputs, each named; bundling them would hide which one moves
    free_at: Sequence[float],
    new: int,
    delay: float,
    waited: Sequence[float],
    backlog_aht: float,
    rate_per_h: float,
    aht: float,
    horizon: float,
    target: float = math.inf,
    leaves: Sequence[float] = (),
    returning: Sequence[float] = (),
    booked: Sequence[float] = (),
    boost: float = 0.0,
) -> _Projection:
    """Deterministic FIFO projection of the waiting tickets and the arrivals of the next `horizon` minutes.

    Windows start free at `free_at` (and `new` more at `delay`); the backlog goes first, longest-waiting first
    (`waited`: minutes each has waited so far; `backlog_aht` each), then arrivals at a steady 1/λ apart over the
    horizon (`aht` each); each ticket takes the window that frees first. A ticket is late when the minutes it has
    waited plus the projected minutes exceed `target`. A window stops calling at `leaves[i]` (minutes from now; a
    lunch break or the end of a shift, from the learned window hours) and finishes the ticket it has; `returning`
    windows start at the given minutes. inf waits (and those tickets late) when no window is left to call them.

    `booked`: appointments expected at those minutes, called `boost` minutes of waiting ahead of the walk-ins (the
    queue system's order, `_project_booked`): a walk-in's wait then includes the appointments that pass it.
    """
    if booked:
        return _project_booked(
            free_at, new, delay, waited, backlog_aht, rate_per_h, aht, horizon, target, leaves, returning, booked, boost
        )
    heap = [
        *((f, leaves[i] if i < len(leaves) else math.inf) for i, f in enumerate(free_at)),
        *([(delay, math.inf)] * new),
        *((r, math.inf) for r in returning),
    ]
    heapq.heapify(heap)
    rate = rate_per_h / 60.0
    count = math.floor(horizon * rate + _EPS) if rate > 0 else 0
    late, late_min = 0, 0.0

    def take(ready: float, service: float) -> float:
        """Start of a ticket ready at `ready` on the window that frees first; inf when no window is left."""
        while heap and max(heap[0][0], ready) >= heap[0][1] - _EPS:
            heapq.heappop(heap)  # the window stops (a break, the end of a shift) before it could call
        if not heap:
            return math.inf
        free, leave = heap[0]
        start = max(free, ready)
        heapq.heapreplace(heap, (start + service, leave))
        return start

    for already in waited:
        start = take(0.0, backlog_aht)
        if already + start > target + _EPS:
            late += 1
            late_min += already + start - target
    first = worst = 0.0
    for k in range(count + 1):  # k = 0 is "a ticket issued now"
        arrives = k / rate if k else 0.0
        wait = take(arrives, aht) - arrives
        if k == 0:
            first = wait
        worst = max(worst, wait)
        if wait > target + _EPS:
            late += 1
            late_min += wait - target
    return _Projection(first, worst, late, late_min)


def _project_booked(  # noqa: PLR0913 - `_project`'s inputs
    free_at: Sequence[float],
    new: int,
    delay: float,
    waited: Sequence[float],
    backlog_aht: float,
    rate_per_h: float,
    aht: float,
    horizon: float,
    target: float,
    leaves: Sequence[float],
    returning: Sequence[float],
    booked: Sequence[float],
    boost: float,
) -> _Projection:
    """`_project` with appointments: whenever a window frees, it calls the ticket that has arrived with the smallest
    rank — arrival time, less `boost` for an appointment; the backlog first (longest waiting first)."""
    windows = [
        *((f, leaves[i] if i < len(leaves) else math.inf) for i, f in enumerate(free_at)),
        *([(delay, math.inf)] * new),
        *((r, math.inf) for r in returning),
    ]
    heapq.heapify(windows)
    rate = rate_per_h / 60.0
    count = math.floor(horizon * rate + _EPS) if rate > 0 else 0
    # (arrives, rank, service minutes, minutes already waited, kind: 0 waiting now, 1 arriving, 2 "issued now")
    tickets = [(0.0, -already, backlog_aht, already, 0) for already in waited]
    tickets += [((k / rate if k else 0.0), (k / rate if k else 0.0), aht, 0.0, 1 + (k == 0)) for k in range(count + 1)]
    tickets += [(b, b - boost, aht, 0.0, 1) for b in booked]  # within the horizon (`Bookings.expected`)
    tickets.sort(key=lambda t: (t[0], t[1]))
    ready: list[tuple[float, int, float, float, float, int]] = []  # (rank, order, arrives, aht, already, kind)
    first = worst = 0.0
    late, late_min = 0, 0.0
    i = 0

    def settle(wait: float, already: float, kind: int) -> None:
        nonlocal first, worst, late, late_min
        if kind == 2:  # the kinds are named above
            first = wait
        if kind:
            worst = max(worst, wait)
        if already + wait > target + _EPS:
            late += 1
            late_min += already + wait - target

    while i < len(tickets) or ready:
        at = tickets[i][0] if not ready else -math.inf
        while windows and max(windows[0][0], at) >= windows[0][1] - _EPS:
            heapq.heappop(windows)  # the window stops (a break, the end of a shift) before it could call
        if not windows:
            for *_, already, kind in ready:
                settle(math.inf, already, kind)
            for *_, already, kind in tickets[i:]:
                settle(math.inf, already, kind)
            break
        free, leave = windows[0]
        now = max(free, at)
        while i < len(tickets) and tickets[i][0] <= now + _EPS:
            arrives, rank, minutes, already, kind = tickets[i]
            heapq.heappush(ready, (rank, i, arrives, minutes, already, kind))
            i += 1
        _, _, arrives, minutes, already, kind = heapq.heappop(ready)
        heapq.heapreplace(windows, (now + minutes, leave))
        settle(now - arrives, already, kind)
    return _Projection(first, worst, late, late_min)


def _servers_for_backlog(  # noqa: PLR0913 - the projection's inputs
    plan_free: Sequence[float],
    leaves: Sequence[float],
    returning: Sequence[float],
    waited: Sequence[float],
    backlog_aht: float,
    rate: float,
    aht: float,
    s: TidalSettings,
    booked: Sequence[float] = (),
) -> int:
    """The fewest windows with which the projection keeps every ticket of the horizon within the target wait.

    Existing windows are used earliest-free first, new ones start after `open_delay_min`. Monotone in the number
    of windows, so a binary search; with one new window per ticket every wait is ≤ open_delay < target.
    """
    arrivals = (math.floor(s.horizon_min * rate / 60.0 + _EPS) if rate > 0 else 0) + len(booked)

    def meets(n: int) -> bool:
        have = plan_free[:n]
        worst = _project(
            have,
            n - len(have),
            s.open_delay_min,
            waited,
            backlog_aht,
            rate,
            aht,
            s.horizon_min,
            math.inf,
            leaves[:n],
            returning,
            booked,
            s.appointment_boost_min,
        ).worst
        return worst <= s.target_wait_min + _EPS

    lo, hi = 1, len(plan_free) + len(waited) + arrivals + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _plan(
    hall: HallSnapshot,
    services: Sequence[str],
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
    arriving: int = 0,
) -> _Plan:
    known = {s.code: s for s in hall.services}
    views = tuple(known[c] for c in services if c in known)
    live = profiled = rate = 0.0
    have_profile = False
    rates: list[float] = []
    bookings = profile.bookings if profile is not None else None
    if bookings is not None and not bookings.active(now):
        bookings = None  # none heard for days: the profile's rate stands for the booked people too
    for v in views:
        k15, k60 = v.arrivals_15m, v.arrivals_60m
        if bookings is not None:  # the walk-ins only: the booked people come as `booked` below
            a15, a60 = bookings.arrivals(v.code, now)
            k15, k60 = max(0, k15 - a15), max(0, k60 - a60)
        p = (
            profile.rate_over(v.code, now, settings.horizon_min, walk_in=bookings is not None)
            if profile is not None
            else None
        )
        live += live_rate(k15, k60)
        if p is not None:
            profiled += p
            have_profile = True
        r = blended_rate(k15, k60, p)
        rates.append(r)
        rate += r
    ahts = [_aht_of(v, settings) for v in views]
    backlog = sum(v.waiting for v in views)
    weights = rates if rate > 0 else [float(v.waiting) for v in views]
    if not views:
        aht = settings.default_aht_min
    elif sum(weights) > 0:
        aht = sum(w * a for w, (a, _) in zip(weights, ahts, strict=True)) / sum(weights)
    else:
        aht = sum(a for a, _ in ahts) / len(ahts)
    stops, returning = _hours(hall, services, profile, settings, now)
    slots: list[tuple[float, float, str | None]] = sorted(
        [(f, stops.get(w, math.inf), w) for w, f in _free_by_window(hall, services, settings, now)]
        + [(settings.open_delay_min, math.inf, None)] * arriving,
        key=lambda x: (x[0], x[1], x[2] or ""),
    )
    free_at = [f for f, _, _ in slots]
    leaves = tuple(stop for _, stop, _ in slots)
    closes = profile.closed_from(now, settings.horizon_min) if profile is not None else None
    arrivals_for = settings.horizon_min if closes is None else closes
    # the bookings of the whole horizon, even past the usual closing: they say the hall is open (extended hours)
    booked = bookings.expected(services, now, settings.horizon_min) if bookings is not None else ()
    booked_rate = len(booked) * 60.0 / settings.horizon_min
    erlang = servers_for_target(  # for every arrival, the booked ones too
        (rate + booked_rate) / 60.0,
        aht,
        settings.target_wait_min,
        settings.service_level,
        patience=settings.patience_min,
        max_abandonment=None if settings.patience_min is None else settings.max_abandonment,
    )
    backlog_aht = _backlog_aht(views, settings)
    waited = _waited(views)
    boost = settings.appointment_boost_min
    projection = _project(
        free_at,
        0,
        0.0,
        waited,
        backlog_aht,
        rate,
        aht,
        arrivals_for,
        settings.target_wait_min,
        leaves,
        returning,
        booked,
        boost,
    )
    in_service = sum(
        1
        for w in hall.windows
        if w.status is WindowStatus.OPEN and w.current_ticket is not None and w.current_service in services
    )
    return _Plan(
        services=tuple(services),
        views=views,
        backlog=backlog,
        in_service=in_service,
        arrivals_15m=sum(v.arrivals_15m for v in views),
        arrivals_60m=sum(v.arrivals_60m for v in views),
        free_at=tuple(free_at),
        arriving=arriving,
        window_ids=tuple(w for _, _, w in slots),
        leaves=leaves,
        returning=returning,
        arrivals_for=arrivals_for,
        live=live,
        profile=profiled if have_profile else None,
        rate=rate,
        booked=booked,
        booked_rate=booked_rate,
        boost=boost,
        aht=aht,
        backlog_aht=backlog_aht,
        learned=all(learned for _, learned in ahts),
        erlang=erlang,
        by_backlog=_servers_for_backlog(
            free_at,
            leaves,
            returning,
            waited,
            backlog_aht,
            rate,
            aht,
            replace(settings, horizon_min=arrivals_for),
            booked,
        ),
        waited=waited,
        now=projection,
    )


def _service_level(servers: int, plan: _Plan, settings: TidalSettings) -> float | None:
    if servers < 1:
        return None
    if settings.patience_min is None:
        return evaluate_erlang_c(servers, plan.total_rate / 60.0, plan.aht, settings.target_wait_min).service_level
    return evaluate_erlang_a(
        servers, plan.total_rate / 60.0, plan.aht, settings.patience_min, settings.target_wait_min
    ).service_level


def _after(plan: _Plan, servers: int, settings: TidalSettings) -> _Projection:
    """The projection with `servers` windows: fewer than now drops the latest-free; more adds new ones."""
    have = plan.free_at[:servers]
    return _project_plan(plan, settings, have, plan.leaves[:servers], new=servers - len(have))


def _project_plan(
    plan: _Plan, s: TidalSettings, free_at: Sequence[float], leaves: Sequence[float], new: int = 0
) -> _Projection:
    """The plan's tickets and arrivals projected onto the given windows (and `new` ones after `open_delay_min`)."""
    return _project(
        free_at,
        new,
        s.open_delay_min,
        plan.waited,
        plan.backlog_aht,
        plan.rate,
        plan.aht,
        plan.arrivals_for,
        s.target_wait_min,
        leaves,
        plan.returning,
        plan.booked,
        plan.boost,
    )


def _waited(views: Sequence[ServiceView]) -> tuple[float, ...]:
    """Minutes each waiting ticket of the group has waited, longest first (the order the windows call them)."""
    return tuple(sorted((w / 60.0 for v in views for w in v.waits_s), reverse=True))


def projected_wait_min(
    hall: HallSnapshot, services: Collection[str], settings: TidalSettings, now: datetime
) -> float | None:
    """The projected wait of a ticket issued now for the group, with its open windows (None: no open window).

    Backlog and remaining service of the tickets at its windows, each ahead ticket taking the group's AHT; arrivals
    do not matter (they queue behind). This is the number the check after an opening compares.
    """
    known = {s.code: s for s in hall.services}
    views = [known[c] for c in services if c in known]
    aht = _backlog_aht(views, settings)
    wait = _project(_free_at(hall, services, settings, now), 0, 0.0, _waited(views), aht, 0.0, aht, 0.0).first
    return None if math.isinf(wait) else wait
