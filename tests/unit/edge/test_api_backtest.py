"""Backtests through the API against a gateway that has live tickets: the replay writes nothing into the gateway's
log and takes none of its ticket numbers; it replays only the recorded span of the period asked and says so; a period
with nothing recorded is a 422 naming what the log holds; and a backtest form is told which period to start with.

The gateway is real (its SQLite file, its decision layer) on a manual clock, its API in-process
(`httpx.ASGITransport`); the administrator signs in with HTTP Basic, hashed with argon2's cheapest profile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from edge.auth import Role
from tests.unit.edge import recorded
from tests.unit.edge.recorded import T0


class Hall(recorded.Hall):
    """A running gateway and its administrator's client."""

    @property
    def root(self) -> httpx.AsyncClient:
        return self.clients["root"]


@pytest.fixture
def open_hall(tmp_path: Path, hasher: PasswordHasher) -> Callable[[], Any]:
    return partial(recorded.open_hall, tmp_path, hasher, {"root": Role.ADMINISTRATOR}, Hall)


async def test_a_backtest_leaves_the_live_log_and_the_live_ticket_numbers_alone(
    open_hall: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_hall() as hall:
        first = hall.paper_out("TM1", T0 - timedelta(minutes=10))  # 09:50, live
        hall.send("ticket_machine", "TM1", "hb", T0 - timedelta(minutes=9, seconds=30), online=True)
        assert first == "T-20261123-0001"
        assert any(r.getMessage().startswith(f"ticket opened ticket={first}") for r in caplog.records)
        caplog.clear()

        r = await hall.root.post(
            "/api/rules/backtest", json={"from": "2026-11-23T09:00", "to": "2026-11-23T12:00", "version": 1}
        )
        assert r.status_code == 200, r.text
        result = r.json()
        # the replay opened the same printer's ticket, under an id of its own
        (replayed,) = result["active"]["tickets"]
        assert (replayed["device"], replayed["id"]) == ("TM1", "BT-T-20261123-0001")
        # the gateway's log: one line saying a backtest ran, nothing of what the replay decided
        gateway = ("edge", "rules", "devices")
        shown = [
            (x.name, x.getMessage()) for x in caplog.records if x.levelno >= logging.INFO and x.name.startswith(gateway)
        ]
        assert [name for name, _ in shown] == ["edge.backtest"], shown
        assert shown[0][1].startswith("backtest replayed 2026-11-23T09:50:00+08:00 to 2026-11-23T09:50:31+08:00")
        assert not [x for x in caplog.records if "ticket opened" in x.getMessage() and x.name != "edge.backtest.replay"]

        # the next live ticket has the number it would have had
        assert hall.paper_out("TM2", T0) == "T-20261123-0002"


async def test_a_backtest_replays_the_recorded_span_of_the_period_and_says_so(open_hall: Callable[[], Any]) -> None:
    async with open_hall() as hall:
        hall.paper_out("TM1", T0 - timedelta(minutes=10, seconds=-0.4))  # 09:50:00.4
        hall.send("ticket_machine", "TM1", "hb", T0 - timedelta(minutes=9, seconds=30), online=True)  # 09:50:30
        r = await hall.root.post(
            "/api/rules/backtest", json={"from": "2026-11-23T00:00", "to": "2026-11-24T00:00", "version": 1}
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["asked_from"], got["asked_to"]) == ("2026-11-23T00:00:00+08:00", "2026-11-24T00:00:00+08:00")
        assert (got["from"], got["to"]) == ("2026-11-23T09:50:00+08:00", "2026-11-23T09:50:31+08:00")
        # the replay against what the live gateway fired in that span: the same paper-out alert
        assert got["recorded"]["alerts_per_rule"] == {"printer-paper-out": 1}
        fidelity = got["replay_vs_recorded"]
        assert fidelity["per_rule"] == {"printer-paper-out": {"both": 1, "only_active": 0, "only_candidate": 0}}
        assert fidelity["same"]


async def test_a_period_with_nothing_recorded_is_a_422_naming_what_the_log_holds(open_hall: Callable[[], Any]) -> None:
    async with open_hall() as hall:
        r = await hall.root.post(
            "/api/rules/backtest", json={"from": "2026-11-22T00:00", "to": "2026-11-23T00:00", "version": 1}
        )
        assert r.status_code == 422
        assert r.json()["detail"] == {
            "message": "from: nothing was recorded between 2026-11-22 00:00 and 2026-11-23 00:00; "
            "the event log is empty",
            "problems": [],
            "recorded": None,
        }
        hall.paper_out("TM1", T0 - timedelta(minutes=10))
        hall.send("ticket_machine", "TM1", "hb", T0 - timedelta(minutes=9, seconds=30), online=True)
        r = await hall.root.post(
            "/api/rules/backtest", json={"from": "2026-11-22T00:00", "to": "2026-11-23T00:00", "version": 1}
        )
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail["message"] == (
            "from: nothing was recorded between 2026-11-22 00:00 and 2026-11-23 00:00; "
            "the log holds events from 2026-11-23 09:50 to 2026-11-23 09:50"
        )
        assert detail["recorded"] == {"first": "2026-11-23T09:50:00+08:00", "last": "2026-11-23T09:50:30+08:00"}


async def test_a_backtest_form_starts_with_the_day_of_the_newest_event_up_to_it(open_hall: Callable[[], Any]) -> None:
    async with open_hall() as hall:
        r = await hall.root.get("/api/rules/backtest/period")
        assert r.status_code == 200
        assert r.json() == {"first": None, "last": None, "from": None, "to": None}  # nothing recorded yet
        hall.paper_out("TM1", T0 - timedelta(minutes=10))
        hall.send("ticket_machine", "TM1", "hb", T0 - timedelta(minutes=4, seconds=30), online=True)  # 09:55:30
        r = await hall.root.get("/api/rules/backtest/period")
        assert r.json() == {
            "first": "2026-11-23T09:50:00+08:00",
            "last": "2026-11-23T09:55:30+08:00",
            "from": "2026-11-23T00:00",
            "to": "2026-11-23T09:56",
        }
