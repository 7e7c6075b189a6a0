"""Per-window and per-staff performance and why a row served more than it issued (issue 19, rules/kpi.py): small
days worked out by hand — a pause over lunch, a ticket transferred to another service, a ticket issued the day before
and served today, a staff change at a window — and the same figures from a simulated city day."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from devices.codec import DeviceMessage
from devices.simulator import load_scenario
from rules.hall import HallProfile, ServiceProfile, WindowProfile
from rules.kpi import (
    DayBook,
    DayReport,
    Performance,
    csv_staff,
    csv_windows,
)
from tests.unit.rules.feed import DAY_CLOSES, DAY_OPENS, T0, Feed, county_day, issue, profile_of, win

DAY = T0.date()
PROFILE = HallProfile(
    "h1",
    services=(ServiceProfile("tax", "税务"), ServiceProfile("land", "不动产")),
    windows=(WindowProfile("W1", "税务1号窗", ("tax",)), WindowProfile("W2", "不动产1号窗", ("land",))),
)


def report(messages: list[DeviceMessage], seconds: float, profile: HallProfile = PROFILE) -> DayReport:
    book = DayBook(profile, DAY)
    for m in messages:
        book.apply(m)
    return book.report(T0 + timedelta(seconds=seconds))


def row(rows: tuple[Performance, ...], key: str | None) -> Performance:
    return next(r for r in rows if r.id == key)


def sign_in(f: Feed, t: float, window: str, staff: str, *services: str) -> DeviceMessage:
    return win(f, t, window, "window.opened", staff_id=staff, services=list(services))


def served(f: Feed, t: float, window: str, ticket: str, minutes: float, duration: bool = True) -> list[DeviceMessage]:
    """Called and started at `t` (seconds after 09:00), completed `minutes` later."""
    done: dict[str, object] = {"ticket_id": ticket}
    if duration:
        done["duration_s"] = minutes * 60
    return [
        win(f, t, window, "ticket.called", ticket_id=ticket),
        win(f, t, window, "service.started", ticket_id=ticket),
        win(f, t + minutes * 60, window, "service.completed", **done),
    ]


def rating(f: Feed, t: float, window: str, ticket: str, score: int) -> DeviceMessage:
    return f("evaluator", f"EV-{window}", t, type="rating.submitted", window_id=window, ticket_id=ticket, score=score)


def morning(f: Feed) -> list[DeviceMessage]:
    """09:00 W1 (S1, tax) and W2 (S2, land) sign in. t1 is issued for tax at 09:01, served at W1 09:02–09:07 and rated
    5. t2 is issued for tax at 09:03, called at W1 at 09:08, transferred to land at 09:10 and served at W2 09:11–09:21
    (rated 2). y1 was issued the day before (no issue today): W2 serves it 09:01–09:06, its terminal not measuring the
    time (start → end: 5 min). W1 pauses for lunch 11:30–12:45."""
    return [
        sign_in(f, 0, "W1", "S1", "tax"),
        sign_in(f, 0, "W2", "S2", "land"),
        issue(f, 60, "t1", "tax"),
        issue(f, 180, "t2", "tax"),
        *served(f, 120, "W1", "t1", 5),
        rating(f, 430, "W1", "t1", 5),
        win(f, 480, "W1", "ticket.called", ticket_id="t2"),
        win(f, 480, "W1", "service.started", ticket_id="t2"),
        win(f, 600, "W1", "ticket.transferred", ticket_id="t2", to_service="land"),
        *served(f, 60, "W2", "y1", 5, duration=False),
        *served(f, 660, "W2", "t2", 10),
        rating(f, 1270, "W2", "t2", 2),
        win(f, 9000, "W1", "window.paused", reason="lunch"),
        win(f, 13500, "W1", "window.resumed"),
    ]


def test_each_window_and_staff_member_by_hand() -> None:
    """At 13:00: W1 served t1 only (t2 left it for another service), 5 min; open 09:00–11:30 and 12:45–13:00 (165
    min), serving t1 5 min and t2 2 min, so idle 158 min; one pause of 75 min over lunch; one rating, satisfied. W2
    served y1 (5 min, start → end) and t2 (10 min): AHT 7.5 min; open 240 min, serving 15, idle 225; its one rating
    (2) is below the satisfaction target. The staff rows are the same, and the windows' served add up to the hall's."""
    r = report(morning(Feed()), 4 * 3600)
    w1, w2 = row(r.windows.rows, "W1"), row(r.windows.rows, "W2")
    assert (w1.served, w1.aht_min, w1.staff) == (1, pytest.approx(5.0), ("S1",))
    assert (w1.open_min, w1.serving_min, w1.idle_min) == (pytest.approx(165), pytest.approx(7), pytest.approx(158))
    assert (w1.pauses, w1.pause_min) == (1, pytest.approx(75))
    assert (w1.ratings, w1.satisfaction_pct, w1.misses) == (1, pytest.approx(100), ())
    assert (w2.served, w2.aht_min, w2.staff) == (2, pytest.approx(7.5), ("S2",))
    assert (w2.open_min, w2.serving_min, w2.idle_min) == (pytest.approx(240), pytest.approx(15), pytest.approx(225))
    assert (w2.pauses, w2.pause_min, w2.ratings, w2.satisfaction_pct) == (0, 0, 1, 0)
    assert w2.misses == ("satisfaction",)
    assert r.windows.aht_median_min == pytest.approx(6.25)  # neither is above 1.5 × 6.25 min
    assert sum(w.served for w in r.windows.rows) == r.hall.served == 3
    s1, s2 = row(r.staff.rows, "S1"), row(r.staff.rows, "S2")
    assert (s1.windows, s1.served, s1.pauses, s1.pause_min, s1.idle_min) == (
        ("W1",),
        1,
        1,
        pytest.approx(75),
        pytest.approx(158),
    )
    assert (s2.windows, s2.served, s2.aht_min) == (("W2",), 2, pytest.approx(7.5))
    assert [s.id for s in r.staff.rows] == ["S1", "S2"]


def test_a_pause_still_running_counts_up_to_now() -> None:
    r = report(morning(Feed()), 9000 + 20 * 60)  # 11:50, twenty minutes into lunch
    w1 = row(r.windows.rows, "W1")
    assert (w1.pauses, w1.pause_min, w1.open_min) == (1, pytest.approx(20), pytest.approx(150))


def test_why_more_served_than_issued_by_hand() -> None:
    """The hall issued 2 and served 3: y1 was issued the day before. Tax issued 2 and served 1: t2 went to land.
    Land issued none and served 1: t2 (transferred in). y1's service is not known (its issue is not in today's log),
    so it counts for the hall only."""
    r = report(morning(Feed()), 4 * 3600)
    why = {s.service: (s.issued, s.served, s.before, s.transferred_in, s.transferred_out) for s in r.served_from}
    assert why == {None: (2, 3, 1, 0, 0), "tax": (2, 1, 0, 0, 1), "land": (0, 1, 0, 1, 0)}
    assert [s.service for s in r.served_from] == [None, *(k.service for k in r.services)]


def test_a_staff_change_at_an_open_window_splits_its_time() -> None:
    """W1 opens at 09:00 with S1; at 10:00 S3 signs in at it (no close between). S1 served a ticket at 09:10, S3 one at
    10:10: each has one, and the window's open time (2 h at 11:00) is 60 min each."""
    f = Feed()
    msgs = [
        sign_in(f, 0, "W1", "S1", "tax"),
        issue(f, 0, "a", "tax"),
        issue(f, 0, "b", "tax"),
        *served(f, 600, "W1", "a", 10),
        sign_in(f, 3600, "W1", "S3", "tax"),
        *served(f, 4200, "W1", "b", 20),
    ]
    r = report(msgs, 7200)
    s1, s3 = row(r.staff.rows, "S1"), row(r.staff.rows, "S3")
    assert (s1.served, s1.aht_min, s1.open_min, s1.idle_min) == (
        1,
        pytest.approx(10),
        pytest.approx(60),
        pytest.approx(50),
    )
    assert (s3.served, s3.aht_min, s3.open_min, s3.idle_min) == (
        1,
        pytest.approx(20),
        pytest.approx(60),
        pytest.approx(40),
    )
    assert row(r.windows.rows, "W1").staff == ("S1", "S3")
    assert row(r.windows.rows, "W1").open_min == pytest.approx(120)


