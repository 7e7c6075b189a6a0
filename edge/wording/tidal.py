"""The words of the tidal-window recommender (潮汐窗口): a recommendation's or a check's reason, in English and
Chinese, and a recommendation as the API, the MQTT notifications and the records show it (`reason_en`, `reason_zh`).

Owns the prose that rules/tidal/ leaves out: `render_recommendation`, `render_event`, `recommendation_json`. Must not
compute a number (every number comes with the recommendation, the event or its reason) or decide anything. The
words are byte for byte those the recommender wrote before issue 15 moved them here; edge/web/tidal.js shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from rules.tidal import (
    CheckReason,
    CloseReason,
    CoverReason,
    Named,
    OpenReason,
    ReasonCode,
    Recommendation,
    SavedReason,
    ServiceName,
    TidalEvent,
)


@dataclass(frozen=True, slots=True)
class Words:
    """The same thing said in English and in Chinese."""

    en: str
    zh: str


def render_recommendation(rec: Recommendation) -> Words:
    """Why the recommendation says what it says (a recommendation restored from state format 1: its saved words)."""
    reason = rec.reason
    if isinstance(reason, OpenReason):
        return _open(rec, reason)
    if isinstance(reason, CloseReason):
        return _close(rec, reason)
    if isinstance(reason, CoverReason):
        return _cover(rec, reason)
    if isinstance(reason, SavedReason):
        return Words(reason.en, reason.zh)
    raise ValueError(f"recommendation {rec.id} has the reason of a check ({reason.code}), not of a recommendation")


def render_event(ev: TidalEvent) -> Words:
    """What the tracker found: the check after an approved opening, or a new close recommendation's reason."""
    if isinstance(ev.reason, CheckReason):
        return _check(ev, ev.reason)
    if ev.recommendation is None:
        raise ValueError(f"tidal event {ev.kind} for {ev.rec_id} has neither a check nor a recommendation")
    return render_recommendation(ev.recommendation)


def recommendation_json(rec: Recommendation) -> dict[str, object]:
    """JSON-ready, in field order (datetimes as ISO strings), with the reason as `reason_code` (what kind of
    proposal the words explain: open, close, cover; saved for one restored from state format 1), `reason_en` and
    `reason_zh`."""
    words = render_recommendation(rec)
    out: dict[str, object] = {}
    for f in fields(rec):
        value = getattr(rec, f.name)
        if f.name == "reason":
            out["reason_code"] = str(value.code)
            out["reason_en"], out["reason_zh"] = words.en, words.zh
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif isinstance(value, datetime):
            out[f.name] = value.isoformat()
        elif isinstance(value, StrEnum):
            out[f.name] = str(value)
        else:
            out[f.name] = value
    return out


# ---------------------------------------------------------------------------------------------- the pieces


