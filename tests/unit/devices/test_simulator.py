"""The hall simulator: determinism, contract validity, truth vs. a replay of the messages, incidents, scenarios."""

from __future__ import annotations

import argparse
import copy
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from devices.contract import payload_adapter
from devices.errors import ConfigError
from devices.simulator import cli
from devices.simulator.model import HallSimulation, HallTruth, SimMessage
from devices.simulator.scenario import PACKAGED, Scenario, load_scenario, parse_scenario
from devices.topics import Channel, parse_topic

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 1, 13, tzinfo=TZ)


def at(hhmm: str, day: datetime = MONDAY) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return day.replace(hour=hour, minute=minute)


@functools.cache
def _county_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PACKAGED / "county.yaml").read_text(encoding="utf-8"))
    return data


def county_data() -> dict[str, Any]:
    """The packaged county scenario's YAML data, a copy of its own for each caller (the tests change it). Parsed
    once: PyYAML takes a fifth of a second for it, and the invalid-scenario tests ask for it two dozen times."""
    return copy.deepcopy(_county_yaml())


@functools.cache
def county() -> Scenario:
    """The packaged county scenario, loaded once for the tests that simulate it (a scenario is frozen)."""
    return load_scenario("county")


def county_with(incidents: list[dict[str, Any]]) -> Scenario:
    data = county_data()
    data["incidents"] = incidents
    return parse_scenario(data)


def run(scenario: Scenario, start: str, end: str, seed: int = 1) -> list[SimMessage]:
    return list(HallSimulation(scenario, seed, at(start), at(end)).messages())


@dataclass(frozen=True)
class Day:
    """A Monday from 08:00 to 18:30 as it unfolded: every message, and the truth as it stood right after some of
    them. Tests only read it."""

    messages: tuple[SimMessage, ...]
    truth_after: dict[int, HallTruth]  # message index → the truth right after that message was yielded
    truth: HallTruth  # at the end of the day
    seconds: float  # how long the simulation took


def monday(scenario: Scenario, seed: int, look: Callable[[int, SimMessage], bool] = lambda i, m: False) -> Day:
    """Simulate the day, keeping the truth after every message `look` picks (the truth moves on with the run)."""
    began = time.perf_counter()
    simulation = HallSimulation(scenario, seed, at("08:00"), at("18:30"))
    messages, truth_after = [], {}
    for i, message in enumerate(simulation.messages()):
        messages.append(message)
        if look(i, message):
            truth_after[i] = simulation.truth()
    return Day(tuple(messages), truth_after, simulation.truth(), time.perf_counter() - began)


CHECK_EVERY = 997  # messages between two comparisons of the truth with a replay of the messages
PEAK_HOUR = 10


@pytest.fixture(scope="module")
def county_monday() -> Day:
    """One simulated county Monday (seed 1) for the tests that only read a whole day: simulating one takes seconds.
    The truth is kept where the tests look at it: every CHECK_EVERY messages and through the peak hour."""
    return monday(county(), 1, lambda i, m: i % CHECK_EVERY == 0 or m.at.hour == PEAK_HOUR)


def events(messages: Iterable[SimMessage], kind: str | None = None) -> list[tuple[SimMessage, dict[str, Any]]]:
    found = []
    for m in messages:
        if m.kind == "publish" and m.topic.endswith("/evt"):
            body = json.loads(m.payload)
            if kind is None or body["type"] == kind:
                found.append((m, body))
    return found


def states(messages: Iterable[SimMessage], device: str) -> list[tuple[SimMessage, dict[str, Any]]]:
    return [
        (m, json.loads(m.payload))
        for m in messages
        if m.kind == "publish" and m.device_id == device and m.topic.endswith("/state")
    ]


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_messages_and_another_seed_does_not() -> None:
    first = run(county(), "08:30", "10:00", seed=7)
    again = run(county(), "08:30", "10:00", seed=7)
    other = run(county(), "08:30", "10:00", seed=8)
    assert first == again
    assert [m.payload for m in first] != [m.payload for m in other]


# ---------------------------------------------------------------------------------------------- contract


