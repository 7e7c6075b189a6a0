"""Breaks that do not collide (错峰午休): who pauses when over lunch, from the demand expected in each 15-min slot.

Owns `BreakNeed`, `PlannedBreak`, `BreakPlan`, `BreakSettings` and `plan_breaks`. Must not learn the demand
(rules/tidal/demand.py does) or tell anyone (edge/ and the bench carry the plan out).

The model: in each slot every service s expects λ_s arrivals an hour of mean handling time AHT_s, a load of
L_s = λ_s·AHT_s Erlangs. The windows working in the slot share themselves among their services in proportion to the
services' loads, which gives each service a number of effective windows e_s; Erlang C with e_s windows (interpolated
between whole numbers) gives the share of its arrivals called within the target, and λ_s × (1 − that share) is the
slot's expected late tickets. A plan is scored by the expected late tickets over the lunch period and the hour after
it (a queue left at the end of the period still waits), plus a penalty for AB partners pausing at once.

The planner places breaks one at a time, the windows whose services have the fewest other windows first, each at the
start (on the 15-min grid, within [earliest, latest_end − length]) that leaves no service without any window while
its people arrive (窗口不断档) where any start can, and then adds the fewest expected late tickets; then it
revisits every break in turn and moves it where it now does least harm, until a round moves none (at most
`rounds`). A break's AB partner (`cover`) serves the paused window's services during it, when the partner's window is
working then. Deterministic: ties go to the earlier start, then the window id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.staffing import erlang_c

SLOT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class BreakNeed:
    """A person who must get a break of `minutes` today, at window `window_id` (its services: `BreakPlan` input)."""

    window_id: str
    minutes: int
    staff_id: str | None = None
    usual: time | None = None  # when they usually start it (the rota before planning), for the comparison
    cover: str | None = None  # the window of their AB partner, which serves this window's services during the break


@dataclass(frozen=True, slots=True)
class PlannedBreak:
    window_id: str
    staff_id: str | None
    start: datetime
    end: datetime
    cover: str | None  # the partner window that takes this window's services meanwhile


@dataclass(frozen=True, slots=True)
class BreakPlan:
    day: date
    breaks: tuple[PlannedBreak, ...]
    late_planned: float  # expected tickets called past the target over the lunch period, with this plan
    late_usual: float | None  # … with everyone at their usual time (None: usual times unknown)
    late_by_slot: tuple[tuple[datetime, float], ...]  # the plan's expected late tickets per slot, and the hour after

    def at(self, window_id: str) -> PlannedBreak | None:
        return next((b for b in self.breaks if b.window_id == window_id), None)


@dataclass(frozen=True, slots=True)
class BreakSettings:
    earliest: time = time(11, 0)  # no break starts before
    latest_end: time = time(14, 0)  # every break is over by
    target_wait_min: float = 15.0
    partner_overlap_penalty: float = 5.0  # expected late tickets a plan pays per slot two AB partners pause together
    rounds: int = 4

    def __post_init__(self) -> None:
        if self.latest_end <= self.earliest:
            raise ValueError("latest_end must be after earliest")
        if not (math.isfinite(self.target_wait_min) and self.target_wait_min > 0):
            raise ValueError(f"target_wait_min must be a number > 0, got {self.target_wait_min!r}")
        if not (math.isfinite(self.partner_overlap_penalty) and self.partner_overlap_penalty >= 0):
            raise ValueError(f"partner_overlap_penalty must be a number ≥ 0, got {self.partner_overlap_penalty!r}")
        if self.rounds < 0:
            raise ValueError(f"rounds must be ≥ 0, got {self.rounds!r}")


AFTER_SLOTS = 4  # the hour after `latest_end`, counted in a plan's cost: a queue left at the end still waits

RateFn = Callable[[str, datetime], float | None]  # arrivals an hour of a service in the slot starting at a time


@dataclass(slots=True)
class _Model:
    slots: list[datetime]  # the lunch period's, then the hour after it
    period: int  # how many of them are the lunch period (where breaks may fall)
    windows: dict[str, frozenset[str]]
    load: dict[str, list[float]]  # service → Erlangs per slot
    rate: dict[str, list[float]]  # service → arrivals an hour per slot
    aht: dict[str, float]
    target: float
    penalty: float
    start: dict[str, int] = field(default_factory=dict)  # window → first slot of its break
    length: dict[str, int] = field(default_factory=dict)  # window → slots
    cover: dict[str, str] = field(default_factory=dict)
    partner: dict[str, str] = field(default_factory=dict)  # window → the window of its AB partner
    _among_cache: dict[frozenset[str], dict[str, frozenset[str]]] = field(default_factory=dict)

    def away(self, w: str, k: int) -> bool:
        s = self.start.get(w)
        return s is not None and s <= k < s + self.length[w]

    def serving(self, k: int, among: Mapping[str, frozenset[str]] | None = None) -> dict[str, frozenset[str]]:
        """The windows working in slot k (of `among`, default all) → what each serves then (a cover: its partner's
        services too)."""
        out = {w: svc for w, svc in (among or self.windows).items() if not self.away(w, k)}
        for w, c in self.cover.items():
            if self.away(w, k) and c in out:
                out[c] = out[c] | self.windows[w]
        return out

    def effective(self, k: int, services: Collection[str] | None = None) -> dict[str, float]:
        """Windows per service in slot k: each working window shared among its services by their loads (of
        `services` only, when given: only the windows that can serve them, and their covers, are looked at)."""
        among = None if services is None else self._among(frozenset(services))
        eff: dict[str, float] = {}
        for svc in self.serving(k, among).values():
            total = sum(self.load[s][k] for s in svc if s in self.load)
            for s in svc:
                if s in self.load and (services is None or s in services):
                    eff[s] = eff.get(s, 0.0) + (self.load[s][k] / total if total > 0 else 1 / len(svc))
        return eff

    def _among(self, services: frozenset[str]) -> dict[str, frozenset[str]]:
        """The windows that serve any of `services`, and the windows covering those (remembered per set)."""
        found = self._among_cache.get(services)
        if found is None:
            serving = {w for w, svc in self.windows.items() if svc & services}
            serving |= {c for w, c in self.cover.items() if w in serving and c in self.windows}
            found = self._among_cache[services] = {w: self.windows[w] for w in serving}
        return found

    def late(self, services: set[str] | None = None) -> list[float]:
        """Expected late tickets per slot (of `services` only, when given): the arrivals Erlang C has waiting past
        the target, plus the work left over when the slot's windows cannot keep up (it waits into the next slot)."""
        hours = SLOT.total_seconds() / 3600
        eff = [self.effective(k, services) for k in range(len(self.slots))]
        out = [0.0] * len(self.slots)
        for s in services if services is not None else self.load:
            if s not in self.load:
                continue
            left = 0.0  # tickets still waiting from earlier slots
            for k in range(len(self.slots)):
                arrivals = self.rate[s][k] * hours
                windows = eff[k].get(s, 0.0)
                capacity = windows * hours * 60 / self.aht[s]  # tickets the windows can finish in the slot
                sl = _service_level(windows, self.load[s][k], self.aht[s], self.target)
                left = max(0.0, left + arrivals - capacity)
                out[k] += arrivals * (1 - sl) + left
        return out

    def uncovered(self, services: set[str]) -> int:
        """Slots of the lunch period in which one of `services` has people arriving and no window at all."""
        out = 0
        for k in range(self.period):
            eff = self.effective(k, services)
            out += sum(1 for c in services if c in self.rate and self.rate[c][k] > 0 and eff.get(c, 0.0) <= 0)
        return out

    def overlap(self, k: int) -> float:
        return sum(0.5 * self.penalty for w, p in self.partner.items() if self.away(w, k) and self.away(p, k))

    def cost(self, services: set[str] | None = None) -> float:
        return sum(self.late(services)) + sum(self.overlap(k) for k in range(len(self.slots)))


