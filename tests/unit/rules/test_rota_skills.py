"""The skills model (rules/rota/skills.py): who can serve what — the roster's skills, a post's services, what was
learned from completed tickets — and AB partners."""

from __future__ import annotations

import json

import pytest

from rules.rota import PostKind, SkillBook, SkillLearner, StaffSkills
from rules.rota.skills import MAX_SEEN
from tests.unit.rules.feed import Feed, issue, opened, win

WINDOWS = {"W1": ("SB",), "W2": ("SB", "YB"), "W3": ("MZ",)}


def book(**kw: object) -> SkillBook:
    roster = [
        StaffSkills("A", frozenset({"GJJ"}), post="W1", partner="B"),
        StaffSkills("B", post="W3"),
        StaffSkills("R", frozenset({"MZ", "WS"}), kind=PostKind.APPROVER),
    ]
    return SkillBook(roster, WINDOWS, **kw)  # type: ignore[arg-type]


def test_a_person_serves_their_posts_services_and_their_own_skills() -> None:
    skills = book()
    assert skills.skills("A") == {"SB", "GJJ"}
    assert skills.can_serve("A", ["SB", "GJJ"])
    assert not skills.can_serve("A", ["SB", "MZ"])  # one service of the group they cannot serve: not for the group
    assert skills.skills("R") == {"MZ", "WS"}
    assert skills.skills("nobody") == frozenset()


def test_who_can_serve_a_group_lists_everyone_able_in_roster_order() -> None:
    assert book().who_can(["MZ"]) == ["B", "R"]
    assert book().who_can(["MZ", "WS"]) == ["R"]
    assert book().who_can(["JT"]) == []


def test_serving_a_service_often_enough_teaches_it() -> None:
    skills = book(learn_after=3)
    skills.observe("A", "YB")
    skills.observe("A", "YB")
    assert not skills.can_serve("A", ["YB"])  # twice is not yet a skill
    skills.observe("A", "YB")
    assert skills.can_serve("A", ["YB"])
    assert skills.learned("A") == {"YB"}
    assert skills.learned("B") == frozenset()
    for _ in range(3):
        skills.observe("X", "JT")  # someone the roster does not list is learned the same way
    assert skills.who_can(["JT"]) == ["X"]


def test_ab_partners_cover_each_other_unless_the_partner_names_someone_else() -> None:
    skills = book()
    assert skills.partner("A") == "B"
    assert skills.partner("B") == "A"  # symmetric
    other = SkillBook([StaffSkills("A", partner="B"), StaffSkills("B", partner="C")])
    assert other.partner("A") == "B"
    assert other.partner("B") == "C"
    assert SkillBook([StaffSkills("A", partner="A")]).partner("A") is None  # nobody is their own partner


def test_posts_and_kinds_name_the_staff_off_the_windows() -> None:
    skills = book()
    assert skills.off_window() == ["R"]
    assert skills.kind("R") is PostKind.APPROVER
    assert skills.post("A") == "W1"
    assert skills.kind("unknown") is PostKind.WINDOW


def test_a_roster_listing_someone_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'A' is listed twice"):
        SkillBook([StaffSkills("A"), StaffSkills("A")])
    with pytest.raises(ValueError, match="learn_after"):
        SkillBook([], learn_after=0)


def test_the_learner_credits_the_person_at_the_window_with_what_they_complete() -> None:
    skills = book(learn_after=2)
    learner = SkillLearner(skills, keep=3)
    f = Feed()
    learner.learn(opened(f, 0, "W3", "MZ"))  # staff-W3 logs in
    for n, t in enumerate((10, 20, 30)):
        learner.learn(issue(f, t, f"t{n}", "WS"))
    learner.learn(win(f, 40, "W3", "service.completed", ticket_id="t0"))
    learner.learn(win(f, 50, "W3", "service.completed", ticket_id="t1", outcome="returned"))  # not served: no credit
    assert skills.learned("staff-W3") == frozenset()
    learner.learn(win(f, 60, "W3", "service.completed", ticket_id="t2"))
    assert skills.learned("staff-W3") == {"WS"}
    learner.learn(win(f, 70, "W3", "window.closed"))
    learner.learn(issue(f, 80, "t9", "JT"))
    learner.learn(win(f, 90, "W3", "service.completed", ticket_id="t9"))  # nobody logged in: nobody credited
    for n in range(5):  # more open tickets than it keeps: the oldest are forgotten, never an error
        learner.learn(issue(f, 100 + n, f"u{n}", "JT"))
    learner.learn(win(f, 110, "W3", "service.completed", ticket_id="u0"))
    assert skills.who_can(["JT"]) == []


def test_a_transferred_ticket_counts_for_the_service_it_was_transferred_to() -> None:
    skills = book(learn_after=1)
    learner = SkillLearner(skills)
    f = Feed()
    learner.learn(opened(f, 0, "W3", "MZ"))
    learner.learn(issue(f, 10, "t1", "SB"))
    learner.learn(win(f, 20, "W1", "ticket.transferred", ticket_id="t1", to_service="MZ"))
    learner.learn(win(f, 30, "W3", "service.completed", ticket_id="t1"))
    assert skills.learned("staff-W3") == {"MZ"}  # what they served, not what the ticket was issued for
    assert not skills.can_serve("staff-W3", ["SB"])


def test_people_learned_from_messages_are_bounded_and_a_saved_book_reads_back() -> None:
    book = SkillBook([StaffSkills("S1", post="W1")], {"W1": ("MZ",)})
    for i in range(MAX_SEEN + 50):  # a device inventing staff ids
        book.observe(f"x{i}", "JT")
    book.observe("S1", "JT")  # the roster's people are always learned
    assert len(json.loads(book.dump_seen())) == MAX_SEEN + 1
    again = SkillBook([StaffSkills("S1", post="W1")], {"W1": ("MZ",)})
    again.load_seen(book.dump_seen())
    assert again.dump_seen() == book.dump_seen()
    for bad in ("[]", '{"S1": {"JT": -1}}', '{"S1": {"JT": true}}', '{"S1": 3}'):
        with pytest.raises(ValueError):
            again.load_seen(bad)