def test_every_message_of_a_county_day_is_contract_valid_in_order_with_rising_seq(county_monday: Day) -> None:
    messages = county_monday.messages
    last_seq: dict[str, int] = {}
    previous = messages[0].at
    rules = {Channel.EVT: (1, False), Channel.STATE: (1, True), Channel.HB: (0, False)}
    for m in messages:
        assert m.at >= previous, "timeline out of order"
        previous = m.at
        topic = parse_topic(m.topic)
        assert topic.hall == "county-01" and topic.device_id == m.device_id
        if m.kind != "publish":
            assert topic.channel is Channel.STATE and json.loads(m.payload) == {"v": 1, "online": False}
            continue
        adapter = payload_adapter(topic.device_type, topic.channel)
        assert adapter is not None
        payload = adapter.validate_json(m.payload)
        assert (m.qos, m.retain) == rules[topic.channel]
        assert payload.ts.utcoffset() == timedelta(hours=8)
        assert payload.seq > last_seq.get(m.device_id, 0), f"{m.device_id} seq did not increase"
        last_seq[m.device_id] = payload.seq


def test_every_device_starts_connected_with_a_retained_online_state() -> None:
    messages = run(county(), "08:00", "08:01")
    connected = {m.device_id for m in messages if m.kind == "connect"}
    online = {m.device_id for m in messages if m.topic.endswith("/state") and json.loads(m.payload)["online"]}
    assert connected == online == set(county().device_ids())


# ---------------------------------------------------------------------------------------------- truth


class Replay:
    """An independent count of waiting tickets per service, windows and devices, from the messages alone."""

    def __init__(self) -> None:
        self.service: dict[str, str] = {}
        self.waiting: set[str] = set()
        self.windows: dict[str, str] = {}
        self.online: dict[str, bool] = {}

    def apply(self, m: SimMessage) -> None:
        if m.kind != "publish":
            self.online[m.device_id] = m.kind == "connect"
            return
        if not m.topic.endswith("/evt"):
            return
        body = json.loads(m.payload)
        kind, ticket = body["type"], body.get("ticket_id")
        if kind == "ticket.issued":
            self.service[ticket] = body["service"]
            self.waiting.add(ticket)
        elif kind == "ticket.reactivated":
            self.service[ticket] = body.get("service") or self.service[ticket]
            self.waiting.add(ticket)
        elif kind == "ticket.transferred":
            self.service[ticket] = body["to_service"]
            self.waiting.add(ticket)
        elif kind in ("ticket.called", "ticket.cancelled"):
            self.waiting.discard(ticket)
        elif kind in ("window.opened", "window.resumed"):
            self.windows[m.device_id] = "open"
        elif kind == "window.paused":
            self.windows[m.device_id] = "paused"
        elif kind == "window.closed":
            self.windows[m.device_id] = "closed"

    def waiting_per_service(self, services: Iterable[str]) -> dict[str, int]:
        counts = Counter(self.service[t] for t in self.waiting)
        return {code: counts.get(code, 0) for code in services}


def test_truth_agrees_with_a_replay_of_the_messages_throughout_the_day(county_monday: Day) -> None:
    replay = Replay()
    codes = [s.code for s in county().services]
    checks = 0
    for i, message in enumerate(county_monday.messages):
        replay.apply(message)
        if i % CHECK_EVERY == 0:
            truth = county_monday.truth_after[i]
            if truth.at == message.at:  # the whole step that produced this message has been seen
                assert replay.waiting_per_service(codes) == truth.waiting, message.at
                checks += 1
    truth = county_monday.truth
    assert replay.waiting_per_service(codes) == truth.waiting
    assert {w: s for w, s in truth.windows.items() if w in replay.windows} == replay.windows
    assert truth.devices_online == replay.online
    assert checks > 20
    assert sum(truth.issued.values()) > 150
    json.loads(truth.to_json())


def test_a_peak_builds_a_queue_that_drains_after_lunch_and_the_day_ends_empty(county_monday: Day) -> None:
    peak_waiting = 0
    for i, message in enumerate(county_monday.messages):
        if message.at.hour == PEAK_HOUR:
            peak_waiting = max(peak_waiting, sum(county_monday.truth_after[i].waiting.values()))
    truth = county_monday.truth
    assert 2 <= peak_waiting <= 40
    assert sum(truth.waiting.values()) == 0
    assert set(truth.windows.values()) == {"closed"}
    assert all(0 < p95 <= 60 for p95 in truth.wait_p95_min.values()), truth.wait_p95_min


# ---------------------------------------------------------------------------------------------- incidents


