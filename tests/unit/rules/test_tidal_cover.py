"""AB-post cover (AB岗互补, issue 20): a window paused while its people would wait past the target gets its person's AB
partner, when the partner's own window is quiet and the partner can serve the window's services; an approved cover is
followed as a cover, never as a tidal window to close."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

from devices.topics import DeviceType
from edge.decisions.commands import recommendation_commands
from edge.wording.tidal import recommendation_json, render_recommendation
from rules.hall import DeviceProfile, HallState, ServiceProfile, WindowProfile
from rules.rota import SkillBook, StaffSkills
from rules.tidal import RecommendationKind, TidalTracker
from rules.tidal.cover import recommend_cover
from rules.tidal.reason import CoverReason, ReasonCode
from tests.unit.rules.feed import win
from tests.unit.rules.test_tidal import SETTINGS, Hall, at

POSTS: dict[str, tuple[str, ...]] = {"W1": ("MZ",), "W2": ("JT",)}


def book(*, can_cover: bool = True, partner: str | None = "staff-W2") -> SkillBook:
    """staff-W1 sits at W1 (civil affairs), staff-W2 at W2 (transport); they are each other's AB partner."""
    return SkillBook(
        [
            StaffSkills("staff-W1", post="W1", partner=partner),
            StaffSkills("staff-W2", frozenset({"MZ"}) if can_cover else frozenset(), post="W2"),
        ],
        POSTS,
    )


def lunch_hall(*, waiting: int = 8) -> Hall:
    """W1 (MZ) goes to lunch at 00:30 while `waiting` people queue for it; W2 (JT) is open with nobody waiting."""
    h = Hall(POSTS, services=("MZ", "JT"))
    h.open(0, "W1", "MZ")
    h.open(0, "W2", "JT")
    h.apply(win(h.feed, 30, "W1", "window.paused", reason="lunch"))
    if waiting:
        h.queue(60, waiting, "MZ")
    return h


def test_a_paused_window_with_people_waiting_gets_its_ab_partner() -> None:
    h = lunch_hall()
    (rec,) = recommend_cover(h.snap(600), book(), None, SETTINGS, at(600))
    assert rec.kind is RecommendationKind.OPEN
    assert (rec.windows, rec.staff, rec.services, rec.serves, rec.n) == (("W1",), ("staff-W2",), ("MZ",), ("MZ",), 1)
    assert rec.backlog == 8 and rec.late >= 8 and rec.late_after < rec.late  # (late: those arriving too)
    assert isinstance(rec.reason, CoverReason) and rec.reason.code is ReasonCode.COVER
    assert (rec.reason.window.id, rec.reason.covered.id, rec.reason.partner_window.id) == ("W1", "staff-W1", "W2")
    # the same proposal in the same minute bucket keeps its id; a window taken already is not proposed
    assert recommend_cover(h.snap(601), book(), None, SETTINGS, at(601))[0].id == rec.id
    assert recommend_cover(h.snap(600), book(), None, SETTINGS, at(600), taken={"W1"}) == []
    assert recommendation_json(rec)["reason_code"] == "cover"  # the tidal page heads it AB岗顶岗
    said = render_recommendation(rec)
    assert said.en.startswith("W1 is paused (staff-W1 away) and MZ has 8 waiting")
    assert f"{rec.late} people would wait past 15 min, {rec.late_after} with cover" in said.en
    assert "send the AB partner staff-W2 from W2 to cover" in said.en
    assert said.zh.startswith("W1暂停中（staff-W1不在岗），MZ 8 人等候")
    assert (
        f"{rec.late} 人等候超过 15 分钟，顶岗后为 {rec.late_after} 人" in said.zh
        and "请AB岗搭档staff-W2（W2）过来顶岗" in said.zh
    )


def test_the_partner_is_not_sent_when_their_own_people_wait() -> None:
    h = lunch_hall()
    h.queue(70, 6, "JT")
    assert recommend_cover(h.snap(600), book(), None, SETTINGS, at(600)) == []


def test_a_partner_who_cannot_serve_the_window_is_not_sent() -> None:
    assert recommend_cover(lunch_hall().snap(600), book(can_cover=False), None, SETTINGS, at(600)) == []


def test_nobody_is_sent_to_a_window_without_a_partner() -> None:
    assert recommend_cover(lunch_hall().snap(600), book(partner=None), None, SETTINGS, at(600)) == []


def test_nobody_is_sent_when_nobody_waits_for_the_paused_window() -> None:
    assert recommend_cover(lunch_hall(waiting=0).snap(600), book(), None, SETTINGS, at(600)) == []


