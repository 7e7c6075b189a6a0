"""The cloud outbox in the gateway's SQLite file, and the uplink's batches and confirmations over it: numbering that
never goes back, what a confirmation lets go, the disk budget that drops samples only, and batches whose ranges say
truthfully what the hall still holds (cloud_sync/wire.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloud_sync.uplink import Uplink, UplinkSettings
from cloud_sync.wire import Stream, decode_batch
from devices.broker_address import BrokerAddress
from edge.store import CloudRecord, Store
from edge.store.cloud import RENUMBER_MAX

HALL = "h1"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "hall.db")
    s.cloud.enabled = True
    return s


def rec(stream: Stream, n: int, size: int = 10) -> CloudRecord:
    kind = {Stream.ALERTS: "alert", Stream.TELEMETRY: "sample", Stream.RATINGS: "rating"}[stream]
    return CloudRecord(stream, 1_796_000_000.0 + n, kind, json.dumps({"n": n, "pad": "x" * size}))


def uplink(store: Store, batch_records: int = 200) -> Uplink:
    settings = UplinkSettings((BrokerAddress("127.0.0.1", 1883),), "up-h1", batch_records=batch_records)
    return Uplink(HALL, settings, store.cloud, dict, wall=lambda: 1_796_000_100.0)


def test_a_hall_without_a_cloud_keeps_nothing_for_it(tmp_path: Path) -> None:
    s = Store(tmp_path / "hall.db")
    s.cloud.add([rec(Stream.ALERTS, 1)])
    assert s.cloud.states() == []
    assert s.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20) == []


def test_numbers_go_on_after_a_confirmation_and_a_restart(store: Store, tmp_path: Path) -> None:
    store.cloud.add([rec(Stream.ALERTS, i) for i in range(3)] + [rec(Stream.RATINGS, 9)])
    assert [r.seq for r in store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)] == [1, 2, 3]
    assert [r.seq for r in store.cloud.pending(Stream.RATINGS, 0, 10, 1 << 20)] == [1]  # per stream
    done = store.cloud.confirm({Stream.ALERTS: 3})
    assert done.deleted == 3
    store.close()
    again = Store(tmp_path / "hall.db")
    again.cloud.enabled = True
    again.cloud.add([rec(Stream.ALERTS, 4)])
    (row,) = again.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)
    assert row.seq == 4  # never 1 again: the cloud holds 1–3 and would take a new 1 for a duplicate
    (alerts, _ratings) = again.cloud.states()
    assert (alerts.last_seq, alerts.confirmed, alerts.held) == (4, 3, 1)


def test_a_confirmation_below_what_was_confirmed_changes_nothing(store: Store) -> None:
    store.cloud.add([rec(Stream.ALERTS, i) for i in range(5)])
    store.cloud.confirm({Stream.ALERTS: 4})
    assert store.cloud.confirm({Stream.ALERTS: 2}).deleted == 0
    assert [r.seq for r in store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)] == [5]


def test_a_cloud_ahead_of_a_restored_file_gets_the_waiting_rows_renumbered_above_it(store: Store) -> None:
    store.cloud.add([rec(Stream.ALERTS, i) for i in range(2)])  # a file restored from a backup: 1, 2 waiting
    result = store.cloud.confirm({Stream.ALERTS: 50})  # … while the cloud has 1–50 of the file before
    assert [m.by for m in result.renumbered] == [50]
    assert [r.seq for r in store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)] == [51, 52]  # not lost as duplicates
    store.cloud.add([rec(Stream.ALERTS, 3)])
    assert store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)[-1].seq == 53


def test_an_implausible_confirmation_is_refused_and_changes_nothing(store: Store) -> None:
    store.cloud.add([rec(Stream.ALERTS, 1)])
    result = store.cloud.confirm({Stream.ALERTS: RENUMBER_MAX + 1})
    assert result.refused == [Stream.ALERTS] and result.deleted == 0
    store.cloud.add([rec(Stream.ALERTS, 2)])
    assert [r.seq for r in store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)] == [1, 2]


def test_the_disk_budget_drops_the_oldest_samples_only_and_counts_them(store: Store) -> None:
    store.cloud.add([rec(Stream.ALERTS, i, size=1000) for i in range(20)])
    store.cloud.add([rec(Stream.TELEMETRY, i, size=1000) for i in range(50)])
    held = store.cloud.held_bytes()
    dropped = store.cloud.trim(held - 20_000)
    assert dropped >= 20
    samples = store.cloud.pending(Stream.TELEMETRY, 0, 100, 1 << 30)
    assert samples[0].seq == dropped + 1 and len(samples) == 50 - dropped  # the oldest went
    assert len(store.cloud.pending(Stream.ALERTS, 0, 100, 1 << 30)) == 20  # alerts never
    by = {s.stream: s for s in store.cloud.states()}
    assert by[Stream.TELEMETRY].dropped == dropped and by[Stream.ALERTS].dropped == 0
    assert store.cloud.held_bytes() <= held - 20_000
    # over the budget with no samples left to drop: nothing else goes
    assert store.cloud.trim(0) == 50 - dropped
    assert len(store.cloud.pending(Stream.ALERTS, 0, 100, 1 << 30)) == 20


def test_a_batch_after_dropped_samples_answers_for_the_gap(store: Store) -> None:
    store.cloud.add([rec(Stream.TELEMETRY, i, size=1000) for i in range(30)])
    dropped = store.cloud.trim(10_000)
    up = uplink(store)
    stream, hi, _count, payload = up.next_batch() or (None, 0, 0, b"")
    batch = decode_batch(payload)  # what the consumer will read
    assert stream is Stream.TELEMETRY and batch.lo == 0 and batch.hi == hi == 30
    assert [r.seq for r in batch.records] == list(range(dropped + 1, 31))  # 1..dropped will never come: (0, 30]


def test_alerts_go_before_samples_and_a_batch_holds_at_most_batch_records(store: Store) -> None:
    store.cloud.add([rec(Stream.TELEMETRY, i) for i in range(5)])
    store.cloud.add([rec(Stream.ALERTS, i) for i in range(3)])
    up = uplink(store, batch_records=2)
    first = up.next_batch()
    assert first is not None and first[0] is Stream.ALERTS and first[2] == 2
    batch = decode_batch(first[3])
    assert (batch.lo, batch.hi, batch.hall) == (0, 2, HALL)
    assert json.loads(first[3])["records"][0]["body"] == {"n": 0, "pad": "x" * 10}


def test_confirmations_are_checked_before_anything_is_let_go(store: Store) -> None:
    store.cloud.add([rec(Stream.ALERTS, i) for i in range(3)])
    up = uplink(store)
    up.take_confirmation(b"not json")
    up.take_confirmation(
        json.dumps({"format": "hallops-sync-ack/1", "hall": "h2", "confirmed": {"alerts": 3}, "at": 1}).encode()
    )
    up.take_confirmation(
        json.dumps({"format": "hallops-sync-ack/1", "hall": HALL, "confirmed": {"alerts": 2**63}, "at": 1}).encode()
    )
    assert len(store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)) == 3
    assert up.counters.refused == {"bad_confirmation": 2, "wrong_hall": 1}
    up.take_confirmation(
        json.dumps({"format": "hallops-sync-ack/1", "hall": HALL, "confirmed": {"alerts": 2}, "at": 1}).encode()
    )
    assert [r.seq for r in store.cloud.pending(Stream.ALERTS, 0, 10, 1 << 20)] == [3]
    assert up.counters.confirmed_records == 2


def test_sizes_are_bytes_on_the_wire_not_characters(store: Store) -> None:
    body = json.dumps({"note": "打印机卡纸" * 200}, ensure_ascii=False)  # 1,000 Chinese characters, 3,000+ bytes
    store.cloud.add([CloudRecord(Stream.ALERTS, 1.0, "alert", body) for _ in range(10)])
    (alerts,) = store.cloud.states()
    assert alerts.held_bytes >= 10 * len(body.encode())
    assert len(store.cloud.pending(Stream.ALERTS, 0, 100, 8_000)) == 2  # two of 3 KB in an 8 KB message, not eight
