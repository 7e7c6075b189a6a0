"""The words of a notification as people read it on their phones (手机端): the message a group robot posts (WeCom,
DingTalk, Feishu) and the text an SMS gateway sends, in Chinese.

Owns `notice_words`, the one place that turns a notification — an alert, a ticket or a tidal recommendation, as the
API and the webhooks carry it — into a title and a few lines. It takes the notification's own words (an alert's and a
ticket's `text.zh` and an alert's `title.zh`, rendered from the rules' templates by edge/wording/alerts.py; a
recommendation's `reason_zh`) and adds the severity, the subject's display name and the time; a body without them (a
record from before) gets a line from the rule's description. Must not decide who is told, shape a
platform's body (edge/webhooks.py) or read anything but its arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rules.hall import HallProfile

SEVERITY_ZH = {"critical": "紧急", "major": "重要", "warning": "警告", "info": "信息"}
DEVICE_TYPE_ZH = {
    "ticket_machine": "取号机",
    "window": "窗口终端",
    "call_screen": "叫号屏",
    "kiosk": "自助终端",
    "evaluator": "评价器",
    "camera": "摄像头",
    "qms": "排队系统",
}
_ALERT_STEP_ZH = {"repeat": "仍未处理", "escalated": "已升级", "acknowledged": "已确认", "resolved": "已恢复"}
_TICKET_KIND_ZH = {"device_fault": "设备故障", "rectification": "差评整改"}
_TICKET_EVENT_ZH = {
    "opened": "新工单",
    "occurrence": "再次发生",
    "acknowledged": "已接单",
    "started": "处理中",
    "resolved": "已解决",
    "closed": "已关闭",
    "reopened": "重新打开",
    "reprioritised": "优先级已调整",
    "ack_overdue": "超时未接单",
    "resolve_overdue": "超时未解决",
}
_REC_EVENT_ZH = {"offered": "待批准", "approved": "已批准", "rejected": "已驳回", "escalated": "开窗后仍未缓解，已升级"}
_ZH_TERM = re.compile(r"[（(]([^()（）]*[\u4e00-\u9fff][^()（）]*)[)）]")  # the Chinese term a description names
SMS_MAX_CHARS = 140  # two SMS segments of Chinese text: a longer text is cut, the rest is in the robots' messages


@dataclass(frozen=True, slots=True)
class NoticeWords:
    """A notification in words: `title` (severity and what), `lines` ("对象：…", "开始：…", …, the id last) and `short`,
    one line for an SMS."""

    id: str
    title: str
    lines: tuple[str, ...]
    short: str


def notice_words(body: Mapping[str, object], hall: HallProfile | None = None) -> NoticeWords:
    """The words of a notification (`body`: its JSON, `type` alert, ticket or recommendation), with the display names
    of `hall`'s windows, services and devices where it has them."""
    names = _Names(hall)
    kind = _text(body, "type")
    nid = notification_id(body)
    if kind == "ticket":
        title, lines, subject, at = _ticket(body, names)
    elif kind == "recommendation":
        title, lines, subject, at = _recommendation(body, names)
    else:
        title, lines, subject, at = _alert(body, names)
    short = " ".join(part for part in (title, subject, at) if part)
    if len(short) > SMS_MAX_CHARS:
        short = short[: SMS_MAX_CHARS - 1] + "…"
    return NoticeWords(nid, title, (*lines, f"编号：{nid}"), short)


def notification_id(body: Mapping[str, object]) -> str:
    """The notification's id as docs/api.md gives it: its `id` (edge/decisions/loop.py `_deliver`; a ticket's own id
    is its `ticket_id`, a recommendation's its `rec_id`). A row a gateway before issue 19 queued carries the ticket's
    or the recommendation's own id there instead: the notification's is then made from it the way
    edge/decisions/records.py makes it, so that a robot's text and an SMS gateway's Idempotency-Key still tell one
    event of a ticket from the next."""
    kind, own = _text(body, "type"), _text(body, "id")
    if own.startswith(f"{kind}:"):
        return own
    event = _text(_map(body, "notification"), "event")
    if kind == "ticket":
        history = body.get("history")
        return f"ticket:{own}:{event}:{len(history) if isinstance(history, list) else 0}"
    if kind == "recommendation":
        return f"recommendation:{own}:{event}"
    return own


# ---------------------------------------------------------------------------------------------- by kind


