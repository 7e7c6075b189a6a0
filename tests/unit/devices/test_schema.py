"""The JSON Schema of the contract, and `hallops devices schema`.

`jsonschema` is not a dependency, so the document is checked structurally and then used, by a small validator
for the keywords it contains, to accept the valid examples of test_contract and refuse invalid ones: a device
maker validating against the schema must get the gateway's answer.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devices.cli import add_schema_arguments, run_schema
from devices.contract import COMMANDS_BY_DEVICE, EVENTS_BY_DEVICE, STATE_BY_DEVICE, event_type
from devices.schema import DRAFT, FILE_NAME, contract_schema, write_schema
from devices.topics import Channel, DeviceType
from tests.unit.devices.test_contract import INVALID_EVENTS, VALID_COMMANDS, VALID_EVENTS, VALID_STATES

KNOWN_KEYWORDS = {
    # core and applicator keywords of draft 2020-12 that may appear
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "properties",
    "additionalProperties",
    "propertyNames",
    "items",
    "prefixItems",
    # validation and annotation keywords
    "type",
    "const",
    "enum",
    "required",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "format",
    "title",
    "description",
    "default",
    "examples",
    "maxItems",
    "minItems",
}
TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    # a JSON round trip: what is written to disk is what is checked
    document: dict[str, Any] = json.loads(json.dumps(contract_schema()))
    return document


def subschemas(node: Any) -> list[dict[str, Any]]:
    """Every schema object inside `node` (not the annotation data under x-* keys)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for key, value in node.items():
            if key.startswith("x-") or key in {"const", "enum", "default", "examples"}:
                continue
            if key in {"properties", "$defs"}:
                for child in value.values():
                    found += subschemas(child)
            elif isinstance(value, dict | list):
                found += subschemas(value)
    elif isinstance(node, list):
        for item in node:
            found += subschemas(item)
    return found


def test_the_document_is_a_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:hallops:device-contract:v1")
    for node in subschemas(schema):
        unknown = {k for k in node if not k.startswith("x-")} - KNOWN_KEYWORDS
        assert not unknown, node
        if "type" in node:
            assert node["type"] in TYPES
        if "required" in node:
            assert set(node["required"]) <= set(node.get("properties", {}))
        if "$ref" in node:
            assert node["$ref"].startswith("#/$defs/")
            assert node["$ref"].removeprefix("#/$defs/") in schema["$defs"], node["$ref"]


def test_the_index_names_every_topic_kind(schema: dict[str, Any]) -> None:
    rows = {(r["device_type"], r["channel"], r.get("type")): r for r in schema["x-topics"]}
    expected: set[tuple[str, str, str | None]] = set()
    for device in DeviceType:
        expected |= {(device.value, "evt", event_type(m)) for m in EVENTS_BY_DEVICE[device]}
        expected |= {(device.value, "state", None), (device.value, "hb", None)}
        commands = COMMANDS_BY_DEVICE.get(device, ())
        expected |= {(device.value, "cmd", m.model_fields["type"].default) for m in commands}
        if commands:
            expected.add((device.value, "cmd/ack", None))
    assert set(rows) == expected
    issued = rows[("ticket_machine", "evt", "ticket.issued")]
    assert issued["topic"] == "hall/{hall_id}/ticket_machine/{device_id}/evt"
    assert (issued["qos"], issued["retain"], issued["direction"]) == (1, False, "device_to_gateway")
    assert issued["schema"] == {"$ref": "#/$defs/TicketIssued"}
    assert rows[("camera", "state", None)]["retain"] is True
    assert rows[("kiosk", "hb", None)]["qos"] == 0
    assert rows[("window", "cmd", "nudge")]["direction"] == "gateway_to_device"
    for row in rows.values():
        assert row["schema"]["$ref"].removeprefix("#/$defs/") in schema["$defs"]


def test_every_event_schema_pins_its_type(schema: dict[str, Any]) -> None:
    for row in schema["x-topics"]:
        if row["channel"] in {"evt", "cmd"}:
            definition = resolve(schema, row["schema"])
            assert definition["properties"]["type"]["const"] == row["type"]


# ------------------------------------------------------------------------------------------ use the schema


def resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def check(root: dict[str, Any], node: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Validate `value` for the keywords the contract schema uses; returns the problems."""
    node = resolve(root, node)
    if "anyOf" in node:
        if not any(not check(root, option, value, path) for option in node["anyOf"]):
            return [f"{path}: matches no option"]
        return []
    problems: list[str] = []
    kind = node.get("type")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    matches = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": is_number,
        "boolean": isinstance(value, bool),
        "null": value is None,
    }
    if kind is not None and not matches[kind]:
        return [f"{path}: not {kind}"]
    if "const" in node and value != node["const"]:
        problems.append(f"{path}: not {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        problems.append(f"{path}: not one of {node['enum']}")
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", len(value)):
            problems.append(f"{path}: length")
        if node.get("format") == "date-time" and not RFC3339.match(value):
            problems.append(f"{path}: not RFC 3339 date-time")
    if is_number and (value < node.get("minimum", value) or value > node.get("maximum", value)):
        problems.append(f"{path}: out of range")
    if isinstance(value, dict):
        properties = node.get("properties", {})
        problems += [f"{path}.{name}: missing" for name in node.get("required", []) if name not in value]
        for name, item in value.items():
            if name in properties:
                problems += check(root, properties[name], item, f"{path}.{name}")
            elif isinstance(node.get("additionalProperties"), dict):
                problems += check(root, node["additionalProperties"], item, f"{path}.{name}")
            if "propertyNames" in node:
                problems += check(root, node["propertyNames"], name, f"{path}.{name}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            problems += check(root, node["items"], item, f"{path}[{i}]")
    return problems


def schema_for(root: dict[str, Any], device: DeviceType, channel: Channel, kind: str | None) -> dict[str, Any]:
    (row,) = [
        r
        for r in root["x-topics"]
        if (r["device_type"], r["channel"], r.get("type")) == (device.value, channel.value, kind)
    ]
    return dict(row["schema"])


@pytest.mark.parametrize("case", VALID_EVENTS, ids=lambda c: f"{c[0]}:{c[1]['type']}")
def test_the_schema_accepts_every_valid_event(schema: dict[str, Any], case: tuple[DeviceType, dict[str, Any]]) -> None:
    device, payload = case
    assert check(schema, schema_for(schema, device, Channel.EVT, payload["type"]), payload) == []
    assert check(schema, schema, payload) == []  # the root accepts any contract payload


@pytest.mark.parametrize("case", VALID_STATES, ids=lambda c: str(c[0]))
def test_the_schema_accepts_every_valid_state_and_the_last_will(
    schema: dict[str, Any], case: tuple[DeviceType, dict[str, Any]]
) -> None:
    device, payload = case
    node = schema_for(schema, device, Channel.STATE, None)
    assert check(schema, node, payload) == []
    assert check(schema, node, {"v": 1, "online": False}) == []


@pytest.mark.parametrize("case", VALID_COMMANDS, ids=lambda c: f"{c[0]}:{c[1]['type']}")
def test_the_schema_accepts_every_command(schema: dict[str, Any], case: tuple[DeviceType, dict[str, Any]]) -> None:
    device, payload = case
    assert check(schema, schema_for(schema, device, Channel.CMD, payload["type"]), {"v": 1, **payload}) == []


# The schema cannot express cross-field rules (an online state needs ts and seq) or the discriminator of an
# unknown event type; those cases are the gateway's alone.
SCHEMA_CHECKABLE = [c for c in INVALID_EVENTS if c[3][0] not in {"union_tag_invalid", "union_tag_not_found"}]


@pytest.mark.parametrize(
    ("device", "payload", "expected"), [c[1:] for c in SCHEMA_CHECKABLE], ids=[c[0] for c in SCHEMA_CHECKABLE]
)
def test_the_schema_refuses_what_the_gateway_refuses(
    schema: dict[str, Any], device: DeviceType, payload: dict[str, Any], expected: tuple[str, str]
) -> None:
    rows = [r for r in schema["x-topics"] if (r["device_type"], r["channel"]) == (device.value, "evt")]
    assert all(check(schema, dict(r["schema"]), payload) for r in rows), expected


def test_every_device_type_has_its_state_schema(schema: dict[str, Any]) -> None:
    for device, model in STATE_BY_DEVICE.items():
        assert schema_for(schema, device, Channel.STATE, None) == {"$ref": f"#/$defs/{model.__name__}"}


# ------------------------------------------------------------------------------------------ files and CLI


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hallops devices schema")
    add_schema_arguments(parser)
    return parser.parse_args(argv)


def test_schema_out_writes_the_contract_and_one_file_per_device_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schemas"
    assert run_schema(parse(["--out", str(out)])) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([FILE_NAME, *(f"{d.value}.schema.json" for d in DeviceType)])
    assert json.loads((out / FILE_NAME).read_text(encoding="utf-8")) == json.loads(json.dumps(contract_schema()))
    camera = json.loads((out / "camera.schema.json").read_text(encoding="utf-8"))
    assert {r["device_type"] for r in camera["x-topics"]} == {"camera"}
    assert "TicketIssued" not in camera["$defs"]
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == names


def test_schema_without_out_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_schema(parse([])) == 0
    assert json.loads(capsys.readouterr().out)["$schema"] == DRAFT


def test_schema_out_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("x", encoding="utf-8")
    assert run_schema(parse(["--out", str(target)])) == 2
    assert "not a folder" in capsys.readouterr().err


def test_write_schema_returns_what_it_wrote(tmp_path: Path) -> None:
    written = write_schema(tmp_path, per_device=False)
    assert written == [tmp_path / FILE_NAME]
    assert written[0].read_text(encoding="utf-8").endswith("}\n")


# ------------------------------------------------------------------------------------------ docs/contract.md


def test_the_contract_document_tables_match_the_models() -> None:
    script = Path(__file__).parents[3] / "scripts" / "contract_tables.py"
    spec = importlib.util.spec_from_file_location("contract_tables", script)
    assert spec is not None and spec.loader is not None
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    assert tables.main(["--check"]) == 0, "docs/contract.md is stale: run scripts/contract_tables.py"
