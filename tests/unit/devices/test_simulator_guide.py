"""The mobile post (流动岗) in the simulated hall: a guide a controller posts to a queue area meets the people arriving,
one at a time, before they take a ticket; sends those whose business a kiosk can do to a free kiosk; sends home those
whose documents are missing (their window service would have ended `returned`); and everyone else — and everyone
arriving while the guide is busy — takes their ticket as before, with the same needs as on a day without the guide.

A small hall with one busy service (SB, 24 an hour, 6-minute services, 4 in 10 end `returned`) and three windows, a
quiet one (YB), one kiosk for SB with no users of its own, and a mobile post (M1). Nobody leaves or misses a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from devices.errors import ConfigError
from devices.simulator.model import GuideCommand, HallSimulation, HallTruth, WindowCommand
from devices.simulator.scenario import Scenario, parse_scenario

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 1, 13, tzinfo=TZ)


def at(hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return MONDAY.replace(hour=hour, minute=minute)


def scenario(
    *, share: float = 0.0, catch: float = 0.0, kiosk: dict[str, float] | None = None, **more: object
) -> Scenario:
    def service(code: str, prefix: str, per_hour: float, **extra: object) -> dict[str, object]:
        return {
            "code": code,
            "name": code,
            "name_en": code,
            "prefix": prefix,
            "arrivals_per_hour": per_hour,
            "service_time": {"distribution": "fixed", "mean_min": 6},
            "no_show_per_call": 0,
            **extra,
        }

    body: dict[str, object] = {
        "hall": {"id": "h1", "name": "小厅", "name_en": "Small hall", "timezone": "Asia/Shanghai"}
        | {"opens": "09:00", "closes": "17:00"},
        "arrival_profiles": {"default": {"time_of_day": {"09:00": 1}}},
        "services": [
            service("SB", "A", 24, outcomes={"done": 0.6, "returned": 0.4}, self_service_share=share),
            service("YB", "B", 6),
            service("MZ", "C", 0),
        ],
        "windows": [
            {"id": "W1", "services": ["SB"], "staff_id": "S1"},
            {"id": "W2", "services": ["SB"], "staff_id": "S2"},
            {"id": "W3", "services": ["SB"], "staff_id": "S3"},
            {"id": "W4", "services": ["YB"], "staff_id": "S4"},
            {"id": "W5", "services": ["SB"], "staff_id": "S5", "reserve": True},
        ],
        "ticket_machines": [{"id": "TM1"}, {"id": "TM2"}],
        "kiosks": [
            {"id": "K1", "sessions_per_hour": 0, "services": ["SB"]}
            | ({"outcomes": kiosk} if kiosk is not None else {"outcomes": {"success": 1}})
        ],
        "cameras": [
            {
                "id": "CAM1",
                "zones": [
                    {"id": "wait-sb", "kind": "waiting", "services": ["SB"]},
                    {"id": "wait-yb", "kind": "waiting", "services": ["YB"]},
                    {"id": "wait-mz", "kind": "waiting", "services": ["MZ"]},
                    {"id": "self", "kind": "kiosk"},
                ],
            }
        ],
        "staff": [
            {"id": "M1", "kind": "mobile", "skills": ["SB"]},
            {"id": "A1", "kind": "approver", "skills": ["YB"]},
        ],
        "people": {"patience_min": 600, "cancel_share": 0, "away_share": 0},
        "guide": {"triage_min": [2, 2], "catch_returned": catch},
        **more,
    }
    return parse_scenario(body)


Orders = dict[str, list[WindowCommand | GuideCommand]]  # "HH:MM" → the commands given then
GUIDE_10_TO_12: Orders = {"10:00": [GuideCommand("post", "M1", "wait-sb")], "12:00": [GuideCommand("recall", "M1")]}


@dataclass(frozen=True)
class Run:
    events: list[tuple[str, dict[str, object]]]  # (device, event body) in order
    truth: HallTruth  # at the end
    looked: dict[str, HallTruth]
    timeline: list[tuple[str, bytes]]

    def tickets(self) -> dict[str, tuple[str, str, str]]:
        """Issue time → (ticket id, machine, service) of every ticket taken."""
        return {
            str(e["ts"]): (str(e["ticket_id"]), device, str(e["service"]))
            for device, e in self.events
            if e["type"] == "ticket.issued"
        }

    def completed(self) -> dict[str, tuple[str, float]]:
        """Ticket id → (outcome, handling seconds)."""
        return {
            str(e["ticket_id"]): (str(e["outcome"]), float(e["duration_s"]))  # type: ignore[arg-type]
            for _, e in self.events
            if e["type"] == "service.completed"
        }

    def kiosk_sessions(self) -> list[dict[str, object]]:
        return [e for _, e in self.events if e["type"] == "kiosk.session"]


def run(sc: Scenario, orders: Orders, *, end: str = "15:00", look: tuple[str, ...] = ()) -> Run:
    def controller(now: datetime) -> list[WindowCommand | GuideCommand]:
        return orders.get(now.strftime("%H:%M"), [])

    simulation = HallSimulation(sc, 1, at("09:00"), at(end), controller=controller)
    events: list[tuple[str, dict[str, object]]] = []
    looked: dict[str, HallTruth] = {}
    timeline: list[tuple[str, bytes]] = []
    for message in simulation.messages():
        for hhmm in look:
            if hhmm not in looked and message.at >= at(hhmm):
                looked[hhmm] = simulation.truth()
        timeline.append((message.topic, message.payload))
        if message.kind == "publish" and message.topic.endswith("/evt"):
            events.append((message.device_id, json.loads(message.payload)))
    return Run(events, simulation.truth(), looked, timeline)


def test_the_people_the_guide_lets_through_are_the_same_people_with_the_same_needs() -> None:
    sc = scenario(share=0.5, catch=1.0)
    plain, guided = run(sc, {}), run(sc, GUIDE_10_TO_12)
    before, after = plain.tickets(), guided.tickets()
    kept_away = set(before) - set(after)
    assert guided.truth.guided_to_kiosk["SB"] > 0 and guided.truth.guided_home["SB"] > 0
    assert len(kept_away) == guided.truth.guided_to_kiosk["SB"] + guided.truth.guided_home["SB"]
    assert set(after) <= set(before)  # nobody new: the rest took their ticket when they would have
    done_before, done_after = plain.completed(), guided.completed()
    for issued, (ticket, machine, service) in after.items():
        old_ticket, old_machine, old_service = before[issued]
        assert (machine, service) == (old_machine, old_service)  # the same machine: the shared draws kept in step
        if ticket in done_after and old_ticket in done_before:
            assert done_after[ticket] == done_before[old_ticket]  # the same outcome, the same handling time
    # nobody was kept away before the guide came or after they left
    assert all(at("10:00") <= datetime.fromisoformat(t) < at("12:02") for t in kept_away)


def test_the_guide_sends_home_only_people_whose_documents_are_missing() -> None:
    sc = scenario(catch=1.0)
    plain, guided = run(sc, {}), run(sc, GUIDE_10_TO_12)
    before, after = plain.tickets(), guided.tickets()
    done = plain.completed()
    sent_home = [before[t][0] for t in set(before) - set(after)]
    assert len(sent_home) == guided.truth.guided_home["SB"] >= 5
    assert {done[t][0] for t in sent_home} == {"returned"}
    # the people met whose documents were complete took their ticket
    assert guided.truth.guided["SB"] > len(sent_home)

    def returned(r: Run) -> int:  # among the people who came before 12:30 (all served by 15:00 either way)
        done = r.completed()
        early = [ticket for t, (ticket, _, _) in r.tickets().items() if datetime.fromisoformat(t) < at("12:30")]
        return sum(1 for ticket in early if done[ticket][0] == "returned")

    assert returned(guided) == returned(plain) - len(sent_home)


def test_the_guide_meets_one_person_at_a_time_and_the_others_go_on_to_the_ticket_machine() -> None:
    guided = run(scenario(catch=1.0), GUIDE_10_TO_12, look=("11:00",))
    arrived = sum(1 for t in run(scenario(), {}).tickets() if at("10:00") <= datetime.fromisoformat(t) < at("12:00"))
    met = guided.truth.guided["SB"]
    assert 15 <= met <= 61  # 2 minutes each over 2 hours: at most one every 2 minutes
    assert arrived - met >= 10  # those arriving while the guide was busy went on to take a ticket untriaged
    assert guided.looked["11:00"].guides == ("M1",)
    assert guided.truth.guides == ()  # recalled at 12:00
    assert guided.truth.guided["YB"] == 0  # posted at SB's waiting area: YB's people go by


def test_people_sent_to_self_service_use_a_free_kiosk_and_take_no_ticket() -> None:
    guided = run(scenario(share=1.0), GUIDE_10_TO_12)
    sessions = guided.kiosk_sessions()
    assert len(sessions) == guided.truth.guided_to_kiosk["SB"] > 0
    assert {s["service"] for s in sessions} == {"SB"} and {s["outcome"] for s in sessions} == {"success"}
    # one kiosk: people met while someone was at it took a ticket instead
    assert guided.truth.guided["SB"] > guided.truth.guided_to_kiosk["SB"]
    assert len(guided.tickets()) == len(run(scenario(share=1.0), {}).tickets()) - len(sessions)


def test_people_whose_kiosk_session_fails_take_a_ticket_after_it() -> None:
    sc = scenario(share=1.0, kiosk={"handed_to_window": 1})
    plain, guided = run(sc, {}), run(sc, GUIDE_10_TO_12)
    failed = guided.truth.guided_kiosk_failed["SB"]
    assert failed == guided.truth.guided_to_kiosk["SB"] > 0
    assert len(guided.tickets()) == len(plain.tickets())  # everyone took a ticket in the end, some later
    late = set(guided.tickets()) - set(plain.tickets())
    assert len(late) == failed


def test_a_guide_who_meets_nobody_changes_nothing() -> None:
    sc = scenario(share=0.5, catch=1.0)
    nobody = run(sc, {"10:00": [GuideCommand("post", "M1", "wait-mz")]})  # MZ: no arrivals
    assert nobody.timeline == run(sc, {}).timeline
    assert nobody.truth.guides == ("M1",) and sum(nobody.truth.guided.values()) == 0


def test_a_guide_pulled_to_a_window_leaves_the_queue_area() -> None:
    orders: Orders = {
        "10:00": [GuideCommand("post", "M1")],
        "10:30": [WindowCommand("open", "W5", ("SB",), "M1")],
    }
    r = run(scenario(catch=1.0), orders, look=("10:20", "10:40"))
    assert r.looked["10:20"].guides == ("M1",)
    assert r.looked["10:40"].guides == ()
    assert r.looked["10:40"].staff_at["W5"] == "M1"
    assert r.truth.guided["SB"] == r.looked["10:40"].guided["SB"]  # met nobody after


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (GuideCommand("post", "S9"), "'S9' as a guide: not one of the scenario's `staff`"),
        (GuideCommand("post", "M1", "self"), "'self', which is not a waiting zone"),
        (GuideCommand("post", "M1", "nowhere"), "'nowhere', which is not a waiting zone"),
    ],
)
def test_a_bad_guide_command_is_refused(command: GuideCommand, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        run(scenario(), {"10:00": [command]}, end="10:05")


def test_a_guide_cannot_be_posted_from_a_window() -> None:
    orders: Orders = {"10:00": [WindowCommand("open", "W5", ("SB",), "M1")], "10:10": [GuideCommand("post", "M1")]}
    with pytest.raises(ValueError, match="'M1' as a guide while they are at window W5"):
        run(scenario(), orders, end="10:15")


def test_the_scenario_checks_the_guide_and_the_self_service_share() -> None:
    with pytest.raises(ConfigError) as err:
        scenario(share=1.5)
    assert "services[0].self_service_share" in str(err.value)
    with pytest.raises(ConfigError) as err:
        scenario(guide={"triage_min": [3, 1]})
    assert "guide.triage_min" in str(err.value)
