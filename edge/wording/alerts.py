"""The words of an alert and a ticket (措辞), in Chinese and English: for the staff (`text`), for the public wall
screen (`public`, or none) and a short name of the problem (`title`).

Owns the one renderer of the rules' templates (rules/language.py `Rule.title`, `text`, `public`): a placeholder is
filled with a label's display name from the hall's configuration (service, window, device, zone), a metric's value
with its unit (分钟/min, 人/people, %), `since` as HH:MM in the hall's time zone. True/False and missing values are
words, never `True`/`None`. A rule without a template gets a generated sentence from its title or description, its
subject and its metrics — never the machine text (`reason`, which stays in the alert for machines).
Must not decide anything or read state: the same alert, rule and configuration always give the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.hall import HallProfile
from rules.language import PLACEHOLDER, Rule
from rules.metrics import METRICS

Lang = str  # "zh" | "en"
LANGS = ("zh", "en")

DEVICE_TYPE = {
    "ticket_machine": ("取号机", "ticket machine"),
    "window": ("窗口终端", "window terminal"),
    "call_screen": ("叫号屏", "call screen"),
    "kiosk": ("自助终端", "self-service kiosk"),
    "evaluator": ("评价器", "rating pad"),
    "camera": ("摄像头", "camera"),
    "qms": ("排队系统", "queue system"),
}
# what an enum metric's value means (rules/metrics.py `choices`)
CHOICE = {
    "open": ("开放", "open"),
    "paused": ("暂停", "paused"),
    "closed": ("关闭", "closed"),
    "offline": ("离线", "offline"),
    "ok": ("正常", "normal"),
    "degraded": ("部分故障", "degraded"),
    "fault": ("故障", "faulty"),
    "unknown": ("未知", "unknown"),
    "paper_low": ("纸将用完", "low on paper"),
    "paper_out": ("缺纸", "out of paper"),
    "jam": ("卡纸", "jammed"),
    "blank": ("黑屏", "blank"),
    "no_signal": ("无信号", "without signal"),
    "stale": ("画面停滞", "frozen"),
    "pending": ("待回执", "waiting for an acknowledgement"),
    "acknowledged": ("已回执", "acknowledged"),
    "failed": ("执行失败", "failed"),
    "unacknowledged": ("无回执", "unacknowledged"),
}
COMMAND = {
    "nudge": ("提醒", "nudge"),
    "recall": ("重新叫号", "call again"),
    "call.announce": ("叫号播报", "call announcement"),
    "message.show": ("显示消息", "show a message"),
    "restart": ("重启", "restart"),
    "self_test": ("自检", "self-test"),
    "ticket.reactivate": ("号码激活", "ticket reactivation"),
}
EVENT = {
    "kiosk.help_requested": ("求助", "help request"),
    "rating.submitted": ("评价", "rating"),
    "ticket.no_show": ("过号", "missed number"),
}
# a metric's value with its unit: zh, en formats of the number (rules/metrics.py `unit`)
UNIT = {
    "min": ("{n}分钟", "{n} min"),
    "s": ("{n}秒", "{n} s"),
    "tickets": ("{n}人", "{n} people"),
    "people": ("{n}人", "{n} people"),
    "windows": ("{n}个窗口", "{n} windows"),
    "errors": ("{n}次", "{n} errors"),
    "sessions": ("{n}次", "{n} sessions"),
    "ratio": ("{n}倍", "{n}×"),
    "×": ("{n}倍", "{n}×"),
    "%": ("{n}%", "{n}%"),
    "share": ("{n}%", "{n}%"),  # a share 0..1 shown in per cent
}
# what a metric is called, for the sentence of a rule without a template
METRIC_NAME = {
    "queue.waiting": ("等候人数", "waiting"),
    "queue.longest_wait_min": ("最长等候", "longest wait"),
    "queue.projected_wait_min": ("预计等候", "projected wait"),
    "queue.capable_windows": ("可办理窗口", "windows serving it"),
    "queue.arrivals_15m": ("15分钟取号", "tickets in 15 min"),
    "queue.arrivals_60m": ("1小时取号", "tickets in an hour"),
    "queue.completions_60m": ("1小时办结", "served in an hour"),
    "queue.mean_service_min": ("平均办理时长", "mean service time"),
    "queue.mean_wait_60m_min": ("1小时平均等候", "mean wait in an hour"),
    "queue.no_show_rate_60m": ("1小时过号率", "missed in an hour"),
    "queue.arrivals_trend": ("取号增速", "arrival trend"),
    "window.status": ("窗口状态", "window status"),
    "window.idle": ("闲置", "idle"),
    "window.idle_min": ("闲置时长", "idle for"),
    "window.paused_min": ("暂停时长", "paused for"),
    "window.serving_min": ("当前办理时长", "serving for"),
    "window.serving_ratio": ("为平均时长的", "times the mean"),
    "window.capable_waiting": ("可办理的等候人数", "waiting for it"),
    "window.call_unanswered_s": ("叫号未应答", "call unanswered for"),
    "window.rating_participation": ("评价率", "rated"),
    "window.staff_present": ("工作人员在岗", "staff at the seat"),
    "device.online": ("在线", "online"),
    "device.offline_min": ("离线时长", "offline for"),
    "device.silent_s": ("无心跳", "silent for"),
    "device.health": ("设备状态", "health"),
    "device.printer": ("打印机", "printer"),
    "device.paper_pct": ("余纸", "paper left"),
    "device.display": ("屏幕", "screen"),
    "device.display_error": ("屏幕故障", "screen error"),
    "device.errors_15m": ("15分钟错误", "errors in 15 min"),
    "device.kiosk_sessions_60m": ("1小时使用", "sessions in an hour"),
    "device.kiosk_abandon_rate_60m": ("1小时放弃率", "abandoned in an hour"),
    "zone.count": ("人数", "people"),
    "command.status": ("指令状态", "command status"),
    "command.unsupported": ("设备不支持", "unsupported"),
    "command.superseded": ("已被后续指令取代", "superseded"),
    "hall.waiting": ("大厅等候人数", "waiting in the hall"),
    "hall.windows_open": ("开放窗口", "windows open"),
    "hall.people_counted": ("摄像头计数", "people counted"),
    "hall.call_screens_offline_share": ("叫号屏离线比例", "call screens offline"),
    "hall.ticket_machines_offline_share": ("取号机离线比例", "ticket machines offline"),
    "hall.storage_error": ("存储故障", "storage error"),
    "hall.broker_session_lost_min": ("会话丢失后", "since the session was lost"),
    "hall.disk_budget_pct": ("磁盘预算占用", "of the disk budget"),
    # the fields of an event an event rule's `where:` tests (its evidence): rating.submitted, kiosk.session_ended, …
    "score": ("评分", "score"),
    "outcome": ("结果", "outcome"),
    "reason": ("原因", "reason"),
    "code": ("代码", "code"),
    "service": ("业务", "service"),
}
_ZH_TERM = re.compile(r"[（(]([^()（）]*[\u4e00-\u9fff][^()（）]*)[)）]")
# what a device may put in a label that would break a line or turn the text around on a screen: a space instead
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
# the number a call screen shows (A023, 1088), alone or at the end of a queue system's ticket id (20261205-A023)
_PRINTED = re.compile(r"(?:^|[-_:./#])([A-Za-z]{0,3}\d{1,5})$")
_HUGE = 1e9  # a metric's value beyond this is no measurement: 未知


@dataclass(frozen=True, slots=True)
class AlertWords:
    """An alert in words: `text` for the staff, `public` for the wall (None: not for the public), `title`, and
    `facts`: each value behind it by name with its unit (最长等候 62分钟), in place of the raw evidence."""

    title: dict[str, str]
    text: dict[str, str]
    public: dict[str, str] | None
    facts: dict[str, list[str]]

    def json(self) -> dict[str, object]:
        return {"title": self.title, "text": self.text, "public": self.public, "facts": self.facts}


class Names:
    """Display names from the hall's configuration (services, windows, devices, zones, staff), in either language;
    an id with its kind where none is configured. `public`: a device by its kind and place and a zone by its name,
    never by an id."""

    __slots__ = ("_devices", "_hall", "_services", "_staff", "_windows", "_zones")

    def __init__(self, hall: HallProfile | None) -> None:
        self._hall = hall
        self._services = {s.code: (s.name, s.name_en) for s in hall.services} if hall else {}
        self._windows = {w.window_id: (w.name, w.name_en) for w in hall.windows} if hall else {}
        self._devices = {d.device_id: d for d in hall.devices} if hall else {}
        self._zones = {z.zone_id: (z.name, z.name_en) for z in hall.zones} if hall else {}
        self._staff = {p.staff_id: (p.name, p.name_en) for p in hall.staff} if hall else {}

    def hall(self, lang: Lang) -> str:
        h = self._hall
        if h is None:
            return "大厅" if lang == "zh" else "the hall"
        return (h.name_en if lang == "en" else h.name) or h.name or h.name_en or h.hall_id

    def service(self, code: str, lang: Lang) -> str:
        zh, en = self._services.get(code, (None, None))
        if lang == "en":
            return en or zh or f"service {code}"
        return zh or f"{code}业务"

    def window(self, window_id: str, lang: Lang) -> str:
        """The window's configured name in `lang` (the other language's where it has one only), else by its id."""
        zh, en = self._windows.get(window_id, (None, None))
        name = (en or zh) if lang == "en" else (zh or en)
        if name:
            return name
        return f"{window_id}号窗口" if lang == "zh" else f"window {window_id}"

    def staff(self, staff_id: str, lang: Lang) -> str:
        """A staff member by the roster's name (staff words only: never for the public), else the staff id."""
        zh, en = self._staff.get(staff_id, (None, None))
        return ((en or zh) if lang == "en" else zh) or staff_id

    def device_type(self, device_type: str, lang: Lang) -> str:
        zh, en = DEVICE_TYPE.get(device_type, ("设备", "device"))
        return zh if lang == "zh" else en

    def location(self, device_id: str, lang: Lang) -> str:
        d = self._devices.get(device_id)
        return (d.location or "") if d else ""

    def device(self, device_id: str, device_type: str, lang: Lang, *, public: bool = False) -> str:
        d = self._devices.get(device_id)
        kind = device_type or (d.device_type.value if d else "")
        if d is not None and d.name:
            return d.name
        what = self.device_type(kind, lang)
        where = self.location(device_id, lang)
        if public:
            return f"{what}（{where}）" if where and lang == "zh" else f"{what} ({where})" if where else what
        if lang == "zh":
            return f"{what} {device_id}" + (f"（{where}）" if where else "")
        return f"{what} {device_id}" + (f" ({where})" if where else "")

    def zone(self, zone_id: str, lang: Lang, *, public: bool = False) -> str:
        """A camera zone by its configured name, else as `zone_name` names it; `public`: never by its id."""
        zh, en = self._zones.get(zone_id, (None, None))
        name = (en or zh) if lang == "en" else (zh or en)
        return name or zone_name(zone_id, lang, self, public=public)

    def subject(self, labels: Mapping[str, str], lang: Lang, *, public: bool = False) -> str:
        """Whom an alert is about: its window, service, device, zone, in that order."""
        if labels.get("window"):
            return self.window(labels["window"], lang)
        if labels.get("service"):
            return self.service(labels["service"], lang)
        if labels.get("device"):
            return self.device(labels["device"], labels.get("device_type", ""), lang, public=public)
        if labels.get("zone"):
            return self.zone(labels["zone"], lang, public=public)
        return self.hall(lang)


