"""The mobile post for surges (流动岗, issue 20): when arrivals jump, send a free mobile-post person to the queue area
as a guide — they meet the people arriving, send those whose business a kiosk can do to self-service and tell those
whose documents are missing before they queue (一次性告知) — and call them back once the arrivals are back to usual.

Owns `GuideSettings`, `GuideProposal`, `GuidePost`, `GuideCheck`, `recommend_guide` and `guide_over`. Pure: no clock
(every time is passed in), no I/O, no prose (`GuideReason`'s numbers are worded elsewhere). Must not remember who is
guiding: the caller keeps the `GuidePost`s and asks `guide_over` about each one every minute.

A jump, per scope (the whole hall, each service group the caller names, each waiting zone's services): with a learned
profile, the arrivals of the last 15 min k against the profile's for the same 15 min k₀ (each slot's rate for the
minutes of it they cover): k ≥ `min_arrivals_15m`, k ≥ `jump_ratio` · k₀ and k − k₀ ≥ `noise_z` · √max(k₀, 1) (a
Poisson count's spread is √k₀: three of them is a jump, not noise, even with a dozen scopes looked at every minute).
Without a profile for any of the scope's services: the queue growing fast, arrivals − completions of the last 15 min
≥ `growth_15m`, with k ≥ `min_arrivals_15m`. The scope with the most arrivals above usual wins; the guide goes to the
waiting zone whose services take most of its arrivals (None: the hall has no zones).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rules.hall import HallSnapshot, WindowStatus
from rules.rota.skills import PostKind, SkillBook
from rules.tidal.demand import SLOT_MIN, DemandProfile
from rules.tidal.reason import GuideReason, ServiceName


@dataclass(frozen=True, slots=True)
class GuideSettings:
    """When a jump in arrivals sends a guide, and when the guide comes back (minutes, counts, ratios)."""

    jump_ratio: float = 1.3  # the last 15 min's arrivals at least this × the profile's for the slot …
    noise_z: float = 3.0  # … and at least this many Poisson spreads (√ usual) above it
    min_arrivals_15m: int = 8  # … and at least this many arrivals in the last 15 min (fewer is noise)
    growth_15m: int = 10  # without a profile: the queue grew by this many in 15 min (arrivals − completions)
    calm_ratio: float = 1.1  # back near usual: the last 15 min's arrivals at most this × the profile's …
    calm_min: float = 15.0  # … for this long without interruption (hysteresis: no flapping)

    def __post_init__(self) -> None:
        if not math.isfinite(self.jump_ratio) or self.jump_ratio <= 1:
            raise ValueError(f"jump_ratio must be a number > 1, e.g. 1.3, got {self.jump_ratio!r}")
        if not math.isfinite(self.noise_z) or self.noise_z < 0:
            raise ValueError(f"noise_z must be a number ≥ 0, e.g. 2, got {self.noise_z!r}")
        for name in ("min_arrivals_15m", "growth_15m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if not math.isfinite(self.calm_ratio) or not 1 <= self.calm_ratio < self.jump_ratio:
            raise ValueError(
                f"calm_ratio must be ≥ 1 and below jump_ratio ({self.jump_ratio!r}) so a guide is not sent back at "
                f"once, got {self.calm_ratio!r}"
            )
        if not math.isfinite(self.calm_min) or self.calm_min < 0:
            raise ValueError(f"calm_min must be a number of minutes ≥ 0, got {self.calm_min!r}")


@dataclass(frozen=True, slots=True)
class GuideProposal:
    """Send `staff_id` to `zone` (None: the hall's queue area) as a guide, for the jump in `services`' arrivals."""

    staff_id: str
    zone: str | None
    services: tuple[str, ...]  # the scope whose arrivals jumped (every service with arrivals, for the whole hall)
    reason: GuideReason


@dataclass(frozen=True, slots=True)
class GuidePost:
    """A guide posted (the caller keeps it from an approved `GuideProposal`, and passes it to `guide_over`)."""

    staff_id: str
    zone: str | None
    services: tuple[str, ...]
    since: datetime
    calm_since: datetime | None = None  # arrivals back near usual since then (None: not calm now)

    @classmethod
    def of(cls, proposal: GuideProposal, at: datetime) -> GuidePost:
        return cls(proposal.staff_id, proposal.zone, proposal.services, at)


@dataclass(frozen=True, slots=True)
class GuideCheck:
    """`guide_over`'s answer: `over` (call the guide back), the post to keep, and the numbers it rests on."""

    over: bool
    post: GuidePost
    arrivals_15m: int
    usual_15m: float | None  # None: no profile for the scope's services (the queue's growth decided)
    pulled: bool = False  # the guide is logged in at a window now (pulled to it): over at once


@dataclass(frozen=True, slots=True)
class _Scope:
    services: tuple[str, ...]
    arrivals: int  # k: the last 15 min
    usual: float | None  # k₀: the profile's for the same 15 min (None: no profile)
    growth: int  # arrivals − completions of the last 15 min
    waiting: int


def recommend_guide(  # noqa: PLR0913 - the hall, the staff, the profile; the rest keywords naming who is busy
    hall: HallSnapshot,
    skills: SkillBook,
    profile: DemandProfile | None,
    settings: GuideSettings,
    now: datetime,
    *,
    guiding: Collection[str] = (),
    taken: Collection[str] = (),
    groups: Iterable[Collection[str]] = (),
    zones: Mapping[str, Collection[str]] | None = None,
) -> GuideProposal | None:
    """One guide for the biggest jump in arrivals (module docstring), or None: no jump, or no mobile-post person free.

    Free: a `PostKind.MOBILE` person of `skills` not in `guiding` (posted already) nor `taken` (the caller's: just
    proposed for a window), and logged in at no window that is open or paused (pulled to it). The one who can serve
    most of the scope's services is sent (they can also answer questions), then roster order. `groups`: service
    groups to watch besides the whole hall (e.g. `service_groups`); `zones`: waiting zone id → the services seated
    there (empty: all), the queue areas a guide may be sent to (None or empty: the hall's, unnamed)."""
    busy = set(guiding) | set(taken) | _at_windows(hall)
    free = [s for s in skills.staff() if skills.kind(s) is PostKind.MOBILE and s not in busy]
    if not free:
        return None
    scopes: list[tuple[str, ...]] = [tuple(sorted(v.code for v in hall.services))]
    scopes += [tuple(sorted(g)) for g in groups]
    scopes += [tuple(sorted(s)) for s in (zones or {}).values() if s]
    best: tuple[tuple[float, int], _Scope] | None = None
    for services in dict.fromkeys(scopes):  # each scope once, in order
        scope = _scope(hall, services, profile, now)
        if scope is None or not _jumped(scope, settings):
            continue
        excess = scope.arrivals - (scope.usual if scope.usual is not None else scope.arrivals - scope.growth)
        key = (-excess, -len(services))
        if best is None or key < best[0]:
            best = (key, scope)
    if best is None:
        return None
    scope = best[1]
    wanted = set(scope.services)
    staff = min(free, key=lambda s: (-len(wanted & skills.skills(s)), free.index(s)))
    zone = _zone(hall, scope.services, zones)
    views = {v.code: v for v in hall.services}
    reason = GuideReason(
        names=tuple(ServiceName(c, views[c].name, views[c].name_en) for c in scope.services if c in views),
        arrivals_15m=scope.arrivals,
        live_rate_per_h=round(scope.arrivals * 60 / SLOT_MIN, 1),
        usual_rate_per_h=None if scope.usual is None else round(scope.usual * 60 / SLOT_MIN, 1),
        growth_15m=scope.growth,
        waiting=scope.waiting,
        zone=zone,
        staff_id=staff,
    )
    return GuideProposal(staff, zone, scope.services, reason)


def guide_over(
    hall: HallSnapshot, post: GuidePost, profile: DemandProfile | None, settings: GuideSettings, now: datetime
) -> GuideCheck:
    """Should the guide come back? Once the post's arrivals have been back near usual (≤ `calm_ratio` × the profile's;
    without a profile: the queue no longer growing) for `calm_min` without interruption; at once when the guide has
    been pulled to a window. Keep the answer's `post` for the next check (it carries the calm clock)."""
    scope = _scope(hall, post.services, profile, now)
    if post.staff_id in _at_windows(hall):
        return GuideCheck(True, post, scope.arrivals if scope else 0, scope.usual if scope else None, pulled=True)
    if scope is None:  # none of its services is known any more: nothing says it is busy
        calm, arrivals, usual = True, 0, None
    else:
        arrivals, usual = scope.arrivals, scope.usual
        calm = scope.growth <= 0 if usual is None else arrivals <= settings.calm_ratio * usual
    if not calm:
        return GuideCheck(False, replace(post, calm_since=None), arrivals, usual)
    since = post.calm_since or now
    kept = replace(post, calm_since=since)
    return GuideCheck(now - since >= timedelta(minutes=settings.calm_min), kept, arrivals, usual)


def _at_windows(hall: HallSnapshot) -> set[str]:
    return {w.staff_id for w in hall.windows if w.staff_id and w.status is not WindowStatus.CLOSED}


def _scope(
    hall: HallSnapshot, services: tuple[str, ...], profile: DemandProfile | None, now: datetime
) -> _Scope | None:
    views = [v for v in hall.services if v.code in services]
    if not views:
        return None
    usual: float | None = None
    if profile is not None:
        counts = [_usual_15m(profile, v.code, now) for v in views]
        if any(c is not None for c in counts):  # a service the profile never saw on this weekday usually has none
            usual = sum(c or 0.0 for c in counts)
    return _Scope(
        services=tuple(v.code for v in views),
        arrivals=sum(v.arrivals_15m for v in views),
        usual=usual,
        growth=sum(v.arrivals_15m - v.completions_15m for v in views),
        waiting=sum(v.waiting for v in views),
    )


def _usual_15m(profile: DemandProfile, code: str, now: datetime) -> float | None:
    """The profile's arrivals of `code` in [now − 15 min, now): each slot's rate for the minutes of it covered (None:
    no slot known)."""
    t, usual, known = now - timedelta(minutes=SLOT_MIN), 0.0, False
    while t < now:
        into = t.minute % SLOT_MIN + t.second / 60 + t.microsecond / 60e6
        end = min(now, t + timedelta(minutes=SLOT_MIN - into))
        rate = profile.rate(code, t)
        if rate is not None:
            known = True
            usual += rate * (end - t).total_seconds() / 3600
        t = end
    return usual if known else None


def _jumped(scope: _Scope, settings: GuideSettings) -> bool:
    k = scope.arrivals
    if k < settings.min_arrivals_15m:
        return False
    if scope.usual is None:
        return scope.growth >= settings.growth_15m
    k0 = scope.usual
    return k >= settings.jump_ratio * k0 and k - k0 >= settings.noise_z * math.sqrt(max(k0, 1.0))


def _zone(hall: HallSnapshot, services: tuple[str, ...], zones: Mapping[str, Collection[str]] | None) -> str | None:
    """The waiting zone whose services took most of the scope's arrivals of the last 15 min (on a tie a zone that
    names its services before one for all, then the first)."""
    if not zones:
        return None
    arrivals = {v.code: v.arrivals_15m for v in hall.services if v.code in services}
    best: tuple[tuple[int, bool], str] | None = None
    for zid, seated in zones.items():
        n = sum(arrivals.values()) if not seated else sum(arrivals.get(c, 0) for c in seated)
        if best is None or (n, bool(seated)) > best[0]:
            best = ((n, bool(seated)), zid)
    return best[1] if best else None
