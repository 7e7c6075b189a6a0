"""Why a tidal recommendation or check says what it says: a `ReasonCode` and the numbers its words need.

Owns the reason types a `Recommendation` and a `TidalEvent` carry. Must not hold prose: edge/wording/tidal.py turns a
reason (with the recommendation's or the event's own numbers) into English and Chinese. The one exception is
`SavedReason`: a recommendation saved by state format 1 kept only its words, and it shows them as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from rules.hall import ServiceView


class ReasonCode(StrEnum):
    OPEN = "open"  # people would wait past the target: open windows (or find them by hand when none can be proposed)
    CLOSE = "close"  # the group has been quiet without a tidal window long enough: close it
    WAIT_FELL = "wait_fell"  # the check after an approved opening: the projected wait has fallen
    WAIT_NOT_FALLEN = "wait_not_fallen"  # … it has not: escalate
    SAVED = "saved"  # restored from state format 1, which kept the words only
    COVER = "cover"  # a paused window's people would wait past the target: its person's AB partner covers it (AB岗)
    GUIDE_SURGE = "guide_surge"  # arrivals jumped: a mobile-post person (流动岗) guides the queue area (guide.py)


@dataclass(frozen=True, slots=True)
class ServiceName:
    """A service of the group as the hall names it (for the label "社保（SB）" / "Social security (SB)")."""

    code: str
    name: str | None  # the hall's own name (Chinese)
    name_en: str | None


def service_names(views: Iterable[ServiceView]) -> tuple[ServiceName, ...]:
    """The names of the services the hall knows, in the order given."""
    return tuple(ServiceName(v.code, v.name, v.name_en) for v in views)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenReason:
    """An opening: with the recommendation's numbers (backlog, waits, late tickets, arrivals, AHT, Erlang count)."""

    code: Literal[ReasonCode.OPEN] = ReasonCode.OPEN
    names: tuple[ServiceName, ...]
    horizon_min: float
    target_wait_min: float
    service_level: float
    max_abandonment: float | None  # Erlang A's walkout cap; None with Erlang C
    wanted: int  # windows the group should get: more than the recommendation's `n` when too few can be proposed
    candidates: int  # closed windows that can serve the group


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseReason:
    """A close: with the recommendation's numbers (the window, the wait now, the service level after)."""

    code: Literal[ReasonCode.CLOSE] = ReasonCode.CLOSE
    names: tuple[ServiceName, ...]
    horizon_min: float
    target_wait_min: float
    quiet_min: float  # how long the group has been quiet without the window
    opened_at: datetime  # when the window's opening was approved, on the hall's clock


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReason:
    """The check after an approved opening: with the event's numbers (the waits, the windows not open yet)."""

    code: Literal[ReasonCode.WAIT_FELL, ReasonCode.WAIT_NOT_FALLEN]
    names: tuple[ServiceName, ...]
    check_after_min: float
    n: int  # windows the opening asked for (to find by hand when it proposed none)


@dataclass(frozen=True, slots=True)
class Named:
    """A window or a person as the hall names them (its id when it has no name)."""

    id: str
    name: str | None = None  # the configured (Chinese) name
    name_en: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverReason:
    """An AB-post cover (AB岗互补): `window` is paused (its person `covered` on a break or away) while its people
    would wait past the target; `partner`, the covered person's AB partner, is at `partner_window` with a quiet
    queue of their own and can serve the window's services. With the recommendation's numbers (late, waits)."""

    code: Literal[ReasonCode.COVER] = ReasonCode.COVER
    names: tuple[ServiceName, ...]
    window: Named  # the paused window to cover (the recommendation's one window)
    covered: Named  # the person whose window it is (its last staff member)
    partner: Named  # their AB partner, the person sent (the recommendation's one staff member)
    partner_window: Named  # where the partner is now (it pauses while they cover)
    horizon_min: float
    target_wait_min: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GuideReason:
    """A guide sent to the queue area (流动岗, guide.py): the arrivals of the last 15 min of `names` against the
    profile's for the same slot (or, without one, the queue's growth), the people waiting, where and who. Not a tidal
    `Recommendation`'s reason (not in `Reason`): a `GuideProposal` carries it."""

    code: Literal[ReasonCode.GUIDE_SURGE] = ReasonCode.GUIDE_SURGE
    names: tuple[ServiceName, ...]  # the services whose arrivals jumped (the whole hall's, for the hall)
    arrivals_15m: int
    live_rate_per_h: float  # the last 15 min's arrivals, per hour
    usual_rate_per_h: float | None  # the profile's for the same slot, per hour (None: no profile)
    growth_15m: int  # arrivals − completions of the last 15 min (the queue's growth)
    waiting: int  # people waiting for those services now
    zone: str | None  # the queue area (waiting zone) to go to; None: the hall's
    staff_id: str  # the mobile-post person sent


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedReason:
    """The words a recommendation saved by state format 1 had: format 1 kept no code and no numbers."""

    code: Literal[ReasonCode.SAVED] = ReasonCode.SAVED
    en: str
    zh: str


Reason = OpenReason | CloseReason | CheckReason | CoverReason | SavedReason
