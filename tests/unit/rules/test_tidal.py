"""Tidal windows (潮汐窗口): the hall manager is told how many windows to open, which ones and with whom, and why;
the opening is checked and escalated if it does not help; closing waits for a sustained quiet spell.

Halls are fed contract messages through the real decoder (hall time T0 + seconds, a Monday 09:00); no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from devices.codec import DeviceMessage
from edge.wording.tidal import render_event, render_recommendation
from rules.hall import HallProfile, HallSnapshot, HallState, ServiceProfile, WindowProfile
from rules.staffing import Model, servers_for_target
from rules.tidal import (
    DemandProfile,
    Recommendation,
    RecommendationKind,
    TidalEventKind,
    TidalSettings,
    TidalTracker,
    blended_rate,
    projected_wait_min,
    recommend_close,
    recommend_open,
    service_groups,
    spare,
    window_capabilities,
)
from tests.unit.rules.feed import T0, Feed, issue, opened, win

SETTINGS = TidalSettings()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Hall:
    """A hall with configured services and windows, fed message by message."""

    def __init__(self, windows: dict[str, tuple[str, ...]], services: tuple[str, ...] = ("SB",)) -> None:
        names = {"SB": ("社保", "Social security"), "YB": ("医保", "Medical insurance")}
        self.profile = HallProfile(
            "h1",
            services=tuple(ServiceProfile(c, *names.get(c, (None, None))) for c in services),
            windows=tuple(WindowProfile(w, services=s) for w, s in windows.items()),
        )
        self.state = HallState(self.profile)
        self.feed = Feed()
        self.n = 0
        self.settings = SETTINGS

    def apply(self, *messages: DeviceMessage) -> None:
        for m in messages:
            self.state.apply(m)

    def open(self, t: float, window: str, *services: str) -> None:
        self.apply(opened(self.feed, t, window, *(services or ("SB",))))

    def close(self, t: float, window: str) -> None:
        self.apply(win(self.feed, t, window, "window.closed"))

    def queue(self, t: float, count: int, service: str = "SB") -> list[str]:
        """`count` tickets issued one second apart from `t`; returns their ids."""
        ids = []
        for i in range(count):
            self.n += 1
            ids.append(f"t{self.n}")
            self.apply(issue(self.feed, t + i, ids[-1], service))
        return ids

    def serve(self, t: float, window: str, ticket: str, duration_s: float = 600) -> None:
        """The window calls the ticket and reports it done (with the terminal's handling time)."""
        self.apply(
            win(self.feed, t, window, "ticket.called", ticket_id=ticket),
            win(self.feed, t + 1, window, "service.completed", ticket_id=ticket, duration_s=duration_s),
        )

    def flow(self, start: float, per_hour: int, aht_s: float, window: str = "W1", service: str = "SB") -> None:
        """An hour of steady arrivals from `start`, each served at once (so nobody is left waiting)."""
        spacing = 3600 / per_hour
        for i in range(per_hour):
            t = start + spacing * (i + 0.5)
            (ticket,) = self.queue(t, 1, service)
            self.serve(t + 1, window, ticket, aht_s)

    def snap(self, t: float) -> HallSnapshot:
        return self.state.snapshot(at(t))

    def caps(self, t: float) -> dict[str, frozenset[str]]:
        return window_capabilities(self.profile, self.snap(t))

    def recommend(
        self, t: float, settings: TidalSettings | None = None, profile: DemandProfile | None = None, **kw: object
    ) -> list[Recommendation]:
        snap = self.snap(t)
        s = settings or self.settings
        return recommend_open(snap, window_capabilities(self.profile, snap), profile, s, at(t), **kw)  # type: ignore[arg-type]


def sb_hall(*closed: str, open_: tuple[str, ...] = ("W1",)) -> Hall:
    h = Hall({w: ("SB",) for w in (*open_, *closed)})
    for w in open_:
        h.open(0, w)
    return h


# ---------------------------------------------------------------------------------------------- opening


def test_a_fresh_gateway_facing_a_long_queue_recommends_with_the_default_aht_and_says_so() -> None:
    h = sb_hall("W2", "W3")
    h.queue(60, 20)
    (rec,) = h.recommend(600, staff_pool=("S21", "S22"))
    assert rec.kind is RecommendationKind.OPEN and rec.services == ("SB",)
    assert (rec.aht_learned, rec.aht_min) == (False, 10.0)
    assert rec.windows == ("W2", "W3") and rec.staff == ("S21", "S22") and rec.n == 2
    assert rec.current_servers == 1 and rec.backlog == 20 and rec.needed_servers > 3
    assert rec.projected_wait_min == 200.0, "20 tickets × 10 min at one window"
    assert rec.projected_wait_after_min is not None and rec.projected_wait_after_min < rec.projected_wait_min
    said = render_recommendation(rec)
    assert "default AHT" in said.en and "默认办理时长" in said.zh
    assert said.en.startswith("Social security (SB): 20 waiting, projected wait 200 min with 1 window;")
    assert "→ open W2, W3 (staff pool: S21, S22)" in said.en
    assert "only 2 closed windows can serve it" in said.en
    assert said.zh.startswith("社保（SB）：20 人等候") and "开放 W2、W3（人员池：S21、S22）" in said.zh
    assert rec.expires_at == at(600) + timedelta(minutes=10)


def test_a_configured_per_service_default_aht_is_used_until_learned() -> None:
    h = sb_hall("W2")
    h.queue(60, 6)
    (rec,) = h.recommend(120, TidalSettings(aht_defaults_min={"SB": 20.0}))
    assert (rec.aht_min, rec.aht_learned) == (20.0, False)


@pytest.mark.parametrize(("per_hour", "aht_s"), [(60, 600), (30, 720), (20, 900), (90, 300)])
def test_a_steady_stream_too_big_for_the_open_windows_shows_the_erlang_count(per_hour: int, aht_s: float) -> None:
    h = sb_hall(*(f"W{i}" for i in range(2, 20)), open_=("W1", "W0"))
    h.flow(3600, per_hour, aht_s)
    view = h.snap(7200).services[0]
    assert view.waiting == 0 and view.aht_learned
    rate = blended_rate(view.arrivals_15m, view.arrivals_60m, None)
    (rec,) = h.recommend(7200, TidalSettings(max_windows=20))
    expected = servers_for_target(rate / 60, aht_s / 60, 15, 0.8)
    assert rec.erlang_servers == expected and rec.needed_servers >= expected
    assert rec.aht_learned and rec.aht_min == aht_s / 60 and rec.arrivals_profile_per_h is None
    assert rec.current_servers == 2 and 1 <= rec.n <= expected - 2, "never more than the steady state needs"
    assert rec.late > rec.late_after, "each window opened brings late tickets within the target"
    assert rec.service_level_now is not None and rec.service_level_now < 0.8
    assert rec.service_level_after is not None and rec.service_level_after >= rec.service_level_now


def test_the_needed_count_grows_with_the_backlog() -> None:
    needed = []
    for backlog in (0, 10, 30, 60):
        h = sb_hall(*(f"W{i}" for i in range(2, 30)))
        h.queue(0, backlog)  # waiting since 09:00, outside the live hour
        h.flow(3600, 30, 600, window="W1")
        (rec,) = h.recommend(7200)
        assert rec.backlog == backlog
        needed.append((rec.erlang_servers, rec.backlog_servers, rec.needed_servers))
    erlang = {e for e, _, _ in needed}
    assert len(erlang) == 1, "the arrival rate is the same in every row"
    totals = [n for _, _, n in needed]
    assert totals[0] == erlang.pop(), "no backlog: Erlang alone"
    assert totals[1] <= totals[2] < totals[3] and totals[0] < totals[2], totals


def test_a_normal_queue_that_the_open_windows_absorb_gets_no_recommendation() -> None:
    h = sb_hall("W2", open_=("W1", "W0", "W3"))
    h.flow(0, 6, 600)
    h.queue(3500, 2)
    assert h.recommend(3600) == [], "two people waiting at three windows is not a reason to open a fourth"


def test_windows_chosen_are_capable_closed_and_online_staff_are_free() -> None:
    h = Hall(
        {
            "W1": ("SB",),  # open
            "W2": ("SB",),  # closed: a candidate
            "W3": ("YB",),  # closed, cannot serve SB
            "W4": ("SB",),  # its terminal is offline
            "W5": ("SB",),  # paused
            "W6": ("SB", "YB"),  # closed: a candidate, but a generalist
            "W7": ("SB",),  # closed, already being opened (reserved)
        },
        services=("SB", "YB"),
    )
    h.open(0, "W1")
    h.open(0, "W5")
    h.apply(win(h.feed, 5, "W5", "window.paused", reason="back office"))
    h.apply(h.feed("window", "W4", 6, on="state", will=True))
    h.queue(60, 30)
    pool = ("staff-W1", "S21", "staff-W5", "S22", "S23")
    (rec,) = h.recommend(300, staff_pool=pool, reserved=("W7",))
    assert rec.windows == ("W2", "W6"), "specialists before generalists; W3, W4, W5, W7 never"
    assert rec.staff == ("S21", "S22"), "staff at open or paused windows are not pulled away"
    (with_paused,) = h.recommend(300, TidalSettings(include_paused=True), staff_pool=pool, reserved=("W7",))
    assert with_paused.windows == ("W2", "W6", "W5")


def test_windows_are_proposed_in_natural_order() -> None:
    h = sb_hall("W10", "W9", "W2")
    h.queue(60, 30)
    (rec,) = h.recommend(300)
    assert rec.windows == ("W2", "W9", "W10")


def test_each_window_is_proposed_to_one_group_only_most_urgent_first() -> None:
    h = Hall({"W1": ("SB",), "W2": ("YB",), "W9": ("SB", "YB")}, services=("SB", "YB"))
    h.open(0, "W1")
    h.open(0, "W2", "YB")
    h.queue(60, 5, "SB")
    h.queue(60, 25, "YB")
    assert service_groups(h.snap(100), h.caps(100)) == [("SB",), ("YB",)]
    recs = h.recommend(120)
    assert [(r.services, r.windows) for r in recs] == [(("YB",), ("W9",)), (("SB",), ())]
    assert "no closed window can serve SB" in render_recommendation(recs[1]).en


def test_services_served_by_the_same_windows_are_planned_as_one_queue() -> None:
    h = Hall({"W1": ("SB", "YB"), "W2": ("SB", "YB")}, services=("SB", "YB"))
    h.open(0, "W1", "SB", "YB")
    h.queue(60, 6, "SB")
    h.queue(70, 6, "YB")
    (rec,) = h.recommend(300)
    assert rec.services == ("SB", "YB") and rec.backlog == 12 and rec.windows == ("W2",)
    assert rec.projected_wait_min == projected_wait_min(h.snap(300), rec.services, SETTINGS, at(300)) == 120.0
    assert render_recommendation(rec).en.startswith("Social security (SB) + Medical insurance (YB): 12 waiting")


@pytest.mark.parametrize(
    ("windows", "opened_", "current", "wait"),
    [
        ({"W1": ("SB",)}, ("W1",), 1, 200.0),  # the only capable window is already open
        ({"W1": ("YB",)}, (), 0, None),  # nobody can serve SB at all (queue without window)
    ],
)
def test_without_a_candidate_window_it_says_so_for_the_manager_to_act_by_hand(
    windows: dict[str, tuple[str, ...]], opened_: tuple[str, ...], current: int, wait: float | None
) -> None:
    h = Hall(windows, services=("SB", "YB"))
    for w in opened_:
        h.open(0, w)
    h.queue(60, 20)
    (rec,) = h.recommend(600, staff_pool=("S21",))
    assert rec.windows == () and rec.staff == () and rec.current_servers == current
    assert rec.n == min(rec.needed_servers - current, SETTINGS.max_windows) and rec.n > 0
    assert rec.projected_wait_min == wait
    said = render_recommendation(rec)
    assert "→ no closed window can serve SB: open 3 by hand" in said.en
    assert "没有可开放的空闲窗口能办理 SB" in said.zh
    if wait is None:
        assert "unbounded (no open window)" in said.en


def test_the_remaining_service_of_tickets_at_the_windows_counts() -> None:
    h = sb_hall("W2", open_=("W1", "W0"))
    h.queue(0, 4)
    h.apply(
        win(h.feed, 10, "W1", "ticket.called", ticket_id="t1"),
        win(h.feed, 11, "W1", "service.started", ticket_id="t1"),
        win(h.feed, 10, "W0", "ticket.called", ticket_id="t2"),
        win(h.feed, 11, "W0", "service.started", ticket_id="t2"),
    )
    snap = h.snap(11 + 4 * 60)  # both have served for 4 of 10 minutes: 6 left each
    assert projected_wait_min(snap, ("SB",), SETTINGS, at(11 + 240)) == pytest.approx(16.0)
    assert h.recommend(11 + 240) == [], "only a ticket issued now would be late: one, below min_tickets_helped"
    (rec,) = h.recommend(11 + 240, TidalSettings(min_tickets_helped=1))
    assert rec.in_service == 2 and rec.backlog == 2 and rec.projected_wait_min == pytest.approx(16.0)
    assert (rec.late, rec.late_after) == (1, 0)


def test_the_id_is_stable_for_the_same_situation() -> None:
    h = sb_hall("W2", "W3")
    h.queue(60, 20)
    first, again = h.recommend(600)[0], h.recommend(660)[0]
    assert first.id == again.id and first.created_at != again.created_at
    assert h.recommend(600, services=("YB",)) == [], "restricted to the alert's service"


def test_with_patience_the_sizing_is_erlang_a_with_a_walkout_cap() -> None:
    h = sb_hall(*(f"W{i}" for i in range(2, 20)), open_=("W1", "W0"))
    h.flow(3600, 60, 600)
    settings = TidalSettings(patience_min=20.0)
    (rec,) = h.recommend(7200, settings)
    view = h.snap(7200).services[0]
    rate = blended_rate(view.arrivals_15m, view.arrivals_60m, None) / 60
    assert rec.model is Model.ERLANG_A
    assert rec.erlang_servers == servers_for_target(rate, 10, 15, 0.8, patience=20.0, max_abandonment=0.05)
    assert "at most 5 % leaving" in render_recommendation(rec).en


@pytest.mark.parametrize(
    "kwargs",
    [{"open_delay_min": 15.0}, {"service_level": 80}, {"max_windows": 0}, {"target_wait_min": 0}, {"patience_min": -1}],
)
def test_bad_settings_fail_with_a_plain_sentence(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        TidalSettings(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- demand profile

MONDAY = T0.replace(hour=10)  # 2026-11-23 10:00, the Monday being planned


def learned_profile(counts: dict[int, int], weeks: int = 4) -> DemandProfile:
    """Arrivals in the 10:00 and 10:15 slots `weeks_ago` Mondays before MONDAY, plus other noise."""
    p = DemandProfile("Asia/Shanghai", weeks=weeks)
    for weeks_ago, n in counts.items():
        day = MONDAY - timedelta(weeks=weeks_ago)
        for i in range(n):
            p.add("SB", day + timedelta(seconds=i * 60))  # 10:00 slot
            p.add("SB", day + timedelta(minutes=15, seconds=i * 60))  # 10:15 slot
        p.add("YB", day - timedelta(hours=1))
    return p


def test_the_profile_learns_a_monday_10_00_slot_from_the_last_four_mondays() -> None:
    p = learned_profile({5: 100, 4: 8, 3: 10, 2: 12, 1: 10})  # five weeks back is too old
    p.add("SB", MONDAY + timedelta(minutes=1))  # today's arrivals are the live part, not the profile
    assert p.rate("SB", MONDAY + timedelta(minutes=5)) == pytest.approx(40.0), "10 per 15 min"
    assert p.rate("SB", MONDAY + timedelta(minutes=31)) == 0.0, "known Mondays, nobody at 10:30"
    assert p.rate("SB", MONDAY + timedelta(days=1)) is None, "no Tuesday learned"
    assert p.rate("ZZ", MONDAY) is None, "a service never seen on a Monday"
    assert p.rate_over("SB", MONDAY + timedelta(minutes=5), 30) == pytest.approx(40.0)
    again = DemandProfile.load(p.dump())
    assert again.rate("SB", MONDAY + timedelta(minutes=5)) == pytest.approx(40.0)
    assert again.days == p.days


def test_the_profile_forgets_old_days_and_rejects_naive_times() -> None:
    p = learned_profile({9: 5, 1: 10})
    assert len(p.days) == 1, "nine weeks back is beyond weeks + 1"
    with pytest.raises(ValueError, match="time zone"):
        p.add("SB", datetime(2026, 11, 23, 10))


@pytest.mark.parametrize(
    ("k15", "k60", "profile", "expected"),
    [
        (0, 0, None, 0.0),
        (0, 0, 40.0, 40.0),  # nothing seen yet: the profile stands alone
        (15, 60, None, 60.0),  # the 15-min and the hour's rates agree
        (30, 60, None, 30 / 38 * 120 + 8 / 38 * 60),  # a surge: the 15-min rate leads as its count grows
        (2, 60, None, 2 / 10 * 8 + 8 / 10 * 60),  # two arrivals in 15 min: mostly the hour
        (15, 60, 40.0, 60 / 72 * 60 + 12 / 72 * 40),  # a busy hour outweighs the profile
        (1, 4, 40.0, 4 / 16 * 4 + 12 / 16 * 40),  # a thin hour leans on the profile
    ],
)
def test_blending_live_counts_with_the_profile(k15: int, k60: int, profile: float | None, expected: float) -> None:
    assert blended_rate(k15, k60, profile) == pytest.approx(expected)


def test_the_recommendation_uses_the_learned_profile_for_the_slot() -> None:
    h = Hall({"W1": ("SB",), "W2": ("SB",)})
    t = 3600 + 5 * 60  # 10:05
    h.open(0, "W1")
    h.queue(t - 120, 8)
    p = learned_profile({4: 10, 3: 10, 2: 10, 1: 10})
    (rec,) = h.recommend(t, profile=p)
    view = h.snap(t).services[0]
    assert rec.arrivals_profile_per_h == pytest.approx(40.0)
    assert rec.arrivals_per_h == pytest.approx(blended_rate(view.arrivals_15m, view.arrivals_60m, 40.0), abs=1e-3)
    assert rec.arrivals_live_per_h == pytest.approx(blended_rate(view.arrivals_15m, view.arrivals_60m, None), abs=1e-3)


# ---------------------------------------------------------------------------------------------- tracker


def approved_opening(h: Hall, tracker: TidalTracker, t: float = 120) -> Recommendation:
    """W1, W2 open, 8 people waiting, the recommendation to open W11 approved at `t` + 10."""
    (rec,) = tracker.offer(h.recommend(t, staff_pool=("S21",)), at(t))
    assert rec.windows == ("W11",)
    tracker.approve(rec.id, "manager-1", at(t + 10))
    return rec


def tidal_hall() -> Hall:
    """W1, W2 open, 8 waiting: a third window brings one or two of them within the target, so these halls recommend
    with `min_tickets_helped=1` (the tracker's lifecycle is under test here, not the threshold)."""
    h = Hall({"W1": ("SB",), "W2": ("SB",), "W11": ("SB",)})
    h.settings = TidalSettings(min_tickets_helped=1)
    h.open(0, "W1")
    h.open(0, "W2")
    h.queue(60, 8)
    return h


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("window never opens, queue grows", TidalEventKind.ESCALATE),
        ("window opens, queue served", TidalEventKind.CHECKED),
    ],
)
def test_approve_then_check_escalates_only_when_the_wait_does_not_fall(scenario: str, expected: str) -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    rec = approved_opening(h, tracker)
    assert tracker.next_deadline() == at(130 + 600), "check-after: 10 min after approval"
    assert tracker.reserved_windows() == {"W11"}
    if scenario.startswith("window never opens"):
        h.queue(300, 4)
    else:
        h.open(300, "W11")
        for i, w in enumerate(("W1", "W2", "W11", "W1", "W2")):
            h.serve(310 + i * 2, w, f"t{i + 1}", 300)
    assert tracker.check(h.snap(729), at(729)) == [], "not before the deadline"
    events = tracker.check(h.snap(730), at(730))
    assert [e.kind for e in events] == [expected]
    event = events[0]
    assert event.rec_id == rec.id and event.wait_at_approval_min == rec.projected_wait_min
    assert event.wait_now_min is not None and rec.projected_wait_min is not None
    if expected is TidalEventKind.ESCALATE:
        assert event.wait_now_min >= rec.projected_wait_min and event.windows_not_open == ("W11",)
        said = render_event(event)
        assert "has not fallen 10 min after opening W11 was approved" in said.en
        assert "not open yet: W11" in said.en and "尚未开放：W11" in said.zh
    else:
        assert event.wait_now_min < rec.projected_wait_min and event.windows_not_open == ()
    assert tracker.check(h.snap(800), at(800)) == [], "checked once"


def test_a_second_opening_for_the_same_group_waits_for_the_first_to_be_checked() -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    approved_opening(h, tracker)
    h.queue(200, 10)
    later = h.recommend(300)
    assert later and tracker.offer(later, at(300)) == []


def test_reject_keeps_the_same_recommendation_from_coming_back_while_valid() -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(h.recommend(120), at(120))
    assert tracker.offer(h.recommend(130), at(130)) == [], "pending: not offered twice"
    tracker.reject(rec.id, "manager-1", "staff in a meeting", at(140))
    assert tracker.offer(h.recommend(150), at(150)) == []
    with pytest.raises(ValueError, match="no pending"):
        tracker.approve(rec.id, "manager-1", at(160))


def test_an_expired_recommendation_cannot_be_approved() -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(h.recommend(120), at(120))
    with pytest.raises(ValueError, match=r"expired|no pending"):
        tracker.approve(rec.id, "manager-1", at(120 + 601))


Step = Callable[[Hall], None]


def serve_step(t: float, window: str, ticket: str) -> tuple[float, Step]:
    return t, lambda h: h.serve(t, window, ticket, 300)


def clear_queue() -> list[tuple[float, Step]]:
    """After the opening: W11 opens at 09:05 and the 8 waiting tickets are served (5 min each) by 09:08."""
    windows = ("W1", "W2", "W11") * 3
    return [(300, lambda h: h.open(300, "W11")), *(serve_step(400 + i * 10, windows[i], f"t{i + 1}") for i in range(8))]


def flare(t: float, first: int) -> list[tuple[float, Step]]:
    """Ten tickets arrive (5 min each: at two windows two would wait past 15 min, so W11 is needed) and are served
    100 s later."""
    arrive = (t, lambda h: h.queue(t, 10) and None)
    windows = ("W1", "W2", "W11") * 4
    return [arrive, *(serve_step(t + 100 + i * 5, windows[i], f"t{first + i}") for i in range(10))]


def run(
    h: Hall, tracker: TidalTracker, steps: list[tuple[float, Step]], until: float
) -> list[tuple[int, Recommendation]]:
    """Check every 30 s from 09:02:20, applying each step once its messages lie in the past."""
    pending = sorted(steps, key=lambda s: s[0])
    closes: list[tuple[int, Recommendation]] = []
    for t in range(140, int(until), 30):
        while pending and pending[0][0] + 1 <= t:
            pending.pop(0)[1](h)
        for e in tracker.check(h.snap(t), at(t)):
            if e.kind is TidalEventKind.CLOSE:
                assert e.recommendation is not None
                closes.append((t, e.recommendation))
    return closes


CLOSE_15 = TidalSettings(close_after_min=15)


def test_close_waits_for_a_sustained_quiet_spell_and_does_not_flap() -> None:
    h = tidal_hall()
    tracker = TidalTracker(CLOSE_15)
    approved_opening(h, tracker)
    # W11 spare from 09:08 for 13 min, a flare; spare 8 min, a flare; then spare for good once the last flare is
    # served (09:34:05) and the hour's arrival rate no longer needs it
    closes = run(h, tracker, [*clear_queue(), *flare(1300, 9), *flare(1900, 19)], until=4000)
    times = [t for t, _ in closes]
    assert len(times) == 2 and times[0] >= 2045 + 900, "only after a spare spell of 15 min after the last flare"
    assert times[1] == times[0] + 600, "again only when that close went unanswered and expired"
    assert closes[0][1].id == closes[1][1].id, "the same close: the gateway upserts by id"
    (_, rec) = closes[1]
    assert tracker.next_deadline() == rec.expires_at, "a matured quiet clock with its close pending is not a deadline"
    assert rec.kind is RecommendationKind.CLOSE and rec.windows == ("W11",) and rec.staff == ("S21",)
    assert rec.current_servers == 3 and rec.late == 0
    assert rec.projected_wait_min == 0.0 and rec.service_level_after is not None
    said = render_recommendation(rec)
    assert f"steady state with 2: {rec.service_level_after * 100:.1f}".removesuffix(".0") in said.en
    assert "→ close tidal window W11 (opened 09:02)" in said.en
    assert "关闭潮汐窗口 W11（09:02 开放）" in said.zh
    tracker.approve(rec.id, "manager-1", at(3600))
    assert tracker.opened() == () and tracker.next_deadline() is None


def test_a_rejected_close_is_proposed_again_only_after_another_quiet_spell() -> None:
    h = tidal_hall()
    tracker = TidalTracker(CLOSE_15)
    approved_opening(h, tracker)
    for _, step in clear_queue():
        step(h)
    assert [e.kind for e in tracker.check(h.snap(600), at(600))] == []
    assert [e.kind for e in tracker.check(h.snap(740), at(740))] == [TidalEventKind.CHECKED]
    (close,) = [e for e in tracker.check(h.snap(1500), at(1500)) if e.kind is TidalEventKind.CLOSE]
    assert close.recommendation is not None
    tracker.reject(close.rec_id, "manager-1", "lunch rush ahead", at(1510))
    assert not [e for e in tracker.check(h.snap(2300), at(2300)) if e.kind is TidalEventKind.CLOSE]
    assert tracker.next_deadline() == at(1510 + 900)
    assert [e.kind for e in tracker.check(h.snap(2410), at(2410))] == [TidalEventKind.CLOSE]


def test_a_tidal_window_closed_by_hand_is_no_longer_tracked() -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    approved_opening(h, tracker)
    h.open(300, "W11")
    tracker.check(h.snap(310), at(310))
    assert [ow.seen_open for ow in tracker.opened()] == [True] and tracker.reserved_windows() == set()
    h.close(400, "W11")
    tracker.check(h.snap(410), at(410))
    assert tracker.opened() == ()


def test_recommend_close_keeps_a_window_the_projection_still_needs() -> None:
    h = Hall({"W1": ("SB",), "W11": ("SB",)})
    h.open(0, "W1")
    tracker = TidalTracker(SETTINGS)
    h.queue(60, 8)
    (rec,) = tracker.offer(h.recommend(120), at(120))
    tracker.approve(rec.id, "manager-1", at(130))
    h.open(200, "W11")
    h.flow(300, 18, 600, window="W1")  # 18 an hour × 10 min = 3 Erlang: without W11 the queue runs away
    tracker.check(h.snap(3000), at(3000))
    quiet = {"SB": at(1000)}
    assert recommend_close(h.snap(3900), tracker.opened(), quiet, None, SETTINGS, at(3900)) == []


# ---------------------------------------------------------------------------------------------- persistence


def test_recommendation_round_trips_through_json() -> None:
    h = sb_hall("W2", "W3")
    h.queue(60, 20)
    (rec,) = h.recommend(600, staff_pool=("S21",))
    tracker = TidalTracker(SETTINGS)
    tracker.offer([rec], at(600))
    assert TidalTracker.load(SETTINGS, tracker.dump()).pending() == (rec,)


def test_the_tracker_survives_a_restart() -> None:
    h = tidal_hall()
    tracker = TidalTracker(SETTINGS)
    approved_opening(h, tracker)
    h.queue(200, 10)
    h.open(300, "W11")
    tracker.check(h.snap(310), at(310))
    restored = TidalTracker.load(SETTINGS, tracker.dump())
    assert restored.dump() == tracker.dump()
    assert restored.next_deadline() == tracker.next_deadline() == at(730)
    assert restored.opened() == tracker.opened() and restored.reserved_windows() == set()
    original_events = tracker.check(h.snap(730), at(730))
    restored_events = restored.check(h.snap(730), at(730))
    assert original_events == restored_events and [e.kind for e in restored_events] == [TidalEventKind.ESCALATE]


# ---------------------------------------------------------------------------------------------- window hours, pooling


def usual_monday(profile: DemandProfile, window: str, *spans: tuple[str, str], weeks: int = 4) -> None:
    """`window` was open during `spans` (local "HH:MM") on each of the last `weeks` Mondays before T0."""
    for k in range(1, weeks + 1):
        day = T0 - timedelta(weeks=k)
        for start, end in spans:
            for hhmm, is_open in ((start, True), (end, False)):
                hh, mm = (int(x) for x in hhmm.split(":"))
                profile.window(window, is_open, day.replace(hour=hh, minute=mm))


def test_the_profile_learns_when_each_window_is_usually_open() -> None:
    profile = DemandProfile("Asia/Shanghai")
    usual_monday(profile, "W1", ("08:30", "11:30"), ("12:45", "17:00"))
    monday = T0.replace(hour=11, minute=20)
    assert profile.usually_open("W1", monday) == 1.0
    assert profile.usually_open("W1", monday.replace(hour=11, minute=35)) == 0.0, "lunch"
    assert profile.usually_open("W1", monday.replace(hour=12, minute=50)) == 1.0
    assert profile.usually_open("W1", monday + timedelta(days=1)) is None, "no Tuesday learned"
    assert profile.usually_open("W9", monday) == 0.0, "a window never seen open on a learned Monday"
    again = DemandProfile.load(profile.dump())
    assert again.usually_open("W1", monday) == 1.0 and again.usually_open("W1", monday.replace(minute=40)) == 0.0


def lunch_hall(profile: DemandProfile) -> Hall:
    """W1 and W2 serve SB and usually pause 11:30–12:45; W11 is the tidal reserve. 11:00–11:25 is busy."""
    h = Hall({"W1": ("SB",), "W2": ("SB",), "W11": ("SB",)})
    h.open(0, "W1")
    h.open(0, "W2")
    for w in ("W1", "W2"):
        usual_monday(profile, w, ("08:30", "11:30"), ("12:45", "17:00"))
    start = 2 * 3600  # 11:00
    for i in range(10):  # 24 an hour, 5 min each, served at once: two windows keep up, nobody waits
        t = start + i * 150
        (ticket,) = h.queue(t, 1)
        h.serve(t + 1, "W1" if i % 2 else "W2", ticket, 300)
    return h


def test_a_lunch_break_that_usually_comes_is_covered_before_the_windows_pause() -> None:
    with_hours = DemandProfile("Asia/Shanghai")
    h = lunch_hall(with_hours)
    now = 2 * 3600 + 1500  # 11:25: nobody waits, both windows open
    assert h.snap(now).services[0].waiting == 0
    assert h.recommend(now, profile=DemandProfile("Asia/Shanghai")) == [], "without the usual hours: all is well"
    (rec,) = h.recommend(now, profile=with_hours)
    assert rec.windows == ("W11",) and rec.backlog == 0 and rec.late >= 3 and rec.late_after < rec.late
    said = render_recommendation(rec)
    assert "in the next 20 min" in said.en and "未来 20 分钟" in said.zh


def test_paused_windows_that_usually_resume_let_a_tidal_window_close() -> None:
    profile = DemandProfile("Asia/Shanghai")
    h = lunch_hall(profile)
    tracker = TidalTracker(SETTINGS)
    (rec,) = tracker.offer(h.recommend(2 * 3600 + 1500, profile=profile), at(2 * 3600 + 1500))
    tracker.approve(rec.id, "manager-1", at(2 * 3600 + 1510))
    h.open(2 * 3600 + 1800, "W11")
    for w in ("W1", "W2"):
        h.apply(win(h.feed, 2 * 3600 + 1805, w, "window.paused", reason="lunch"))
    tracker.check(h.snap(2 * 3600 + 1810), at(2 * 3600 + 1810), profile)
    (ow,) = tracker.opened()
    assert ow.seen_open
    lunch = 3 * 3600 + 600  # 12:10: the only open SB window is W11; W1 and W2 are back 12:45, beyond the horizon
    assert not spare(h.snap(lunch), ow, profile, SETTINGS, at(lunch))
    soon = 3 * 3600 + 1800  # 12:30: they are back within the horizon, and nobody waits
    assert spare(h.snap(soon), ow, profile, SETTINGS, at(soon))
    assert not spare(h.snap(soon), ow, DemandProfile("Asia/Shanghai"), SETTINGS, at(soon)), "the last SB window"


def test_a_pooled_window_serves_everything_it_can_and_counts_for_every_group() -> None:
    h = Hall({"W1": ("SB",), "W2": ("YB",), "W11": ("SB", "YB")}, services=("SB", "YB"))
    h.open(0, "W1")
    h.open(0, "W2")
    h.queue(60, 12, "SB")
    h.queue(90, 8, "YB")
    first, second = h.recommend(600)
    assert first.windows == ("W11",) and first.serves == ("SB", "YB"), "it will call the longest wait of both"
    assert second.windows == () and second.arriving == 1, "the other queue counts W11 and still needs more by hand"
    solo_first, solo_second = h.recommend(600, TidalSettings(pool_services=False))
    assert solo_first.windows == ("W11",) and solo_first.serves == solo_first.services
    assert solo_second.arriving == 0
    tracker = TidalTracker(SETTINGS)
    tracker.offer([first], at(600))
    tracker.approve(first.id, "manager-1", at(610))
    assert tracker.arriving() == {"W11": ("SB", "YB")}
    later = h.recommend(620, arriving=tracker.arriving())
    assert [r.arriving for r in later] == [1, 1] and all(r.windows == () for r in later), "W11 is on its way for both"


def test_no_arrivals_are_projected_after_the_hall_usually_closes() -> None:
    profile = DemandProfile("Asia/Shanghai")
    for k in range(1, 5):
        day = T0 - timedelta(weeks=k)
        for minute in range(0, 8 * 60, 10):  # 09:00–17:00
            profile.add("SB", day + timedelta(minutes=minute))
    assert profile.closed_from(T0.replace(hour=16, minute=50), 30) == 10.0
    assert profile.closed_from(T0.replace(hour=10), 30) is None
    assert profile.closed_from(T0 + timedelta(days=1), 30) is None, "no Tuesday learned"
