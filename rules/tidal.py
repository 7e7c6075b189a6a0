"""Tidal windows (潮汐窗口): when to open extra windows for a service group, which ones and with whom, and when to
close them again.

Owns the pure decision part of the tidal-window feature (research/queue-and-staffing.md §4.2, §6.2; seeds F-01,
R-Q3/R-Q4):

- `DemandProfile` — arrivals per service per weekday × 15-min slot, learned from `ticket.issued` events (the mean
  of the last 4 same weekdays, research §4.6), and `blended_rate`, which mixes it with the live counts.
- `recommend_open` — per service group: Erlang C/A for the blended arrival rate, and a transient projection of the
  current backlog and of the tickets being served, give the windows needed; closed windows that can serve the group
  and free staff from the tidal pool give the proposal, with the numbers and a reason in English and Chinese.
- `recommend_close` — with hysteresis, for windows opened by approved recommendations.
- `TidalTracker` — the state between a recommendation and its end: offers, approvals, rejections, the check after
  an approved opening (escalate if the projected wait has not fallen), the quiet clock behind closing; JSON
  `dump`/`load` so it survives a restart.

Pure: no I/O, no clock (every time is passed in), no MQTT. The gateway (edge/) turns approvals into commands
(`window.assign` to the qms, `nudge` to the window terminal) and notifications. docs/tidal.md has the model, the
formulas and the defaults.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rules.hall import HallProfile, HallSnapshot, ServiceView, WindowStatus, WindowView
from rules.staffing import Model, evaluate_erlang_a, evaluate_erlang_c, servers_for_target

SLOT_MIN = 15  # the demand profile's slot
SLOTS_PER_DAY = 24 * 60 // SLOT_MIN
LIVE_15M_HALF_WEIGHT = 8.0  # arrivals in the last 15 min at which the 15-min rate and the hour's rate weigh the same
LIVE_60M_HALF_WEIGHT = 12.0  # arrivals in the last hour at which the live rate and the profile weigh the same
RESIDUAL_FLOOR = 0.25  # a service past its mean still needs at least this share of an AHT (long-tailed services)
SCHEMA_VERSION = 1
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class TidalSettings:
    """How the recommender sizes, opens, checks and closes (minutes and fractions; defaults from research §6.3)."""

    target_wait_min: float = 15.0  # T of the service level: called within 15 min (SL15)
    service_level: float = 0.8  # … for 80 % of the arrivals
    patience_min: float | None = None  # None: Erlang C; a mean patience: Erlang A with the walkout cap below
    max_abandonment: float = 0.05  # Erlang A only: the target must not be "met" by people leaving
    default_aht_min: float = 10.0  # mean service time until a service's own is learned (ServiceView.aht_learned)
    aht_defaults_min: Mapping[str, float] = field(default_factory=dict)  # per-service defaults (service profile)
    horizon_min: float = 30.0  # plan for the backlog plus the arrivals of the next 30 min
    open_delay_min: float = 5.0  # from recommendation to a new window calling its first ticket (approval, walking)
    max_windows: int = 3  # at most this many windows per recommendation
    include_paused: bool = False  # may a paused window (staff on break or in the back office) be proposed?
    valid_for_min: float = 10.0  # a recommendation expires this long after it was made
    id_bucket_min: float = 15.0  # the same situation within one such bucket keeps its recommendation id
    check_after_min: float = 10.0  # after an approved opening, the projected wait must have fallen by then
    check_min_drop: float = 0.0  # … by at least this fraction (0: any fall)
    close_wait_min: float = 5.0  # "quiet": projected wait below this …
    close_waiting_per_window: float = 2.0  # … and fewer than this many waiting per open window …
    close_after_min: float = 15.0  # … without interruption for this long before a close is recommended

    def __post_init__(self) -> None:
        for name in ("target_wait_min", "default_aht_min", "horizon_min", "valid_for_min", "id_bucket_min"):
            _positive(name, getattr(self, name))
        for name in ("open_delay_min", "check_after_min", "close_wait_min", "close_after_min"):
            _non_negative(name, getattr(self, name))
        _positive("close_waiting_per_window", self.close_waiting_per_window)
        if not 0 < self.service_level < 1:
            raise ValueError(f"service_level must be a fraction in (0, 1), e.g. 0.8, got {self.service_level!r}")
        if not 0 < self.max_abandonment < 1:
            raise ValueError(f"max_abandonment must be a fraction in (0, 1), got {self.max_abandonment!r}")
        if not 0 <= self.check_min_drop < 1:
            raise ValueError(f"check_min_drop must be a fraction in [0, 1), got {self.check_min_drop!r}")
        if self.patience_min is not None:
            _positive("patience_min", self.patience_min)
        if self.open_delay_min >= self.target_wait_min:
            raise ValueError("open_delay_min must be shorter than target_wait_min: a new window could never help")
        if isinstance(self.max_windows, bool) or not isinstance(self.max_windows, int) or self.max_windows < 1:
            raise ValueError(f"max_windows must be a whole number ≥ 1, got {self.max_windows!r}")
        for code, aht in self.aht_defaults_min.items():
            _positive(f"aht_defaults_min[{code}]", aht)

    @property
    def model(self) -> Model:
        return Model.ERLANG_C if self.patience_min is None else Model.ERLANG_A


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")


# ---------------------------------------------------------------------------------------------- demand profile


class DemandProfile:
    """Arrivals per service per weekday × 15-min slot (到达量画像), learned from the event log.

    `add` every `ticket.issued` of the last weeks (whole days, in any order); `rate(service, at)` is the mean count
    in `at`'s slot over the last `weeks` days with the same weekday *before* `at`'s day (today is the live part),
    in arrivals per hour. A day counts once it has any ticket, so days the hall was closed do not dilute the mean.
    """

    def __init__(self, timezone: str = "Asia/Shanghai", weeks: int = 4) -> None:
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise ValueError(f"weeks must be a whole number ≥ 1, got {weeks!r}")
        self.timezone = timezone
        self.weeks = weeks
        self._tz = ZoneInfo(timezone)
        self._days: dict[date, dict[str, dict[int, int]]] = {}  # local date → service → slot → count

    def add(self, service: str, issued_at: datetime) -> None:
        """Count one issued ticket. Days older than `weeks` + 1 weeks before the newest day are forgotten."""
        if issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")
        local = issued_at.astimezone(self._tz)
        day = local.date()
        if day not in self._days:
            cutoff = max([day, *self._days]) - timedelta(days=7 * (self.weeks + 1))
            if day < cutoff:
                return
            self._days[day] = {}
            for old in [d for d in self._days if d < cutoff]:
                del self._days[old]
        slots = self._days[day].setdefault(service, {})
        slot = _slot(local)
        slots[slot] = slots.get(slot, 0) + 1

    def rate(self, service: str, at: datetime) -> float | None:
        """Arrivals per hour expected in `at`'s slot; None without a same-weekday day on which `service` was seen."""
        local = at.astimezone(self._tz)
        today = local.date()
        days = sorted(d for d in self._days if d.weekday() == today.weekday() and d < today)[-self.weeks :]
        if not any(service in self._days[d] for d in days):
            return None
        slot = _slot(local)
        total = sum(self._days[d].get(service, {}).get(slot, 0) for d in days)
        return total / len(days) * (60 / SLOT_MIN)

    def rate_over(self, service: str, start: datetime, minutes: float) -> float | None:
        """Mean of `rate` over the slots that [start, start + minutes) touches (None if none is known)."""
        steps = max(1, math.ceil(minutes / SLOT_MIN))
        known = [
            r for k in range(steps) if (r := self.rate(service, start + timedelta(minutes=SLOT_MIN * k))) is not None
        ]
        return sum(known) / len(known) if known else None

    @property
    def days(self) -> tuple[date, ...]:
        """The days learned, oldest first."""
        return tuple(sorted(self._days))

    def dump(self) -> bytes:
        body = {
            "schema": SCHEMA_VERSION,
            "timezone": self.timezone,
            "weeks": self.weeks,
            "days": {
                d.isoformat(): {svc: {str(s): n for s, n in sorted(slots.items())} for svc, slots in by_svc.items()}
                for d, by_svc in sorted(self._days.items())
            },
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def load(cls, data: bytes) -> DemandProfile:
        body = json.loads(data)
        if body.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"demand profile schema {body.get('schema')!r} is not {SCHEMA_VERSION}")
        profile = cls(str(body["timezone"]), int(body["weeks"]))
        for d, by_svc in body["days"].items():
            profile._days[date.fromisoformat(d)] = {
                str(svc): {int(s): int(n) for s, n in slots.items()} for svc, slots in by_svc.items()
            }
        return profile


