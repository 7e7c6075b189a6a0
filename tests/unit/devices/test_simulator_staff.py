"""The simulated hall does what a manager orders: `assign` opens a window, changes its services or moves a staff
member from another window (AB cover, AB岗互补), and with `lunch_by_controller` breaks happen only when ordered.

A small hall where every person waits and walks up (no leaving, no missed calls), so what a window calls follows from
the orders alone: W1 serves SB (S1), W2 is a closed reserve window (MZ, S2), W3 serves YB (S3), W4 serves SB over
lunch (S4, 午休不休). Lunch 12:00–13:00.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from devices.codec import decode
from devices.simulator.model import (
    CommandAction,
    HallSimulation,
    HallTruth,
    ScenarioLunch,
    WindowCommand,
    scenario_lunches,
)
from devices.simulator.scenario import Scenario, parse_scenario
from rules.hall import HallProfile, HallState, WindowProfile, WindowView

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 1, 13, tzinfo=TZ)


def at(hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return MONDAY.replace(hour=hour, minute=minute)


def _service(code: str, prefix: str, per_hour: float) -> dict[str, object]:
    return {
        "code": code,
        "name": code,
        "name_en": code,
        "prefix": prefix,
        "arrivals_per_hour": per_hour,
        "service_time": {"distribution": "fixed", "mean_min": 4},
        "no_show_per_call": 0,
    }


def _window(wid: str, services: list[str], staff: str, **more: object) -> dict[str, object]:
    return {"id": wid, "services": services, "staff_id": staff, **more}


SMALL: Scenario = parse_scenario(
    {
        "hall": {
            "id": "h1",
            "name": "小厅",
            "name_en": "Small hall",
            "timezone": "Asia/Shanghai",
            "opens": "09:00",
            "closes": "17:00",
            "lunch": {"start": "12:00", "end": "13:00"},
        },
        "arrival_profiles": {"default": {"time_of_day": {"09:00": 1}}},
        "services": [_service("SB", "A", 20), _service("YB", "B", 12), _service("MZ", "C", 10)],
        "windows": [
            _window("W1", ["SB"], "S1"),
            _window("W2", ["MZ"], "S2", reserve=True),
            _window("W3", ["YB"], "S3"),
            _window("W4", ["SB"], "S4", covers_lunch=True),
        ],
        "ticket_machines": [{"id": "TM1"}],
        "people": {"patience_min": 600, "cancel_share": 0, "away_share": 0},
    }
)

Orders = dict[str, list[WindowCommand]]  # "HH:MM" → the commands given then


@dataclass(frozen=True)
class Run:
    events: list[dict[str, object]]  # every event body, in order, with `ts` as a datetime
    truth: dict[str, HallTruth]  # "HH:MM" → the truth when the first message at or after then was yielded

    def of(self, window: str, *types: str) -> list[dict[str, object]]:
        return [e for e in self.events if e.get("window_id") == window and (not types or e["type"] in types)]

    def calls(self, window: str, since: str = "00:00", until: str = "23:59") -> list[str]:
        """The services of the tickets `window` called (first calls) in [since, until)."""
        service = {e["ticket_id"]: e["service"] for e in self.events if e["type"] == "ticket.issued"}
        return [
            str(service[e["ticket_id"]])
            for e in self.of(window, "ticket.called")
            if e["attempt"] == 1 and at(since) <= e["ts"] < at(until)  # type: ignore[operator]
        ]

    def first(self, window: str, kind: str) -> dict[str, object]:
        return self.of(window, kind)[0]


def run(orders: Orders, *, lunch_by_controller: bool = False, end: str = "14:00", look: tuple[str, ...] = ()) -> Run:
    def controller(now: datetime) -> list[WindowCommand]:
        return orders.get(now.strftime("%H:%M"), [])

    simulation = HallSimulation(
        SMALL, 1, at("09:00"), at(end), controller=controller, lunch_by_controller=lunch_by_controller
    )
    events: list[dict[str, object]] = []
    truth: dict[str, HallTruth] = {}
    for message in simulation.messages():
        for hhmm in look:
            if hhmm not in truth and message.at >= at(hhmm):
                truth[hhmm] = simulation.truth()
        if message.kind == "publish" and message.topic.endswith("/evt"):
            body = json.loads(message.payload)
            body["ts"] = datetime.fromisoformat(body["ts"])
            events.append(body)
    return Run(events, truth)


def ts(event: dict[str, object]) -> datetime:
    moment = event["ts"]
    assert isinstance(moment, datetime)
    return moment


def test_an_opened_window_names_who_is_logged_in_and_the_truth_says_who_sits_where() -> None:
    r = run({}, look=("10:00",))
    assert r.first("W1", "window.opened")["staff_id"] == "S1"
    assert r.truth["10:00"].staff_at == {"W1": "S1", "W2": None, "W3": "S3", "W4": "S4"}


def test_assigning_a_window_to_the_staff_of_another_moves_them_and_closing_it_sends_them_back() -> None:
    r = run(
        {"10:00": [WindowCommand("assign", "W2", ("SB",), "S1")], "11:00": [WindowCommand("close", "W2")]},
        look=("10:30", "11:30"),
    )
    paused, opened = r.first("W1", "window.paused"), r.first("W2", "window.opened")
    assert paused["reason"] == "moved" and at("10:00") <= ts(paused) < at("10:06")  # after the ticket in hand
    assert opened == {**opened, "staff_id": "S1", "services": ["SB"], "ts": at("10:00")}
    # they serve the assigned service at W2 (not its own MZ), from when they got there; W1 calls nobody meanwhile
    w2_calls = r.of("W2", "ticket.called")
    assert ts(w2_calls[0]) >= ts(paused)
    assert set(r.calls("W2")) == {"SB"}
    closed, resumed = r.first("W2", "window.closed"), r.first("W1", "window.resumed")
    assert closed["reason"] == "released"
    assert ts(resumed) == ts(closed) >= at("11:00")
    assert not [e for e in r.of("W1", "ticket.called") if ts(paused) < ts(e) < ts(resumed)]
    assert r.calls("W1", since="11:10") != []
    assert r.truth["10:30"].staff_at == {"W1": None, "W2": "S1", "W3": "S3", "W4": "S4"}
    assert r.truth["10:30"].windows["W1"] == "paused"
    assert r.truth["11:30"].staff_at == {"W1": "S1", "W2": None, "W3": "S3", "W4": "S4"}


def test_assigning_the_staff_back_to_their_own_window_leaves_the_window_they_covered() -> None:
    r = run(
        {"10:00": [WindowCommand("assign", "W2", (), "S1")], "10:30": [WindowCommand("assign", "W1", (), "S1")]},
        look=("11:00",),
    )
    left = r.of("W2", "window.paused")
    assert [e["reason"] for e in left] == ["moved"] and at("10:30") <= ts(left[0]) < at("10:36")
    back = [e for e in r.of("W1", "window.opened") if ts(e) >= at("10:30")]
    assert back[0] == {**back[0], "staff_id": "S1", "services": ["SB"], "ts": at("10:30")}
    assert r.calls("W2", since="10:00", until="10:30") != []  # W2 served MZ with them (its own services)
    assert not [e for e in r.of("W2", "ticket.called") if ts(e) > ts(left[0])]
    assert r.calls("W1", since="10:40") != []
    assert r.truth["11:00"].windows == {"W1": "open", "W2": "paused", "W3": "open", "W4": "open"}
    assert r.truth["11:00"].staff_at["W2"] is None


def test_extending_an_open_windows_services_makes_it_call_the_new_service_and_nobody_moves() -> None:
    r = run({"10:00": [WindowCommand("assign", "W1", ("SB", "MZ"))]})
    assert r.calls("W1", until="10:00") and set(r.calls("W1", until="10:00")) == {"SB"}
    changed = [e for e in r.of("W1", "window.opened") if ts(e) == at("10:00")]
    assert changed == [{**changed[0], "staff_id": "S1", "services": ["SB", "MZ"]}]
    assert "MZ" in r.calls("W1", since="10:00", until="12:00")
    assert not r.of("W1", "window.paused", "window.closed") or ts(r.first("W1", "window.paused")) >= at("12:00")
    # restricting works the same way: W4 serves only YB from 10:00
    restricted = run({"10:00": [WindowCommand("assign", "W4", ("YB",))]})
    assert set(restricted.calls("W4", since="10:10")) == {"YB"}


def test_a_staff_id_the_hall_does_not_know_is_a_new_person_nobody_moves() -> None:
    r = run({"10:00": [WindowCommand("assign", "W2", ("MZ",), "S99")]})
    assert r.first("W2", "window.opened")["staff_id"] == "S99"
    assert not [e for e in r.of("W1", "window.paused") if ts(e) < at("12:00")]
    assert r.calls("W1", since="10:00", until="12:00") != []


def test_a_partner_covers_a_window_at_lunch_and_goes_back_when_its_staff_return() -> None:
    """AB岗: S4 (W4 covers lunch) takes W3 while S3 eats; at 13:00 S3 sits down again and S4 goes back to W4."""
    r = run({"12:05": [WindowCommand("assign", "W3", (), "S4")]}, look=("12:30", "13:30"))
    lunch = r.first("W3", "window.paused")
    assert lunch["reason"] == "lunch"
    moved = r.first("W4", "window.paused")
    assert moved["reason"] == "moved"
    covering = [e for e in r.of("W3", "window.opened") if ts(e) == at("12:05")]
    assert covering == [{**covering[0], "staff_id": "S4", "services": ["YB"]}]
    assert r.calls("W3", since="12:05", until="13:00") != []
    returned = [e for e in r.of("W3", "window.opened") if ts(e) == at("13:00")]
    assert returned == [{**returned[0], "staff_id": "S3", "services": ["YB"]}]
    assert ts(r.first("W4", "window.resumed")) >= at("13:00")
    assert r.truth["12:30"].staff_at == {"W1": "S1", "W2": None, "W3": "S4", "W4": None}
    assert r.truth["13:30"].staff_at == {"W1": "S1", "W2": None, "W3": "S3", "W4": "S4"}


def test_a_partner_moved_on_from_the_window_they_covered_still_goes_home_and_the_owner_gets_their_seat_back() -> None:
    r = run(
        {
            "12:05": [WindowCommand("assign", "W3", (), "S4")],
            "12:20": [WindowCommand("assign", "W2", ("YB",), "S4")],
            "13:30": [WindowCommand("close", "W2")],
        },
        look=("12:40", "13:10"),
    )
    assert [e["reason"] for e in r.of("W3", "window.paused")] == ["lunch", "moved"]
    assert r.first("W2", "window.opened")["staff_id"] == "S4"
    assert r.truth["12:40"].staff_at == {"W1": "S1", "W2": "S4", "W3": None, "W4": None}
    back = [e for e in r.of("W3", "window.opened") if ts(e) == at("13:00")]
    assert back == [{**back[0], "staff_id": "S3", "services": ["YB"]}]
    assert r.calls("W3", since="13:00", until="13:30") != []
    assert r.truth["13:10"].staff_at == {"W1": "S1", "W2": "S4", "W3": "S3", "W4": None}
    assert ts(r.first("W4", "window.resumed")) == ts(r.first("W2", "window.closed")) >= at("13:30")


def test_with_lunch_by_controller_windows_break_only_when_told() -> None:
    ordered = {
        "11:00": [WindowCommand("pause", "W1"), WindowCommand("pause", "W2")],  # W2 is closed: it ignores it
        "11:30": [WindowCommand("resume", "W1"), WindowCommand("resume", "W3")],  # W3 is not paused: nothing
    }
    r = run(ordered, lunch_by_controller=True)
    paused = r.of("W1", "window.paused")
    assert [e["reason"] for e in paused] == ["lunch"] and at("11:00") <= ts(paused[0]) < at("11:06")
    resumed = r.of("W1", "window.resumed")
    assert [ts(e) for e in resumed] == [at("11:30")]
    assert not [e for e in r.of("W1", "ticket.called") if ts(paused[0]) < ts(e) < at("11:30")]
    assert r.calls("W1", since="11:30", until="11:40") != []
    assert r.of("W2") == [] and r.of("W3", "window.paused", "window.resumed") == []
    # no scenario lunch: W3 calls through 12:00–13:00; without the flag it pauses for lunch as before
    assert r.calls("W3", since="12:00", until="13:00") != []
    assert run({}, lunch_by_controller=True).of("W1", "window.paused") == []
    plain = run({})
    assert [e["reason"] for e in plain.of("W1", "window.paused")] == ["lunch"]
    assert ts(plain.first("W3", "window.resumed")) == at("13:00")


def test_the_gateways_hall_model_follows_the_move_and_the_change_of_services() -> None:
    """What the gateway folds from the messages: the moved person's window paused (moved), the window they went to
    open with them and its new services; a second `window.opened` on an open window changes staff and services."""
    orders = {
        "10:00": [WindowCommand("assign", "W2", ("MZ", "SB"), "S1"), WindowCommand("assign", "W3", ("YB", "MZ"))],
        "11:00": [WindowCommand("close", "W2")],
    }
    profile = HallProfile("h1", windows=tuple(WindowProfile(w.id, services=w.services) for w in SMALL.windows))
    state = HallState(profile)
    seen: dict[str, dict[str, WindowView]] = {}

    def controller(now: datetime) -> list[WindowCommand]:
        if now.strftime("%H:%M") in ("10:30", "11:30"):
            seen[now.strftime("%H:%M")] = {w.window_id: w for w in state.snapshot(now).windows}
        return orders.get(now.strftime("%H:%M"), [])

    for m in HallSimulation(SMALL, 1, at("09:00"), at("11:31"), controller=controller).messages():
        msg = decode(m.topic, m.payload, m.at)
        if msg is not None:
            state.apply(msg)
    away, there = seen["10:30"]["W1"], seen["10:30"]["W2"]
    assert (away.status.value, away.pause_reason) == ("paused", "moved")
    assert (there.status.value, there.staff_id, there.services) == ("open", "S1", ("MZ", "SB"))
    assert (seen["10:30"]["W3"].staff_id, seen["10:30"]["W3"].services) == ("S3", ("YB", "MZ"))
    home = seen["11:30"]["W1"]
    assert (home.status.value, home.staff_id, home.pause_reason) == ("open", "S1", None)
    assert seen["11:30"]["W2"].status.value == "closed"


@pytest.mark.parametrize("seed", range(8))
def test_under_any_orders_nobody_sits_at_two_windows_and_a_paused_or_closed_window_serves_nobody(seed: int) -> None:
    """Random assign/close/pause/resume orders all day long (the edge cases a planner may hit: moving someone on
    their way elsewhere, closing the window a person covers, resuming a window nobody paused…)."""
    rng = random.Random(seed)
    staff = [*(w.staff_id for w in SMALL.windows), "S99", None]
    simulation: HallSimulation | None = None
    doubled: list[dict[str, str | None]] = []

    def orders(now: datetime) -> list[WindowCommand]:
        assert simulation is not None
        seated = [s for s in simulation.truth().staff_at.values() if s is not None]
        if len(seated) != len(set(seated)):
            doubled.append(simulation.truth().staff_at)
        out = []
        while rng.random() < 0.3:
            action: CommandAction = rng.choice(("assign", "close", "pause", "resume"))
            window = rng.choice(("W1", "W2", "W3", "W4"))
            services = tuple(rng.sample(("SB", "YB", "MZ"), rng.randrange(3))) if action == "assign" else ()
            out.append(WindowCommand(action, window, services, rng.choice(staff) if action == "assign" else None))
        return out

    simulation = HallSimulation(
        SMALL, seed, at("09:00"), at("18:30"), controller=orders, lunch_by_controller=seed % 2 == 0
    )
    calling: dict[str, bool] = {}
    for m in simulation.messages():
        if m.kind != "publish" or not m.topic.endswith("/evt"):
            continue
        body = json.loads(m.payload)
        window, kind = body.get("window_id"), body["type"]
        if kind in ("window.opened", "window.resumed", "window.paused", "window.closed"):
            calling[window] = kind in ("window.opened", "window.resumed")
        elif kind in ("ticket.called", "service.started", "service.completed", "ticket.no_show"):
            assert calling.get(window), f"{window}: {kind} {body['ticket_id']} at {m.at:%H:%M:%S} while not open"
    assert doubled == []


def test_the_same_orders_give_the_same_day() -> None:
    orders = {"10:00": [WindowCommand("assign", "W2", ("MZ",), "S1")], "10:45": [WindowCommand("close", "W2")]}
    assert run(orders).events == run(orders).events


def test_an_unknown_action_is_refused_with_its_window() -> None:
    def bad(now: datetime) -> list[WindowCommand]:
        return [WindowCommand("dance", "W1")]  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"window W1 .* unknown action 'dance'"):
        list(HallSimulation(SMALL, 1, at("09:00"), at("10:00"), controller=bad).messages())


def test_each_windows_scenario_lunch_is_there_for_a_break_planner() -> None:
    lunches = scenario_lunches(SMALL, date(2025, 1, 13))
    assert lunches["W1"] == ScenarioLunch((at("12:00"), at("13:00")), covers_lunch=False)
    assert lunches["W4"] == ScenarioLunch((at("12:00"), at("13:00")), covers_lunch=True)
