"""Tidal cards that are true (issue 19): the reason's steady-state count is the number the card's bullet shows
(`erlang_servers`), with the projection's larger count said separately; an opening that proposes no window cannot
be approved (it would change nothing) but gets a window assigned, which is then followed and checked like an approved
one — its check names the window, not "1 window(s) by hand"; and the windows a manager could assign."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from edge.wording.tidal import render_event, render_recommendation
from rules.hall import WindowStatus
from rules.tidal import (
    RecommendationKind,
    TidalEventKind,
    TidalSettings,
    TidalTracker,
    assign_candidates,
    assign_staff,
)
from tests.unit.rules.test_tidal import SETTINGS, Hall, at


def surge() -> Hall:
    """W1 open for SB with 30 people arriving within half a minute; W2 closed: the backlog needs more windows than
    the steady state (Erlang C of the arrival rate) does."""
    h = Hall({"W1": ("SB",), "W2": ("SB",)})
    h.open(0, "W1")
    h.queue(60, 30)
    return h


def test_the_steady_state_count_in_the_text_is_the_one_the_card_shows() -> None:
    (rec,) = surge().recommend(120)
    assert rec.backlog_servers > rec.erlang_servers, "the situation where the two counts differ"
    said = render_recommendation(rec)
    (steady_en,) = re.findall(r"steady state needs (\d+) windows", said.en)
    (steady_zh,) = re.findall(r"稳态需 (\d+) 个窗口", said.zh)
    assert int(steady_en) == int(steady_zh) == rec.erlang_servers  # the bullet: t("recErlang", {n: erlang_servers})
    assert f"every wait in the next 20 min within 15 min needs {rec.backlog_servers})" in said.en
    assert f"未来 20 分钟内每人等候不超过 15 分钟需 {rec.backlog_servers} 个窗口" in said.zh
    assert rec.needed_servers == rec.backlog_servers  # the larger, named as what it is


def test_without_a_larger_backlog_count_only_the_steady_state_is_said() -> None:
    h = Hall({"W1": ("SB",), "W2": ("SB",), "W3": ("SB",)})
    h.settings = TidalSettings(min_tickets_helped=1)
    h.open(0, "W1")
    h.open(0, "W2")
    h.flow(-3600, 30, 300)
    h.queue(60, 8)
    recs = h.recommend(120)
    for rec in recs:
        said = render_recommendation(rec)
        assert f"steady state needs {rec.erlang_servers} windows" in said.en
        assert ("every wait in the next" in said.en) == (rec.backlog_servers > rec.erlang_servers)


def no_window_hall() -> Hall:
    """SB's only windows (W1, W2) are open and busy; W3 (YB) is open with nobody at the counter; W4 (YB) closed."""
    h = Hall({"W1": ("SB",), "W2": ("SB",), "W3": ("YB",), "W4": ("YB",)}, services=("SB", "YB"))
    h.open(0, "W1")
    h.open(0, "W2")
    h.open(0, "W3", "YB")
    tickets = h.queue(10, 20)
    for w, ticket in zip(("W1", "W2"), tickets, strict=False):
        h.apply(h.feed("window", w, 40, type="ticket.called", ticket_id=ticket))
    return h


def test_an_opening_without_a_window_cannot_be_approved_but_gets_one_assigned() -> None:
    h = no_window_hall()
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(h.recommend(120, staff_pool=("S21",)), at(120))
    assert rec.kind is RecommendationKind.OPEN and rec.windows == ()
    with pytest.raises(ValueError, match="assign one"):
        tracker.approve(rec.id, "wang", at(130))
    assert [r.id for r in tracker.pending()] == [rec.id], "still pending: the manager can assign a window"

    done = tracker.assign(rec.id, "W4", "S21", "wang", at(140), by_command=False)
    assert (done.id, done.windows, done.staff, done.n) == (rec.id, ("W4",), ("S21",), 1)
    assert tracker.pending() == ()
    (ow,) = tracker.opened()
    assert (ow.window_id, ow.services, ow.staff_id, ow.approved_by) == ("W4", ("SB",), "S21", "wang")
    assert ow.assigned and not ow.by_command and ow.wait_before_min == rec.projected_wait_min
    assert tracker.reserved_windows() == {"W4"}

    events = tracker.check(h.snap(140 + 600), at(140 + 600))
    (check,) = [e for e in events if e.kind in (TidalEventKind.CHECKED, TidalEventKind.ESCALATE)]
    said = render_event(check)
    assert "opening W4" in said.en and "by hand" not in said.en
    assert "开放 W4" in said.zh and "人工调配" not in said.zh


def test_an_assignment_is_refused_once_decided_for_a_close_and_for_a_window_already_tidal() -> None:
    h = no_window_hall()
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(h.recommend(120), at(120))
    tracker.assign(rec.id, "W4", None, "wang", at(130))
    with pytest.raises(ValueError, match="no pending"):
        tracker.assign(rec.id, "W3", None, "wang", at(131))
    other = replace(rec, id="tidal-other", services=("YB",))
    close = replace(rec, id="tidal-close", kind=RecommendationKind.CLOSE, windows=("W4",))
    assert tracker.offer([other, close], at(132)) == [other, close]
    with pytest.raises(ValueError, match="already a tidal window"):
        tracker.assign(other.id, "W4", None, "wang", at(133))
    with pytest.raises(ValueError, match="is a close"):
        tracker.assign(close.id, "W3", None, "wang", at(133))
    assert {r.id for r in tracker.pending()} == {other.id, close.id}, "refused: still pending"


def test_the_windows_a_manager_could_assign_closed_first_then_idle_without_busy_or_tidal_ones() -> None:
    h = no_window_hall()
    snap = h.snap(120)
    cands = assign_candidates(snap, h.caps(120), ("SB",))
    assert [(c.window_id, c.status, c.configured) for c in cands] == [
        ("W4", WindowStatus.CLOSED, False),
        ("W3", WindowStatus.OPEN, False),
    ]
    assert [c.window_id for c in assign_candidates(snap, h.caps(120), ("SB",), taken={"W4"})] == ["W3"]
    yb = assign_candidates(snap, h.caps(120), ("YB",))
    assert [(c.window_id, c.configured) for c in yb] == [("W4", True)], "W3 serves YB already; W1, W2 are busy"
    staff = assign_staff(snap, ("S21", "staff-W1"), cands)
    assert staff == ["S21"], "staff at an open window are not free"
