"""The halls' records as time series: what each kind becomes in line protocol (VictoriaMetrics names a field `f` of
measurement `m` as `m_f`), the hall as a label on every one, and a sample that is not measurement/tags/fields
refused with its field path."""

from __future__ import annotations

import pytest

from cloud_sync import wire
from cloud_sync.series import lines_of
from devices.errors import PayloadError


def _batch(stream: wire.Stream, *records: tuple[str, dict[str, object]]) -> wire.Batch:
    return wire.Batch.model_validate(
        {
            "format": wire.BATCH_FORMAT,
            "hall": "city-01",
            "stream": stream.value,
            "lo": 0,
            "hi": len(records),
            "sent_at": 2.0,
            "records": [
                {"seq": i + 1, "at": 1796547600.25 + i, "kind": kind, "body": body}
                for i, (kind, body) in enumerate(records)
            ],
        }
    )


def test_a_sample_becomes_its_measurement_with_the_hall_and_its_tags_as_labels() -> None:
    lines, problems = lines_of(
        _batch(
            wire.Stream.TELEMETRY,
            (
                "sample",
                {"measurement": "hall_queue", "tags": {"service": "A 1,b"}, "fields": {"waiting": 4, "x": None}},
            ),
            ("sample", {"measurement": "hall_windows", "fields": {"open": 6, "staffed": 5.5}}),
        )
    )
    assert problems == []
    assert lines == [
        r"hall_queue,hall=city-01,service=A\ 1\,b waiting=4.0 1796547600250",
        "hall_windows,hall=city-01 open=6.0,staffed=5.5 1796547601250",
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"tags": {}, "fields": {"waiting": 1}}, "records[0].body.measurement"),
        ({"measurement": "Hall Queue", "fields": {"waiting": 1}}, "records[0].body.measurement"),
        ({"measurement": "hall_queue", "fields": [1]}, "records[0].body.fields"),
        ({"measurement": "hall_queue", "fields": {"waiting": "many"}}, "records[0].body.fields.waiting"),
        ({"measurement": "hall_queue", "fields": {"waiting": 1}, "tags": {"zone": 3}}, "records[0].body.tags.zone"),
        ({"measurement": "hall_queue", "fields": {"waiting": 1}, "tags": {"hall": "h9"}}, "records[0].body.tags.hall"),
    ],
)
def test_a_sample_of_another_shape_is_refused_with_its_field_path(body: dict[str, object], path: str) -> None:
    lines, problems = lines_of(_batch(wire.Stream.TELEMETRY, ("sample", body)))
    assert lines == []
    assert [(p.reason, p.path) for p in problems] == [("bad_record", path)]
    assert all(isinstance(p, PayloadError) for p in problems)


def test_kpis_ratings_devices_and_alerts_become_their_series() -> None:
    kpi = {"start": "2026-12-06T10:00:00+08:00", "issued": 40, "sl_pct": 92.5, "p95_wait_min": None, "other": 3}
    assert lines_of(_batch(wire.Stream.KPIS, ("kpi_hour", kpi)))[0] == [
        "hall_kpi,hall=city-01 issued=40.0,sl_pct=92.5 1796547600250"
    ]
    rating = {"device": "pad-1", "window": "W03", "ticket": "A012", "score": 5, "service": None}
    assert lines_of(_batch(wire.Stream.RATINGS, ("rating", rating)))[0] == [
        "hall_rating,hall=city-01,window=W03 score=5.0 1796547600250"
    ]
    down = {"device": "kiosk-2", "device_type": "kiosk", "up": False, "since": "2026-12-06T09:58:00+08:00"}
    assert lines_of(_batch(wire.Stream.DEVICES, ("availability", down)))[0] == [
        "hall_device,device=kiosk-2,device_type=kiosk,hall=city-01 up=0.0 1796547600250"
    ]
    alert = {"fingerprint": "ab", "rule": "queue_long", "state": "firing", "severity": "warning"}
    assert lines_of(_batch(wire.Stream.ALERTS, ("alert", alert)))[0] == [
        "hall_alert,hall=city-01,rule=queue_long,severity=warning firing=1.0 1796547600250"
    ]


def test_streams_without_series_give_none() -> None:
    ticket = {"id": "T1", "status": "open"}
    assert lines_of(_batch(wire.Stream.TICKETS, ("ticket", ticket))) == ([], [])
