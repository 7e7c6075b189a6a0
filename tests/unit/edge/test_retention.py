"""Retention and the disk budget as pure decisions (edge/retention.py): what is old at a given moment, when the data
directory warns, how many of the oldest events the budget takes, and how many days the budget holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.retention import (
    DAY_S,
    MAX_DAYS,
    DiskUsage,
    Level,
    Policy,
    assess,
    budget_cut,
    clock_ahead,
    days_that_fit,
    horizons,
    log_jump,
)

MB = 1024 * 1024
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def usage(db_mb: float, *, free_db_mb: float = 0, wal_mb: float = 0, backups_mb: float = 0, other_mb: float = 0,
          fs_free_mb: float = 50_000, events: int = 1_000_000, events_day: int = 10_000) -> DiskUsage:  # fmt: skip
    return DiskUsage(
        int(db_mb * MB), int(free_db_mb * MB), int(wal_mb * MB), int(backups_mb * MB), int(other_mb * MB),
        int(fs_free_mb * MB), events, events_day,
    )  # fmt: skip


def test_each_table_is_kept_its_own_days_before_the_moment_given() -> None:
    h = horizons(Policy(events_days=90, alert_history_days=365, outbox_days=30, records_days=200), NOW)
    assert h.events == (NOW - timedelta(days=90)).timestamp()
    assert h.alert_history == (NOW - timedelta(days=365)).timestamp()
    assert h.outbox == (NOW - timedelta(days=30)).timestamp()
    assert h.records == (NOW - timedelta(days=200)).timestamp()
    later = horizons(Policy(), NOW + timedelta(hours=1))
    assert later.events - horizons(Policy(), NOW).events == 3600  # the horizon moves with the clock given


def test_days_beyond_a_hundred_years_keep_all_rather_than_crash() -> None:
    # 1,000,000 days raised OverflowError in the upkeep task at every start: a gateway in a restart loop
    h = horizons(Policy(events_days=10**12, alert_history_days=3_000_000, outbox_days=MAX_DAYS), NOW)
    assert h.events == h.alert_history == h.outbox == NOW.timestamp() - MAX_DAYS * DAY_S


def test_a_clock_far_ahead_of_every_stored_row_is_not_pruned_against() -> None:
    newest = NOW.timestamp()
    assert clock_ahead(newest + 3600, newest) is None  # an hour: the hall was quiet
    assert clock_ahead(newest, None) is None  # nothing stored: nothing to lose
    words = clock_ahead(datetime(2036, 1, 1, tzinfo=UTC).timestamp(), newest)
    assert words is not None and "2036-01-01" in words and "2026-12-06" in words and "3,312" in words


def test_a_horizon_in_a_recent_jump_of_the_log_is_not_pruned_against() -> None:
    now = datetime(2036, 1, 1, 5, tzinfo=UTC).timestamp()  # five hours after a box came up with a wrong date
    horizon = now - 90 * DAY_S
    before_jump, after_jump = NOW.timestamp(), datetime(2036, 1, 1, tzinfo=UTC).timestamp()
    words = log_jump(horizon, before_jump, after_jump, now)
    assert words is not None and "jumps from 2026-12-06" in words
    # a continuous log across the horizon, and an old gap (the gateway off a week, 80 days ago): pruned as usual
    assert log_jump(horizon, horizon - 30, horizon + 30, now) is None
    assert log_jump(horizon, horizon - 7 * DAY_S, now - 80 * DAY_S, now) is None
    assert log_jump(horizon, None, now - 3600, now) is None  # nothing before the horizon to lose


@pytest.mark.parametrize(
    ("db_mb", "fs_free_mb", "level", "words"),
    [
        (700, 50_000, Level.OK, []),
        (800, 50_000, Level.WARNING, ["80% of its disk budget"]),
        (949, 50_000, Level.WARNING, ["of its disk budget"]),
        (950, 50_000, Level.CRITICAL, ["95% of its disk budget"]),
        (1100, 50_000, Level.CRITICAL, ["110% of its disk budget", "oldest events are being deleted"]),
        (100, 900, Level.WARNING, ["filesystem nearly full: 900 MB free"]),
        (100, 400, Level.CRITICAL, ["filesystem nearly full: 400 MB free"]),
        (850, 400, Level.CRITICAL, ["85% of its disk budget", "filesystem nearly full"]),
    ],
)
def test_the_level_follows_the_share_of_the_budget_and_the_free_space(
    db_mb: float, fs_free_mb: float, level: Level, words: list[str]
) -> None:
    a = assess(usage(db_mb, fs_free_mb=fs_free_mb), budget=1000 * MB, free_min=1024 * MB)
    assert a.level is level
    said = " ".join(a.problems)
    for w in words:
        assert w in said
    assert bool(a.problems) == (level is not Level.OK)


def test_the_budget_is_the_databases_and_backups_are_reported_apart() -> None:
    a = assess(usage(700, wal_mb=100), budget=1000 * MB, free_min=0)
    assert a.level is Level.WARNING and a.share == pytest.approx(0.8)  # its -wal counts
    # 14 nightly backups and a restore's kept-aside file beside it: not in the budget, not a reason to warn
    roomy = assess(usage(500, backups_mb=7000, other_mb=500), budget=1000 * MB, free_min=1024 * MB)
    assert roomy.level is Level.OK and roomy.problems == ()
    # on a filesystem nearly full they are named, with what to do
    tight = assess(usage(500, backups_mb=7000, other_mb=500, fs_free_mb=800), budget=1000 * MB, free_min=1024 * MB)
    assert tight.level is Level.WARNING
    said = " ".join(tight.problems)
    assert "7,500 MB beside the database (7,000 MB backups, 500 MB other" in said and "rotate or move them" in said


def test_within_the_budget_nothing_is_cut() -> None:
    assert budget_cut(usage(999), budget=1000 * MB) == 0


def test_over_the_budget_the_oldest_events_go_until_under_ninety_percent() -> None:
    u = usage(1200, events=1_200_000)  # 1 KB of the file per event (a little high: the log is most of it)
    cut = budget_cut(u, budget=1000 * MB)
    per_event = 1200 * MB / 1_200_000
    assert cut == pytest.approx((1200 - 900) * MB / per_event, abs=2)
    assert 1200 * MB - cut * per_event <= 900 * MB  # under 90 % once the pages are given back


def test_space_already_free_in_the_file_is_not_paid_for_again_with_events() -> None:
    # the file is over the budget, but most of it is free pages the vacuum is giving back: deleting events for
    # that space would empty the log without shrinking the file any faster
    assert budget_cut(usage(1100, free_db_mb=300), budget=1000 * MB) == 0
    # part of it free: only the rest is cut
    some = budget_cut(usage(1100, free_db_mb=100, events=1_000_000), budget=1000 * MB)
    assert 0 < some < budget_cut(usage(1100, events=1_000_000), budget=1000 * MB)


def test_backups_and_other_files_never_cut_an_event() -> None:
    # backups and a kept-aside database far beyond the budget: the hall's events are not deleted to make room
    assert budget_cut(usage(100, backups_mb=2000, other_mb=4000, events=50_000), budget=1000 * MB) == 0


def test_over_the_budget_for_what_deleting_events_would_not_fix_the_words_say_so() -> None:
    # a -wal alone beyond the budget: no cut, and the words do not claim events are being deleted
    u = usage(100, wal_mb=1500, events=50_000)
    assert budget_cut(u, budget=1000 * MB) == 0
    said = " ".join(assess(u, budget=1000 * MB, free_min=0).problems)
    assert "160% of its disk budget" in said and "being deleted" not in said and "not the events' doing" in said


def test_an_empty_log_is_never_cut() -> None:
    assert budget_cut(usage(2000, events=0), budget=1000 * MB) == 0


def test_days_that_fit_at_todays_rate() -> None:
    # 1 KB an event, 100,000 events a day = 100 MB a day (in the units of the file); a 200 MB -wal besides
    u = usage(1000, wal_mb=200, backups_mb=5000, events=1_024_000, events_day=102_400)
    assert days_that_fit(u, budget=2000 * MB) == pytest.approx((2000 - 200) / 100)  # the backups take none of it
    assert days_that_fit(usage(1000, events_day=0), budget=2000 * MB) is None  # no day to go by
    assert days_that_fit(usage(1000, wal_mb=5000), budget=2000 * MB) == 0.0  # the -wal alone fills it


def test_days_that_fit_of_a_file_whose_rows_are_all_still_in_its_wal_is_unknown_not_a_crash() -> None:
    # a new file in WAL mode: the events counted, the database file all header and free pages (its rows in the -wal):
    # no live bytes per event to go by (this divided by zero and stopped the gateway's upkeep task)
    u = usage(1, free_db_mb=1, wal_mb=40, events=20_000, events_day=20_000)
    assert u.bytes_per_event == 0
    assert days_that_fit(u, budget=2000 * MB) is None
