"""The report's per-window and per-staff tables and the reasons served differs from issued, through the API (issue
19): JSON for the report page, CSV with its header in Chinese or English with units, staff by their display names,
bad parameters refused with the field named.

The gateway is real (its SQLite file) on a manual clock, its API in-process (`httpx.ASGITransport`), as in
test_kpi_range.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from edge.auth import Role
from tests.unit.edge import recorded
from tests.unit.edge.recorded import T0

TODAY = T0.date()
USERS = {"li": Role.TECHNICIAN, "wang": Role.MANAGER}
HALL = {
    "services": {"tax": {"name": "税务"}, "land": {"name": "不动产"}},
    "windows": {"W1": {"name": "税务1号窗", "services": ["tax"]}, "W2": {"name": "不动产1号窗", "services": ["land"]}},
}


class Hall(recorded.Hall):
    def window(self, minutes: float, window: str, event: str, **fields: object) -> None:
        self.send("window", window, "evt", T0 + timedelta(minutes=minutes), type=event, **fields)

    def morning(self) -> None:
        """10:00 W1 (S201) and W2 (S202) sign in; t1 (tax) is served at W1 10:02–10:07 and rated 5; t2 (tax) is
        called at W1, transferred to land and served at W2 10:10–10:20, rated 2; y1, issued the day before, is served
        at W2 10:21–10:24; W1 pauses 10:30–10:45."""
        self.window(0, "W1", "window.opened", staff_id="S201", services=["tax"])
        self.window(0, "W2", "window.opened", staff_id="S202", services=["land"])
        self.issue(T0 + timedelta(minutes=1), "t1", "tax")
        self.issue(T0 + timedelta(minutes=1), "t2", "tax")
        self.window(2, "W1", "ticket.called", ticket_id="t1")
        self.window(2, "W1", "service.started", ticket_id="t1")
        self.window(7, "W1", "service.completed", ticket_id="t1", duration_s=300)
        self.send("evaluator", "EV1", "evt", T0 + timedelta(minutes=7.5), type="rating.submitted", window_id="W1",
                  ticket_id="t1", score=5)  # fmt: skip
        self.window(8, "W1", "ticket.called", ticket_id="t2")
        self.window(9, "W1", "ticket.transferred", ticket_id="t2", to_service="land")
        self.window(10, "W2", "ticket.called", ticket_id="t2")
        self.window(10, "W2", "service.started", ticket_id="t2")
        self.window(20, "W2", "service.completed", ticket_id="t2", duration_s=600)
        self.send("evaluator", "EV2", "evt", T0 + timedelta(minutes=20.5), type="rating.submitted", window_id="W2",
                  ticket_id="t2", score=2)  # fmt: skip
        self.window(21, "W2", "ticket.called", ticket_id="y1")
        self.window(21, "W2", "service.started", ticket_id="y1")
        self.window(24, "W2", "service.completed", ticket_id="y1", duration_s=180)
        self.window(30, "W1", "window.paused", reason="break")
        self.window(45, "W1", "window.resumed")
        self.clock.set(T0 + timedelta(hours=1))


@pytest.fixture
def open_hall(tmp_path: Path, hasher: PasswordHasher) -> Callable[..., Any]:
    return partial(recorded.open_hall, tmp_path, hasher, USERS, Hall, **HALL)


async def test_windows_and_staff_in_json_with_names_and_misses(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        hall.api.auth.add_user("S201", Role.MANAGER, "S201's long hall passphrase 2026", "王芳")
        hall.morning()
        wang = hall.clients["wang"]
        r = await wang.get(f"/api/reports/{TODAY}/windows")
        assert r.status_code == 200, r.text
        body = r.json()
        rows = {row["id"]: row for row in body["rows"]}
        assert body["window_names"] == {"W1": "税务1号窗", "W2": "不动产1号窗"}
        assert body["staff_names"] == {"S201": "王芳"}  # S202 has no user: shown by id
        w1, w2 = rows["W1"], rows["W2"]
        assert (w1["served"], w1["aht_min"], w1["staff"], w1["pauses"], w1["pause_min"]) == (1, 5.0, ["S201"], 1, 15)
        assert (w1["open_min"], w1["ratings"], w1["satisfaction_pct"], w1["misses"]) == (45, 1, 100, [])
        assert (w2["served"], w2["aht_min"], w2["misses"]) == (2, pytest.approx(6.5), ["satisfaction"])
        report = (await wang.get(f"/api/reports/{TODAY}")).json()
        assert sum(row["served"] for row in body["rows"]) == report["hall"]["served"] == 3
        staff = (await wang.get(f"/api/reports/{TODAY}/staff")).json()
        assert [(s["id"], s["windows"], s["served"]) for s in staff["rows"]] == [
            ("S201", ["W1"], 1),
            ("S202", ["W2"], 2),
        ]
        assert staff["satisfaction_target_pct"] == 90 and staff["aht_miss_factor"] == 1.5


async def test_the_roster_names_staff_and_the_hall_carries_window_zone_and_staff_names(
    open_hall: Callable[..., Any],
) -> None:
    """The configuration's `staff:` roster names S201 and S202 (before a user's display name), on the window tiles'
    data (/api/hall) and in the per-staff report and its CSV; /api/hall carries the windows' English names and the
    configured names of the camera zones (null where none is configured)."""
    windows = {
        "W1": {"name": "税务1号窗", "name_en": "Taxation window 1", "services": ["tax"]},
        "W2": {"name": "不动产1号窗", "services": ["land"]},
    }
    roster = {"S201": {"name": "张敏", "name_en": "Zhang Min"}, "S202": {"name": "李娜"}}
    zones = {"atrium": {"name": "中庭休息区", "name_en": "Atrium seating"}}
    async with open_hall(windows=windows, staff=roster, zones=zones) as hall:
        hall.api.auth.add_user("S201", Role.MANAGER, "S201's long hall passphrase 2026", "王芳")
        hall.morning()
        hall.send("camera", "CAM1", "evt", T0 + timedelta(hours=1), type="occupancy", zones={"atrium": 7, "wait-x": 2})
        wang = hall.clients["wang"]
        staff = (await wang.get(f"/api/reports/{TODAY}/staff")).json()
        assert staff["staff_names"] == {"S201": "张敏", "S202": "李娜"}  # the roster first, then users (王芳)
        csv_text = (await wang.get(f"/api/reports/{TODAY}/staff.csv")).text.removeprefix("\ufeff")
        assert [row["工作人员"] for row in csv.DictReader(io.StringIO(csv_text))] == ["张敏", "李娜"]
        body = (await wang.get("/api/hall")).json()
        tiles = {
            w["window_id"]: (w["name"], w["name_en"], w["staff_name"], w["staff_name_en"]) for w in body["windows"]
        }
        assert tiles == {
            "W1": ("税务1号窗", "Taxation window 1", "张敏", "Zhang Min"),
            "W2": ("不动产1号窗", None, "李娜", None),
        }
        assert {z["zone_id"]: (z["name"], z["name_en"]) for z in body["zones"]} == {
            "atrium": ("中庭休息区", "Atrium seating"),
            "wait-x": (None, None),
        }


async def test_why_served_differs_from_issued(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        hall.morning()
        r = await hall.clients["wang"].get(f"/api/reports/{TODAY}/served")
        assert r.status_code == 200, r.text
        rows = {row["service"]: row for row in r.json()["rows"]}
        assert (rows[None]["issued"], rows[None]["served"], rows[None]["before"]) == (2, 3, 1)
        assert (rows["land"]["issued"], rows["land"]["served"], rows["land"]["transferred_in"]) == (0, 1, 1)
        assert rows["tax"]["transferred_out"] == 1


async def test_csv_headers_in_chinese_by_default_and_english(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        hall.api.auth.add_user("S201", Role.MANAGER, "S201's long hall passphrase 2026", "王芳")
        hall.morning()
        wang = hall.clients["wang"]
        for kind, query, served, name, miss in (
            ("windows", "", "办结（张）", ("工作人员", "王芳"), "满意率低于目标 90%"),
            ("windows", "?lang=zh", "办结（张）", ("窗口名称", "税务1号窗"), "满意率低于目标 90%"),
            (
                "windows",
                "?lang=en",
                "Served (tickets)",
                ("Window name", "税务1号窗"),
                "satisfaction below the 90% target",
            ),
            ("staff", "?lang=en", "Served (tickets)", ("Staff", "王芳"), "satisfaction below the 90% target"),
            ("staff", "?lang=zh", "办结（张）", ("工作人员", "王芳"), "满意率低于目标 90%"),
        ):
            r = await wang.get(f"/api/reports/{TODAY}/{kind}.csv{query}")
            assert r.status_code == 200, r.text
            assert r.text.startswith("\ufeff") and r.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
            assert rows[0][served] == "1" and rows[0][name[0]] == name[1], rows[0]
            assert rows[1][served] == "2" and list(rows[1].values())[-1] == miss
            header = next(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
            assert any("（分钟）" in h or "(min)" in h for h in header) and any("%" in h for h in header)


async def test_bad_parameters_are_refused_with_the_field(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        wang = hall.clients["wang"]
        for path, field in (
            (f"/api/reports/{TODAY}/windows.csv?lang=fr", "lang"),
            ("/api/reports/2026-13-40/windows", "day"),
            ("/api/reports/1999-01-01/staff", "day"),
            (f"/api/reports/{TODAY}/people.csv", "kind"),
        ):
            r = await wang.get(path)
            assert r.status_code == 422, (path, r.text)
            assert field in r.text, (path, r.text)
        assert (await hall.clients["li"].get(f"/api/reports/{TODAY}/windows")).status_code == 403