def _slot(local: datetime) -> int:
    return (local.hour * 60 + local.minute) // SLOT_MIN


def live_rate(arrivals_15m: int, arrivals_60m: int) -> float:
    """Arrivals per hour from the live counts: the 15-min rate weighs more the more arrivals it rests on.

    w = k15 / (k15 + 8); live = w·4·k15 + (1 − w)·k60. A Poisson count of k has a relative error of 1/√k, so a
    15-min rate from 2 arrivals is mostly noise, while one from 20 is current and trustworthy.
    """
    k15 = max(0, arrivals_15m)
    k60 = max(k15, arrivals_60m)
    w = k15 / (k15 + LIVE_15M_HALF_WEIGHT)
    return w * 4.0 * k15 + (1.0 - w) * k60


def blended_rate(arrivals_15m: int, arrivals_60m: int, profile_rate: float | None) -> float:
    """Arrivals per hour for planning: the live rate blended with the learned profile (research §4.6).

    live = `live_rate(k15, k60)`; with a profile p: v·live + (1 − v)·p, v = k60 / (k60 + 12). At hall volumes a
    15-min forecast is noise-dominated (WAPE ≈ 38 %) and an hour's live count of 12 is about as good (≈ 29 %), so
    the live stream takes over as the hour fills up; with no live arrivals the profile stands alone, and without a
    profile the live rate does.
    """
    live = live_rate(arrivals_15m, arrivals_60m)
    if profile_rate is None:
        return live
    k60 = max(0, arrivals_15m, arrivals_60m)
    v = k60 / (k60 + LIVE_60M_HALF_WEIGHT)
    return v * live + (1.0 - v) * max(0.0, profile_rate)


# ---------------------------------------------------------------------------------------------- recommendations


