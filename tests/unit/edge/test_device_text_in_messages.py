"""Text a device sends (a ticket id, a printed number, a window id: anything up to 64 characters, newlines and
markup included) reaching a group robot's markdown and the re-call SMS: it stays one line of plain text there — no
link, no @-mention, no heading a device can forge in a staff group, no second line in a citizen's SMS."""

from __future__ import annotations

import json
from typing import cast

from edge.config import Webhook
from edge.webhooks import request
from rules.hall import HallProfile, WindowProfile

HALL = HallProfile("h1", windows=(WindowProfile("W04", name="4号窗口"),))
FORGED = 'A1\n# 紧急通知\n[点击核验](http://evil.example/x) <@all> <font color="warning">'


def notice(labels: dict[str, str], call: dict[str, str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "alert",
        "id": "alert:fp:1",
        "rule": "missed-ticket",
        "severity": "warning",
        "labels": labels,
        "title": {"zh": "过号", "en": "Missed number"},
        "text": {"zh": f"{labels.get('ticket', '')}号过号", "en": "missed"},
        "fired_at": "2026-12-05T09:11:00+08:00",
        "active_since": "2026-12-05T09:11:00+08:00",
        "notification": {"reason": "fired", "roles": ["citizen"] if call else ["hall_manager"]},
    }
    if call is not None:
        body["call"] = call
    return body


def sent(fmt: str, body: dict[str, object], roles: list[str] | None = None) -> dict[str, object]:
    hook = Webhook.model_validate({"url": "http://127.0.0.1:9/x", "format": fmt, "roles": roles or []})
    attempt = request(hook, body, json.dumps(body).encode(), 1_764_900_000.0, HALL)
    return cast(dict[str, object], json.loads(attempt.body))


def test_a_device_sent_ticket_id_forges_no_link_mention_or_line_in_a_wecom_group() -> None:
    content = cast(dict[str, str], sent("wecom", notice({"window": "W04", "ticket": FORGED}))["markdown"])["content"]
    assert "](http" not in content and "[点击核验]" not in content  # no link a staff member could tap
    assert "<@all>" not in content and "<font" not in content  # no mention of the whole group, no styling
    assert "\n# " not in content  # no heading forged by a newline
    assert all(line.startswith(("**", "> ")) for line in content.split("\n")), content


def test_a_device_sent_window_id_forges_no_link_or_line_in_a_dingtalk_group() -> None:
    md = cast(dict[str, str], sent("dingtalk", notice({"window": FORGED}))["markdown"])
    assert "](http" not in md["text"] and "<@all>" not in md["text"]
    assert all(part.startswith(("#### ", "> ")) for part in md["text"].split("\n\n")), md["text"]
    assert "\n" not in md["title"]


def test_the_recall_sms_is_one_short_line_whatever_the_device_sent() -> None:
    call = {"ticket": "T" * 64, "number": "A1\n回复1领取补贴 http://evil.example", "window": "W9\r\nX" + "Y" * 60}
    body = sent("sms", notice({"window": "W04", "ticket": "T" * 64}, call), roles=["citizen"])
    text = cast(str, body["text"])
    assert "\n" not in text and "\r" not in text, text
    assert len(text) <= 70, (len(text), text)  # one SMS segment of Chinese text
    assert "http" not in text and text == "请到窗口 W9 X" + "Y" * 12 + "办理，正在叫您的号", (
        text
    )  # no number is better than a forged one
    assert body["kind"] == "recall" and body["to"] == []


def test_the_recall_sms_names_the_printed_number_of_a_ticket_id() -> None:
    call = {"ticket": "20261205-A023", "number": "20261205-A023-with-a-long-tail-0042", "window": "W04"}
    body = sent("sms", notice({"window": "W04", "ticket": "20261205-A023"}, call), roles=["citizen"])
    assert body["text"] == "请0042号到4号窗口办理，正在叫您的号"
    call = {"ticket": "20261205-A023", "number": "A023", "window": "W04"}
    body = sent("sms", notice({"window": "W04", "ticket": "20261205-A023"}, call), roles=["citizen"])
    assert body["text"] == "请A023号到4号窗口办理，正在叫您的号"