def test_device_offline_drops_the_connection_and_reconnects_with_an_online_state() -> None:
    scenario = county_with([{"kind": "device_offline", "device": "W03", "at": "10:00", "duration": "10m"}])
    messages = run(scenario, "09:30", "10:30")
    drops = [m for m in messages if m.device_id == "W03" and m.kind != "publish" and m.at > at("09:30")]
    assert [(m.kind, m.at) for m in drops] == [("disconnect", at("10:00")), ("connect", at("10:10"))]
    outage = [m for m in messages if m.device_id == "W03" and at("10:00") <= m.at < at("10:10")]
    assert [m.kind for m in outage] == ["disconnect"]
    after = next(m for m in messages if m.device_id == "W03" and m.kind == "publish" and m.at >= at("10:10"))
    assert after.topic.endswith("/state") and json.loads(after.payload)["online"] is True
    mid = HallSimulation(scenario, 1, at("09:30"), at("10:05"))
    list(mid.messages())
    assert mid.truth().devices_online["W03"] is False


def test_paper_out_reports_low_then_out_then_ok_and_the_machine_issues_nothing_meanwhile() -> None:
    scenario = county_with(
        [{"kind": "printer_paper_out", "device": "TM01", "at": "09:45", "duration": "20m", "low_before": "15m"}]
    )
    messages = run(scenario, "09:00", "10:30")
    printer = [(m.at, body["printer"]) for m, body in states(messages, "TM01")]
    assert (at("09:30"), "paper_low") in printer
    assert (at("09:45"), "paper_out") in printer
    assert (at("10:05"), "ok") in printer
    during = [m for m, _ in events(messages, "ticket.issued") if at("09:45") <= m.at < at("10:05")]
    assert during and all(m.device_id == "TM02" for m in during)


def test_screen_blank_sends_a_display_error_and_blank_state_until_it_recovers() -> None:
    scenario = county_with([{"kind": "screen_blank", "device": "CS-A", "at": "10:00", "duration": "12m"}])
    messages = run(scenario, "09:50", "10:30")
    errors = [(m.at, body["code"]) for m, body in events(messages, "display.error")]
    assert errors == [(at("10:00"), "blank")]
    display = [(m.at, body["display"]) for m, body in states(messages, "CS-A") if m.at > at("09:50")]
    assert display == [(at("10:00"), "blank"), (at("10:12"), "ok")]


def test_kiosk_error_burst_sends_count_errors_within_the_span() -> None:
    scenario = county_with(
        [{"kind": "kiosk_error_burst", "device": "K01", "at": "10:00", "count": 7, "over": "10m", "code": "ui_freeze"}]
    )
    messages = run(scenario, "09:50", "10:30")
    burst = [m for m, body in events(messages, "kiosk.error") if m.device_id == "K01" and body["code"] == "ui_freeze"]
    assert len(burst) == 7
    assert all(at("10:00") <= m.at < at("10:10") for m in burst)


def test_staff_leaving_stops_calls_and_the_camera_sees_an_empty_seat() -> None:
    scenario = county_with([{"kind": "staff_leaves", "window": "W01", "at": "10:00", "duration": "20m"}])
    messages = run(scenario, "09:30", "10:40")
    calls = [m.at for m, _ in events(messages, "ticket.called") if m.device_id == "W01"]
    assert not any(at("10:00") <= t < at("10:20") for t in calls)
    assert any(t >= at("10:20") for t in calls)
    seat = [
        (m.at, body["staff_present"]["W01"])
        for m, body in events(messages, "occupancy")
        if "W01" in body["staff_present"]
    ]
    assert all(not present for t, present in seat if at("10:00") < t < at("10:20"))
    assert all(present for t, present in seat if at("09:30") < t < at("10:00"))
    opened = HallSimulation(scenario, 1, at("09:30"), at("10:10"))
    list(opened.messages())
    assert opened.truth().windows["W01"] == "open"


def test_arrival_surge_multiplies_arrivals_of_its_service() -> None:
    def issued(scenario: Scenario) -> int:
        found = events(run(scenario, "10:00", "11:00"), "ticket.issued")
        return sum(1 for m, body in found if body["service"] == "GJJ" and m.at >= at("10:00"))

    calm = issued(county_with([]))
    surge = issued(
        county_with([{"kind": "arrival_surge", "service": "GJJ", "at": "10:00", "duration": "1h", "factor": 4}])
    )
    assert surge >= 2 * calm > 0