def zone_name(zone_id: str, lang: Lang, names: Names | None = None, *, public: bool = False) -> str:
    """A camera zone's name guessed from the way the halls name them (`wait-a`: 等候区A, `seat-W01`: the window's
    seat, `counter-a`, `self-service`), for a zone the configuration (`zones:`) does not name; else `区域 <id>`, or
    `部分区域` / `one area` in `public` words, which never show an id."""
    zh = lang == "zh"
    low = zone_id.lower()
    for prefix, (zh_word, en_word) in (("wait-", ("等候区", "waiting area")), ("counter-", ("柜台区", "counter area"))):
        if low.startswith(prefix) and len(zone_id) > len(prefix):
            tail = zone_id[len(prefix) :].upper()
            return f"{zh_word}{tail}" if zh else f"{en_word} {tail}"
    if low.startswith("seat-") and len(zone_id) > len("seat-"):
        window = zone_id[len("seat-") :]
        shown = names.window(window, lang) if names is not None else window
        return f"{shown}座位" if zh else f"seat of {shown}"
    if low in ("self-service", "self_service", "kiosk", "kiosks"):
        return "自助服务区" if zh else "self-service area"
    if public:
        return "部分区域" if zh else "one area"
    return f"区域 {zone_id}" if zh else f"zone {zone_id}"


