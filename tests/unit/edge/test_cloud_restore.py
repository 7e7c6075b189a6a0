"""The cloud outbox of a database restored from an older backup: the box numbered records past the backup before it
was restored, and the cloud holds them. Nothing is sent until the cloud says what it holds; then what it has is let
go and what is new is numbered above it — no number the cloud holds is given to another record (that record would be
lost as a duplicate), and no record it holds goes again under a new number (counted twice)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cloud_sync.uplink import Uplink, UplinkSettings
from cloud_sync.wire import Stream
from devices.broker_address import BrokerAddress
from edge.store import CloudRecord, Store
from edge.store.cloud import RestoreStep, mark_restored, restore_steps

HALL = "h1"


@pytest.mark.parametrize(
    ("mark", "last", "cloud", "expected"),
    [
        # the cloud has 30 of the 20 the backup numbered, and the box numbered 21–25 since the restore
        (20, 25, 30, (20, 10, 35)),
        # the cloud is behind the backup (it had not confirmed all of it): keep 13–20, new rows keep their numbers
        (20, 25, 12, (12, 0, 25)),
        # nothing new since the restore
        (20, 20, 30, (20, 10, 30)),
        # the cloud has exactly what the backup had
        (20, 22, 20, (20, 0, 22)),
        # a stream the backup never had, that the box wrote before it was restored (a file of an older schema)
        (0, 3, 7, (0, 7, 10)),
        # a stream the cloud never heard of
        (5, 6, 0, (0, 0, 6)),
    ],
)
def test_the_plan_for_each_stream(mark: int, last: int, cloud: int, expected: tuple[int, int, int]) -> None:
    (step,) = restore_steps({"alerts": mark} if mark else {}, {"alerts": last}, {"alerts": cloud} if cloud else {})
    assert (step.delete_upto, step.shift, step.last_seq) == expected
    assert step.confirmed == cloud
    # what is new (numbered after the mark) lands just above the cloud's number, or keeps its own: never at or below it
    if last > mark:
        assert mark + 1 + step.shift > cloud


def test_streams_named_by_either_side_are_planned() -> None:
    steps = restore_steps({"alerts": 4}, {"alerts": 4, "audit": 2}, {"tickets": 9})
    assert [s.stream for s in steps] == ["alerts", "audit", "tickets"]
    assert steps[2] == RestoreStep("tickets", 0, 9, 0, 9, 9, 9)


def rec(n: int) -> CloudRecord:
    return CloudRecord(Stream.ALERTS, 1_796_000_000.0 + n, "alert", json.dumps({"n": n}))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "hall.db")
    s.cloud.enabled = True
    return s


def held(store: Store) -> list[tuple[int, int]]:
    """(seq, n) of every alert row waiting."""
    return [(r.seq, json.loads(r.body)["n"]) for r in store.cloud.pending(Stream.ALERTS, 0, 1000, 1 << 30)]


def restored_like_a_backup(store: Store, tmp_path: Path) -> Store:
    """The box numbered 1–20 and the cloud confirmed 1–12; the backup was taken then. Restored, it numbers 5 more."""
    store.cloud.add([rec(i) for i in range(1, 21)])
    store.cloud.confirm({Stream.ALERTS: 12})
    store.close()
    db = sqlite3.connect(tmp_path / "hall.db", isolation_level=None)  # (as the restore marks it: no store open)
    assert mark_restored(db, now=1.0) == {"alerts": 20}
    db.close()
    again = Store(tmp_path / "hall.db")
    again.cloud.enabled = True
    again.cloud.add([rec(i) for i in range(101, 106)])  # new since the restore: numbered 21–25 here
    return again


def test_reconcile_deletes_what_the_cloud_has_and_moves_what_is_new_above_it(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    assert s.cloud.restored() == {Stream.ALERTS: 20}
    # before it was restored the box had sent 21–30 (other records), and the cloud holds them
    steps = s.cloud.reconcile({Stream.ALERTS: 30}, now=2.0)
    assert [(st.delete_upto, st.shift) for st in steps] == [(20, 10)]
    assert held(s) == [(31, 101), (32, 102), (33, 103), (34, 104), (35, 105)]
    (state,) = s.cloud.states()
    assert (state.last_seq, state.confirmed, state.held) == (35, 30, 5)
    assert state.held_bytes == sum(len(json.dumps({"n": n})) + len("alert") + 40 for n in range(101, 106))
    assert s.cloud.restored() is None
    s.cloud.add([rec(106)])
    assert held(s)[-1] == (36, 106)  # numbering goes on above


def test_reconcile_when_the_cloud_is_behind_the_backup_sends_the_rest_again(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    s.cloud.reconcile({Stream.ALERTS: 15}, now=2.0)
    assert [seq for seq, _ in held(s)] == [*range(16, 21), *range(21, 26)]  # 16–20 as numbered then, the new after
    assert s.cloud.restored() is None


def test_reconcile_moves_rows_past_each_other_without_a_collision(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    s.cloud.reconcile({Stream.ALERTS: 22}, now=2.0)  # shift 2 over 5 new rows: 21→23 while 23 is still there
    assert held(s) == [(23, 101), (24, 102), (25, 103), (26, 104), (27, 105)]


def test_an_implausible_confirmation_leaves_the_stream_alone(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    s.cloud.reconcile({Stream.ALERTS: 2**50}, now=2.0)
    assert [seq for seq, _ in held(s)] == list(range(13, 26))


def uplink(store: Store) -> Uplink:
    settings = UplinkSettings((BrokerAddress("127.0.0.1", 1883),), "up-h1")
    return Uplink(HALL, settings, store.cloud, dict, wall=lambda: 1_796_000_100.0)


def test_the_uplink_sends_nothing_until_the_cloud_answered(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    up = uplink(s)
    up.awaiting_cloud = s.cloud.restored() is not None  # as a connection to the engine begins
    assert up.awaiting_cloud
    ack = {"format": "hallops-sync-ack/1", "hall": HALL, "confirmed": {"alerts": 30}, "at": 1_796_000_100.0}
    up.take_confirmation(json.dumps(ack).encode())
    assert not up.awaiting_cloud and up.counters.reconciled == 1
    stream, hi, count, payload = up.next_batch() or (None, 0, 0, b"")
    body = json.loads(payload)
    assert (stream, body["lo"], hi, count) == (Stream.ALERTS, 30, 35, 5)
    assert [r["body"]["n"] for r in body["records"]] == [101, 102, 103, 104, 105]


def test_a_hall_the_cloud_holds_nothing_of_is_answered_too(store: Store, tmp_path: Path) -> None:
    s = restored_like_a_backup(store, tmp_path)
    up = uplink(s)
    up.awaiting_cloud = True
    ack = {"format": "hallops-sync-ack/1", "hall": HALL, "confirmed": {}, "at": 1_796_000_100.0}
    up.take_confirmation(json.dumps(ack).encode())
    assert not up.awaiting_cloud
    assert [seq for seq, _ in held(s)] == list(range(13, 26))  # nothing confirmed: all goes, as numbered
