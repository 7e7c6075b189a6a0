"""A backtest replays only what was recorded, and leaves no trace in the gateway's log or its ids.

The county hall's Monday as a gateway started at 08:30 recorded it up to 11:35 ("now"): a backtest of the whole day
replays 08:30–11:35 and says so, gives the alerts a backtest of just that span gives, and fires nothing after the last
recorded event (a device is not offline because the recording ends). A day with nothing recorded is refused, naming
what the log holds. While it replays, the decision layer's log lines stay out of the gateway's log, and the replay's
tickets carry ids no live ticket has. (A real SQLite log; the gateway's own decision code.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.simulator import load_scenario
from edge.backtest import REPLAY_ID, NothingRecorded, Result, backtest, quiet, suggested_period
from edge.config import GatewayConfig
from edge.demo import scenario_config
from edge.store import EventBatch, EventRow, Store
from rules.language import builtin_rules
from tests.unit.rules.feed import county_day

CST = ZoneInfo("Asia/Shanghai")
MIDNIGHT = datetime(2026, 11, 23, 0, 0, tzinfo=CST)  # the Monday of county_day()
STARTED = datetime(2026, 11, 23, 8, 30, tzinfo=CST)  # the gateway started …
NOW = datetime(2026, 11, 23, 11, 35, tzinfo=CST)  # … and it is now 11:35


@pytest.fixture(scope="module")
def morning(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayConfig, Store, datetime, datetime]]:
    """The county Monday as logged from 08:30 to 11:35; with the first and the last receive time."""
    store = Store(tmp_path_factory.mktemp("span") / "g.db")
    rows = [
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
        for sent, m in county_day().logged
        if STARTED <= m.received_at < NOW
    ]
    store.events.write(EventBatch.of(rows))
    cfg = scenario_config(load_scenario("county"), "mqtt://127.0.0.1:1", store.path, ("127.0.0.1", 0), 1.0)
    first = datetime.fromtimestamp(min(r.received_at for r in rows), CST)
    last = datetime.fromtimestamp(max(r.received_at for r in rows), CST)
    yield cfg, store, first, last
    store.close()


def fired(result: Result) -> list[tuple[str, dict[str, str], datetime]]:
    return sorted(((a.rule, a.labels, a.fired_at) for a in result.active.alerts), key=repr)


def test_a_backtest_of_the_whole_day_replays_what_was_recorded_and_fires_nothing_after_it(
    morning: tuple[GatewayConfig, Store, datetime, datetime],
) -> None:
    cfg, store, first, last = morning
    rules = builtin_rules()
    day = backtest(cfg, store, rules, rules, MIDNIGHT, MIDNIGHT + timedelta(days=1))
    # the span used, and the period asked
    assert (day.start, day.end) == (first.replace(microsecond=0), last.replace(microsecond=0) + timedelta(seconds=1))
    assert (day.asked_start, day.asked_end) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))
    shown = day.to_dict(CST)
    assert (shown["from"], shown["asked_from"]) == (day.start.astimezone(CST).isoformat(), MIDNIGHT.isoformat())
    # a device is not offline because the recording ends: nothing fires after the last recorded event
    assert day.active.alerts, "a busy morning fires something"
    assert [(a.rule, a.fired_at) for a in day.active.alerts if a.fired_at > last] == []
    # the morning's one device offline, not the whole hall at 11:36 (and no call system or ticket machines down)
    assert [a.rule for a in day.active.alerts if a.rule == "device-offline" or a.severity == "critical"] == [
        "device-offline"
    ]
    # … and the whole day gives what the span alone gives
    span = backtest(cfg, store, rules, rules, STARTED, NOW)
    assert (span.start, span.end) == (day.start, day.end)
    assert fired(span) == fired(day)
    assert span.events == day.events


def test_a_period_with_nothing_recorded_is_refused_saying_what_the_log_holds(
    morning: tuple[GatewayConfig, Store, datetime, datetime],
) -> None:
    cfg, store, first, last = morning
    rules = builtin_rules()
    yesterday = MIDNIGHT - timedelta(days=1)
    with pytest.raises(NothingRecorded) as refused:
        backtest(cfg, store, rules, rules, yesterday, MIDNIGHT)
    assert refused.value.recorded is not None
    assert [t.timestamp() for t in refused.value.recorded] == pytest.approx([first.timestamp(), last.timestamp()])
    assert str(refused.value).startswith(
        "no device events were recorded between 2026-11-22T00:00:00+08:00 and 2026-11-23T00:00:00+08:00; "
        "the log holds events from 2026-11-23T08:30"
    )
    empty = Store(store.path.with_name("empty.db"))
    try:
        with pytest.raises(NothingRecorded, match=r"the event log is empty$"):
            backtest(cfg, empty, rules, rules, yesterday, MIDNIGHT)
    finally:
        empty.close()


def test_a_replay_logs_nothing_of_its_decisions_and_numbers_its_tickets_apart(
    morning: tuple[GatewayConfig, Store, datetime, datetime], caplog: pytest.LogCaptureFixture
) -> None:
    cfg, store, _, _ = morning
    rules = builtin_rules()
    caplog.set_level(logging.INFO)
    result = backtest(cfg, store, rules, rules, STARTED, NOW)
    assert result.active.tickets, "the morning's faults open tickets in the replay"
    assert all(t["id"].startswith(REPLAY_ID + "T-20261123-") for t in result.active.tickets.values())
    assert sorted(result.active.tickets) == sorted(t["id"] for t in result.active.tickets.values())
    assert all(r.startswith(REPLAY_ID) for r in result.active.recommendations)
    # one line says a backtest ran; nothing the replayed decisions did reads as the hall's own
    assert [(r.name, r.levelno) for r in caplog.records] == [("edge.backtest", logging.INFO)]
    assert caplog.records[0].getMessage().startswith("backtest replayed 2026-11-23T08:30")
    # the live gateway's thread beside a replay logs as ever, and so does the replay's once it is done
    caplog.clear()
    book = logging.getLogger("rules.tickets.book")
    with quiet():
        beside = threading.Thread(target=book.info, args=("ticket opened ticket=T-20261123-0007 (live)",))
        beside.start()
        beside.join()
        book.info("ticket opened ticket=T-20261123-0001 (replayed)")
    book.info("ticket opened ticket=T-20261123-0008 (live)")
    assert [r.getMessage() for r in caplog.records] == [
        "ticket opened ticket=T-20261123-0007 (live)",
        "ticket opened ticket=T-20261123-0008 (live)",
    ]


def test_a_form_starts_with_the_day_of_the_newest_event_up_to_it() -> None:
    newest = datetime(2026, 11, 23, 3, 35, 20, tzinfo=ZoneInfo("UTC"))  # 11:35:20 in the hall
    assert suggested_period(newest, CST) == (MIDNIGHT, datetime(2026, 11, 23, 11, 36, tzinfo=CST))
