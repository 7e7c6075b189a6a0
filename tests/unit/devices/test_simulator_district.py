"""The packaged district hall (issue 20's held-out check): its shape, its roster and one simulated Tuesday."""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from devices.simulator import HallSimulation, Scenario, SimMessage, day_bounds, load_scenario
from devices.units import Weekday

TUESDAY = date(2026, 11, 24)


@functools.cache
def district() -> Scenario:
    return load_scenario("district")


@functools.cache
def tuesday() -> tuple[SimMessage, ...]:
    """The scenario's own roster on its busiest weekday (seed 1), from before opening to the end of overtime."""
    opens, closes = day_bounds(district(), TUESDAY)
    return tuple(HallSimulation(district(), 1, opens - timedelta(minutes=5), closes + timedelta(hours=1)).messages())


def events(kind: str) -> list[tuple[SimMessage, dict[str, Any]]]:
    out = []
    for m in tuesday():
        if m.kind == "publish" and m.topic.endswith("/evt"):
            body = json.loads(m.payload)
            if body["type"] == kind:
                out.append((m, body))
    return out


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def test_the_district_hall_has_its_own_shape() -> None:
    sc = district()
    staffed = [w for w in sc.windows if not w.reserve]
    assert (len(sc.windows), len(staffed), len(sc.services), len(sc.kiosks), len(sc.cameras)) == (33, 30, 14, 8, 5)
    assert sc.hall.id == "district-01" and sc.hall.name == "示范区政务服务中心"
    capable = Counter(code for w in staffed for code in w.services)
    assert {code for code, n in capable.items() if n == 1} == {"RLZY", "MZ", "CL", "TYJR", "SDQ"}
    assert {w.id for w in sc.windows if w.covers_lunch} == {"W05", "W11", "W21"}
    assert sum(1 for w in staffed if len(w.services) > 1) >= 4  # a few windows serve two to four services
    assert {w.id for w in sc.windows if w.shift is not None} == {"W10", "W23"}


def test_the_district_roster_has_cross_skills_ab_pairs_and_staff_without_a_window() -> None:
    sc = district()
    by_staff = {w.staff_id: w for w in sc.windows}
    assert len(sc.windows) / 3 <= sum(1 for w in sc.windows if w.skills) <= 2 * len(sc.windows) / 3
    pairs = {frozenset((w.staff_id, w.partner)) for w in sc.windows if w.partner}
    assert len(pairs) == 5
    for pair in pairs:  # AB partners name each other, and each can serve the other's services
        a, b = (by_staff[s] for s in pair)
        assert a.partner == b.staff_id and b.partner == a.staff_id
        assert set(b.services) <= set(a.services) | set(a.skills), (a.id, b.id)
        assert set(a.services) <= set(b.services) | set(b.skills), (a.id, b.id)
    assert Counter(m.kind for m in sc.staff) == {"approver": 2, "mobile": 1}
    assert not {m.id for m in sc.staff} & set(by_staff)
    assert all(m.name and m.name_en for m in sc.staff) and all(w.staff_name and w.staff_name_en for w in sc.windows)


def test_tuesday_is_the_district_halls_busiest_day() -> None:
    sc = district()
    profiles = sc.arrival_profiles

    def expected(day: Weekday) -> float:
        return sum(s.arrivals_per_hour * profiles[s.profile].weekday.get(day, 1.0) for s in sc.services)

    week = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
    assert max(week, key=expected) is Weekday.TUE
    assert expected(Weekday.TUE) > 1.1 * expected(Weekday.MON)


def test_a_district_tuesday_peaks_early_and_fades_in_the_afternoon() -> None:
    issued = events("ticket.issued")
    assert 550 <= len(issued) <= 900
    assert {body["service"] for _, body in issued} == {s.code for s in district().services}
    by_hour = Counter(m.at.hour for m, _ in issued)
    assert by_hour.most_common(1)[0][0] == 9
    morning = sum(1 for m, _ in issued if "08:30" <= hhmm(m.at) < "10:30")
    afternoon = sum(1 for m, _ in issued if "13:30" <= hhmm(m.at) < "16:30")
    assert morning > afternoon


def test_a_district_tuesday_has_its_lunch_arrangement() -> None:
    paused = {m.device_id: hhmm(m.at) for m, body in events("window.paused") if body.get("reason") == "lunch"}
    assert not {"W05", "W11", "W21"} & set(paused), "the three lunch-cover windows stay open"
    assert all("11:45" <= paused[w] < "12:15" for w in ("W01", "W07", "W16")), paused  # early lunch, 11:45
    assert all("12:00" <= paused[w] < "12:30" for w in ("W03", "W09", "W22")), paused  # the hall's lunch, 12:00
    closed = {m.device_id: hhmm(m.at) for m, _ in events("window.closed")}
    assert "12:00" <= closed["W23"] < "12:30", "the morning-only 户籍 window closes at noon"
    assert "16:00" <= closed["W10"] < "16:30"


@pytest.mark.parametrize("window", ["W31", "W32", "W33"])
def test_the_district_tidal_windows_stay_closed_without_a_controller(window: str) -> None:
    assert window not in {m.device_id for m, _ in events("window.opened")}