def _rate(rate: RateFn, service: str, at: datetime) -> float:
    value = rate(service, at)
    if value is None:
        return 0.0
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"the arrival rate of {service} at {at:%H:%M} must be a number ≥ 0, got {value!r}")
    return float(value)


def _service_level(servers: float, load: float, aht: float, target: float) -> float:
    """Erlang C SL(target) with a fractional number of servers, linear between whole numbers."""
    if load <= 0:
        return 1.0
    low = math.floor(servers)
    frac = servers - low

    def whole(n: int) -> float:
        if n <= load:
            return 0.0
        return 1 - erlang_c(n, load) * math.exp(-(n - load) * target / aht)

    return whole(low) if frac < 1e-9 else (1 - frac) * whole(low) + frac * whole(low + 1)


def plan_slots(day: date, timezone: str, settings: BreakSettings) -> tuple[list[datetime], int]:
    """The 15-min slots a plan of `day` looks at, and how many of them are the lunch period (where breaks fall):
    the period's, then the hour after it (a queue left at the end still waits)."""
    zone = ZoneInfo(timezone)
    last = datetime.combine(day, settings.latest_end, zone)
    slots = []
    at = datetime.combine(day, settings.earliest, zone)
    while at < last:
        slots.append(at)
        at += SLOT
    return slots + [last + SLOT * k for k in range(AFTER_SLOTS)], len(slots)


