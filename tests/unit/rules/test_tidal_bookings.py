"""Appointments (预约) as known future arrivals: the book the recommender reads (rules.tidal.Bookings), and what the
sizing makes of it — windows opened for a wave of booked people before they come, and walk-ins' waits counted with
the appointments the queue system calls ahead of them. Injected times, no clock."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from rules.hall import HallProfile, HallState, ServiceProfile, WindowProfile
from rules.tidal import Bookings, DemandProfile, TidalSettings, recommend_open, window_capabilities
from rules.tidal.bookings import AHEAD_DAYS, MAX_DUE, MAX_PENDING, MAX_PER_SLOT
from rules.tidal.projection import _project, _project_booked
from tests.unit.rules.feed import T0, Feed, issue, opened

CST = timezone(timedelta(hours=8))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def booked(n: int, slot_min_from_t0: float, service: str = "MZ", by: str = "tm1") -> Bookings:
    b = Bookings()
    for i in range(n):
        assert b.book(f"A{i}", service, at(slot_min_from_t0), 30, by, at(-60)) is None
    return b


# -- the book -------------------------------------------------------------------------------------------------------


def test_bookings_are_expected_at_their_slot_thinned_by_the_share_that_comes() -> None:
    b = booked(10, 30)  # ten people booked for 09:30
    assert b.show_share == pytest.approx(0.9)  # nothing learned yet: 9 in 10 come
    expected = b.expected(["MZ"], at(0), 60)
    assert expected == (30.0,) * 9  # nine of the ten, at the slot's start
    assert b.expected(["MZ"], at(0), 20) == ()  # not within the next 20 min
    assert b.expected(["JT"], at(0), 60) == ()  # another service's group


def test_a_booking_late_for_its_slot_is_expected_now_until_its_grace_is_over() -> None:
    b = booked(1, 0)
    b.book("B", "MZ", at(0), 30, "tm1", at(-60))
    assert b.expected(["MZ"], at(20), 60)[0] == 0.0  # 09:20, slot 09:00–09:30: due now
    assert b.settle(at(59)) == 0  # 30 min grace after the slot's end
    assert b.settle(at(61)) == 2  # … then both are no-shows
    assert b.expected(["MZ"], at(61), 60) == ()
    (day,) = b.day(at(61))
    assert (day.booked, day.arrived, day.no_show, day.waiting) == (2, 0, 2, 0)


def test_the_share_that_comes_and_how_early_are_learned_from_the_halls_own_bookings() -> None:
    b = Bookings()
    for i in range(40):
        b.book(f"A{i}", "MZ", at(30), 30, "tm1", at(-60))
    for i in range(20):  # half come, each 10 min before the slot
        b.arrived(f"A{i}", "MZ", at(20))
    b.settle(at(120))
    assert b.show_share == pytest.approx((20 + 9) / (40 + 10))  # 20 came, 20 did not, with the 9-in-10 prior
    assert b.early_min == pytest.approx(10 * 20 / 25)  # 20 came 10 min early, the prior says 0 with weight 5
    for i in range(4):
        b.book(f"N{i}", "MZ", at(200), 30, "tm1", at(120))
    assert b.expected(["MZ"], at(120), 120) == (pytest.approx(80 - 8),) * 2  # 4 × 0.58 make two, 8 min early


def test_a_check_in_and_its_ticket_count_one_arrival() -> None:
    b = booked(1, 0)
    b.arrived("A0", "MZ", at(1))
    b.arrived("A0", "MZ", at(1.5))  # the appointment ticket after the check-in
    assert b.arrivals("MZ", at(5)) == (1, 1)
    assert b.arrivals("MZ", at(30)) == (0, 1)  # the 15-min window has passed, the hour has not
    assert b.book("A0", "MZ", at(60), 30, "tm1", at(2)) == "already_arrived"  # re-published after the visit
    tomorrow = at(24 * 60)  # a queue system numbering its bookings per day books A0 again tomorrow
    assert b.book("A0", "MZ", tomorrow, 30, "tm1", at(2)) is None
    b.arrived("A0", "MZ", tomorrow)
    assert b.day(tomorrow)[0].arrived == 1


def test_only_people_of_a_booking_the_book_holds_are_taken_off_the_walk_ins() -> None:
    """A booked person whose booking the book never held (another system's, a refused one, a qms that names none)
    is not expected either: the live counts keep them, so a stopped booking feed does not make them vanish."""
    b = booked(1, 0)
    b.arrived(None, "MZ", at(1))
    b.arrived("elsewhere", "MZ", at(1))
    assert b.arrivals("MZ", at(5)) == (0, 0)
    b.arrived("A0", "MZ", at(2))
    assert b.arrivals("MZ", at(5)) == (1, 1)


def test_a_refused_booking_does_not_keep_the_feed_known() -> None:
    b = Bookings()
    assert b.book("X", "MZ", at(-120), 30, "tm1", at(0)) == "slot_over"
    assert not b.active(at(0))


def test_a_late_booking_counts_less_the_later_it_is() -> None:
    """Ten booked for 09:00–09:30: at 09:00 nine are expected; by 09:40, with nobody come, fewer; none once the slot
    and its grace are over — mostly no-shows by then, not people about to walk in."""
    b = booked(10, 0)
    assert len(b.expected(["MZ"], at(0), 20)) == 9
    assert len(b.expected(["MZ"], at(40), 20)) == 3  # 40 of 60 minutes late: a third of 9 in 10
    assert b.expected(["MZ"], at(61), 20) == ()


def test_a_move_that_cannot_be_kept_drops_the_booking_from_its_old_slot() -> None:
    b = booked(1, 30)
    assert b.book("A0", "MZ", T0 + timedelta(days=AHEAD_DAYS + 1), 30, "tm1", T0) == "too_far_ahead"
    assert b.expected(["MZ"], at(0), 60) == () and b.pending == 0
    (day,) = b.day(at(0))
    assert day.booked == 0  # moved away from today


def test_a_device_cannot_crowd_a_slot_or_flood_the_projection() -> None:
    b = Bookings()
    for i in range(MAX_PER_SLOT):
        assert b.book(f"A{i}", "MZ", at(10), 30, "tm1", T0) is None
    assert b.book("over", "MZ", at(12), 30, "tm1", T0) == "too_many_in_slot"  # the same 15-min slot
    assert b.book("A0", "MZ", at(12), 30, "tm1", T0) is None  # one it holds may move within the slot
    for i in range(MAX_PER_SLOT):
        assert b.book(f"B{i}", "MZ", at(25 + i % 5), 30, "tm1", T0) is None
    b2 = Bookings()
    for k in range(10):
        for i in range(MAX_PER_SLOT):
            b2.book(f"C{k}-{i}", "MZ", at(k * 15), 30, "tm1", T0 - timedelta(hours=1))
    assert len(b2.expected(["MZ"], at(0), 200)) == MAX_DUE


def test_another_device_cannot_move_or_cancel_a_booking() -> None:
    b = booked(1, 30, by="tm1")
    assert b.cancel("A0", "tm2") == "not_owner"
    assert b.book("A0", "JT", at(90), 30, "tm2", at(0)) == "not_owner"
    assert b.expected(["MZ"], at(0), 60) == (30.0,)  # still there, as tm1 booked it
    assert b.book("A0", "MZ", at(45), 30, "tm1", at(0)) is None  # tm1 moves it
    assert b.expected(["MZ"], at(0), 60) == (45.0,)
    assert b.cancel("A0", "tm1") is None
    assert b.expected(["MZ"], at(0), 60) == ()
    assert b.refused == {"not_owner": 2}


@pytest.mark.parametrize(
    ("slot", "reason"),
    [
        (datetime(9999, 12, 29, tzinfo=CST), "too_far_ahead"),  # the latest time the contract takes
        (T0 + timedelta(days=AHEAD_DAYS, minutes=1), "too_far_ahead"),
        (datetime(1970, 1, 2, tzinfo=CST), "slot_over"),
        (T0 - timedelta(hours=2), "slot_over"),
    ],
)
def test_a_slot_over_or_beyond_two_weeks_is_refused_and_counted(slot: datetime, reason: str) -> None:
    b = Bookings()
    assert b.book("X", "MZ", slot, 30, "tm1", T0) == reason
    assert b.pending == 0 and b.refused == {reason: 1}


def test_the_book_holds_at_most_max_pending_bookings() -> None:
    b = Bookings()
    for i in range(MAX_PENDING):
        assert b.book(f"A{i}", "MZ", at(60 + i // 100 * 15), 30, "tm1", T0) is None
    assert b.book("one-more", "MZ", at(60), 30, "tm1", T0) == "too_many"
    assert b.book("A0", "MZ", at(90), 30, "tm1", T0) is None  # moving one it holds is still taken
    assert b.pending == MAX_PENDING


def test_the_bookings_are_known_while_the_queue_system_publishes_them() -> None:
    b = Bookings()
    assert not b.active(T0)
    b.book("A", "MZ", at(30), 30, "tm1", T0)
    assert b.active(T0 + timedelta(days=6))
    assert not b.active(T0 + timedelta(days=8))  # silent for over a week: the feed stopped, assume none


# -- the profile learns the walk-ins apart ----------------------------------------------------------------------------


def test_the_profile_tells_the_walk_in_rate_apart_from_the_appointments() -> None:
    p = DemandProfile("Asia/Shanghai")
    for i in range(8):
        p.add("MZ", at(1 + i) - timedelta(days=7), appointment=i < 2)
    next_week = at(5)
    assert p.rate("MZ", next_week) == 32.0  # 8 in the 09:00 slot, per hour
    assert p.walk_in_rate("MZ", next_week) == 24.0  # 6 walk-ins
    loaded = DemandProfile.load(p.dump())
    assert loaded.walk_in_rate("MZ", next_week) == 24.0


# -- the projection ----------------------------------------------------------------------------------------------------


def test_walk_ins_wait_for_the_appointments_called_ahead_of_them() -> None:
    """One window, busy for 15 more min (10-min services); a walk-in now and every 10 min; four booked people due at
    minute 5. Called in issue order the walk-in of now is next (15 min); with appointments called as if they had
    waited 10 min longer, all four pass it (55 min) — the wait the sizing must keep within the target."""
    fifo = _project([15.0], 0, 0.0, (), 10.0, 6.0, 10.0, 20.0, 15.0, booked=[5.0] * 4, boost=0.0)
    ahead = _project([15.0], 0, 0.0, (), 10.0, 6.0, 10.0, 20.0, 15.0, booked=[5.0] * 4, boost=10.0)
    plain = _project([15.0], 0, 0.0, (), 10.0, 6.0, 10.0, 20.0, 15.0)
    assert (plain.first, plain.worst, plain.late) == (15.0, 15.0, 0)  # without bookings: 15 min each, none late
    assert (fifo.first, fifo.worst) == (15.0, 55.0)  # the walk-ins of 10 and 20 wait behind the four
    assert (ahead.first, ahead.worst) == (55.0, 55.0)  # the walk-in of now too


HALL = HallProfile(
    "h1",
    "Asia/Shanghai",
    services=(ServiceProfile("MZ", "民政"),),
    windows=(
        WindowProfile("W1", services=("MZ",)),
        WindowProfile("W2", services=("MZ",)),
        WindowProfile("W3", services=("MZ",)),
    ),
)


def quiet_morning() -> HallState:
    """W1 open for 民政, W2 and W3 closed and online; nobody waiting, two walk-ins in the last hour."""
    state = HallState(HALL)
    feed = Feed()
    for msg in [
        opened(feed, 0, "W1", "MZ"),
        feed("window", "W2", 0, on="state", online=True),
        feed("window", "W3", 0, on="state", online=True),
        issue(feed, 60, "m1", service="MZ"),
        issue(feed, 120, "m2", service="MZ"),
    ]:
        state.apply(msg)
    return state


def test_a_wave_of_booked_people_gets_its_windows_before_it_comes() -> None:
    state = quiet_morning()
    now = at(20)  # 09:20, the ten booked for 09:30 due in 10 min
    hall = state.snapshot(now)
    caps = window_capabilities(HALL, hall)
    settings = TidalSettings()
    profile = DemandProfile("Asia/Shanghai")
    assert recommend_open(hall, caps, profile, settings, now) == []  # nobody waits: nothing to open
    profile.bookings = booked(10, 30)
    (rec,) = recommend_open(hall, caps, profile, settings, now)
    assert rec.appointments == 9  # nine of the ten expected
    assert rec.n >= 1 and set(rec.windows) <= {"W2", "W3"}
    assert rec.late_after < rec.late


def test_bookings_not_heard_for_a_week_are_not_counted() -> None:
    state = quiet_morning()
    now = at(20) + timedelta(days=8)
    profile = DemandProfile("Asia/Shanghai")
    profile.bookings = booked(10, 30 + 8 * 24 * 60)  # booked (at T0 − 1 h) for a week on: the feed went quiet
    hall = state.snapshot(now)
    assert recommend_open(hall, window_capabilities(HALL, hall), profile, TidalSettings(), now) == []


def reference(
    free: list[float],
    new: int,
    delay: float,
    waited: list[float],
    backlog_aht: float,
    rate: float,
    aht: float,
    horizon: float,
    target: float,
    leaves: list[float],
    returning: list[float],
    booked: list[float],
    boost: float,
) -> tuple[float, float, int]:
    """The queue as the qms calls it, minute by minute of events, written plainly: windows (free from, stop calling
    at), every ticket with its arrival and rank; whenever a window frees, the best-ranked ticket that has arrived."""
    windows = [[f, leaves[i] if i < len(leaves) else math.inf] for i, f in enumerate(free)]
    windows += [[delay, math.inf] for _ in range(new)] + [[r, math.inf] for r in returning]
    per_min = rate / 60
    count = math.floor(horizon * per_min + 1e-9) if per_min > 0 else 0
    tickets = [(0.0, -w, backlog_aht, w, "waiting") for w in waited]
    tickets += [(k / per_min if k else 0.0, k / per_min if k else 0.0, aht, 0.0, "now" if k == 0 else "new")
                for k in range(count + 1)]  # fmt: skip
    tickets += [(m, m - boost, aht, 0.0, "new") for m in booked]
    left = sorted(tickets, key=lambda x: (x[0], x[1]))
    first = worst = 0.0
    late = 0
    order = 0
    while left:
        usable = [w for w in windows if max(w[0], min(x[0] for x in left)) < w[1] - 1e-9]
        if not usable:
            for x in left:
                first = math.inf if x[4] == "now" else first
                worst = math.inf if x[4] != "waiting" else worst
                late += 1
            break
        w = min(usable, key=lambda w: (w[0], w[1]))
        at = max(w[0], min(x[0] for x in left))
        ready = [x for x in left if x[0] <= at + 1e-9]
        pick = min(ready, key=lambda x: (x[1], left.index(x)))
        left.remove(pick)
        order += 1
        wait = at - pick[0]
        w[0] = at + pick[2]
        if pick[4] == "now":
            first = wait
        if pick[4] != "waiting":
            worst = max(worst, wait)
        if pick[3] + wait > target + 1e-9:
            late += 1
    return first, worst, late


@pytest.mark.parametrize("seed", range(60))
def test_the_appointment_projection_calls_as_the_queue_system_does(seed: int) -> None:
    """`_project` with bookings (`_project_booked`) against the plain account of the same queue: backlogs, windows
    leaving for lunch and coming back, new windows, walk-ins and bookings inside the horizon, with and without the
    appointments' head start — drawn at random; and with no booking it gives the plain FIFO projection's figures."""
    rng = random.Random(seed)
    free = sorted(rng.uniform(0, 12) for _ in range(rng.randint(1, 4)))
    leaves = [rng.choice([math.inf, rng.uniform(0, 20)]) for _ in free]
    returning = [rng.uniform(0, 20) for _ in range(rng.randint(0, 2))]
    waited = sorted((rng.uniform(0, 30) for _ in range(rng.randint(0, 8))), reverse=True)
    booked = sorted(rng.uniform(0, 20) for _ in range(rng.randint(1, 8)))
    boost = rng.choice([0.0, 10.0])
    args = (free, rng.randint(0, 2), 5.0, waited, rng.uniform(3, 15), rng.uniform(0, 40), rng.uniform(3, 15), 20.0)
    got = _project(*args, 15.0, leaves, returning, booked, boost)
    first, worst, late = reference(*args, 15.0, leaves, returning, booked, boost)
    assert (got.first, got.worst, got.late) == (pytest.approx(first), pytest.approx(worst), late)
    plain = _project(*args, 15.0, leaves, returning)
    alone = _project_booked(*args, 15.0, leaves, returning, [], boost)
    assert (alone.first, alone.worst, alone.late) == (plain.first, pytest.approx(plain.worst), plain.late)
    assert alone.late_min == pytest.approx(plain.late_min)


def test_bookings_after_the_usual_closing_are_counted_an_evening_session_is_open() -> None:
    """Last Monday the hall issued tickets only until 09:30 (its usual closing, as the profile learned it); today
    ten people are booked for an extra session at 09:35: the sizing counts them, not the learned closing."""
    state = quiet_morning()
    profile = DemandProfile("Asia/Shanghai")
    for i in range(12):
        profile.add("MZ", at(i * 2.5) - timedelta(days=7))  # 09:00–09:27 last Monday
    now = at(20)
    assert profile.closed_from(now, 20) == 10.0  # no arrivals expected after 09:30 …
    profile.bookings = booked(10, 35)
    hall = state.snapshot(now)
    (rec,) = recommend_open(hall, window_capabilities(HALL, hall), profile, TidalSettings(), now)
    assert rec.appointments == 9  # … but the booked ones come
