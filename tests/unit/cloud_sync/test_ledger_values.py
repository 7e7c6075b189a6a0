"""Values PostgreSQL would refuse never reach it: one such value (a NaN in an alert's evidence, a U+0000 in a ticket's
note, a number beyond bigint) would fail the transaction of a whole group of halls, again at every redelivery and
every re-send — the province's ingest would stall on one record."""

from __future__ import annotations

import json

from cloud_sync import wire
from cloud_sync.ledger import Rows, add_batch


def batch(stream: wire.Stream, kind: str, bodies: list[str]) -> tuple[wire.Batch, bytes]:
    records = ",".join(f'{{"seq":{i},"at":1796000000.0,"kind":"{kind}","body":{b}}}' for i, b in enumerate(bodies, 1))
    raw = (
        f'{{"format":"hallops-sync/1","hall":"h1","stream":"{stream.value}","lo":0,"hi":{len(bodies)},'
        f'"sent_at":1796000000.0,"records":[{records}]}}'
    ).encode()
    return wire.decode_batch(raw), raw


def test_nan_infinity_and_nul_are_stored_as_null_and_a_replacement_character() -> None:
    b, raw = batch(
        wire.Stream.TICKETS,
        "ticket",
        [
            '{"id":"T-1","status":"resolved","resolution_note":"paper jam\\u0000fixed",'
            '"evidence":{"x":NaN,"y":[Infinity]}}'
        ],
    )
    rows = Rows()
    add_batch(rows, b, "cloud.halls.h1.up.tickets", raw)
    assert rows.dead == []
    (version,) = rows.tables["ticket_versions"]
    body = json.loads(version[-1])
    assert body["resolution_note"] == "paper jam\ufffdfixed"
    assert body["evidence"] == {"x": None, "y": [None]}
    assert "\\u0000" not in version[-1] and "NaN" not in version[-1]


def test_a_number_beyond_bigint_is_a_dead_letter_of_its_own_and_the_rest_is_kept() -> None:
    b, raw = batch(
        wire.Stream.AUDIT,
        "audit",
        [
            '{"id":1,"at":"2026-11-23T09:00:00+08:00","actor":"wang","action":"a","subject":"s","detail":{},"hash":"h"}',
            '{"id":9223372036854775808,"at":"2026-11-23T09:00:00+08:00","actor":"x","action":"a","subject":"s",'
            '"detail":{},"hash":"h"}',
        ],
    )
    rows = Rows()
    add_batch(rows, b, "cloud.halls.h1.up.audit", raw)
    assert [(d.reason, d.path) for d in rows.dead] == [("bad_record", "records[1].body.id")]
    assert len(rows.tables["audit"]) == 1  # the first entry goes on; the batch's range is still committed
