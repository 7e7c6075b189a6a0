"""What the public wall screen may say (an alert's `public` words): never a staff member, a command's id or a queue
system's internal ticket id — only the printed number a call screen shows — and never text a device forged with a
newline or a direction override; a rule file whose `public` names a staff member is refused with the field path."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from devices.errors import ConfigError
from edge.wording.alerts import alert_words
from rules.hall import HallProfile, WindowProfile
from rules.language import builtin_rules, parse_rules

TZ = ZoneInfo("Asia/Shanghai")
BEGAN = datetime(2026, 12, 5, 1, 11, 30, tzinfo=UTC)  # 09:11 in the hall
HALL = HallProfile("h1", windows=(WindowProfile("W04", name="4号窗口"),))
MISSED = {r.id: r for r in builtin_rules().rules}["missed-ticket"]


def missed(ticket: str, window: str = "W04") -> dict[str, str] | None:
    labels = {"window": window, "ticket": ticket, "device": "WT04", "device_type": "window"}
    return alert_words(MISSED, MISSED.id, labels, {"type": "ticket.no_show"}, BEGAN, HALL, TZ).public


def test_the_wall_shows_the_printed_number_of_a_missed_ticket() -> None:
    assert missed("A023") == {
        "zh": "A023号已过号，请到导办台咨询",
        "en": "Number A023 was missed, please ask at the help desk",
    }


def test_the_wall_shows_the_printed_number_not_the_queue_systems_ticket_id() -> None:
    public = missed("20261205-A023")  # the simulator's and many queue systems' id: the day, then the number
    assert public is not None and public["zh"] == "A023号已过号，请到导办台咨询", public


@pytest.mark.parametrize("ticket", ["110101199003071234", "6f1c9a0e-7b2d-58c3-a6e9-1f04b7d2c85e", "张三-身份证"])
def test_a_ticket_id_that_is_no_printed_number_never_reaches_the_wall(ticket: str) -> None:
    assert missed(ticket) is None  # not on the wall at all (the staff still get it in `text`)


def test_a_device_sent_label_with_a_newline_or_direction_override_stays_one_plain_line() -> None:
    w = alert_words(
        MISSED,
        MISSED.id,
        {"window": "W9\n\u202e<img src=x onerror=alert(1)>", "ticket": "A1\r\nX", "device": "WT04"},
        {"type": "ticket.no_show"},
        BEGAN,
        HALL,
        TZ,
    )
    for words in (w.text, w.public or {}, w.title):
        for text in words.values():
            assert not any(c in text for c in "\n\r\u202e"), repr(text)


def test_a_rule_whose_public_words_name_a_staff_member_is_refused_with_the_field_path() -> None:
    doc = {
        "rules": [
            {
                "id": "who-opened",
                "severity": "info",
                "on": {"event": "window.opened", "where": {"staff_id": {"in": ["s1"]}}},
                "text": {"zh": "{staff_id}开窗", "en": "{staff_id} opened"},  # staff words: fine
                "public": {"zh": "{staff_id}开窗", "en": "{staff_id} opened"},
                "then": [{"alert": {"to": "floor_guide"}}],
            }
        ]
    }
    with pytest.raises(ConfigError) as e:
        parse_rules(doc)
    assert "rules[0].public.zh" in str(e.value) and "staff_id" in str(e.value)
    assert "rules[0].text" not in str(e.value)


def test_huge_and_impossible_numbers_are_words_not_a_crash_or_a_page_of_digits() -> None:
    rule = {r.id: r for r in builtin_rules().rules}["wait-30"]
    for value in (1e300, 10**400, -1e300):
        text = alert_words(rule, rule.id, {"service": "SB"}, {"queue.longest_wait_min": value}, BEGAN, HALL, TZ).text
        assert all(len(t) < 80 for t in text.values()), text


def test_an_alert_recorded_without_its_start_says_no_empty_since() -> None:
    rule = {r.id: r for r in builtin_rules().rules}["wait-30"]
    text = alert_words(rule, rule.id, {"service": "SB"}, {"queue.longest_wait_min": 32.0}, None, HALL, TZ).text
    assert text == {"zh": "SB业务有群众已等候32分钟", "en": "Service SB: a ticket has waited 32 min"}
