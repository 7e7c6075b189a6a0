"""What the hall tells the city besides its decisions (edge/cloud.py), on a real gateway and SQLite file with a manual
clock: a 好差评 rating stored with its event and naming its ticket's service and the province's item code; samples
of the hall sent when they change, and again only every 15 minutes when they do not (a closed hall at night sends next
to nothing); the hours' figures with the hall's hour."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cloud_sync.wire import Stream
from edge.config import load_config
from edge.gateway import Gateway
from edge.store import CloudRecord
from rules.clock import FixedClock

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 10, 0, tzinfo=CST)


class Hall:
    def __init__(self, tmp: Path) -> None:
        cfg = load_config(
            None,
            {
                "hall": {"id": "h1"},
                "storage": {"path": str(tmp / "g.db")},
                "cloud": {"url": "mqtt://127.0.0.1:1"},  # never connected here: only what is kept is looked at
                "services": {"SB": {"name": "社会保险", "service_item": "330100-001"}, "YB": {"name": "医疗保障"}},
            },
        )
        self.clock = FixedClock(AT)
        self.gw = Gateway(cfg, clock=self.clock)
        self.gw.open()
        self.seq = 0

    def send(self, kind: str, device: str, second: float, **fields: object) -> None:
        at = AT + timedelta(seconds=second)
        self.clock.set(at)
        self.seq += 1
        body = {"v": 1, "ts": at.isoformat(), "seq": self.seq, **fields}
        self.gw.handle(f"hall/h1/{kind}/{device}/evt", json.dumps(body).encode(), at)

    def held(self, stream: Stream) -> list[dict[str, object]]:
        assert self.gw.store is not None
        return [json.loads(r.body) for r in self.gw.store.cloud.pending(stream, 0, 10_000, 1 << 30)]


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    h = Hall(tmp_path)
    yield h
    h.gw.close()


def test_a_rating_is_kept_with_its_event_naming_the_service_and_the_item_code(hall: Hall) -> None:
    hall.send("ticket_machine", "TM01", 0, type="ticket.issued", ticket_id="t1", number="A001", service="SB")
    hall.send("ticket_machine", "TM01", 1, type="ticket.issued", ticket_id="t2", number="B001", service="YB")
    hall.send("evaluator", "EV01", 600, type="rating.submitted", window_id="W01", ticket_id="t1", score=2)
    hall.send("evaluator", "EV02", 660, type="rating.submitted", window_id="W02", ticket_id="t2", score=5)
    hall.send("evaluator", "EV02", 720, type="rating.submitted", window_id="W02", score=4)  # no ticket named
    assert hall.held(Stream.RATINGS) == []  # not before its event is stored …
    hall.gw.flush()
    assert hall.held(Stream.RATINGS) == [  # … and with it
        {"device": "EV01", "window": "W01", "ticket": "t1", "score": 2, "service": "SB", "service_item": "330100-001"},
        {"device": "EV02", "window": "W02", "ticket": "t2", "score": 5, "service": "YB", "service_item": None},
        {"device": "EV02", "window": "W02", "ticket": None, "score": 4, "service": None, "service_item": None},
    ]


def test_samples_go_when_the_hall_changes_and_every_15_minutes_when_it_does_not(hall: Hall) -> None:
    assert hall.gw.cloud is not None
    export = hall.gw.cloud.export
    export.tick()
    first = hall.held(Stream.TELEMETRY)
    assert {(s["measurement"], json.dumps(s["tags"])) for s in first} == {
        ("hall_queue", '{"service": "SB"}'),
        ("hall_queue", '{"service": "YB"}'),
        ("hall_windows", "{}"),
    }
    hall.clock.set(AT + timedelta(minutes=1))
    export.tick()
    assert len(hall.held(Stream.TELEMETRY)) == len(first)  # nothing changed: nothing sent
    hall.send("ticket_machine", "TM01", 90, type="ticket.issued", ticket_id="t1", number="A001", service="SB")
    hall.clock.set(AT + timedelta(minutes=2))
    export.tick()
    changed = hall.held(Stream.TELEMETRY)[len(first) :]
    # SB's queue and the hall's total moved; YB did not
    assert [(s["measurement"], s["tags"], s["fields"]["waiting"]) for s in changed] == [
        ("hall_queue", {"service": "SB"}, 1),
        ("hall_windows", {}, 1),
    ]
    hall.clock.set(AT + timedelta(minutes=17))
    export.tick()
    again = hall.held(Stream.TELEMETRY)[len(first) + len(changed) :]
    assert {"service": "YB"} in [s["tags"] for s in again]  # unchanged for 15 minutes: sent again


def test_the_hours_figures_go_with_the_hall_hour(hall: Hall) -> None:
    assert hall.gw.cloud is not None
    hall.send("ticket_machine", "TM01", 0, type="ticket.issued", ticket_id="t1", number="A001", service="SB")
    hall.gw.flush()
    hall.gw.cloud.export.tick()
    (hour,) = hall.held(Stream.KPIS)
    assert hour["start"] == "2026-11-23T10:00:00+08:00" and hour["issued"] == 1 and hour["service"] is None


def test_a_tick_whose_transaction_fails_leaves_its_records_due(hall: Hall, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hall.gw.cloud is not None and hall.gw.store is not None
    export, cloud = hall.gw.cloud.export, hall.gw.store.cloud
    real = cloud.add

    def full_disk(records: object, now: float | None = None) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cloud, "add", full_disk)
    with pytest.raises(sqlite3.OperationalError):
        export.tick()
    monkeypatch.setattr(cloud, "add", real)
    export.tick()  # the next second, the disk freed
    assert len(hall.held(Stream.TELEMETRY)) == 3  # the samples it could not keep then, not skipped for 15 minutes


def test_an_outbox_full_of_what_is_never_dropped_says_so_once(hall: Hall, caplog: pytest.LogCaptureFixture) -> None:
    assert hall.gw.cloud is not None and hall.gw.store is not None
    export = hall.gw.cloud.export
    body = json.dumps({"pad": "x" * 40_000})
    hall.gw.store.cloud.add([CloudRecord(Stream.ALERTS, 1.0, "alert", body) for _ in range(10)])  # 400 KB of alerts
    object.__setattr__(hall.gw.cfg.cloud, "budget_mb", 0.1)
    for second in range(3):
        hall.clock.set(AT + timedelta(seconds=second))
        export.tick()
    assert export.over_budget
    assert len(hall.held(Stream.ALERTS)) == 10  # nothing of them dropped
    assert sum("never dropped" in r.getMessage() for r in caplog.records) == 1