def test_an_aht_far_above_the_median_is_a_miss() -> None:
    """Three windows with AHTs of 5, 6 and 12 min: the median is 6; 12 > 1.5 × 6, so W3 is marked."""
    f = Feed()
    msgs: list[DeviceMessage] = []
    for i, minutes in enumerate((5, 6, 12), start=1):
        msgs += [
            sign_in(f, 0, f"W{i}", f"S{i}", "tax"),
            issue(f, 0, f"k{i}", "tax"),
            *served(f, 60, f"W{i}", f"k{i}", minutes),
        ]
    r = report(msgs, 3600)
    assert r.windows.aht_median_min == pytest.approx(6)
    assert {w.id: w.misses for w in r.windows.rows} == {"W1": (), "W2": (), "W3": ("aht",)}
    assert row(r.staff.rows, "S3").misses == ("aht",)


def test_the_tables_survive_a_save_and_load() -> None:
    """A gateway restarted mid-day (after the transfer, during lunch) reports the same tables as one that never
    stopped."""
    f = Feed()
    msgs = morning(f)
    book = DayBook(PROFILE, DAY)
    for m in msgs[:-1]:
        book.apply(m)
    again = DayBook.load(PROFILE, book.dump(), 15.0)
    for book_ in (book, again):
        book_.apply(msgs[-1])
    now = T0 + timedelta(hours=4)
    assert again.report(now) == book.report(now)


