"""The decider learns the hall's demand from the messages it is handed live: the tidal recommender's forecast of
arrivals and of the windows' usual hours (a lunch break seen coming) grows with every working day, not only at start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edge.config import load_config
from edge.decisions import decider_for
from edge.store import EventBatch, EventRow, Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.hall import HallState
from rules.language import builtin_rules
from tests.unit.rules.feed import T0, Feed, issue, opened, win

WEEK = timedelta(days=7)


def test_tickets_and_window_hours_seen_live_become_next_weeks_forecast(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path)
    hall = HallState(cfg.profile())
    decider = decider_for(cfg, builtin_rules(), store, FixedClock(T0), hall.snapshot, stream=Broadcaster())
    assert decider.demand.rate("tax", T0 + WEEK) is None  # nothing seen yet: no forecast
    feed = Feed()
    messages = [opened(feed, 0, "W1")]
    messages += [issue(feed, 60 + 30 * i, f"a{i}") for i in range(20)]  # 20 tickets between 09:01 and 09:11
    messages.append(win(feed, 3 * 3600, "W1", "window.paused", reason="lunch"))  # 12:00
    for msg in messages:
        hall.apply(msg)
        decider.on_message(msg)
    assert decider.demand.rate("tax", T0 + WEEK + timedelta(minutes=5)) == 80.0  # 20 in the 09:00 slot, per hour
    assert decider.demand.rate("id", T0 + WEEK + timedelta(minutes=5)) is None
    assert decider.demand.usually_open("W1", T0 + WEEK + timedelta(hours=1)) == 1.0  # open at 10:00 last Monday
    assert decider.demand.usually_open("W1", T0 + WEEK + timedelta(hours=3, minutes=30)) == 0.0  # at lunch
    store.close()


def test_a_decider_started_at_a_moment_learns_only_the_history_before_it(tmp_path: Path) -> None:
    """A backtest's decider starts at the beginning of its period with the whole log in the file: it learns what was
    logged before its clock, not the period it is about to replay (it sees that as the replay goes)."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path)
    feed = Feed()
    week = WEEK.total_seconds()
    logged = [
        issue(feed, -week + 60, "past"),
        issue(feed, 60, "now"),
        issue(feed, week + 60, "next-1"),
        issue(feed, week + 90, "next-2"),
    ]
    store.events.write(
        EventBatch.of(
            EventRow(
                m.received_at.timestamp(),
                m.at.timestamp(),
                m.device_type.value,
                m.device_id,
                m.channel.value,
                m.type,
                m.seq,
                f"hall/h1/{m.device_type.value}/{m.device_id}/evt",
                b'{"service": "tax"}',
            )
            for m in logged
        )
    )
    decider = decider_for(
        cfg, builtin_rules(), store, FixedClock(T0), HallState(cfg.profile()).snapshot, stream=Broadcaster()
    )
    assert decider.demand.rate("tax", T0 + timedelta(minutes=5)) == 4.0  # last Monday's one ticket in the slot
    # a fortnight on, the same: only last Monday is known (with today's and next Monday's tickets: (1+1+2)/3 × 4)
    assert decider.demand.rate("tax", T0 + 2 * WEEK + timedelta(minutes=5)) == 4.0
    store.close()
