"""Vendor mappings: a vendor's JSON becomes a contract message by config alone.

The first tests are the worked example of docs/contract.md (the fictional Acme QM-200 ticket machine); a test
checks that the doc shows exactly these texts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devices.contract import TicketCancelled, TicketIssued, TicketMachineState, payload_adapter
from devices.errors import ConfigError, PayloadError
from devices.mapping import VendorMapping, match, parse_mappings, subscription_filter, translate
from devices.topics import Channel, DeviceType, parse_topic

HALL = "HZ-XH-01"
DOC = Path(__file__).parents[3] / "docs" / "contract.md"

ACME_YAML = """\
vendor_mappings:
  - name: acme-qm200
    topic: acme/QM200/{device_id}/report
    device_type: ticket_machine
    channel: evt
    type_field: hdr.cmd
    types:
      1001: ticket.issued
      1002: ticket.cancelled
      1005: ticket.reactivated
    fields:
      ts: hdr.time
      seq: hdr.msgNo
      ticket_id: data.ticketNo
      number: data.showNo
      service: data.bizCode
      channel: data.queueKind
      appointment_id: data.bookingId
      reason: data.cancelReason
    convert:
      ts: {time: local, timezone: Asia/Shanghai}
      channel: {values: {"1": walk_in, "2": appointment, "3": priority, "9": green_channel}}
  - name: acme-qm200-status
    topic: acme/QM200/{device_id}/status
    device_type: ticket_machine
    channel: state
    fields:
      online: st
      ts: hdr.time
      seq: hdr.msgNo
      printer: prn.state
      paper_pct: prn.paper
      error_code: err
    convert:
      ts: {time: local, timezone: Asia/Shanghai}
      online: {values: {"1": true, "0": false}}
      printer: {values: {NORMAL: ok, LOW: paper_low, EMPTY: paper_out, JAM: jam}}