class RecommendationKind(StrEnum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Open (or close) `n` windows for a service group, with the numbers behind it and the reason.

    For `open`, `windows` are the proposed windows (capable, closed, online), `staff` the proposed staff in the same
    order (may be shorter: assign the rest by hand); `windows == ()` means no closed window can serve the group and
    `n` windows must be found by hand. "Now" numbers are with `current_servers` open windows, "after" numbers with
    `current_servers + n` (open) or `current_servers − 1` (close). Waits are minutes; None means unbounded (no open
    window serves the group). Service levels are the Erlang share of arrivals called within the target.
    """

    id: str
    kind: RecommendationKind
    hall_id: str
    services: tuple[str, ...]
    windows: tuple[str, ...]
    staff: tuple[str, ...]
    n: int
    current_servers: int
    needed_servers: int  # max(erlang_servers, backlog_servers)
    erlang_servers: int  # Erlang C/A for the blended arrival rate (steady state)
    backlog_servers: int  # the fewest windows with which the projection keeps every wait within the target
    model: Model
    backlog: int  # tickets waiting now
    in_service: int  # tickets at the group's open windows now
    arrivals_live_per_h: float
    arrivals_profile_per_h: float | None
    arrivals_per_h: float  # blended: what the sizing used
    aht_min: float
    aht_learned: bool  # False: (partly) the configured default
    projected_wait_min: float | None  # a ticket issued now, current windows
    projected_wait_after_min: float | None
    worst_wait_min: float | None  # the longest wait of a ticket issued within the horizon
    worst_wait_after_min: float | None
    service_level_now: float | None
    service_level_after: float | None
    reason_en: str
    reason_zh: str
    created_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (datetimes as ISO strings)."""
        out: dict[str, object] = {name: getattr(self, name) for name in self.__slots__}
        out["kind"] = str(self.kind)
        out["model"] = str(self.model)
        out["services"], out["windows"], out["staff"] = list(self.services), list(self.windows), list(self.staff)
        out["created_at"], out["expires_at"] = self.created_at.isoformat(), self.expires_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Recommendation:
        values = dict(raw)
        values["kind"] = RecommendationKind(str(values["kind"]))
        values["model"] = Model(str(values["model"]))
        for name in ("services", "windows", "staff"):
            seq = values[name]
            assert isinstance(seq, list | tuple)
            values[name] = tuple(str(x) for x in seq)
        for name in ("created_at", "expires_at"):
            values[name] = datetime.fromisoformat(str(values[name]))
        return cls(**values)  # type: ignore[arg-type]


def window_capabilities(profile: HallProfile, hall: HallSnapshot) -> dict[str, frozenset[str]]:
    """Which services each window can serve: the configured `WindowProfile.services` plus what it was seen serving."""
    caps: dict[str, set[str]] = {w.window_id: set(w.services) for w in profile.windows}
    for w in hall.windows:
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


def group_key(services: Iterable[str]) -> str:
    """A stable name for a service group, e.g. "SB+YB"."""
    return "+".join(sorted(services))


# ---------------------------------------------------------------------------------------------- the sizing


@dataclass(frozen=True, slots=True)
class _Plan:
    services: tuple[str, ...]
    views: tuple[ServiceView, ...]
    backlog: int
    in_service: int
    arrivals_15m: int
    arrivals_60m: int
    free_at: tuple[float, ...]  # minutes until each open window of the group can call its next ticket, ascending
    live: float
    profile: float | None
    rate: float  # blended, per hour
    aht: float  # arrival-weighted: for new arrivals and the Erlang count
    backlog_aht: float  # waiting-weighted: for the tickets already waiting
    learned: bool
    erlang: int
    by_backlog: int
    wait_now: float  # inf: no open window
    worst_now: float

    @property
    def current(self) -> int:
        return len(self.free_at)

    @property
    def needed(self) -> int:
        return max(self.erlang, self.by_backlog)

    @property
    def demand(self) -> bool:
        """Something is actually happening: people wait, or tickets were issued in the last hour."""
        return self.backlog > 0 or self.arrivals_60m > 0


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


def _natural(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key: "W2" before "W10"."""
    return tuple((int(part), "") if part.isdigit() else (0, part) for part in re.split(r"(\d+)", name))


def _free_at(hall: HallSnapshot, services: Collection[str], settings: TidalSettings, now: datetime) -> list[float]:
    """Per open window serving any of `services`: minutes until it is free (remaining service of its ticket)."""
    views = {s.code: s for s in hall.services}
    out: list[float] = []
    for w in hall.windows:
        if w.status is not WindowStatus.OPEN or not set(w.services) & set(services):
            continue
        if w.current_ticket is None:
            out.append(0.0)
            continue
        view = views.get(w.current_service or "")
        aht = _aht_of(view, settings)[0] if view else settings.default_aht_min
        if w.serving_since is None:  # called, not started yet: the whole service is ahead
            out.append(aht)
        else:
            elapsed = max(0.0, (now - w.serving_since).total_seconds() / 60.0)
            out.append(max(aht - elapsed, RESIDUAL_FLOOR * aht))
    return sorted(out)


def _project(
    free_at: Sequence[float],
    new: int,
    delay: float,
    backlog: int,
    backlog_aht: float,
    rate_per_h: float,
    aht: float,
    horizon: float,
) -> tuple[float, float]:
    """Deterministic FIFO projection: (wait of a ticket issued now, longest wait of a ticket issued in the horizon).

    Windows start free at `free_at` (and `new` more at `delay`); the backlog goes first (`backlog_aht` each), then
    arrivals at a steady 1/λ apart over the horizon (`aht` each); each ticket takes the window that frees first.
    inf when no window serves the group.
    """
    heap = [*free_at, *([delay] * new)]
    if not heap:
        return math.inf, math.inf
    heapq.heapify(heap)
    for _ in range(backlog):
        heapq.heapreplace(heap, heap[0] + backlog_aht)
    rate = rate_per_h / 60.0
    count = math.floor(horizon * rate + _EPS) if rate > 0 else 0
    first = worst = 0.0
    for k in range(count + 1):  # k = 0 is "a ticket issued now"
        arrives = k / rate if k else 0.0
        start = max(heap[0], arrives)
        heapq.heapreplace(heap, start + aht)
        wait = start - arrives
        if k == 0:
            first = wait
        worst = max(worst, wait)
    return first, worst


def _servers_for_backlog(
    plan_free: Sequence[float], backlog: int, backlog_aht: float, rate: float, aht: float, s: TidalSettings
) -> int:
    """The fewest windows with which the projection keeps every ticket of the horizon within the target wait.

    Existing windows are used earliest-free first, new ones start after `open_delay_min`. Monotone in the number
    of windows, so a binary search; with one new window per ticket every wait is ≤ open_delay < target.
    """
    arrivals = math.floor(s.horizon_min * rate / 60.0 + _EPS) if rate > 0 else 0

    def meets(n: int) -> bool:
        have = plan_free[:n]
        worst = _project(have, n - len(have), s.open_delay_min, backlog, backlog_aht, rate, aht, s.horizon_min)[1]
        return worst <= s.target_wait_min + _EPS

    lo, hi = 1, len(plan_free) + backlog + arrivals + 1
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
) -> _Plan:
    known = {s.code: s for s in hall.services}
    views = tuple(known[c] for c in services if c in known)
    live = profiled = rate = 0.0
    have_profile = False
    rates: list[float] = []
    for v in views:
        p = profile.rate_over(v.code, now, settings.horizon_min) if profile is not None else None
        live += live_rate(v.arrivals_15m, v.arrivals_60m)
        if p is not None:
            profiled += p
            have_profile = True
        r = blended_rate(v.arrivals_15m, v.arrivals_60m, p)
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
    free_at = _free_at(hall, services, settings, now)
    erlang = servers_for_target(
        rate / 60.0,
        aht,
        settings.target_wait_min,
        settings.service_level,
        patience=settings.patience_min,
        max_abandonment=None if settings.patience_min is None else settings.max_abandonment,
    )
    backlog_aht = _backlog_aht(views, settings)
    wait_now, worst_now = _project(free_at, 0, 0.0, backlog, backlog_aht, rate, aht, settings.horizon_min)
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
        live=live,
        profile=profiled if have_profile else None,
        rate=rate,
        aht=aht,
        backlog_aht=backlog_aht,
        learned=all(learned for _, learned in ahts),
        erlang=erlang,
        by_backlog=_servers_for_backlog(free_at, backlog, backlog_aht, rate, aht, settings),
        wait_now=wait_now,
        worst_now=worst_now,
    )


def _service_level(servers: int, plan: _Plan, settings: TidalSettings) -> float | None:
    if servers < 1:
        return None
    if settings.patience_min is None:
        return evaluate_erlang_c(servers, plan.rate / 60.0, plan.aht, settings.target_wait_min).service_level
    return evaluate_erlang_a(
        servers, plan.rate / 60.0, plan.aht, settings.patience_min, settings.target_wait_min
    ).service_level


def _after(plan: _Plan, servers: int, settings: TidalSettings) -> tuple[float, float]:
    """(wait now, worst wait) with `servers` windows: fewer than now drops the latest-free; more adds new ones."""
    have = plan.free_at[:servers]
    new = servers - len(have)
    return _project(
        have, new, settings.open_delay_min, plan.backlog, plan.backlog_aht, plan.rate, plan.aht, settings.horizon_min
    )


def projected_wait_min(
    hall: HallSnapshot, services: Collection[str], settings: TidalSettings, now: datetime
) -> float | None:
    """The projected wait of a ticket issued now for the group, with its open windows (None: no open window).

    Backlog and remaining service of the tickets at its windows, each ahead ticket taking the group's AHT; arrivals
    do not matter (they queue behind). This is the number the check after an opening and the close hysteresis use.
    """
    known = {s.code: s for s in hall.services}
    views = [known[c] for c in services if c in known]
    backlog = sum(v.waiting for v in views)
    aht = _backlog_aht(views, settings)
    wait = _project(_free_at(hall, services, settings, now), 0, 0.0, backlog, aht, 0.0, aht, 0.0)[0]
    return None if math.isinf(wait) else wait


# ---------------------------------------------------------------------------------------------- recommend_open


def recommend_open(
    hall: HallSnapshot,
    windows: Mapping[str, Collection[str]],
    profile: DemandProfile | None,
    settings: TidalSettings,
    now: datetime,
    *,
    staff_pool: Sequence[str] = (),
    services: Collection[str] | None = None,
    reserved: Collection[str] = (),
) -> list[Recommendation]:
    """Tidal-window openings for the service groups that need more windows than are open (most urgent first).

    `windows`: window id → services it can serve (`window_capabilities`). `staff_pool`: staff who may be sent to a
    tidal window, in order of preference (the configured tidal pool, and/or the staff last logged in at the candidate
    windows); staff at an open or paused window are skipped. `services`: only groups containing one of these (e.g.
    the `service` label of a `tidal-open` alert). `reserved`: windows not to propose (already being opened).

    A group is considered when people wait or tickets were issued in the last hour; it gets a recommendation when the
    needed windows exceed the open ones. Each window and each staff member is proposed at most once per call.
    """
    views = {w.window_id: w for w in hall.windows}
    busy_staff = {
        w.staff_id for w in hall.windows if w.staff_id and w.status in (WindowStatus.OPEN, WindowStatus.PAUSED)
    }
    wanted = None if services is None else set(services)
    plans = [
        _plan(hall, group, profile, settings, now)
        for group in service_groups(hall, windows)
        if wanted is None or wanted & set(group)
    ]
    plans = [p for p in plans if p.demand and p.needed > p.current]
    plans.sort(key=lambda p: (-p.worst_now, -p.backlog, p.services))
    taken_windows = set(reserved)
    taken_staff = set(busy_staff)
    out: list[Recommendation] = []
    for plan in plans:
        group = set(plan.services)
        candidates = [
            views[wid]
            for wid, caps in windows.items()
            if wid in views
            and wid not in taken_windows
            and group <= set(caps)
            and _closed_and_online(views[wid], settings)
        ]
        candidates.sort(
            key=lambda w: (w.status is WindowStatus.PAUSED, len(windows[w.window_id]), _natural(w.window_id))
        )
        shortfall = plan.needed - plan.current
        chosen = tuple(w.window_id for w in candidates[: min(shortfall, settings.max_windows)])
        staff = tuple(s for s in staff_pool if s not in taken_staff)[: len(chosen)]
        taken_windows.update(chosen)
        taken_staff.update(staff)
        n = len(chosen) if chosen else min(shortfall, settings.max_windows)
        out.append(_open_recommendation(hall, plan, chosen, staff, n, len(candidates), settings, now))
    return out


def _closed_and_online(w: WindowView, settings: TidalSettings) -> bool:
    if w.online is False:
        return False
    return w.status is WindowStatus.CLOSED or (settings.include_paused and w.status is WindowStatus.PAUSED)


def _open_recommendation(
    hall: HallSnapshot,
    plan: _Plan,
    chosen: tuple[str, ...],
    staff: tuple[str, ...],
    n: int,
    candidates: int,
    settings: TidalSettings,
    now: datetime,
) -> Recommendation:
    bucket = int(now.timestamp() // (settings.id_bucket_min * 60))
    rec_id = _rec_id("open", hall.hall_id, group_key(plan.services), ",".join(chosen), str(bucket))
    rec = _recommendation(
        rec_id, RecommendationKind.OPEN, hall, plan, plan.services, chosen, staff, n, plan.current + n, settings, now
    )
    en, zh = _open_reason(rec, plan, candidates, settings)
    return replace(rec, reason_en=en, reason_zh=zh)


def _rec_id(*parts: str) -> str:
    return "tidal-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 2)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


# ---------------------------------------------------------------------------------------------- reasons


def _num(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _label_en(views: Sequence[ServiceView], services: Sequence[str]) -> str:
    names = {v.code: v.name_en or v.name for v in views}
    return " + ".join(f"{names[c]} ({c})" if names.get(c) else c for c in services)


def _label_zh(views: Sequence[ServiceView], services: Sequence[str]) -> str:
    names = {v.code: v.name or v.name_en for v in views}
    return "＋".join(f"{names[c]}（{c}）" if names.get(c) else c for c in services)


def _wait_en(w: float | None) -> str:
    return "unbounded (no open window)" if w is None else f"{_num(w)} min"


def _wait_zh(w: float | None, after: str = "") -> str:
    """`after` + the wait: "预计等候 32 分钟", "预计等候无法估计（无开放窗口）"."""
    return f"{after}无法估计（无开放窗口）" if w is None else f"{after} {_num(w)} 分钟".strip()


def _open_reason(rec: Recommendation, plan: _Plan, candidates: int, s: TidalSettings) -> tuple[str, str]:
    sl = _num(s.service_level * 100)
    t = _num(s.target_wait_min)
    default_en = "" if rec.aht_learned else " (default AHT: not learned yet)"
    default_zh = "" if rec.aht_learned else "（默认办理时长，尚未学得）"
    walkout_en = "" if s.patience_min is None else f" and at most {_num(s.max_abandonment * 100)} % leaving"
    walkout_zh = "" if s.patience_min is None else f"、离开不超过 {_num(s.max_abandonment * 100)}%"
    en = (
        f"{_label_en(plan.views, rec.services)}: {rec.backlog} waiting, projected wait "
        f"{_wait_en(rec.projected_wait_min)} with {rec.current_servers} window{'s' * (rec.current_servers != 1)}; "
        f"{_num(rec.arrivals_per_h)} arrivals/h × {_num(rec.aht_min)} min{default_en} needs {rec.needed_servers} "
        f"windows for {sl} % within {t} min{walkout_en}"
    )
    zh = (
        f"{_label_zh(plan.views, rec.services)}：{rec.backlog} 人等候，现有 {rec.current_servers} 个窗口，"
        f"{_wait_zh(rec.projected_wait_min, '预计等候')}；每小时 {_num(rec.arrivals_per_h)} 人 × 每件 "
        f"{_num(rec.aht_min)} 分钟{default_zh}，需 {rec.needed_servers} 个窗口才能 {sl}% 在 {t} 分钟内叫号{walkout_zh}"
    )
    codes = ", ".join(rec.services)
    if not rec.windows:
        en += f" → no closed window can serve {codes}: open {rec.n} by hand"
        zh += f" → 没有可开放的空闲窗口能办理 {codes}，请人工调配 {rec.n} 个窗口"
        return en, zh
    staff_en = ", ".join(rec.staff) if rec.staff else "none free: assign by hand"
    staff_zh = "、".join(rec.staff) if rec.staff else "无空闲人员，请人工指派"
    en += f" → open {', '.join(rec.windows)} (staff pool: {staff_en})"
    zh += f" → 开放 {'、'.join(rec.windows)}（人员池：{staff_zh}）"
    if rec.staff and len(rec.staff) < len(rec.windows):
        en += "; not enough free staff in the pool: assign the rest by hand"
        zh += "；人员池空闲人员不足，其余请人工指派"
    missing = rec.needed_servers - rec.current_servers - rec.n
    if missing > 0:
        why_en = (
            f"only {candidates} closed window{'s' * (candidates != 1)} can serve it"
            if candidates <= rec.n
            else f"at most {s.max_windows} per recommendation"
        )
        why_zh = f"仅 {candidates} 个空闲窗口可办理" if candidates <= rec.n else f"每次最多建议 {s.max_windows} 个"
        en += f"; {missing} more needed ({why_en})"
        zh += f"；仍缺 {missing} 个（{why_zh}）"
    return en, zh


# ---------------------------------------------------------------------------------------------- recommend_close


@dataclass(frozen=True, slots=True)
class OpenedWindow:
    """A window opened by an approved tidal recommendation."""

    window_id: str
    services: tuple[str, ...]
    staff_id: str | None
    rec_id: str
    opened_at: datetime  # approval time
    seen_open: bool = False  # the hall has reported it open since

    def to_dict(self) -> dict[str, object]:
        return {
            "window_id": self.window_id,
            "services": list(self.services),
            "staff_id": self.staff_id,
            "rec_id": self.rec_id,
            "opened_at": self.opened_at.isoformat(),
            "seen_open": self.seen_open,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> OpenedWindow:
        services = raw["services"]
        assert isinstance(services, list)
        staff = raw["staff_id"]
        return cls(
            window_id=str(raw["window_id"]),
            services=tuple(str(s) for s in services),
            staff_id=None if staff is None else str(staff),
            rec_id=str(raw["rec_id"]),
            opened_at=datetime.fromisoformat(str(raw["opened_at"])),
            seen_open=bool(raw["seen_open"]),
        )


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
    it). A window is proposed when its group has been quiet for `close_after_min` and one window fewer still meets
    the sizing (Erlang count and backlog projection). The most recently opened idle window goes first.
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
        plan = _plan(hall, members[0].services, profile, settings, now)
        if plan.current < 2 or plan.needed > plan.current - 1:
            continue
        members.sort(key=lambda ow: (views[ow.window_id].current_ticket is None, ow.opened_at), reverse=True)
        out.append(_close_recommendation(hall, plan, members[0], since, settings, now))
    return out


def _recommendation(
    rec_id: str,
    kind: RecommendationKind,
    hall: HallSnapshot,
    plan: _Plan,
    services: tuple[str, ...],
    windows: tuple[str, ...],
    staff: tuple[str, ...],
    n: int,
    after: int,
    settings: TidalSettings,
    now: datetime,
) -> Recommendation:
    """A recommendation with the numbers behind it, for `after` windows instead of the current ones (no reason yet)."""
    wait_after, worst_after = _after(plan, after, settings)
    return Recommendation(
        id=rec_id,
        kind=kind,
        hall_id=hall.hall_id,
        services=services,
        windows=windows,
        staff=staff,
        n=n,
        current_servers=plan.current,
        needed_servers=plan.needed,
        erlang_servers=plan.erlang,
        backlog_servers=plan.by_backlog,
        model=settings.model,
        backlog=plan.backlog,
        in_service=plan.in_service,
        arrivals_live_per_h=round(plan.live, 3),
        arrivals_profile_per_h=None if plan.profile is None else round(plan.profile, 3),
        arrivals_per_h=round(plan.rate, 3),
        aht_min=round(plan.aht, 3),
        aht_learned=plan.learned,
        projected_wait_min=_finite(plan.wait_now),
        projected_wait_after_min=_finite(wait_after),
        worst_wait_min=_finite(plan.worst_now),
        worst_wait_after_min=_finite(worst_after),
        service_level_now=_round(_service_level(plan.current, plan, settings)),
        service_level_after=_round(_service_level(after, plan, settings)),
        reason_en="",
        reason_zh="",
        created_at=now,
        expires_at=now + timedelta(minutes=settings.valid_for_min),
    )


def _close_recommendation(
    hall: HallSnapshot, plan: _Plan, ow: OpenedWindow, since: datetime, s: TidalSettings, now: datetime
) -> Recommendation:
    after = plan.current - 1
    rec = _recommendation(
        _rec_id("close", hall.hall_id, ow.window_id, ow.rec_id), RecommendationKind.CLOSE, hall, plan, ow.services,
        (ow.window_id,), (ow.staff_id,) if ow.staff_id else (), 1, after, s, now,
    )  # fmt: skip
    sl, t = _num(s.service_level * 100), _num(s.target_wait_min)
    opened_at = ow.opened_at.astimezone(ZoneInfo(hall.timezone)).strftime("%H:%M")
    minutes = _num((now - since).total_seconds() / 60)
    en = (
        f"{_label_en(plan.views, rec.services)}: projected wait under {_num(s.close_wait_min)} min for {minutes} min "
        f"(now {_wait_en(rec.projected_wait_min)}, {rec.backlog} waiting, {rec.current_servers} windows); "
        f"{after} window{'s' * (after != 1)} meet {sl} % within {t} min ({_num(rec.arrivals_per_h)} arrivals/h × "
        f"{_num(rec.aht_min)} min) → close tidal window {ow.window_id} (opened {opened_at})"
    )
    zh = (
        f"{_label_zh(plan.views, rec.services)}：预计等候已连续 {minutes} 分钟低于 {_num(s.close_wait_min)} 分钟"
        f"（{_wait_zh(rec.projected_wait_min, '当前')}，{rec.backlog} 人等候，{rec.current_servers} 个窗口）；"
        f"{after} 个窗口即可 {sl}% 在 {t} 分钟内叫号（每小时 {_num(rec.arrivals_per_h)} 人 × 每件 "
        f"{_num(rec.aht_min)} 分钟）→ 关闭潮汐窗口 {ow.window_id}（{opened_at} 开放）"
    )
    return replace(rec, reason_en=en, reason_zh=zh)


# ---------------------------------------------------------------------------------------------- tracker


class TidalEventKind(StrEnum):
    ESCALATE = "escalate"  # the projected wait has not fallen after an approved opening
    CHECKED = "checked"  # … it has: the opening worked (for the audit log)
    CLOSE = "close"  # a new close recommendation (in `recommendation`)


@dataclass(frozen=True, slots=True)
class TidalEvent:
    kind: TidalEventKind
    at: datetime
    rec_id: str
    services: tuple[str, ...]
    windows: tuple[str, ...]
    reason_en: str
    reason_zh: str
    wait_at_approval_min: float | None = None  # None: unbounded
    wait_now_min: float | None = None
    windows_not_open: tuple[str, ...] = ()
    recommendation: Recommendation | None = None  # CLOSE


@dataclass(slots=True)
class _Opening:
    rec: Recommendation
    approved_by: str
    approved_at: datetime
    check_at: datetime
    wait_at_approval: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "rec": self.rec.to_dict(),
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat(),
            "check_at": self.check_at.isoformat(),
            "wait_at_approval": self.wait_at_approval,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> _Opening:
        rec = raw["rec"]
        wait = raw["wait_at_approval"]
        assert isinstance(rec, dict)
        return cls(
            Recommendation.from_dict(rec),
            str(raw["approved_by"]),
            datetime.fromisoformat(str(raw["approved_at"])),
            datetime.fromisoformat(str(raw["check_at"])),
            None if wait is None else float(str(wait)),
        )


class TidalTracker:
    """What happened to the recommendations (潮汐窗口跟踪): offered, approved or rejected, checked, closed.

    The gateway `offer`s what `recommend_open` returns (and notifies the manager of the new ones), calls
    `approve`/`reject` from the API or its auto-approval policy, and calls `check(hall, now)` on every tick or at
    `next_deadline()`. Pure state with JSON `dump`/`load`; every time comes from the caller.
    """

    def __init__(self, settings: TidalSettings) -> None:
        self.settings = settings
        self._pending: dict[str, Recommendation] = {}
        self._rejected: dict[str, datetime] = {}  # id → until when the same recommendation is not offered again
        self._openings: list[_Opening] = []  # approved openings not checked yet
        self._opened: dict[str, OpenedWindow] = {}
        self._quiet: dict[str, datetime] = {}  # group key → quiet since
        self._last_check: datetime | None = None

    # -- offers and decisions -----------------------------------------------------------------------------

    def offer(self, recs: Iterable[Recommendation], now: datetime) -> list[Recommendation]:
        """Keep the recommendations that are new and return them (the ones to show and notify).

        Not new: already pending (same id), rejected while still valid, an opening for a group whose earlier
        approved opening has not been checked yet (let it work first), a close for a window not tracked.
        """
        self._expire(now)
        settling = {c for o in self._openings for c in o.rec.services}
        fresh: list[Recommendation] = []
        for rec in recs:
            if rec.id in self._pending or rec.id in self._rejected:
                continue
            if rec.kind is RecommendationKind.OPEN and settling & set(rec.services):
                continue
            if rec.kind is RecommendationKind.CLOSE and not all(w in self._opened for w in rec.windows):
                continue
            self._pending[rec.id] = rec
            fresh.append(rec)
        return fresh

    def pending(self) -> tuple[Recommendation, ...]:
        return tuple(self._pending.values())

    def approve(self, rec_id: str, by: str, now: datetime) -> Recommendation:
        """Approve a pending recommendation; returns it so the caller can send the commands.

        An opening records its windows as tidal windows and schedules the check at now + check_after_min; a close
        stops tracking the window. Raises ValueError for an unknown or expired id.
        """
        rec = self._take(rec_id, now)
        if rec.kind is RecommendationKind.OPEN:
            self._openings.append(
                _Opening(rec, by, now, now + timedelta(minutes=self.settings.check_after_min), rec.projected_wait_min)
            )
            for i, wid in enumerate(rec.windows):
                staff = rec.staff[i] if i < len(rec.staff) else None
                self._opened[wid] = OpenedWindow(wid, rec.services, staff, rec.id, now)
        else:
            for wid in rec.windows:
                ow = self._opened.pop(wid, None)
                if ow is not None:
                    self._quiet.pop(group_key(ow.services), None)
        return rec

    def reject(self, rec_id: str, by: str, reason: str, now: datetime) -> Recommendation:
        """Reject a pending recommendation: the same id is not offered again while it would be valid; a rejected
        close restarts its group's quiet clock (another `close_after_min` before it is proposed again)."""
        del by, reason  # the caller's audit log keeps who and why
        rec = self._take(rec_id, now)
        self._rejected[rec.id] = rec.expires_at
        if rec.kind is RecommendationKind.CLOSE:
            key = group_key(rec.services)
            if key in self._quiet:
                self._quiet[key] = now
        return rec

    def _take(self, rec_id: str, now: datetime) -> Recommendation:
        rec = self._pending.pop(rec_id, None)
        if rec is None:
            raise ValueError(f"no pending tidal recommendation {rec_id!r} (unknown, already decided or expired)")
        if rec.expires_at <= now:
            raise ValueError(f"tidal recommendation {rec_id!r} expired at {rec.expires_at.isoformat()}")
        return rec

    def _expire(self, now: datetime) -> None:
        for rid in [r for r, rec in self._pending.items() if rec.expires_at <= now]:
            del self._pending[rid]
        for rid in [r for r, until in self._rejected.items() if until <= now]:
            del self._rejected[rid]

    # -- following up -------------------------------------------------------------------------------------

    def opened(self) -> tuple[OpenedWindow, ...]:
        """The tidal windows opened by approved recommendations and still tracked."""
        return tuple(self._opened.values())

    def reserved_windows(self) -> frozenset[str]:
        """Approved windows the hall has not reported open yet: pass as `recommend_open(reserved=…)`."""
        return frozenset(w for w, ow in self._opened.items() if not ow.seen_open)

    def check(self, hall: HallSnapshot, now: datetime, profile: DemandProfile | None = None) -> list[TidalEvent]:
        """Follow up: checks that are due (escalate or checked), the quiet clocks, and close recommendations."""
        self._expire(now)
        self._last_check = now
        self._follow_windows(hall)
        events = self._check_openings(hall, now)
        self._track_quiet(hall, now)
        closes = recommend_close(
            hall, [ow for ow in self._opened.values() if ow.seen_open], self._quiet, profile, self.settings, now
        )
        for rec in self.offer(closes, now):
            events.append(
                TidalEvent(
                    TidalEventKind.CLOSE,
                    now,
                    rec.id,
                    rec.services,
                    rec.windows,
                    rec.reason_en,
                    rec.reason_zh,
                    wait_now_min=rec.projected_wait_min,
                    recommendation=rec,
                )
            )
        return events

    def _follow_windows(self, hall: HallSnapshot) -> None:
        """Note approved windows seen open; forget tidal windows closed since (by hand or by an approved close)."""
        views = {w.window_id: w for w in hall.windows}
        for wid, ow in list(self._opened.items()):
            view = views.get(wid)
            status = view.status if view is not None else None
            if status is WindowStatus.OPEN and not ow.seen_open:
                self._opened[wid] = replace(ow, seen_open=True)
            elif ow.seen_open and status is WindowStatus.CLOSED:
                del self._opened[wid]

    def _check_openings(self, hall: HallSnapshot, now: datetime) -> list[TidalEvent]:
        s = self.settings
        views = {w.window_id: w for w in hall.windows}
        events: list[TidalEvent] = []
        for o in [o for o in self._openings if o.check_at <= now]:
            self._openings.remove(o)
            rec = o.rec
            wait = projected_wait_min(hall, rec.services, s, now)
            before = math.inf if o.wait_at_approval is None else o.wait_at_approval
            current = math.inf if wait is None else wait
            fell = current < before * (1 - s.check_min_drop) or current <= s.target_wait_min
            not_open = tuple(w for w in rec.windows if (v := views.get(w)) is None or v.status is not WindowStatus.OPEN)
            svc = {sv.code: sv for sv in hall.services}
            label_en = _label_en([svc[c] for c in rec.services if c in svc], rec.services)
            label_zh = _label_zh([svc[c] for c in rec.services if c in svc], rec.services)
            after = _num(s.check_after_min)
            what_en = f"opening {', '.join(rec.windows)}" if rec.windows else f"opening {rec.n} window(s) by hand"
            what_zh = f"开放 {'、'.join(rec.windows)}" if rec.windows else f"人工调配 {rec.n} 个窗口"
            numbers = f"{_wait_en(o.wait_at_approval)} → {_wait_en(wait)}"
            numbers_zh = f"{_wait_zh(o.wait_at_approval)} → {_wait_zh(wait)}"
            if fell:
                kind = TidalEventKind.CHECKED
                en = f"{label_en}: projected wait fell {after} min after {what_en} was approved ({numbers})"
                zh = f"{label_zh}：批准{what_zh} 后 {after} 分钟，预计等候已下降（{numbers_zh}）"
            else:
                kind = TidalEventKind.ESCALATE
                en = f"{label_en}: projected wait has not fallen {after} min after {what_en} was approved ({numbers})"
                zh = f"{label_zh}：批准{what_zh} 后 {after} 分钟，预计等候未下降（{numbers_zh}）"
                if not_open:
                    en += f"; not open yet: {', '.join(not_open)}"
                    zh += f"；尚未开放：{'、'.join(not_open)}"
            events.append(
                TidalEvent(kind, now, rec.id, rec.services, rec.windows, en, zh, o.wait_at_approval, wait, not_open)
            )
        return events

    def _track_quiet(self, hall: HallSnapshot, now: datetime) -> None:
        """Per group with an open tidal window: quiet now? Any loud moment restarts the clock (the hysteresis)."""
        s = self.settings
        groups = {group_key(ow.services): ow.services for ow in self._opened.values() if ow.seen_open}
        known = {sv.code: sv for sv in hall.services}
        for key in [k for k in self._quiet if k not in groups]:
            del self._quiet[key]
        for key, services in groups.items():
            wait = projected_wait_min(hall, services, s, now)
            waiting = sum(known[c].waiting for c in services if c in known)
            open_windows = len(_free_at(hall, services, s, now))
            quiet = wait is not None and wait < s.close_wait_min and waiting < s.close_waiting_per_window * open_windows
            if quiet:
                self._quiet.setdefault(key, now)
            else:
                self._quiet.pop(key, None)

    def next_deadline(self) -> datetime | None:
        """When `check` next has something to do by the clock alone (a due check, a quiet clock maturing, an
        expiry); None when nothing is pending. Only times after the last `check` count: a quiet clock that matured
        without a close (still needed, or its close pending) is looked at again on the next message or tick."""
        times = [o.check_at for o in self._openings]
        times += [since + timedelta(minutes=self.settings.close_after_min) for since in self._quiet.values()]
        times += [rec.expires_at for rec in self._pending.values()]
        last = self._last_check
        return min((t for t in times if last is None or t > last), default=None)

    # -- persistence --------------------------------------------------------------------------------------

    def dump(self) -> bytes:
        body = {
            "schema": SCHEMA_VERSION,
            "pending": [r.to_dict() for r in self._pending.values()],
            "rejected": {k: v.isoformat() for k, v in self._rejected.items()},
            "openings": [o.to_dict() for o in self._openings],
            "opened": [ow.to_dict() for ow in self._opened.values()],
            "quiet": {k: v.isoformat() for k, v in self._quiet.items()},
            "last_check": None if self._last_check is None else self._last_check.isoformat(),
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def load(cls, settings: TidalSettings, data: bytes) -> TidalTracker:
        body = json.loads(data)
        if body.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"tidal tracker schema {body.get('schema')!r} is not {SCHEMA_VERSION}")
        t = cls(settings)
        t._pending = {r["id"]: Recommendation.from_dict(r) for r in body["pending"]}
        t._rejected = {k: datetime.fromisoformat(v) for k, v in body["rejected"].items()}
        t._openings = [_Opening.from_dict(o) for o in body["openings"]]
        t._opened = {ow["window_id"]: OpenedWindow.from_dict(ow) for ow in body["opened"]}
        t._quiet = {k: datetime.fromisoformat(v) for k, v in body["quiet"].items()}
        last = body.get("last_check")
        t._last_check = None if last is None else datetime.fromisoformat(last)
        return t
