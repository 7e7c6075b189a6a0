"""The fleet view's order and its staleness rule (cloud_sync/fleet.py): pure, the time injected.

A city office reads the list top down: the halls it cannot see (cut off, offline, never a status) and those with a
critical alert must come first, then the halls serving worst. A hall whose newest status is older than the stale
limit must never be called live, and the age of its backlog must keep growing while it is silent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from cloud_sync.fleet import (
    STALE_AFTER_S,
    FleetSection,
    HallRecord,
    Link,
    Severities,
    hall_row,
    link_of,
    ticket_overdue,
    worst_first,
)

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def status(sl: float | None, backlog: int = 0, oldest_s: float = 0.0, **more: Any) -> dict[str, Any]:
    return {"today": {"sl_pct": sl, "p95_wait_min": 12.0, "max_wait_min": 20.0}, "backlog": backlog,
            "oldest_s": oldest_s, "rule_version": 3, **more}  # fmt: skip


def rec(hall: str, age_s: float | None, sl: float | None = 90.0, *, online: bool | None = True, critical: int = 0,
        major: int = 0, backlog: int = 0, oldest_s: float = 0.0) -> HallRecord:  # fmt: skip
    at = None if age_s is None else NOW - timedelta(seconds=age_s)
    return HallRecord(
        hall=hall,
        last_seen=at or NOW,
        online=online if at is not None else None,
        status=status(sl, backlog, oldest_s) if at is not None else None,
        status_at=at,
        alerts=Severities(critical=critical, major=major),
    )


@pytest.mark.parametrize(
    ("online", "age_s", "link"),
    [
        (True, 0, Link.LIVE),
        (True, 30, Link.LIVE),
        (True, STALE_AFTER_S, Link.LIVE),  # at the limit: still live
        (True, STALE_AFTER_S + 0.5, Link.STALE),
        (True, 3600, Link.STALE),
        (False, 5, Link.OFFLINE),  # the link's will
        (None, None, Link.SILENT),  # batches came, never a status
    ],
)
def test_a_hall_is_live_only_while_its_newest_status_is_fresh(
    online: bool | None, age_s: float | None, link: Link
) -> None:
    at = None if age_s is None else NOW - timedelta(seconds=age_s)
    assert link_of(online, at, NOW, STALE_AFTER_S) is link


def test_a_cut_off_halls_backlog_keeps_ageing_from_its_last_status() -> None:
    cut = rec("h-cut", 300, backlog=40, oldest_s=100)
    then = hall_row(cut, NOW)
    later = hall_row(cut, NOW + timedelta(minutes=5))
    assert then.link is later.link is Link.STALE
    assert then.backlog == later.backlog == 40  # what it said: nothing newer is known
    assert then.backlog_age_s == 400 and later.backlog_age_s == 700
    assert then.silent_s == 300 and later.silent_s == 600
    caught_up = hall_row(rec("h-cut", 2, backlog=0), NOW)
    assert caught_up.link is Link.LIVE and caught_up.backlog_age_s == 0


def test_worst_first_puts_unseen_halls_then_critical_alerts_then_the_lowest_sl() -> None:
    rows = [
        hall_row(r, NOW)
        for r in (
            rec("good", 10, sl=95.0),
            rec("bad-sl", 10, sl=61.5),
            rec("no-figures-yet", 10, sl=None),
            rec("critical", 10, sl=99.0, critical=1),
            rec("cut-off", 600, sl=99.0),
            rec("went-away", 20, sl=99.0, online=False),
            rec("mid-sl", 10, sl=80.0, major=2),
            rec("never", None),
        )
    ]
    assert [r.hall for r in worst_first(rows)] == [
        "cut-off",  # not live: among them too the lowest SL first, then the id
        "went-away",
        "never",  # not live, and no figures at all
        "critical",
        "bad-sl",
        "mid-sl",
        "good",
        "no-figures-yet",
    ]


def test_a_status_with_missing_or_odd_fields_shows_dashes_not_an_error() -> None:
    odd = HallRecord("h1", NOW, True, {"today": "?", "backlog": "many", "rule_version": True}, NOW)
    row = hall_row(odd, NOW)
    assert row.link is Link.LIVE
    assert (row.backlog, row.rule_version, row.today.sl_pct) == (None, None, None)


def test_an_active_ticket_is_overdue_once_its_due_time_has_passed_even_if_the_hall_said_not_yet() -> None:
    due = (NOW - timedelta(minutes=1)).isoformat()
    ahead = (NOW + timedelta(hours=1)).isoformat()
    assert ticket_overdue("in_progress", {"resolve_due": due, "resolve_overdue": False}, NOW)
    assert ticket_overdue("open", {"ack_due": due, "resolve_due": ahead}, NOW)
    assert not ticket_overdue("acknowledged", {"ack_due": due, "resolve_due": ahead}, NOW)
    assert not ticket_overdue("resolved", {"resolve_due": due, "resolve_overdue": True}, NOW)
    assert ticket_overdue("open", {"ack_overdue": True}, NOW)


def test_the_fleet_section_refuses_a_password_instead_of_a_hash_with_its_field_path() -> None:
    with pytest.raises(ValidationError) as exc:
        FleetSection.model_validate({"users": {"wang": {"role": "manager", "password_hash": "secret"}}})
    assert exc.value.errors()[0]["loc"] == ("users", "wang", "password_hash")
    with pytest.raises(ValidationError):
        FleetSection.model_validate({"users": {"li": {"role": "technician", "password_hash": "x"}}})
