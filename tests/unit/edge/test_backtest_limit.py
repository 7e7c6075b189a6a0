"""A backtest with a deadline stops by itself once it has passed, at its next evaluation or within `CHECK_EVERY`
events, saying how far it got: a replay over a busy month cannot hold the box's cores for good. Time comes from a
timer the test moves; a real SQLite log, the gateway's own decision code."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge.backtest import CHECK_EVERY, BacktestStopped, backtest
from edge.config import GatewayConfig, load_config
from edge.store import EventBatch, EventRow, Store
from rules.language import builtin_rules
from tests.unit.rules.feed import T0


class Timer:
    """A monotonic clock that moves one second each time it is read, from 0."""

    def __init__(self) -> None:
        self.now = -1.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def issued(n: int, received: datetime) -> EventRow:
    body = {"v": 1, "ts": received.isoformat(), "seq": n, "type": "ticket.issued", "ticket_id": f"t{n}"}
    body |= {"number": f"A{n:04d}", "service": "tax", "channel": "walk_in"}
    topic = "hall/h1/ticket_machine/tm1/evt"
    at = received.timestamp()
    return EventRow(at, at, "ticket_machine", "tm1", "evt", "ticket.issued", n, topic, json.dumps(body).encode())


def logged(tmp: Path, rows: list[EventRow]) -> tuple[GatewayConfig, Store]:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp / "g.db")}})
    store = Store(cfg.storage.path)
    store.events.write(EventBatch.of(rows), None, 0.0)
    return cfg, store


def test_a_backtest_past_its_deadline_stops_at_the_next_evaluation_saying_how_far_it_got(tmp_path: Path) -> None:
    cfg, store = logged(tmp_path, [issued(i + 1, T0 + timedelta(minutes=i)) for i in range(30)])
    rules = builtin_rules()
    start, end = T0, T0 + timedelta(hours=2)
    with pytest.raises(BacktestStopped) as stopped:
        backtest(cfg, store, rules, rules, start, end, deadline=10.0, timer=Timer())
    reached = stopped.value.reached
    assert reached is not None and start < reached < end
    assert str(stopped.value).endswith(f"past its time limit and stopped, having replayed to {reached.isoformat()}")
    done = backtest(cfg, store, rules, rules, start, end, deadline=1e9, timer=Timer())  # far off: runs to the end
    store.close()
    assert done.events == 30


def test_a_long_warm_up_is_cut_short_too(tmp_path: Path) -> None:
    """The morning before the period is replayed without evaluating; the deadline is looked at every CHECK_EVERY
    events there as well."""
    morning = T0 - timedelta(hours=1)
    rows = [issued(i + 1, morning + timedelta(seconds=i)) for i in range(CHECK_EVERY + 10)]
    rows.append(issued(CHECK_EVERY + 11, T0 + timedelta(minutes=30)))  # the period has a recorded event to replay
    cfg, store = logged(tmp_path, rows)
    rules = builtin_rules()
    with pytest.raises(BacktestStopped) as stopped:  # the evaluation at the start reads 0; the next read is late
        backtest(cfg, store, rules, rules, T0, T0 + timedelta(hours=1), deadline=0.5, timer=Timer())
    store.close()
    assert stopped.value.reached == morning + timedelta(seconds=CHECK_EVERY - 1)  # the CHECK_EVERY-th event


def test_the_stop_crosses_from_the_second_process_as_it_is() -> None:
    at = T0 + timedelta(minutes=5)
    again = pickle.loads(pickle.dumps(BacktestStopped(at)))
    assert isinstance(again, BacktestStopped) and again.reached == at
