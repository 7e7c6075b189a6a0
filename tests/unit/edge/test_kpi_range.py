"""What the KPI trends and the report page read: the hall's figures per day over the last 7 or 30 days (past days
rebuilt from the log off the event loop, one after another, answered with what is done within the time limit), a
day's hours, the targets a figure is held to, and the CSV in the manager's language.

The gateway is real (its SQLite file) on a manual clock, its API in-process (`httpx.ASGITransport`); users sign in
with HTTP Basic, hashed with argon2's cheapest profile. A slow rebuild is made to wait on an event the test sets.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from edge.auth import Role
from tests.unit.edge import recorded
from tests.unit.edge.recorded import T0, WAIT_S, held_decode

TODAY = T0.date()
USERS = {"li": Role.TECHNICIAN, "wang": Role.MANAGER}


class Hall(recorded.Hall):
    def day(self, at: datetime, issued: int, called_after_min: float | None = None) -> None:
        """`issued` tax tickets from `at`, a minute apart; each called `called_after_min` after its issue if given."""
        for i in range(issued):
            ticket = f"{at:%d%H}-{i}"
            self.issue(at + timedelta(minutes=i), ticket, "tax")
            if called_after_min is not None:
                called = at + timedelta(minutes=i + called_after_min)
                self.send("window", "W1", "evt", called, type="ticket.called", ticket_id=ticket)
                self.send("window", "W1", "evt", called + timedelta(minutes=5), type="service.completed",
                          ticket_id=ticket)  # fmt: skip

    async def range(self, days: int, user: str = "li") -> dict[str, Any]:
        r = await self.clients[user].get(f"/api/kpi/range?days={days}")
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


@pytest.fixture
def open_hall(tmp_path: Path, hasher: PasswordHasher) -> Callable[..., Any]:
    """`async with open_hall(http={...}) as hall`: the gateway at T0 with those settings."""
    return partial(recorded.open_hall, tmp_path, hasher, USERS, Hall)


def days_before(n: int) -> date:
    return TODAY - timedelta(days=n)


def week(hall: Hall) -> None:
    """Three tickets four days ago (called after 5 min), one the day before yesterday (after 40 min), two today."""
    hall.day(T0 - timedelta(days=4), 3, called_after_min=5)
    hall.day(T0 - timedelta(days=2), 1, called_after_min=40)
    hall.day(T0, 2)


async def test_seven_days_come_one_per_day_oldest_first_with_today_so_far_last(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        week(hall)
        r = await hall.range(7)  # a technician sees the floor's trends too
        assert [d["day"] for d in r["days"]] == [str(days_before(n)) for n in range(6, -1, -1)]
        assert [d["hall"]["issued"] for d in r["days"]] == [0, 0, 3, 0, 1, 0, 2]
        assert [d["hall"]["sl_pct"] for d in r["days"]] == [None, None, 100.0, None, 0.0, None, None]
        assert r["pending"] == [] and r["target_wait_min"] == 15 and r["targets"] == {"sl_pct": 80.0}
        month = await hall.range(30)
        assert len(month["days"]) == 30 and month["days"][-5:] == r["days"][-5:]


async def test_a_range_is_one_to_31_days(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        for days in (0, 32, -1):
            assert (await hall.clients["li"].get(f"/api/kpi/range?days={days}")).status_code == 422
        assert len((await hall.range(1))["days"]) == 1


async def test_a_slow_range_answers_in_time_with_the_days_done_and_the_rest_follow(
    open_hall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_hall(http={"slow_request_s": 1.0}) as hall:
        week(hall)
        entered, release = held_decode(monkeypatch)
        first = await hall.range(7)  # within the time limit, while the day four days ago is still being rebuilt
        assert entered.is_set() and not release.is_set()
        held = [str(days_before(n)) for n in (4, 3, 2, 1)]  # the held day, and the days after it: one at a time
        assert first["pending"] == held  # (the two empty days before it are rebuilt within the second)
        assert [d["day"] for d in first["days"] if d["hall"] is None] == held
        assert first["days"][-1]["hall"]["issued"] == 2  # today's, from the live book
        assert (await hall.clients["li"].get("/api/health")).status_code == 200
        release.set()
        for _ in range(int(WAIT_S / 0.05)):  # as the page does: ask again while days are pending
            again = await hall.range(7)
            if not again["pending"]:
                break
            await asyncio.sleep(0.05)
        assert [d["hall"]["issued"] for d in again["days"]] == [0, 0, 3, 0, 1, 0, 2]


async def test_a_day_opens_its_hours_for_the_whole_hall(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        hall.day(T0 - timedelta(days=4), 3, called_after_min=5)
        hall.day(T0 - timedelta(days=4, hours=-2), 2, called_after_min=20)  # 12:00, called after 20 min
        r = await hall.clients["li"].get(f"/api/kpi/hours/{days_before(4)}")
        assert r.status_code == 200, r.text
        hours = r.json()["hours"]
        assert [(h["start"][11:16], h["service"], h["issued"], h["sl_pct"]) for h in hours] == [
            ("10:00", None, 3, 100.0),
            ("11:00", None, 0, None),  # the window was open
            ("12:00", None, 2, 0.0),
        ]
        assert r.json()["targets"] == {"sl_pct": 80.0}


async def test_the_sl_target_is_the_tidal_service_level(open_hall: Callable[..., Any]) -> None:
    async with open_hall(tidal={"service_level": 0.9, "target_wait_min": 10}) as hall:
        hall.day(T0, 1)
        r = await hall.range(7)
        assert (r["targets"], r["target_wait_min"]) == ({"sl_pct": 90.0}, 10)
        report = (await hall.clients["wang"].get(f"/api/reports/{TODAY}")).json()
        assert report["targets"] == {"sl_pct": 90.0}
        assert (await hall.clients["wang"].get("/api/kpi/today")).json()["targets"] == {"sl_pct": 90.0}


async def test_the_csv_header_is_in_the_language_asked_for_chinese_by_default(open_hall: Callable[..., Any]) -> None:
    async with open_hall(tidal={"target_wait_min": 10}) as hall:
        hall.day(T0, 2)
        wang = hall.clients["wang"]
        for query, issued, sl in (
            ("", "取号（张）", "服务水平（10分钟内叫号，%）"),
            ("?lang=zh", "取号（张）", "服务水平（10分钟内叫号，%）"),
            ("?lang=en", "Issued (tickets)", "Service level (called within 10 min, %)"),
        ):
            r = await wang.get(f"/api/reports/{TODAY}/daily.csv{query}")
            assert r.status_code == 200, r.text
            row = next(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
            assert (row[issued], row[sl]) == ("2", "")  # nobody called yet, none waited past 10 min
        assert (await wang.get(f"/api/reports/{TODAY}/hourly.csv?lang=fr")).status_code == 422
