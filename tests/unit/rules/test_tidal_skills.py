"""Any window, any service, with someone who can serve it (issue 20): the tidal recommender with the skills model —
a closed window configured for other services is proposed with a pool member who can serve the late group — and
cross-skilled help: an open window whose own queue is quiet also calls a late group's tickets, and goes back when
its own queue needs it or the group no longer does."""

from __future__ import annotations

from rules.rota import PostKind, SkillBook, StaffSkills
from rules.tidal.help import help_over, recommend_help
from tests.unit.rules.test_tidal import SETTINGS, Hall, at

CIVIL = ("MZ", "JT", "SB")


def civil_hall(*closed: str) -> Hall:
    """W1 serves civil affairs (MZ) alone, W2 transport (JT); closed windows are configured for social insurance."""
    h = Hall({"W1": ("MZ",), "W2": ("JT",), **{w: ("SB",) for w in closed}}, services=CIVIL)
    h.open(0, "W1", "MZ")
    h.open(0, "W2", "JT")
    return h


def skills(*roster: StaffSkills) -> SkillBook:
    return SkillBook(roster, {"W1": ("MZ",), "W2": ("JT",), "W9": ("SB",)})


def test_a_closed_window_of_another_service_is_proposed_with_someone_who_can_serve_the_late_group() -> None:
    h = civil_hall("W9")
    h.queue(60, 12, "MZ")
    (blind,) = h.recommend(600, staff_pool=("X", "R"))
    assert blind.windows == ()  # without skills, no closed window is configured for MZ: find one by hand
    book = skills(StaffSkills("X", frozenset({"JT"}), kind=PostKind.APPROVER), StaffSkills("R", frozenset({"MZ"})))
    (rec,) = h.recommend(600, staff_pool=("X", "R"), skills=book)
    assert rec.windows == ("W9",)
    assert rec.staff == ("R",)  # X cannot serve MZ: the pool member who can goes
    assert "MZ" in rec.serves
    assert rec.late_after < rec.late


def test_nobody_in_the_pool_able_to_serve_the_group_means_no_window_is_proposed() -> None:
    h = civil_hall("W9")
    h.queue(60, 12, "MZ")
    (rec,) = h.recommend(600, staff_pool=("X",), skills=skills(StaffSkills("X", frozenset({"JT"}))))
    assert rec.windows == () and rec.staff == ()


def test_an_idle_window_whose_staff_can_serve_the_late_group_is_asked_to_help_it() -> None:
    h = civil_hall()
    h.queue(60, 12, "MZ")
    book = skills(StaffSkills("staff-W2", frozenset({"MZ"}), post="W2"))
    snap = h.snap(600)
    (help_,) = recommend_help(snap, h.caps(600), book, None, SETTINGS, at(600))
    assert (help_.window_id, help_.staff_id) == ("W2", "staff-W2")
    assert help_.services == ("MZ",) and help_.own == ("JT",)
    assert help_.serves == ("JT", "MZ")
    assert help_.late_after < help_.late
    assert recommend_help(snap, h.caps(600), book, None, SETTINGS, at(600), taken={"W2"}) == []
    # the person at W2 cannot serve MZ: no help
    assert recommend_help(snap, h.caps(600), skills(), None, SETTINGS, at(600)) == []


def test_a_window_with_its_own_queue_is_not_asked_to_help() -> None:
    h = civil_hall()
    h.queue(60, 12, "MZ")
    h.queue(70, 6, "JT")  # W2's own people wait too
    book = skills(StaffSkills("staff-W2", frozenset({"MZ"}), post="W2"))
    assert recommend_help(h.snap(600), h.caps(600), book, None, SETTINGS, at(600)) == []