# ---------------------------------------------------------------------------------------------- values


def plain(text: str) -> str:
    """A label as one line of plain text: control, line-breaking and direction-changing characters as a space."""
    return _UNSAFE.sub(" ", text).strip()


def printed_number(ticket: str) -> str | None:
    """The number a call screen shows for a queue ticket: the ticket id itself when it is one (`A023`), else its
    last part when that is one (`20261205-A023`); None for an id that holds no such number (never on the wall)."""
    m = _PRINTED.search(ticket)
    return m.group(1) if m else None


def number(v: float) -> str:
    """A number as people write it: whole when it is (or when it is 10 or more), else one decimal."""
    if abs(v) >= 10 or float(v).is_integer():
        return str(round(v))
    return f"{v:.1f}"


def value_words(metric: str, value: object, lang: Lang) -> str:
    """A metric's value in words with its unit: 32分钟 / 32 min, 15%, 是/yes, 缺纸/out of paper; None: 未知."""
    zh = lang == "zh"
    if value is None:
        return "未知" if zh else "unknown"
    if isinstance(value, bool):
        return ("是" if value else "否") if zh else ("yes" if value else "no")
    if isinstance(value, str):
        pair = CHOICE.get(value) or COMMAND.get(value) or EVENT.get(value)
        return pair[0 if zh else 1] if pair else value
    if isinstance(value, int | float):
        try:
            v = float(value)
        except OverflowError:  # an int beyond a float
            v = math.nan
        if math.isnan(v) or (not math.isinf(v) and abs(v) >= _HUGE):
            return "未知" if zh else "unknown"
        spec = METRICS.get(metric)
        unit = spec.unit if spec is not None else ""
        if math.isinf(v):
            return "很久" if zh else "a long time"
        if unit == "share":
            v *= 100
        formats = UNIT.get(unit)
        return formats[0 if zh else 1].format(n=number(v)) if formats else number(v)
    return str(value)


