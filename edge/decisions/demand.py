"""What the demand profile (rules.tidal.DemandProfile, 到达量与窗口画像) learns from: tickets issued and windows opened,
paused, resumed and closed — from the event log's last `PROFILE_DAYS` when the decider starts (or from the profile
saved with the hall state and the events logged after it), and from each message after that. And what the hall's
appointments (rules.tidal.Bookings, 预约) learn from: the bookings, cancellations and check-ins of the log's last
`BOOKING_DAYS` and the appointment tickets among its tickets on start, then each message.

One place for both, so that a restart learns exactly what the live messages taught. This module must not write
anything; it reads the log only through the store.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from devices.codec import DeviceMessage, decode
from devices.contract import TicketChannel, TicketIssued, WindowClosed, WindowOpened, WindowPaused, WindowResumed
from devices.topics import Channel
from edge.store import Store
from rules.tidal import Bookings, DemandProfile

log = logging.getLogger(__name__)

PROFILE_DAYS = 35
BOOKING_DAYS = 28  # the show share is learned over four weeks (rules.tidal.bookings.HISTORY_DAYS)
WINDOW_OPENS = frozenset({"window.opened", "window.resumed"})  # … and paused/closed: not open


def learn_history(demand: DemandProfile, store: Store, until: datetime) -> None:
    """Learn the log's `PROFILE_DAYS` before `until` (a backtest's replay starts at its period's beginning: nothing
    after it)."""
    end = until.timestamp()
    since = end - PROFILE_DAYS * 86400.0
    for ev in store.events.tickets_issued(since, end):
        body = json.loads(ev.payload)
        service = body.get("service")
        if isinstance(service, str):
            demand.add(service, datetime.fromtimestamp(ev.at, UTC), body.get("channel") == TicketChannel.APPOINTMENT)
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
        demand.add(msg.payload.service, msg.at, msg.payload.channel is TicketChannel.APPOINTMENT)
    elif isinstance(msg.payload, WindowOpened | WindowResumed | WindowPaused | WindowClosed):
        window_id = msg.payload.window_id or msg.device_id
        demand.window(window_id, msg.type in WINDOW_OPENS, msg.payload.ts)


def learn_bookings(bookings: Bookings, store: Store, until: datetime) -> int:
    """The bookings of the log's last `BOOKING_DAYS` before `until` — bookings, cancellations, check-ins and the
    appointment tickets — in the order the gateway received them; how many events were read. Refusals met on the way
    were counted and logged when they came: the book's count starts again (since this start)."""
    end = until.timestamp()
    read = 0
    for ev in store.events.bookings(end - BOOKING_DAYS * 86400.0, end):
        read += 1
        msg = decode(ev.topic, ev.payload, datetime.fromtimestamp(ev.received_at, UTC), max_bytes=1 << 30)
        if msg is not None:
            bookings.learn(msg)
    bookings.refused.clear()
    bookings.settle(until)
    return read


def learn_booking(bookings: Bookings, msg: DeviceMessage) -> None:
    """One event message as it comes (`Bookings.learn`); a refusal (another device's booking, a slot already over or
    too far ahead, too many) is counted by the book and logged here."""
    refused = bookings.learn(msg)
    if refused is not None:
        log.info("booking refused reason=%s device=%s type=%s", refused, msg.device_id, msg.type)
