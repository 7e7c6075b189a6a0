"""What the demand profile (rules.tidal.DemandProfile, 到达量与窗口画像) learns from: tickets issued and windows opened,
paused, resumed and closed — from the event log's last `PROFILE_DAYS` when the decider starts (or from the profile
saved with the hall state and the events logged after it), and from each message after that.

One place for both, so that a restart learns exactly what the live messages taught. This module must not write
anything; it reads the log only through the store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from devices.codec import DeviceMessage, decode
from devices.contract import TicketIssued, WindowClosed, WindowOpened, WindowPaused, WindowResumed
from devices.topics import Channel
from edge.store import Store
from rules.tidal import DemandProfile

PROFILE_DAYS = 35
WINDOW_OPENS = frozenset({"window.opened", "window.resumed"})  # … and paused/closed: not open


def learn_history(demand: DemandProfile, store: Store, until: datetime) -> None:
    """Learn the log's `PROFILE_DAYS` before `until` (a backtest's replay starts at its period's beginning: nothing
    after it)."""
    end = until.timestamp()
    since = end - PROFILE_DAYS * 86400.0
    for ev in store.events.tickets_issued(since, end):
        service = json.loads(ev.payload).get("service")
        if isinstance(service, str):
            demand.add(service, datetime.fromtimestamp(ev.at, UTC))
    for ev in store.events.window_changes(since, end):
        window_id = json.loads(ev.payload).get("window_id") or ev.device_id
        demand.window(str(window_id), ev.type in WINDOW_OPENS, datetime.fromtimestamp(ev.at, UTC))


def learn_after(demand: DemandProfile, store: Store, event_id: int) -> int:
    """Learn the events logged after `event_id` (a profile saved with the hall state at that event carries on, as the
    live messages would have taught it); how many were read."""
    read = 0
    for ev in store.events.after(event_id):
        read += 1
        msg = decode(ev.topic, ev.payload, datetime.fromtimestamp(ev.received_at, UTC), max_bytes=1 << 30)
        if msg is not None and msg.channel is Channel.EVT:
            learn_message(demand, msg)
    return read


def learn_message(demand: DemandProfile, msg: DeviceMessage) -> None:
    """Learn one event message as it comes."""
    if isinstance(msg.payload, TicketIssued):
        demand.add(msg.payload.service, msg.at)
    elif isinstance(msg.payload, WindowOpened | WindowResumed | WindowPaused | WindowClosed):
        window_id = msg.payload.window_id or msg.device_id
        demand.window(window_id, msg.type in WINDOW_OPENS, msg.payload.ts)
