"""The lunch hole (午间空岗) in the gateway: at 12:10, between the built-in `opening_hours` blocks, a window paused for
lunch leaves its people waiting. The decider still recommends — over the rules' `service_hours`, the opening hours
with the lunch between them — and the recommendation names the paused window's AB partner (B岗) to call; before
opening (nobody on duty yet) and after closing it stays quiet. Real SQLite file, FixedClock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from edge.config import load_config
from edge.decisions import Decider, decider_for
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.hall import HallState
from rules.language import builtin_rules
from rules.tidal import CoverReason
from tests.unit.rules.feed import T0, Feed, issue, win

HALL = """\
hall: {id: h1}
services: {MZ: {name: 民政}, JT: {name: 交通}}
windows:
  W1: {services: [MZ]}
  W2: {services: [JT]}
staff:
  S1: {name: 任静, post: W1, partner: S2}
  S2: {name: 钟华, post: W2, skills: [MZ]}
"""


def hall_at_lunch(tmp_path: Path, minutes_after_nine: float) -> tuple[Decider, FixedClock]:
    """W1 (民政, 任静) and W2 (交通, 钟华) open at 09:00; W1 pauses for lunch and six people come for 民政 after;
    the clock then stands `minutes_after_nine` after 09:00."""
    path = tmp_path / "gateway.yaml"
    path.write_text(HALL + f"storage: {{path: {tmp_path / 'g.db'}}}\n", encoding="utf-8")
    cfg = load_config(path)
    clock = FixedClock(T0)
    store = Store(cfg.storage.path)
    state = HallState(cfg.profile())
    decider = decider_for(cfg, builtin_rules(), store, clock, state.snapshot, stream=Broadcaster())
    feed = Feed()
    paused = (minutes_after_nine - 10) * 60
    messages = [
        win(feed, 0, "W1", "window.opened", staff_id="S1", services=["MZ"]),
        win(feed, 0, "W2", "window.opened", staff_id="S2", services=["JT"]),
        win(feed, paused, "W1", "window.paused", reason="lunch"),
    ]
    messages += [issue(feed, paused + 30 * (i + 1), f"m{i}", service="MZ") for i in range(6)]
    for msg in messages:
        state.apply(msg)
        decider.on_message(msg)
    clock.set(T0 + timedelta(minutes=minutes_after_nine))
    return decider, clock


def test_at_lunch_a_queue_left_without_its_window_is_offered_its_ab_partner(tmp_path: Path) -> None:
    decider, _ = hall_at_lunch(tmp_path, 3 * 60 + 10)  # 12:10: outside opening_hours, inside service_hours
    decider.evaluate()
    (rec,) = decider.tidal.pending()
    assert rec.windows == ("W1",) and rec.staff == ("S2",)  # 钟华, 任静's B post, to W1
    assert set(rec.services) == {"MZ"}
    assert isinstance(rec.reason, CoverReason) and rec.reason.covered.id == "S1"


@pytest.mark.parametrize("minutes_after_nine", [-35, 8 * 60 + 40])  # 08:25 before opening, 17:40 after closing
def test_outside_the_service_hours_nothing_is_recommended(tmp_path: Path, minutes_after_nine: int) -> None:
    decider, _ = hall_at_lunch(tmp_path, minutes_after_nine)
    decider.evaluate()
    assert decider.tidal.pending() == ()
