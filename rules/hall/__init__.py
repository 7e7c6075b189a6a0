"""The live model of the hall (大厅实时模型): contract messages in, a snapshot out, time injected.

Owns the facts the rules reason about — per service the waiting tickets, longest and projected wait, arrivals and
completions over rolling windows and the mean service time; per window its status, staff, current ticket and
idle/pause clocks; per device online, last seen and health; per zone the occupancy. Pure: no I/O, no clock of its
own (every time comes from a message or from the `now` passed to `snapshot`), so the same messages always give the
same hall — live, after a restart, or in a backtest. `dump()`/`HallState.load()` give the state as JSON so the
gateway can persist it beside the event log.

Messages from different devices may arrive out of order (a call before the issue it answers); a ticket's events are
read in the order they happened, so any order ends in the same state. Duplicates (the same device, counter epoch and
seq, as QoS 1 redelivery produces) are recognised and not applied twice.

The parts, each a module: `profile` (the configuration's input), `admission` (what a message may name), `state`
(`HallState`: the fold), `records` (the fold's internal records), `views` (`SnapshotBuilder`: the snapshot and the
views kept between snapshots), `snapshot` (the view types), `persist` (the JSON format), `dedup` (`SeqRanges`),
`course` (a ticket's events read in order).
Import from `rules.hall`; the modules other than these names are the package's own business.
"""

from rules.hall.dedup import MAX_SEQ_RANGES, SeqRanges
from rules.hall.persist import SCHEMA_VERSION
from rules.hall.profile import (
    DeviceProfile,
    EntityCaps,
    HallProfile,
    ServiceProfile,
    StaffProfile,
    WindowProfile,
    ZoneProfile,
)
from rules.hall.records import AHT_SAMPLES, ROLLING_S, TicketStatus
from rules.hall.snapshot import (
    UNCOUNTED,
    DeviceView,
    GatewayView,
    HallSnapshot,
    HallTotals,
    Health,
    ServiceView,
    WindowStatus,
    WindowView,
    ZoneView,
)
from rules.hall.state import TERMINAL_TICKET_KEEP_S, Applied, HallState
from rules.hall.views import AHT_MIN_SAMPLES

__all__ = [
    "AHT_MIN_SAMPLES",
    "AHT_SAMPLES",
    "MAX_SEQ_RANGES",
    "ROLLING_S",
    "SCHEMA_VERSION",
    "TERMINAL_TICKET_KEEP_S",
    "UNCOUNTED",
    "Applied",
    "DeviceProfile",
    "DeviceView",
    "EntityCaps",
    "GatewayView",
    "HallProfile",
    "HallSnapshot",
    "HallState",
    "HallTotals",
    "Health",
    "SeqRanges",
    "ServiceProfile",
    "ServiceView",
    "StaffProfile",
    "TicketStatus",
    "WindowProfile",
    "WindowStatus",
    "WindowView",
    "ZoneProfile",
    "ZoneView",
]
