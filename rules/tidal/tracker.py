"""The lifecycle of tidal recommendations (潮汐窗口跟踪): `TidalTracker` — offered, approved or rejected, checked after
an approved opening (escalate if the projected wait has not fallen), and the quiet clock behind closing.

Owns that state and when it next needs a look (`next_deadline`). Must not send commands or notify (the gateway does),
read a clock (every time is passed in) or word what it finds (edge/wording/tidal.py). Its saved format is in
persist.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from rules.hall import HallSnapshot, WindowStatus
from rules.tidal.demand import DemandProfile
from rules.tidal.model import (
    OpenedWindow,
    Opening,
    Recommendation,
    RecommendationKind,
    TidalEvent,
    TidalEventKind,
    group_key,
)
from rules.tidal.persist import TrackerState, dump_tracker, load_tracker
from rules.tidal.projection import projected_wait_min
from rules.tidal.reason import CheckReason, CoverReason, ReasonCode, service_names
from rules.tidal.recommend import _next_to_close, recommend_close, spare
from rules.tidal.settings import TidalSettings


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
        self._openings: list[Opening] = []  # approved openings not checked yet
        self._opened: dict[str, OpenedWindow] = {}
        # approved AB-post covers (AB岗互补), by covered window: someone's own window with their partner at it for a
        # while — not a tidal window (never proposed for closing), followed until the partner leaves it
        self._covers: dict[str, OpenedWindow] = {}
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
        stops tracking the window. An AB-post cover (a `CoverReason`) is checked like an opening, but its window is
        the covered person's own: it is followed as a cover, not as a tidal window, and never proposed for closing.
        Raises ValueError for an unknown or expired id, and for an opening that proposes no window (approving it
        would change nothing: `assign` a window instead).
        """
        held = self._pending.get(rec_id)
        if held is not None and held.kind is RecommendationKind.OPEN and not held.windows:
            raise ValueError(f"tidal recommendation {rec_id!r} proposes no window: assign one instead of approving")
        rec = self._take(rec_id, now)
        if isinstance(rec.reason, CoverReason):
            self._cover(rec, by, now)
        elif rec.kind is RecommendationKind.OPEN:
            self._open(rec, by, now)
        else:
            for wid in rec.windows:
                ow = self._opened.pop(wid, None)
                if ow is not None:
                    self._quiet.pop(group_key(ow.services), None)
        return rec

    def assign(
        self, rec_id: str, window_id: str, staff_id: str | None, by: str, now: datetime, *, by_command: bool = True
    ) -> Recommendation:
        """The manager's answer to an opening that proposes no window: `window_id` (and `staff_id`) will serve the
        group. Returns the recommendation with that window, which is then followed like an approved one (a tidal
        window, the check after `check_after_min`). `by_command`: the gateway can tell the queue system to open it;
        False records a window opened by hand, whose effect the check still measures. Raises ValueError when the
        recommendation is not a pending opening or the window is already a tidal window."""
        held = self._pending.get(rec_id)
        if held is not None and held.kind is not RecommendationKind.OPEN:
            raise ValueError(f"tidal recommendation {rec_id!r} is a close: only an opening gets a window assigned")
        if window_id in self._opened:
            raise ValueError(f"window {window_id!r} is already a tidal window")
        rec = self._take(rec_id, now)
        rec = replace(rec, windows=(window_id,), staff=(staff_id,) if staff_id else (), n=1)
        self._open(rec, by, now, assigned=True, by_command=by_command)
        return rec

    def _open(
        self, rec: Recommendation, by: str, now: datetime, *, assigned: bool = False, by_command: bool = True
    ) -> None:
        """Follow an approved opening: its check, and each of its windows as a tidal window."""
        self._follow(rec, by, now, self._opened, assigned=assigned, by_command=by_command)

    def _cover(self, rec: Recommendation, by: str, now: datetime) -> None:
        """Follow an approved AB-post cover: its check, and its window as a cover (never proposed for closing)."""
        self._follow(rec, by, now, self._covers)

    def _follow(
        self,
        rec: Recommendation,
        by: str,
        now: datetime,
        into: dict[str, OpenedWindow],
        *,
        assigned: bool = False,
        by_command: bool = True,
    ) -> None:
        self._openings.append(
            Opening(rec, by, now, now + timedelta(minutes=self.settings.check_after_min), rec.projected_wait_min)
        )
        for i, wid in enumerate(rec.windows):
            into[wid] = OpenedWindow(
                wid,
                rec.services,
                rec.staff[i] if i < len(rec.staff) else None,
                rec.id,
                now,
                serves=rec.serves,
                approved_by=by,
                wait_before_min=rec.projected_wait_min,
                assigned=assigned,
                by_command=by_command,
            )

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

    def covers(self) -> tuple[OpenedWindow, ...]:
        """The approved AB-post covers still in effect (or on their way): each window with the partner sent to it."""
        return tuple(self._covers.values())

    def reserved_windows(self) -> frozenset[str]:
        """Approved windows the hall has not reported open yet."""
        return frozenset(self.arriving())

    def arriving(self) -> dict[str, tuple[str, ...]]:
        """Approved windows not open yet (tidal windows and covers) → what they will serve: pass as
        `recommend_open(arriving=…)`."""
        waiting = [*self._opened.values(), *self._covers.values()]
        return {ow.window_id: ow.serves or ow.services for ow in waiting if not ow.seen_open}

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
                    rec.reason,
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
        for wid, ow in list(self._covers.items()):  # over once the partner has left it (or its person is back)
            view = views.get(wid)
            there = view is not None and view.status is WindowStatus.OPEN and view.staff_id == ow.staff_id
            if there and not ow.seen_open:
                self._covers[wid] = replace(ow, seen_open=True)
            elif not there and (ow.seen_open or view is None or view.status is not WindowStatus.PAUSED):
                del self._covers[wid]

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
            reason = CheckReason(
                code=ReasonCode.WAIT_FELL if fell else ReasonCode.WAIT_NOT_FALLEN,
                names=service_names(svc[c] for c in rec.services if c in svc),
                check_after_min=s.check_after_min,
                n=rec.n,
            )
            kind = TidalEventKind.CHECKED if fell else TidalEventKind.ESCALATE
            events.append(
                TidalEvent(kind, now, rec.id, rec.services, rec.windows, reason, o.wait_at_approval, wait, not_open)
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

    def digest(self) -> int:
        """Changes whenever the recommendations people see change (offered, decided, opened, checked)."""
        return hash(
            (
                tuple(self._pending),
                tuple(self._rejected),
                tuple(o.rec.id for o in self._openings),
                tuple(self._opened),
                tuple(self._covers),
            )
        )

    def dump(self) -> bytes:
        return dump_tracker(
            TrackerState(
                pending=tuple(self._pending.values()),
                rejected=dict(self._rejected),
                openings=tuple(self._openings),
                opened=tuple(self._opened.values()),
                covers=tuple(self._covers.values()),
                quiet=dict(self._quiet),
                last_check=self._last_check,
            )
        )

    @classmethod
    def load(cls, settings: TidalSettings, data: bytes) -> TidalTracker:
        """A tracker saved by `dump` (format 2) or by the release before (format 1: see persist.py)."""
        state = load_tracker(data)
        t = cls(settings)
        t._pending = {r.id: r for r in state.pending}
        t._rejected = dict(state.rejected)
        t._openings = list(state.openings)
        t._opened = {ow.window_id: ow for ow in state.opened}
        t._covers = {ow.window_id: ow for ow in state.covers}
        t._quiet = dict(state.quiet)
        t._last_check = state.last_check
        return t
