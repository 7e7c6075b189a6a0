"""The day's KPIs: a timeline of contract messages in, the figures on the hall manager's KPI panel and reports out.

Messages go through the real decoder (hall time T0 + seconds, a Monday 09:00 in Asia/Shanghai); no sleeps, no clock.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.codec import DeviceMessage
from devices.simulator import load_scenario
from devices.topics import Channel
from rules.hall import HallProfile, ServiceProfile
from rules.kpi import (
    CSV_COLUMNS,
    DEFAULT_SILENT_AFTER_S,
    SILENT_AFTER_S,
    WAIT_BUCKETS_MIN,
    DayBook,
    DayReport,
    Kpis,
    csv_daily,
    csv_hourly,
)
from rules.language import ByLabel, builtin_rules
from tests.unit.rules.feed import DAY_CLOSES, DAY_OPENS, T0, Feed, county_day, issue, opened, profile_of, win

MIN = 60.0
DAY = T0.date()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fold(
    messages: list[DeviceMessage],
    now_s: float,
    profile: HallProfile | None = None,
    opening_hours: tuple[time, time] | None = None,
) -> DayReport:
    book = DayBook(profile or HallProfile("h1"), DAY, opening_hours=opening_hours)
    for m in messages:
        book.apply(m)
    return book.report(at(now_s))


def call(f: Feed, t: float, ticket: str, window: str = "W1") -> DeviceMessage:
    return win(f, t, window, "ticket.called", ticket_id=ticket)


def serve(f: Feed, t: float, ticket: str, minutes: float, window: str = "W1") -> list[DeviceMessage]:
    """Call, start and complete a ticket at a window: `minutes` of service."""
    return [
        call(f, t, ticket, window),
        win(f, t, window, "service.started", ticket_id=ticket),
        win(f, t + minutes * MIN, window, "service.completed", ticket_id=ticket),
    ]


def cancel(f: Feed, t: float, ticket: str) -> DeviceMessage:
    return f("ticket_machine", "tm1", t, type="ticket.cancelled", ticket_id=ticket)


def hb(f: Feed, kind: str, device: str, *times: float) -> list[DeviceMessage]:
    return [f(kind, device, t, on="hb") for t in times]


def twice(*messages: DeviceMessage) -> list[DeviceMessage]:
    """Each message delivered twice, as QoS 1 does after a lost acknowledgement."""
    return [m for m in messages for _ in range(2)]


def row(report: DayReport, subject: str, hour: str | None = None) -> Kpis | None:
    """The hall's (`hall`) or a service's row, for the day or for the hour starting at `hour` (HH:MM)."""
    service = None if subject == "hall" else subject
    if hour is None:
        return report.hall if service is None else next((s for s in report.services if s.service == service), None)
    return next((r for r in report.hours if r.start.strftime("%H:%M") == hour and r.service == service), None)


def value(report: DayReport, key: str) -> object:
    """`hall.sl_pct`, `tax.issued`, `10:00.hall.issued`; a row that is not there reads as `absent`."""
    *hour, subject, attr = key.split(".")
    r = row(report, subject, hour[0] if hour else None)
    if r is None:
        return "absent"
    got = getattr(r, attr)
    return round(got, 6) if isinstance(got, float) else got


Case = tuple[str, Callable[[Feed], list[DeviceMessage]], float, dict[str, object]]

CASES: list[Case] = [
    (
        "SL15: a 14-min and a 16-min wait make 50 %",
        lambda f: [issue(f, 0, "a1"), issue(f, 0, "a2"), call(f, 14 * MIN, "a1"), call(f, 16 * MIN, "a2")],
        20 * MIN,
        {"hall.sl_pct": 50.0, "hall.called": 2, "hall.mean_wait_min": 15.0, "hall.max_wait_min": 16.0},
    ),
    (
        "a wait of exactly 15 min is within the target",
        lambda f: [issue(f, 0, "a1"), call(f, 15 * MIN, "a1")],
        20 * MIN,
        {"hall.sl_pct": 100.0},
    ),
    (
        "a ticket still waiting after 20 min is a miss",
        lambda f: [issue(f, 0, "a1"), issue(f, 0, "a2"), call(f, 5 * MIN, "a1")],
        20 * MIN,
        {"hall.sl_pct": 50.0, "tax.sl_pct": 50.0, "09:00.hall.sl_pct": 50.0, "hall.mean_wait_min": 5.0},
    ),
    (
        "…but not yet while it has waited less than the target",
        lambda f: [issue(f, 0, "a1"), issue(f, 0, "a2"), call(f, 5 * MIN, "a1")],
        10 * MIN,
        {"hall.sl_pct": 100.0},
    ),
    (
        "nothing called and nobody late: no SL, no waits (not 0 %)",
        lambda f: [issue(f, 0, "a1")],
        5 * MIN,
        {"hall.sl_pct": None, "hall.p95_wait_min": None, "hall.mean_wait_min": None, "hall.issued": 1},
    ),
    (
        "a ticket cancelled after 30 min of waiting is a miss; one cancelled after 2 min is not counted",
        lambda f: [
            issue(f, 0, "a1"),
            issue(f, 0, "a2"),
            issue(f, 0, "a3"),
            call(f, 1 * MIN, "a3"),
            cancel(f, 2 * MIN, "a2"),
            cancel(f, 30 * MIN, "a1"),
        ],
        40 * MIN,
        {"hall.sl_pct": 50.0, "hall.cancelled": 2, "hall.called": 1},
    ),
    (
        "no-show rate: 1 of 4 called tickets nobody came for",
        lambda f: [
            *(issue(f, i, f"a{i}") for i in range(4)),
            *(call(f, 60 + i * MIN, f"a{i}") for i in range(4)),
            win(f, 5 * MIN, "W1", "ticket.no_show", ticket_id="a3", attempt=3),
        ],
        10 * MIN,
        {"hall.no_show_pct": 25.0, "hall.no_shows": 1, "tax.no_show_pct": 25.0},
    ),
    (
        "a missed ticket re-activated (green channel) is called again but its wait counts once",
        lambda f: [
            issue(f, 0, "a1"),
            call(f, 10 * MIN, "a1"),
            win(f, 12 * MIN, "W1", "ticket.no_show", ticket_id="a1"),
            f("ticket_machine", "tm1", 30 * MIN, type="ticket.reactivated", ticket_id="a1"),
            *serve(f, 40 * MIN, "a1", 10),
        ],
        60 * MIN,
        {
            "hall.called": 1,
            "hall.mean_wait_min": 10.0,
            "hall.sl_pct": 100.0,
            "hall.no_shows": 1,
            "hall.served": 1,
            "hall.no_show_pct": 100.0,
        },
    ),
    (
        "a transfer: issued and waited in tax, served in land, the wait counted once",
        lambda f: [
            issue(f, 0, "a1"),
            call(f, 5 * MIN, "a1"),
            win(f, 5 * MIN, "W1", "service.started", ticket_id="a1"),
            win(f, 20 * MIN, "W1", "ticket.transferred", ticket_id="a1", to_service="land"),
            *serve(f, 30 * MIN, "a1", 10, window="W2"),
        ],
        60 * MIN,
        {
            "tax.issued": 1,
            "tax.mean_wait_min": 5.0,
            "tax.served": 0,
            "land.issued": 0,
            "land.served": 1,
            "land.mean_wait_min": None,
            "hall.called": 1,
            "hall.served": 1,
        },
    ),
    (
        "a ticket transferred before its first call waits from its first issue",
        lambda f: [
            issue(f, 0, "a1"),
            win(f, 5 * MIN, "W1", "ticket.transferred", ticket_id="a1", to_service="land"),
            call(f, 20 * MIN, "a1", window="W2"),
        ],
        30 * MIN,
        {"land.mean_wait_min": 20.0, "land.sl_pct": 0.0, "tax.mean_wait_min": None, "hall.issued": 1},
    ),
    (
        "hours: a ticket issued at 10:55 and called at 11:10 counts its wait in the 10:00 hour",
        lambda f: [issue(f, 115 * MIN, "a1"), *serve(f, 130 * MIN, "a1", 10)],
        180 * MIN,
        {
            "10:00.hall.issued": 1,
            "10:00.tax.issued": 1,
            "10:00.hall.mean_wait_min": 15.0,
            "10:00.hall.sl_pct": 100.0,
            "10:00.hall.called": 0,
            "11:00.hall.issued": 0,
            "11:00.hall.called": 1,
            "11:00.hall.served": 1,
            "11:00.hall.mean_wait_min": None,
            "09:00.hall.issued": "absent",
        },
    ),
    (
        "messages of another day are ignored",
        lambda f: [issue(f, -10 * 3600, "y1"), issue(f, 0, "a1"), issue(f, 15 * 3600 + 1, "t1")],
        10 * MIN,
        {"hall.issued": 1, "hall.sl_pct": None},
    ),
    (
        "a redelivered message (same device and seq) is counted once",
        lambda f: twice(issue(f, 0, "a1"), f("kiosk", "k1", 60, type="kiosk.session", outcome="success", duration_s=9)),
        5 * MIN,
        {"hall.issued": 1, "hall.kiosk_sessions": 1},
    ),
    (
        "a call that overtakes its issue is still one ticket with its wait",
        lambda f: list(reversed([issue(f, 0, "a1"), call(f, 5 * MIN, "a1")])),
        10 * MIN,
        {"hall.issued": 1, "hall.called": 1, "hall.mean_wait_min": 5.0},
    ),
    (
        "calls, cancellations and no-shows of tickets never seen are counted, not waited for",
        lambda f: [
            call(f, 0, "x1"),
            cancel(f, 60, "x2"),
            win(f, 120, "W1", "ticket.no_show", ticket_id="x3"),
        ],
        5 * MIN,
        {"hall.called": 2, "hall.cancelled": 1, "hall.no_shows": 1, "hall.issued": 0, "hall.sl_pct": None},
    ),
    (
        "kiosk success: 3 of 4 sessions completed; a session names its service",
        lambda f: [
            f("kiosk", "k1", i * MIN, type="kiosk.session", outcome=o, duration_s=120, **s)
            for i, (o, s) in enumerate(
                [
                    ("success", {"service": "tax"}),
                    ("success", {}),
                    ("success", {}),
                    ("handed_to_window", {"service": "tax"}),
                ]
            )
        ],
        10 * MIN,
        {
            "hall.kiosk_success_pct": 75.0,
            "hall.kiosk_sessions": 4,
            "tax.kiosk_sessions": 2,
            "tax.kiosk_success_pct": 50.0,
        },
    ),
    (
        "satisfaction: ratings of 4 and 5 are satisfied; a rated ticket counts for its service",
        lambda f: [
            issue(f, 0, "a1"),
            *(
                f("evaluator", "e1", 60 + i, type="rating.submitted", window_id="W1", score=score, **extra)
                for i, (score, extra) in enumerate([(5, {"ticket_id": "a1"}), (4, {}), (3, {}), (1, {})])
            ),
            f("evaluator", "e1", 70, type="rating.skipped", window_id="W1"),
        ],
        5 * MIN,
        {"hall.satisfaction_pct": 50.0, "hall.ratings": 4, "tax.ratings": 1, "tax.satisfaction_pct": 100.0},
    ),
    (
        "utilisation: serving 30 of 60 open minutes; a 10-min pause is not open time",
        lambda f: [
            opened(f, 0, "W1"),
            issue(f, 0, "a1"),
            *serve(f, 0, "a1", 20),
            win(f, 20 * MIN, "W1", "window.paused", reason="break"),
            win(f, 30 * MIN, "W1", "window.resumed"),
            issue(f, 30 * MIN, "a2"),
            *serve(f, 30 * MIN, "a2", 10),
            win(f, 70 * MIN, "W1", "window.closed"),
        ],
        120 * MIN,
        {
            "hall.utilisation_pct": 50.0,
            "tax.utilisation_pct": None,
            "09:00.hall.utilisation_pct": 60.0,  # 30 of 50 open minutes
            "10:00.hall.utilisation_pct": 0.0,  # open 10:00-10:10, nobody served
        },
    ),
    (
        "utilisation counts a window that is still open up to now",
        lambda f: [opened(f, 0, "W1"), issue(f, 0, "a1"), *serve(f, 0, "a1", 15)],
        30 * MIN,
        {"hall.utilisation_pct": 50.0},
    ),
    (
        "utilisation from the measured handling time when the start was not reported",
        lambda f: [
            opened(f, 0, "W1"),
            issue(f, 0, "a1"),
            call(f, 10 * MIN, "a1"),
            win(f, 30 * MIN, "W1", "service.completed", ticket_id="a1", duration_s=15 * MIN),
        ],
        60 * MIN,
        {"hall.utilisation_pct": 25.0, "hall.served": 1},
    ),
    (
        "a window heard of only through its work counts as open from its first message",
        lambda f: [issue(f, 0, "a1"), *serve(f, 30 * MIN, "a1", 15)],
        60 * MIN,
        {"hall.utilisation_pct": 50.0},
    ),
    (
        "availability drops while a device's state says offline",
        lambda f: [
            f("kiosk", "k1", 0, on="state", online=True),
            *hb(f, "kiosk", "k1", *range(60, 600, 60)),
            f("kiosk", "k1", 600, on="state", will=True),
            f("kiosk", "k1", 1200, on="state", online=True),
            *hb(f, "kiosk", "k1", *range(1260, 1801, 60)),
        ],
        1800,
        {"hall.availability_pct": round(200 / 3, 6), "tax.availability_pct": "absent"},
    ),
    (
        "availability: a camera silent past its 60 s timeout is down; an evaluator within its 300 s is not",
        lambda f: [*hb(f, "camera", "cam1", 0, 600), *hb(f, "evaluator", "e1", 0, 200, 400, 600)],
        600,
        {"hall.availability_pct": 55.0},
    ),
    (
        "availability counts a device that falls silent up to now",
        lambda f: [*hb(f, "camera", "cam1", *range(0, 301, 30))],
        600,
        {"hall.availability_pct": 60.0},
    ),
]


@pytest.mark.parametrize(("name", "events", "now", "expected"), CASES, ids=[c[0] for c in CASES])
def test_kpis(
    name: str, events: Callable[[Feed], list[DeviceMessage]], now: float, expected: dict[str, object]
) -> None:
    report = fold(events(Feed()), now)
    got = {key: value(report, key) for key in expected}
    assert got == expected


def test_p95_of_20_waits_is_the_19th_shortest() -> None:
    f = Feed()
    messages = [m for i in range(1, 21) for m in (issue(f, 0, f"a{i}"), call(f, i * MIN, f"a{i}"))]
    hall = fold(messages, 30 * MIN).hall
    assert (hall.p95_wait_min, hall.mean_wait_min, hall.max_wait_min) == (19.0, 10.5, 20.0)
    assert hall.sl_pct == 75.0  # 15 of 20 within 15 min


def test_the_waiting_series_goes_up_and_down_and_never_below_zero() -> None:
    f = Feed()
    messages = [
        issue(f, 0, "a1"),
        issue(f, 1 * MIN, "a2"),
        issue(f, 2 * MIN, "a3"),
        call(f, 7 * MIN, "a1"),
        cancel(f, 12 * MIN, "a2"),
        win(f, 16 * MIN, "W1", "ticket.no_show", ticket_id="a3"),  # its call was lost: it leaves the queue anyway
        call(f, 17 * MIN, "a1"),  # a re-call changes nothing
        call(f, 18 * MIN, "ghost"),  # a ticket never seen changes nothing
        issue(f, 22 * MIN, "a4"),
    ]
    report = fold(messages, 25 * MIN)
    assert [(t.strftime("%H:%M"), n) for t, n in report.waiting] == [
        ("09:00", 0),
        ("09:05", 3),
        ("09:10", 2),
        ("09:15", 1),
        ("09:20", 0),
        ("09:25", 1),
    ]


def test_a_call_stamped_before_its_issue_by_a_clock_behind_waits_zero_and_never_makes_the_queue_negative() -> None:
    f = Feed()
    messages = [issue(f, 5 * MIN, "a1"), call(f, 5 * MIN - 10, "a1")]  # the window terminal's clock is 10 s behind
    report = fold(messages, 15 * MIN)
    assert report.hall.mean_wait_min == 0.0
    assert [n for _, n in report.waiting] == [0, 0, 0, 0]


def test_a_report_changes_nothing_and_the_day_goes_on() -> None:
    f = Feed()
    messages = [
        opened(f, 0, "W1"),
        issue(f, 0, "a1"),
        issue(f, 60, "a2"),
        *serve(f, 5 * MIN, "a1", 20),
        f("kiosk", "k1", 0, on="state", online=True),
        *hb(f, "kiosk", "k1", 600, 1800),
        *serve(f, 30 * MIN, "a2", 5),
    ]
    book = DayBook(HallProfile("h1"), DAY)
    for m in messages[:5]:  # up to the start of a1's service
        book.apply(m)
    early = book.report(at(20 * MIN))
    assert book.report(at(20 * MIN)) == early
    for m in messages[5:]:
        book.apply(m)
    assert book.report(at(40 * MIN)) == fold(messages, 40 * MIN)
    assert early.hall.utilisation_pct == 75.0  # serving since 09:05, open since 09:00


def test_arrivals_per_15_min_slot_for_the_hall_and_each_service() -> None:
    f = Feed()
    messages = [issue(f, 0, "a1"), issue(f, 14 * MIN, "b1", "land"), issue(f, 31 * MIN, "a2"), issue(f, 40 * MIN, "a3")]
    report = fold(messages, 50 * MIN, HallProfile("h1", services=(ServiceProfile("tax"), ServiceProfile("id"))))
    assert [(t.strftime("%H:%M"), n) for t, n in report.arrivals] == [
        ("09:00", 2),
        ("09:15", 0),
        ("09:30", 2),
        ("09:45", 0),  # the slot now is in
    ]
    assert report.arrivals_by_service == {"id": (0, 0, 0, 0), "land": (1, 0, 0, 0), "tax": (1, 0, 2, 0)}


def test_wait_histogram_buckets_hold_waits_up_to_their_bound() -> None:
    f = Feed()
    waits = [3, 5, 7, 15, 16, 50, 90]
    messages = [m for i, w in enumerate(waits) for m in (issue(f, 0, f"a{i}"), call(f, w * MIN, f"a{i}"))]
    profile = HallProfile("h1", services=(ServiceProfile("tax"), ServiceProfile("id", "身份证")))
    report = fold(messages, 100 * MIN, profile)
    assert (5, 10, 15, 30, 45, 60, math.inf) == WAIT_BUCKETS_MIN
    assert report.wait_histogram == {"tax": (2, 1, 1, 1, 0, 1, 1), "id": (0, 0, 0, 0, 0, 0, 0)}


def test_configured_services_have_a_row_even_when_nobody_came() -> None:
    profile = HallProfile("h1", services=(ServiceProfile("tax"), ServiceProfile("id")))
    f = Feed()
    report = fold([issue(f, 0, "a1", "land")], 10 * MIN, profile)
    assert [(s.service, s.issued, s.sl_pct) for s in report.services] == [
        ("id", 0, None),
        ("land", 1, None),
        ("tax", 0, None),
    ]


def test_the_day_is_the_halls_local_day() -> None:
    """01:00 in Beijing on the 24th is still 23:00 on the 23rd in Urumqi (UTC+6)."""
    f = Feed()
    messages = [issue(f, 0, "a1"), issue(f, 16 * 3600, "a2")]
    beijing = fold(messages, 20 * MIN)
    urumqi = fold(messages, 20 * MIN, HallProfile("h1", timezone="Asia/Urumqi"))
    assert (beijing.hall.issued, urumqi.hall.issued) == (1, 2)
    assert urumqi.hall.start.isoformat() == "2026-11-23T00:00:00+06:00"


def test_opening_hours_leave_the_night_out_of_availability() -> None:
    f = Feed()
    # a kiosk heartbeats until 09:30 and is switched off: no outage, the hall is closed from then on
    messages = [f("kiosk", "k1", 0, on="state", online=True), *hb(f, "kiosk", "k1", *range(60, 1801, 60))]
    all_day = fold(messages, 3 * 3600)
    opening = fold(messages, 3 * 3600, opening_hours=(time(8, 30), time(9, 30)))
    assert all_day.hall.availability_pct is not None and all_day.hall.availability_pct < 50
    assert opening.hall.availability_pct == 100.0


def test_silence_timeouts_are_the_device_offline_rules() -> None:
    """The panel's "down" and the device-offline alert must agree: the same per-class heartbeat timeouts."""
    rule = next(r for r in builtin_rules().rules if r.id == "device-offline")
    assert rule.when is not None and rule.when.any is not None
    silent = next(c for c in rule.when.any if c.metric == "device.silent_s")
    assert isinstance(silent.value, ByLabel)
    assert silent.value.values == dict(SILENT_AFTER_S)
    assert silent.value.default == DEFAULT_SILENT_AFTER_S


