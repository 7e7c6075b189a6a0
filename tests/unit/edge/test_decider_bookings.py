"""Appointments (预约) in the gateway: the bookings a ticket machine publishes reach the tidal sizing — a wave of
booked people gets its window before it comes, in words that say so — another device cannot cancel them, and a
restart learns them again from the log. Real SQLite file, FixedClock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from edge.config import load_config
from edge.decisions import decider_for
from edge.decisions.breaks import plan_inputs
from edge.decisions.settings import settings_for
from edge.store import EventBatch, EventRow, SavedState
from edge.stream import Broadcaster
from edge.wording.tidal import recommendation_json
from rules.language import builtin_rules
from rules.tidal import DemandProfile
from tests.unit.edge.test_decider_commands import Hall
from tests.unit.rules.feed import T0

CONFIG = {
    "services": {"MZ": {"name": "民政", "name_en": "Civil affairs"}},
    "windows": {"W1": {"services": ["MZ"]}, "W2": {"services": ["MZ"]}, "W3": {"services": ["MZ"]}},
}


def hall(tmp_path: Path) -> Hall:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}, **CONFIG})
    h = Hall(tmp_path, cfg=cfg)
    h.hear("window", "W1", 0, type="window.opened", staff_id="S1", services=["MZ"])
    for w in ("W2", "W3"):
        h.hear("window", w, 0, on="state", online=True)
    return h


def book(h: Hall, n: int, slot_min: float, device: str = "tm1", first: int = 0) -> None:
    for i in range(first, first + n):
        h.hear(
            "ticket_machine",
            device,
            60,
            type="appointment.booked",
            appointment_id=f"A{i}",
            service="MZ",
            slot=(T0 + timedelta(minutes=slot_min)).isoformat(),
        )


def test_booked_people_due_soon_get_a_window_before_they_come(tmp_path: Path) -> None:
    h = hall(tmp_path)
    h.at(20 * 60)
    assert h.decider.tidal.pending() == ()  # 09:20, nobody waiting or booked: nothing to open
    book(h, 10, 30)  # ten booked for 09:30
    h.at(21 * 60)
    (rec,) = h.decider.tidal.pending()
    assert rec.appointments == 9 and set(rec.windows) <= {"W2", "W3"}
    words = recommendation_json(rec)
    assert "9 booked in the next 20 min" in str(words["reason_en"])
    assert "未来 20 分钟预约 9 人" in str(words["reason_zh"])


def test_another_device_cannot_cancel_a_machines_bookings(tmp_path: Path) -> None:
    h = hall(tmp_path)
    book(h, 10, 30)
    for i in range(10):
        h.hear("ticket_machine", "tm2", 90, type="appointment.cancelled", appointment_id=f"A{i}")
    assert h.decider.bookings.pending == 10 and h.decider.bookings.refused == {"not_owner": 10}
    for i in range(10):
        h.hear("ticket_machine", "tm1", 90, type="appointment.cancelled", appointment_id=f"A{i}")
    assert h.decider.bookings.pending == 0


def logged(seq: int, seconds: float, **fields: object) -> EventRow:
    """A ticket machine's event as the log keeps it."""
    at = T0 + timedelta(seconds=seconds)
    body = {"v": 1, "ts": at.isoformat(), "seq": seq, **fields}
    topic = "hall/h1/ticket_machine/tm1/evt"
    return EventRow(
        at.timestamp(),
        at.timestamp(),
        "ticket_machine",
        "tm1",
        "evt",
        str(fields["type"]),
        seq,
        topic,
        json.dumps(body).encode(),
    )


def test_a_restart_learns_the_bookings_again_from_the_log(tmp_path: Path) -> None:
    h = hall(tmp_path)
    slot = (T0 + timedelta(minutes=30)).isoformat()
    rows = [
        logged(i + 1, 60, type="appointment.booked", appointment_id=f"A{i}", service="MZ", slot=slot) for i in range(10)
    ]
    early = (T0 + timedelta(minutes=2)).isoformat()
    rows.append(logged(11, 60, type="appointment.booked", appointment_id="B", service="MZ", slot=early))
    rows.append(logged(12, 120, type="appointment.checked_in", appointment_id="B", service="MZ"))  # on time
    rows.append(logged(13, 60, type="appointment.booked", appointment_id="C", service="MZ", slot=early))
    alone = {"ticket_id": "t1", "number": "Y001", "service": "MZ", "channel": "appointment", "appointment_id": "C"}
    rows.append(logged(14, 150, type="ticket.issued", **alone))  # a qms that says it with the ticket alone
    h.store.events.write(EventBatch.of(rows))
    h.clock.set(T0 + timedelta(minutes=21))
    decider = h.restart()
    assert decider.bookings.pending == 10  # twelve booked, two came
    assert decider.bookings.day(h.clock.now())[0].arrived == 2
    assert decider.demand.bookings is decider.bookings
    h.at(21 * 60)
    (rec,) = decider.tidal.pending()
    assert rec.appointments == 9  # ten waiting, 9 in 10 of them expected (11 of 12 with the two that came)


