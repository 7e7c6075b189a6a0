"""What the gateway learned of who can serve what (issue 20) survives a restart: a person seen completing a service's
tickets is still known to serve it after the gateway starts again (else the tidal recommender and the AB-post covers
forget them until three more tickets); a saved state that is not one is ignored, not fatal. Real SQLite file."""

from __future__ import annotations

from pathlib import Path

from edge.decisions import Decider
from tests.unit.edge.test_decider_breaks import Hall
from tests.unit.rules.feed import issue, win


def learn(h: Hall) -> None:
    """A person the roster does not list (S9) sits at W1 and completes three 民政 (MZ) tickets."""
    h.play(win(h.feed, 0, "W1", "window.opened", staff_id="S9", services=["MZ"]))
    for i in range(3):
        h.play(issue(h.feed, 10 + i, f"a{i}", service="MZ"))
        h.play(win(h.feed, 20 + i, "W1", "service.completed", ticket_id=f"a{i}", duration_s=300))


def test_learned_skills_are_kept_over_a_restart(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    learn(h)
    assert h.decider.skills.can_serve("S9", ["MZ"])
    h.minute(1)  # a decision state written
    again: Decider = h.restart()
    assert again.skills.can_serve("S9", ["MZ"])  # learned before, known now
    assert not again.skills.can_serve("S9", ["JT"])


def test_a_saved_skills_state_that_is_not_one_is_ignored(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    learn(h)
    h.minute(1)
    h.store.decisions.write({"skills": '{"S9": {"MZ": "many"}}'}, [], [], 0.0)
    again = h.restart()  # starts, having learned nothing
    assert not again.skills.can_serve("S9", ["MZ"])