def test_csv_daily_and_hourly_parse_back() -> None:
    f = Feed()
    messages = [
        opened(f, 0, "W1"),
        issue(f, 0, "a1"),
        issue(f, 0, "a2"),
        *serve(f, 14 * MIN, "a1", 2),
        *serve(f, 16 * MIN, "a2", 2),
        issue(f, 70 * MIN, "b1", "land"),
    ]
    report = fold(messages, 80 * MIN, HallProfile("h1", services=(ServiceProfile("tax", "税务"),)))
    daily = list(csv.reader(io.StringIO(csv_daily(report))))
    assert tuple(daily[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:7] == ("hall", "start", "end", "service", "service_name", "issued", "called")
    rows = [dict(zip(daily[0], r, strict=True)) for r in daily[1:]]
    assert [(r["service"], r["service_name"]) for r in rows] == [("", ""), ("land", ""), ("tax", "税务")]
    hall = rows[0]
    assert datetime.fromisoformat(hall["start"]) == datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert hall["start"].endswith("+08:00") and datetime.fromisoformat(hall["end"]) == at(80 * MIN)
    assert (hall["hall"], hall["issued"], hall["served"], hall["sl_pct"], hall["p95_wait_min"]) == (
        "h1",
        "3",
        "2",
        "50.0",
        "16.0",
    )
    assert rows[1]["sl_pct"] == "" and rows[1]["utilisation_pct"] == ""  # nothing to count is empty, not 0
    hourly = list(csv.DictReader(io.StringIO(csv_hourly(report))))
    assert [(r["start"][11:16], r["service"], r["issued"]) for r in hourly] == [
        ("09:00", "", "2"),
        ("09:00", "tax", "2"),
        ("10:00", "", "1"),
        ("10:00", "land", "1"),
    ]


def test_report_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="time zone"):
        DayBook(HallProfile("h1"), DAY).report(datetime(2026, 11, 23, 12, 0))