def test_tomorrows_lunch_plan_counts_the_people_booked_for_each_slot(tmp_path: Path) -> None:
    """The lunch planner's demand for a slot is the learned walk-ins and the people booked for it: a noon with ten
    bookings for 民政 is a busy noon, not the usual one."""
    cfg = load_config(
        None,
        {
            "hall": {"id": "h1"},
            "storage": {"path": str(tmp_path / "g.db")},
            **CONFIG,
            "staff": {"S1": {"name": "任静", "post": "W1", "lunch_min": 60}},
        },
    )
    h = Hall(tmp_path, cfg=cfg)
    tomorrow = T0 + timedelta(days=1)
    for i in range(8):  # last Tuesday: 8 tickets for 民政 in the 11:00 slot, two of them booked
        h.hear("ticket_machine", "tm1", (i - 6 * 24 * 60) * 60 + 2 * 3600, type="ticket.issued", ticket_id=f"t{i}",
               number=f"A{i:03d}", service="MZ", channel="appointment" if i < 2 else "walk_in")  # fmt: skip
    noon = tomorrow.replace(hour=11)
    inputs = plan_inputs(settings_for(h.cfg), h.decider.demand, tomorrow.date(), {"MZ": 10.0})
    assert inputs is not None and inputs.rates[("MZ", noon)] == 32.0  # 8 per 15 min: all tickets, as learned
    for i in range(10):
        h.hear("ticket_machine", "tm1", 600, type="appointment.booked", appointment_id=f"B{i}", service="MZ",
               slot=noon.isoformat())  # fmt: skip
    inputs = plan_inputs(settings_for(h.cfg), h.decider.demand, tomorrow.date(), {"MZ": 10.0})
    assert inputs is not None
    assert inputs.rates[("MZ", noon)] == pytest.approx(24.0 + 10 * 0.9 * 4)  # the walk-ins and nine of ten booked
    assert inputs.rates[("MZ", noon + timedelta(minutes=15))] == 0.0  # none learned or booked at 11:15


def test_a_profile_saved_before_the_appointment_split_is_learned_again_from_the_log(tmp_path: Path) -> None:
    """A demand profile saved by the release before counts booked people among the walk-ins; restored as it is, the
    booked people would count twice (in its rate and as bookings). The decider learns it from the log instead."""
    h = hall(tmp_path)
    last_week = -7 * 24 * 3600 + 2 * 3600  # last Monday 11:00
    rows = [
        logged(
            i + 1,
            last_week + 60 * i,
            type="ticket.issued",
            ticket_id=f"t{i}",
            number=f"A{i:03d}",
            service="MZ",
            channel="appointment" if i < 2 else "walk_in",
        )
        for i in range(8)
    ]
    h.store.events.write(EventBatch.of(rows))
    old = DemandProfile("Asia/Shanghai")
    for i in range(8):
        old.add("MZ", T0 + timedelta(seconds=last_week + 60 * i))  # as the earlier release learned them: no split
    body = json.loads(old.dump())
    del body["appointments"]
    saved = SavedState(h.store.events.last_id(), h.state.dump(), None, json.dumps(body).encode())
    h.clock.set(T0 + timedelta(hours=2))
    decider = decider_for(h.cfg, builtin_rules(), h.store, h.clock, h.state.snapshot, stream=Broadcaster(), saved=saved)
    monday_11 = T0 + timedelta(hours=2)
    assert decider.demand.split_known
    assert decider.demand.rate("MZ", monday_11) == 32.0  # last Monday's eight tickets in the slot …
    assert decider.demand.walk_in_rate("MZ", monday_11) == 24.0  # … six of them walk-ins, as the log tells
    assert not DemandProfile.load(json.dumps(body).encode()).split_known  # (the saved one could not tell)


def test_a_day_ahead_with_few_bookings_made_yet_is_not_planned_as_a_quiet_one(tmp_path: Path) -> None:
    """A queue system that publishes the day's bookings at opening has made few of tomorrow's yet: the lunch plan
    keeps the learned demand of the slot (walk-ins and the usual appointments), not the walk-ins alone."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}, **CONFIG,
                             "staff": {"S1": {"name": "任静", "post": "W1", "lunch_min": 60}}})  # fmt: skip
    h = Hall(tmp_path, cfg=cfg)
    tomorrow = T0 + timedelta(days=1)
    for i in range(8):  # last Tuesday: 8 tickets for 民政 in the 11:00 slot, four of them booked
        h.hear("ticket_machine", "tm1", (i - 6 * 24 * 60) * 60 + 2 * 3600, type="ticket.issued", ticket_id=f"t{i}",
               number=f"A{i:03d}", service="MZ", channel="appointment" if i < 4 else "walk_in")  # fmt: skip
    noon = tomorrow.replace(hour=11)
    h.hear("ticket_machine", "tm1", 600, type="appointment.booked", appointment_id="B", service="MZ",
           slot=noon.isoformat())  # fmt: skip
    inputs = plan_inputs(settings_for(h.cfg), h.decider.demand, tomorrow.date(), {"MZ": 10.0})
    assert inputs is not None and inputs.rates[("MZ", noon)] == 32.0  # not 16 walk-ins + 3.6 booked