def _num(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _label_en(names: Sequence[ServiceName], services: Sequence[str]) -> str:
    by_code = {n.code: n.name_en or n.name for n in names}
    return " + ".join(f"{by_code[c]} ({c})" if by_code.get(c) else c for c in services)


def _label_zh(names: Sequence[ServiceName], services: Sequence[str]) -> str:
    by_code = {n.code: n.name or n.name_en for n in names}
    return "＋".join(f"{by_code[c]}（{c}）" if by_code.get(c) else c for c in services)


def _zh(n: Named) -> str:
    return n.name or n.name_en or n.id


def _en(n: Named) -> str:
    return n.name_en or n.name or n.id


def _wait_en(w: float | None) -> str:
    return "unbounded (no open window)" if w is None else f"{_num(w)} min"


def _wait_zh(w: float | None, after: str = "") -> str:
    """`after` + the wait: "预计等候 32 分钟", "预计等候无法估计（无开放窗口）"."""
    return f"{after}无法估计（无开放窗口）" if w is None else f"{after} {_num(w)} 分钟".strip()


# ---------------------------------------------------------------------------------------------- the reasons


def _open(rec: Recommendation, r: OpenReason) -> Words:
    sl = _num(r.service_level * 100)
    t = _num(r.target_wait_min)
    default_en = "" if rec.aht_learned else " (default AHT: not learned yet)"
    default_zh = "" if rec.aht_learned else "（默认办理时长，尚未学得）"
    walkout_en = "" if r.max_abandonment is None else f" and at most {_num(r.max_abandonment * 100)} % leaving"
    walkout_zh = "" if r.max_abandonment is None else f"、离开不超过 {_num(r.max_abandonment * 100)}%"
    h = _num(r.horizon_min)
    # one number per meaning, and the card's bullets show the same fields: the steady-state (Erlang) count, and the
    # count the projection needs (tickets waiting and arriving) when that is more (`needed_servers`, the larger)
    backlog_en = backlog_zh = ""
    if rec.backlog_servers > rec.erlang_servers:
        backlog_en = f"; every wait in the next {h} min within {t} min needs {rec.backlog_servers}"
        backlog_zh = f"；未来 {h} 分钟内每人等候不超过 {t} 分钟需 {rec.backlog_servers} 个窗口"
    arrivals_en, arrivals_zh = f"{_num(rec.arrivals_per_h)} arrivals/h", f"每小时 {_num(rec.arrivals_per_h)} 人"
    if rec.appointments:
        arrivals_en = f"{_num(rec.arrivals_per_h)} walk-ins/h and {rec.appointments} booked in the next {h} min"
        arrivals_zh = f"每小时现场取号 {_num(rec.arrivals_per_h)} 人、未来 {h} 分钟预约 {rec.appointments} 人"
    en = (
        f"{_label_en(r.names, rec.services)}: {rec.backlog} waiting, projected wait "
        f"{_wait_en(rec.projected_wait_min)} with {rec.current_servers} window{'s' * (rec.current_servers != 1)}; "
        f"in the next {h} min {rec.late} people would wait past {t} min, {rec.late_after} with {rec.n} more "
        f"({arrivals_en} × {_num(rec.aht_min)} min{default_en}; steady state needs "
        f"{rec.erlang_servers} windows for {sl} % within {t} min{walkout_en}{backlog_en})"
    )
    zh = (
        f"{_label_zh(r.names, rec.services)}：{rec.backlog} 人等候，现有 {rec.current_servers} 个窗口，"
        f"{_wait_zh(rec.projected_wait_min, '预计等候')}；未来 {h} 分钟将有 {rec.late} 人等候超过 {t} 分钟，"
        f"增开 {rec.n} 个后为 {rec.late_after} 人（{arrivals_zh} × 每件 "
        f"{_num(rec.aht_min)} 分钟{default_zh}；稳态需 {rec.erlang_servers} 个窗口才能 {sl}% 在 {t} 分钟内叫号"
        f"{walkout_zh}{backlog_zh}）"
    )
    codes = ", ".join(rec.services)
    if not rec.windows:
        en += f" → no closed window can serve {codes}: open {rec.n} by hand"
        zh += f" → 没有可开放的空闲窗口能办理 {codes}，请人工调配 {rec.n} 个窗口"
        return Words(en, zh)
    staff_en = ", ".join(rec.staff) if rec.staff else "none free: assign by hand"
    staff_zh = "、".join(rec.staff) if rec.staff else "无空闲人员，请人工指派"
    en += f" → open {', '.join(rec.windows)} (staff pool: {staff_en})"
    zh += f" → 开放 {'、'.join(rec.windows)}（人员池：{staff_zh}）"
    if rec.staff and len(rec.staff) < len(rec.windows):
        en += "; not enough free staff in the pool: assign the rest by hand"
        zh += "；人员池空闲人员不足，其余请人工指派"
    missing = r.wanted - rec.n
    if missing > 0:
        candidates = r.candidates
        en += f"; {missing} more needed (only {candidates} closed window{'s' * (candidates != 1)} can serve it)"
        zh += f"；仍缺 {missing} 个（仅 {candidates} 个空闲窗口可办理）"
    return Words(en, zh)


def _close(rec: Recommendation, r: CloseReason) -> Words:
    (window,) = rec.windows
    after = rec.current_servers - 1
    t = _num(r.target_wait_min)
    opened_at = r.opened_at.strftime("%H:%M")
    minutes = _num(r.quiet_min)
    sl_after = "–" if rec.service_level_after is None else _num(rec.service_level_after * 100)
    en = (
        f"{_label_en(r.names, rec.services)}: for {minutes} min the {_num(r.horizon_min)}-min projection has "
        f"had nobody waiting longer past {t} min without tidal window {window} (now "
        f"{_wait_en(rec.projected_wait_min)}, {rec.backlog} waiting, {rec.current_servers} windows; "
        f"{_num(rec.arrivals_per_h)} arrivals/h × {_num(rec.aht_min)} min; steady state with {after}: {sl_after} % "
        f"within {t} min) → close tidal window {window} (opened {opened_at})"
    )
    zh = (
        f"{_label_zh(r.names, rec.services)}：已连续 {minutes} 分钟预测（未来 {_num(r.horizon_min)} 分钟）表明，"
        f"不开潮汐窗口 {window} 也不会增加超过 {t} 分钟的等候（{_wait_zh(rec.projected_wait_min, '当前')}，"
        f"{rec.backlog} 人等候，{rec.current_servers} 个窗口；每小时 {_num(rec.arrivals_per_h)} 人 × 每件 "
        f"{_num(rec.aht_min)} 分钟；稳态下 {after} 个窗口 {sl_after}% 在 {t} 分钟内叫号）"
        f"→ 关闭潮汐窗口 {window}（{opened_at} 开放）"
    )
    return Words(en, zh)


def _check(ev: TidalEvent, r: CheckReason) -> Words:
    label_en = _label_en(r.names, ev.services)
    label_zh = _label_zh(r.names, ev.services)
    after = _num(r.check_after_min)
    what_en = f"opening {', '.join(ev.windows)}" if ev.windows else f"opening {r.n} window(s) by hand"
    what_zh = f"开放 {'、'.join(ev.windows)}" if ev.windows else f"人工调配 {r.n} 个窗口"
    numbers = f"{_wait_en(ev.wait_at_approval_min)} → {_wait_en(ev.wait_now_min)}"
    numbers_zh = f"{_wait_zh(ev.wait_at_approval_min)} → {_wait_zh(ev.wait_now_min)}"
    if r.code is ReasonCode.WAIT_FELL:
        en = f"{label_en}: projected wait fell {after} min after {what_en} was approved ({numbers})"
        zh = f"{label_zh}：批准{what_zh} 后 {after} 分钟，预计等候已下降（{numbers_zh}）"
        return Words(en, zh)
    en = f"{label_en}: projected wait has not fallen {after} min after {what_en} was approved ({numbers})"
    zh = f"{label_zh}：批准{what_zh} 后 {after} 分钟，预计等候未下降（{numbers_zh}）"
    if ev.windows_not_open:
        en += f"; not open yet: {', '.join(ev.windows_not_open)}"
        zh += f"；尚未开放：{'、'.join(ev.windows_not_open)}"
    return Words(en, zh)


def _cover(rec: Recommendation, r: CoverReason) -> Words:
    t, h = _num(r.target_wait_min), _num(r.horizon_min)
    people = "person" if rec.late == 1 else "people"
    en = (
        f"{_en(r.window)} is paused ({_en(r.covered)} away) and {_label_en(r.names, rec.services)} has "
        f"{rec.backlog} waiting, projected wait {_wait_en(rec.projected_wait_min)}: in the next {h} min {rec.late} "
        f"{people} would wait past {t} min, {rec.late_after} with cover → send the AB partner {_en(r.partner)} from "
        f"{_en(r.partner_window)} to cover ({_en(r.partner_window)} pauses meanwhile; {_en(r.covered)} takes the "
        "seat back after the break)"
    )
    zh = (
        f"{_zh(r.window)}暂停中（{_zh(r.covered)}不在岗），{_label_zh(r.names, rec.services)} {rec.backlog} 人等候，"
        f"{_wait_zh(rec.projected_wait_min, '预计等候')}：未来 {h} 分钟将有 {rec.late} 人等候超过 {t} 分钟，"
        f"顶岗后为 {rec.late_after} 人 → 请AB岗搭档{_zh(r.partner)}（{_zh(r.partner_window)}）过来顶岗"
        f"（{_zh(r.partner_window)}暂停，{_zh(r.covered)}休息结束后回岗）"
    )
    return Words(en, zh)
