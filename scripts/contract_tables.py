"""Regenerate the tables of docs/contract.md from the contract models, so the document stays true.

    .venv/bin/python scripts/contract_tables.py           # rewrite the generated sections in place
    .venv/bin/python scripts/contract_tables.py --check   # exit 1 if the document is out of date (CI, tests)

Each generated section sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; the prose around
them is written by hand. Field types come from the JSON Schema of each model; meanings come from the field's
`description` or, failing that, from GLOSSARY below, and a field with neither stops the script, so a new field
cannot reach the document undocumented. Every example is validated against its model before it is printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devices.contract import (
    COMMANDS_BY_DEVICE,
    EVENTS_BY_DEVICE,
    STATE_BY_DEVICE,
    CommandAck,
    DeviceState,
    DisplayCode,
    DisplayStatus,
    Envelope,
    Heartbeat,
    KioskOutcome,
    PrinterStatus,
    ServiceOutcome,
    TicketChannel,
    event_type,
    payload_adapter,
)
from devices.mapping import Conversion, VendorMapping
from devices.topics import Channel, DeviceType

DOC = Path(__file__).resolve().parents[1] / "docs" / "contract.md"
TS = "2024-05-06T09:30:05+08:00"

DEVICE_NAMES = {
    DeviceType.TICKET_MACHINE: "取号机 ticket machine",
    DeviceType.WINDOW: "窗口终端 / 叫号器 window terminal (caller)",
    DeviceType.CALL_SCREEN: "叫号屏 call screen",
    DeviceType.KIOSK: "自助终端 self-service kiosk",
    DeviceType.EVALUATOR: "好差评评价器 rating pad",
    DeviceType.CAMERA: "摄像头（人数统计） camera people counts",
    DeviceType.QMS: "排队叫号系统 queue-management system (central)",
}
EVENT_NAMES = {
    "ticket.issued": "取号",
    "ticket.cancelled": "取消 / 弃号",
    "ticket.reactivated": "过号激活（绿色通道）",
    "appointment.checked_in": "预约签到",
    "appointment.booked": "预约 / 改约",
    "appointment.cancelled": "取消预约",
    "window.opened": "开窗 / 登录",
    "window.closed": "关窗",
    "window.paused": "暂停服务",
    "window.resumed": "恢复服务",
    "ticket.called": "叫号 / 重呼",
    "service.started": "开始办理",
    "service.completed": "办结",
    "ticket.no_show": "过号",
    "ticket.transferred": "转窗 / 转业务",
    "display.error": "屏幕故障",
    "kiosk.session": "自助办理",
    "kiosk.error": "自助终端故障",
    "kiosk.help_requested": "求助",
    "rating.submitted": "评价",
    "rating.skipped": "未评价",
    "occupancy": "人数统计",
}

# Meanings for fields whose model gives no description: (Model, field) first, then the field name alone.
GLOSSARY: dict[str, str] = {
    "v": "contract version; always 1 in this version",
    "ts": "when it happened, RFC 3339 with UTC offset",
    "seq": "per-device counter, +1 per message",
    "device_id": "optional; when present it must equal the device id in the topic",
    "DeviceState.ts": "when the state was taken; required when `online` is true",
    "DeviceState.seq": "per-device counter, shared with events; required when `online` is true",
    "CommandAck.ts": "when the device answered",
    "CommandAck.cmd_id": "the `cmd_id` of the command answered",
    "type": "the event or command type",
    "ticket_id": "the ticket's id, the same on every later event of that ticket; unique in the hall for the day",
    "appointment_id": "the booking's id (预约号)",
    "channel": "how the ticket was obtained",
    "reason": "why, as a short code or text",
    "staff_id": "the staff member logged in (工号)",
    "attempt": "how many times the ticket has been called so far (1 = first call)",
    "outcome": "how it ended",
    "to_service": "the service whose queue the ticket moves to",
    "code": "the error code",
    "step": "the step the person had reached",
    "score": "1 very dissatisfied … 5 very satisfied (非常不满意 … 非常满意)",
    "zones": "people counted now, per zone id (queue and waiting areas, as configured)",
    "staff_present": "per window id: is someone sitting in the staff seat",
    "online": "false only in the last will (or a clean shutdown)",
    "firmware": "firmware version",
    "printer": "ticket printer health",
    "paper_pct": "paper left, percent",
    "display": "what the screen shows, as the player sees it",
    "content_version": "version of the content or layout shown",
    "app_version": "kiosk application version",
    "battery_pct": "battery left, percent",
    "fps": "frames analysed per second",
    "last_frame_age_s": "seconds since the last frame was read from the camera",
    "uptime_s": "seconds since the device started",
    "cmd_id": "the command's id, unique per gateway; the ack repeats it",
    "ok": "true when the command was carried out",
    "error": "why it was not carried out (when ok is false)",
    "waiting": "people waiting for the services of this window",
    "message": "text shown to the staff member",
    "text": "text to show",
    "seconds": "how long to show it",
    "remaining": "tickets the machine may still issue today for the service",
    "number": "the number to call (A023)",
    "services": "services the window serves from now on",
    "KioskSession.duration_s": "session length in seconds",
    "KioskSession.service": "the service the person chose, if any",
    "KioskSession.outcome": "how the session ended",
    "ServiceCompleted.outcome": "how the service ended",
    "DisplayError.code": "what is wrong with the screen",
    "KioskError.code": "the kiosk's error code (vendor-specific)",
    "KioskError.step": "the step where it failed",
    "KioskHelpRequested.step": "the step where the person asked for help",
    "RatingSubmitted.window_id": "the window whose service is rated",
    "RatingSkipped.window_id": "the window whose service was not rated",
    "RatingSubmitted.ticket_id": "the ticket served, when the pad knows it",
    "RatingSkipped.ticket_id": "the ticket served, when the pad knows it",
    "TicketReactivated.service": "the service queue it re-enters, when not the original one",
    "TicketCancelled.reason": "why, e.g. left, duplicate, expired",
    "CallAnnounceCommand.window_id": "the window to go to",
    "WindowAssignCommand.window_id": "the window to open",
    "WindowAssignCommand.staff_id": "the staff member asked to open it, if chosen",
    "WindowAssignCommand.services": "services the window is to serve",
    "RecallCommand.ticket_id": "the ticket to call again",
    "TicketReactivateCommand.ticket_id": "the missed ticket to put back at the front",
    "QuotaSetCommand.service": "the service whose quota changes",
}

ENUMS: dict[type[StrEnum], tuple[str, dict[str, str]]] = {
    TicketChannel: (
        "`channel` of `ticket.issued`",
        {
            "walk_in": "现场取号, a walk-in ticket",
            "appointment": "预约, issued for a booking",
            "priority": "优先, special groups (elderly, disabled, …)",
            "green_channel": "绿色通道, e.g. a missed number re-activated",
        },
    ),
    ServiceOutcome: (
        "`outcome` of `service.completed`",
        {
            "done": "即办件: completed on the spot",
            "accepted": "承诺件: accepted, completed later",
            "returned": "退件: documents missing, the person must come back",
            "referred": "referred to another office or service",
            "fallback": "handled at the 办不成事 (fallback) window",
        },
    ),
    KioskOutcome: (
        "`outcome` of `kiosk.session`",
        {
            "success": "the person finished the task at the kiosk",
            "abandon": "the person walked away",
            "error": "the kiosk failed",
            "handed_to_window": "sent to a staffed window (a ticket is usually issued)",
        },
    ),
    DisplayCode: (
        "`code` of `display.error`",
        {
            "blank": "the screen shows nothing",
            "no_signal": "the panel has no input signal",
            "stale": "the content has not refreshed (frozen)",
            "player_crash": "the player application crashed",
        },
    ),
    PrinterStatus: (
        "`printer` in ticket machine and kiosk state",
        {
            "ok": "printing normally",
            "paper_low": "paper nearly out (缺纸预警)",
            "paper_out": "no paper (缺纸)",
            "jam": "paper jam (卡纸)",
        },
    ),
    DisplayStatus: (
        "`display` in call screen state",
        {
            "ok": "showing current content",
            "blank": "the screen shows nothing",
            "no_signal": "the panel has no input signal",
            "stale": "the content has not refreshed (frozen)",
        },
    ),
}

EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "ticket.issued": {"ticket_id": "T-20240506-0023", "number": "A023", "service": "HJ01", "channel": "walk_in"},
    "ticket.cancelled": {"ticket_id": "T-20240506-0023", "reason": "left"},
    "ticket.reactivated": {"ticket_id": "T-20240506-0023", "reason": "missed"},
    "appointment.checked_in": {
        "appointment_id": "YY-889",
        "service": "HJ01",
        "slot": "2024-05-06T09:30:00+08:00",
        "ticket_id": "T-20240506-0024",
    },
    "appointment.booked": {
        "appointment_id": "YY-889",
        "service": "HJ01",
        "slot": "2024-05-06T09:30:00+08:00",
        "slot_min": 30,
    },
    "appointment.cancelled": {"appointment_id": "YY-889", "reason": "by_person"},
    "window.opened": {"staff_id": "S-012", "services": ["HJ01", "SB02"]},
    "window.closed": {"reason": "end_of_shift"},
    "window.paused": {"reason": "break"},
    "window.resumed": {},
    "ticket.called": {"ticket_id": "T-20240506-0023", "attempt": 1},
    "service.started": {"ticket_id": "T-20240506-0023"},
    "service.completed": {"ticket_id": "T-20240506-0023", "outcome": "done", "duration_s": 312.5},
    "ticket.no_show": {"ticket_id": "T-20240506-0023", "attempt": 3},
    "ticket.transferred": {"ticket_id": "T-20240506-0023", "to_service": "SB02"},
    "display.error": {"code": "no_signal"},
    "kiosk.session": {"service": "SB02", "outcome": "success", "duration_s": 184, "step": "print"},
    "kiosk.error": {"code": "PRN-JAM", "step": "print"},
    "kiosk.help_requested": {"step": "identity"},
    "rating.submitted": {"window_id": "W01", "ticket_id": "T-20240506-0023", "score": 5},
    "rating.skipped": {"window_id": "W01"},
    "occupancy": {"zones": {"queue-A": 12, "waiting": 37}, "staff_present": {"W01": True, "W02": False}},
}
STATE_EXAMPLES: dict[DeviceType, dict[str, Any]] = {
    DeviceType.TICKET_MACHINE: {"printer": "paper_low", "paper_pct": 12, "quota": {"HJ01": 40}},
    DeviceType.WINDOW: {"firmware": "2.3.1", "location": "1F-A-03"},
    DeviceType.CALL_SCREEN: {"display": "ok", "content_version": "c-88"},
    DeviceType.KIOSK: {"printer": "ok", "paper_pct": 80, "app_version": "5.1.0"},
    DeviceType.EVALUATOR: {"battery_pct": 76},
    DeviceType.CAMERA: {"fps": 1.0, "last_frame_age_s": 0.4},
    DeviceType.QMS: {"firmware": "QMS 8.2"},
}
COMMAND_EXAMPLES: dict[str, dict[str, Any]] = {
    "nudge": {"waiting": 6, "message": "6 人等候 HJ01"},
    "recall": {"ticket_id": "T-20240506-0023"},
    "window.assign": {"window_id": "W09", "services": ["HJ01"], "staff_id": "S-031"},
    "ticket.reactivate": {"ticket_id": "T-20240506-0023"},
    "call.announce": {"number": "A023", "window_id": "W01"},
    "message.show": {"text": "系统维护，请稍候", "seconds": 60},
    "restart": {},
    "self_test": {},
    "quota.set": {"service": "HJ01", "remaining": 0},
}


# ------------------------------------------------------------------------------------------ rendering types


def type_text(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short human type for one JSON Schema property."""
    if "anyOf" in prop:
        options = [o for o in prop["anyOf"] if o.get("type") != "null"]
        return " or ".join(type_text(o, defs) for o in options)
    if "$ref" in prop:
        target = defs[prop["$ref"].rsplit("/", 1)[-1]]
        return "one of " + ", ".join(f"`{v}`" for v in target["enum"])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    kind = prop.get("type")
    if kind == "string":
        if prop.get("format") == "date-time":
            return "time (RFC 3339 with offset)"
        low, high = prop.get("minLength"), prop.get("maxLength")
        return f"string ({low}–{high} chars)" if high else "string"
    if kind in {"integer", "number"}:
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None:
            return f"{kind} {low}–{high}"
        return f"{kind} ≥ {low}" if low is not None else kind
    if kind == "array":
        return f"list of {type_text(prop['items'], defs)}"
    if kind == "object":
        value = prop.get("additionalProperties")
        return f"object {{id: {type_text(value, defs)}}}" if isinstance(value, dict) else "object"
    if kind == "boolean":
        return "boolean"
    raise ValueError(f"no text for {prop}")


