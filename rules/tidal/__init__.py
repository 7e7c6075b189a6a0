"""Tidal windows (潮汐窗口): when to open extra windows for a service group, which ones and with whom, and when to
close them again.

Owns the pure decision part of the tidal-window feature (research/queue-and-staffing.md §4.2, §6.2; seeds F-01,
R-Q3/R-Q4):

- `DemandProfile` (demand.py) — arrivals per service per weekday × 15-min slot, learned from `ticket.issued` events
  (the mean of the last 4 same weekdays, research §4.6), and `blended_rate`, which mixes it with the live counts; and
  when each window is usually open (lunch breaks, the end of a shift), learned from the window status events.
- `recommend_open` (recommend.py) — per service group: a transient projection (projection.py) of the tickets waiting,
  the tickets being served, the arrivals of the next minutes (blended rate) and the windows' usual hours counts the
  people who would wait past the target; a window is proposed while each one brings enough of them within it. Closed
  windows that can serve the group (pooled: they serve every service they can) and free staff from the tidal pool
  give the proposal, with the numbers — Erlang C/A's steady-state count among them — and a reason: a code and the
  numbers its words need (reason.py; edge/wording/tidal.py words it in English and Chinese).
- `recommend_cover` (cover.py) — a paused window's person's AB partner, sent to cover it (AB岗互补); and
  `recommend_help` (help.py) — an open window with a quiet queue asked to call a late group's tickets too (issue 20:
  who can serve what is rules/rota's `SkillBook`).
- `recommend_guide` (guide.py) — a mobile-post person (流动岗) sent to the queue area as a guide when arrivals jump,
  and `guide_over` to call them back (with hysteresis).
- `recommend_close` (recommend.py) — with hysteresis, for windows opened by approved recommendations that the
  projection no longer needs (`spare`).
- `TidalTracker` (tracker.py) — the state between a recommendation and its end: offers, approvals, rejections, the
  check after an approved opening (escalate if the projected wait has not fallen), the quiet clock behind closing;
  JSON `dump`/`load` (persist.py) so it survives a restart.

Pure: no I/O, no clock (every time is passed in), no MQTT, no prose. The gateway (edge/) turns approvals into
commands (`window.assign` to the qms, `nudge` to the window terminal) and notifications. docs/tidal.md has the model,
the formulas and the defaults.

- `Bookings` (bookings.py) — the hall's appointments (预约) as known future arrivals: `_plan` adds the bookings
  expected within the horizon to the walk-ins (each called `appointment_boost_min` ahead of them, as the queue system
  does, so the walk-ins' waits count the appointments that pass them), when the gateway has set
  `DemandProfile.bookings` and a booking was heard within a week.

Modules, bottom up: settings → reason → model → persist → bookings → demand → projection → recommend → help, cover,
guide → tracker.
"""

from rules.tidal.bookings import Booking, Bookings, ServiceBookings
from rules.tidal.cover import recommend_cover
from rules.tidal.demand import SLOT_MIN, DemandProfile, blended_rate, live_rate
from rules.tidal.guide import GuideCheck, GuidePost, GuideProposal, GuideSettings, guide_over, recommend_guide
from rules.tidal.help import Help, help_over, recommend_help
from rules.tidal.model import (
    OpenedWindow,
    Recommendation,
    RecommendationKind,
    TidalEvent,
    TidalEventKind,
    group_key,
)
from rules.tidal.persist import SCHEMA_VERSION
from rules.tidal.projection import projected_wait_min
from rules.tidal.reason import (
    CheckReason,
    CloseReason,
    CoverReason,
    GuideReason,
    Named,
    OpenReason,
    Reason,
    ReasonCode,
    SavedReason,
    ServiceName,
)
from rules.tidal.recommend import (
    AssignCandidate,
    assign_candidates,
    assign_staff,
    recommend_close,
    recommend_open,
    service_groups,
    spare,
    window_capabilities,
)
from rules.tidal.settings import TidalSettings
from rules.tidal.tracker import TidalTracker

__all__ = [
    "SCHEMA_VERSION",
    "SLOT_MIN",
    "AssignCandidate",
    "Booking",
    "Bookings",
    "CheckReason",
    "CloseReason",
    "CoverReason",
    "DemandProfile",
    "GuideCheck",
    "GuidePost",
    "GuideProposal",
    "GuideReason",
    "GuideSettings",
    "Help",
    "Named",
    "OpenReason",
    "OpenedWindow",
    "Reason",
    "ReasonCode",
    "Recommendation",
    "RecommendationKind",
    "SavedReason",
    "ServiceBookings",
    "ServiceName",
    "TidalEvent",
    "TidalEventKind",
    "TidalSettings",
    "TidalTracker",
    "assign_candidates",
    "assign_staff",
    "blended_rate",
    "group_key",
    "guide_over",
    "help_over",
    "live_rate",
    "projected_wait_min",
    "recommend_close",
    "recommend_cover",
    "recommend_guide",
    "recommend_help",
    "recommend_open",
    "service_groups",
    "spare",
    "window_capabilities",
]