def clock(at: datetime | str | None, tz: ZoneInfo) -> str:
    """HH:MM in the hall's time zone; '' when unknown."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return ""
    return at.astimezone(tz).strftime("%H:%M") if at is not None else ""


# ---------------------------------------------------------------------------------------------- rendering


def alert_words(
    rule: Rule | None,
    rule_id: str,
    labels: Mapping[str, str],
    evidence: Mapping[str, object],
    since: datetime | str | None,
    hall: HallProfile | None,
    tz: ZoneInfo,
) -> AlertWords:
    """An alert's words from its rule's templates (or a generated sentence), labels, evidence and start."""
    names = Names(hall)
    labels = {key: plain(value) for key, value in labels.items()}
    at = clock(since, tz)
    text = {}
    public: dict[str, str] | None = {} if rule is not None and rule.public is not None else None
    if public is not None and rule is not None and rule.public is not None and "ticket" in labels:
        named = {n for lang in LANGS for n in PLACEHOLDER.findall(getattr(rule.public, lang))}
        if "ticket" in named and printed_number(labels["ticket"]) is None:
            public = None  # the wall would show a queue system's id, not a number anyone holds
    title = {}
    facts = {lang: _facts(evidence, lang) for lang in LANGS}
    for lang in LANGS:
        fill = _filler(labels, evidence, at, names, lang, public=False)
        title[lang] = _title(rule, rule_id, lang)
        if rule is not None and rule.text is not None:
            text[lang] = _fill(getattr(rule.text, lang), fill, lang)
        else:
            text[lang] = _generated(title[lang], labels, evidence, at, names, lang)
        if public is not None and rule is not None and rule.public is not None:
            public[lang] = _fill(
                getattr(rule.public, lang), _filler(labels, evidence, at, names, lang, public=True), lang
            )
    return AlertWords(title, text, public, facts)


def alert_body_words(
    body: Mapping[str, object], rule: Rule | None, hall: HallProfile | None, tz: ZoneInfo
) -> AlertWords:
    """The words of an alert as its JSON carries it (an alert record stored before it had words)."""
    labels = body.get("labels")
    evidence = body.get("evidence")
    since = body.get("active_since") or body.get("fired_at")
    return alert_words(
        rule,
        str(body.get("rule") or ""),
        {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        dict(evidence) if isinstance(evidence, dict) else {},
        since if isinstance(since, str) else None,
        hall,
        tz,
    )


def rule_title(rule: Rule | None, rule_id: str) -> dict[str, str]:
    """A rule's short name in both languages: its `title`, else the Chinese term and the first clause of its
    description, else its id."""
    return {lang: _title(rule, rule_id, lang) for lang in LANGS}


def ticket_words(
    kind: str,
    rules: list[tuple[str, Rule | None]],
    device: str | None,
    device_type: str | None,
    window: str | None,
    rating_ticket: str | None,
    hall: HallProfile | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """A ticket in words, both languages: its heading (`text`: what about whom — the device with its kind and place,
    or the window of a bad rating) and its `problem` (the titles of the rules behind it)."""
    names = Names(hall)
    device, window = (plain(device) if device else None), (plain(window) if window else None)
    rating_ticket = plain(rating_ticket) if rating_ticket else None
    text, problem = {}, {}
    for lang in LANGS:
        zh = lang == "zh"
        whats = list(dict.fromkeys(_title(rule, rid, lang) for rid, rule in rules))
        what = problem[lang] = ("、" if zh else ", ").join(whats)
        if kind == "rectification":
            where = names.window(window, lang) if window else names.hall(lang)
            number_ = (f"（{rating_ticket}号）" if zh else f" (number {rating_ticket})") if rating_ticket else ""
            text[lang] = f"差评整改：{where}{number_}" if zh else f"Bad rating to rectify: {where}{number_}"
            continue
        if device:
            whom = names.device(device, device_type or "", lang)
        elif window:
            whom = names.window(window, lang)
        else:
            whom = names.hall(lang)
        text[lang] = f"{whom}：{what}" if zh else _capital(f"{whom}: {what}")
    return text, problem


def _title(rule: Rule | None, rule_id: str, lang: Lang) -> str:
    if rule is not None and rule.title is not None:
        return str(getattr(rule.title, lang))
    description = rule.description if rule is not None else ""
    if lang == "zh":
        term = _ZH_TERM.search(description)
        if term:
            return term.group(1)
    first = re.split(r"\s+[—-]\s+|[（(]|\.\s|\.$", description, maxsplit=1)[0].strip() if description else ""
    return first or rule_id


def _filler(
    labels: Mapping[str, str], evidence: Mapping[str, object], at: str, names: Names, lang: Lang, *, public: bool
) -> dict[str, str]:
    """Every placeholder an alert can fill, in `lang`."""
    out: dict[str, str] = {"since": at, "hall": names.hall(lang), "subject": names.subject(labels, lang, public=public)}
    for name, value in evidence.items():
        shown = value_words(name, value, lang)
        out[name] = shown
        out.setdefault(name.split(".", 1)[-1], shown)
        out.setdefault("value", shown)
    out.setdefault("value", "")
    device = labels.get("device", "")
    for label, raw in labels.items():
        if label == "service":
            out[label] = names.service(raw, lang)
        elif label == "window":
            out[label] = names.window(raw, lang)
        elif label == "device":
            out[label] = names.device(raw, labels.get("device_type", ""), lang, public=public)
        elif label == "device_type":
            out[label] = names.device_type(raw, lang)
        elif label == "zone":
            out[label] = names.zone(raw, lang, public=public)
        elif label == "camera":
            out[label] = names.device(raw, "camera", lang, public=public)
        elif label == "ticket" and public:
            out[label] = printed_number(raw) or ""
        elif label == "command":
            pair = COMMAND.get(raw)
            out[label] = pair[0 if lang == "zh" else 1] if pair else raw
        else:
            out[label] = raw
    if device:
        out["location"] = names.location(device, lang)
        out.setdefault("device_type", names.device_type("", lang))
    return out


def _fill(template: str, values: Mapping[str, str], lang: Lang) -> str:
    text = PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
    text = re.sub(r"（\s*）|\(\s*\)", "", text)  # a placeholder that had nothing to fill
    if not values.get("since"):  # an alert recorded without its start: no 起 / since left alone in brackets
        text = re.sub(r"（\s*起\s*）|\s*\(\s*since\s*\)", "", text)
    text = text.strip()
    return _capital(text) if lang == "en" else text


def _facts(evidence: Mapping[str, object], lang: Lang) -> list[str]:
    """Each metric behind an alert by its name, with its value and unit: 最长等候 62分钟 / longest wait: 62 min."""
    zh = lang == "zh"
    out = []
    for metric, value in evidence.items():
        if metric == "type" and str(value) in EVENT:
            continue  # an event rule's default evidence: its event type, which the text says
        pair = METRIC_NAME.get(metric)
        label = pair[0 if zh else 1] if pair else metric.split(".", 1)[-1].replace("_", " ")
        out.append(
            f"{label}：{value_words(metric, value, lang)}" if zh else f"{label}: {value_words(metric, value, lang)}"
        )
    return out


def _generated(
    title: str, labels: Mapping[str, str], evidence: Mapping[str, object], at: str, names: Names, lang: Lang
) -> str:
    """A rule without a template: its title, whom, its metrics by name with their values, since when."""
    zh = lang == "zh"
    whom = names.subject(labels, lang)
    parts = []
    for metric, value in evidence.items():
        pair = METRIC_NAME.get(metric)
        event = EVENT.get(str(value)) if metric == "type" else None
        if event is not None:
            continue  # an event rule's default evidence is its event type: the title says it
        label = pair[0 if zh else 1] if pair else metric.split(".", 1)[-1].replace("_", " ")
        shown = value_words(metric, value, lang)
        named = isinstance(value, bool | str) or value is None  # 闲置：是, not 闲置是
        parts.append(f"{label}：{shown}" if zh and named else f"{label}{shown}" if zh else f"{label}: {shown}")
    if zh:
        body = "，".join([whom, *parts]) if whom else "，".join(parts)
        return f"{title}：{body}" + (f"（{at}起）" if at else "")
    body = ", ".join([whom, *parts]) if whom else ", ".join(parts)
    return f"{title}: {body}" + (f" (since {at})" if at else "")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = [
    "AlertWords",
    "Names",
    "alert_body_words",
    "alert_words",
    "clock",
    "rule_title",
    "ticket_words",
    "value_words",
    "zone_name",
]