# ---------------------------------------------------------------------------------------------- a simulated day


def test_a_simulated_county_day_adds_up() -> None:
    day = county_day()
    book = DayBook(profile_of(load_scenario("county")), DAY_OPENS.date())
    applied = 0
    for msg in day.messages:
        book.apply(msg)
        applied += 1
    report, truth = book.report(DAY_CLOSES), day.truth
    hall = report.hall
    assert applied > 30_000
    assert hall.issued == sum(s.issued for s in report.services) == sum(truth.issued.values()) > 150
    assert {s.service: s.issued for s in report.services} == truth.issued
    assert {s.service: s.served for s in report.services} == truth.completed
    still_waiting = report.waiting[-1][1]
    assert hall.served + hall.no_shows + hall.cancelled + still_waiting <= hall.issued + sum(truth.reactivated.values())
    hour_rows = [r for r in report.hours if r.service is None]
    assert sum(r.issued for r in hour_rows) == hall.issued
    assert sum(r.served for r in hour_rows) == hall.served
    for r in (hall, *report.services, *report.hours):
        for pct in (r.sl_pct, r.no_show_pct, r.utilisation_pct, r.kiosk_success_pct, r.satisfaction_pct):
            assert pct is None or 0 <= pct <= 100, r
    assert hall.sl_pct is not None and 50 <= hall.sl_pct <= 100
    assert hall.availability_pct is not None and 90 <= hall.availability_pct <= 100
    assert hall.utilisation_pct is not None and 20 <= hall.utilisation_pct <= 100
    assert hall.p95_wait_min is not None and hall.max_wait_min is not None
    assert 0 < hall.p95_wait_min <= hall.max_wait_min < 180
    assert 2 <= max(n for _, n in report.waiting) <= 40 and still_waiting == 0
    assert sum(sum(h) for h in report.wait_histogram.values()) == hall.called
    assert sum(n for _, n in report.arrivals) == hall.issued
    assert {code: sum(slots) for code, slots in report.arrivals_by_service.items()} == truth.issued
    assert hall.kiosk_sessions > 0 and hall.ratings > 0


def test_a_day_rebuilt_from_heartbeat_rows_reports_what_the_messages_did() -> None:
    """At start-up today's book is rebuilt from the log, heartbeats straight from their rows (no decoding): the
    report — availability included, which is all heartbeats feed — is the one the live messages made."""
    day = county_day()
    profile = profile_of(load_scenario("county"))
    live = DayBook(profile, DAY_OPENS.date())
    rebuilt = DayBook(profile, DAY_OPENS.date())
    heartbeats = 0
    for msg in day.messages:
        live.apply(msg)
        if msg.channel is Channel.HB:
            rebuilt.heartbeat(msg.device_id, msg.device_type.value, msg.seq, msg.at.timestamp())
            heartbeats += 1
        else:
            rebuilt.apply(msg)
    assert heartbeats > 10_000
    assert rebuilt.report(DAY_CLOSES) == live.report(DAY_CLOSES)
    assert live.report(DAY_CLOSES).hall.availability_pct is not None
