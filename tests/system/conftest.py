"""Fixtures of the system tests that ask the gateway's API about a played hall day."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from devices.simulator import HallSimulation, load_scenario
from edge.config import load_config
from tests.hallday import HallDay

MONDAY = datetime(2026, 11, 23, tzinfo=timezone(timedelta(hours=8)))


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return MONDAY.replace(hour=int(h), minute=int(m))


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HallDay]:
    """The county 08:30–11:30 played through once for the module; a manager 王经理 (login `wang`)."""
    hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    cfg = load_config(
        None,
        {
            "hall": {"id": "county-01"},
            "storage": {"path": str(tmp_path_factory.mktemp("history") / "gateway.db")},
            "clock": {"mode": "device", "speed": 120},
            "users": {"wang": {"role": "manager", "name": "王经理", "password_hash": hasher.hash("pw-wang-1234")}},
        },
    )
    with HallDay(cfg, at("08:30")) as played:
        played.play(HallSimulation(load_scenario("county"), 1, at("08:30"), at("11:30")))
        yield played


@pytest.fixture
async def http(day: HallDay) -> AsyncIterator[httpx.AsyncClient]:
    async with day.api(httpx.BasicAuth("wang", "pw-wang-1234")) as client:
        yield client