# ---------------------------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize(
    ("name", "messages", "tickets"),
    [("county", (30_000, 120_000), (150, 600)), ("city", (150_000, 450_000), (800, 3_000))],
)
def test_packaged_scenarios_simulate_a_monday_at_a_sane_size(
    name: str, messages: tuple[int, int], tickets: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    day: Day = request.getfixturevalue("county_monday") if name == "county" else monday(load_scenario(name), 1)
    kinds = Counter(
        json.loads(m.payload)["type"] if m.topic.endswith("/evt") else m.topic.rsplit("/", 1)[-1] for m in day.messages
    )
    truth = day.truth
    print(f"{name}: {truth.messages} messages in {day.seconds:.2f} s: {dict(kinds.most_common())}")
    assert messages[0] <= truth.messages <= messages[1]
    assert tickets[0] <= sum(truth.issued.values()) <= tickets[1]
    assert kinds["service.completed"] > 0.8 * sum(truth.issued.values())
    assert kinds["window.paused"] > 0 and kinds["rating.submitted"] > 0 and kinds["kiosk.session"] > 0


def test_packaged_scenarios_have_the_advertised_size() -> None:
    county, city = load_scenario("county"), load_scenario("city")
    assert (len(county.windows), len(county.services), len(county.kiosks), len(county.cameras)) == (12, 6, 4, 2)
    assert (len(city.windows), len(city.services), len(city.kiosks), len(city.cameras)) == (60, 20, 20, 8)


def test_a_closed_day_has_devices_but_no_people() -> None:
    saturday = MONDAY + timedelta(days=5)
    messages = list(HallSimulation(county(), 1, at("09:00", saturday), at("10:00", saturday)).messages())
    assert events(messages, "ticket.issued") == [] and events(messages, "window.opened") == []
    assert any(m.topic.endswith("/hb") for m in messages)


# ---------------------------------------------------------------------------------------------- invalid scenarios


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    node: Any = data
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


def _incident(**fields: Any) -> list[dict[str, Any]]:
    return [{"at": "10:00", "duration": "5m", **fields}]


@pytest.mark.parametrize(
    ("path", "value", "problem_path"),
    [
        ("hal", {"id": "x"}, "hal"),
        ("services[2].service_time.mean_min", -1, "services[2].service_time.mean_min"),
        ("services[0].colour", "red", "services[0].colour"),
        ("windows[0].services", ["SB", "XX"], "windows[0].services[1]"),
        ("windows[3].staff_id", "bad id!", "windows[3].staff_id"),
        ("hall.opens", "25:00", "hall.opens"),
        ("hall.opens", 510, "hall.opens"),  # an unquoted 8:30 in YAML 1.1
        ("hall.timezone", "Mars/Olympus", "hall.timezone"),
        ("evaluators[0].windows", ["W99"], "evaluators[0].windows[0]"),
        ("cameras[1].zones[0].services", ["NOPE"], "cameras[1].zones[0].services[0]"),
        ("incidents", _incident(kind="device_offline", device="TM09"), "incidents[0].device"),
        ("incidents", _incident(kind="device_offline", device="TM01", duration="soon"), "incidents[0].duration"),
        ("incidents", _incident(kind="screen_blank", device="K01"), "incidents[0].device"),
        ("incidents", _incident(kind="staff_leaves", window="W01", at="9h"), "incidents[0].at"),
        ("incidents", _incident(kind="arrival_surge", service="ZZ", factor=2), "incidents[0].service"),
        ("incidents", _incident(kind="meteor_strike"), "incidents[0]"),
        ("services[1].transfer", {"share": 0.1, "to": ["QQ"]}, "services[1].transfer.to[0]"),
    ],
)
def test_invalid_scenarios_report_the_field_path(path: str, value: Any, problem_path: str) -> None:
    data = county_data()
    _set(data, path, value)
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data)
    paths = [p.path for p in caught.value.problems]
    assert problem_path in paths, [str(p) for p in caught.value.problems]


def test_every_problem_is_reported_at_once() -> None:
    data = county_data()
    data["windows"][0]["services"] = ["XX"]
    data["windows"][1]["services"] = ["YY"]
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data)
    assert [p.path for p in caught.value.problems] == ["windows[0].services[0]", "windows[1].services[0]"]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_scenario(tmp_path / "nope.yaml")


def test_cli_prints_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = county_data()
    data["services"][2]["service_time"]["mean_min"] = 0
    data["windows"][0]["services"] = ["XX"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    code = cli.run(parser.parse_args(["--scenario", str(bad), "--broker", "mqtt://127.0.0.1:1"]))
    err = capsys.readouterr().err
    assert code == 2
    assert "services[2].service_time.mean_min" in err


def test_cli_rejects_a_bad_broker_url(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    code = cli.run(parser.parse_args(["--scenario", "county", "--broker", "http://x", "--duration", "1m"]))
    assert code == 2 and "mqtt://HOST:PORT" in capsys.readouterr().err
