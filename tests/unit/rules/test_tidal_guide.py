"""The mobile post for surges (流动岗, issue 20): when arrivals jump a free mobile-post person is sent to the queue
area as a guide, with the numbers that say why; a jump within the noise sends nobody; the guide comes back only after
the arrivals have been back near usual for 15 minutes (no flapping), or at once when pulled to a window.

Halls are fed contract messages through the real decoder (hall time T0 + seconds, a Monday 09:00); no sleeps.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from rules.rota import PostKind, SkillBook, StaffSkills
from rules.tidal import (
    DemandProfile,
    GuidePost,
    GuideProposal,
    GuideReason,
    GuideSettings,
    ReasonCode,
    guide_over,
    recommend_guide,
)
from tests.unit.rules.feed import T0, win
from tests.unit.rules.test_tidal import Hall, at

SETTINGS = GuideSettings()
WINDOWS = {"W1": ("SB",), "W2": ("SB",), "W3": ("YB",)}
ZONES = {"wait-a": ("SB",), "wait-b": ("YB",), "atrium": ()}


def roster(*, mobile: tuple[str, ...] = ("M1",)) -> SkillBook:
    """Window staff at W1–W3, an approver, and the mobile posts (流动岗) given."""
    people = [StaffSkills(f"staff-{w}", post=w) for w in WINDOWS]
    people.append(StaffSkills("A1", frozenset({"YB"}), kind=PostKind.APPROVER))
    people += [StaffSkills(m, frozenset({"SB"}), kind=PostKind.MOBILE) for m in mobile]
    return SkillBook(people, WINDOWS)


def usual(per_15m: dict[str, int], weeks: int = 2) -> DemandProfile:
    """A profile that learned `per_15m` arrivals per service in 09:00–09:15 (and in 09:15–09:30) of past Mondays."""
    profile = DemandProfile("Asia/Shanghai", weeks=4)
    for k in range(1, weeks + 1):
        day = T0 - timedelta(weeks=k)
        for code, n in per_15m.items():
            for slot in (0, 15):
                for i in range(n):
                    profile.add(code, day + timedelta(minutes=slot, seconds=10 + i * 60))
    return profile


def hall(sb: int, yb: int = 0, served_sb: int = 0) -> Hall:
    """W1–W3 open from 09:00; `sb` SB and `yb` YB tickets issued within 09:00–09:14; `served_sb` of the SB served."""
    h = Hall(WINDOWS, services=("SB", "YB"))
    for w, services in WINDOWS.items():
        h.open(0, w, *services)
    sb_ids = [h.queue(30 + i * 40, 1, "SB")[0] for i in range(sb)]
    for i in range(yb):
        h.queue(40 + i * 40, 1, "YB")
    for i, ticket in enumerate(sb_ids[:served_sb]):
        h.serve(35 + i * 40, "W1", ticket, 5)
    return h


def propose(h: Hall, t: float = 900, profile: DemandProfile | None = None, **kw: object) -> GuideProposal | None:
    return recommend_guide(h.snap(t), kw.pop("skills", roster()), profile, SETTINGS, at(t), zones=ZONES, **kw)  # type: ignore[arg-type]


def test_a_jump_in_arrivals_sends_the_free_mobile_post_to_the_queue_area_with_the_numbers() -> None:
    # usually 5 SB in a quarter of an hour (20 an hour); 20 came in the last 15 min
    proposal = propose(hall(sb=20), profile=usual({"SB": 5, "YB": 5}))
    assert proposal is not None
    assert proposal.staff_id == "M1"
    assert proposal.zone == "wait-a"  # the zone where SB's people sit, not the atrium for everyone
    assert proposal.services == ("SB",)
    r = proposal.reason
    assert isinstance(r, GuideReason)
    assert r.code is ReasonCode.GUIDE_SURGE
    assert (r.arrivals_15m, r.live_rate_per_h, r.usual_rate_per_h) == (20, 80.0, 20.0)
    assert (r.waiting, r.growth_15m, r.zone, r.staff_id) == (20, 20, "wait-a", "M1")
    assert [n.code for n in r.names] == ["SB"]


def test_a_rise_within_the_noise_sends_nobody() -> None:
    profile = usual({"SB": 5, "YB": 5})
    # 11 against a usual 5: 2.2 ×, but 6 more is within three Poisson spreads (3·√5 ≈ 6.7): noise
    assert propose(hall(sb=11, yb=5), profile=profile) is None
    assert propose(hall(sb=12, yb=5), profile=profile) is not None  # 7 more: a jump
    # the same ratio on few people: 7 against 3 is below the 8 arrivals a jump needs
    assert propose(hall(sb=7), profile=usual({"SB": 3, "YB": 3})) is None
    # usual arrivals: nothing
    assert propose(hall(sb=5, yb=5), profile=profile) is None


def test_no_free_mobile_post_means_no_proposal() -> None:
    h, profile = hall(sb=20), usual({"SB": 5, "YB": 5})
    assert propose(h, profile=profile, skills=roster(mobile=())) is None  # only window staff and an approver
    assert propose(h, profile=profile, guiding=["M1"]) is None  # already guiding
    assert propose(h, profile=profile, taken=["M1"]) is None  # the caller has just sent them to a window
    two = roster(mobile=("M1", "M2"))
    chosen = propose(h, profile=profile, skills=two, guiding=["M1"])
    assert chosen is not None and chosen.staff_id == "M2"


def test_a_mobile_post_pulled_to_a_window_is_not_free() -> None:
    h = hall(sb=20)
    h.apply(win(h.feed, 630, "W2", "window.opened", staff_id="M1", services=["SB"]))  # M1 now serves at W2
    assert propose(h, profile=usual({"SB": 5, "YB": 5})) is None


def test_without_a_profile_a_fast_growing_queue_sends_a_guide_and_a_served_one_does_not() -> None:
    proposal = propose(hall(sb=12), profile=None)
    assert proposal is not None
    assert proposal.reason.usual_rate_per_h is None
    assert (proposal.reason.arrivals_15m, proposal.reason.growth_15m) == (12, 12)
    # the same 12 arrivals, 8 of them served already: the queue grew by 4
    assert propose(hall(sb=12, served_sb=8), profile=None) is None


def test_the_guide_comes_back_only_after_fifteen_calm_minutes() -> None:
    profile = usual({"SB": 5, "YB": 5})
    post = GuidePost("M1", "wait-a", ("SB",), at(900))
    busy = hall(sb=20)
    check = guide_over(busy.snap(900), post, profile, SETTINGS, at(900))
    assert not check.over and check.post.calm_since is None  # still well above usual
    calm = hall(sb=0)  # nobody came in the last quarter of an hour at 09:30
    first = guide_over(calm.snap(1800), check.post, profile, SETTINGS, at(1800))
    assert not first.over and first.post.calm_since == at(1800)
    almost = guide_over(calm.snap(2690), first.post, profile, SETTINGS, at(2690))
    assert not almost.over  # 14 min 50 s calm
    done = guide_over(calm.snap(2700), almost.post, profile, SETTINGS, at(2700))
    assert done.over and not done.pulled


def test_the_usual_count_mixes_the_two_slots_the_last_quarter_of_an_hour_covers() -> None:
    profile = DemandProfile("Asia/Shanghai", weeks=4)
    for i in range(5):  # last Monday: 5 SB in 09:00–09:15, and SB was seen that day (none in 08:45–09:00)
        profile.add("SB", T0 - timedelta(weeks=1) + timedelta(seconds=10 + i * 60))
    h = hall(sb=0)
    # at 09:05: ten minutes of 08:45–09:00 (none) and five of 09:00–09:15 (5 in 15 min): 5/3 usually
    check = guide_over(h.snap(300), GuidePost("M1", None, ("SB",), at(0)), profile, SETTINGS, at(300))
    assert check.usual_15m == pytest.approx(5 / 3)


def test_a_new_rise_restarts_the_calm_clock() -> None:
    profile = usual({"SB": 5, "YB": 5})
    post = replace(GuidePost("M1", "wait-a", ("SB",), at(0)), calm_since=at(0) - timedelta(minutes=10))
    busy = hall(sb=20)
    check = guide_over(busy.snap(900), post, profile, SETTINGS, at(900))
    assert not check.over and check.post.calm_since is None
    assert (check.arrivals_15m, check.usual_15m) == (20, 5.0)


def test_a_guide_pulled_to_a_window_is_over_at_once() -> None:
    h = hall(sb=20)
    h.apply(win(h.feed, 630, "W2", "window.opened", staff_id="M1", services=["SB"]))
    check = guide_over(h.snap(900), GuidePost("M1", None, ("SB",), at(0)), usual({"SB": 5}), SETTINGS, at(900))
    assert check.over and check.pulled


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("jump_ratio", 1.0, "jump_ratio must be a number > 1"),
        ("noise_z", -1.0, "noise_z must be a number ≥ 0"),
        ("min_arrivals_15m", 0, "min_arrivals_15m must be a whole number ≥ 1"),
        ("growth_15m", 2.5, "growth_15m must be a whole number ≥ 1"),
        ("calm_ratio", 1.5, "calm_ratio must be ≥ 1 and below jump_ratio"),
        ("calm_min", float("nan"), "calm_min must be a number of minutes ≥ 0"),
    ],
)
def test_settings_are_checked(field: str, value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        GuideSettings(**{field: value})  # type: ignore[arg-type]
