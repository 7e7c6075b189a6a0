"""A backtest replays the log in the order the gateway received it: a rule evaluated before a message arrived did not
know it, in the replay as live. A customer who reached the counter a second before a re-call was due, but whose
"service started" was heard a second after, was re-called; the replay says so, and says nothing when it was heard
in time. (A real SQLite log; the gateway's own decision code.)"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices.simulator import load_scenario
from edge.backtest import backtest
from edge.config import load_config
from edge.decisions import Decider
from edge.demo import scenario_config
from edge.store import EventBatch, EventRow, Store
from rules.engine import Decision
from rules.language import builtin_rules
from tests.unit.rules.feed import DAY_CLOSES, DAY_OPENS, T0, county_day

CALLED = 60.0  # 09:01:00, W1 calls A001; the re-call rule fires when nobody has come for 60 s: at 09:02:00


def row(device_type: str, device: str, seq: int, at: float, received: float, **fields: object) -> EventRow:
    body = {"v": 1, "ts": (T0 + timedelta(seconds=at)).isoformat(), "seq": seq, **fields}
    return EventRow(
        (T0 + timedelta(seconds=received)).timestamp(),
        (T0 + timedelta(seconds=at)).timestamp(),
        device_type,
        device,
        "evt",
        str(fields["type"]),
        seq,
        f"hall/h1/{device_type}/{device}/evt",
        json.dumps(body).encode(),
    )


@pytest.mark.parametrize(
    ("heard_after_s", "recalled"),
    [(CALLED + 60.5, True), (CALLED + 59.2, False)],
    ids=["heard-after-the-recall-was-due", "heard-in-time"],
)
def test_a_message_heard_after_a_deadline_is_replayed_after_it(
    tmp_path: Path, heard_after_s: float, recalled: bool
) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path)
    log = [
        row("window", "W1", 1, 0, 0.1, type="window.opened", staff_id="s1", services=["tax"]),
        row(
            "ticket_machine",
            "tm1",
            1,
            10,
            10.1,
            type="ticket.issued",
            ticket_id="a1",
            number="A001",
            service="tax",
            channel="walk_in",
        ),
        row("window", "W1", 2, CALLED, CALLED + 0.1, type="ticket.called", window_id="W1", ticket_id="a1", attempt=1),
        # at the counter at 09:01:59, a second before the re-call was due …
        row("window", "W1", 3, CALLED + 59, heard_after_s, type="service.started", window_id="W1", ticket_id="a1"),
        row(
            "ticket_machine",
            "tm1",
            2,
            300,
            300.1,
            type="ticket.issued",
            ticket_id="a2",
            number="A002",
            service="tax",
            channel="walk_in",
        ),
    ]
    # the log is written in the order received
    store.events.write(EventBatch.of(sorted(log, key=lambda r: r.received_at)), None, 0.0)
    rules = builtin_rules()
    result = backtest(cfg, store, rules, rules, T0 - timedelta(minutes=1), T0 + timedelta(minutes=10))
    store.close()
    recalls = [a for a in result.active.alerts if a.rule == "call-unanswered"]
    assert result.events == len(log)
    assert [(a.labels, a.fired_at) for a in recalls] == (
        [({"window": "W1"}, T0 + timedelta(seconds=CALLED + 60))] if recalled else []
    )


def test_a_call_heard_after_an_evaluation_it_happened_before_is_re_called_on_time(tmp_path: Path) -> None:
    """The replay evaluates every rule at least a minute apart; a call that happened just before one of those
    evaluations but was heard just after it starts a re-call clock that runs out before the next one. The replay
    must still look when it runs out, as live: the customer who came 0.6 s too late was re-called."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    store = Store(cfg.storage.path)
    called = 119.0  # 09:01:59; the evaluations of every rule fall at 09:00:00.1, 09:01:00.1, 09:02:00.1 …
    log = [
        row("window", "W1", 1, 0, 0.1, type="window.opened", staff_id="s1", services=["tax"]),
        row(
            "ticket_machine",
            "tm1",
            1,
            10,
            10.1,
            type="ticket.issued",
            ticket_id="a1",
            number="A001",
            service="tax",
            channel="walk_in",
        ),
        row(
            "window",
            "W1",
            2,
            called - 60,
            called - 58.4,
            type="ticket.called",
            window_id="W1",
            ticket_id="a1",
            attempt=1,
        ),  # 09:00:59, heard at 09:01:00.6
        row("window", "W1", 3, called + 0.6, called + 0.7, type="service.started", window_id="W1", ticket_id="a1"),
        row(
            "ticket_machine",
            "tm1",
            2,
            300,
            300.1,
            type="ticket.issued",
            ticket_id="a2",
            number="A002",
            service="tax",
            channel="walk_in",
        ),
    ]
    store.events.write(EventBatch.of(log), None, 0.0)
    rules = builtin_rules()
    result = backtest(cfg, store, rules, rules, T0 - timedelta(minutes=1), T0 + timedelta(minutes=10))
    store.close()
    recalls = [(a.labels, a.fired_at) for a in result.active.alerts if a.rule == "call-unanswered"]
    assert recalls == [({"window": "W1"}, T0 + timedelta(seconds=called))]


def test_after_every_evaluation_of_a_county_day_the_next_deadline_lies_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway sleeps until the decision layer's next deadline; one that an evaluation at it leaves due (a ticket
    clock nothing happens at) keeps a core busy live, and makes a replay skip every other deadline until its next
    full evaluation. A simulated county day with every incident of the scenario (faults, tickets, verification,
    tidal windows), replayed through the gateway's decision code, checked after each evaluation."""
    scenario = load_scenario("county")
    store = Store(tmp_path / "g.db")
    rows: list[EventRow] = []
    for sent, m in county_day().logged:  # as the gateway logs them
        rows.append(
            EventRow(
                m.received_at.timestamp(),
                m.at.timestamp(),
                m.device_type.value,
                m.device_id,
                m.channel.value,
                m.type,
                m.seq,
                sent.topic,
                sent.payload,
            )
        )
    store.events.write(EventBatch.of(rows))
    stale: list[tuple[datetime, datetime]] = []
    evaluate = Decider.evaluate

    def checked(self: Decider, **kw: Any) -> list[Decision]:
        decisions = evaluate(self, **kw)
        now, due = self._clock.now(), self.next_deadline()
        if due is not None and due <= now:
            stale.append((now, due))
        return decisions

    monkeypatch.setattr(Decider, "evaluate", checked)
    cfg = scenario_config(scenario, "mqtt://127.0.0.1:1", store.path, ("127.0.0.1", 0), 1.0)
    rules = builtin_rules()
    result = backtest(cfg, store, rules, rules, DAY_OPENS, DAY_CLOSES)
    store.close()
    assert result.active.tickets and result.active.evaluations > 1000  # the day opened fault tickets
    assert stale == []