"""

ACME_TOPIC = "acme/QM200/QM200-3F-07/report"
ACME_RAW = """\
{"hdr": {"cmd": 1001, "sn": "QM200-3F-07", "msgNo": 5812, "time": "2024-05-06 09:30:05"},
 "data": {"ticketNo": "20240506A023", "showNo": "A023", "bizCode": "HJ01", "bizName": "户籍办理",
          "queueKind": "2", "bookingId": "YY-889", "printed": true}}"""
ACME_CONTRACT_TOPIC = "hall/HZ-XH-01/ticket_machine/QM200-3F-07/evt"
ACME_CONTRACT = (
    '{"v":1,"type":"ticket.issued","ts":"2024-05-06T09:30:05+08:00","seq":5812,"ticket_id":"20240506A023",'
    '"number":"A023","service":"HJ01","channel":"appointment","appointment_id":"YY-889"}'
)


def acme() -> tuple[VendorMapping, ...]:
    return parse_mappings(yaml.safe_load(ACME_YAML)["vendor_mappings"], "acme.yaml")


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def issued(**data: Any) -> dict[str, Any]:
    base = {"ticketNo": "T-9", "showNo": "A009", "bizCode": "HJ01"}
    return {"hdr": {"cmd": 1001, "msgNo": 1, "time": "2024-05-06 09:30:05"}, "data": {**base, **data}}


def one(text: str, **changes: Any) -> VendorMapping:
    """A single mapping from YAML, with top-level keys replaced."""
    data = yaml.safe_load(text)
    data.update(changes)
    (mapping,) = parse_mappings([data])
    return mapping


# ------------------------------------------------------------------------------------------ worked example


def test_the_acme_example_becomes_the_documented_contract_message() -> None:
    mappings = acme()
    event_mapping = match(mappings, ACME_TOPIC)
    assert event_mapping is not None
    assert event_mapping.name == "acme-qm200"

    topic, payload = translate(event_mapping, ACME_TOPIC, ACME_RAW.encode(), HALL)

    assert topic == ACME_CONTRACT_TOPIC
    assert payload.decode() == ACME_CONTRACT
    where = parse_topic(topic)
    adapter = payload_adapter(where.device_type, where.channel)
    assert adapter is not None
    event = adapter.validate_json(payload)
    assert isinstance(event, TicketIssued)
    assert (event.number, event.service, event.channel, event.seq) == ("A023", "HJ01", "appointment", 5812)
    assert event.ts.isoformat() == "2024-05-06T09:30:05+08:00"


def test_the_doc_shows_the_tested_example() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for text in (ACME_YAML, ACME_RAW, ACME_CONTRACT_TOPIC, ACME_CONTRACT):
        assert text in doc


def test_the_gateway_subscribes_to_each_vendor_topic() -> None:
    assert [subscription_filter(m) for m in acme()] == ["acme/QM200/+/report", "acme/QM200/+/status"]


def test_other_event_types_map_with_their_own_fields() -> None:
    mapping = acme()[0]
    doc = issued(cancelReason="left the hall")
    doc["hdr"]["cmd"] = 1002
    _, payload = translate(mapping, ACME_TOPIC, raw(doc), HALL)
    event = payload_adapter(DeviceType.TICKET_MACHINE, Channel.EVT).validate_json(payload)  # type: ignore[union-attr]
    assert isinstance(event, TicketCancelled)
    assert event.reason == "left the hall"
    # fields the cancelled event does not have (number, service …) are not copied
    assert set(json.loads(payload)) == {"v", "type", "ts", "seq", "ticket_id", "reason"}


def test_optional_contract_fields_may_be_absent_in_the_vendor_payload() -> None:
    _, payload = translate(acme()[0], ACME_TOPIC, raw(issued()), HALL)
    out = json.loads(payload)
    assert "appointment_id" not in out
    assert "channel" not in out  # the contract default (walk_in) applies
    assert TicketIssued.model_validate_json(payload).channel == "walk_in"


def test_the_status_mapping_converts_values() -> None:
    status = match(acme(), "acme/QM200/QM200-3F-07/status")
    assert status is not None
    vendor = {"st": 1, "hdr": {"time": "2024-05-06 09:31:00", "msgNo": 5813}, "prn": {"state": "LOW", "paper": 9}}
    topic, payload = translate(status, "acme/QM200/QM200-3F-07/status", raw(vendor), HALL)
    assert topic == "hall/HZ-XH-01/ticket_machine/QM200-3F-07/state"
    state = TicketMachineState.model_validate_json(payload)
    assert (state.online, state.printer, state.paper_pct) == (True, "paper_low", 9)


def test_a_vendor_last_will_maps_to_offline() -> None:
    status = acme()[1]
    _, payload = translate(status, "acme/QM200/QM200-3F-07/status", b'{"st": 0}', HALL)
    assert json.loads(payload) == {"v": 1, "online": False}
    assert TicketMachineState.model_validate_json(payload).online is False


# ------------------------------------------------------------------------------------------ paths and conversions

KIOSK = """\
name: bright-kiosk
topic: bright/+/{device_id}/#
device_type: kiosk
channel: evt
type_field: events[0].kind
types: {done: kiosk.session, err: kiosk.error}
fields:
  ts: events[0].at
  seq: meta.counter
  outcome: events[0].detail.result
  duration_s: events[0].detail.secs
  service: events.0.detail.item.code
  code: events[0].detail.errno
convert:
  ts: {time: epoch_ms}
  outcome: {values: {0: success, 1: abandon, 2: error}}
constants:
  step: done
