"""Tidal windows (潮汐窗口): when to open extra windows for a service group, which ones and with whom, and when to
close them again.

Owns the pure decision part of the tidal-window feature (research/queue-and-staffing.md §4.2, §6.2; seeds F-01,
R-Q3/R-Q4):

- `DemandProfile` — arrivals per service per weekday × 15-min slot, learned from `ticket.issued` events (the mean
  of the last 4 same weekdays, research §4.6), and `blended_rate`, which mixes it with the live counts; and when
  each window is usually open (lunch breaks, the end of a shift), learned from the window status events.
- `recommend_open` — per service group: a transient projection of the tickets waiting, the tickets being served,
  the arrivals of the next minutes (blended rate) and the windows' usual hours counts the people who would wait
  past the target; a window is proposed while each one brings enough of them within it. Closed windows that can
  serve the group (pooled: they serve every service they can) and free staff from the tidal pool give the
  proposal, with the numbers — Erlang C/A's steady-state count among them — and a reason in English and Chinese.
- `recommend_close` — with hysteresis, for windows opened by approved recommendations that the projection no longer
  needs (`spare`).
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
    horizon_min: float = 20.0  # plan for the backlog plus the arrivals of the next 20 min
    open_delay_min: float = 5.0  # from recommendation to a new window calling its first ticket (approval, walking)
    max_windows: int = 3  # at most this many windows per recommendation
    min_tickets_helped: int = 3  # each window opened must bring at least this many late tickets within the target …
    min_minutes_saved: float = 180.0  # … or save this many minutes of waiting past it (a queue late whatever we do)
    pool_services: bool = True  # an opened window serves every service it can, longest-waiting ticket first
    include_paused: bool = False  # may a paused window (staff on break or in the back office) be proposed?
    valid_for_min: float = 10.0  # a recommendation expires this long after it was made
    id_bucket_min: float = 15.0  # the same situation within one such bucket keeps its recommendation id
    check_after_min: float = 10.0  # after an approved opening, the projected wait must have fallen by then
    check_min_drop: float = 0.0  # … by at least this fraction (0: any fall)
    close_after_min: float = 5.0  # a tidal window spare (see `spare`) this long without interruption → close it

    def __post_init__(self) -> None:
        for name in ("target_wait_min", "default_aht_min", "horizon_min", "valid_for_min", "id_bucket_min"):
            _positive(name, getattr(self, name))
        for name in ("open_delay_min", "check_after_min", "close_after_min", "min_minutes_saved"):
            _non_negative(name, getattr(self, name))
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
        helped = self.min_tickets_helped
        if isinstance(helped, bool) or not isinstance(helped, int) or helped < 1:
            raise ValueError(f"min_tickets_helped must be a whole number ≥ 1, got {helped!r}")
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
    """Arrivals per service and window hours per weekday × 15-min slot (到达量与窗口画像), learned from the event log.

    `add` every `ticket.issued` of the last weeks (whole days, in any order); `rate(service, at)` is the mean count
    in `at`'s slot over the last `weeks` days with the same weekday *before* `at`'s day (today is the live part),
    in arrivals per hour. A day counts once it has any ticket, so days the hall was closed do not dilute the mean.

    `window(window_id, is_open, at)` with every window status change (opened/resumed → open, paused/closed → not)
    learns when each window is usually staffed: `usually_open(window_id, at)` is the share of the same weekdays on
    which it was open at the middle of `at`'s slot. That is how the recommender sees a lunch break (错峰午休) coming
    before the windows pause, and the staff coming back before they resume.
    """

    def __init__(self, timezone: str = "Asia/Shanghai", weeks: int = 4) -> None:
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            raise ValueError(f"weeks must be a whole number ≥ 1, got {weeks!r}")
        self.timezone = timezone
        self.weeks = weeks
        self._tz = ZoneInfo(timezone)
        self._days: dict[date, dict[str, dict[int, int]]] = {}  # local date → service → slot → count
        self._open_slots: dict[date, dict[str, set[int]]] = {}  # local date → window → slots open at their middle
        self._open_since: dict[str, datetime] = {}  # window → open since (an interval not ended yet)

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

    def window(self, window_id: str, is_open: bool, at: datetime) -> None:
        """A window's status changed at `at` (in time order per window): open, or not (paused, closed)."""
        if at.tzinfo is None:
            raise ValueError("at must carry a time zone")
        if is_open:
            self._open_since.setdefault(window_id, at)
            return
        since = self._open_since.pop(window_id, None)
        if since is None:
            return
        start, end = since.astimezone(self._tz), at.astimezone(self._tz)
        day = start.date()
        newest = max([day, *self._open_slots], default=day)
        cutoff = newest - timedelta(days=7 * (self.weeks + 1))
        for old in [d for d in self._open_slots if d < cutoff]:
            del self._open_slots[old]
        if day < cutoff:
            return
        slots = self._open_slots.setdefault(day, {}).setdefault(window_id, set())
        first = _slot(start)
        middle = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=SLOT_MIN * (first + 0.5))
        slot = first if start <= middle else first + 1
        while slot < SLOTS_PER_DAY and middle + timedelta(minutes=SLOT_MIN * (slot - first)) <= end:
            slots.add(slot)
            slot += 1

    def usually_open(self, window_id: str, at: datetime) -> float | None:
        """Share of the last `weeks` same weekdays on which the window was open at the middle of `at`'s slot (None:
        no such day with any window history)."""
        local = at.astimezone(self._tz)
        today = local.date()
        days = sorted(d for d in self._open_slots if d.weekday() == today.weekday() and d < today)[-self.weeks :]
        if not days:
            return None
        slot = _slot(local)
        return sum(1 for d in days if slot in self._open_slots[d].get(window_id, ())) / len(days)

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

    def closed_from(self, now: datetime, minutes: float) -> float | None:
        """Minutes from `now` to the first slot start within `minutes` in which no ticket of any service was issued
        on any of the same weekdays learned (the hall has closed: no more arrivals); None if there is none."""
        local = now.astimezone(self._tz)
        days = sorted(d for d in self._days if d.weekday() == local.date().weekday() and d < local.date())
        days = days[-self.weeks :]
        if not days:
            return None
        start = local.replace(second=0, microsecond=0) - timedelta(minutes=local.minute % SLOT_MIN)
        for k in range(1, math.ceil(minutes / SLOT_MIN) + 1):
            at = start + timedelta(minutes=SLOT_MIN * k)
            ahead = (at - local).total_seconds() / 60
            if ahead >= minutes or at.date() != local.date():
                break
            slot = _slot(at)
            if not any(slots.get(slot) for d in days for slots in self._days[d].values()):
                return ahead
        return None

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
            "open_slots": {
                d.isoformat(): {w: sorted(slots) for w, slots in sorted(by_w.items())}
                for d, by_w in sorted(self._open_slots.items())
            },
            "open_since": {w: t.isoformat() for w, t in sorted(self._open_since.items())},
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
        for d, by_w in body.get("open_slots", {}).items():
            profile._open_slots[date.fromisoformat(d)] = {str(w): {int(x) for x in xs} for w, xs in by_w.items()}
        for w, t in body.get("open_since", {}).items():
            profile._open_since[str(w)] = datetime.fromisoformat(t)
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
    serves: tuple[str, ...]  # open: what the new windows will call (the group, or all they can serve when pooled)
    arriving: int  # windows approved earlier and on their way (counted in current_servers from open_delay_min)
    needed_servers: int  # max(erlang_servers, backlog_servers)
    erlang_servers: int  # Erlang C/A for the blended arrival rate (steady state)
    backlog_servers: int  # the fewest windows with which the projection keeps every wait within the target
    model: Model
    backlog: int  # tickets waiting now
    late: int  # tickets (waiting, or issued within the horizon) projected past the target with current windows
    late_after: int  # … with the recommended change
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
        for name in ("services", "windows", "staff", "serves"):
            out[name] = list(getattr(self, name))
        out["created_at"], out["expires_at"] = self.created_at.isoformat(), self.expires_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Recommendation:
        values = dict(raw)
        values["kind"] = RecommendationKind(str(values["kind"]))
        values["model"] = Model(str(values["model"]))
        values.setdefault("serves", values["services"])  # saved before pooling
        values.setdefault("arriving", 0)
        values.setdefault("late", 0)
        values.setdefault("late_after", 0)
        for name in ("services", "windows", "staff", "serves"):
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
    free_at: tuple[float, ...]  # minutes until each open (or arriving) window can call its next ticket, ascending
    arriving: int  # of which windows on their way (free at open_delay_min)
    window_ids: tuple[str | None, ...]  # per free_at entry: the window (None: one on its way)
    leaves: tuple[float, ...]  # per free_at entry: minutes until it usually stops (inf: not within the horizon)
    returning: tuple[float, ...]  # paused windows that usually resume within the horizon: minutes until then
    arrivals_for: float  # minutes of arrivals to project: the horizon, or less when the hall usually closes sooner
    live: float
    profile: float | None
    rate: float  # blended, per hour
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


