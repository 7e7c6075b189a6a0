"""What the tidal recommender hands out and keeps: `Recommendation`, `OpenedWindow`, `TidalEvent`, `Opening`.

Owns these frozen records and `group_key`. Must not compute them (recommend.py and tracker.py do) or word them
(edge/wording/tidal.py does); their saved format is in persist.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rules.staffing import Model
from rules.tidal.reason import Reason


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
    arrivals_per_h: float  # blended: what the sizing used (of the walk-ins, when the hall's bookings are known)
    aht_min: float
    aht_learned: bool  # False: (partly) the configured default
    projected_wait_min: float | None  # a ticket issued now, current windows
    projected_wait_after_min: float | None
    worst_wait_min: float | None  # the longest wait of a ticket issued within the horizon
    worst_wait_after_min: float | None
    service_level_now: float | None
    service_level_after: float | None
    reason: Reason  # a code and the numbers its words need (`OpenReason`, `CloseReason`; `SavedReason`)
    created_at: datetime
    expires_at: datetime
    appointments: int = 0  # booked people expected within the horizon, besides `arrivals_per_h` (issue 20)


def group_key(services: Iterable[str]) -> str:
    """A stable name for a service group, e.g. "SB+YB"."""
    return "+".join(sorted(services))


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
    approved_by: str = ""  # who approved (or assigned) it; "" in states saved before issue 19
    wait_before_min: float | None = None  # the group's projected wait when it was approved (None: unbounded)
    assigned: bool = False  # picked by the manager ("assign a window"), not proposed by the recommender
    by_command: bool = True  # the gateway told the queue system to open it; False: opened by hand, effect measured


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
    reason: Reason  # a `CheckReason`, or the close recommendation's reason (CLOSE)
    wait_at_approval_min: float | None = None  # None: unbounded
    wait_now_min: float | None = None
    windows_not_open: tuple[str, ...] = ()
    recommendation: Recommendation | None = None  # CLOSE


@dataclass(frozen=True, slots=True)
class Opening:
    """An approved opening whose check (has the projected wait fallen?) is still due."""

    rec: Recommendation
    approved_by: str
    approved_at: datetime
    check_at: datetime
    wait_at_approval: float | None  # None: unbounded