def test_an_open_window_is_not_covered() -> None:
    h = lunch_hall()
    h.apply(win(h.feed, 300, "W1", "window.resumed"))  # its person is back from lunch
    assert recommend_cover(h.snap(600), book(), None, SETTINGS, at(600)) == []


def test_an_approved_cover_is_followed_as_a_cover_and_never_proposed_for_closing() -> None:
    h = lunch_hall()
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(recommend_cover(h.snap(600), book(), None, SETTINGS, at(600)), at(600))
    tracker.approve(rec.id, "wang", at(600))
    assert tracker.opened() == ()  # W1 is staff-W1's own window, not a tidal window
    assert tracker.arriving() == {"W1": ("MZ",)}  # … but the partner is on the way: nothing else is sent there
    assert [c.window_id for c in tracker.covers()] == ["W1"]
    # the queue system moved staff-W2: W1 open with them, W2 paused; W1 serves the queue away
    h.apply(
        win(h.feed, 620, "W2", "window.paused", reason="moved"),
        win(h.feed, 621, "W1", "window.opened", staff_id="staff-W2", services=["MZ"]),
    )
    tracker.check(h.snap(630), at(630))
    assert tracker.arriving() == {}
    later = [e for t in range(700, 4000, 60) for e in tracker.check(h.snap(t), at(t))]
    assert not any(e.recommendation is not None and e.recommendation.kind is RecommendationKind.CLOSE for e in later)
    assert [c.window_id for c in tracker.covers()] == ["W1"]
    # staff-W1 is back: they take their seat again, the cover is over
    h.apply(win(h.feed, 4000, "W1", "window.opened", staff_id="staff-W1", services=["MZ"]))
    tracker.check(h.snap(4001), at(4001))
    assert tracker.covers() == ()
    # and it survives a restart
    saved = TidalTracker(SETTINGS)
    (again,) = saved.offer(recommend_cover(lunch_hall().snap(600), book(), None, SETTINGS, at(600)), at(600))
    saved.approve(again.id, "wang", at(600))
    back = TidalTracker.load(SETTINGS, saved.dump())
    assert back.covers() == saved.covers() and back.opened() == ()


def test_a_pending_cover_reloads_with_its_words() -> None:
    tracker = TidalTracker(SETTINGS)
    tracker.offer(recommend_cover(lunch_hall().snap(600), book(), None, SETTINGS, at(600)), at(600))
    (rec,) = TidalTracker.load(SETTINGS, tracker.dump()).pending()
    assert rec == tracker.pending()[0]
    assert isinstance(rec.reason, CoverReason)
    assert render_recommendation(rec) == render_recommendation(tracker.pending()[0])


def test_an_approved_cover_assigns_the_partner_and_tells_the_partners_terminal() -> None:
    """The queue system hears W1 with the partner; the partner's own terminal (W2) hears where to go — W1's person is
    away, so a nudge to W1 would reach nobody."""
    h = Hall(POSTS, services=("MZ", "JT"))
    h.profile = replace(h.profile, devices=(DeviceProfile("Q1", DeviceType.QMS),))
    h.state = HallState(h.profile)
    h.open(0, "W1", "MZ")
    h.open(0, "W2", "JT")
    h.apply(win(h.feed, 30, "W1", "window.paused", reason="lunch"))
    h.queue(60, 8, "MZ")
    (rec,) = recommend_cover(h.snap(600), book(), None, SETTINGS, at(600))
    named = replace(
        h.profile,
        windows=(WindowProfile("W1", "民政窗", ("MZ",), name_en="Civil affairs window"), WindowProfile("W2", "交通窗")),
        services=(ServiceProfile("MZ", "民政", "Civil affairs"),),
    )
    out = recommendation_commands(
        rec, h.snap(600), h.caps(600), at(600), hall_id="h1", numbers=itertools.count(), profile=named
    )
    (assign,) = [c for c in out if c.type == "window.assign"]
    assert assign.device_id == "Q1"
    assert json.loads(assign.payload) | {"ts": None, "cmd_id": None} == {
        "v": 1, "ts": None, "cmd_id": None, "type": "window.assign", "window_id": "W1", "services": ["MZ"],
        "staff_id": "staff-W2",
    }  # fmt: skip
    (nudge,) = [c for c in out if c.type == "nudge"]
    assert nudge.device_id == "W2"  # in the words of the hall's configuration, not its ids
    assert json.loads(nudge.payload)["message"] == (
        "AB岗顶岗：请到 民政窗 办理 民政 / AB cover: please go to Civil affairs window for Civil affairs"
    )