def plan_breaks(
    day: date,
    timezone: str,
    windows: Mapping[str, Sequence[str]],
    needs: Sequence[BreakNeed],
    rate: RateFn,
    aht_min: Mapping[str, float],
    settings: BreakSettings | None = None,
) -> BreakPlan:
    """The day's breaks. `windows`: every window working over lunch → the services it serves (those without a break
    too); `needs`: who needs a break; `rate`: expected arrivals an hour per service and slot (e.g.
    `DemandProfile.rate`); `aht_min`: mean handling time per service (a service without one is not planned for)."""
    s = settings or BreakSettings()
    slots, period = plan_slots(day, timezone, s)
    first = slots[0]
    seen: set[str] = set()
    for need in needs:
        if need.window_id in seen:
            raise ValueError(f"window {need.window_id!r} needs two breaks")
        if need.window_id not in windows:
            raise ValueError(f"window {need.window_id!r} needs a break but is not working")
        if need.minutes <= 0 or math.ceil(need.minutes / 15) > period:
            raise ValueError(f"window {need.window_id!r}: a break of {need.minutes} min does not fit the lunch period")
        seen.add(need.window_id)
    services = sorted({c for svc in windows.values() for c in svc if c in aht_min})
    for c in services:
        if not (isinstance(aht_min[c], int | float) and math.isfinite(aht_min[c]) and aht_min[c] > 0):
            raise ValueError(f"aht_min[{c}] must be a number of minutes > 0, got {aht_min[c]!r}")
    rates = {c: [_rate(rate, c, t) for t in slots] for c in services}
    model = _Model(
        slots=slots,
        period=period,
        windows={w: frozenset(svc) for w, svc in windows.items()},
        load={c: [r * aht_min[c] / 60 for r in rates[c]] for c in services},
        rate=rates,
        aht={c: aht_min[c] for c in services},
        target=s.target_wait_min,
        penalty=s.partner_overlap_penalty,
    )
    for need in needs:
        model.length[need.window_id] = math.ceil(need.minutes / 15)
        if need.cover and need.cover in windows and need.cover != need.window_id:
            model.cover[need.window_id] = need.cover
            model.partner[need.window_id] = need.cover
    usual = None
    if needs and all(n.usual is not None for n in needs):
        for need in needs:
            k = int((datetime.combine(day, need.usual, first.tzinfo) - first) / SLOT)  # type: ignore[arg-type]
            model.start[need.window_id] = max(0, min(k, period - model.length[need.window_id]))
        usual = model.cost()
        model.start.clear()

    def others(need: BreakNeed) -> int:
        return min((sum(1 for svc in windows.values() if c in svc) for c in windows[need.window_id]), default=0)

    order = sorted(needs, key=lambda n: (others(n), n.window_id))
    for need in order:
        model.start[need.window_id] = _best_start(model, need.window_id)
    for _ in range(s.rounds):
        moved = False
        for need in order:
            was = model.start[need.window_id]
            best = _best_start(model, need.window_id)
            if best != was:
                model.start[need.window_id] = best
                moved = True
        if not moved:
            break
    breaks = tuple(
        PlannedBreak(
            n.window_id,
            n.staff_id,
            slots[model.start[n.window_id]],
            slots[model.start[n.window_id]] + timedelta(minutes=n.minutes),
            model.cover.get(n.window_id),
        )
        for n in sorted(needs, key=lambda n: (model.start[n.window_id], n.window_id))
    )
    late = model.late()
    by_slot = tuple((t, round(late[k] + model.overlap(k), 3)) for k, t in enumerate(slots))
    return BreakPlan(
        day, breaks, round(sum(v for _, v in by_slot), 3), None if usual is None else round(usual, 3), by_slot
    )


def _best_start(model: _Model, window: str) -> int:
    """The break start for `window` that leaves the fewest expected late tickets, the others' breaks as they are."""
    model.start.pop(window, None)
    touched = set(model.windows[window])
    if window in model.cover:
        touched |= model.windows[model.cover[window]]
    for w, c in model.cover.items():  # windows this one covers: their services depend on it too
        if c == window:
            touched |= model.windows[w]
    best, best_key = 0, (math.inf, math.inf)
    for start in range(model.period - model.length[window] + 1):
        model.start[window] = start
        key = (float(model.uncovered(touched)), model.cost(touched))  # a service left without any window comes first
        if key[0] < best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1] - 1e-9):
            best, best_key = start, key
    model.start[window] = best
    return best
