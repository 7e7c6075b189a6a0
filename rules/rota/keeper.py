"""The day's break plan, kept live (午休执行): when each planned break is due, held back while its window's queue is
long, under way, or over — from the hall as it is now.

Owns `BreakKeeper`, `BreakState`, `BreakStatus`, `BreakEvent`, `HoldSettings`. Must not plan (breaks.py does, a day
ahead) or tell anyone (edge/ words the events and sends them; the bench carries them out in the simulator).

A break is due at its planned start. If then any of its window's services projects a wait at or over the target, it
is held back `hold_min` (start and end move together, at most `max_holds` times: lunch is not cancelled, only
delayed); else it is due — once (one `DUE` event), until the window pauses. A pause at or after the start is the
break under way (a pause begun up to EARLY before the start counts as the break taken early; one begun before that is
a pause of its own, and the break waits for it to end); the window open again after it (or closed: the shift ended)
is the break over — unless it opened again within SHORT (or half the break): that was a short pause, the break is
still due. A break whose end passes with no pause is missed: never announced late (a plan made or a keeper started
after a break's time, a clock set on, a window that never paused).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from rules.hall import HallSnapshot, ServiceView, WindowStatus, WindowView
from rules.rota.breaks import BreakPlan, PlannedBreak


class BreakState(StrEnum):
    PLANNED = "planned"  # its start is still to come
    DUE = "due"  # started on paper: the window should pause when its ticket in hand is done
    HELD = "held"  # held back: its services' queue is long at the start (moved `hold_min` on)
    ON_BREAK = "on_break"  # the window paused at or after the start
    OVER = "over"  # open again after the break, or closed
    MISSED = "missed"  # its end passed and the window never paused for it


EARLY = timedelta(minutes=15)  # a pause begun up to this before the start is the break taken early
SHORT = timedelta(minutes=10)  # open again sooner (or within half the break) after pausing: not the break


class BreakEventKind(StrEnum):
    DUE = "due"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class HoldSettings:
    target_wait_min: float = 15.0  # a service projecting this wait or more holds the break of a window serving it
    hold_min: float = 15.0
    max_holds: int = 2

    def __post_init__(self) -> None:
        for name in ("target_wait_min", "hold_min"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of minutes > 0, got {value!r}")
        if self.max_holds < 0:
            raise ValueError(f"max_holds must be ≥ 0, got {self.max_holds!r}")


@dataclass(frozen=True, slots=True)
class BreakStatus:
    """A planned break as it stands: its start and end now (moved by holds), how many holds, its state; the waits
    that held it last (services → (waiting, projected wait in minutes; None: no open window serves it))."""

    planned: PlannedBreak
    start: datetime
    end: datetime
    holds: int
    state: BreakState
    began: datetime | None = None  # when the window paused for it
    held_by: tuple[tuple[str, int, float | None], ...] = ()


@dataclass(frozen=True, slots=True)
class BreakEvent:
    kind: BreakEventKind
    status: BreakStatus


LUNCH_WORDS = ("lunch", "午")  # a pause reason naming lunch (lunch, 午休, 午餐): the break taken, early or not
LUNCH_EARLY = timedelta(minutes=90)  # … counted as the planned break when it began at most this before its start


def _lunch_taken(s: BreakStatus, view: WindowView) -> bool:
    """The window is paused for lunch (its reason says so), begun at most LUNCH_EARLY before the break's start."""
    reason = (view.pause_reason or "").lower()
    return (
        view.status is WindowStatus.PAUSED
        and view.paused_since is not None
        and view.paused_since >= s.start - LUNCH_EARLY
        and any(word in reason for word in LUNCH_WORDS)
    )


def _someone_else(s: BreakStatus, view: WindowView) -> bool:
    """The window is open with someone other than the person whose break it is (their AB partner covering)."""
    return bool(view.staff_id and s.planned.staff_id and view.staff_id != s.planned.staff_id)