def _project(
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
) -> _Projection:
    """Deterministic FIFO projection of the waiting tickets and the arrivals of the next `horizon` minutes.

    Windows start free at `free_at` (and `new` more at `delay`); the backlog goes first, longest-waiting first
    (`waited`: minutes each has waited so far; `backlog_aht` each), then arrivals at a steady 1/λ apart over the
    horizon (`aht` each); each ticket takes the window that frees first. A ticket is late when the minutes it has
    waited plus the projected minutes exceed `target`. A window stops calling at `leaves[i]` (minutes from now; a
    lunch break or the end of a shift, from the learned window hours) and finishes the ticket it has; `returning`
    windows start at the given minutes. inf waits (and those tickets late) when no window is left to call them.
    """
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


def _servers_for_backlog(
    plan_free: Sequence[float],
    leaves: Sequence[float],
    returning: Sequence[float],
    waited: Sequence[float],
    backlog_aht: float,
    rate: float,
    aht: float,
    s: TidalSettings,
) -> int:
    """The fewest windows with which the projection keeps every ticket of the horizon within the target wait.

    Existing windows are used earliest-free first, new ones start after `open_delay_min`. Monotone in the number
    of windows, so a binary search; with one new window per ticket every wait is ≤ open_delay < target.
    """
    arrivals = math.floor(s.horizon_min * rate / 60.0 + _EPS) if rate > 0 else 0

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
    stops, returning = _hours(hall, services, profile, settings, now)
    slots: list[tuple[float, float, str | None]] = sorted(
        [(f, stops.get(w, math.inf), w) for w, f in _free_by_window(hall, services, settings, now)]
        + [(settings.open_delay_min, math.inf, None)] * arriving,
        key=lambda x: (x[0], x[1], x[2] or ""),
    )
    free_at = [f for f, _, _ in slots]
    leaves = tuple(stop for _, stop, _ in slots)
    erlang = servers_for_target(
        rate / 60.0,
        aht,
        settings.target_wait_min,
        settings.service_level,
        patience=settings.patience_min,
        max_abandonment=None if settings.patience_min is None else settings.max_abandonment,
    )
    backlog_aht = _backlog_aht(views, settings)
    waited = _waited(views)
    closes = profile.closed_from(now, settings.horizon_min) if profile is not None else None
    arrivals_for = settings.horizon_min if closes is None else closes
    projection = _project(
        free_at, 0, 0.0, waited, backlog_aht, rate, aht, arrivals_for, settings.target_wait_min, leaves, returning
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
        aht=aht,
        backlog_aht=backlog_aht,
        learned=all(learned for _, learned in ahts),
        erlang=erlang,
        by_backlog=_servers_for_backlog(
            free_at, leaves, returning, waited, backlog_aht, rate, aht, replace(settings, horizon_min=arrivals_for)
        ),
        waited=waited,
        now=projection,
    )