def test_the_helper_goes_back_when_its_own_queue_grows_or_the_group_no_longer_needs_it() -> None:
    h = civil_hall()
    h.queue(60, 12, "MZ")
    book = skills(StaffSkills("staff-W2", frozenset({"MZ"}), post="W2"))
    (help_,) = recommend_help(h.snap(600), h.caps(600), book, None, SETTINGS, at(600))
    h.open(620, "W2", "JT", "MZ")  # the queue system was told: W2 now calls MZ too
    assert not help_over(h.snap(630), help_, None, SETTINGS, at(630))  # MZ still late without it
    h.queue(640, 10, "JT")  # its own people pile up
    assert help_over(h.snap(700), help_, None, SETTINGS, at(700))

    quiet = civil_hall()
    quiet.open(620, "W2", "JT", "MZ")
    assert help_over(quiet.snap(700), help_, None, SETTINGS, at(700))  # nobody waits for MZ: back to JT only


def test_when_nobody_can_serve_the_whole_group_its_late_service_alone_gets_help() -> None:
    h = Hall({"W55": ("JT", "HB"), "W52": ("GCJS",)}, services=("JT", "HB", "GCJS"))
    h.open(0, "W55", "JT", "HB")
    h.open(0, "W52", "GCJS")
    h.queue(60, 10, "HB")
    book = SkillBook([StaffSkills("staff-W52", frozenset({"HB"}), post="W52")], {"W52": ("GCJS",)})
    (help_,) = recommend_help(h.snap(600), h.caps(600), book, None, SETTINGS, at(600))
    assert (help_.window_id, help_.services, help_.serves) == ("W52", ("HB",), ("GCJS", "HB"))


def test_with_skills_a_window_is_never_paired_with_someone_who_cannot_serve_the_group() -> None:
    h = Hall({"W1": ("MZ",), "W8": ("MZ",), "W9": ("SB",)}, services=CIVIL)
    h.open(0, "W1", "MZ")
    h.queue(60, 12, "MZ")
    x_only = skills(StaffSkills("X", frozenset({"JT"})))
    (rec,) = h.recommend(600, staff_pool=("X",), skills=x_only)
    assert (rec.windows, rec.staff) == (("W8",), ())  # W8 is configured for MZ: proposed, staffed by hand, never X
    assert rec.reason.candidates == 1  # type: ignore[union-attr]  (W9 would need someone who can serve MZ)
    both = skills(StaffSkills("X", frozenset({"JT"})), StaffSkills("R", frozenset({"MZ"})))
    (rec,) = h.recommend(600, staff_pool=("X", "R"), skills=both)
    assert (rec.windows, rec.staff) == (("W8",), ("R",))
    assert rec.reason.candidates == 2  # type: ignore[union-attr]  (W8, and W9 with R)
    (old,) = h.recommend(600, staff_pool=("X", "R"))
    assert (old.windows, old.staff) == (("W8",), ("X",))  # without skills: the pool in order, as before


def test_a_window_sent_someone_for_another_group_goes_back_to_its_own_services_when_it_closes() -> None:
    h = civil_hall("W9")
    h.open(0, "W9", "SB", "MZ")  # R opened W9 (an SB window) for MZ earlier in the day
    h.close(300, "W9")
    assert h.caps(400)["W9"] == {"SB"}
    h.queue(400, 12, "MZ")
    (rec,) = h.recommend(900, staff_pool=("X",), skills=skills(StaffSkills("X", frozenset({"JT"}))))
    assert rec.windows == ()  # W9 is not an MZ window once R has gone


def test_a_pool_member_the_roster_does_not_list_still_staffs_a_window_configured_for_the_group() -> None:
    """`tidal.staff_pool: [S21]` without a `staff:` entry for S21 means what it always meant: S21 can staff the
    windows configured for the group; only someone known not to serve it is kept away."""
    h = Hall({"W1": ("MZ",), "W8": ("MZ",)}, services=CIVIL)
    h.open(0, "W1", "MZ")
    h.queue(60, 12, "MZ")
    (rec,) = h.recommend(600, staff_pool=("S21",), skills=skills())
    assert (rec.windows, rec.staff) == (("W8",), ("S21",))
