"""The staff's lunch breaks in the gateway (错峰午休, issue 20): planned a day ahead from the roster so that AB partners
do not pause together and each covers the other; at a break's start with its queue long, the break is held back and
the window's terminal, the MQTT topic and the live stream are told; once the queue is short it is due; a restart
carries the moved break on. Real SQLite file, FixedClock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from devices.codec import DeviceMessage
from devices.contract import COMMANDS_BY_DEVICE
from devices.topics import DeviceType
from edge.config import load_config
from tests.unit.edge.test_decider_commands import Hall as DeciderHall
from tests.unit.rules.feed import T0, issue, win

HALL = """\
hall: {id: h1}
services: {MZ: {name: 民政, name_en: Civil affairs}, JT: {name: 交通}}
windows:
  W1: {name: 1号窗, services: [MZ]}
  W2: {name: 2号窗, services: [JT]}
staff:
  S1: {name: 任静, post: W1, partner: S2, skills: [JT], lunch_min: 60}
  S2: {name: 钟华, post: W2, partner: S1, skills: [MZ], lunch_min: 45}
"""
TOMORROW = T0.date() + timedelta(days=1)


class Hall(DeciderHall):
    """The two-window hall of HALL (or `roster`) on a real file and a manual clock, fed whole messages."""

    def __init__(self, tmp: Path, roster: str = HALL) -> None:
        path = tmp / "gateway.yaml"
        path.write_text(roster + f"storage: {{path: {tmp / 'g.db'}}}\n", encoding="utf-8")
        super().__init__(tmp, cfg=load_config(path))

    def play(self, *messages: DeviceMessage) -> None:
        for m in messages:
            self.state.apply(m)
            self.decider.on_message(m)

    def minute(self, minutes_after_nine: float) -> None:
        self.at(minutes_after_nine * 60)

    def morning(self) -> None:
        """任静 opens W1 (民政) and 钟华 W2 (交通) at 09:00, and the decider evaluates then."""
        self.play(
            win(self.feed, 0, "W1", "window.opened", staff_id="S1", services=["MZ"]),
            win(self.feed, 0, "W2", "window.opened", staff_id="S2", services=["JT"]),
        )
        self.minute(0)


def test_lunches_are_planned_a_day_ahead_apart_and_each_covered_by_the_ab_partner(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    h.minute(0)  # 09:00: today's plan is made at the first evaluation
    today = h.decider.lunch.day(T0.date())
    assert today["planned"] and today["known_demand"] is False  # a new hall: no weekday history yet
    w1, w2 = sorted(today["breaks"], key=lambda b: b["window_id"])  # type: ignore[arg-type]
    assert (w1["minutes"], w1["cover_window_id"], w1["cover_staff_name"]) == (60, "W2", "钟华")
    assert (w2["minutes"], w2["cover_window_id"], w2["staff_name"]) == (45, "W1", "钟华")
    assert w1["end"] <= w2["start"] or w2["end"] <= w1["start"]  # the two partners never pause together
    assert all(b["start"][11:16] >= "11:00" and b["end"][11:16] <= "14:00" for b in (w1, w2))
    assert h.decider.lunch.day(TOMORROW)["problem"] == "pending"
    asyncio.run(h.decider._plan_lunches())  # the gateway's loop: tomorrow's, in a worker thread
    assert h.decider.lunch.day(TOMORROW)["planned"]


def test_nobody_with_a_lunch_to_plan_says_so(tmp_path: Path) -> None:
    h = Hall(tmp_path, HALL.replace(", lunch_min: 60", "").replace(", lunch_min: 45", ""))
    h.minute(0)
    day = h.decider.lunch.day(T0.date())
    assert (day["planned"], day["problem"], day["breaks"]) == (False, "none_to_plan", [])


def test_a_break_is_held_back_while_its_queue_is_long_then_due_and_told_to_its_window(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    h.morning()
    first = min(h.decider.lunch.day(T0.date())["breaks"], key=lambda b: b["start"])  # type: ignore[arg-type]
    window, start = first["window_id"], int(first["start"][11:13]) * 60 + int(first["start"][14:16]) - 9 * 60
    service = "MZ" if window == "W1" else "JT"
    h.play(*(issue(h.feed, (start - 5) * 60 + i, f"t{i}", service=service) for i in range(12)))
    h.minute(start)
    (held,) = h.sent_to("hallops/h1/breaks")
    assert (held["type"], held["event"], held["window_id"], held["holds"]) == ("break", "held", window, 1)
    assert held["held_by"][0]["waiting"] == 12  # type: ignore[index]
    assert "午休推迟到" in str(held["text_zh"]) and "lunch break moved to" in str(held["text_en"])
    (shown,) = h.sent_to(f"hall/h1/window/{window}/cmd")
    takes = {m.model_fields["type"].default for m in COMMANDS_BY_DEVICE[DeviceType.WINDOW]}
    assert shown["type"] in takes  # a command the window's terminal takes (the contract), else it answers unsupported
    assert shown["type"] == "nudge" and "午休推迟到" in str(shown["message"])
    assert shown["waiting"] == 12
    h.restart()  # the hold survives a restart on the same day
    h.minute(start + 1)
    (after,) = [b for b in h.decider.lunch.day(T0.date())["breaks"] if b["window_id"] == window]  # type: ignore[attr-defined]
    assert (after["holds"], after["state"]) == (1, "held")
    assert len(h.sent_to("hallops/h1/breaks")) == 1  # and is not told again
    h.play(*(win(h.feed, (start + 2) * 60 + i, window, "ticket.called", ticket_id=f"t{i}") for i in range(12)))
    h.minute(start + 15)  # its new start, the queue called: due now
    due = h.sent_to("hallops/h1/breaks")[-1]
    assert (due["event"], due["window_id"]) == ("due", window)
    assert "午休时间到" in str(due["text_zh"]) and "顶岗" in str(due["text_zh"])


def test_a_box_started_in_the_afternoon_announces_no_lunch_that_is_over(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    h.play(
        win(h.feed, 0, "W1", "window.opened", staff_id="S1", services=["MZ"]),
        win(h.feed, 0, "W2", "window.opened", staff_id="S2", services=["JT"]),
    )
    h.minute(6 * 60)  # 15:00: the first evaluation of the day
    assert h.sent_to("hallops/h1/breaks") == [] and h.sent_to("hall/h1/window/W1/cmd") == []
    states = {b["window_id"]: b["state"] for b in h.decider.lunch.day(T0.date())["breaks"]}  # type: ignore[attr-defined]
    assert states == {"W1": "missed", "W2": "missed"}
    h.minute(-60 * 24 + 6 * 60)  # the clock set back a day (to Sunday 15:00) …
    h.minute(6 * 60 + 1)  # … and on again: today's breaks as they were, nothing said
    assert h.sent_to("hallops/h1/breaks") == []


def test_the_cover_is_the_ab_partner_staffed_over_lunch(tmp_path: Path) -> None:
    roster = HALL.replace(
        "  W2: {name: 2号窗, services: [JT]}", '  W2: {name: 2号窗, services: [JT], shifts: ["08:30-11:15"]}'
    )
    h = Hall(tmp_path, roster.replace(", lunch_min: 45", ""))  # 钟华 leaves at 11:15: W2 is closed over most of lunch
    h.minute(0)
    (w1,) = h.decider.lunch.day(T0.date())["breaks"]  # type: ignore[misc]
    assert (w1["window_id"], w1["cover_window_id"], w1["cover_staff_id"]) == ("W1", None, None)
    shared = HALL + "  S3: {name: 王芳, post: W2}\n"  # a second person at W2 (another shift), not 任静's partner
    (tmp_path / "b").mkdir()
    h2 = Hall(tmp_path / "b", shared)
    h2.minute(0)
    w1 = next(b for b in h2.decider.lunch.day(T0.date())["breaks"] if b["window_id"] == "W1")  # type: ignore[attr-defined]
    assert (w1["cover_window_id"], w1["cover_staff_name"]) == ("W2", "钟华")


def test_no_partner_is_sent_to_cover_when_their_own_lunch_is_about_to_start(tmp_path: Path) -> None:
    def minute(iso: object) -> int:  # minutes after 09:00 of a break's time
        return int(str(iso)[11:13]) * 60 + int(str(iso)[14:16]) - 9 * 60

    def covers_at(sub: str, when: str) -> list[tuple[str, ...]]:
        """任静 (W1) goes to lunch at her planned start and six people come for 民政; the staff offered to cover W1
        at `when`: "early" (10 min into her lunch) or "late" (10 min before 钟华's own lunch)."""
        (tmp_path / sub).mkdir()
        h = Hall(tmp_path / sub)
        h.morning()
        breaks = {b["window_id"]: b for b in h.decider.lunch.day(T0.date())["breaks"]}  # type: ignore[attr-defined]
        first, second = minute(breaks["W1"]["start"]), minute(breaks["W2"]["start"])
        assert first + 10 < second - 10  # 任静 first, then 钟华 (the partners apart)
        h.minute(first)  # her lunch is due …
        h.play(win(h.feed, (first + 1) * 60, "W1", "window.paused", reason="lunch"))  # … and she goes
        h.play(*(issue(h.feed, (first + 2) * 60 + i, f"m{i}", service="MZ") for i in range(6)))
        h.minute(first + 10 if when == "early" else second - 10)
        return [r.staff for r in h.decider.tidal.pending() if r.windows == ("W1",)]

    assert covers_at("early", "early") == [("S2",)]  # 钟华, her AB partner
    assert covers_at("late", "late") == []  # 钟华's own lunch starts in 10 min: not sent


def test_a_window_paused_just_before_its_lunch_still_gets_its_partner(tmp_path: Path) -> None:
    h = Hall(tmp_path)
    h.morning()
    w1 = next(b for b in h.decider.lunch.day(T0.date())["breaks"] if b["window_id"] == "W1")  # type: ignore[attr-defined]
    start = int(str(w1["start"])[11:13]) * 60 + int(str(w1["start"])[14:16]) - 9 * 60
    h.play(win(h.feed, (start - 40) * 60, "W1", "window.paused", reason="meeting"))  # away 40 min before her lunch
    h.play(*(issue(h.feed, (start - 30) * 60 + i, f"m{i}", service="MZ") for i in range(6)))
    h.minute(start - 10)  # her own lunch is near: that keeps nobody from covering her paused window
    assert [r.staff for r in h.decider.tidal.pending() if r.windows == ("W1",)] == [("S2",)]
