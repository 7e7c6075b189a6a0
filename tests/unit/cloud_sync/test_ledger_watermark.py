"""The confirmation a hall gets back: the watermark merged from committed ranges (a pure function, table-driven),
and how a fetched group turns into rows and dead letters before it reaches PostgreSQL (no database here; the
integration test `tests/integration/test_cloud_consume.py` runs the same against a real one)."""

from __future__ import annotations

import json

import pytest

from cloud_sync import wire
from cloud_sync.consume import confirmation, sort_out
from cloud_sync.ledger import advance


@pytest.mark.parametrize(
    ("confirmed", "ranges", "expected", "kept"),
    [
        # nothing committed yet, nothing to merge
        (0, [], 0, []),
        # in order: each batch starts where the last ended
        (0, [(0, 3), (3, 5), (5, 9)], 9, []),
        # out of order (another instance committed the later batch first): the later one waits for the gap
        (0, [(3, 5)], 0, [(3, 5)]),
        (0, [(3, 5), (0, 3)], 5, []),
        # a re-send after a reconnect with other boundaries overlapping what is already there
        (5, [(0, 3), (2, 7), (4, 6)], 7, []),
        (0, [(0, 4), (2, 9), (9, 12)], 12, []),
        # a range wholly below the watermark (a duplicate) changes nothing and is dropped
        (10, [(2, 6)], 10, []),
        # a gap of dropped telemetry: the batch declares (3, 8] and holds only 7 and 8 — its range covers 4…6
        (3, [(3, 8)], 8, []),
        # a real gap (a batch not committed yet) holds everything after it back, whatever arrives later
        (2, [(4, 6), (6, 9), (9, 20)], 2, [(4, 6), (6, 9), (9, 20)]),
        (2, [(4, 6), (6, 9), (2, 4)], 9, []),
        # a range starting exactly at the watermark joins; one starting above it does not
        (7, [(7, 8), (9, 10)], 8, [(9, 10)]),
        # the same range committed twice (a redelivery) counts once
        (0, [(0, 5), (0, 5)], 5, []),
        # a range nested inside another
        (0, [(0, 10), (3, 4)], 10, []),
    ],
)
def test_the_watermark_is_the_highest_number_below_which_no_range_is_missing(
    confirmed: int, ranges: list[tuple[int, int]], expected: int, kept: list[tuple[int, int]]
) -> None:
    assert advance(confirmed, ranges) == (expected, kept)


def test_the_watermark_does_not_depend_on_the_order_ranges_are_committed_in() -> None:
    ranges = [(0, 3), (3, 4), (4, 9), (2, 6), (9, 10), (12, 15)]
    seen = set()
    for shift in range(len(ranges)):
        w = 0
        pending: list[tuple[int, int]] = []
        for r in ranges[shift:] + ranges[:shift]:  # one at a time, as separate commits would
            w, pending = advance(w, [*pending, r])
        seen.add((w, tuple(pending)))
    assert seen == {(10, ((12, 15),))}


def _batch(hall: str, stream: str, lo: int, hi: int, records: list[dict[str, object]]) -> bytes:
    return wire.encode(
        {"format": wire.BATCH_FORMAT, "hall": hall, "stream": stream, "lo": lo, "hi": hi, "sent_at": 1.0,
         "records": records}
    )  # fmt: skip


def _alert(seq: int, **body: object) -> dict[str, object]:
    return {"seq": seq, "at": 1000.0 + seq, "kind": "alert", "body": {"fingerprint": "f1", "state": "firing", **body}}


def test_a_message_that_breaks_the_wire_is_refused_whole_with_its_reason_and_field_path() -> None:
    up = wire.subject(wire.up_topic("h1", wire.Stream.ALERTS))
    group = sort_out(
        [
            (up, b"{not json"),
            (up, _batch("h2", "alerts", 0, 1, [_alert(1)])),  # another hall's batch on h1's subject
            (up, _batch("h1", "alerts", 0, 2**63, [_alert(1)])),  # beyond what JSON keeps exactly
            (up, _batch("h1", "alerts", 0, 2, [_alert(3)])),  # a record outside its range
            (up, _batch("h1", "tickets", 0, 1, [])),  # a tickets batch on the alerts subject
            ("cloud.halls.h1.down.x", b"{}"),
            (up, _batch("h1", "alerts", 0, 2, [_alert(1), _alert(2)])),  # fine
        ]
    )
    refused = [(d.reason, d.path) for d in group.rows.dead]
    assert refused == [
        ("bad_batch", ""),
        ("wrong_hall", "hall"),
        ("bad_batch", "hi"),
        ("bad_batch", "records[0].seq"),
        ("wrong_stream", "stream"),
        ("bad_subject", "subject"),
    ]
    assert group.refused == {0, 1, 2, 3, 4, 5}
    assert [(b.hall, b.lo, b.hi) for b in group.batches] == [("h1", 0, 2)]
    assert len(group.rows.tables["alert_history"]) == 2


def test_a_bad_record_is_a_dead_letter_of_its_own_and_the_rest_of_its_batch_is_kept() -> None:
    up = wire.subject(wire.up_topic("h1", wire.Stream.ALERTS))
    group = sort_out([(up, _batch("h1", "alerts", 0, 3, [_alert(1), _alert(2, fingerprint=None), _alert(3)]))])
    assert [(d.reason, d.path) for d in group.rows.dead] == [("bad_record", "records[1].body.fingerprint")]
    assert group.refused == set()
    assert [row[1] for row in group.rows.tables["alert_history"]] == [1, 3]
    assert [(b.lo, b.hi) for b in group.batches] == [(0, 3)]  # the range is still committed: the hall moves on


def test_a_status_from_another_hall_is_refused() -> None:
    status = wire.encode({"format": wire.STATUS_FORMAT, "hall": "h2", "at": 5.0, "online": True})
    group = sort_out([(wire.subject(wire.status_topic("h1")), status)])
    assert [(d.reason, d.path) for d in group.rows.dead] == [("wrong_hall", "hall")]
    assert group.statuses == []


def test_the_confirmation_is_what_the_edge_decodes() -> None:
    raw = confirmation("h1", {"tickets": 7, "alerts": 43}, 1796547600.4)
    decoded = wire.decode_confirmation(raw)
    assert decoded.confirmed == {wire.Stream.ALERTS: 43, wire.Stream.TICKETS: 7}
    assert json.loads(raw)["format"] == wire.ACK_FORMAT