def test_csv_headers_with_units_in_both_languages_and_names() -> None:
    r = report(morning(Feed()), 4 * 3600)
    zh = list(csv.reader(io.StringIO(csv_windows(r, "zh", {"W1": "税务1号窗"}, {"S1": "王芳"}))))
    assert zh[0][:5] == ["大厅", "窗口", "窗口名称", "工作人员", "办结（张）"]
    assert "平均办理时长（分钟）" in zh[0] and "暂停时长（分钟）" in zh[0] and "满意率（%）" in zh[0]
    assert zh[1][:5] == ["h1", "W1", "税务1号窗", "王芳", "1"]
    assert zh[2][1] == "W2" and zh[2][3] == "S2"  # no name: the staff id
    assert zh[2][-1] == "满意率低于目标 90%"
    en = list(csv.reader(io.StringIO(csv_staff(r, "en", {"W1": "Tax 1"}, {"S1": "Wang Fang"}))))
    assert en[0][:5] == ["Hall", "Staff id", "Staff", "Windows", "Served (tickets)"]
    assert "Average handling time (min)" in en[0] and "Paused (min)" in en[0] and "Idle (min)" in en[0]
    s1 = en[1]
    assert s1[:4] == ["h1", "S1", "Wang Fang", "Tax 1"]
    assert s1[en[0].index("Pauses (count)")] == "1" and s1[en[0].index("Paused (min)")] == "75.0"
    assert en[2][-1] == "satisfaction below the 90% target"


def test_a_simulated_county_day_adds_up_per_window_and_per_staff() -> None:
    """The county hall's simulated Monday: the windows' served add up to the hall's, and so do the staff's; each
    window's open time is its serving plus idle time and its utilisation is the hall's kind; every staff member of
    the scenario's windows has a row; pauses (the lunch breaks) are there; the ratings add up to the hall's."""
    scenario = load_scenario("county")
    book = DayBook(profile_of(scenario), DAY_OPENS.date())
    for msg in county_day().messages:
        book.apply(msg)
    r = book.report(DAY_CLOSES)
    for people in (r.windows, r.staff):
        assert sum(w.served for w in people.rows) == r.hall.served > 100
        assert sum(w.ratings for w in people.rows) == r.hall.ratings > 0
        for w in people.rows:
            assert w.open_min == pytest.approx(w.serving_min + w.idle_min)
            assert w.aht_min is None or 0 < w.aht_min < 120, w
    assert [w.id for w in r.windows.rows] == sorted(w.id for w in scenario.windows)  # the shut ones too, with 0
    worked = [w for w in r.windows.rows if w.open_min]
    assert {s.id for s in r.staff.rows} == {s for w in worked for s in w.staff} >= {"S1001", "S1002"}
    assert sum(w.pauses for w in r.windows.rows) > 0
    serving = sum(w.serving_min for w in r.windows.rows) / sum(w.open_min for w in r.windows.rows) * 100
    assert r.hall.utilisation_pct == pytest.approx(serving, abs=0.5)
    hall = r.served_from[0]
    assert hall.served - hall.before <= hall.issued