def _alert(body: Mapping[str, object], names: _Names) -> tuple[str, list[str], str, str]:
    severity = SEVERITY_ZH.get(_text(body, "severity"), _text(body, "severity"))
    description = _text(body, "description")
    term = _ZH_TERM.search(description)
    text_zh = _text(_map(body, "text"), "zh")
    what = _text(_map(body, "title"), "zh") or (term.group(1) if term else description) or _text(body, "rule")
    note = _map(body, "notification")
    step = _ALERT_STEP_ZH.get(_text(note, "reason"), "")
    title = f"【{severity}】{what}" + (f"（{step}）" if step else "")
    subject = names.subject(_map(body, "labels"))
    since = _clock(_text(body, "active_since") or _text(body, "fired_at"))
    lines = [f"对象：{subject}"] if subject else []
    lines.append(f"开始：{since}")
    if _text(note, "reason") == "resolved" and _text(body, "resolved_at"):
        lines.append(f"恢复：{_clock(_text(body, 'resolved_at'))}")
    if _text(note, "reason") == "acknowledged" and _text(body, "acknowledged_by"):
        by = _text(body, "acknowledged_by")
        lines.append(f"确认人：{_text(_map(body, 'names'), by) or by}")
    if text_zh:
        lines.append(f"详情：{text_zh}")
    elif description and description != what:
        lines.append(f"说明：{description}")
    return title, lines, subject, f"{since} 起"


def _ticket(body: Mapping[str, object], names: _Names) -> tuple[str, list[str], str, str]:
    note = _map(body, "notification")
    event = _text(note, "event")
    kind = _TICKET_KIND_ZH.get(_text(body, "kind"), "工单")
    number = _text(body, "ticket_id") or _text(body, "id")  # `id`: a row queued before issue 19 (notification_id)
    title = f"【{_text(body, 'priority')}】{kind}工单 {number} {_TICKET_EVENT_ZH.get(event, event)}"
    device = _text(body, "device")
    if device:
        subject = names.device(device, _text(body, "device_type"), _text(body, "location"))
    elif _text(body, "window"):
        subject = names.window(_text(body, "window"))
    else:
        subject = "大厅"
    opened = _clock(_text(body, "opened_at"))
    problem = _text(_map(body, "problem"), "zh") or _text(body, "rule_id")
    lines = [f"对象：{subject}", f"问题：{problem}", f"开单：{opened}"]
    by = _text(note, "by")
    if by and by != "system":
        lines.append(f"处理人：{by}")
    if _text(note, "note"):
        lines.append(f"备注：{_text(note, 'note')}")
    return title, lines, subject, f"{opened} 开单"


def _recommendation(body: Mapping[str, object], names: _Names) -> tuple[str, list[str], str, str]:
    event = _text(_map(body, "notification"), "event")
    what = "建议关闭潮汐窗口" if _text(body, "kind") == "close" else "建议增开潮汐窗口"
    title = f"【潮汐窗口】{what}（{_REC_EVENT_ZH.get(event, event)}）"
    services = "、".join(names.service(s) for s in _strings(body, "services"))
    windows = "、".join(names.window(w) for w in _strings(body, "windows"))
    lines = [_text(body, "reason_zh")] if _text(body, "reason_zh") else []
    if services:
        lines.append(f"业务：{services}")
    if windows:
        lines.append(f"窗口：{windows}")
    return title, lines, services, ""


# ---------------------------------------------------------------------------------------------- the pieces


class _Names:
    """Display names from the hall's configuration; an id with its kind where none is configured."""

    __slots__ = ("_devices", "_services", "_windows")

    def __init__(self, hall: HallProfile | None) -> None:
        self._services = {s.code: s.name for s in hall.services if s.name} if hall else {}
        self._windows = {w.window_id: w.name for w in hall.windows if w.name} if hall else {}
        self._devices = {d.device_id: (d.name, d.location) for d in hall.devices} if hall else {}

    def service(self, code: str) -> str:
        return self._services.get(code) or f"业务 {code}"

    def window(self, window_id: str) -> str:
        return self._windows.get(window_id) or f"窗口 {window_id}"

    def device(self, device_id: str, device_type: str, location: str = "") -> str:
        name, configured_location = self._devices.get(device_id, (None, None))
        where = location or configured_location
        what = name or f"{DEVICE_TYPE_ZH.get(device_type, '设备')} {device_id}"
        return f"{what}（{where}）" if where else what

    def subject(self, labels: Mapping[str, object]) -> str:
        """Whom an alert is about, from its labels: the window, service, device, zone and queue ticket it names."""
        parts: list[str] = []
        if _text(labels, "window"):
            parts.append(self.window(_text(labels, "window")))
        if _text(labels, "service"):
            parts.append(self.service(_text(labels, "service")))
        if _text(labels, "device") and not parts:  # a window's terminal is the window to whoever reads it
            parts.append(self.device(_text(labels, "device"), _text(labels, "device_type")))
        if _text(labels, "zone"):
            parts.append(f"区域 {_text(labels, 'zone')}")
        if _text(labels, "ticket"):
            parts.append(f"号 {_text(labels, 'ticket')}")
        return "，".join(parts)


def _clock(iso: str) -> str:
    """`09:11` from a time the notification gives in the hall's zone (`2026-12-05T09:11:04+08:00`)."""
    return iso[11:16] if len(iso) >= 16 else iso


def _text(body: Mapping[str, object], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _map(body: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _strings(body: Mapping[str, object], key: str) -> list[str]:
    value = body.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