class BreakKeeper:
    """One day's `BreakPlan`, followed against the hall minute by minute (`step`)."""

    def __init__(self, plan: BreakPlan, settings: HoldSettings | None = None) -> None:
        self.plan = plan
        self.settings = settings or HoldSettings()
        self._status = {
            b.window_id: BreakStatus(b, b.start, b.end, 0, BreakState.PLANNED) for b in plan.breaks
        }  # window → its break

    def statuses(self) -> tuple[BreakStatus, ...]:
        """Every break, by its start now (then window)."""
        return tuple(sorted(self._status.values(), key=lambda s: (s.start, s.planned.window_id)))

    def at(self, window_id: str) -> BreakStatus | None:
        return self._status.get(window_id)

    def upcoming(self, now: datetime, within: timedelta) -> list[str]:
        """Windows whose break has not begun and starts within `within` of `now` (or is due, or held): not the ones
        to ask for help or send elsewhere."""
        waiting = (BreakState.PLANNED, BreakState.DUE, BreakState.HELD)
        return [w for w, s in self._status.items() if s.state in waiting and s.start - now <= within and now < s.end]

    def step(self, hall: HallSnapshot, now: datetime) -> list[BreakEvent]:
        """Move every break on to `now`; the events of this step (a break due, a break held), in plan order."""
        views = {w.window_id: w for w in hall.windows}
        waits = {s.code: s for s in hall.services}
        out: list[BreakEvent] = []
        for s in self.statuses():
            view = views.get(s.planned.window_id)
            new, event = self._next(s, view, waits, now)
            self._status[s.planned.window_id] = new
            if event is not None:
                out.append(BreakEvent(event, new))
        return out

    def _next(
        self, s: BreakStatus, view: WindowView | None, waits: dict[str, ServiceView], now: datetime
    ) -> tuple[BreakStatus, BreakEventKind | None]:
        status = view.status if view is not None else None
        if s.state is BreakState.PLANNED and view is not None and _lunch_taken(s, view):
            return replace(s, state=BreakState.ON_BREAK, began=view.paused_since), None  # gone to lunch early
        if s.state in (BreakState.OVER, BreakState.MISSED) or now < s.start:
            return s, None
        if s.state is BreakState.ON_BREAK:
            return self._back(s, view, now), None
        if now >= s.end:  # its time passed without a pause (or before the keeper saw it): never announced late
            return replace(s, state=BreakState.MISSED), None
        if status is WindowStatus.PAUSED:
            paused = view.paused_since if view is not None else None
            own = paused is not None and paused < s.start - EARLY  # a pause of its own, begun well before: it waits
            return (s if own else replace(s, state=BreakState.ON_BREAK, began=now)), None
        if status is WindowStatus.CLOSED:  # not in yet: nothing to hold or start; after its start: the shift ended
            return (s if s.state is BreakState.PLANNED else replace(s, state=BreakState.OVER)), None
        if s.state is BreakState.DUE:
            return s, None
        return self._due_or_held(s, view, waits)

    @staticmethod
    def _back(s: BreakStatus, view: WindowView | None, now: datetime) -> BreakStatus:
        """A break under way, the window open or closed again: over — unless someone else opened it (the AB partner
        covering: the break goes on), or it opened again after a short pause (under min(SHORT, half the break)):
        that was not the break, which is to come again (told again at the next step)."""
        status = view.status if view is not None else None
        if status not in (WindowStatus.OPEN, WindowStatus.CLOSED):
            return s
        if status is WindowStatus.OPEN and view is not None and _someone_else(s, view):
            return s
        short = min(SHORT, (s.end - s.start) / 2)
        if status is WindowStatus.OPEN and s.began is not None and now - s.began < short and now < s.end:
            return replace(s, state=BreakState.PLANNED, began=None)
        return replace(s, state=BreakState.OVER)

    def _due_or_held(
        self, s: BreakStatus, view: WindowView | None, waits: dict[str, ServiceView]
    ) -> tuple[BreakStatus, BreakEventKind]:
        long = self._long(view, waits)
        if long and s.holds < self.settings.max_holds:
            step = timedelta(minutes=self.settings.hold_min)
            held = replace(s, start=s.start + step, end=s.end + step, holds=s.holds + 1, state=BreakState.HELD)
            return replace(held, held_by=long), BreakEventKind.HELD
        return replace(s, state=BreakState.DUE), BreakEventKind.DUE

    def _long(
        self, view: WindowView | None, waits: dict[str, ServiceView]
    ) -> tuple[tuple[str, int, float | None], ...]:
        """The window's services whose projected wait is at or over the target (or unknown while it is open)."""
        if view is None:
            return ()
        out = []
        for code in view.services:
            svc = waits.get(code)
            wait = None if svc is None or svc.projected_wait_s is None else svc.projected_wait_s / 60
            if (wait is None and view.status is WindowStatus.OPEN) or (wait or 0.0) >= self.settings.target_wait_min:
                out.append((code, svc.waiting if svc is not None else 0, None if wait is None else round(wait, 1)))
        return tuple(out)

    # -- saving -------------------------------------------------------------------------------------------

    def dump(self) -> str:
        """What `load` needs to carry on after a restart on the same day: each break's moved times, holds and
        state (the plan itself is planned again: the same inputs give the same plan)."""
        rows = {
            w: {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "holds": s.holds,
                "state": s.state.value,
                "began": s.began.isoformat() if s.began else None,
                "held_by": [list(h) for h in s.held_by],
            }
            for w, s in sorted(self._status.items())
        }
        return json.dumps({"day": self.plan.day.isoformat(), "breaks": rows}, sort_keys=True)

    def load(self, text: str) -> bool:
        """Take a `dump` of the same day's plan; False (and nothing taken) when it is another day's or unreadable.
        Breaks the plan no longer has are dropped; new ones start as planned."""
        try:
            data = json.loads(text)
            if data.get("day") != self.plan.day.isoformat():
                return False
            taken = {}
            for w, row in data["breaks"].items():
                if w not in self._status:
                    continue
                s = self._status[w]
                began = row["began"]
                taken[w] = replace(
                    s,
                    start=datetime.fromisoformat(row["start"]),
                    end=datetime.fromisoformat(row["end"]),
                    holds=int(row["holds"]),
                    state=BreakState(row["state"]),
                    began=datetime.fromisoformat(began) if began else None,
                    held_by=tuple(
                        (str(c), int(n), None if w is None else float(w)) for c, n, w in row.get("held_by", [])
                    ),
                )
                t = taken[w]
                if any(x is not None and x.tzinfo is None for x in (t.start, t.end, t.began)):
                    raise ValueError("naive time")
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        self._status.update(taken)
        return True