"""


def kiosk_doc(**detail: Any) -> dict[str, Any]:
    event = {"kind": "done", "at": 1714959005123, "detail": {"result": 0, "secs": 42.5, **detail}}
    return {"meta": {"counter": 17}, "events": [event, {"kind": "ignored"}]}


def test_nested_paths_with_list_indexes() -> None:
    mapping = one(KIOSK)
    doc = kiosk_doc(item={"code": "SB02"})
    topic, payload = translate(mapping, "bright/floor1/K-07/up/v2", raw(doc), HALL)
    assert topic == "hall/HZ-XH-01/kiosk/K-07/evt"
    out = json.loads(payload)
    assert out["service"] == "SB02"
    assert out["outcome"] == "success"
    assert out["duration_s"] == 42.5
    assert out["step"] == "done"  # constants apply to the events that have the field


def test_epoch_milliseconds_keep_the_milliseconds() -> None:
    _, payload = translate(one(KIOSK), "bright/f1/K-07", raw(kiosk_doc()), HALL)
    assert json.loads(payload)["ts"] == "2024-05-06T01:30:05.123000+00:00"


@pytest.mark.parametrize(
    ("conversion", "value", "expected"),
    [
        ({"time": "epoch_s"}, 1714959005, "2024-05-06T01:30:05+00:00"),
        ({"time": "epoch_s"}, "1714959005", "2024-05-06T01:30:05+00:00"),
        ({"time": "epoch_s", "timezone": "Asia/Shanghai"}, 1714959005.5, "2024-05-06T09:30:05.500000+08:00"),
        ({"time": "epoch_ms", "timezone": "+08:00"}, 1714959005123, "2024-05-06T09:30:05.123000+08:00"),
        ({"time": "local", "timezone": "Asia/Shanghai"}, "2024-05-06T09:30:05", "2024-05-06T09:30:05+08:00"),
        (
            {"time": "local", "timezone": "Asia/Shanghai", "format": "%Y%m%d%H%M%S"},
            "20240506093005",
            "2024-05-06T09:30:05+08:00",
        ),
        # a vendor that does send an offset is believed
        ({"time": "local", "timezone": "Asia/Shanghai"}, "2024-05-06T01:30:05+00:00", "2024-05-06T01:30:05+00:00"),
        ({"time": "rfc3339"}, "2024-05-06T09:30:05+08:00", "2024-05-06T09:30:05+08:00"),
    ],
)
def test_time_conversions(conversion: dict[str, Any], value: object, expected: str) -> None:
    mapping = one(
        "{name: t, topic: 'v/{device_id}', device_type: kiosk, channel: hb, fields: {ts: t, seq: n}}",
        convert={"ts": conversion},
    )
    _, payload = translate(mapping, "v/K1", raw({"t": value, "n": 1}), HALL)
    assert json.loads(payload)["ts"] == expected


@pytest.mark.parametrize(
    ("conversion", "value"),
    [
        ({"time": "epoch_ms"}, "soon"),
        ({"time": "epoch_s"}, True),
        ({"time": "epoch_s"}, {"s": 1}),
        ({"time": "local", "timezone": "Asia/Shanghai"}, "06/05/2024 9:30"),
        ({"time": "local", "timezone": "Asia/Shanghai"}, 20240506),
        ({"time": "rfc3339"}, 1714959005),
    ],
)
def test_times_that_do_not_convert_are_rejected_with_the_path(conversion: dict[str, Any], value: object) -> None:
    mapping = one(
        "{name: t, topic: 'v/{device_id}', device_type: kiosk, channel: hb, fields: {ts: a.t, seq: n}}",
        convert={"ts": conversion},
    )
    with pytest.raises(PayloadError) as caught:
        translate(mapping, "v/K1", raw({"a": {"t": value}, "n": 1}), HALL)
    assert (caught.value.reason, caught.value.path) == ("vendor_mapping", "a.t")


def test_value_maps_apply_to_each_element_of_a_list() -> None:
    mapping = one(
        "{name: w, topic: 'w/{device_id}', device_type: window, channel: evt, event_type: window.opened,"
        " fields: {ts: t, seq: n, services: biz}, convert: {services: {values: {'11': HJ01, '12': SB02}}}}"
    )
    _, payload = translate(mapping, "w/W01", raw({"t": "2024-05-06T09:00:00+08:00", "n": 3, "biz": [11, 12]}), HALL)
    assert json.loads(payload)["services"] == ["HJ01", "SB02"]


def test_without_a_vendor_counter_seq_is_derived_from_the_time() -> None:
    mapping = one(
        "{name: e, topic: 'e/{device_id}', device_type: evaluator, channel: evt, event_type: rating.submitted,"
        " fields: {ts: t, window_id: w, score: s}, convert: {ts: {time: epoch_s}}}"
    )

    def seq(t: int, score: int) -> int:
        _, payload = translate(mapping, "e/E1", raw({"t": t, "w": "W01", "s": score}), HALL)
        value = json.loads(payload)["seq"]
        assert isinstance(value, int)
        return value

    assert seq(1714959005, 5) == seq(1714959005, 5)  # a redelivered copy is a duplicate
    assert seq(1714959005, 5) != seq(1714959005, 4)  # two ratings in the same second are not
    assert seq(1714959006, 1) > seq(1714959005, 5)  # and it rises with time


def test_the_hall_placeholder_must_be_this_hall() -> None:
    mapping = one("{name: h, topic: 'v/{hall}/{device_id}', device_type: kiosk, channel: hb, fields: {ts: t, seq: n}}")
    body = raw({"t": "2024-05-06T09:00:00+08:00", "n": 1})
    assert translate(mapping, f"v/{HALL}/K1", body, HALL)[0] == "hall/HZ-XH-01/kiosk/K1/hb"
    with pytest.raises(PayloadError) as caught:
        translate(mapping, "v/OTHER/K1", body, HALL)
    assert caught.value.reason == "wrong_hall"


def test_the_device_id_may_come_from_the_payload() -> None:
    mapping = one(
        "{name: p, topic: vendor/all, device_type: camera, channel: hb, fields: {ts: t, seq: n, device_id: cam.sn}}"
    )
    topic, payload = translate(
        mapping, "vendor/all", raw({"t": "2024-05-06T09:00:00+08:00", "n": 1, "cam": {"sn": "C9"}}), HALL
    )
    assert topic == "hall/HZ-XH-01/camera/C9/hb"
    assert json.loads(payload)["device_id"] == "C9"
    with pytest.raises(PayloadError) as caught:
        translate(mapping, "vendor/all", raw({"t": "x", "n": 1, "cam": {"sn": "C 9/1"}}), HALL)
    assert (caught.value.reason, caught.value.path) == ("vendor_mapping", "cam.sn")


def test_match_picks_the_first_mapping_whose_topic_matches() -> None:
    mappings = acme()
    assert match(mappings, "acme/QM200/QM1/report") is mappings[0]
    assert match(mappings, "acme/QM200/QM1/status") is mappings[1]
    for topic in ("acme/QM200/QM1", "acme/QM200/QM1/report/x", "acme/QM300/QM1/report", "hall/H/window/W/evt"):
        assert match(mappings, topic) is None
    wildcard = one(KIOSK)
    assert match([wildcard], "bright/f1/K1") is wildcard  # `#` also matches the parent level
    assert match([wildcard], "bright/f1/K1/a/b") is wildcard
    assert match([wildcard], "bright/K1") is None


# ------------------------------------------------------------------------------------------ rejected messages


@pytest.mark.parametrize(
    ("case", "doc", "path", "words"),
    [
        ("no display number", issued(showNo=None), "data.showNo", "lacks"),
        ("no data at all", {"hdr": {"cmd": 1001, "msgNo": 1, "time": "2024-05-06 09:30:05"}}, "data.ticketNo", "lacks"),
        ("unmapped vendor type", {**issued(), "hdr": {"cmd": 1009, "msgNo": 1}}, "hdr.cmd", "1009"),
        ("no vendor type", {"data": {}}, "hdr.cmd", "missing"),
        ("unmapped queue kind", issued(queueKind="7"), "data.queueKind", "'7'"),
        ("time is not local time", {**issued(), "hdr": {"cmd": 1001, "msgNo": 1, "time": "noon"}}, "hdr.time", "noon"),
    ],
)
def test_a_vendor_message_that_does_not_map_names_the_vendor_field(
    case: str, doc: dict[str, Any], path: str, words: str
) -> None:
    if case == "no display number":
        del doc["data"]["showNo"]
    with pytest.raises(PayloadError) as caught:
        translate(acme()[0], ACME_TOPIC, raw(doc), HALL)
    assert caught.value.reason == "vendor_mapping", case
    assert caught.value.path == path, case
    assert words in caught.value.detail, case


@pytest.mark.parametrize(
    ("body", "reason"), [(b"{not json", "bad_json"), (b"\xff\xfe", "bad_json"), (b"[1, 2]", "not_an_object")]
)
def test_a_vendor_payload_that_is_not_a_json_object(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        translate(acme()[0], ACME_TOPIC, body, HALL)
    assert caught.value.reason == reason


def test_a_topic_the_mapping_does_not_cover() -> None:
    with pytest.raises(PayloadError) as caught:
        translate(acme()[0], "acme/QM200/QM1/status", ACME_RAW.encode(), HALL)
    assert (caught.value.reason, caught.value.path) == ("vendor_mapping", "topic")


def test_translation_is_fast_enough_for_a_busy_hall() -> None:
    mapping = acme()[0]
    body = ACME_RAW.encode()
    started = time.process_time()  # CPU time: a busy machine does not fail it
    for _ in range(5000):
        translate(mapping, ACME_TOPIC, body, HALL)
    assert time.process_time() - started < 1.0  # ≥ 5,000 messages/s of one core, even on a slow edge box


# ------------------------------------------------------------------------------------------ config errors

BASE = yaml.safe_load(ACME_YAML)["vendor_mappings"][0]


@pytest.mark.parametrize(
    ("case", "change", "path", "words"),
    [
        ("unknown key", {"feilds": {}}, "[0].feilds", "unknown key"),
        ("unknown device type", {"device_type": "printer"}, "[0].device_type", "ticket_machine"),
        ("channel cmd", {"channel": "cmd"}, "[0].channel", "evt"),
        (
            "event of another device",
            {"types": {"1": "window.opened"}},
            "[0]",
            "types.1: 'window.opened' is not an event",
        ),
        ("unknown contract field", {"fields": {**BASE["fields"], "tiket_id": "x"}}, "[0]", "fields.tiket_id"),
        ("required field unmapped", {"fields": {"ts": "t", "ticket_id": "a", "service": "s"}}, "[0]", "'number'"),
        ("local time without zone", {"convert": {"ts": {"time": "local"}}}, "[0].convert.ts", "timezone"),
        (
            "unknown time zone",
            {"convert": {"ts": {"time": "local", "timezone": "Mars/Olympus"}}},
            "[0].convert.ts",
            "Mars",
        ),
        ("time and values", {"convert": {"ts": {"time": "epoch_s", "values": {}}}}, "[0].convert.ts", "exactly one"),
        ("conversion of unmapped field", {"convert": {"slot": {"time": "epoch_s"}}}, "[0]", "convert.slot"),
        ("types without type_field", {"type_field": None}, "[0]", "type_field"),
        ("contract namespace", {"topic": "hall/{device_id}/evt"}, "[0]", "namespace"),
        ("wildcard inside a level", {"topic": "acme/QM+/{device_id}"}, "[0]", "mixes"),
        ("# not last", {"topic": "acme/#/{device_id}"}, "[0]", "last level"),
        ("no device id", {"topic": "acme/QM200/report"}, "[0]", "device id"),
        ("v is not mappable", {"constants": {"v": 2}}, "[0]", "constants.v"),
        ("bad path", {"fields": {**BASE["fields"], "number": "data..showNo"}}, "[0]", "bad path"),
    ],
)
def test_config_errors_name_the_field(case: str, change: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mappings([{**BASE, **change}], "gateway.yaml")
    problems = caught.value.problems
    assert any(p.path == path and words in p.message for p in problems), (case, [str(p) for p in problems])
    assert "gateway.yaml" in str(caught.value)


def test_state_mappings_have_no_event_type() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mappings([{**yaml.safe_load(ACME_YAML)["vendor_mappings"][1], "event_type": "ticket.issued"}])
    assert "only an evt mapping" in str(caught.value)


def test_mapping_names_are_unique() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mappings([BASE, BASE])
    assert [p.path for p in caught.value.problems] == ["[1].name"]


def test_a_mapping_list_must_be_a_list() -> None:
    with pytest.raises(ConfigError):
        parse_mappings({"name": "x"})
