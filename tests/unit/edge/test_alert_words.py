"""An alert's and a ticket's words (edge/wording/alerts.py), as the API, the stream and the notifications carry them:
display names, numbers with units, the time it began in the hall's zone; public words without device ids; never
`key = value (labels)`, `True`/`False` or `None` — for the built-in rules and for a custom rule without a template."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from devices.topics import DeviceType
from edge.decisions.records import alert_json, ticket_json
from edge.wording.alerts import alert_body_words
from rules.alerts import Alert, AlertState
from rules.hall import DeviceProfile, HallProfile, ServiceProfile, WindowProfile
from rules.language import Severity, builtin_rules, parse_rules
from rules.tickets import Ticket, TicketKind, TicketPriority, TicketStatus

TZ = ZoneInfo("Asia/Shanghai")
BEGAN = datetime(2026, 12, 5, 1, 11, 30, tzinfo=UTC)  # 09:11 in the hall
HALL = HallProfile(
    "county-01",
    name="示范县政务服务中心",
    services=(ServiceProfile("SB", name="社会保险", name_en="Social insurance"),),
    windows=(WindowProfile("W04", name="不动产1号窗"),),
    devices=(DeviceProfile("TM02", DeviceType.TICKET_MACHINE, location="1F-entrance-right"),),
)
RULES = {r.id: r for r in builtin_rules().rules}
MACHINE_TEXT = re.compile(r"\w+\.\w+ = |\b(True|False|None|null|undefined)\b|=\w")


def _alert(rule: str, labels: dict[str, str], evidence: dict[str, float | str | bool | None]) -> dict[str, object]:
    a = Alert("fp-" + rule, rule, labels, Severity.MAJOR, AlertState.FIRING, BEGAN, BEGAN, fired_at=BEGAN)
    a.evidence = evidence
    a.reason = "machine text"
    return alert_json(a, description="", hall="county-01", tz=TZ, rule=RULES.get(rule), profile=HALL)


@pytest.mark.parametrize(
    ("rule", "labels", "evidence", "zh", "en", "public"),
    [
        (
            "wait-60",
            {"service": "SB"},
            {"queue.longest_wait_min": 62.4},
            "社会保险有群众已等候62分钟，超过1小时（09:11起）",
            "Social insurance: a ticket has waited 62 min, over an hour (since 09:11)",
            "社会保险等候时间较长，如有急事请咨询导办员",
        ),
        (
            "empty-post",
            {"window": "W04"},
            {"window.status": "open", "window.staff_present": False},
            "不动产1号窗开放中，但座位上没有工作人员（09:11起）",
            "不动产1号窗 is open but nobody is at the seat (since 09:11)",
            None,
        ),
        (
            "printer-paper-out",
            {"device": "TM02", "device_type": "ticket_machine"},
            {"device.printer": "paper_out"},
            "取号机 TM02（1F-entrance-right）打印机缺纸，无法出票（09:11起）",
            "Ticket machine TM02 (1F-entrance-right): the printer is out of paper and prints nothing (since 09:11)",
            "取号机（1F-entrance-right）暂停服务，请使用其他取号机",
        ),
        (
            "arrival-surge",
            {"service": "SB"},
            {"queue.arrivals_trend": 3.4},
            "社会保险取号速度是此前45分钟的3.4倍（09:11起）",
            "Social insurance: tickets arrive at 3.4× the rate of the previous 45 min (since 09:11)",
            None,
        ),
        (
            "no-show-rate-high",
            {"service": "GJJ"},
            {"queue.no_show_rate_60m": 0.125},
            "GJJ业务近1小时过号率12%，请检查叫号音量和叫号屏（09:11起）",
            "Service GJJ: 12% of the numbers called in the last hour were missed; check the call volume and screens "
            "(since 09:11)",
            "请留意叫号屏和广播，过号请咨询导办员",
        ),
        (
            "bad-rating",
            {"device": "EV04", "device_type": "evaluator", "window": "W04", "ticket": "C012"},
            {"score": 1.0},
            "不动产1号窗收到1分差评（09:11）：请整改并回访",
            "不动产1号窗 was rated 1 of 5 (09:11): rectify and call the citizen back",
            None,
        ),
        (
            "crowding",
            {"zone": "wait-a", "camera": "CAM-A"},
            {"zone.count": 45.0},
            "等候区A有45人，人员过多（09:11起）",
            "Waiting area A holds 45 people, too many (since 09:11)",
            "等候区A人员较多，请有序等候",
        ),
    ],
)
def test_a_built_in_alert_reads_in_both_languages_with_names_units_and_its_start(
    rule: str, labels: dict[str, str], evidence: dict[str, float | str | bool | None], zh: str, en: str, public: str
) -> None:
    body = _alert(rule, labels, evidence)
    assert body["text"] == {"zh": zh, "en": en}
    assert (body["public"] or {}).get("zh") == public
    assert body["reason"] == "machine text"  # kept for machines


def test_the_public_words_of_a_device_never_name_its_id() -> None:
    body = _alert("printer-paper-out", {"device": "TM02", "device_type": "ticket_machine"}, {"device.printer": "jam"})
    public = body["public"]
    assert isinstance(public, dict)
    assert public["en"] == "Ticket machine (1F-entrance-right) is out of service, please use another ticket machine"
    assert "TM02" not in public["zh"] + public["en"]
    assert body["facts"] == {"zh": ["打印机：卡纸"], "en": ["printer: jammed"]}  # the evidence in words, not `jam`


def test_every_built_in_rule_renders_without_machine_text_even_with_missing_values() -> None:
    labels = {"service": "SB", "window": "W04", "device": "TM02", "device_type": "ticket_machine", "zone": "wait-a"}
    for rule in RULES.values():
        evidence: dict[str, float | str | bool | None] = {"queue.waiting": None, "window.staff_present": True}
        body = _alert(rule.id, labels, evidence)
        facts = body["facts"]
        assert isinstance(facts, dict)
        for words in (body["text"], body["public"], body["title"], {k: "；".join(v) for k, v in facts.items()}):
            for text in words.values() if isinstance(words, dict) else ():
                assert text and not MACHINE_TEXT.search(text) and "{" not in text, (rule.id, text)


def test_a_custom_rule_without_a_template_gets_a_sentence_not_its_machine_text() -> None:
    (rule,) = parse_rules(
        {
            "rules": [
                {
                    "id": "idle-and-waiting",
                    "description": "A window idles while people wait (窗口空闲) — see to it.",
                    "when": {
                        "all": [
                            {"metric": "window.idle", "op": "==", "value": True},
                            {"metric": "window.capable_waiting", "op": ">=", "value": 1},
                        ]
                    },
                    "severity": "warning",
                    "then": [{"alert": {"to": "hall_manager"}}],
                }
            ]
        }
    ).rules
    a = Alert("fp", rule.id, {"window": "W04"}, Severity.WARNING, AlertState.FIRING, BEGAN, BEGAN, fired_at=BEGAN)
    a.evidence = {"window.idle": True, "window.capable_waiting": 3.0}
    body = alert_json(a, description=rule.description, hall="h", tz=TZ, rule=rule, profile=HALL)
    assert body["text"] == {
        "zh": "窗口空闲：不动产1号窗，闲置：是，可办理的等候人数3人（09:11起）",
        "en": "A window idles while people wait: 不动产1号窗, idle: yes, waiting for it: 3 people (since 09:11)",
    }
    assert body["public"] is None  # nobody wrote words for the public: it stays off the wall


def test_a_ticket_reads_as_its_device_and_the_problems_behind_it() -> None:
    t = Ticket(
        id="T-20261205-0001",
        kind=TicketKind.DEVICE_FAULT,
        priority=TicketPriority.P3,
        priority_reason="",
        status=TicketStatus.OPEN,
        rule_id="printer-paper-low",
        subject="TM02",
        title="printer-paper-low: ticket_machine TM02",
        detail="device.printer = paper_low (device=TM02, device_type=ticket_machine)",
        opened_at=BEGAN,
        device="TM02",
        device_type="ticket_machine",
    )
    body = ticket_json(t, TZ, rules=RULES, profile=HALL)
    assert body["text"] == {
        "zh": "取号机 TM02（1F-entrance-right）：纸将用完",
        "en": "Ticket machine TM02 (1F-entrance-right): Paper low",
    }
    assert body["problem"] == {"zh": "纸将用完", "en": "Paper low"}


def test_an_alert_recorded_before_it_had_words_gets_them_from_its_json() -> None:
    recorded = {
        "rule": "empty-post",
        "labels": {"window": "W04"},
        "reason": "window.status = open; window.staff_present = False (window=W04)",
        "evidence": {"window.status": "open", "window.staff_present": False},
        "active_since": "2026-12-05T09:11:30+08:00",
    }
    words = alert_body_words(recorded, RULES["empty-post"], HALL, TZ)
    assert words.text["zh"] == "不动产1号窗开放中，但座位上没有工作人员（09:11起）"
    assert words.facts == {
        "zh": ["窗口状态：开放", "工作人员在岗：否"],
        "en": ["window status: open", "staff at the seat: no"],
    }
    assert words.public is None


def test_the_score_behind_a_bad_rating_is_named_in_the_pages_language() -> None:
    body = _alert("bad-rating", {"device": "EV04", "device_type": "evaluator", "window": "W04"}, {"score": 2.0})
    assert body["facts"] == {"zh": ["评分：2"], "en": ["score: 2"]}