def meaning(model: type[BaseModel], name: str) -> str:
    described = model.model_fields[name].description
    text = GLOSSARY.get(f"{model.__name__}.{name}") or described or GLOSSARY.get(name)
    if not text:
        raise SystemExit(f"{model.__name__}.{name} has no description: add one to the model or to GLOSSARY")
    return text


def field_rows(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> list[str]:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.get("$defs", {})
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        if info.is_required():
            required = "yes"
        elif info.default is None or info.default_factory is not None:
            required = "no"
        else:
            default = info.default.value if hasattr(info.default, "value") else info.default
            required = f"no (default `{json.dumps(default, ensure_ascii=False)}`)"
        text = meaning(model, name).replace("|", "/")
        rows.append(f"| `{name}` | {type_text(schema['properties'][name], defs)} | {required} | {text} |")
    return rows


def example(payload: dict[str, Any]) -> list[str]:
    return ["```json", json.dumps(payload, ensure_ascii=False), "```"]


def validated(device: DeviceType, channel: Channel, payload: dict[str, Any]) -> dict[str, Any]:
    adapter = payload_adapter(device, channel)
    assert adapter is not None
    adapter.validate_python(payload)  # raises if the example drifted from the contract
    return payload


# ------------------------------------------------------------------------------------------ sections

ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


def envelope_section() -> list[str]:
    return field_rows(Envelope)


def events_section() -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for device in DeviceType:
        lines += [f"### {device.value} — {DEVICE_NAMES[device]}", ""]
        if device is DeviceType.QMS:
            lines += [
                "A queue system that reports centrally sends every `ticket_machine` and `window` event above on "
                "`hall/{hall_id}/qms/{qms_id}/evt`. For window events `window_id` is then **required** "
                "(otherwise `missing_field`), since the topic names the qms, not the window.",
                "",
            ]
            continue
        for model in EVENTS_BY_DEVICE[device]:
            kind = event_type(model)
            if kind in seen:
                continue
            seen.add(kind)
            doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
            lines += [f"#### `{kind}` — {EVENT_NAMES[kind]}", ""]
            if doc:
                lines += [doc, ""]
            lines += field_rows(model, ENVELOPE_FIELDS | {"type"})
            payload = {"v": 1, "ts": TS, "seq": 1042, "type": kind, **EVENT_EXAMPLES[kind]}
            lines += ["", *example(validated(device, Channel.EVT, payload)), ""]
    return lines


def states_section() -> list[str]:
    common = frozenset(DeviceState.model_fields)
    lines = ["Fields of every device's state:", "", *field_rows(DeviceState), ""]
    for device in DeviceType:
        model = STATE_BY_DEVICE[device]
        extra = [n for n in model.model_fields if n not in common]
        lines += [f"#### {device.value} — {DEVICE_NAMES[device]}", ""]
        if extra:
            lines += ["Adds:", "", *field_rows(model, common), ""]
        else:
            lines += ["Only the common fields.", ""]
        payload = {"v": 1, "ts": TS, "seq": 1043, "online": True, **STATE_EXAMPLES[device]}
        lines += [*example(validated(device, Channel.STATE, payload)), ""]
    return lines


def heartbeat_section() -> list[str]:
    payload = {"v": 1, "ts": TS, "seq": 1044, "uptime_s": 86400}
    return [*field_rows(Heartbeat), "", *example(validated(DeviceType.KIOSK, Channel.HB, payload))]


def commands_section() -> list[str]:
    lines: list[str] = []
    for device in DeviceType:
        models = COMMANDS_BY_DEVICE.get(device, ())
        if not models:
            continue
        lines += [f"#### {device.value} — {DEVICE_NAMES[device]}", ""]
        for model in models:
            kind = model.model_fields["type"].default
            doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
            lines += [f"`{kind}`" + (f" — {doc}" if doc else ""), ""]
            lines += field_rows(model, frozenset({"type"}))
            payload = {"v": 1, "ts": TS, "cmd_id": "c-7f3a", "type": kind, **COMMAND_EXAMPLES[kind]}
            model.model_validate(payload)
            lines += ["", *example(payload), ""]
    silent = [d.value for d in DeviceType if not COMMANDS_BY_DEVICE.get(d)]
    lines += [f"`{'`, `'.join(silent)}` take no commands in v1.", ""]
    return lines


def ack_section() -> list[str]:
    payload = {"v": 1, "ts": TS, "cmd_id": "c-7f3a", "ok": False, "error": "printer_busy"}
    return [*field_rows(CommandAck), "", *example(validated(DeviceType.WINDOW, Channel.CMD_ACK, payload))]


def enums_section() -> list[str]:
    lines = ["| enum | used in | value | meaning |", "|---|---|---|---|"]
    for enum, (used_in, meanings) in ENUMS.items():
        if set(meanings) != {m.value for m in enum}:
            raise SystemExit(f"ENUMS[{enum.__name__}] does not list exactly the values of the enum")
        for member in enum:
            lines.append(f"| {enum.__name__} | {used_in} | `{member.value}` | {meanings[member.value]} |")
    return lines


def mapping_section() -> list[str]:
    lines = ["`VendorMapping` (one list item):", "", "| key | meaning |", "|---|---|"]
    for name, info in VendorMapping.model_fields.items():
        lines.append(f"| `{name}` | {(info.description or '').replace('|', '/')} |")
    lines += ["", "`Conversion` (a value of `convert`):", "", "| key | meaning |", "|---|---|"]
    for name, info in Conversion.model_fields.items():
        lines.append(f"| `{name}` | {(info.description or '').replace('|', '/')} |")
    return lines


SECTIONS = {
    "envelope": envelope_section,
    "events": events_section,
    "states": states_section,
    "heartbeat": heartbeat_section,
    "commands": commands_section,
    "ack": ack_section,
    "enums": enums_section,
    "mapping": mapping_section,
}


def render(document: str) -> str:
    """The document with every generated section replaced by freshly generated text."""
    for name, build in SECTIONS.items():
        begin, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(document):
            raise SystemExit(f"{DOC}: section markers {begin} … {end} are missing")
        body = "\n".join(build()).strip()
        section = f"{begin}\n{body}\n{end}"
        document = pattern.sub(lambda _match: section, document, count=1)  # noqa: B023 - used at once
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if docs/contract.md is out of date")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document (default: docs/contract.md)")
    args = parser.parse_args(argv)
    current = args.doc.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{args.doc} is out of date: run scripts/contract_tables.py", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        args.doc.write_text(fresh, encoding="utf-8")
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
