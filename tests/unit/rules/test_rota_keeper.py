"""The day's break plan kept live (issue 20): a break is due at its start, held back (start and end together) while
its window's queue would wait past the target — at most twice, lunch is delayed, never cancelled — under way once the
window pauses, and over when it opens again; a restart on the same day carries the moved times on."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rules.rota import BreakEventKind, BreakKeeper, BreakPlan, BreakState, HoldSettings, PlannedBreak
from tests.unit.rules.feed import T0, win
from tests.unit.rules.test_tidal import Hall, at

POSTS: dict[str, tuple[str, ...]] = {"W1": ("MZ",), "W2": ("JT",)}
START = 30 * 60  # W1's break: 09:30–10:15, its AB partner at W2 covering


def plan() -> BreakPlan:
    lunch = PlannedBreak("W1", "staff-W1", at(START), at(START + 45 * 60), "W2")
    return BreakPlan(T0.date(), (lunch,), late_planned=0.0, late_usual=None, late_by_slot=())


def hall() -> Hall:
    h = Hall(POSTS, services=("MZ", "JT"))
    h.open(0, "W1", "MZ")
    h.open(0, "W2", "JT")
    return h


def test_a_break_is_due_once_at_its_start_then_under_way_then_over() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    assert keeper.step(h.snap(START - 60), at(START - 60)) == []
    assert keeper.at("W1").state is BreakState.PLANNED  # type: ignore[union-attr]
    assert keeper.upcoming(at(START - 20 * 60), timedelta(minutes=15)) == []
    assert keeper.upcoming(at(START - 10 * 60), timedelta(minutes=15)) == ["W1"]
    (due,) = keeper.step(h.snap(START), at(START))
    assert due.kind is BreakEventKind.DUE and due.status.start == at(START) and due.status.holds == 0
    assert keeper.step(h.snap(START + 60), at(START + 60)) == []  # said once, not every minute
    h.apply(win(h.feed, START + 120, "W1", "window.paused", reason="lunch"))  # after the ticket in hand
    keeper.step(h.snap(START + 180), at(START + 180))
    s = keeper.at("W1")
    assert s is not None and s.state is BreakState.ON_BREAK and s.began == at(START + 180)
    assert keeper.upcoming(at(START + 180), timedelta(minutes=15)) == []
    h.apply(win(h.feed, START + 46 * 60, "W1", "window.resumed"))
    keeper.step(h.snap(START + 47 * 60), at(START + 47 * 60))
    assert keeper.at("W1").state is BreakState.OVER  # type: ignore[union-attr]


def test_a_long_queue_holds_the_break_back_twice_then_it_is_due_all_the_same() -> None:
    h, keeper = hall(), BreakKeeper(plan(), HoldSettings(target_wait_min=15, hold_min=15, max_holds=2))
    h.queue(START - 300, 10, "MZ")  # ten people for civil affairs, one window: over an hour's projected wait
    (held,) = keeper.step(h.snap(START), at(START))
    assert held.kind is BreakEventKind.HELD
    assert (held.status.start, held.status.end, held.status.holds) == (at(START + 900), at(START + 45 * 60 + 900), 1)
    ((service, waiting, wait),) = held.status.held_by
    assert (service, waiting) == ("MZ", 10) and wait is not None and wait >= 15
    assert keeper.step(h.snap(START + 600), at(START + 600)) == []  # held until its new start
    (again,) = keeper.step(h.snap(START + 900), at(START + 900))
    assert again.kind is BreakEventKind.HELD and again.status.holds == 2
    (due,) = keeper.step(h.snap(START + 1800), at(START + 1800))
    assert due.kind is BreakEventKind.DUE and due.status.start == at(START + 1800)


def test_a_quiet_partner_service_does_not_hold_and_a_closed_window_ends_it() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    h.queue(START - 300, 10, "JT")  # the partner's queue is long; W1's own is empty
    (due,) = keeper.step(h.snap(START), at(START))
    assert due.kind is BreakEventKind.DUE
    h.apply(win(h.feed, START + 60, "W1", "window.closed"))
    keeper.step(h.snap(START + 120), at(START + 120))
    assert keeper.at("W1").state is BreakState.OVER  # type: ignore[union-attr]


def test_a_restart_on_the_same_day_carries_the_moved_break_on() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    h.queue(START - 300, 10, "MZ")
    keeper.step(h.snap(START), at(START))
    again = BreakKeeper(plan())
    assert again.load(keeper.dump())
    s = again.at("W1")
    assert s is not None and (s.state, s.holds, s.start) == (BreakState.HELD, 1, at(START + 900))
    tomorrow = BreakPlan(T0.date() + timedelta(days=1), plan().breaks, 0.0, None, ())
    fresh = BreakKeeper(tomorrow)
    assert not fresh.load(keeper.dump())  # yesterday's holds are not today's
    assert fresh.at("W1").holds == 0  # type: ignore[union-attr]
    wrong = json.dumps({"day": T0.date().isoformat(), "breaks": {"W1": {"start": 5}}})
    for bad in ("", "[]", wrong):
        assert not fresh.load(bad)
    assert fresh.at("W1").state is BreakState.PLANNED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"hold_min": 0}, "hold_min"),
        ({"target_wait_min": float("nan")}, "target_wait_min"),
        ({"max_holds": -1}, "max_holds"),
    ],
)
def test_hold_settings_are_checked(kw: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HoldSettings(**kw)  # type: ignore[arg-type]


def test_a_break_whose_time_has_passed_is_missed_never_announced_late() -> None:
    h, keeper = hall(), BreakKeeper(plan())  # e.g. the box started at 15:00, or the plan came late
    assert keeper.step(h.snap(START + 46 * 60), at(START + 46 * 60)) == []
    assert keeper.at("W1").state is BreakState.MISSED  # type: ignore[union-attr]
    h2, due_then = hall(), BreakKeeper(plan())
    (due,) = due_then.step(h2.snap(START), at(START))  # due, but the window never pauses
    assert due.kind is BreakEventKind.DUE
    assert due_then.step(h2.snap(START + 45 * 60), at(START + 45 * 60)) == []
    assert due_then.at("W1").state is BreakState.MISSED  # type: ignore[union-attr]
    assert due_then.upcoming(at(START + 45 * 60), timedelta(minutes=15)) == []


def test_a_short_pause_is_not_the_lunch_and_an_earlier_pause_of_its_own_is_waited_out() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    keeper.step(h.snap(START), at(START))
    h.apply(win(h.feed, START + 60, "W1", "window.paused", reason="toilet"))
    keeper.step(h.snap(START + 120), at(START + 120))
    h.apply(win(h.feed, START + 240, "W1", "window.resumed"))  # back after 3 min: not a 45-min lunch
    assert keeper.step(h.snap(START + 300), at(START + 300)) == []
    assert keeper.at("W1").state is BreakState.PLANNED  # type: ignore[union-attr]  # still to come …
    (again,) = keeper.step(h.snap(START + 360), at(START + 360))
    assert again.kind is BreakEventKind.DUE  # … and said again
    early, k2 = hall(), BreakKeeper(plan())
    early.apply(win(early.feed, START - 40 * 60, "W1", "window.paused", reason="meeting"))  # 40 min before
    assert k2.step(early.snap(START), at(START)) == []
    assert k2.at("W1").state is BreakState.PLANNED  # type: ignore[union-attr]  # waits for the meeting to end
    early.apply(win(early.feed, START + 300, "W1", "window.resumed"))
    (due,) = k2.step(early.snap(START + 360), at(START + 360))
    assert due.kind is BreakEventKind.DUE


def test_the_reason_of_a_hold_survives_a_restart() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    h.queue(START - 300, 10, "MZ")
    keeper.step(h.snap(START), at(START))
    again = BreakKeeper(plan())
    assert again.load(keeper.dump())
    assert again.at("W1").held_by == keeper.at("W1").held_by != ()  # type: ignore[union-attr]
    naive = keeper.dump().replace("+08:00", "")
    assert not BreakKeeper(plan()).load(naive)  # a time without its zone is refused, not a crash later


def test_the_partner_covering_the_window_does_not_end_the_break() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    keeper.step(h.snap(START), at(START))
    h.apply(win(h.feed, START + 60, "W1", "window.paused", reason="lunch"))
    keeper.step(h.snap(START + 120), at(START + 120))
    h.apply(win(h.feed, START + 180, "W1", "window.opened", staff_id="staff-W2", services=["MZ"]))  # the cover
    for t in (START + 240, START + 46 * 60):
        keeper.step(h.snap(t), at(t))
        assert keeper.at("W1").state is BreakState.ON_BREAK  # type: ignore[union-attr]  # not due, not missed
    h.apply(win(h.feed, START + 47 * 60, "W1", "window.opened", staff_id="staff-W1", services=["MZ"]))  # she is back
    keeper.step(h.snap(START + 48 * 60), at(START + 48 * 60))
    assert keeper.at("W1").state is BreakState.OVER  # type: ignore[union-attr]


def test_a_lunch_taken_early_is_the_break_and_is_not_announced_again() -> None:
    h, keeper = hall(), BreakKeeper(plan())
    h.apply(win(h.feed, START - 50 * 60, "W1", "window.paused", reason="午休"))  # 50 min before the plan
    assert keeper.step(h.snap(START - 49 * 60), at(START - 49 * 60)) == []
    s = keeper.at("W1")
    assert s is not None and s.state is BreakState.ON_BREAK and s.began == at(START - 50 * 60)
    h.apply(win(h.feed, START - 10 * 60, "W1", "window.resumed"))  # back before the planned start
    for t in (START - 5 * 60, START, START + 60):
        assert keeper.step(h.snap(t), at(t)) == []
    assert keeper.at("W1").state is BreakState.OVER  # type: ignore[union-attr]
