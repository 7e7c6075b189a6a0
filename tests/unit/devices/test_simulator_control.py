"""The simulator's controller hook: a policy opens and closes windows during the run, the people stay the same."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from devices.simulator.model import HallSimulation, SimMessage, WindowCommand
from devices.simulator.scenario import Scenario, load_scenario

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 1, 13, tzinfo=TZ)
START, END = MONDAY.replace(hour=10, minute=30), MONDAY.replace(hour=13)  # the lunch queue


@functools.cache
def city() -> Scenario:
    """Loaded once (PyYAML takes most of a second for it); a scenario is frozen, so every run may share it."""
    return load_scenario("city")


def evt(messages: Iterable[SimMessage]) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in messages if m.kind == "publish" and m.topic.endswith("/evt")]


def waits(bodies: list[dict[str, object]], services: set[str]) -> list[float]:
    """Minutes from issue to first call, for the tickets of `services` that were called."""
    issued: dict[str, datetime] = {}
    out: list[float] = []
    for b in bodies:
        if b["type"] == "ticket.issued" and b["service"] in services:
            issued[str(b["ticket_id"])] = datetime.fromisoformat(str(b["ts"]))
        elif b["type"] == "ticket.called" and b["ticket_id"] in issued:
            out.append((datetime.fromisoformat(str(b["ts"])) - issued.pop(str(b["ticket_id"]))).total_seconds() / 60)
    return out


def run(controller: object = None) -> list[SimMessage]:
    kwargs = {} if controller is None else {"controller": controller}
    return list(HallSimulation(city(), 1, START, END, **kwargs).messages())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Watched:
    messages: tuple[SimMessage, ...]
    ticks: tuple[datetime, ...]  # when the controller was asked


@pytest.fixture(scope="module")
def passive() -> Watched:
    """The lunch queue under a controller that only watches. Simulating the city takes seconds; both tests read this
    one run and neither changes it."""
    ticks: list[datetime] = []

    def watch(now: datetime) -> list[WindowCommand]:
        ticks.append(now)
        return []

    messages = tuple(run(watch))
    return Watched(messages, tuple(ticks))


def test_without_a_controller_the_timeline_is_unchanged_and_a_passive_one_keeps_the_same_people(
    passive: Watched,
) -> None:
    plain, again = run(), run()
    assert plain == again
    watched, ticks = passive.messages, passive.ticks
    assert len(ticks) == 150 and all(t.second == 0 and t.microsecond == 0 for t in ticks)
    issued = [(b["ticket_id"], b["service"], b["ts"]) for b in evt(plain) if b["type"] == "ticket.issued"]
    assert issued == [(b["ticket_id"], b["service"], b["ts"]) for b in evt(watched) if b["type"] == "ticket.issued"]
    assert len(issued) > 200


def test_opening_a_reserve_window_makes_it_serve_and_shortens_waits_and_closing_it_releases_it(
    passive: Watched,
) -> None:
    def tidal(now: datetime) -> list[WindowCommand]:
        if now == MONDAY.replace(hour=11):
            return [
                WindowCommand("open", "W57", ("SB",), "S900"),
                WindowCommand("open", "W58", ("SB",)),
                WindowCommand("open", "W01", ("YB",)),  # not closed: left as it is
            ]
        if now == MONDAY.replace(hour=12, minute=30):
            return [WindowCommand("close", "W57"), WindowCommand("close", "W58")]
        return []

    base, opened = evt(passive.messages), evt(run(tidal))
    w57 = [b for b in opened if b.get("window_id") == "W57"]
    assert w57[0] == {**w57[0], "type": "window.opened", "staff_id": "S900", "services": ["SB"]}
    assert datetime.fromisoformat(str(w57[0]["ts"])) == MONDAY.replace(hour=11)
    assert sum(1 for b in w57 if b["type"] == "service.completed") >= 3
    closed = [b for b in w57 if b["type"] == "window.closed"]
    assert len(closed) == 1 and closed[0]["reason"] == "released"
    assert datetime.fromisoformat(str(closed[0]["ts"])) >= MONDAY.replace(hour=12, minute=30)
    after_close = [
        b for b in w57 if datetime.fromisoformat(str(b["ts"])) > datetime.fromisoformat(str(closed[0]["ts"]))
    ]
    assert all(str(b["type"]).startswith("rating.") for b in after_close)  # only the pad, for the last service
    assert not any(
        b["type"] == "window.opened" and b.get("window_id") == "W01" and b.get("services") == ["YB"] for b in opened
    )
    # the same people came; with two more SB windows they waited less
    assert [b["ticket_id"] for b in base if b["type"] == "ticket.issued"] == [
        b["ticket_id"] for b in opened if b["type"] == "ticket.issued"
    ]
    before, after = waits(base, {"SB"}), waits(opened, {"SB"})
    assert sum(after) / len(after) < 0.8 * sum(before) / len(before)
    assert max(after) < max(before)
