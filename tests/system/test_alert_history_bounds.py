"""Worst values a person can send the alert history, the per-window and per-staff reports and the tidal routes
(issue 19 review): every one answered — a page or a 422 naming the parameter — never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.hallday import HallDay

CST = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 23, tzinfo=CST)  # a Monday


HISTORY_BAD = [
    ({"limit": "-1"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "99999999999999999999999"}, "limit"),
    ({"limit": "NaN"}, "limit"),
    ({"from": "NaN"}, "from"),
    ({"from": "inf"}, "from"),
    ({"from": "0001-01-01T00:00:00", "to": "0001-01-02T00:00:00"}, None),
    ({"from": "9999-12-30T00:00:00+14:00", "to": "9999-12-31T00:00:00-12:00"}, None),
    ({"from": "-1e300"}, "from"),
    ({"from": "2026-11-23T10:00:00+08:00", "to": "2026-11-23T09:00:00+08:00"}, "from"),
    ({"from": "2026-01-01T00:00:00+08:00", "to": "2026-11-23T09:00:00+08:00"}, "from"),
    ({"before": "x" * 41}, "before"),
    ({"before": "999999999999999-ffffffffffffffff"}, None),
    ({"before": "0-0000000000000000"}, None),
    ({"before": "1-ABCDEFabcdef0123"}, "before"),
    ({"before": "١٢٣-ffffffffffffffff"}, "before"),  # Arabic-Indic digits: \d in Python matches them
    ({"state": "gone"}, "state"),
    ({"severity": "apocalyptic"}, "severity"),
    ({"rule": "%"}, "rule"),
    ({"window": "W04' OR 1=1 --"}, "window"),
    ({"device": "\u202eTM01"}, "device"),
    ({"q": ""}, "q"),
    ({"q": "x" * 101}, "q"),
]


@pytest.mark.parametrize(("params", "field"), HISTORY_BAD)
async def test_the_history_answers_every_worst_parameter(
    http: httpx.AsyncClient, params: dict[str, str], field: str | None
) -> None:
    r = await http.get("/api/alerts/history", params=params)
    if field is None:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 422, r.text
        assert any(field in d["loc"] for d in r.json()["detail"]), r.text


@pytest.mark.parametrize("q", ["%", "_", "%%", ".*", "(", "[", "\\", "\u0000", "号", "🙂", "' OR 1=1 --"])
async def test_search_words_are_text_not_patterns(http: httpx.AsyncClient, q: str) -> None:
    r = await http.get("/api/alerts/history", params={"q": q, "from": "2026-11-23T08:00:00+08:00"})
    assert r.status_code == 200, r.text
    everything = (await http.get("/api/alerts/history", params={"from": "2026-11-23T08:00:00+08:00"})).json()
    if q in ("%", "_", "%%", ".*"):
        assert r.json()["total"] < everything["total"] or everything["total"] == 0, (q, r.json()["total"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/reports/9999-12-31/windows",
        "/api/reports/0001-01-01/staff",
        "/api/reports/2999-01-01/served",
        "/api/reports/2026-02-30/windows",
        "/api/reports/NaN/windows",
        "/api/reports/2026-11-23/windows.csv?lang=xx",
        "/api/reports/2026-11-23/staff.csv?lang=%3Cscript%3E",
        "/api/reports/2026-11-23/bogus.csv",
        "/api/reports/-1/staff",
    ],
)
async def test_reports_answer_every_worst_day(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.status_code < 500, (path, r.status_code, r.text)


@pytest.mark.parametrize(
    "body",
    [
        {"window": ""},
        {"window": "x" * 65},
        {"window": "W01", "staff": ""},
        {"window": "W01", "extra": 1},
        {"window": None},
        {"window": ["W01"]},
        {},
    ],
)
async def test_assign_answers_every_worst_body(http: httpx.AsyncClient, body: dict[str, object]) -> None:
    r = await http.post("/api/recommendations/no-such/assign", json=body)
    assert r.status_code in (409, 422), (body, r.status_code, r.text)
    r = await http.get("/api/recommendations/%E2%80%AE%3Cimg%3E/candidates")
    assert r.status_code == 409, r.text
    r = await http.get("/api/tidal/windows")
    assert r.status_code == 200, r.text


async def test_a_quarters_history_leaves_the_gateway_answering_meanwhile(day: HallDay) -> None:
    """A quarter of a busy hall's alert changes (here the morning's copied back over 300 days' worth of runs): the
    search runs off the event loop, so a page asked at the same time (the alerts open now) is answered first."""
    store = day.gateway.store
    assert store is not None
    db = sqlite3.connect(store.path)
    with db:
        db.execute(
            "INSERT INTO alert_history (at, fingerprint, rule_id, state, severity, body)"
            " WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 300)"
            " SELECT at - n * 60, fingerprint || '-' || n, rule_id, state, severity, body FROM alert_history, k"
        )
    db.close()
    done: list[str] = []
    async with day.api(httpx.BasicAuth("wang", "pw-wang-1234")) as http:

        async def ask(name: str, url: str, params: dict[str, str]) -> None:
            r = await http.get(url, params=params)
            assert r.status_code == 200, r.text
            done.append(name)

        quarter = {"from": (DAY - timedelta(days=92)).isoformat(), "to": DAY.replace(hour=12).isoformat(), "q": "窗口"}
        await asyncio.gather(ask("history", "/api/alerts/history", quarter), ask("alerts", "/api/alerts", {}))
    assert done == ["alerts", "history"]
