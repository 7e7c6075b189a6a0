"""Assigning a window to a tidal opening that proposed none, over the API as the web UI does it (app factory, real
gateway and SQLite file, a fixed clock): approving such an opening is refused (it would change nothing); the windows
and staff that could serve are listed with their names; the manager's pick is checked against the hall (422 naming
the field), recorded in the recommendation's history and the audit log under the manager, and the window is then
listed among the tidal windows in effect with who assigned it and the wait before and now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from edge.api import create_app
from edge.auth import Account, Auth, Role, User
from edge.config import load_config
from edge.gateway import Gateway
from edge.passwords import hash_password
from rules.clock import FixedClock
from tests.unit.rules.feed import CST

PASSWORD = "correct horse"
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


class Hall:
    """A gateway whose SB windows (W1, W2) are both open and busy, with 20 people waiting for SB: no window can be
    proposed. W3 (YB) is open with nobody at the counter, W4 (YB) closed; S21 is in the tidal pool."""

    def __init__(self, tmp: Path) -> None:
        cfg = load_config(
            None,
            {
                "hall": {"id": "h1", "timezone": "Asia/Shanghai"},
                "storage": {"path": str(tmp / "gw.db")},
                "services": {"SB": {"name": "社会保险", "name_en": "Social insurance"}, "YB": {"name": "医疗保障"}},
                "windows": {
                    "W1": {"name": "社保1号窗", "services": ["SB"]},
                    "W2": {"name": "社保2号窗", "services": ["SB"]},
                    "W3": {"name": "医保窗", "services": ["YB"]},
                    "W4": {"name": "医保2号窗", "services": ["YB"]},
                },
                "tidal": {"staff_pool": ["S21"]},
            },
        )
        self.clock = FixedClock(MONDAY_10)
        self.gw = Gateway(cfg, clock=self.clock)
        self.gw.open()
        self.seq = 0
        for w, services in (("W1", ["SB"]), ("W2", ["SB"]), ("W3", ["YB"])):
            self.send("window", w, 0, type="window.opened", staff_id=f"S-{w}", services=services)
        for i in range(20):
            self.send(
                "ticket_machine",
                "TM1",
                5 + i,
                type="ticket.issued",
                ticket_id=f"t{i}",
                number=f"A{i:03d}",
                service="SB",
                channel="walk_in",
            )
        self.send("window", "W1", 30, type="ticket.called", ticket_id="t0")
        self.send("window", "W2", 31, type="ticket.called", ticket_id="t1")
        self.at(120)

    def send(self, kind: str, device: str, t: float, **fields: object) -> None:
        self.seq += 1
        at = MONDAY_10 + timedelta(seconds=t)
        body = {"v": 1, "ts": at.isoformat(), "seq": self.seq, **fields}
        self.gw.handle(f"hall/h1/{kind}/{device}/evt", json.dumps(body).encode(), at)

    def at(self, t: float) -> None:
        self.clock.set(MONDAY_10 + timedelta(seconds=t))
        self.gw.flush()
        assert self.gw.decider is not None
        self.gw.decider.evaluate()
        self.gw.flush()


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    h = Hall(tmp_path)
    yield h
    h.gw.close()


@pytest.fixture
def app(hall: Hall, hasher: PasswordHasher) -> Iterator[FastAPI]:
    accounts = {"wang": Account(User("wang", Role.MANAGER, "王经理"), hash_password(PASSWORD, hasher))}
    accounts["li"] = Account(User("li", Role.TECHNICIAN, "李工"), hash_password(PASSWORD, hasher))
    auth = Auth(accounts, hall.gw.cfg.storage.path, hasher=hasher)
    yield create_app(hall.gw, auth)
    auth.close()


def as_(app: FastAPI, name: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 51000))
    return httpx.AsyncClient(transport=transport, base_url="http://192.0.2.1:8080", auth=(name, PASSWORD))


async def pending(client: httpx.AsyncClient) -> dict[str, object]:
    r = await client.get("/api/recommendations")
    assert r.status_code == 200, r.text
    (rec,) = r.json()
    return rec  # type: ignore[no-any-return]


async def test_an_opening_without_a_window_is_assigned_one_recorded_audited_and_listed_in_effect(
    app: FastAPI, hall: Hall
) -> None:
    async with as_(app, "wang") as wang:
        rec = await pending(wang)
        assert rec["kind"] == "open" and rec["services"] == ["SB"] and rec["windows"] == []
        refused = await wang.post(f"/api/recommendations/{rec['id']}/approve", json={})
        assert refused.status_code == 409 and "assign one" in refused.json()["detail"]

        cands = await wang.get(f"/api/recommendations/{rec['id']}/candidates")
        assert cands.status_code == 200, cands.text
        windows = [(w["window_id"], w["name"], w["status"], w["configured"]) for w in cands.json()["windows"]]
        assert windows == [("W4", "医保2号窗", "closed", False), ("W3", "医保窗", "open", False)]
        assert [s["staff_id"] for s in cands.json()["staff"]] == ["S21"]

        async def assign(body: dict[str, object], rec_id: object = rec["id"]) -> httpx.Response:
            return await wang.post(f"/api/recommendations/{rec_id}/assign", json=body)

        for body, field in (
            ({"window": "W9"}, "window"),  # the hall has no W9
            ({"window": "W1"}, "window"),  # busy serving
            ({"window": "W4", "staff": "NOBODY"}, "staff"),
            ({"window": "W4", "extra": 1}, "extra"),
            ({}, "window"),
        ):
            bad = await assign(body)
            assert bad.status_code == 422, (body, bad.text)
            assert ["body", field] in [e["loc"] for e in bad.json()["detail"]], bad.json()
        assert (await assign({"window": "W4"}, "tidal-unknown")).status_code == 409

        done = await assign({"window": "W4", "staff": "S21"})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["windows"], done.json()["staff"]) == ("assigned", ["W4"], ["S21"])
        assert (await assign({"window": "W3"})).status_code == 409, "no longer pending"
        assert (await wang.get("/api/recommendations")).json() == []

        hall.gw.flush()
        history = (await wang.get("/api/recommendations?status=all")).json()
        assert [(r["status"], r["decided_by"], r["windows"]) for r in history if r["id"] == rec["id"]] == [
            ("assigned", "wang", ["W4"])
        ]
        active = (await wang.get("/api/tidal/windows")).json()
        assert [(w["window_id"], w["window_name"], w["services"], w["by"], w["by_name"]) for w in active] == [
            ("W4", "医保2号窗", ["SB"], "wang", "王经理")
        ]
        (w,) = active
        assert w["assigned"] is True and w["by_command"] is False and w["seen_open"] is False  # no queue system
        assert w["wait_before_min"] == rec["projected_wait_min"] and w["since"].startswith("2026-11-23T10:02")
        assert w["staff_id"] == "S21"

    async with as_(app, "li") as li:  # a technician sees the windows in effect but assigns nothing
        assert (await li.get("/api/tidal/windows")).status_code == 200
        assert (await li.post(f"/api/recommendations/{rec['id']}/assign", json={"window": "W3"})).status_code == 403

    assert hall.gw.store is not None
    entries = [r.entry for r in hall.gw.store.audit.rows() if r.entry.action == "recommendation.assign"]
    assert [(e.actor, e.subject, e.detail["windows"], e.detail["staff"]) for e in entries] == [
        ("wang", rec["id"], ["W4"], "S21")
    ]
