"""What the gateway keeps and for how long, and what its data directory may use of the disk: pure decisions.

    horizons(policy, now)           → the time before which each table's rows go (events, alert history, sent
                                      notifications, closed records)
    clock_ahead(now, newest) / log_jump(…) → why the box's clock is not to be pruned against now (far ahead of
                                      anything stored, or the log jumping ahead just before its newest rows)
    assess(usage, budget, free_min) → the disk's level (ok / warning / critical) and the reasons, in words
    budget_cut(usage, …)            → how many of the oldest events to delete to get back under the budget
    days_that_fit(usage, …)         → days of the log the budget holds at today's rate

Kept for good, and why (docs/deploy.md "Retention"): the audit chain (a hash chain: a gap breaks its verification,
and it is the hall's legal record of who changed what — a few MB a year), rule versions and activations (what was in
force when: the same record, smaller still), and what waits for the cloud (its own budget, edge/store/cloud.py).

Time comes in as an argument; nothing here reads a clock, a file or the database (edge/upkeep.py measures and acts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

WARN_SHARE = 0.80  # of the budget: a warning
CRITICAL_SHARE = 0.95  # of the budget: critical
TARGET_SHARE = 0.90  # over the budget, the oldest events go until the directory is under this share
DAY_S = 86400.0
MAX_DAYS = 36_500  # a hundred years: storage.*_days may not say more (edge/config.py); horizons clamp to it anyway
CLOCK_AHEAD_S = DAY_S  # a clock further ahead than this of the newest stored row is not pruned against


@dataclass(frozen=True, slots=True)
class Policy:
    """Days each kind of row is kept (storage.* in edge/config.py)."""

    events_days: int = 90
    alert_history_days: int = 365
    outbox_days: int = 30
    records_days: int = 365


@dataclass(frozen=True, slots=True)
class Horizons:
    """UNIX seconds: rows older than these go."""

    events: float
    alert_history: float
    outbox: float
    records: float


def horizons(policy: Policy, now: datetime | float) -> Horizons:
    """`now` is the time pruned against: the box's clock, or the newest stored row's time when that is earlier
    (upkeep.py). Days beyond MAX_DAYS count as MAX_DAYS: a horizon before year 1 is no error, it is "keep all"."""
    at = now.timestamp() if isinstance(now, datetime) else float(now)

    def before(days: int) -> float:
        return at - min(max(days, 0), MAX_DAYS) * DAY_S

    return Horizons(
        before(policy.events_days),
        before(policy.alert_history_days),
        before(policy.outbox_days),
        before(policy.records_days),
    )


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock_ahead(now: float, newest: float | None) -> str | None:
    """Why the box's clock `now` is not to be pruned against, in words, or None: more than CLOCK_AHEAD_S ahead of
    the newest stored row (a box that booted with a wrong date would delete the whole history against it)."""
    if newest is None or now - newest <= CLOCK_AHEAD_S:
        return None
    return (
        f"retention paused: the box's clock ({_when(now)}) is {(now - newest) / DAY_S:,.1f} days ahead of the newest "
        f"stored row ({_when(newest)}); nothing is deleted by age until they agree: check the box's date (timedatectl)"
    )


def log_jump(horizon: float, last_before: float | None, first_after: float | None, now: float) -> str | None:
    """Why the events' `horizon` is not to be pruned against, or None: it falls in a gap of more than CLOCK_AHEAD_S
    in the log (`last_before`, `first_after`: the events either side of it) that ends less than half the retention
    window ago — the clock jumped ahead and everything before the jump would go. A log that is continuous across the
    horizon is the normal case; an old gap (the gateway off for a week months ago) is far behind `now`."""
    if last_before is None or first_after is None or first_after - last_before <= CLOCK_AHEAD_S:
        return None
    if now - first_after >= (now - horizon) / 2:
        return None
    return (
        f"retention paused: the event log jumps from {_when(last_before)} to {_when(first_after)} (a clock set "
        "ahead, or the gateway off that long); the events before the jump are not deleted by age until the log after "
        "it spans half of storage.retention_days: if the box's date was wrong, set it and delete the events after "
        "the jump"
    )


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """The data directory as measured (bytes). `db` is the database file, `db_free` the part of it that is free
    pages (deleted rows' space SQLite reuses, given back by incremental vacuum), `wal` its -wal and -shm, `backups`
    what lies in the backups folder, `other` the rest of the directory (a restore's `*.before-restore-*`, logs …).
    `filesystem_free`: what the filesystem still gives this user. `events` rows in the log, `events_day` of them in
    the last 24 hours. The budget is the database's (`used`): backups and other files are reported apart (`aside`)
    and no event is ever deleted to make room for them."""

    db: int
    db_free: int
    wal: int
    backups: int
    other: int
    filesystem_free: int
    events: int = 0
    events_day: int = 0

    @property
    def used(self) -> int:
        """What the database uses (the file, its -wal and -shm): what the budget holds and deleting events lowers."""
        return self.db + self.wal

    @property
    def aside(self) -> int:
        """Backups and other files beside the database: not in the budget, reported apart."""
        return self.backups + self.other

    @property
    def used_live(self) -> int:
        """What the database would use with the file's free pages given back: what deleting rows can lower."""
        return self.used - self.db_free

    @property
    def bytes_per_event(self) -> float:
        """The file's live bytes per event: the log is nine tenths of it, so this is a little high, never low."""
        return (self.db - self.db_free) / self.events if self.events else 0.0


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"  # 80 % of the budget, or the filesystem's free space under its floor
    CRITICAL = "critical"  # 95 % of the budget, or under half the floor


@dataclass(frozen=True, slots=True)
class Assessment:
    level: Level
    share: float  # of the budget used (0–1, beyond 1 when over)
    problems: tuple[str, ...]  # in words, for /api/health and the log


def assess(usage: DiskUsage, budget: int, free_min: int) -> Assessment:
    """The level of the database against its budget and of the filesystem against its floor (bytes). Over the
    budget the words say the oldest events are being deleted only when deleting them helps (`budget_cut`); under the
    floor they name what backups and other files take beside the database, which no event is deleted for."""
    share = usage.used / budget if budget > 0 else 0.0
    problems: list[str] = []
    level = Level.OK
    mb = 1024 * 1024
    if share >= WARN_SHARE:
        level = Level.CRITICAL if share >= CRITICAL_SHARE else Level.WARNING
        words = f"database at {share:.0%} of its disk budget ({usage.used / mb:,.0f} of {budget / mb:,.0f} MB)"
        if budget_cut(usage, budget) > 0:
            words += ": the oldest events are being deleted to stay within it"
        elif share > 1:
            words += (
                ": not the events' doing (deleting them would not bring it under): shorten storage.alert_history_days, "
                "outbox_days or records_days, or raise the budget"
            )
        problems.append(words)
    if usage.filesystem_free < free_min:
        if usage.filesystem_free < free_min / 2:
            level = Level.CRITICAL
        elif level is Level.OK:
            level = Level.WARNING
        problems.append(
            f"filesystem nearly full: {usage.filesystem_free / mb:,.0f} MB free (warning under {free_min / mb:,.0f} MB)"
        )
        if usage.aside >= mb:
            problems.append(
                f"backups and other files use {usage.aside / mb:,.0f} MB beside the database ({usage.backups / mb:,.0f}"
                f" MB backups, {usage.other / mb:,.0f} MB other; no event is deleted for them): rotate or move them"
            )
    return Assessment(level, share, tuple(problems))


def budget_cut(usage: DiskUsage, budget: int) -> int:
    """How many of the oldest events to delete so that the database, once the freed pages are given back, is under
    TARGET_SHARE of the budget; 0 while it is within the budget. Counts the file's free pages as given back already
    (incremental vacuum does it; in a file without it SQLite reuses them before the file grows): deleting more for
    space already free would empty the log without shrinking anything."""
    if usage.used <= budget or usage.used_live <= budget * TARGET_SHARE:
        return 0
    per_event = usage.bytes_per_event
    if per_event <= 0:
        return 0
    excess = usage.used_live - budget * TARGET_SHARE
    if excess > usage.events * per_event:  # the log is not what fills it: deleting all of it would not do
        return 0
    return min(usage.events, int(excess / per_event) + 1)


def days_that_fit(usage: DiskUsage, budget: int) -> float | None:
    """Days of the log the budget holds at the last 24 hours' rate, besides the rest of the database (alert history,
    notifications, records); None without a day's events to go by."""
    per_day = usage.events_day * usage.bytes_per_event
    if per_day <= 0:  # no day's events, or no live bytes in the file yet (a new file's rows still in its -wal)
        return None
    log = usage.events * usage.bytes_per_event
    room = budget - (usage.used_live - log)
    return max(0.0, room / per_day)
