"""The simulated queue system's booking side (预约, scenario `bookings:`): the day's bookings published before
opening, the booked people coming around their slot and checking in with their booking's id, some never coming."""

from __future__ import annotations

import functools
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from devices.simulator import HallSimulation, Scenario, day_bounds, load_scenario
from devices.simulator.scenario import Bookings, check_references

MONDAY = date(2026, 11, 23)


@functools.cache
def city(bookings: bool) -> Scenario:
    sc = load_scenario("city")
    return sc.model_copy(update={"bookings": Bookings() if bookings else None})


@functools.cache
def day(bookings: bool) -> tuple[tuple[datetime, dict[str, Any]], ...]:
    opens, closes = day_bounds(city(bookings), MONDAY)
    out = []
    for m in HallSimulation(city(bookings), 1, opens - timedelta(hours=1), closes + timedelta(hours=1)).messages():
        if m.kind == "publish" and m.topic.endswith("/evt"):
            out.append((m.at, json.loads(m.payload)))
    return tuple(out)


def of(kind: str, bookings: bool = True) -> list[tuple[datetime, dict[str, Any]]]:
    return [(at, body) for at, body in day(bookings) if body["type"] == kind]


def test_the_days_bookings_are_published_before_opening_and_the_booked_people_check_in_with_them() -> None:
    booked = {b["appointment_id"]: b for _, b in of("appointment.booked")}
    opens, _ = day_bounds(city(True), MONDAY)
    assert all(at < opens for at, _ in of("appointment.booked"))  # 07:30, before the doors open
    checked_in = of("appointment.checked_in")
    assert checked_in and all(b["appointment_id"] in booked for _, b in checked_in)
    for at, b in checked_in:  # around their slot: 10 min before its start to 20 min after (or at opening)
        slot = datetime.fromisoformat(booked[b["appointment_id"]]["slot"])
        assert slot - timedelta(minutes=10) <= at <= slot + timedelta(minutes=20, seconds=1) or at < opens + timedelta(
            minutes=1
        )
        assert b["service"] == booked[b["appointment_id"]]["service"]
    came = len({b["appointment_id"] for _, b in checked_in})
    assert 0.75 < came / len(booked) < 0.95  # 1 in 10 never come (and some find no ticket machine with paper)
    appointment_tickets = [b for _, b in of("ticket.issued") if b["channel"] == "appointment"]
    assert {b["appointment_id"] for b in appointment_tickets} == {b["appointment_id"] for _, b in checked_in}


def test_with_bookings_the_hall_gets_as_many_people_the_appointments_among_them_known_ahead() -> None:
    with_bookings = len(of("ticket.issued"))
    without = len(of("ticket.issued", bookings=False))
    assert abs(with_bookings - without) < 0.08 * without  # the same demand, only its appointments known ahead
    share = len(of("appointment.booked")) / with_bookings
    assert 0.08 < share < 0.2  # the city's appointment shares (5–40 % by service)
    assert of("appointment.booked", bookings=False) == []


def test_an_arrival_window_ending_before_it_starts_is_refused_with_its_path() -> None:
    sc = city(True).model_copy(update={"bookings": Bookings(arrive_min=(20.0, -10.0))})
    assert [p.path for p in check_references(sc)] == ["bookings.arrive_min"]
    with pytest.raises(ValidationError, match=r"arrive_min\.0"):
        Bookings.model_validate({"arrive_min": [-500, 0]})  # over four hours early: a typo
