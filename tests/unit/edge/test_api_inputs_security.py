"""What the API's routes accept from a signed-in person, and how long they may take: CSV cells a spreadsheet would run,
a past day's report and a backtest that would hold the gateway up, rule files built to exhaust the parser, silences
for rules that do not exist, and a technician moving another's ticket on.

The gateway is real (its SQLite file, its decision layer) on a manual clock, its API in-process
(`httpx.ASGITransport`); users sign in with HTTP Basic, hashed with argon2's cheapest profile. Where a slow step is
needed it is made to wait on an event the test sets, never on a timer.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

import edge.api.rules as rules_api
from edge.auth import Role
from tests.unit.edge import recorded
from tests.unit.edge.recorded import T0, WAIT_S, Hall, held_decode

YESTERDAY = T0 - timedelta(days=1)
USERS = {"li": Role.TECHNICIAN, "zhang": Role.TECHNICIAN, "wang": Role.MANAGER, "root": Role.ADMINISTRATOR}
DEEP = "[" * 50_000 + "]" * 50_000  # 100 KB of YAML, far below the 1 MiB a rule file may have
BOMB = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(  # eight lines; a billion values for whatever walks them
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.fixture
def open_hall(tmp_path: Path, hasher: PasswordHasher) -> Callable[..., Any]:
    """`async with open_hall(http={...}, rules={...}) as hall`: the gateway at T0 with those settings."""
    return partial(recorded.open_hall, tmp_path, hasher, USERS, Hall)


# ---------------------------------------------------------------------------------------------- CSV


async def test_a_service_code_that_is_a_formula_reaches_the_csv_as_text(open_hall: Callable[..., Any]) -> None:
    async with open_hall() as hall:
        hall.issue(T0, "A001", '=HYPERLINK("http://x","y")')
        hall.issue(T0 + timedelta(minutes=1), "A002", "@SUM(A1)")
        for kind in ("daily", "hourly"):
            r = await hall.clients["wang"].get(f"/api/reports/{T0.date()}/{kind}.csv")
            assert r.status_code == 200, r.text
            rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
            codes = {row["业务代码"] for row in rows if row["业务代码"]}  # (the header in Chinese, by default)
            assert codes == {'\'=HYPERLINK("http://x","y")', "'@SUM(A1)"}
            assert all(not cell.startswith(("=", "@")) for row in rows for cell in row.values())
            assert rows[0]["取号（张）"] == "2"  # the figures stay numbers


# ---------------------------------------------------------------------------------------------- past days


def yesterday_logged(hall: Hall) -> None:
    """Three tickets issued yesterday, in the log; today has begun since."""
    hall.clock.set(YESTERDAY)
    for i in range(3):
        hall.issue(YESTERDAY + timedelta(minutes=i), f"B00{i}", "tax")
    hall.issue(T0, "A001", "tax")


async def test_the_gateway_answers_while_a_past_day_is_rebuilt(
    open_hall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_hall() as hall:
        yesterday_logged(hall)
        entered, release = held_decode(monkeypatch)
        report = asyncio.ensure_future(hall.clients["wang"].get(f"/api/reports/{YESTERDAY.date()}"))
        assert await asyncio.to_thread(entered.wait, WAIT_S), "the rebuild began"
        health = await hall.clients["wang"].get("/api/health")
        assert health.status_code == 200
        assert not report.done() and not release.is_set(), "/api/health answered while the day was being rebuilt"
        release.set()
        r = await report
        assert r.status_code == 200 and r.json()["hall"]["issued"] == 3


async def test_a_rebuild_past_the_time_limit_answers_503_and_asking_again_gets_the_report(
    open_hall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_hall(http={"slow_request_s": 0.2}) as hall:
        yesterday_logged(hall)
        entered, release = held_decode(monkeypatch)
        r = await hall.clients["wang"].get(f"/api/reports/{YESTERDAY.date()}/daily.csv")
        assert entered.is_set()
        assert (r.status_code, r.json()["detail"]) == (503, "the report takes too long; try again")
        release.set()
        again = await hall.clients["wang"].get(f"/api/reports/{YESTERDAY.date()}")
        assert again.status_code == 200 and again.json()["hall"]["issued"] == 3


# ---------------------------------------------------------------------------------------------- rule files


async def test_yaml_nested_50000_deep_is_refused_with_the_reason_wherever_a_rule_file_comes_in(
    open_hall: Callable[..., Any],
) -> None:
    async with open_hall() as hall:
        root = hall.clients["root"]
        r = await root.post("/api/rules/check", content=DEEP.encode())
        assert r.status_code == 422
        assert r.json()["detail"]["message"] == "body: nested deeper than 64 levels (line 1)"
        r = await root.post("/api/rules/versions", json={"source": DEEP})
        assert r.status_code == 422
        assert r.json()["detail"]["message"].startswith("source: nested deeper than 64 levels")
        period = {"from": "2026-11-23T09:00", "to": "2026-11-23T10:00"}
        r = await root.post("/api/rules/backtest", json={**period, "source": DEEP})
        assert r.status_code == 422 and "nested deeper than 64 levels" in r.json()["detail"]["message"]
        r = await root.post("/api/rules/check", content=BOMB.encode())
        assert r.status_code == 422 and "more than 100000 values" in r.json()["detail"]["message"]
        assert (await root.get("/api/rules/versions")).json()["versions"][0]["number"] == 1  # nothing was stored


async def test_a_rule_check_that_takes_too_long_answers_503_and_the_gateway_goes_on_meanwhile(
    open_hall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    parse = rules_api.parse_rules

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(WAIT_S)
        return parse(*args, **kwargs)

    monkeypatch.setattr(rules_api, "parse_rules", held)
    async with open_hall(http={"slow_request_s": 0.2}) as hall:
        check = asyncio.ensure_future(hall.clients["root"].post("/api/rules/check", content=b"rules: []"))
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        assert (await hall.clients["root"].get("/api/health")).status_code == 200
        r = await check
        assert not release.is_set()
        assert (r.status_code, r.json()["detail"]) == (503, "checking the rule file takes too long; try again")
        release.set()


async def test_a_syntax_error_and_an_invalid_rule_are_still_reported_with_their_lines(
    open_hall: Callable[..., Any],
) -> None:
    async with open_hall() as hall:
        root = hall.clients["root"]
        r = await root.post("/api/rules/check", content=b"rules:\n  - id: a\n    when: [\n")
        assert r.status_code == 200 and not r.json()["ok"]
        assert r.json()["problems"][0]["message"].startswith("YAML syntax: ")
        r = await root.post("/api/rules/check", content=b"rules:\n  - id: a\n    when: {metric: nope}\n")
        assert r.status_code == 200 and r.json()["problems"][0]["line"] == 3


# ---------------------------------------------------------------------------------------------- backtests

PERIOD = {"from": "2026-11-23T09:50", "to": "2026-11-23T10:00", "version": 1}


async def test_a_backtest_past_its_time_limit_stops_and_answers_503(open_hall: Callable[..., Any]) -> None:
    async with open_hall(rules={"backtest_limit_s": 1e-9}) as hall:
        hall.issue(T0 - timedelta(minutes=5), "A001", "tax")
        for _ in range(2):  # it stopped: the next is not refused as "running"
            r = await hall.clients["root"].post("/api/rules/backtest", json=PERIOD)
            assert r.status_code == 503
            assert r.json()["detail"].startswith("the backtest did not finish within rules.backtest_limit_s (1e-09 s)")
            assert r.json()["detail"].endswith("; try a shorter period")


async def test_a_second_backtest_is_refused_until_the_first_has_really_ended_even_after_its_503(
    open_hall: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay stuck between two looks at its deadline: the request is answered (503), the thread runs on, and no
    second backtest starts beside it."""
    entered, release, ended = threading.Event(), threading.Event(), threading.Event()
    replay = rules_api.backtest

    def stuck(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(WAIT_S)
        try:
            return replay(*args, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(rules_api, "backtest", stuck)
    monkeypatch.setattr(rules_api, "STOP_GRACE_S", 0.1, raising=False)
    async with open_hall(rules={"backtest_limit_s": 2.0}) as hall:
        hall.issue(T0 - timedelta(minutes=5), "A001", "tax")  # something recorded to replay
        root = hall.clients["root"]
        first = asyncio.ensure_future(root.post("/api/rules/backtest", json=PERIOD))
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        assert (await root.post("/api/rules/backtest", json=PERIOD)).status_code == 409
        r = await asyncio.wait_for(first, WAIT_S)
        assert r.status_code == 503 and not ended.is_set()
        refused = await root.post("/api/rules/backtest", json=PERIOD)
        assert refused.status_code == 409, "the first backtest's thread still runs"
        release.set()
        assert await asyncio.to_thread(ended.wait, WAIT_S)
        # the loop hears the thread's end once the thread has returned (on a loaded machine, some real time after
        # `ended`), and gives the lock back then: poll the lock, bounded by the same wait as the rest
        for _ in range(int(WAIT_S / 0.01)):
            if not hall.api.backtests.locked():
                break
            await asyncio.sleep(0.01)
        assert (await root.post("/api/rules/backtest", json=PERIOD)).status_code == 200


# ---------------------------------------------------------------------------------------------- silences


async def test_a_silence_for_a_rule_that_does_not_exist_is_refused_naming_the_close_ones(
    open_hall: Callable[..., Any],
) -> None:
    async with open_hall() as hall:
        wang = hall.clients["wang"]
        body = {"minutes": 30, "comment": "maintenance"}
        r = await wang.post("/api/silences", json={**body, "rule": "wiat-30"})
        assert r.status_code == 422
        assert r.json()["detail"] == "rule: no rule in force matches 'wiat-30' (did you mean wait-30 or wait-60?)"
        r = await wang.post("/api/silences", json={**body, "rule": "printer-*", "labels": {"device": "TM1"}})
        assert r.status_code == 201, r.text
        r = await wang.post("/api/silences", json={**body, "rule": "no-such-*"})
        assert r.status_code == 422 and "rules in force: " in r.json()["detail"]
        assert [s["rule"] for s in (await wang.get("/api/silences")).json()] == ["printer-*"]


# ---------------------------------------------------------------------------------------------- tickets


async def test_a_ticket_one_technician_took_is_moved_on_only_by_them_or_a_manager(
    open_hall: Callable[..., Any],
) -> None:
    async with open_hall() as hall:
        li, zhang, wang = (hall.clients[n] for n in ("li", "zhang", "wang"))
        tid = hall.paper_out("TM1", T0)
        assert (await li.post(f"/api/tickets/{tid}/acknowledge", json={})).status_code == 200
        expected = f"ticket {tid} is assigned to li; ask li or the hall manager"
        for action, body in (("start", {}), ("resolve", {"note": "refilled"})):
            r = await zhang.post(f"/api/tickets/{tid}/{action}", json={**body, "by": "li"})  # `by` is ignored
            assert (r.status_code, r.json()["detail"]) == (403, expected)
        r = await li.post(f"/api/tickets/{tid}/start", json={})
        assert r.status_code == 200 and r.json()["started_by"] == "li"
        r = await zhang.post(f"/api/tickets/{tid}/resolve", json={"note": "refilled"})
        assert r.status_code == 403
        r = await wang.post(f"/api/tickets/{tid}/resolve", json={"note": "refilled the paper"})
        assert r.status_code == 200 and r.json()["resolved_by"] == "wang"

        other = hall.paper_out("TM2", T0 + timedelta(minutes=1))  # nobody has taken it: anyone's
        r = await zhang.post(f"/api/tickets/{other}/resolve", json={"note": "refilled"})
        assert r.status_code == 200 and r.json()["resolved_by"] == "zhang"
