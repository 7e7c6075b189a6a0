"""The break planner (rules/rota/breaks.py): lunches placed a day ahead where they hurt least — staggered within a
service, in the demand's trough, apart from the AB partner who covers them — and never worse than everyone at once."""

from __future__ import annotations

import math
from datetime import date, datetime, time

import pytest

from rules.rota import BreakNeed, BreakSettings, plan_breaks

DAY = date(2026, 11, 23)
TZ = "Asia/Shanghai"


def flat(per_hour: dict[str, float]):  # type: ignore[no-untyped-def]
    return lambda service, at: per_hour.get(service)


def hm(at: datetime) -> str:
    return f"{at:%H:%M}"


def test_windows_of_one_service_pause_one_after_the_other_and_each_gets_its_whole_break() -> None:
    windows = {"W1": ["SB"], "W2": ["SB"], "W3": ["SB"]}
    needs = [BreakNeed(w, 60, usual=time(11, 30)) for w in windows]
    plan = plan_breaks(DAY, TZ, windows, needs, flat({"SB": 12}), {"SB": 10})
    spans = sorted((b.start, b.end) for b in plan.breaks)
    assert [(hm(a), hm(b)) for a, b in spans] == [("11:00", "12:00"), ("12:00", "13:00"), ("13:00", "14:00")]
    assert plan.late_usual is not None
    assert plan.late_planned < plan.late_usual  # all three at 11:30 leave SB without a window


def test_breaks_go_where_the_demand_is_low() -> None:
    def rate(service: str, at: datetime) -> float:
        return 20.0 if at.hour == 11 else 2.0  # busy before noon, quiet after

    windows = {"W1": ["SB"], "W2": ["SB"]}
    plan = plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 60), BreakNeed("W2", 60)], rate, {"SB": 8})
    assert all(b.start.hour >= 12 for b in plan.breaks), [hm(b.start) for b in plan.breaks]
    assert plan.late_usual is None  # no usual times given: nothing to compare with


def test_an_ab_partner_covers_the_only_window_of_a_service_and_they_do_not_pause_together() -> None:
    windows = {"W49": ["MZ"], "W55": ["JT"]}
    needs = [BreakNeed("W49", 60, "S249", cover="W55"), BreakNeed("W55", 60, "S255", cover="W49")]
    plan = plan_breaks(DAY, TZ, windows, needs, flat({"MZ": 3, "JT": 3}), {"MZ": 10, "JT": 10})
    a, b = plan.at("W49"), plan.at("W55")
    assert a is not None and b is not None
    assert a.cover == "W55" and b.cover == "W49"
    assert a.end <= b.start or b.end <= a.start  # never both away: nobody would serve MZ or JT
    assert a.staff_id == "S249"


def test_a_window_without_a_break_counts_as_capacity_and_the_plan_is_the_same_every_time() -> None:
    windows = {"W1": ["SB"], "W2": ["SB"], "W13": ["SB", "YB"], "W7": ["YB"]}
    needs = [BreakNeed("W1", 75), BreakNeed("W2", 75), BreakNeed("W7", 75)]
    rates = flat({"SB": 15, "YB": 8})
    one = plan_breaks(DAY, TZ, windows, needs, rates, {"SB": 7, "YB": 6})
    two = plan_breaks(DAY, TZ, windows, needs, rates, {"SB": 7, "YB": 6})
    assert one == two
    assert {b.window_id for b in one.breaks} == {"W1", "W2", "W7"}
    assert len(one.late_by_slot) == 16  # 11:00–14:00 in 15-min slots, and the hour after
    s1, s2 = one.at("W1"), one.at("W2")
    assert s1 is not None and s2 is not None
    assert s1.end <= s2.start or s2.end <= s1.start


def test_a_break_must_fit_and_a_window_needs_one_break_at_most() -> None:
    windows = {"W1": ["SB"]}
    rate, aht = flat({"SB": 5}), {"SB": 10}
    with pytest.raises(ValueError, match="does not fit"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 200)], rate, aht)
    with pytest.raises(ValueError, match="does not fit"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 0)], rate, aht)
    with pytest.raises(ValueError, match="two breaks"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 30), BreakNeed("W1", 30)], rate, aht)
    with pytest.raises(ValueError, match="not working"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W9", 30)], rate, aht)
    with pytest.raises(ValueError, match="arrival rate of SB at 11:00"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 30)], lambda c, t: math.inf, aht)
    with pytest.raises(ValueError, match="arrival rate"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 30)], lambda c, t: -1.0, aht)
    with pytest.raises(ValueError, match=r"aht_min\[SB\]"):
        plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 30)], rate, {"SB": 0})
    with pytest.raises(ValueError, match="partner_overlap_penalty"):
        BreakSettings(partner_overlap_penalty=math.nan)
    with pytest.raises(ValueError, match="latest_end"):
        BreakSettings(earliest=time(13, 0), latest_end=time(12, 0))
    narrow = BreakSettings(earliest=time(12, 0), latest_end=time(13, 0))
    plan = plan_breaks(DAY, TZ, windows, [BreakNeed("W1", 60)], rate, aht, narrow)
    assert [(hm(b.start), hm(b.end)) for b in plan.breaks] == [("12:00", "13:00")]


def test_a_break_never_leaves_a_service_without_a_window_while_its_people_arrive() -> None:
    """Two SB windows, busy enough that one alone falls behind: both pausing 13:00–14:00 (the usual rota) leaves SB
    with no window for an hour (窗口不断档 is broken); the plan staggers them although one window alone also lets a
    queue build."""
    windows = {"W1": ["SB"], "W2": ["SB"]}
    needs = [BreakNeed("W1", 60, usual=time(13, 0)), BreakNeed("W2", 60, usual=time(13, 0))]
    plan = plan_breaks(DAY, TZ, windows, needs, flat({"SB": 10}), {"SB": 10})
    a, b = plan.at("W1"), plan.at("W2")
    assert a is not None and b is not None
    assert a.end <= b.start or b.end <= a.start
    assert plan.late_usual is not None