def _service_level(servers: int, plan: _Plan, settings: TidalSettings) -> float | None:
    if servers < 1:
        return None
    if settings.patience_min is None:
        return evaluate_erlang_c(servers, plan.rate / 60.0, plan.aht, settings.target_wait_min).service_level
    return evaluate_erlang_a(
        servers, plan.rate / 60.0, plan.aht, settings.patience_min, settings.target_wait_min
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
    arriving: Mapping[str, Collection[str]] | None = None,
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
        chosen = tuple(w.window_id for w in candidates[:worth])
        staff = tuple(s for s in staff_pool if s not in taken_staff)[: len(chosen)]
        serves = plan.services
        if settings.pool_services and chosen:
            serves = tuple(sorted(set().union(*(set(windows[w]) for w in chosen))))
        taken_windows.update(chosen)
        taken_staff.update(staff)
        for wid in chosen:
            incoming[wid] = frozenset(set(windows[wid]) & set(serves))
        n = len(chosen) if chosen else worth
        rec = _open_recommendation(hall, plan, chosen, staff, n, worth, len(candidates), serves, settings, now)
        out.append(rec)
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


def _open_recommendation(
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
    rec = _recommendation(
        rec_id,
        RecommendationKind.OPEN,
        hall,
        plan,
        plan.services,
        chosen,
        staff,
        n,
        plan.current + n,
        settings,
        now,
        serves,
    )
    en, zh = _open_reason(rec, plan, wanted, candidates, settings)
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


def _open_reason(rec: Recommendation, plan: _Plan, wanted: int, candidates: int, s: TidalSettings) -> tuple[str, str]:
    sl = _num(s.service_level * 100)
    t = _num(s.target_wait_min)
    default_en = "" if rec.aht_learned else " (default AHT: not learned yet)"
    default_zh = "" if rec.aht_learned else "（默认办理时长，尚未学得）"
    walkout_en = "" if s.patience_min is None else f" and at most {_num(s.max_abandonment * 100)} % leaving"
    walkout_zh = "" if s.patience_min is None else f"、离开不超过 {_num(s.max_abandonment * 100)}%"
    h = _num(s.horizon_min)
    en = (
        f"{_label_en(plan.views, rec.services)}: {rec.backlog} waiting, projected wait "
        f"{_wait_en(rec.projected_wait_min)} with {rec.current_servers} window{'s' * (rec.current_servers != 1)}; "
        f"in the next {h} min {rec.late} people would wait past {t} min, {rec.late_after} with {rec.n} more "
        f"({_num(rec.arrivals_per_h)} arrivals/h × {_num(rec.aht_min)} min{default_en}; steady state needs "
        f"{rec.needed_servers} windows for {sl} % within {t} min{walkout_en})"
    )
    zh = (
        f"{_label_zh(plan.views, rec.services)}：{rec.backlog} 人等候，现有 {rec.current_servers} 个窗口，"
        f"{_wait_zh(rec.projected_wait_min, '预计等候')}；未来 {h} 分钟将有 {rec.late} 人等候超过 {t} 分钟，"
        f"增开 {rec.n} 个后为 {rec.late_after} 人（每小时 {_num(rec.arrivals_per_h)} 人 × 每件 "
        f"{_num(rec.aht_min)} 分钟{default_zh}；稳态需 {rec.needed_servers} 个窗口才能 {sl}% 在 {t} 分钟内叫号"
        f"{walkout_zh}）"
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
    missing = wanted - rec.n
    if missing > 0:
        en += f"; {missing} more needed (only {candidates} closed window{'s' * (candidates != 1)} can serve it)"
        zh += f"；仍缺 {missing} 个（仅 {candidates} 个空闲窗口可办理）"
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
    serves: tuple[str, ...] = ()  # what it was told to serve (the group, or more when pooled); () = `services`

    def to_dict(self) -> dict[str, object]:
        return {
            "window_id": self.window_id,
            "services": list(self.services),
            "serves": list(self.serves),
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
            serves=tuple(str(s) for s in serves) if isinstance(serves := raw.get("serves"), list) else (),
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
    serves: tuple[str, ...] = (),
) -> Recommendation:
    """A recommendation with the numbers behind it, for `after` windows instead of the current ones (no reason yet)."""
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
        reason_en="",
        reason_zh="",
        created_at=now,
        expires_at=now + timedelta(minutes=settings.valid_for_min),
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
    after = plan.current - 1
    rec = _recommendation(
        _rec_id("close", hall.hall_id, ow.window_id, ow.rec_id), RecommendationKind.CLOSE, hall, plan, ow.services,
        (ow.window_id,), (ow.staff_id,) if ow.staff_id else (), 1, after, s, now,
    )  # fmt: skip
    t = _num(s.target_wait_min)
    opened_at = ow.opened_at.astimezone(ZoneInfo(hall.timezone)).strftime("%H:%M")
    minutes = _num((now - since).total_seconds() / 60)
    sl_after = "–" if rec.service_level_after is None else _num(rec.service_level_after * 100)
    en = (
        f"{_label_en(plan.views, rec.services)}: for {minutes} min the {_num(s.horizon_min)}-min projection has "
        f"had nobody waiting longer past {t} min without tidal window {ow.window_id} (now "
        f"{_wait_en(rec.projected_wait_min)}, {rec.backlog} waiting, {rec.current_servers} windows; "
        f"{_num(rec.arrivals_per_h)} arrivals/h × {_num(rec.aht_min)} min; steady state with {after}: {sl_after} % "
        f"within {t} min) → close tidal window {ow.window_id} (opened {opened_at})"
    )
    zh = (
        f"{_label_zh(plan.views, rec.services)}：已连续 {minutes} 分钟预测（未来 {_num(s.horizon_min)} 分钟）表明，"
        f"不开潮汐窗口 {ow.window_id} 也不会增加超过 {t} 分钟的等候（{_wait_zh(rec.projected_wait_min, '当前')}，"
        f"{rec.backlog} 人等候，{rec.current_servers} 个窗口；每小时 {_num(rec.arrivals_per_h)} 人 × 每件 "
        f"{_num(rec.aht_min)} 分钟；稳态下 {after} 个窗口 {sl_after}% 在 {t} 分钟内叫号）"
        f"→ 关闭潮汐窗口 {ow.window_id}（{opened_at} 开放）"
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
                self._opened[wid] = OpenedWindow(wid, rec.services, staff, rec.id, now, serves=rec.serves)
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
        """Approved windows the hall has not reported open yet."""
        return frozenset(self.arriving())

    def arriving(self) -> dict[str, tuple[str, ...]]:
        """Approved windows not open yet → what they will serve: pass as `recommend_open(arriving=…)`."""
        return {w: ow.serves or ow.services for w, ow in self._opened.items() if not ow.seen_open}

    def check(self, hall: HallSnapshot, now: datetime, profile: DemandProfile | None = None) -> list[TidalEvent]:
        """Follow up: checks that are due (escalate or checked), the quiet clocks, and close recommendations."""
        self._expire(now)
        self._last_check = now
        self._follow_windows(hall)
        events = self._check_openings(hall, now)
        self._track_quiet(hall, now, profile)
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

    def _track_quiet(self, hall: HallSnapshot, now: datetime, profile: DemandProfile | None) -> None:
        """Per group with an open tidal window: could its next window to close go (`spare`)? Any moment it could
        not restarts the clock (the hysteresis)."""
        views = {w.window_id: w for w in hall.windows}
        groups: dict[str, list[OpenedWindow]] = {}
        for ow in self._opened.values():
            if ow.seen_open and ow.window_id in views:
                groups.setdefault(group_key(ow.services), []).append(ow)
        for key in [k for k in self._quiet if k not in groups]:
            del self._quiet[key]
        for key, members in groups.items():
            if spare(hall, _next_to_close(members, views), profile, self.settings, now):
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
